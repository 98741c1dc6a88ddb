import ArgumentParser
import Foundation
import PDSAppliance
import PDSCore
import PDSServer

/// Options shared by the life-cycle commands: the configuration, or a `pds dev` directory.
struct ServerLocation: ParsableArguments {
    @Option(help: "The configuration file.") var config: String = "/etc/pds/pds.conf"
    @Option(name: .long, help: "Data directory of a `pds dev` server (instead of --config).") var data: String?
    @Option(name: .long, help: "With --data: the `pds dev` server's port (part of its URL in the DID document).") var port: Int?

    func load() throws -> (PDSConfig, AccountLifecycleCommands.Keys) {
        var environment = ProcessInfo.processInfo.environment
        do {
            if let data {
                environment["PDS_DATA_DIRECTORY"] = data
                if let port { environment["PDS_PORT"] = String(port) }
                return (try PDSConfig.load(file: [:], environment: environment, isDevelopment: true), .development)
            }
            return (try PDSConfig.load(path: config, environment: environment), .configured(environment))
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

/// `pds account password`: a new password; every session is signed out.
struct PasswordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "password", abstract: "Set a new account password (signs every session out).")
    @OptionGroup var location: ServerLocation
    @Option(help: "Read the new password from this file (default: asked twice on the terminal).") var passwordFile: String?

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let (config, _) = try location.load()
        let password: String
        if let passwordFile {
            password = try KeyUnlock.readSecretFile(passwordFile).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        } else {
            guard let first = try Terminal.readSecret(prompt: "New password: "), !first.isEmpty else {
                throw CommandFailure("--password-file is required (not on a terminal, so it cannot be asked)")
            }
            guard try Terminal.readSecret(prompt: "Again: ") == first else { throw CommandFailure("the two entries differ") }
            password = first
        }
        do { try await AccountLifecycleCommands.setPassword(dataDirectory: config.dataDirectory, password: password) } catch {
            throw CommandFailure("\(error)")
        }
        print("password changed; every session was signed out")
    }
}

/// `pds account deactivate|activate|delete`, with the server stopped.
struct DeactivateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deactivate", abstract: "Deactivate the account (the server must be stopped).")
    @OptionGroup var location: ServerLocation
    @Option(help: "Ask for deletion after this date (ISO 8601), recorded as deactivateAccount's deleteAfter.") var deleteAfter: String?

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let (config, keys) = try location.load()
        do { print(try await AccountLifecycleCommands.deactivate(config: config, keys: keys, deleteAfter: deleteAfter)) } catch {
            throw CommandFailure("\(error)")
        }
    }
}

struct ActivateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activate", abstract: "Activate the account once its DID document points here (the server must be stopped).")
    @OptionGroup var location: ServerLocation

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let (config, keys) = try location.load()
        do { print(try await AccountLifecycleCommands.activate(config: config, keys: keys)) } catch {
            throw CommandFailure("\(error)")
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete the account, its repository and blobs for good (the server must be stopped).")
    @OptionGroup var location: ServerLocation
    @Option(help: "The account's DID, to confirm.") var confirm: String

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        let (config, keys) = try location.load()
        do { print(try await AccountLifecycleCommands.delete(config: config, keys: keys, confirm: confirm)) } catch {
            throw CommandFailure("\(error)")
        }
    }
}
