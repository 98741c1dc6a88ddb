import ATCrypto
import ATData
import ATIdentity
import ATRepo
import ATSyntax
import Foundation
import Logging
@testable import PDSCore
import PDSNetwork
@testable import PDSStore
import Testing
import TestSupport

/// `importRepo` through the account life cycle, with real repositories exported by other PDSes
/// (the `paul_staging` vector, 185 records, and its DID document): the records become readable,
/// a second import of the same CAR gives the same state, and refusals (a block that does not
/// match its CID, a signature the DID document's key does not verify, `fakermaker`'s real high-S
/// signature, a root that is not in the CAR, a truncated CAR) store nothing.
@Suite(.enabled(if: SharedVectors.enabled, "needs the shared vectors (../shared or PDS_SHARED_DIR)"))
struct AccountImportTests {
    static let carPath = "extra/repos/paul_staging.repo.car"
    static let documentPath = "extra/repos/paul_staging.didDoc.json"

    struct Fixture {
        let services: PDSServices
        let did: String
        let car: [UInt8]
        let directory: String
    }

    /// A server whose single account is `document`'s DID, moving here (deactivated).
    static func fixture(document override: DIDDocument? = nil, car carPath: String = carPath,
                        didDocument documentPath: String = documentPath) throws -> Fixture {
        let document = try DIDDocument.parse(Array(try SharedVectors.data(documentPath)))
        let car = Array(try SharedVectors.data(carPath))
        let directory = NSTemporaryDirectory() + "pds-import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = PDSConfig(hostname: "pds.example.com", dataDirectory: directory, isDevelopment: true)
        let services = PDSServices(
            config: config, database: try PDSDatabase.inMemory(), blobs: try BlobStore(directory: directory + "/blobs"),
            keys: ServerKeys(signingKey: K256PrivateKey(), rotationKey: K256PrivateKey()), logger: Logger(label: "test"),
            http: IdentityServiceTests.NoNetwork(),
            identity: FixedIdentityDirectory(documents: [document.id: override ?? document]))
        try services.accounts.createMovedAccount(did: document.id, handle: "mover.test", email: nil,
                                                 passwordHash: try PasswordHash.make("moving-password"))
        return Fixture(services: services, did: document.id, car: car, directory: directory)
    }

    static func write(_ bytes: [UInt8], in directory: String) throws -> String {
        let path = directory + "/import-\(UUID().uuidString).car"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func importCAR(_ bytes: [UInt8], _ fixture: Fixture) async throws -> ImportedRepository {
        let account = try #require(try fixture.services.accounts.account())
        return try await fixture.services.lifecycle.importRepository(carPath: try write(bytes, in: fixture.directory), account: account)
    }

    /// The paths and record CIDs the CAR's MST holds, read independently of the import.
    static func expectedRecords(_ car: [UInt8]) throws -> [(path: String, cid: CID)] {
        let (roots, blocks) = try CARReader.read(car)
        let commit = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
        return try MST(root: commit.commit.data, store: blocks).allEntries()
    }

    static func expectNothingStored(_ fixture: Fixture) throws {
        #expect(try fixture.services.repository.head() == nil)
        #expect(try fixture.services.repository.counts() == RepositoryCounts(blocks: 0, records: 0, expectedBlobs: 0, importedBlobs: 0))
    }

    @Test func aRealRepositoryImportsAndItsRecordsAreReadable() async throws {
        let fixture = try Self.fixture()
        let expected = try Self.expectedRecords(fixture.car)
        #expect(expected.count > 10)
        let imported = try await Self.importCAR(fixture.car, fixture)
        #expect(imported.records == expected.count)
        // Re-signed by this server's key over the same tree, with a later rev.
        #expect(imported.commit.commit.verifySignature(with: fixture.services.keys.signingKey.publicKey))
        let (roots, blocks) = try CARReader.read(fixture.car)
        let original = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
        #expect(imported.commit.commit.data == original.commit.data)
        #expect(try #require(imported.commit.commit.rev) > (original.commit.rev ?? ""))
        #expect(try fixture.services.repository.head()?.cid == imported.commit.cid)
        for (path, cid) in expected {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            let record = try #require(try fixture.services.repository.record(collection: parts[0], rkey: parts[1]))
            #expect(record.cid == cid)
            #expect(CID.dagCBOR(hashing: record.bytes) == cid)
        }
        #expect(try fixture.services.repository.counts().records == expected.count)
        // The writer continues from the imported tree.
        let writer = try fixture.services.repoWriter()
        #expect(writer.currentCommit?.cid == imported.commit.cid)
        #expect(try writer.currentTree?.count() == expected.count)
    }

    @Test func importingTheSameCARAgainGivesTheSameRepository() async throws {
        let fixture = try Self.fixture()
        let first = try await Self.importCAR(fixture.car, fixture)
        let firstCounts = try fixture.services.repository.counts()
        let second = try await Self.importCAR(fixture.car, fixture)
        #expect(second.commit.commit.data == first.commit.commit.data)
        #expect(try fixture.services.repository.counts() == firstCounts)
    }

    /// A CAR may carry blocks the repository does not reach; the import keeps only the reachable
    /// ones, so the stored blocks are the live repository (and a full getRepo may stream them).
    @Test func blocksTheRepositoryDoesNotReachAreNotKept() async throws {
        let fixture = try Self.fixture()
        let (roots, original) = try CARReader.read(fixture.car)
        var blocks = original
        let stray = DAGCBOR.encode(["$type": "app.bsky.feed.post", "text": "not in the tree", "createdAt": "2026-11-22T00:00:00.000Z"])
        blocks.set(CID.dagCBOR(hashing: stray), stray)
        _ = try await Self.importCAR(CARWriter.encode(roots: roots, blocks: blocks), fixture)
        let repository = RepositoryStore(database: fixture.services.database)
        #expect(try repository.storedBlockCIDs() == (try repository.reachableBlockCIDs()))
        let exact = try await fixture.services.database.pool.read { db in try Bool.fetchOne(db, sql: "SELECT exact FROM repo_block_state") }
        #expect(exact == true)
    }

    @Test func aBlockThatDoesNotMatchItsCIDIsRefusedAndNothingIsStored() async throws {
        let fixture = try Self.fixture()
        let (roots, original) = try CARReader.read(fixture.car)
        var blocks = original
        let victim = try #require(try Self.expectedRecords(fixture.car).last).cid
        var bytes = try blocks.requireBlock(victim)
        bytes[bytes.count - 1] ^= 0x01
        blocks.set(victim, bytes)
        await #expect(throws: RepositoryImportError.self) {
            _ = try await Self.importCAR(CARWriter.encode(roots: roots, blocks: blocks), fixture)
        }
        try Self.expectNothingStored(fixture)
    }

