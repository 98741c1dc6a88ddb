import ATAuth
import ATCrypto
import Foundation
import Logging
import NIOPosix
import PDSStore

/// Why a session operation was refused.
public enum SessionError: Error, Equatable, Sendable {
    /// Unknown identifier or wrong password (one answer for both, so failures reveal nothing).
    case invalidCredentials
    /// The token's subject is not the hosted account.
    case accountNotFound
    /// An app password needs a name.
    case emptyAppPasswordName
    /// An app password with this name exists.
    case appPasswordNameTaken
    /// Too many failed logins: refused without checking the password (`LoginGuard`).
    case loginLocked(retryAfter: Int)
    /// The password was right and the account wants an e-mailed code too; one was just sent.
    case authFactorTokenRequired
    /// The e-mailed code was wrong or expired.
    case invalidAuthFactorToken
}

/// Password sessions: logins (account password or app password), the HS256 tokens (signed and
/// checked by ATAuth's `SessionTokenCodec`), the stored refresh tokens that make rotation and
/// revocation possible, and app passwords.
///
/// A rotated refresh token keeps working for 2 h and yields the same successor (its `jti` is
/// derived from the old one), so a client that lost a refresh response can simply retry.
public struct SessionService: Sendable {
    static let rotationGrace: Int64 = 2 * 3600

    public var codec: SessionTokenCodec
    let accounts: AccountStore
    let logger: Logger
    /// Counts failed logins and refuses attempts after too many (shared by copies of the service).
    public let loginGuard: LoginGuard
    public var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    /// Sends and checks sign-in codes when the account turned the e-mail factor on.
    public var emailSignIn: AccountEmail?

    public init(secret: [UInt8], audience: String, accounts: AccountStore, logger: Logger = Logger(label: "pds"),
                loginDefence: LoginDefenceSettings = .init(),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        codec = SessionTokenCodec(secret: secret, audience: audience)
        self.accounts = accounts
        self.logger = logger
        loginGuard = LoginGuard(accounts: accounts, settings: loginDefence, sleep: sleep)
    }

    /// Access-token lifetime in seconds (reference: 120 min).
    public var accessLifetime: Int64 {
        get { codec.accessLifetime }
        set { codec.accessLifetime = newValue }
    }

    // MARK: Logins and tokens

    /// Checks `identifier` (handle, DID or e-mail) and `password` (the account's or an app
    /// password) and opens a session. scrypt runs off the event loops; an unknown identifier
    /// costs the same scrypt as a wrong password, and counts as a failure like it (`LoginGuard`:
    /// after too many, attempts are delayed, then refused with `loginLocked`).
    ///
    /// With the e-mail factor on, the account password also needs `authFactorToken`: without
    /// one a code is sent and `authFactorTokenRequired` thrown; a wrong one counts as a failed
    /// login. App passwords skip the factor (they exist for clients that cannot ask for it, and
    /// cannot change the account's credentials).
    public func login(identifier: String, password: String, authFactorToken: String? = nil) async throws -> (account: Account, access: String, refresh: String) {
        try await guardedSignIn(identifier: identifier, password: password) { match, outcome in
            if match.scope == .access { try checkAuthFactor(match.account, code: authFactorToken, outcome: &outcome) }
            let pair = try issue(did: match.account.did, scope: match.scope, appPasswordName: match.appPasswordName)
            outcome = .succeeded
            logger.info("session created", metadata: ["scope": "\(match.scope.rawValue)"])
            return (match.account, pair.access, pair.refresh)
        }
    }

    /// What a password matched: the account's own (scope `.access`) or an app password.
    typealias PasswordMatch = (account: Account, scope: SessionScope, appPasswordName: String?)

    /// One sign-in attempt under the `LoginGuard` (admitted or refused, delayed after failures,
    /// counted): checks the password, then hands the match to `body`, which sets the outcome to
    /// `.succeeded` when the attempt succeeds (a wrong password is counted as a failure here).
    func guardedSignIn<T>(identifier: String, password: String,
                          _ body: (PasswordMatch, inout LoginGuard.Outcome) async throws -> T) async throws -> T {
        let delay = try loginGuard.admit(now: now())
        var outcome = LoginGuard.Outcome.abandoned
        defer { _ = try? loginGuard.finish(outcome, now: now()) }
        if delay > .zero { try await loginGuard.sleep(delay) }
        let match: PasswordMatch
        do {
            match = try await checkPassword(identifier: identifier, password: password)
        } catch SessionError.invalidCredentials {
            outcome = .failed
            throw SessionError.invalidCredentials
        }
        return try await body(match, &outcome)
    }

