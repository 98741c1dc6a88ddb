import ArgumentParser
import Foundation
import PDSAppliance

extension AccountTokens.Purpose: ExpressibleByArgument {}

/// `pds account token <invite|delete-account|reset-password>`: prints a one-time token the
/// reference server would e-mail (for a box without SMTP; its owner reads it here).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a one-time token: an invite for createAccount (a move here), or for deleteAccount, resetPassword, confirmEmail, updateEmail, signPlcOperation or an e-mail sign-in code.")

    @Argument(help: "invite | delete-account | reset-password | confirm-email | update-email | plc-operation | sign-in")
    var purpose: AccountTokens.Purpose
    @Option(help: "The configuration file (its PDS_DATA_DIRECTORY is used).") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory (instead of --config's; e.g. a `pds dev` directory).") var data: String?

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let directory = try dataDirectory(config: config, data: data)
        do {
            print(try AccountTokens.issue(purpose, dataDirectory: directory))
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
