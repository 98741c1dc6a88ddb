import ArgumentParser
import Foundation
import PDSAppliance
import PDSCore

/// `pds status`: the server's state at a glance, in a terminal. Exits 1 when something needs the
/// owner's attention (each such line starts with `!` and says what to do), so it suits a cron job
/// or a monitoring check.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the server's state: account, identity, storage, backup, TLS. Exit 1 when something needs attention.")

    @Option(help: "The configuration file.") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory (instead of --config's; e.g. a `pds dev` directory).") var data: String?
    @Flag(name: .long, help: "Skip the checks that go over the network (handle, DID document).") var offline = false

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let loaded = try loadConfiguration(config: config, data: data)
        let status: ServerStatus
        do {
            status = try await ServerStatus.gather(config: loaded, http: offline ? nil : loaded.outbound.makeClient())
        } catch let refused as AccountTokens.Refused {
            throw CommandFailure(refused.description)
        }
        let width = (status.lines.map(\.topic.count).max() ?? 0) + 2
        for line in status.lines {
            let topic = line.topic.padding(toLength: width, withPad: " ", startingAt: 0)
            print("\(line.attention == nil ? " " : "!") \(topic)\(line.text)")
            if let attention = line.attention { print("  \(String(repeating: " ", count: width))→ \(attention)") }
        }
        if status.needsAttention { throw ExitCode(1) }
    }
}
