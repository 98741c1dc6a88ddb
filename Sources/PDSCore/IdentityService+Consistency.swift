import ATIdentity
import ATSyntax
import Foundation

extension IdentityService {
    /// One comparison between the published DID document and this server.
    public struct Consistency: Sendable, Equatable {
        public var check: String
        public var ok: Bool
        public var detail: String
    }

    /// Fetches the account's DID document as others see it (fresh from the PLC directory, or the
    /// did:web well-known) and compares the three things that make this server the account's
    /// home (https://atproto.com/specs/did): the handle in `alsoKnownAs`, the `#atproto_pds`
    /// endpoint, and the `#atproto` key this server signs commits with. Nil when the identity is
    /// not published (a development server without a PLC directory).
    public func documentConsistency(did: String, handle: String) async -> [Consistency] {
        if did.hasPrefix("did:plc:") && !config.publishesIdentity { return [] }
        let document: DIDDocument
        do {
            document = try await directory.document(did, fresh: true)
        } catch {
            return [Consistency(check: "DID document", ok: false, detail: "could not be resolved: \(error)")]
        }
        var checks = [Consistency(check: "DID document", ok: true, detail: "resolved")]
        let listed = document.handle?.string
        checks.append(Consistency(check: "Handle", ok: listed == handle,
                                  detail: listed == handle ? "at://\(handle) listed" : "lists \(listed ?? "no handle"), not \(handle)"))
        let endpoint = document.pdsEndpoint
        checks.append(Consistency(check: "PDS endpoint", ok: endpoint == config.publicURL,
                                  detail: endpoint == config.publicURL ? "\(config.publicURL)" : "\(endpoint ?? "none"), not \(config.publicURL)"))
        let key = document.atprotoSigningKey?.didKey
        let ours = keys.signingKey.didKey
        checks.append(Consistency(check: "Signing key", ok: key == ours,
                                  detail: key == ours ? "matches this server's key" : "\(key ?? "none"), not this server's \(ours)"))
        return checks
    }
}
