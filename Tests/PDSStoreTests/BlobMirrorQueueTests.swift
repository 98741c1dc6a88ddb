import ATData
import Foundation
import GRDB
@testable import PDSStore
import Testing

/// `blob_mirror_queue`: filled by triggers when blobs become permanent or are deleted, settled by
/// version so a finished old operation never removes a newer one.
@Suite struct BlobMirrorQueueTests {
    struct Fixture {
        let directory: String
        let database: PDSDatabase
        let files: BlobStore
        let index: BlobIndex
        let queue: BlobMirrorQueue

        init() throws {
            directory = PDSDatabaseTests.temporaryDirectory()
            database = try PDSDatabase(directory: directory)
            files = try BlobStore(directory: directory + "/blobs")
            index = BlobIndex(database: database, files: files)
            queue = BlobMirrorQueue(database: database)
        }

        func store(_ text: String) throws -> StoredBlob {
            let upload = try files.beginUpload(limit: 1 << 20)
            try upload.write(Array(text.utf8))
            return try index.store(upload, declaredType: "text/plain")
        }

        /// What `RepositoryStore.apply` does when a record embeds the blob.
        func reference(_ cid: CID, rkey: String) throws {
            try database.pool.write { db in
                try db.execute(sql: "INSERT INTO record_blob (blob_cid, collection, rkey) VALUES (?, 'app.bsky.feed.post', ?)",
                               arguments: [cid.string, rkey])
                try db.execute(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ?", arguments: [cid.string])
            }
        }

        /// What `RepositoryStore.apply` does when the last reference goes.
        func unreference(_ cid: CID) throws {
            try database.pool.write { db in
                try db.execute(sql: "DELETE FROM record_blob WHERE blob_cid = ?", arguments: [cid.string])
                try db.execute(sql: "DELETE FROM blob WHERE cid = ?", arguments: [cid.string])
            }
        }
    }

    static let later = Date().addingTimeInterval(60)

    @Test func onlyPermanentBlobsAreQueuedInTheirOwnTransaction() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let blob = try fixture.store("a photo")
        #expect(blob.isTemporary)
        #expect(try fixture.queue.all().isEmpty)

        // A rolled-back reference queues nothing: the row is part of the same transaction.
        try? fixture.database.pool.write { db in
            try db.execute(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ?", arguments: [blob.cid.string])
            throw CancellationError()
        }
        #expect(try fixture.queue.all().isEmpty)

        try fixture.reference(blob.cid, rkey: "a")
        let items = try fixture.queue.all()
        #expect(items.map(\.cid) == [blob.cid.string])
        #expect(items.first?.operation == .put)
        #expect(items.first?.attempts == 0)
        // A second reference to an already permanent blob does not enqueue it again.
        try fixture.reference(blob.cid, rkey: "b")
        #expect(try fixture.queue.all() == items)

        // The sweeper deleting a temporary blob queues no delete.
        let temporary = try fixture.store("never referenced")
        try fixture.database.pool.write { db in
            try db.execute(sql: "DELETE FROM blob WHERE cid = ?", arguments: [temporary.cid.string])
        }
        #expect(try fixture.queue.all().map(\.cid) == [blob.cid.string])
    }

    @Test func uploadingBytesAlreadyReferencedIsPermanentAtOnce() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        // A record references the CID before the blob arrives (migration: importRepo first).
        let cid = CID.raw(hashing: Array("imported".utf8))
        try fixture.database.pool.write { db in
            try db.execute(sql: "INSERT INTO record_blob (blob_cid, collection, rkey) VALUES (?, 'app.bsky.feed.post', 'x')",
                           arguments: [cid.string])
        }
        let stored = try fixture.store("imported")
        #expect(stored.cid == cid && !stored.isTemporary)
        #expect(try fixture.queue.all().map(\.operation) == [.put])
    }

