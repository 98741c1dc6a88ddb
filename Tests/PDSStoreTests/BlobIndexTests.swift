import ATData
import Foundation
import GRDB
@testable import PDSStore
import Testing

/// The `blob` table: temporary uploads, becoming permanent, and the sweep of old unreferenced ones.
@Suite struct BlobIndexTests {
    struct Fixture {
        let directory: String
        let database: PDSDatabase
        let files: BlobStore
        let index: BlobIndex

        init() throws {
            directory = PDSDatabaseTests.temporaryDirectory()
            database = try PDSDatabase(directory: directory)
            files = try BlobStore(directory: directory + "/blobs")
            index = BlobIndex(database: database, files: files)
        }

        func store(_ text: String, at date: Date, declaredType: String? = "text/plain") throws -> StoredBlob {
            let upload = try files.beginUpload(limit: 1 << 20)
            try upload.write(Array(text.utf8))
            return try index.store(upload, declaredType: declaredType, now: date)
        }

        /// What `RepositoryStore.apply` does when a record embeds the blob.
        func reference(_ cid: CID, rkey: String, clearTemporaryKey: Bool = true) throws {
            try database.pool.write { db in
                try db.execute(sql: "INSERT INTO record_blob (blob_cid, collection, rkey) VALUES (?, 'app.bsky.feed.post', ?)",
                               arguments: [cid.string, rkey])
                if clearTemporaryKey {
                    try db.execute(sql: "UPDATE blob SET temp_key = NULL WHERE cid = ?", arguments: [cid.string])
                }
            }
        }
    }

    static let now = Date(timeIntervalSince1970: 1_750_000_000)

    @Test func sweepDeletesOnlyOldUnreferencedTemporaryBlobs() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let twoHoursAgo = Self.now.addingTimeInterval(-7200)
        let oldUnreferenced = try fixture.store("old and forgotten", at: twoHoursAgo)
        let oldReferenced = try fixture.store("old but used", at: twoHoursAgo)
        let oldReferencedStillKeyed = try fixture.store("old, referenced, key not yet cleared", at: twoHoursAgo)
        let recent = try fixture.store("just uploaded", at: Self.now.addingTimeInterval(-600))
        try fixture.reference(oldReferenced.cid, rkey: "a")
        try fixture.reference(oldReferencedStillKeyed.cid, rkey: "b", clearTemporaryKey: false)
        #expect(oldUnreferenced.isTemporary && recent.isTemporary)

        let deleted = try fixture.index.sweepTemporaryBlobs(olderThan: Self.now.addingTimeInterval(-3600))
        #expect(deleted == [oldUnreferenced.cid])
        #expect(try fixture.index.blob(oldUnreferenced.cid) == nil)
        #expect(!fixture.files.contains(oldUnreferenced.cid))
        for kept in [oldReferenced, oldReferencedStillKeyed, recent] {
            #expect(try fixture.index.blob(kept.cid) != nil)
            #expect(fixture.files.contains(kept.cid))
        }
        // Nothing more to do on a second pass at the same time.
        #expect(try fixture.index.sweepTemporaryBlobs(olderThan: Self.now.addingTimeInterval(-3600)).isEmpty)
    }

    @Test func reuploadRefreshesATemporaryBlobAndKeepsAPermanentOne() throws {
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let old = Self.now.addingTimeInterval(-7200)
        let first = try fixture.store("uploaded twice", at: old)
        // The second upload restarts the grace period, so the sweep keeps it.
        let second = try fixture.store("uploaded twice", at: Self.now)
        #expect(second.cid == first.cid && second.isTemporary)
        #expect(try fixture.index.sweepTemporaryBlobs(olderThan: Self.now.addingTimeInterval(-3600)).isEmpty)

        // Once referenced it stays permanent, with its stored type, whatever a re-upload declares.
        try fixture.reference(first.cid, rkey: "a")
        let third = try fixture.store("uploaded twice", at: Self.now, declaredType: "application/x-other")
        #expect(third == StoredBlob(cid: first.cid, mimeType: "text/plain", size: first.size, isTemporary: false))
    }

    @Test func uploadOfAnAlreadyReferencedCIDIsPermanentAtOnce() throws {
        // A migration imports the repo first (record_blob rows, no blob rows), then uploads.
        let fixture = try Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let cid = CID.raw(hashing: Array("migrated".utf8))
        try fixture.reference(cid, rkey: "a")
        let stored = try fixture.store("migrated", at: Self.now.addingTimeInterval(-7200))
        #expect(stored.cid == cid && !stored.isTemporary)
        #expect(try fixture.index.sweepTemporaryBlobs(olderThan: Self.now).isEmpty)
        #expect(fixture.files.contains(cid))
    }
}
