import ArgumentParser
import Foundation
import PDSAppliance
import PDSStore

/// `pds export`: the repository CAR and every blob, to a directory or a `.tar`, checked after
/// writing; `--verify` checks an existing export.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the account's repository (repo.car) and blobs (blobs/<cid>) to a directory or a .tar, then verify it.",
        discussion: """
            The server may keep running: the repository is read in one consistent snapshot.
              pds export --config /etc/pds/pds.conf --to /root/alice-2026-12-07.tar
              pds export --verify /root/alice-2026-12-07.tar
            """)

    @Option(help: "The configuration file (its PDS_DATA_DIRECTORY is used).") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory (instead of --config's; e.g. a `pds dev` directory).") var data: String?
    @Option(name: .long, help: "A new or empty directory, or a file name ending in .tar.") var to: String?
    @Option(name: .long, help: "Check an existing export (directory or .tar) instead of writing one.") var verify: String?

    func run() async throws { try await reportingFailures { try execute() } }

    func execute() throws {
        let bar = ProgressLine()
        let summary: AccountExport.Summary
        do {
            if let verify {
                // With the server's data at hand (an initialised directory only: nothing is created),
                // the signature is checked too.
                let directory = data ?? (FileManager.default.fileExists(atPath: config) ? try? dataDirectory(config: config, data: nil) : nil)
                let accounts = directory.flatMap { path -> AccountStore? in
                    guard FileManager.default.fileExists(atPath: path + "/" + PDSDatabase.fileName) else { return nil }
                    return (try? PDSDatabase(directory: path)).map { AccountStore(database: $0) }
                }
                summary = try AccountExport.verify(verify, keyFrom: accounts, progress: bar.show)
            } else {
                guard let to else { throw CommandFailure("say where to write the export: --to DIRECTORY or --to FILE.tar") }
                summary = try AccountExport.write(dataDirectory: try dataDirectory(config: config, data: data), to: to, progress: bar.show)
            }
        } catch let error as ExportError {
            bar.clear()
            throw CommandFailure(error.description)
        }
        bar.clear()
        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        print("""
            \(verify == nil ? "exported" : "verified") \(summary.did) at rev \(summary.rev)
              repository: \(summary.records) records, \(mib(summary.carBytes)) (\(summary.signatureChecked ? "every block, the MST and the commit signature checked" : "every block and the MST checked; no published key found to check the signature"))
              blobs:      \(summary.blobs), \(mib(summary.blobBytes)) (each hashed; every blob a record refers to is present)
            """)
    }
}

/// One line on standard error, redrawn in place when it is a terminal (silent otherwise).
final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var last = Date.distantPast

    func show(_ phase: AccountExport.Phase, _ done: Int, _ total: Int) {
        guard isTerminal, Date().timeIntervalSince(last) > 0.1 || done == total else { return }
        last = Date()
        let text: String
        if total > 0 {
            let filled = done * 30 / total
            text = "\(phase.rawValue) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: 30 - filled))] \(done)/\(total)"
        } else {
            text = phase == .repository ? "\(phase.rawValue) \(done / 1024) KiB" : "\(phase.rawValue) \(done)"
        }
        try? FileHandle.standardError.write(contentsOf: Data(("\r\u{1B}[K" + text).utf8))
    }

    func clear() {
        if isTerminal { try? FileHandle.standardError.write(contentsOf: Data("\r\u{1B}[K".utf8)) }
    }
}
