import PDSCore
// pds: the appliance's command line. Thin: parses arguments, loads configuration, and hands off
// to PDSAppliance (and through it PDSServer). Exits non-zero with one clear line on bad configuration.
import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PDSAppliance
import PDSServer

@main
enum PDSMain {
    static func main() async {
        // Swift concurrency's jobs run on NIO's event loops instead of a separate thread pool, so a
        // request no longer hops between an I/O thread and a cooperative-pool thread and back
        // (the largest cost of a request was those thread switches). Must happen once, from the
        // main thread, before anything is scheduled: the first thing `main` does.
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        // Large buffers (scrypt's 16 MiB per login) go back to the system when freed.
        MemoryPolicy.apply()
        // A write to a pipe whose reader is gone (a log shipper that died, `pds … | head`) fails
        // with EPIPE, which the writer handles, instead of killing the server. NIO's own sockets
        // never raise the signal (MSG_NOSIGNAL); standard error and child pipes would.
        signal(SIGPIPE, SIG_IGN)
        await PDSCommand.main()
    }
}

struct PDSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pds",
        abstract: "A personal AT Protocol server (PDS) for one account.",
        subcommands: [InitCommand.self, ServeCommand.self, DevCommand.self, MigrateCommand.self, AccountCommand.self,
                      AppPasswordCommand.self, KeyCommand.self, ExportCommand.self, StatusCommand.self,
                      DoctorCommand.self, RestoreCommand.self, CompactCommand.self])
}

/// `pds dev`: a complete local server on loopback, plain HTTP, unpublished identity.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev", abstract: "Run a local development server (HTTP on 127.0.0.1, account created on first start).")

    @Option(name: .long, help: "Data directory.") var data: String = "./data/dev"
    @Option(name: .long, help: "Port to listen on.") var port: Int = 2583
    @Option(name: .long, help: "Handle for the account created on first start.") var handle: String = "alice.test"
    @Option(name: .long, help: "Password for the account created on first start (default: generated).") var password: String?
    @Flag(name: .long, help: "Create the account as did:web:<host> (served by this server) instead of did:plc.") var didWeb = false
    @Flag(name: .long, help: "Start without an account, ready to receive one moving here (see `pds account token invite`).") var noAccount = false

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["PDS_DATA_DIRECTORY"] = environment["PDS_DATA_DIRECTORY"] ?? data
        environment["PDS_PORT"] = String(port)
        let config: PDSConfig
        do {
            config = try PDSConfig.load(file: [:], environment: environment, isDevelopment: true)
        } catch {
            throw CommandFailure("\(error)")
        }
        // As `pds serve`: PDS_LOG_FORMAT (default JSON unless standard error is a terminal), PDS_LOG_LEVEL.
        JSONLogHandler.bootstrap(format: config.logFormat, level: config.logLevel)
        let logger = Logger(label: "pds")
        let keys = try DevBootstrap.loadKeys(dataDirectory: config.dataDirectory)
        let state = try await ServeCommand.finishingKeyRotation(try PDSServices.open(config: config, keys: keys, logger: logger))
        if noAccount, try state.accounts.account() == nil {
            try await PDSServing.run(state: state, logger: logger) { _ in
                print("""
                    pds dev is running without an account (ready to receive one moving here)
                      URL:      \(config.publicURL)
                      data:     \(config.dataDirectory)
                    """)
                fflush(nil)
            }
            return
        }
        let summary = try await DevBootstrap.ensureAccount(state: state, handle: handle, password: password, didWeb: didWeb)
        let banner = """
            pds dev is running (development mode: plain HTTP, identity not published)
              URL:      \(config.publicURL)
              handle:   \(summary.handle)
              DID:      \(summary.did)
              password: \(summary.password ?? "(unchanged; pass --password to reset it)")
              data:     \(config.dataDirectory)
            """
        // Said only once the port is bound: a failed bind ends with its own error, no banner.
        try await PDSServing.run(state: state, logger: logger) { _ in
            print(banner)
            fflush(nil)  // stdout is block-buffered when piped; show the summary now
        }
    }
}

/// `pds account …`: operations on the hosted account that need the box itself.
struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account", abstract: "Manage the hosted account.", subcommands: [PLCTokenCommand.self, TokenCommand.self, UnlockLoginsCommand.self, PasswordCommand.self,
                                                                                        DeactivateCommand.self, ActivateCommand.self, DeleteCommand.self])
}

/// `pds account plc-token`: issues the one-time token `signPlcOperation` asks for (the reference
/// e-mails it; a single-user box shows it to its owner instead).
struct PLCTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plc-token", abstract: "Print a fresh token for com.atproto.identity.signPlcOperation (valid 15 minutes).")

    @OptionGroup var location: DataLocation

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let directory = try location.directory()
        do {
            print(try AccountTokens.issuePLCToken(dataDirectory: directory))
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// `pds account unlock-logins`: lifts the lock that too many failed logins put on createSession
/// (`PDS_LOGIN_FAILURE_LIMIT`). Whoever is on the box is the owner; the count starts again at 0.
struct UnlockLoginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock-logins", abstract: "Reset the failed-login count, so createSession accepts the password again.")

    @OptionGroup var location: DataLocation

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let directory = try location.directory()
        do {
            let failures = try AccountTokens.unlockLogins(dataDirectory: directory)
            print(failures == 0 ? "logins were not locked (no failed attempts counted)"
                                : "unlocked: forgot \(failures) failed login\(failures == 1 ? "" : "s")")
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// The server's configuration: from `config`, or — with `--data`, a `pds dev` directory — the
/// development defaults `pds dev` runs with. One clear line when it is invalid.
func loadConfiguration(config: String, data: String?) throws -> PDSConfig {
    var environment = ProcessInfo.processInfo.environment
    do {
        guard let data else { return try PDSConfig.load(path: config, environment: environment) }
        environment["PDS_DATA_DIRECTORY"] = data
        return try PDSConfig.load(file: [:], environment: environment, isDevelopment: true)
    } catch {
        throw CommandFailure("\(error)")
    }
}

/// `--config` or `--data`: where a command finds the server's data directory.
struct DataLocation: ParsableArguments {
    @Option(help: "The configuration file (its PDS_DATA_DIRECTORY is used).") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory (instead of --config's; e.g. a `pds dev` directory).") var data: String?

    func directory() throws -> String { try dataDirectory(config: config, data: data) }
}

/// `--data`, else the data directory of the configuration file `config`.
func dataDirectory(config: String, data: String?) throws -> String {
    if let data { return data }
    do {
        return try PDSConfig.load(path: config, environment: ProcessInfo.processInfo.environment).dataDirectory
    } catch {
        throw CommandFailure("\(error)")
    }
}
