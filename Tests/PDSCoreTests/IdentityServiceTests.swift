import ATCrypto
import ATIdentity
import ATSyntax
import Foundation
import Logging
@testable import PDSCore
import PDSNetwork
@testable import PDSStore
import Testing

/// The identity service with an injected directory (no network): handle resolution is checked
/// both ways, and a stacked cache answers from memory until asked for a fresh answer.
@Suite struct IdentityServiceTests {
    static let bob = "did:plc:bob4bob4bob4bob4bob4bob4"

    static func document(_ did: String, handle: String) throws -> DIDDocument {
        let key = K256PrivateKey()
        return DIDDocument.web(did: try DID(did), handle: try Handle(handle), signingKey: key.publicKey,
                               pdsEndpoint: "https://pds.example.com")
    }

    static func services(_ directory: any IdentityDirectory) throws -> PDSServices {
        let config = PDSConfig(hostname: "pds.example.com", isDevelopment: true)
        return PDSServices(config: config, database: try PDSDatabase.inMemory(),
                           blobs: try BlobStore(directory: NSTemporaryDirectory() + "pds-identity-\(UUID().uuidString)"),
                           keys: ServerKeys(signingKey: K256PrivateKey(), rotationKey: nil), logger: Logger(label: "test"),
                           http: NoNetwork(), identity: directory)
    }

    /// Fails every request: nothing in these tests may leave the process.
    struct NoNetwork: OutboundHTTP {
        func stream(_ request: OutboundRequest) async throws -> OutboundStream {
            throw OutboundHTTPError.unreachable("no network in this test")
        }
    }

    @Test func foreignHandlesResolveOnlyWhenTheDocumentNamesThemBack() async throws {
        let directory = FixedIdentityDirectory(
            documents: [Self.bob: try Self.document(Self.bob, handle: "bob.example.com")],
            handles: ["bob.example.com": Self.bob, "liar.example.com": Self.bob])
        let identity = try Self.services(directory).identity
        #expect(try await identity.resolveHandle(try Handle("bob.example.com")) == Self.bob)
        await #expect(throws: IdentityResolutionError.self) {
            _ = try await identity.resolveHandle(try Handle("liar.example.com"))
        }
        await #expect(throws: IdentityResolutionError.self) {
            _ = try await identity.resolveHandle(try Handle("nobody.example.com"))
        }
    }

    @Test func aCachedDirectoryStacksOnAnotherAndRefreshesOnRequest() async throws {
        final class Counting: IdentityDirectory, @unchecked Sendable {
            var lookups = 0
            let inner: FixedIdentityDirectory
            init(_ inner: FixedIdentityDirectory) { self.inner = inner }
            func document(_ did: String, fresh: Bool) async throws -> DIDDocument {
                lookups += 1
                return try await inner.document(did, fresh: fresh)
            }
            func did(forHandle handle: String, fresh: Bool) async throws -> String {
                lookups += 1
                return try await inner.did(forHandle: handle, fresh: fresh)
            }
        }
        let counting = Counting(FixedIdentityDirectory(
            documents: [Self.bob: try Self.document(Self.bob, handle: "bob.example.com")], handles: ["bob.example.com": Self.bob]))
        let cached = CachedIdentityDirectory(counting)
        for _ in 0..<3 { #expect(try await cached.verifiedDID(forHandle: "bob.example.com") == Self.bob) }
        #expect(counting.lookups == 2)  // one handle lookup, one document fetch
        _ = try await cached.document(Self.bob, fresh: true)
        #expect(counting.lookups == 3)
    }
}
