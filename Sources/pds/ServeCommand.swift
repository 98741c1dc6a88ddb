import ArgumentParser
import Foundation
import Logging
import PDSAppliance
import PDSCore
import PDSServer

/// `pds serve --config FILE`: production. Refuses to start half-configured: a bad config, a
/// missing, plaintext or group-readable key file, or keys that do not open each stop it with one
/// clear line and a non-zero exit.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the server.")

    @Option(help: "The configuration file.") var config: String = "/etc/pds/pds.conf"

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let environment = ProcessInfo.processInfo.environment
        let settings: PDSConfig
        do { settings = try PDSConfig.load(path: config, environment: environment) } catch {
            throw CommandFailure("\(error)")
        }
        JSONLogHandler.bootstrap(format: settings.logFormat, level: settings.logLevel)
        let logger = Logger(label: "pds")
        let state: PDSServices
        do {
            let keys = try ServerKeys.unlock(config: settings, environment: environment)
            state = try await Self.finishingKeyRotation(try PDSServices.open(config: settings, keys: keys, logger: logger))
            // A server prepared by `pds init --no-account` runs without one, waiting for a move
            // here; an empty data directory is a mistake.
            guard try state.accounts.account() != nil || FileManager.default.fileExists(atPath: settings.dataDirectory + "/keys/signing.age") else {
                throw CommandFailure("\(settings.dataDirectory) holds no account: run `pds init` first")
            }
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure("\(error)")
        }
        logger.info("starting", metadata: ["hostname": "\(settings.hostname)", "port": "\(settings.port)", "tls": "\(settings.tlsMode.rawValue)"])
        try await PDSServing.run(state: state, logger: logger)
    }

    /// A `pds key rotate` whose switch waits: finished here if the DID document shows the new key,
    /// else the old key keeps signing and the server's `KeyRotationWatcher` keeps checking.
    static func finishingKeyRotation(_ state: PDSServices) async throws -> PDSServices {
        await KeyRotation.finishPending(state: state)
        return state
    }
}

/// `pds key import`: installs a key file made elsewhere (e.g. with the `age` CLI).
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Manage the key files.", subcommands: [KeyImportCommand.self, KeyRotateCommand.self])
}

struct KeyImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Install an age-encrypted key file (plaintext: the private key in hex; `p256:` prefix for P-256).")

    @Option(help: "The configuration file.") var config: String = "/etc/pds/pds.conf"
    @Option(help: "Which key: signing or rotation.") var kind: String
    @Argument(help: "The age-encrypted key file, e.g. made with: echo <hex> | age -r <recipient> > key.age") var file: String

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        do {
            let settings = try PDSConfig.load(path: config, environment: ProcessInfo.processInfo.environment)
            let didKey = try ServerKeys.importKeyFile(file, kind: kind, config: settings, environment: ProcessInfo.processInfo.environment)
            print("installed the \(kind) key \(didKey); if the account already exists, its DID document must list it (see getRecommendedDidCredentials)")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// `pds doctor`: checks the installation and prints a fix for each problem.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Check config, keys, DNS, TLS, identity and relays.")

    @Option(help: "The configuration file.") var config: String = "/etc/pds/pds.conf"

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let findings = await Doctor.run(configPath: config, environment: ProcessInfo.processInfo.environment) { finding in
            print("\(finding.ok ? "ok  " : "FAIL") \(finding.check): \(finding.detail)")
            if let fix = finding.fix { print("     fix: \(fix)") }
        }
        let failures = findings.filter { !$0.ok }.count
        print(failures == 0 ? "all \(findings.count) checks passed" : "\(failures) of \(findings.count) checks failed")
        if failures > 0 { throw ExitCode(1) }
    }
}
