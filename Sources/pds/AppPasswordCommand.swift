import ArgumentParser
import Foundation
import PDSAppliance
import PDSCore

/// `pds app-password list|create|revoke`: the account's app passwords from the box, the same
/// ones `com.atproto.server.*AppPassword` manage (a running server sees changes at once: it reads
/// them from the database at each login and refresh).
struct AppPasswordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app-password", abstract: "List, create or revoke the account's app passwords.",
        subcommands: [List.self, Create.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List app passwords (names and dates; the passwords are not kept).")
        @OptionGroup var location: DataLocation

        func run() async throws {
            try await reportingFailures {
                let passwords = try location.appPasswords().passwords.list()
                if passwords.isEmpty { print("no app passwords") }
                for info in passwords {
                    print("\(info.name)\t\(info.createdAt)\(info.privileged ? "\tprivileged (may use chat)" : "")")
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an app password and print it (shown once).")
        @OptionGroup var location: DataLocation
        @Argument(help: "A name to tell it apart, e.g. the app it is for.") var name: String
        @Flag(help: "Allow it to reach direct messages (chat.bsky), as the Bluesky app's \"privileged\" option.") var privileged = false

        func run() async throws {
            try await reportingFailures {
                let (passwords, did) = try location.appPasswords()
                do {
                    let created = try await passwords.create(name: name, privileged: privileged, did: did)
                    print(created.password)
                } catch SessionError.appPasswordNameTaken {
                    throw CommandFailure("an app password named \"\(name)\" exists: revoke it first, or choose another name")
                } catch SessionError.emptyAppPasswordName {
                    throw CommandFailure("an app password needs a name")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an app password and sign out the apps that use it.")
        @OptionGroup var location: DataLocation
        @Argument(help: "Its name, as `pds app-password list` shows it.") var name: String

        func run() async throws {
            try await reportingFailures {
                guard try location.appPasswords().passwords.revoke(name: name) else {
                    throw CommandFailure("no app password named \"\(name)\" (see `pds app-password list`)")
                }
                print("revoked \"\(name)\"; apps that used it can no longer refresh their sessions")
            }
        }
    }
}

extension DataLocation {
    /// The account's app passwords and its DID, or one clear line why not.
    func appPasswords() throws -> (passwords: AppPasswords, did: String) {
        let directory = try directory()
        do {
            return try AccountTokens.appPasswords(dataDirectory: directory)
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
