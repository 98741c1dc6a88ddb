import ArgumentParser
import Foundation
import Logging
import PDSAppliance
import PDSCore
import PDSServer

/// `pds migrate`: moves an existing account (e.g. from bsky.social) to this server, resumably.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move an existing account here from its current PDS (run it again to resume after any interruption).")

    @Option(help: "The account to move: its handle or DID.") var old: String?
    @Option(help: "The old account's password (prefer the prompt).") var oldPassword: String?
    @Option(help: "Read the old account's password from this file instead.") var oldPasswordFile: String?
    @Option(help: "Password on this server (default: the old one).") var newPassword: String?
    @Option(help: "The sign-in code the old server e-mailed (when it asks for one).") var authFactorToken: String?
    @Option(help: "The PLC confirmation token the old server e-mailed.") var plcToken: String?
    @Option(help: "The old server's URL (default: from the DID document).") var oldPds: String?
    @Flag(help: "Check everything up to the PLC step; change nothing.") var dryRun = false
    @Option(help: "The configuration file (data directory and public URL).") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory of a `pds dev` server (instead of --config; needs --server).") var data: String?
    @Option(help: "This server's URL (default: its public URL from the configuration).") var server: String?

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let settings = try loadConfiguration(config: config, data: data)
        JSONLogHandler.bootstrap(format: "text", level: "warning")
        let saved = try? MigrateState.load(dataDirectory: settings.dataDirectory)
        let identifier = try old ?? saved.map { $0.did } ?? ask("Handle (or DID) of the account to move: ", flag: "--old")
        let password = try oldPassword ?? oldPasswordFile.map(readFirstLine) ?? secret("Password on the old server: ", flag: "--old-password")
        var options = Migrate.Options(identifier: identifier, oldPassword: password, dataDirectory: settings.dataDirectory,
                                      serverURL: server ?? settings.publicURL)
        options.newPassword = newPassword
        options.authFactorToken = authFactorToken
        options.plcToken = plcToken
        options.oldPDS = oldPds
        options.dryRun = dryRun
        let logger = Logger(label: "pds")
        let http = settings.outbound.makeClient()
        let remote = http.guarded(by: settings.outbound.makeGuard(logger: logger))
        let directory = PDSServices.networkIdentityDirectory(config: settings, http: http, logger: logger)
        var state: MigrateState?
        while state == nil {
            let migrate = Migrate(options: options, http: http, remoteHTTP: remote, directory: directory) { line in
                print(line)
                fflush(nil)
            }
            do {
                state = try await migrate.run()
            } catch let pause as Migrate.Pause {
                // On a terminal the code or token is asked for and the move goes on; otherwise the
                // next run with the flag continues where this one stopped.
                guard Terminal.isInteractive else { throw CommandFailure("paused: \(pause)") }
                switch pause {
                case .needsAuthFactorToken: options.authFactorToken = try ask("Sign-in code from the old server's e-mail: ", flag: "--auth-factor-token")
                case .needsPLCToken: options.plcToken = try ask("PLC token from the old server's e-mail: ", flag: "--plc-token")
                }
            } catch {
                throw CommandFailure("\(error) (run the same command again to continue)")
            }
        }
        guard let state else { return }
        print(dryRun ? "Dry run complete: nothing was changed." : """
            Moved \(state.did)\(state.handle.isEmpty ? "" : " (\(state.handle))") here.
              records: \(state.records)
              blobs:   \(state.blobs) (\(state.blobBytes) bytes)
              bytes:   \(state.repoBytes + state.blobBytes) in all
            """)
    }

    func ask(_ prompt: String, flag: String) throws -> String {
        guard Terminal.isInteractive, let answer = Terminal.readLine(prompt: prompt), !answer.isEmpty else {
            throw CommandFailure("\(flag) is required (not on a terminal, so it cannot be asked)")
        }
        return answer
    }

    func secret(_ prompt: String, flag: String) throws -> String {
        guard let answer = try Terminal.readSecret(prompt: prompt), !answer.isEmpty else {
            throw CommandFailure("\(flag) is required (not on a terminal, so it cannot be asked)")
        }
        return answer
    }

    func readFirstLine(_ path: String) throws -> String {
        let text = try KeyUnlock.readSecretFile(path)
        return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
    }
}
