import ATAuth
import ATCrypto
import ATIdentity
import ATRepo
import ATSync
import ATSyntax
import Foundation
import Logging
import PDSNetwork
import PDSStore

/// Why a life-cycle operation was refused. `named` carries the Lexicon error name
/// (`IncompatibleDidDoc`, `UnresolvableDid`, `InvalidInviteCode`, `InvalidToken`, …).
public enum AccountLifecycleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 400 `InvalidRequest`.
    case invalid(String)
    /// 400 with a specific error name.
    case named(String, String)
    /// 401 `AuthenticationRequired`.
    case authenticationRequired(String)

    public var description: String {
        switch self {
        case .invalid(let message), .authenticationRequired(let message): message
        case .named(let name, let message): "\(name): \(message)"
        }
    }
}

/// The account's life cycle (https://atproto.com/specs/account): a DID moving in (created
/// deactivated from a service-auth token its current key signed, its repository imported,
/// then activated once its DID document points here), deactivation and deletion, and
/// password resets. Firehose events go out with each status change (`#account`, plus
/// `#identity` and `#sync` on activation), stored in the same transaction as the change.
///
/// Not here: the HTTP shapes (PDSServer's AccountEndpoints) and the client side of a move
/// (PDSAppliance's `pds migrate`).
public struct AccountLifecycle: Sendable {
    public static let createAccountMethod = "com.atproto.server.createAccount"
    public static let inviteTokenPurpose = "invite_code"
    public static let deleteTokenPurpose = "delete_account"
    public static let resetTokenPurpose = "reset_password"
    /// Invite codes for a move live a week (the owner prepares the server, then moves).
    public static let inviteLifetime: Int64 = 7 * 24 * 3600

    let config: PDSConfig
    let keys: ServerKeys
    let accounts: AccountStore
    let repository: RepositoryStore
    let blobs: BlobStore
    let directory: any IdentityDirectory
    let identity: IdentityService
    let sessions: SessionService
    let repoWriter: @Sendable () throws -> RepoWriter
    let forgetRepoWriter: @Sendable () -> Void
    let sequenced: @Sendable ([Int64]) -> Void
    let crawlNotifier: CrawlNotifier
    let email: AccountEmail
    let logger: Logger

    // MARK: Moving in

    /// What `createAccount` asks for when a DID moves here.
    public struct MoveIn: Sendable {
        public var did: String
        public var handle: String
        public var email: String?
        public var password: String
        public var inviteCode: String?
        public init(did: String, handle: String, email: String?, password: String, inviteCode: String?) {
            self.did = did
            self.handle = handle
            self.email = email
            self.password = password
            self.inviteCode = inviteCode
        }
    }

    /// Creates the account of an existing DID, deactivated, after checking the service-auth
    /// token (`iss` = the DID, `aud` = this server, `lxm` = createAccount, unexpired, signed by
    /// the DID document's current `#atproto` key) and the invite code; returns the new session.
    public func createMovedAccount(_ request: MoveIn, serviceToken: String?) async throws -> (account: Account, access: String, refresh: String) {
        guard DID.isValid(request.did) else { throw AccountLifecycleError.invalid("did must be a valid DID") }
        guard let handle = try? Handle(request.handle.lowercased()) else { throw AccountLifecycleError.named("InvalidHandle", "Input/handle must be a valid handle") }
        guard !request.password.isEmpty, request.password.count <= 256 else {
            throw AccountLifecycleError.named("InvalidPassword", "Password must be 1 to 256 characters")
        }
        if let existing = try accounts.account() {
            throw AccountLifecycleError.invalid(existing.did == request.did
                ? "This server already holds the account \(existing.did)"
                : "This server hosts one account and already holds another one (\(existing.did))")
        }
        try await checkMoveToken(serviceToken, did: request.did)
        guard let invite = request.inviteCode, try accounts.consumeToken(invite, purpose: Self.inviteTokenPurpose) else {
            throw AccountLifecycleError.named("InvalidInviteCode", "Provided invite code not available (get one with `pds account token invite` on the server)")
        }
        let hash = try await SessionService.offEventLoop { [password = request.password] in try PasswordHash.make(password) }
        do {
            try accounts.createMovedAccount(did: request.did, handle: handle.string, email: request.email, passwordHash: hash)
        } catch StoreError.accountExists {
            throw AccountLifecycleError.invalid("This server already holds an account")
        }
        forgetRepoWriter()
        guard let account = try accounts.account() else { throw AccountLifecycleError.invalid("The account was not stored") }
        let pair = try sessions.issue(did: account.did, scope: .access, appPasswordName: nil)
        logger.notice("account created for a move here (deactivated until activateAccount)", metadata: ["did": "\(account.did)"])
        return (account, pair.access, pair.refresh)
    }

