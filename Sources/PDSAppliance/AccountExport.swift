import ATCrypto
import ATData
import ATIdentity
import ATRepo
import Foundation
import PDSStore

/// `pds export`: the account's repository (`repo.car`, as `com.atproto.sync.getRepo` serves it)
/// and every blob its records keep (`blobs/<cid>`), written to a directory or a ustar file, then
/// read back and checked: every block's CID, the MST, the commit's DID and — where the database
/// holds the account's published key (did:plc) — its signature; every blob a record refers to is
/// present and hashes to its CID. What a later `pds export --verify` or an import elsewhere relies on.
///
/// It reads the database next to a running server (one read transaction for the repository walk:
/// a consistent snapshot), so the owner need not stop it.
public enum AccountExport {
    public enum Phase: String, Sendable { case repository, blobs, verify }

    /// `(phase, done, total)`: bytes for the repository (total 0: unknown), blobs otherwise.
    public typealias Progress = (_ phase: Phase, _ done: Int, _ total: Int) -> Void

    /// What an export holds.
    public struct Summary: Sendable, Equatable {
        public var did = ""
        public var rev = ""
        public var records = 0
        public var carBytes = 0
        public var blobs = 0
        public var blobBytes = 0
        /// False when no published key was found to check the commit's signature against.
        public var signatureChecked = false
    }

    static let carName = "repo.car"
    static let blobPrefix = "blobs/"

    /// Writes the export of `dataDirectory` to `destination` (a new or empty directory, or a
    /// path ending in `.tar`), then verifies what was written.
    public static func write(dataDirectory: String, to destination: String, progress: Progress = { _, _, _ in }) throws -> Summary {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/" + PDSDatabase.fileName) else {
            throw ExportError("\(dataDirectory) holds no initialised server (no \(PDSDatabase.fileName))")
        }
        let database = try PDSDatabase(directory: dataDirectory)
        let blobs = try RestoreInventory.read(databaseAt: dataDirectory + "/" + PDSDatabase.fileName).permanentBlobs.sorted()
        let files = try BlobStore(directory: dataDirectory + "/blobs")
        let sink = try ExportSink(destination)
        var done = false
        defer { if !done { sink.discard() } }
        let carPath = try sink.repositoryFile()
        try writeRepository(database: database, to: carPath, progress: progress)
        try sink.finishRepository(carPath)
        for (index, text) in blobs.enumerated() {
            let cid = try CID(string: text)
            let path = files.path(for: cid)
            guard FileManager.default.fileExists(atPath: path) else { throw ExportError("blob \(text) is missing from \(dataDirectory)/blobs") }
            try sink.addBlob(name: blobPrefix + text, from: path)
            progress(.blobs, index + 1, blobs.count)
        }
        try sink.finish()
        done = true
        return try verify(destination, keyFrom: AccountStore(database: database), progress: progress)
    }

    static func writeRepository(database: PDSDatabase, to path: String, progress: Progress) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ExportError("cannot create \(path)")
        }
        defer { try? handle.close() }
        var written = 0
        try withoutActuallyEscaping(progress) { progress in
            let exported = try RepositoryStore(database: database).exportRepository(chunkSize: 256 * 1024) { chunk in
                try handle.write(contentsOf: chunk)
                written += chunk.count
                progress(.repository, written, 0)
            }
            guard exported else { throw ExportError("the server holds no repository yet") }
        }
        try handle.synchronize()
    }
}
