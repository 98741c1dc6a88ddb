import ATData
import Foundation
import Logging
@testable import PDSBackup
@testable import PDSNetwork
@testable import PDSStore
import TestSupport
import Testing

/// The S3 client, the blob mirror service and restore's blob download against a real
/// S3-compatible server (moto) that verifies SigV4 signatures.
@Suite struct S3MirrorTests {
    static let logger: Logger = {
        var logger = Logger(label: "pds-mirror-test")
        logger.logLevel = .critical
        return logger
    }()

    /// A data directory with a database, blob files and the blob index.
    struct Store {
        let directory: String
        let database: PDSDatabase
        let files: BlobStore
        let index: BlobIndex

        init() throws {
            directory = NSTemporaryDirectory() + "pds-mirror-\(UUID().uuidString)"
            database = try PDSDatabase(directory: directory)
            files = try BlobStore(directory: directory + "/blobs")
            index = BlobIndex(database: database, files: files)
        }

        func upload(_ bytes: [UInt8]) throws -> CID {
            let upload = try files.beginUpload(limit: 1 << 22)
            try upload.write(bytes)
            return try index.store(upload, declaredType: "application/octet-stream").cid
        }

        func reference(_ cid: CID, rkey: String) throws {
            try database.pool.write { db in
                try db.execute(sql: "INSERT INTO record_blob (blob_cid, collection, rkey) VALUES (?, 'app.bsky.feed.post', ?)",
                               arguments: [cid.string, rkey])
                try db.execute(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ?", arguments: [cid.string])
            }
        }

        func unreference(_ cid: CID) throws {
            try database.pool.write { db in
                try db.execute(sql: "DELETE FROM record_blob WHERE blob_cid = ?", arguments: [cid.string])
                try db.execute(sql: "DELETE FROM blob WHERE cid = ?", arguments: [cid.string])
            }
        }

        func mirror(_ config: BlobMirrorConfig) -> BlobMirrorService {
            var service = BlobMirrorService(config: config, database: database, blobs: files, http: NIOHTTPClient(), logger: S3MirrorTests.logger)
            service.backoff = .init(base: 10, maximum: 60)
            return service
        }

        var queue: BlobMirrorQueue { BlobMirrorQueue(database: database) }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func bytes(_ seed: Int, count: Int = 3000) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7) }
    }

    @Test(.enabled(if: TestTools.hasVenv || SharedVectors.required, "needs moto from the Python tools venv (Tests/tools/venv)"))
    func clientRoundTripWithSignatureVerification() async throws {
        try await S3TestServer.with { s3 in
            let client = S3Client(endpoint: s3.endpoint, bucket: s3.bucket, region: "us-east-1", credentials: s3.credentials, http: NIOHTTPClient())
            // Keys that need encoding in the path and in the list query.
            let keys = ["blobs/a b+c", "blobs/ü/1", "blobs/x", "blobs/y", "blobs/z", "other/not-listed"]
            for (index, key) in keys.enumerated() {
                try await client.putObject(key: key, body: Self.bytes(index))
            }
            // Every byte arrived as sent (read back by an independent client).
            let stored = try s3.objects()
            #expect(Set(stored.keys) == Set(keys))
            for (index, key) in keys.enumerated() { #expect(stored[key] == Self.bytes(index), "\(key)") }

            // Pages of two, following continuation tokens; only the prefix.
            var listed: [String] = []
            var token: String?
            var pages = 0
            repeat {
                let page = try await client.listObjects(prefix: "blobs/", continuationToken: token, maxKeys: 2)
                listed += page.objects.map(\.key)
                #expect(page.objects.allSatisfy { $0.size == 3000 })
                token = page.continuationToken
                pages += 1
            } while token != nil && pages < 10
            #expect(pages == 3)
            #expect(listed.sorted() == keys.filter { $0.hasPrefix("blobs/") }.sorted())
            #expect(try await client.listAllObjects(prefix: "blobs/").count == 5)

            #expect(try await client.getObjectBytes(key: "blobs/a b+c") == Self.bytes(0))
            try await client.deleteObject(key: "blobs/a b+c")
            try await client.deleteObject(key: "blobs/never-existed")
            #expect(try await client.listAllObjects(prefix: "blobs/a").isEmpty)
            await #expect(throws: S3Error.self) { try await client.getObjectBytes(key: "blobs/a b+c") }

            // The server does check signatures: a wrong secret is refused.
            let forged = S3Client(endpoint: s3.endpoint, bucket: s3.bucket, region: "us-east-1",
                                  credentials: S3Credentials(accessKeyID: s3.credentials.accessKeyID, secretAccessKey: "wrong"),
                                  http: NIOHTTPClient())
            do {
                try await forged.putObject(key: "blobs/forged", body: [1, 2, 3])
                Issue.record("a request signed with the wrong secret was accepted")
            } catch let error as S3Error {
                #expect(error.status == 403)
                #expect(error.code == "SignatureDoesNotMatch", "\(error)")
            }
            #expect(try s3.objects()["blobs/forged"] == nil)
        }
    }

    @Test(.enabled(if: TestTools.hasVenv || SharedVectors.required, "needs moto from the Python tools venv (Tests/tools/venv)"))
    func mirrorUploadsPermanentBlobsOnlyAndDeletesRemovedOnes() async throws {
        try await S3TestServer.with { s3 in
            let store = try Store()
            defer { store.remove() }
            let photo = Self.bytes(1, count: 200_000)
            let kept = try store.upload(photo)
            let unreferenced = try store.upload(Self.bytes(2))
            try store.reference(kept, rkey: "a")
            let service = store.mirror(s3.mirrorConfig(prefix: "pds/blobs", deleteDelay: 0))

            #expect(try store.database.storageReport().mirrorLastUploadAt == nil)
            let started = BlobMirrorQueue.milliseconds(Date())
            let first = await service.drain(now: Date())
            #expect(first.uploaded == 1 && first.failed == 0)
            // The dashboard's "last successful upload" (a failure, later in this suite, does not count).
            let report = try store.database.storageReport()
            #expect(report.mirrorUploads == 1)
            #expect((report.mirrorLastUploadAt ?? 0) >= started)
            var objects = try s3.objects()
            #expect(Array(objects.keys) == ["pds/blobs/\(kept.string)"])
            #expect(objects["pds/blobs/\(kept.string)"] == photo)
            #expect(objects["pds/blobs/\(unreferenced.string)"] == nil)
            #expect(try store.queue.all().isEmpty)
            // Nothing left to do.
            #expect(await service.drain(now: Date()) == BlobMirrorService.PassResult())

            try store.unreference(kept)
            store.files.delete(kept)
            let second = await service.drain(now: Date())
            #expect(second.deleted == 1)
            objects = try s3.objects()
            #expect(objects.isEmpty)
            #expect(try store.queue.all().isEmpty)
        }
    }

    @Test(.enabled(if: TestTools.hasVenv || SharedVectors.required, "needs moto from the Python tools venv (Tests/tools/venv)"))
    func deletesWaitForTheConfiguredDelay() async throws {
        try await S3TestServer.with { s3 in
            let store = try Store()
            defer { store.remove() }
            let cid = try store.upload(Self.bytes(3))
            try store.reference(cid, rkey: "a")
            let service = store.mirror(s3.mirrorConfig(deleteDelay: 3600))
            #expect(await service.drain(now: Date()).uploaded == 1)
            try store.unreference(cid)
            #expect(await service.drain(now: Date()) == BlobMirrorService.PassResult())
            #expect(try s3.objects()["blobs/\(cid.string)"] != nil)
            #expect(await service.drain(now: Date().addingTimeInterval(3700)).deleted == 1)
            #expect(try s3.objects().isEmpty)
        }
    }

    @Test(.enabled(if: TestTools.hasVenv || SharedVectors.required, "needs moto from the Python tools venv (Tests/tools/venv)"))
    func failuresStayQueuedAndAreRetriedWithBackoff() async throws {
        try await S3TestServer.with { s3 in
            let store = try Store()
            defer { store.remove() }
            let cid = try store.upload(Self.bytes(4))
            try store.reference(cid, rkey: "a")

            // Unreachable endpoint (a port nobody listens on), then wrong credentials.
            var unreachable = s3.mirrorConfig()
            unreachable.endpoint = URL(string: "http://127.0.0.1:1")!
            let before = Date()
            #expect(await store.mirror(unreachable).drain(now: before).failed == 1)
            #expect(try store.database.storageReport().mirrorLastUploadAt == nil)
            let after = Date()
            var item = try #require(try store.queue.all().first)
            #expect(item.attempts == 1)
            let nextDue = try #require(try store.queue.nextDueDate(deleteDelay: 0))
            // base 10 s with jitter 0.75...1, counted from the failure.
            #expect(nextDue.timeIntervalSince(before) >= 7.4 && nextDue.timeIntervalSince(after) <= 10.1,
                    "next try \(nextDue.timeIntervalSince(before)) s after the pass started")
            // Not due again yet.
            #expect(await store.mirror(s3.mirrorConfig()).drain(now: Date()) == BlobMirrorService.PassResult())

            var forged = s3.mirrorConfig()
            forged.credentials.secretAccessKey = "wrong"
            #expect(await store.mirror(forged).drain(now: Date().addingTimeInterval(12)).failed == 1)
            item = try #require(try store.queue.all().first)
            #expect(item.attempts == 2)
            let lastError = try store.queue.lastError(cid.string)
            #expect(lastError?.contains("SignatureDoesNotMatch") == true, "\(lastError ?? "")")
            #expect(try s3.objects().isEmpty)

            // A corrupted local file is never uploaded.
            let path = store.files.path(for: cid)
            let good = try Data(contentsOf: URL(fileURLWithPath: path))
            try Data("corrupted".utf8).write(to: URL(fileURLWithPath: path))
            #expect(await store.mirror(s3.mirrorConfig()).drain(now: Date().addingTimeInterval(600)).failed == 1)
            #expect(try s3.objects().isEmpty)

            // Fixed: the row that survived all of it goes through.
            try good.write(to: URL(fileURLWithPath: path))
            #expect(await store.mirror(s3.mirrorConfig()).drain(now: Date().addingTimeInterval(3600)).uploaded == 1)
            #expect(try s3.objects()["blobs/\(cid.string)"] == Self.bytes(4))
            #expect(try store.queue.all().isEmpty)
        }
    }

    @Test func backoffDoublesUpToTheMaximum() {
        let backoff = BlobMirrorService.Backoff(base: 2, maximum: 900)
        #expect((1...6).map { backoff.delay(afterAttempts: $0) } == [2, 4, 8, 16, 32, 64])
        #expect(backoff.delay(afterAttempts: 10) == 900)
        #expect(backoff.delay(afterAttempts: 10_000) == 900)
    }

    @Test(.enabled(if: TestTools.hasVenv || SharedVectors.required, "needs moto from the Python tools venv (Tests/tools/venv)"))
    func restoreDownloadVerifiesEachBlobAgainstItsCID() async throws {
        try await S3TestServer.with { s3 in
            let directory = NSTemporaryDirectory() + "pds-restore-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try BlobStore(directory: directory + "/blobs")
            let client = S3Client(config: s3.mirrorConfig(), http: NIOHTTPClient())
            let good = Self.bytes(5, count: 70_000)
            let goodCID = CID.raw(hashing: good)
            let claimedCID = CID.raw(hashing: Self.bytes(6))
            try await client.putObject(key: "blobs/\(goodCID.string)", body: good)
            try await client.putObject(key: "blobs/\(claimedCID.string)", body: Self.bytes(7))

            #expect(try await Restore.download(cid: goodCID, key: "blobs/\(goodCID.string)", client: client, store: store) == 70_000)
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: store.path(for: goodCID)))) == good)
            #expect(try await Restore.download(cid: claimedCID, key: "blobs/\(claimedCID.string)", client: client, store: store) == nil)
            #expect(!store.contains(claimedCID))
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/blobs/tmp").isEmpty)
        }
    }

    @Test func restoreRefusesANonEmptyDirectoryAndCleansUpAfterFailure() async throws {
        let directory = NSTemporaryDirectory() + "pds-restore-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("precious".utf8).write(to: URL(fileURLWithPath: directory + "/pds.sqlite"))
        var lines: [String] = []
        let progress = RestoreProgress(isTerminal: false) { lines.append($0) }
        do {
            _ = try await Restore.run(Restore.Options(dataDirectory: directory, databaseSource: "file:///nonexistent",
                                                      litestream: "/bin/true"), progress: progress)
            Issue.record("restored into a non-empty directory")
        } catch let failure as Restore.Failure {
            #expect("\(failure)".contains("is not empty"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/pds.sqlite")) == Data("precious".utf8))

        // A failing litestream leaves the (empty) target empty again.
        try FileManager.default.removeItem(atPath: directory + "/pds.sqlite")
        do {
            _ = try await Restore.run(Restore.Options(dataDirectory: directory, databaseSource: "file:///nonexistent",
                                                      litestream: "/bin/false"), progress: progress)
            Issue.record("a failed litestream restore was reported as success")
        } catch let failure as Restore.Failure {
            #expect("\(failure)".contains("litestream restore failed"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func progressIsABarOnATerminalAndLinesOtherwise() {
        var bar: [String] = []
        let terminal = RestoreProgress(isTerminal: true) { bar.append($0) }
        terminal.startBlobs(count: 4, bytes: 4000)
        for _ in 0..<4 { terminal.blobDone(bytes: 1000) }
        terminal.finishBlobs()
        #expect(bar.contains { $0.hasPrefix("\r  blobs [##############################] 4/4  4.0 kB/4.0 kB  100%") })

        var plain: [String] = []
        let log = RestoreProgress(isTerminal: false) { plain.append($0) }
        log.startBlobs(count: 20, bytes: 20)
        for _ in 0..<20 { log.blobDone(bytes: 1) }
        #expect(!plain.contains { $0.contains("\r") })
        #expect(plain.filter { $0.hasPrefix("restore: blobs ") }.count == 11)  // 0 %, 10 %, …, 100 %
        #expect(plain.last == "restore: blobs 20/20 (100%), 20 B of 20 B\n")
    }
}