    @Test func aSignatureTheDIDDocumentsKeyDoesNotVerifyIsRefused() async throws {
        let real = try DIDDocument.parse(Array(try SharedVectors.data(Self.documentPath)))
        let other = DIDDocument.plc(did: try DID(real.id), state: PLCState(
            rotationKeys: [K256PrivateKey().didKey], verificationMethods: ["atproto": K256PrivateKey().didKey],
            alsoKnownAs: ["at://mover.test"],
            services: ["atproto_pds": PLCService(type: PLCService.atprotoPDSType, endpoint: "https://pds.example.com")]))
        let fixture = try Self.fixture(document: other)
        await #expect(throws: RepositoryImportError.badSignature) {
            _ = try await Self.importCAR(fixture.car, fixture)
        }
        try Self.expectNothingStored(fixture)
    }

    /// fakermaker's head commit carries a high-S P-256 signature, which atproto forbids.
    @Test func aRealHighSSignatureIsRefused() async throws {
        let fixture = try Self.fixture(car: "extra/repos/fakermaker.repo.car", didDocument: "extra/repos/fakermaker.didDoc.json")
        await #expect(throws: RepositoryImportError.badSignature) {
            _ = try await Self.importCAR(fixture.car, fixture)
        }
        try Self.expectNothingStored(fixture)
    }

    @Test func aRootThatIsNotInTheCARIsRefused() async throws {
        let fixture = try Self.fixture()
        let (_, blocks) = try CARReader.read(fixture.car)
        let stranger = CID.dagCBOR(hashing: DAGCBOR.encode(.string("not a commit")))
        await #expect(throws: RepositoryImportError.self) {
            _ = try await Self.importCAR(CARWriter.encode(roots: [stranger], blocks: blocks), fixture)
        }
        try Self.expectNothingStored(fixture)
    }

    @Test func aFailedImportKeepsThePreviousOne() async throws {
        let fixture = try Self.fixture()
        let first = try await Self.importCAR(fixture.car, fixture)
        let counts = try fixture.services.repository.counts()
        var truncated = fixture.car
        truncated.removeLast(100)
        await #expect(throws: (any Error).self) {
            _ = try await Self.importCAR(truncated, fixture)
        }
        #expect(try fixture.services.repository.head()?.cid == first.commit.cid)
        #expect(try fixture.services.repository.counts() == counts)
    }

    @Test func anActiveAccountDoesNotTakeAnImport() async throws {
        let fixture = try Self.fixture()
        _ = try fixture.services.accounts.setActive(true, events: [])
        await #expect(throws: AccountLifecycleError.self) {
            _ = try await Self.importCAR(fixture.car, fixture)
        }
        try Self.expectNothingStored(fixture)
    }
}
