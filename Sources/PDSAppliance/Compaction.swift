import Foundation
import PDSStore

/// `pds compact`: with the server stopped, sweeps blocks no commit reaches any more (databases
/// written before commits deleted what they replaced), prunes the event log to the retention
/// window, and rewrites the database into a fresh file (`VACUUM INTO`) that is checked and then
/// swapped in atomically (docs/ARCHITECTURE.md, "Blocks").
public enum Compaction {
    public struct Summary: Sendable {
        public var bytesBefore: Int64
        public var bytesAfter: Int64
        public var sweptBlocks: Int
        public var sweptBytes: Int64
        public var prunedEvents: Int
        public var inspection: DatabaseInspection
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The database file, its WAL and shared-memory file in `directory`.
    static func paths(_ directory: String) -> (database: String, wal: String, shm: String, compacted: String) {
        let database = (directory as NSString).appendingPathComponent(PDSDatabase.fileName)
        return (database, database + "-wal", database + "-shm", database + ".compact")
    }

    /// Bytes of the database file and its WAL.
    public static func size(_ directory: String) -> Int64 {
        let p = paths(directory)
        return [p.database, p.wal].reduce(Int64(0)) { total, path in
            total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0)
        }
    }

    /// Runs the compaction. `retention`: events older than this are pruned first (nil: kept).
    public static func run(dataDirectory: String, retention: Duration?, now: Date = Date(),
                           progress: (String) -> Void = { _ in }) async throws -> Summary {
        let p = paths(dataDirectory)
        guard FileManager.default.fileExists(atPath: p.database) else {
            throw Failure(description: "\(dataDirectory) holds no \(PDSDatabase.fileName)")
        }
        let lock: DataDirectoryLock
        do { lock = try DataDirectoryLock(directory: dataDirectory) } catch let held as DataDirectoryLock.Held {
            throw Failure(description: "\(held); stop the server first")
        }
        defer { withExtendedLifetime(lock) {} }
        let before = size(dataDirectory)

        let (swept, pruned, expected) = try await rewrite(dataDirectory: dataDirectory, into: p.compacted, retention: retention,
                                                    now: now, progress: progress)
        progress("checking \(p.compacted)")
        let inspection = try PDSDatabase.inspect(path: p.compacted)
        try check(inspection, against: expected, file: p.compacted)

        // The old file was checkpointed and closed: its WAL holds no frame. A WAL left beside the
        // new file would be replayed into it, so it goes first; then the rename, then the
        // directory's fsync makes the swap durable.
        for path in [p.wal, p.shm] where FileManager.default.fileExists(atPath: path) {
            let walBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
            if path == p.wal, walBytes > 0 {
                throw Failure(description: "\(p.wal) still holds \(walBytes) bytes after the checkpoint; nothing was changed")
            }
            try FileManager.default.removeItem(atPath: path)
        }
        guard rename(p.compacted, p.database) == 0 else {
            throw Failure(description: "cannot rename \(p.compacted) to \(p.database): \(String(cString: strerror(errno)))")
        }
        try PDSDatabase.fsync(path: dataDirectory)
        return Summary(bytesBefore: before, bytesAfter: size(dataDirectory), sweptBlocks: swept.blocks,
                       sweptBytes: swept.bytes, prunedEvents: pruned, inspection: inspection)
    }

    /// Sweeps, prunes and writes the compacted copy; returns what the copy must match.
    static func rewrite(dataDirectory: String, into compacted: String, retention: Duration?, now: Date,
                        progress: (String) -> Void) async throws -> ((blocks: Int, bytes: Int64), Int, DatabaseInspection) {
        let database = try PDSDatabase(directory: dataDirectory)
        let repository = RepositoryStore(database: database)
        progress("sweeping blocks the current commit does not reach")
        let keep = try repository.reachableBlockCIDs()
        let swept = keep.isEmpty ? (blocks: 0, bytes: Int64(0)) : try repository.sweepBlocks(keeping: keep)
        var pruned = 0
        if let retention {
            let (seconds, attoseconds) = retention.components
            let cutoff = now.addingTimeInterval(-(Double(seconds) + Double(attoseconds) / 1e18))
            progress("pruning events sequenced before \(cutoff)")
            // The server is stopped: no commit waits, so batches can be large and back to back.
            pruned = try await EventLogStore(database: database).prune(before: cutoff, batchSize: 2000, batchBudget: .seconds(1), pauses: false).removed
        }
        guard try database.checkpointTruncatingOffline() else {
            throw Failure(description: "the WAL could not be checkpointed: another process has the database open (stop Litestream too)")
        }
        try? FileManager.default.removeItem(atPath: compacted)
        progress("writing \(compacted)")
        try database.vacuum(into: compacted)
        let expected = try database.inspect()
        try database.close()
        return (swept, pruned, expected)
    }

    static func check(_ inspection: DatabaseInspection, against expected: DatabaseInspection, file: String) throws {
        var problems: [String] = []
        if inspection.integrity != "ok" { problems.append("integrity_check: \(inspection.integrity)") }
        if inspection.rootCID != expected.rootCID { problems.append("root \(inspection.rootCID ?? "-") != \(expected.rootCID ?? "-")") }
        if inspection.records != expected.records { problems.append("\(inspection.records) records != \(expected.records)") }
        if inspection.blocks != expected.blocks { problems.append("\(inspection.blocks) blocks != \(expected.blocks)") }
        if inspection.events != expected.events { problems.append("\(inspection.events) events != \(expected.events)") }
        if inspection.missingBlocks > 0 { problems.append("\(inspection.missingBlocks) reachable blocks missing") }
        guard problems.isEmpty else {
            try? FileManager.default.removeItem(atPath: file)
            throw Failure(description: "the compacted copy does not check out (\(problems.joined(separator: ", "))); the database was left as it was")
        }
    }
}
