import ArgumentParser
import Foundation
import PDSAppliance
import PDSCore

/// `pds compact`: rewrites the database offline (docs/ARCHITECTURE.md, "Blocks"). Registered in
/// PDSCommand's `subcommands:` list.
struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "With the server stopped: drop unreachable blocks and old events, rewrite pds.sqlite into a compact file.",
        discussion: """
            Stop the server and Litestream first (systemctl stop pds-litestream); compact refuses
            while the server runs. Blocks no commit reaches any more (left by versions before
            commits deleted them) are removed, events older than PDS_FIREHOSE_RETENTION_HOURS are
            pruned, then the database is copied with VACUUM INTO, checked (integrity, repository
            root, record, block and event counts, every reachable block present) and swapped in.
            """)

    @Option(help: "The configuration file (its PDS_DATA_DIRECTORY and PDS_FIREHOSE_RETENTION_HOURS are used).")
    var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory (instead of --config's; e.g. a `pds dev` directory). Events are then kept.")
    var data: String?

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let directory: String
        var retention: Duration?
        if let data {
            directory = data
        } else {
            do {
                let settings = try PDSConfig.load(path: config, environment: ProcessInfo.processInfo.environment)
                directory = settings.dataDirectory
                retention = settings.firehoseRetention
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        let summary: Compaction.Summary
        do {
            summary = try await Compaction.run(dataDirectory: directory, retention: retention) { step in
                print("  \(step)")
                fflush(nil)
            }
        } catch let failure as Compaction.Failure {
            throw CommandFailure(failure.description)
        }
        let inspection = summary.inspection
        print("""
            compacted \(directory)/pds.sqlite
              before:  \(Self.bytes(summary.bytesBefore)) (with the WAL)
              after:   \(Self.bytes(summary.bytesAfter))
              swept:   \(summary.sweptBlocks) unreachable blocks (\(Self.bytes(summary.sweptBytes)))\(retention == nil ? "" : ", \(summary.prunedEvents) events older than the retention window")
              checked: integrity ok, root \(inspection.rootCID ?? "-") rev \(inspection.rev ?? "-"), \(inspection.records) records, \(inspection.blocks) blocks, \(inspection.events) events
            Litestream: this is a new database file; the replica needs a new generation (a full
              snapshot of it). Before starting pds-litestream again, point litestream.yml at a new
              replica path and keep the old one until the new one has its snapshot: the old replica
              restores the database as it was before compaction.
            """)
    }

    static func bytes(_ count: Int64) -> String {
        count >= 1 << 20 ? String(format: "%.1f MB", Double(count) / 1_048_576) : "\(count) bytes"
    }
}
