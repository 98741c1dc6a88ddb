import ArgumentParser
import Foundation
import Logging
import PDSAppliance
import PDSCore
import PDSServer

/// `pds key rotate`: a new repository signing key, published in the DID document with a PLC
/// operation signed by the rotation key; the old key is kept and stays in use until the
/// directory shows the new one (`KeyRotation`). Needs the server stopped.
struct KeyRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace the signing key (new age key file, PLC operation, #identity). Stop the server first.")

    @Option(help: "The configuration file.") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory (instead of --config's; a `pds dev` directory).") var data: String?
    @Option(name: .long, help: "Seconds to wait for the PLC directory to show the new key.") var wait: Int = 60

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let settings = try loadConfiguration(config: config, data: data)
        let directory = settings.dataDirectory
        guard FileManager.default.fileExists(atPath: directory + "/pds.sqlite") else {
            throw CommandFailure("\(directory) holds no initialised server: run `pds init`, or pass the server's --config (or --data)")
        }
        let lock: DataDirectoryLock
        do { lock = try DataDirectoryLock(directory: directory) } catch {
            throw CommandFailure("the server is running on \(directory): stop it first (systemctl stop pds); the old key signs until it restarts")
        }
        defer { withExtendedLifetime(lock) {} }
        let outcome: KeyRotation.Outcome
        do {
            let identities = data != nil
                ? [try DevBootstrap.identity(dataDirectory: directory)]
                : try KeyUnlock.identities(config: settings, environment: ProcessInfo.processInfo.environment)
            let keys = try KeyFiles(dataDirectory: directory).load(identities: identities)
            guard keys.rotationKey != nil else {
                throw CommandFailure("this server holds no PLC rotation key (a did:web account): its signing key is changed with `pds key import`")
            }
            var logger = Logger(label: "pds")
            logger.logLevel = .warning
            let state = try PDSServices.open(config: settings, keys: keys, logger: logger)
            outcome = try await KeyRotation.rotate(state: state, identities: identities, wait: .seconds(max(wait, 0)))
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
        if outcome.switched {
            print("signing key rotated to \(outcome.newKey); the old key is kept in \(outcome.retiredPath ?? "keys/")")
        } else {
            print("published \(outcome.newKey), but the PLC directory does not show it yet: the old key stays in use; "
                  + "once started, the server switches by itself when the directory shows it")
        }
    }
}
