import PDSCore
// `pds restore`: rebuilds a data directory from the backup (docs/BACKUP.md). Registered in
// PDSCommand's `subcommands:` list.
import ArgumentParser
import Foundation
import PDSBackup
import PDSServer

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Rebuild a data directory from the backup: the database with litestream, blobs from the S3 mirror.",
        discussion: """
            Stop the server and Litestream first. The target directory must be absent or empty.
            The blob mirror is read from the PDS_BLOB_MIRROR_S3_* keys of --config (environment
            variables override it). Example:

              pds restore --config /etc/pds/pds.conf --data /var/lib/pds.restored \\
                --litestream-config /etc/litestream.yml --replica /var/lib/pds/pds.sqlite \\
                --keys-from /root/pds-keys-backup
            """)

    @Option(name: .long, help: "The data directory to create (must be absent or empty).")
    var data: String

    @Option(name: .long, help: "pds.conf holding the PDS_BLOB_MIRROR_S3_* keys (environment variables override it).")
    var config: String?

    @Option(name: .long, help: "litestream.yml that names the database replica.")
    var litestreamConfig: String?

    @Option(name: .long, help: "The database path as written in litestream.yml, or a replica URL (s3://…, file://…). Default: <PDS_DATA_DIRECTORY>/pds.sqlite.")
    var replica: String?

    @Option(name: .long, help: "The litestream binary (path or name on PATH).")
    var litestream: String = "litestream"

    @Option(name: .long, help: "Restore the database to this point in time (RFC 3339, e.g. 2026-01-02T03:04:05Z).")
    var timestamp: String?

    @Option(name: .long, help: "Copy the key files (signing.age, rotation.age) from this directory into <data>/keys.")
    var keysFrom: String?

    @Flag(name: .long, help: "Restore only the database (no blob mirror configured).")
    var noBlobs = false

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        var values: [String: String] = [:]
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw CommandFailure("cannot read \(config)")
            }
            do { values = try PDSConfig.parse(text, source: config) } catch { throw CommandFailure("\(error)") }
        }
        for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("PDS_") { values[key] = value }

        let mirror: BlobMirrorConfig?
        do { mirror = try BlobMirrorConfig.load(from: values) } catch { throw CommandFailure("\(error)") }
        if mirror == nil, !noBlobs {
            throw CommandFailure("no blob mirror is configured (PDS_BLOB_MIRROR_S3_* in --config or the environment); pass --no-blobs to restore only the database")
        }
        let source = replica ?? ((values["PDS_DATA_DIRECTORY"] ?? "/var/lib/pds") + "/pds.sqlite")
        if litestreamConfig == nil, !source.contains("://") {
            throw CommandFailure("--replica \(source) is a database path: pass --litestream-config too (or give a replica URL)")
        }

        var options = Restore.Options(dataDirectory: data, databaseSource: source, litestreamConfig: litestreamConfig,
                                      litestream: litestream, mirror: noBlobs ? nil : mirror)
        options.timestamp = timestamp
        options.keysFrom = keysFrom
        let summary: Restore.Summary
        do {
            summary = try await Restore.run(options)
        } catch let failure as Restore.Failure {
            throw CommandFailure(failure.description)
        }

        print("""
            restored \(data)
              database: \(RestoreProgress.bytes(summary.databaseBytes)), repo \(summary.did ?? "(none)") root \(summary.rootCID ?? "-") rev \(summary.rev ?? "-")
              blobs:    \(summary.blobsRestored) files, \(RestoreProgress.bytes(summary.bytesRestored))\(summary.skippedObjects > 0 ? ", \(summary.skippedObjects) objects not in the database skipped" : "")
              keys:     \(keysFrom == nil ? "not copied (put signing.age and rotation.age into \(data)/keys before starting)" : "\(summary.keyFilesCopied) files")
            """)
        if !summary.missingBlobs.isEmpty {
            print("warning: \(summary.missingBlobs.count) blobs referenced by records are not in the mirror (first: \(summary.missingBlobs.prefix(5).joined(separator: ", ")))")
        }
        if !summary.corruptBlobs.isEmpty {
            print("error: \(summary.corruptBlobs.count) mirrored objects do not match their CID and were not restored: \(summary.corruptBlobs.prefix(5).joined(separator: ", "))")
            throw ExitCode(1)
        }
    }
}