    /// The service-auth check of a move: the token must be from the DID itself, for this server
    /// and createAccount, unexpired, and signed by the key its DID document names now.
    func checkMoveToken(_ token: String?, did: String) async throws {
        guard let token else { throw AccountLifecycleError.authenticationRequired("Missing auth to create account with did") }
        let jwt: JWT
        do { jwt = try JWT(parsing: token) } catch { throw AuthError.invalidToken("Malformed service token") }
        guard jwt.string("iss") == did else { throw AccountLifecycleError.authenticationRequired("Missing auth to create account with did") }
        let document = try await resolve(did)
        guard let key = document.atprotoSigningKey else {
            throw AccountLifecycleError.named("IncompatibleDidDoc", "The DID document of \(did) lists no #atproto signing key")
        }
        try ServiceAuthToken.verify(jwt, issuer: did, key: key, audience: config.serviceDID, lxm: Self.createAccountMethod,
                                    now: Int64(Date().timeIntervalSince1970))
    }

    /// The DID document, fresh from its source.
    func resolve(_ did: String) async throws -> DIDDocument {
        let document: DIDDocument
        do { document = try await directory.document(did, fresh: true) } catch {
            throw AccountLifecycleError.named("UnresolvableDid", "Could not resolve the DID document of \(did): \(error)")
        }
        guard document.id == did else { throw AccountLifecycleError.named("UnresolvableDid", "The DID document is for \(document.id)") }
        return document
    }

    /// Replaces the repository with the CAR at `carPath` (streamed to disk by the caller),
    /// after checking it against the DID document (see `RepositoryStore.Writer.importRepository`).
    /// Only while the account is deactivated: an import sequences no events.
    public func importRepository(carPath: String, account: Account) async throws -> ImportedRepository {
        guard !account.isActive else {
            throw AccountLifecycleError.invalid("importRepo replaces the repository of an account moving here; this account is active")
        }
        let document = try await resolve(account.did)
        guard let key = document.atprotoSigningKey else {
            throw AccountLifecycleError.named("IncompatibleDidDoc", "The DID document of \(account.did) lists no #atproto signing key")
        }
        let writer = try repoWriter()
        let signingKey = keys.signingKey, did = account.did
        let imported = try await repository.withWriterAsync { store in
            let imported = try store.importRepository(
                carPath: carPath, did: did, verifySignature: { key.verify(signature: $1, message: $0) },
                nextRev: { writer.nextRev(after: $0) },
                sign: { data, rev in try SignedCommit.create(did: did, data: data, rev: rev, key: signingKey) })
            // Still on the writer connection: the next write starts from the imported tree.
            try writer.adoptHead(imported.commit)
            return imported
        }
        logger.notice("repository imported", metadata: ["records": "\(imported.records)", "blocks": "\(imported.blocks)"])
        return imported
    }

    // MARK: Status

    /// What `checkAccountStatus` reports.
    public struct Status: Sendable {
        public var activated: Bool
        public var validDid: Bool
        public var commit: SignedCommit?
        public var counts: RepositoryCounts
    }

    public func status(account: Account) async throws -> Status {
        let problem = await documentProblem(did: account.did)
        return Status(activated: account.isActive, validDid: problem == nil, commit: try repoWriter().currentCommit,
                      counts: try repository.counts())
    }

    /// Why the DID's current identity does not make this server its PDS, or nil if it does:
    /// the `atproto_pds` endpoint is this server's URL, the `#atproto` key is this server's
    /// signing key and, for did:plc, this server's rotation key is among the rotation keys
    /// (the reference's `assertValidDocContents`).
    func documentProblem(did: String) async -> String? {
        if did == config.webDID { return nil }
        if did.hasPrefix("did:plc:") {
            let head: PLCOperation
            do { head = try await identity.currentPLCHead(did: did) } catch { return "\(error)" }
            guard let state = head.state else { return "the DID is tombstoned" }
            if let rotation = keys.rotationKey, !state.rotationKeys.contains(rotation.didKey) {
                return "the rotation keys do not include this server's rotation key"
            }
            guard state.pdsEndpoint == config.publicURL else { return "the atproto_pds endpoint is not \(config.publicURL)" }
            guard state.atprotoSigningKey == keys.signingKey.didKey else { return "the #atproto key is not this server's signing key" }
            return nil
        }
        let document: DIDDocument
        do { document = try await resolve(did) } catch { return "\(error)" }
        guard document.pdsEndpoint == config.publicURL else { return "the atproto_pds endpoint is not \(config.publicURL)" }
        guard document.atprotoSigningKey?.didKey == keys.signingKey.didKey else { return "the #atproto key is not this server's signing key" }
        return nil
    }
}

extension AccountLifecycleError {
    /// A redeemed one-time token, refused with the reference's names: 400 `ExpiredToken` ("Token
    /// is expired") for the right token past its lifetime, 400 `InvalidToken` for any other.
    static func require(_ check: AccountStore.TokenCheck) throws {
        switch check {
        case .valid: return
        case .expired: throw AccountLifecycleError.named("ExpiredToken", "Token is expired")
        case .invalid: throw AccountLifecycleError.named("InvalidToken", "Token is invalid")
        }
    }
}
