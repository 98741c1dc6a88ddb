import ATIdentity
import Foundation
import Synchronization

/// Any directory with short-lived caches in front: documents stay fresh for an hour (as the
/// reference's DID cache), handles for five minutes. Anyone may ask this server to resolve a
/// handle, so the caches are bounded: past `maxEntries`, stale entries go, and if that is not
/// enough, everything does.
public final class CachedIdentityDirectory: IdentityDirectory {
    let upstream: any IdentityDirectory
    let documentTTL: TimeInterval
    let handleTTL: TimeInterval
    static let maxEntries = 1000

    private let documents = Mutex<[String: (DIDDocument, Date)]>([:])
    private let handles = Mutex<[String: (String, Date)]>([:])

    public init(_ upstream: any IdentityDirectory, documentTTL: TimeInterval = 3600, handleTTL: TimeInterval = 300) {
        self.upstream = upstream
        self.documentTTL = documentTTL
        self.handleTTL = handleTTL
    }

    public func document(_ did: String, fresh: Bool) async throws -> DIDDocument {
        if !fresh, let (document, at) = documents.withLock({ $0[did] }), Date().timeIntervalSince(at) < documentTTL {
            return document
        }
        let document = try await upstream.document(did, fresh: fresh)
        documents.withLock { Self.insert(document, for: did, ttl: documentTTL, into: &$0) }
        return document
    }

    public func did(forHandle handle: String, fresh: Bool) async throws -> String {
        let handle = handle.lowercased()
        if !fresh, let (did, at) = handles.withLock({ $0[handle] }), Date().timeIntervalSince(at) < handleTTL { return did }
        let did = try await upstream.did(forHandle: handle, fresh: fresh)
        handles.withLock { Self.insert(did, for: handle, ttl: handleTTL, into: &$0) }
        return did
    }

    static func insert<Value>(_ value: Value, for key: String, ttl: TimeInterval, into cache: inout [String: (Value, Date)]) {
        if cache.count >= maxEntries {
            let now = Date()
            cache = cache.filter { now.timeIntervalSince($0.value.1) < ttl }
            if cache.count >= maxEntries { cache.removeAll(keepingCapacity: true) }
        }
        cache[key] = (value, Date())
    }
}

/// Identities from a table: a test stand-in, or a layer in front of another directory for
/// identities known locally (`fallback` answers the rest).
public struct FixedIdentityDirectory: IdentityDirectory {
    public var documents: [String: DIDDocument]
    public var handles: [String: String]
    public var fallback: (any IdentityDirectory)?

    public init(documents: [String: DIDDocument] = [:], handles: [String: String] = [:], fallback: (any IdentityDirectory)? = nil) {
        self.documents = documents
        self.handles = handles
        self.fallback = fallback
    }

    public func document(_ did: String, fresh: Bool) async throws -> DIDDocument {
        if let document = documents[did] { return document }
        if let fallback { return try await fallback.document(did, fresh: fresh) }
        throw IdentityResolutionError("could not resolve \(did): unknown DID")
    }

    public func did(forHandle handle: String, fresh: Bool) async throws -> String {
        if let did = handles[handle.lowercased()] { return did }
        if let fallback { return try await fallback.did(forHandle: handle, fresh: fresh) }
        throw IdentityResolutionError("Unable to resolve handle \(handle)")
    }
}