    /// The e-mail sign-in factor, when the account has it on: without a code, one is mailed and
    /// `authFactorTokenRequired` thrown; a wrong code is a failed login. Every sign-in with the
    /// account password goes through here (createSession and the browser pages alike).
    func checkAuthFactor(_ account: Account, code: String?, outcome: inout LoginGuard.Outcome) throws {
        guard account.emailAuthFactor else { return }
        guard let emailSignIn else { throw SessionError.authFactorTokenRequired }
        guard let code, !code.trimmingCharacters(in: .whitespaces).isEmpty else {
            try emailSignIn.sendSignInCode()
            throw SessionError.authFactorTokenRequired
        }
        guard try emailSignIn.verifySignInCode(code) else {
            outcome = .failed
            throw SessionError.invalidAuthFactorToken
        }
    }

    func checkPassword(identifier: String, password: String) async throws -> PasswordMatch {
        let identifier = identifier.lowercased()
        guard let account = try accounts.account(),
              identifier == account.handle || identifier == account.did.lowercased()
                || (identifier.contains("@") && identifier == account.email?.lowercased())
        else {
            // The same two scrypts as a wrong password for the account: the password, then the
            // app-password lookup's hash.
            _ = try await Self.offEventLoop {
                _ = PasswordHash.verify(password, against: Self.decoyHash)
                _ = try AppPasswords.hash(password, did: "did:decoy")
            }
            throw SessionError.invalidCredentials
        }
        let accounts = self.accounts, did = account.did
        let match: (scope: SessionScope, appPasswordName: String?)? = try await Self.offEventLoop {
            if let stored = try accounts.passwordHash(), PasswordHash.verify(password, against: stored) {
                return (.access, nil)
            }
            if let appPassword = try accounts.appPassword(hash: AppPasswords.hash(password, did: did)) {
                return (appPassword.privileged ? .appPassPrivileged : .appPass, appPassword.name)
            }
            return nil
        }
        guard let (scope, appPasswordName) = match else { throw SessionError.invalidCredentials }
        return (account, scope, appPasswordName)
    }

    /// A new access/refresh pair, storing the refresh token.
    public func issue(did: String, scope: SessionScope, appPasswordName: String?) throws -> (access: String, refresh: String) {
        let jti = SessionTokenCodec.newTokenID()
        let pair = codec.pair(did: did, scope: scope, jti: jti, issuedAt: now())
        try accounts.storeRefreshToken(jti: jti, expiresAt: now() + SessionTokenCodec.refreshLifetime, appPasswordName: appPasswordName)
        return pair
    }

    /// Rotates a verified refresh token.
    public func rotate(_ token: SessionTokenCodec.Refresh) throws -> (access: String, refresh: String) {
        guard let row = try accounts.refreshToken(jti: token.jti), row.expiresAt > now() else {
            throw AuthError.expiredToken("Token has been revoked")
        }
        let nextJTI = codec.successorID(of: token.jti)
        if row.nextID == nil {
            try accounts.rotateRefreshToken(
                jti: token.jti, nextJTI: nextJTI, nextExpiresAt: now() + SessionTokenCodec.refreshLifetime,
                graceUntil: now() + Self.rotationGrace)
        }
        return codec.pair(did: token.did, scope: token.accessScope, jti: nextJTI, issuedAt: now())
    }

    /// Ends the session of a refresh token.
    public func logout(_ token: SessionTokenCodec.Refresh) throws {
        try accounts.deleteRefreshToken(jti: token.jti)
    }

    /// Checks an access token.
    public func verifyAccess(token: String) throws(AuthError) -> AccessAuth {
        try codec.verifyAccess(token, now: now())
    }

    /// Checks a refresh token (`allowExpired` for logout).
    public func verifyRefresh(token: String, allowExpired: Bool = false) throws(AuthError) -> SessionTokenCodec.Refresh {
        try codec.verifyRefresh(token, allowExpired: allowExpired, now: now())
    }

    /// The hosted account, if `did` (a token's subject) is it.
    public func account(_ did: String) throws -> Account {
        guard let account = try accounts.account(), account.did == did else { throw SessionError.accountNotFound }
        return account
    }

    // MARK: App passwords

    /// The account's app passwords (`AppPasswords`; the CLI uses the same type).
    public var appPasswords: AppPasswords { AppPasswords(accounts: accounts) }

    /// A hash no password matches, checked on unknown identifiers to keep timing uniform.
    static let decoyHash: String = (try? PasswordHash.make(UUID().uuidString)) ?? ""

    /// Runs CPU-heavy work (scrypt: tens of milliseconds, 16 MiB) on NIO's blocking-work pool.
    /// Request handlers run on the event loops (`pds` makes them Swift Concurrency's executor),
    /// and a login must not stall every other connection on its loop, firehose consumers included.
    public static func offEventLoop<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}
