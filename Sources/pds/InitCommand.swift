import ArgumentParser
import Foundation
import Logging
import PDSAppliance
import PDSCore
import PDSServer

/// `pds init`: sets up a new appliance (at most five questions; each has a flag for scripts).
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the keys, the account and its did:plc, and pds.conf.")

    @Option(help: "Public hostname of this server, e.g. pds.example.com.") var hostname: String?
    @Option(help: "The account's handle (your own domain, e.g. alice.example.com).") var handle: String?
    @Option(help: "Account password (prefer the prompt; a flag is visible to other local users).") var password: String?
    @Option(help: "Read the account password from this file instead.") var passwordFile: String?
    @Option(help: "How keys are unlocked: identity (a file or systemd credential) or passphrase.") var unlock: String?
    @Option(help: "With --unlock passphrase: read the passphrase from this file.") var passphraseFile: String?
    @Option(help: "With --unlock identity: the age identity file (created if missing).") var identityFile: String?
    @Option(help: "Contact e-mail (optional; shown by describeServer, used for ACME).") var email: String?
    @Flag(help: "Do not ask for an e-mail address.") var noEmail = false
    @Flag(help: "Mark the account's e-mail address as confirmed (it is your own; the app stops asking to confirm it).") var emailConfirmed = false
    @Option(help: "Data directory.") var data: String = "/var/lib/pds"
    @Option(help: "Where to write the configuration.") var config: String = "/etc/pds/pds.conf"
    @Option(help: "Also write the recovery key, age-encrypted, to this path.") var recoveryKeyFile: String?
    @Option(help: "Extra KEY=value lines for pds.conf (repeatable), e.g. PDS_DID_PLC_URL=…") var set: [String] = []
    @Flag(help: "Prepare the server without an account, to receive an existing one moving here (goat account migrate, or the official guide's steps).") var noAccount = false

    func run() async throws { try await reportingFailures { try await execute() } }

    func execute() async throws {
        JSONLogHandler.bootstrap(format: "text")
        let logger = Logger(label: "pds")
        if let found = ApplianceInit.existingInstallation(dataDirectory: data, configPath: config) {
            throw CommandFailure("this server is already initialised (\(found)). `pds serve --config \(config)` runs it; to start over, move the data directory and the config away first")
        }
        var moving = noAccount
        if !noAccount && handle == nil && Terminal.isInteractive {
            let answer = Terminal.readLine(prompt: "New account, or move an existing one here? [new/move]: ")?.lowercased() ?? "new"
            moving = answer.hasPrefix("m")
        }
        let hostname = try Self.ask(hostname, "1/5 Hostname of this server (e.g. pds.example.com): ", flag: "--hostname")
        let handle = moving ? "" : try Self.ask(handle, "2/5 Your handle (e.g. alice.example.com): ", flag: "--handle")
        let password = moving ? "" : try Self.secret(password, file: passwordFile, "3/5 Account password: ", flag: "--password or --password-file")
        guard moving || password.count >= 8 else { throw CommandFailure("the password must have at least 8 characters") }
        let unlockText = try Self.ask(unlock, "4/5 Unlock keys with an identity file (systemd credential) or a passphrase? [identity/passphrase]: ", flag: "--unlock")
        guard let method = KeyUnlock.Method(rawValue: unlockText) else { throw CommandFailure("--unlock must be identity or passphrase") }
        let passphrase = method == .passphrase
            ? try Self.secret(nil, file: passphraseFile, "Key passphrase: ", flag: "--passphrase-file") : nil
        var email = email
        if email == nil && !noEmail && Terminal.isInteractive {
            email = Terminal.readLine(prompt: "5/5 Contact e-mail (optional, Enter to skip): ").flatMap { $0.isEmpty ? nil : $0 }
        }
        var settings: [(String, String)] = []
        for line in set {
            guard let equals = line.firstIndex(of: "="), line.hasPrefix("PDS_") else { throw CommandFailure("--set takes PDS_KEY=value, got \(line)") }
            settings.append((String(line[..<equals]), String(line[line.index(after: equals)...])))
        }
        let result: ApplianceInit.Result
        do {
            var options = ApplianceInit.Options(
                hostname: hostname, handle: handle, password: password, unlock: method, passphrase: passphrase,
                identityFile: identityFile.map { Self.absolute($0) }, email: email, dataDirectory: Self.absolute(data),
                configPath: Self.absolute(config), recoveryKeyFile: recoveryKeyFile.map { Self.absolute($0) }, settings: settings)
            options.withoutAccount = moving
            options.emailConfirmed = emailConfirmed
            result = try await ApplianceInit.run(options, environment: ProcessInfo.processInfo.environment, logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
        Self.printSummary(result, hostname: hostname, config: Self.absolute(config))
    }

    /// What `pds init` prints: the recovery key once, and what to do next.
    static func printSummary(_ result: ApplianceInit.Result, hostname: String, config: String) {
        if let invite = result.inviteCode {
            print("""
                Initialised without an account, ready to receive one moving here.
                  config:       \(config)
                  invite code:  \(invite)   (valid 7 days; `pds account token invite` prints a new one)

                RECOVERY KEY (shown once; store it off this machine). getRecommendedDidCredentials lists it
                first among the rotation keys, so the moved identity can be taken back with it:
                  private key (hex): \(result.recoveryKeyHex)
                  did:key:           \(result.recoveryDIDKey)

                Next: `pds serve --config \(config)`, then move the account here, e.g.
                  goat account migrate --pds-host https://\(hostname) --new-handle <handle> --new-password … --invite-code \(invite)
                """)
            return
        }
        print("""
            Initialised.
              handle:  \(result.handle)
              DID:     \(result.did)
              config:  \(config)

            RECOVERY KEY (shown once; store it off this machine — it can take your identity back
            from this server within 72 hours of any change it makes):
              private key (hex): \(result.recoveryKeyHex)
              did:key:           \(result.recoveryDIDKey)

            Next: add the DNS records for \(hostname) and _atproto.\(result.handle) (see README),
            then `pds serve --config \(config)` or enable systemd/pds.service.
            """)
    }

    /// A flag's value, else the answer to `question` on a terminal.
    static func ask(_ value: String?, _ question: String, flag: String) throws -> String {
        if let value, !value.isEmpty { return value }
        guard Terminal.isInteractive, let answer = Terminal.readLine(prompt: question), !answer.isEmpty else {
            throw CommandFailure("\(flag) is required (not on a terminal, so it cannot be asked)")
        }
        return answer.trimmingCharacters(in: .whitespaces)
    }

    /// A secret from its flag, its file's first line, or typed twice on a terminal (not echoed).
    static func secret(_ value: String?, file: String?, _ question: String, flag: String) throws -> String {
        if let value, !value.isEmpty { return value }
        if let file {
            let text = try KeyUnlock.readSecretFile(file)
            return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        guard let first = try Terminal.readSecret(prompt: question), !first.isEmpty else {
            throw CommandFailure("\(flag) is required (not on a terminal, so it cannot be asked)")
        }
        guard try Terminal.readSecret(prompt: "Again: ") == first else { throw CommandFailure("the two entries differ") }
        return first
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
