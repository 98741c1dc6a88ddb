import ATCrypto
import ATData
import ATIdentity
import ATSync
import ATSyntax
import Foundation
import Logging
import PDSNetwork
import PDSStore

/// Why an identity operation was refused.
public enum IdentityServiceError: Error, Equatable, Sendable {
    /// The request cannot be carried out as asked (the message says why).
    case invalid(String)
    /// The one-time token is wrong.
    case invalidToken
    /// The one-time token was right but past its lifetime.
    case expiredToken
    /// The PLC directory failed or served a log that does not validate.
    case upstream(String)
}

/// The account's identity (https://atproto.com/specs/did, https://atproto.com/specs/handle): its
/// handle, its did:plc operations and its DID document as this server knows them.
///
/// Every PLC change is chained on the directory's current head (its audit log, validated here, so
/// a directory that served a broken log is noticed), signed with the server's rotation key,
/// submitted, and recorded locally; then `#identity` is sequenced.
public struct IdentityService: Sendable {
    public static let plcTokenPurpose = "plc_operation"

    let config: PDSConfig
    let keys: ServerKeys
    let accounts: AccountStore
    let events: EventLogStore
    let plc: PLCDirectory
    let directory: any IdentityDirectory
    /// Called with the sequence numbers of events this service appended (firehose, relays).
    let sequenced: @Sendable ([Int64]) -> Void
    let logger: Logger

    public init(config: PDSConfig, keys: ServerKeys, accounts: AccountStore, events: EventLogStore, plc: PLCDirectory,
                directory: any IdentityDirectory, logger: Logger, sequenced: @escaping @Sendable ([Int64]) -> Void) {
        self.config = config
        self.keys = keys
        self.accounts = accounts
        self.events = events
        self.plc = plc
        self.directory = directory
        self.logger = logger
        self.sequenced = sequenced
    }

    /// The account's DID document as this server knows it: from its latest PLC operation, or
    /// built from the keys for a did:web account (whose document this server serves itself).
    public func didDocument() throws -> DIDDocument? {
        guard let account = try accounts.account(), let did = try? DID(account.did) else { return nil }
        if account.did.hasPrefix("did:web:") {
            return DIDDocument.web(did: did, handle: try? Handle(account.handle), signingKey: keys.signingKey.publicKey,
                                   pdsEndpoint: config.publicURL)
        }
        guard let json = try accounts.latestPLCOperation(),
              let operation = try? PLCOperation(jsonBytes: json), let state = operation.state
        else { return nil }
        return DIDDocument.plc(did: did, state: state)
    }

    /// The DID of `handle`: the account's own, or someone else's resolved (DNS, then HTTPS) and
    /// checked backwards against their DID document, so a handle that merely claims a DID is not
    /// answered.
    public func resolveHandle(_ handle: Handle) async throws -> String {
        if let account = try accounts.account(), account.handle == handle.string { return account.did }
        return try await directory.verifiedDID(forHandle: handle.string)
    }

    /// Moves the account to `handle`, which must already point here (DNS TXT or HTTPS
    /// well-known), updating the PLC document first. Re-running with the same handle re-emits
    /// `#identity`, as the reference does.
    public func updateHandle(_ handle: Handle, account: Account) async throws {
        if handle.string != account.handle {
            let resolved: String
            do { resolved = try await directory.did(forHandle: handle.string, fresh: true) } catch {
                throw IdentityServiceError.invalid("External handle did not resolve to DID: \(error)")
            }
            guard resolved == account.did else {
                throw IdentityServiceError.invalid("External handle did not resolve to DID (it resolves to \(resolved))")
            }
        }
        if account.did.hasPrefix("did:plc:") {
            _ = try await applyPLCChange(did: account.did) { $0.setHandle(handle) }
        }
        sequenced(try accounts.updateHandle(
            handle.string, event: RepoEvent.Identity(did: account.did, handle: handle.string, time: AccountStore.timestamp())))
        logger.info("handle updated", metadata: ["handle": "\(handle.string)"])
    }

    /// What this server wants in the account's DID document.
    public func recommendedCredentials(handle: String) -> JSONObject {
        var rotationKeys: [JSONValue] = []
        if let recovery = config.recoveryDIDKey { rotationKeys.append(.string(recovery)) }
        if let rotation = keys.rotationKey { rotationKeys.append(.string(rotation.didKey)) }
        return [
            "alsoKnownAs": [.string("at://" + handle)],
            "verificationMethods": ["atproto": .string(keys.signingKey.didKey)],
            "rotationKeys": .array(rotationKeys),
            "services": ["atproto_pds": ["type": .string(PLCService.atprotoPDSType), "endpoint": .string(config.publicURL)]],
        ]
    }

    /// The fields `signPlcOperation` may change; nil leaves a field as it is.
    public struct PLCChanges: Sendable {
        public var rotationKeys: [String]?
        public var alsoKnownAs: [String]?
        public var verificationMethods: [String: String]?
        public var services: [String: PLCService]?
        public init() {}
    }

    /// Signs (but does not submit) an update of the account's PLC state with the server's
    /// rotation key, after checking the one-time token.
    public func signPLCOperation(token: String, changes: PLCChanges, account: Account) async throws -> PLCOperation {
        switch try accounts.redeemToken(token, purpose: Self.plcTokenPurpose) {
        case .valid: break
        case .expired: throw IdentityServiceError.expiredToken
        case .invalid: throw IdentityServiceError.invalidToken
        }
        guard account.did.hasPrefix("did:plc:") else { throw IdentityServiceError.invalid("Only did:plc identities have PLC operations") }
        let previous = try await currentPLCHead(did: account.did)
        do {
            return try PLCOperation.update(after: previous) { state in
                if let keys = changes.rotationKeys { state.rotationKeys = keys }
                if let names = changes.alsoKnownAs { state.alsoKnownAs = names }
                if let methods = changes.verificationMethods { state.verificationMethods = methods }
                if let services = changes.services { state.services = services }
            }.signed(with: try requireRotationKey(), chainedOn: previous)
        } catch let error as IdentityError {
            throw IdentityServiceError.invalid("\(error)")
        }
    }

    /// Publishes an operation the client signed, if it keeps this server in charge and is chained
    /// on the current head by a current rotation key; then sequences `#identity`.
    public func submitPLCOperation(_ operation: PLCOperation, account: Account) async throws {
        try checkSubmittedOperation(operation, handle: account.handle)
        let previous = try await currentPLCHead(did: account.did)
        guard operation.prev == previous.cid.string else {
            throw IdentityServiceError.invalid("Operation is not chained on the current PLC head (\(previous.cid.string))")
        }
        guard let state = previous.state, (try? operation.signerIndex(among: state.rotationKeys)) != nil else {
            throw IdentityServiceError.invalid("Operation is not signed by a current rotation key")
        }
        try await publish(operation, did: account.did)
        sequenced(try events.append([.identity(.init(did: account.did, handle: account.handle, time: AccountStore.timestamp()))]))
    }

    /// `XXXXX-XXXXX` from an unambiguous alphabet (the reference's e-mail token shape).
    public static func makeConfirmationToken() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        let characters = SecureRandom.bytes(10).map { alphabet[Int($0) % alphabet.count] }
        return String(characters[0..<5]) + "-" + String(characters[5..<10])
    }
}
