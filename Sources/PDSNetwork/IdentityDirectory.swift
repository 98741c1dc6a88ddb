import ATIdentity
import Foundation

/// Resolves other parties' identities (https://atproto.com/specs/did, https://atproto.com/specs/handle):
/// a DID's document and the DID a handle claims. Implementations stack: `NetworkIdentityDirectory`
/// asks the network, `CachedIdentityDirectory` wraps any directory with bounded TTL caches, and
/// `FixedIdentityDirectory` answers from a table (tests, or identities known locally).
public protocol IdentityDirectory: Sendable {
    /// The DID document of `did`. `fresh` bypasses any cache on the way.
    func document(_ did: String, fresh: Bool) async throws -> DIDDocument
    /// The DID `handle` claims to be, not yet checked backwards against the document.
    func did(forHandle handle: String, fresh: Bool) async throws -> String
}

/// Why an identity did not resolve; `description` is fit for an XRPC error message.
public struct IdentityResolutionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension IdentityDirectory {
    /// The cached document of `did`.
    public func document(_ did: String) async throws -> DIDDocument { try await document(did, fresh: false) }

    /// The endpoint of service `#fragment` in `did`'s document (service proxying).
    public func serviceEndpoint(did: String, fragment: String) async throws -> String {
        let document = try await document(did)
        guard let service = document.services.first(where: { $0.id == "#" + fragment || $0.id == did + "#" + fragment }),
              let endpoint = service.serviceEndpoint, DIDDocument.isHTTPURL(endpoint)
        else { throw IdentityResolutionError("could not resolve proxy did service url") }
        return endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
    }

    /// `handle` → DID, confirmed by the DID document naming the handle back (bidirectional check).
    public func verifiedDID(forHandle handle: String) async throws -> String {
        let did = try await did(forHandle: handle, fresh: false)
        let document = try await document(did)
        guard document.handle?.string == handle.lowercased() else {
            throw IdentityResolutionError("\(handle) resolves to \(did), whose document does not name it back")
        }
        return did
    }
}

extension DIDDocument {
    /// An http(s) URL with a host (service endpoints may carry a path, unlike `#atproto_pds`).
    public static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "https" || scheme == "http" else { return false }
        return url.host != nil
    }
}