    @Test func completingAnOlderVersionLeavesTheNewerOperation() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let blob = try fixture.store("x")
        try fixture.reference(blob.cid, rkey: "a")
        let put = try #require(try fixture.queue.due(now: Self.later, deleteDelay: 0).first)

        // While the upload is in flight the record is deleted: the row becomes a delete.
        try fixture.unreference(blob.cid)
        #expect(try fixture.queue.complete(put) == false)
        let delete = try #require(try fixture.queue.all().first)
        #expect(delete.operation == .delete)
        #expect(delete.version == put.version + 1)

        #expect(try fixture.queue.complete(delete) == true)
        #expect(try fixture.queue.all().isEmpty)
    }

    @Test func failuresAreRescheduledAndDeletesWaitTheirDelay() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let kept = try fixture.store("kept")
        try fixture.reference(kept.cid, rkey: "a")
        let item = try #require(try fixture.queue.due(now: Date(), deleteDelay: 3600).first)

        try fixture.queue.fail(item, error: "HTTP 503 SlowDown", retryAt: Date().addingTimeInterval(30))
        #expect(try fixture.queue.due(now: Date(), deleteDelay: 3600).isEmpty)
        let retried = try #require(try fixture.queue.due(now: Date().addingTimeInterval(31), deleteDelay: 3600).first)
        #expect(retried.attempts == 1 && retried.version == item.version)
        #expect(try fixture.queue.count().failing == 1)
        let stored = try fixture.database.pool.read { db in
            try String.fetchOne(db, sql: "SELECT last_error FROM blob_mirror_queue")
        }
        #expect(stored == "HTTP 503 SlowDown")

        let gone = try fixture.store("gone")
        try fixture.reference(gone.cid, rkey: "b")
        try fixture.unreference(gone.cid)
        let now = Date()
        // Due uploads only: the delete waits an hour.
        #expect(try fixture.queue.due(now: now.addingTimeInterval(31), deleteDelay: 3600).map(\.cid) == [kept.cid.string])
        #expect(try fixture.queue.due(now: now.addingTimeInterval(3601), deleteDelay: 3600).map(\.cid).contains(gone.cid.string))
        let next = try #require(try fixture.queue.nextDueDate(deleteDelay: 3600))
        #expect(next.timeIntervalSince(now) > 20 && next.timeIntervalSince(now) < 40)
    }

    @Test func migrationQueuesBlobsThatWerePermanentBefore() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try PDSDatabaseTests.makeDatabase(in: directory, upTo: "v2-email-tokens") { db in
            try db.execute(sql: "INSERT INTO blob VALUES ('bpermanent', 'image/png', 1, NULL, '2026')")
            try db.execute(sql: "INSERT INTO blob VALUES ('btemporary', 'image/png', 1, 'key', '2026')")
        }
        let database = try PDSDatabase(directory: directory)
        #expect(try database.appliedMigrations().contains("v3-blob-mirror"))
        #expect(try BlobMirrorQueue(database: database).all().map(\.cid) == ["bpermanent"])
        #expect(try BlobMirrorQueue(database: database).enqueueAllPermanent() == 1)
        #expect(try BlobMirrorQueue(database: database).all().first?.version == 2)
    }
}

/// The blob mirror's last successful upload, for `pds status` and the dashboard (dashboard-v1).
@Suite struct BlobMirrorStateTests {
    @Test func uploadsAreCountedWithTheLastOnesTime() throws {
        let database = try PDSDatabase(directory: PDSDatabaseTests.temporaryDirectory())
        let queue = BlobMirrorQueue(database: database)
        #expect(try database.storageReport().mirrorLastUploadAt == nil)
        #expect(try database.storageReport().mirrorUploads == 0)
        try queue.recordUpload(at: Date(timeIntervalSince1970: 1_000))
        try queue.recordUpload(at: Date(timeIntervalSince1970: 2_000))
        let report = try database.storageReport()
        #expect(report.mirrorLastUploadAt == 2_000_000)
        #expect(report.mirrorUploads == 2)
    }
}
