import Foundation
import Logging
import PDSNetwork
import PDSStore

/// The account's e-mail: one-time tokens and where they go, address confirmation and change,
/// and the e-mail sign-in factor (https://atproto.com/specs/account; the Lexicons of
/// `com.atproto.server.requestEmailConfirmation`, `confirmEmail`, `requestEmailUpdate`,
/// `updateEmail`, `createSession`).
///
/// A token is stored as its hash (`AccountStore.storeToken`, 15 minutes, one per purpose). With
/// SMTP configured (`Mailer`) it is e-mailed to the account's address; without, the log says to
/// read it with `pds account token <purpose>` on the box, which issues a fresh one. Never logged.
///
/// Not here: the HTTP shapes (PDSServer's EmailEndpoints), SMTP (`Mailer`).
public struct AccountEmail: Sendable {
    public static let confirmPurpose = "confirm_email"
    public static let updatePurpose = "update_email"
    public static let signInPurpose = "sign_in"

    let accounts: AccountStore
    /// Nil without `PDS_EMAIL_SMTP_URL`.
    public let mailer: Mailer?
    let hostname: String
    let logger: Logger

    public init(accounts: AccountStore, mailer: Mailer?, hostname: String, logger: Logger) {
        self.accounts = accounts
        self.mailer = mailer
        self.hostname = hostname
        self.logger = logger
    }

    /// How a token reached the owner.
    public enum Delivery: Sendable, Equatable {
        /// Queued for SMTP delivery to the account's address.
        case emailed
        /// No SMTP (or no address): `pds account token` shows one on the box.
        case commandLine
    }

    // MARK: Tokens

    /// Stores a fresh token for `purpose` and sends it to the account's address when e-mail is
    /// configured. `purpose` is one of the stored purposes (`AccountLifecycle.*TokenPurpose`,
    /// `IdentityService.plcTokenPurpose`, or this type's).
    @discardableResult
    public func issueToken(purpose: String, to address: String? = nil) throws -> Delivery {
        let token = IdentityService.makeConfirmationToken()
        try accounts.storeToken(token, purpose: purpose)
        let account = try accounts.account()
        guard let mailer, let recipient = address ?? account?.email, SMTPSettings.isAddress(recipient) else {
            logger.notice("a one-time token was requested; no e-mail is configured: run `pds account token \(Self.commandName(purpose))` on the server",
                          metadata: ["purpose": "\(purpose)"])
            return .commandLine
        }
        let text = Self.text(purpose: purpose, token: token, handle: account?.handle ?? "", hostname: hostname)
        try mailer.enqueue(mailer.message(to: recipient, subject: text.subject, body: text.body), purpose: purpose)
        logger.info("a one-time token was queued for e-mail", metadata: ["purpose": "\(purpose)"])
        return .emailed
    }

    /// The `pds account token` argument for a stored purpose.
    public static func commandName(_ purpose: String) -> String {
        switch purpose {
        case IdentityService.plcTokenPurpose: "plc-operation"
        case signInPurpose: "sign-in"
        default: purpose.replacingOccurrences(of: "_", with: "-")
        }
    }

    /// Subject and body of the message carrying `token`.
    static func text(purpose: String, token: String, handle: String, hostname: String) -> (subject: String, body: String) {
        let (subject, action): (String, String) = switch purpose {
        case confirmPurpose: ("Confirm your email address", "confirm this email address for your account")
        case updatePurpose: ("Code to change your email address", "change the email address of your account")
        case signInPurpose: ("Your sign-in code", "finish signing in to your account")
        case AccountLifecycle.resetTokenPurpose: ("Reset your password", "set a new password for your account")
        case AccountLifecycle.deleteTokenPurpose: ("Confirm deleting your account", "delete your account and all its data")
        case IdentityService.plcTokenPurpose: ("Code to change your identity (PLC)", "sign a change to your account's DID (did:plc) document")
        default: ("Your code", "continue")
        }
        let body = """
            Hello @\(handle),

            Your code to \(action) on \(hostname) is:

                \(token)

            It works once and expires in 15 minutes. If you did not ask for it, ignore this message; \
            nothing changes without the code.

            -- \(hostname)
            """
        return (subject, body)
    }

    // MARK: Confirmation and change

    /// Sends a `confirm_email` token to the account's address.
    public func requestConfirmation(account: Account) throws -> Delivery {
        guard account.email != nil else { throw AccountLifecycleError.invalid("The account has no email address") }
        return try issueToken(purpose: Self.confirmPurpose)
    }

    /// Confirms the address when `email` is the account's and `token` matches.
    public func confirm(account: Account, email: String, token: String) throws {
        guard let current = account.email else { throw AccountLifecycleError.named("AccountNotFound", "Account does not have an email address") }
        guard current.lowercased() == email.lowercased() else { throw AccountLifecycleError.named("InvalidEmail", "Invalid email") }
        try AccountLifecycleError.require(try accounts.redeemToken(token, purpose: Self.confirmPurpose))
        try accounts.confirmEmail()
        logger.notice("email address confirmed")
    }

    /// `requestEmailUpdate`: a token is needed (and sent to the current address) only when that
    /// address is confirmed. Returns `tokenRequired`.
    public func requestUpdate(account: Account) throws -> Bool {
        guard account.emailConfirmedAt != nil else { return false }
        try issueToken(purpose: Self.updatePurpose)
        return true
    }

    /// `updateEmail`: sets the address (unconfirmed when it changes) and, if asked, the sign-in
    /// factor. With a confirmed address, the `update_email` token sent there is required. The
    /// factor can only be on for a confirmed address (codes must reach someone proven to read it).
    public func update(account: Account, email: String, emailAuthFactor: Bool?, token: String?) throws {
        let address = email.trimmingCharacters(in: .whitespaces)
        guard SMTPSettings.isAddress(address) else { throw AccountLifecycleError.named("InvalidEmail", "This email address is not supported, please use a different email.") }
        if account.emailConfirmedAt != nil {
            guard let token, !token.isEmpty else {
                throw AccountLifecycleError.named("TokenRequired", "confirmation token required")
            }
            try AccountLifecycleError.require(try accounts.redeemToken(token, purpose: Self.updatePurpose))
        }
        let changes = address.lowercased() != account.email?.lowercased()
        if emailAuthFactor == true, changes || account.emailConfirmedAt == nil {
            throw AccountLifecycleError.invalid("Sign-in codes by email need a confirmed address: confirm it first (requestEmailConfirmation)")
        }
        if changes {
            try accounts.setEmail(address)
            logger.notice("email address changed (unconfirmed)")
        }
        if let emailAuthFactor, emailAuthFactor != account.emailAuthFactor {
            try accounts.setEmailAuthFactor(emailAuthFactor)
            logger.notice("email sign-in codes \(emailAuthFactor ? "enabled" : "disabled")")
        }
    }
}

// MARK: Sign-in codes (the e-mail second factor)

extension AccountEmail {
    /// Sends a fresh sign-in code (replacing any earlier one) to the account's address, or leaves
    /// it for `pds account token sign-in` without SMTP. For createSession's
    /// `AuthFactorTokenRequired`, and for any other sign-in page that asks for the code.
    @discardableResult
    public func sendSignInCode() throws -> Delivery {
        try issueToken(purpose: Self.signInPurpose)
    }

    /// Whether `code` is the current sign-in code; a matching code is used up.
    public func verifySignInCode(_ code: String) throws -> Bool {
        let normalised = code.trimmingCharacters(in: .whitespaces).uppercased()
        return try accounts.consumeToken(normalised, purpose: Self.signInPurpose)
    }
}
