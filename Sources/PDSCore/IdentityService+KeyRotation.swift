import ATCrypto
import ATIdentity
import Foundation
import PDSStore

extension IdentityService {
    /// Puts `key` in the account's DID document as its `#atproto` signing key: a PLC operation
    /// chained on the directory's head and signed with the server's rotation key
    /// (https://atproto.com/specs/did, did:plc). Nothing is sequenced yet: `#identity` goes out
    /// when the server starts signing with the key (`announceIdentity`), so relays re-resolve
    /// the document when commits signed by the new key begin.
    public func publishSigningKey(_ key: any VerifyingKey, account: Account) async throws -> PLCOperation {
        guard account.did.hasPrefix("did:plc:") else {
            throw IdentityServiceError.invalid("Only a did:plc account's signing key is rotated here (a did:web document is served from the key file)")
        }
        return try await applyPLCChange(did: account.did) { $0.verificationMethods["atproto"] = key.didKey }
    }

    /// The `#atproto` key the DID document shows now: fresh from the PLC directory when this
    /// server publishes, else from the locally recorded operation.
    public func publishedSigningKey(did: String) async throws -> String? {
        if config.publishesIdentity {
            return try await directory.document(did, fresh: true).atprotoSigningKey?.didKey
        }
        return try await currentPLCHead(did: did).state?.atprotoSigningKey
    }

    /// Sequences `#identity` for the account (https://atproto.com/specs/sync: consumers refresh
    /// the DID document, and with it the key commits are verified against).
    public func announceIdentity(account: Account) throws {
        sequenced(try events.append([.identity(.init(did: account.did, handle: account.handle, time: AccountStore.timestamp()))]))
    }
}
