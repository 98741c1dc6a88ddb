// Throwaway certificates for TLS tests, made with the `openssl` command-line tool at test time
// (nothing is committed). A missing `openssl` fails the test with a message saying so.
import Foundation

/// A test CA and leaf certificates it signs, in a fresh temporary directory.
public final class TestCertificateAuthority: @unchecked Sendable {
    /// The directory holding every file.
    public let directory: String
    /// The CA certificate (trust anchor for clients).
    public let caCertificatePath: String

    /// A failure of the harness itself (no openssl, a command that failed).
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes a P-256 CA in a new temporary directory.
    public init(name: String = "pds test CA") throws {
        directory = NSTemporaryDirectory() + "pds-tls-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        caCertificatePath = directory + "/ca.pem"
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", directory + "/ca.key", "-out", caCertificatePath, "-days", "2",
                          "-subj", "/CN=\(name)"])
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// A leaf certificate for `dnsNames` (and `ipAddresses`) signed by this CA: returns the paths
    /// of the chain file (leaf then CA) and of the key. `keyType` is `ec` (P-256) or `rsa`.
    public func issue(_ label: String, dnsNames: [String], ipAddresses: [String] = [], keyType: String = "ec",
                      days: Int = 2) throws -> (chain: String, key: String) {
        let base = directory + "/" + label
        let keyOptions = keyType == "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        try Self.openssl(["req"] + keyOptions + ["-nodes", "-keyout", base + ".key", "-out", base + ".csr",
                                                 "-subj", "/CN=\(dnsNames.first ?? label)"])
        let san = (dnsNames.map { "DNS:" + $0 } + ipAddresses.map { "IP:" + $0 }).joined(separator: ",")
        let extensions = "subjectAltName=\(san)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        try extensions.write(toFile: base + ".ext", atomically: true, encoding: .utf8)
        try Self.openssl(["x509", "-req", "-in", base + ".csr", "-CA", caCertificatePath, "-CAkey", directory + "/ca.key",
                          "-CAcreateserial", "-out", base + ".leaf.pem", "-days", String(days), "-extfile", base + ".ext"])
        let chain = try String(contentsOfFile: base + ".leaf.pem", encoding: .utf8)
            + String(contentsOfFile: caCertificatePath, encoding: .utf8)
        try chain.write(toFile: base + ".chain.pem", atomically: true, encoding: .utf8)
        return (base + ".chain.pem", base + ".key")
    }

    /// Runs `openssl` with `arguments`; throws with its output when it fails.
    @discardableResult
    public static func openssl(_ arguments: [String], input: Data? = nil) throws -> String {
        try run("openssl", arguments, input: input)
    }

    /// Runs a tool found on PATH (or at an absolute path) and returns stdout + stderr.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], input: Data? = nil,
                           environment: [String: String]? = nil) throws -> String {
        let (status, output) = try runAllowingFailure(tool, arguments, input: input, environment: environment)
        guard status == 0 else {
            throw Failure(description: "\(tool) \(arguments.joined(separator: " ")) exited \(status): \(output)")
        }
        return output
    }

    /// Runs a tool and returns its exit status with stdout + stderr.
    public static func runAllowingFailure(_ tool: String, _ arguments: [String], input: Data? = nil,
                                          environment: [String: String]? = nil) throws -> (Int32, String) {
        guard let executable = which(tool) else {
            throw Failure(description: "`\(tool)` is not installed (these TLS tests need it on PATH)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        // A tool may exit before it reads its input (s_client after a refused handshake): the
        // write then fails with EPIPE, which the throwing API reports (the old `write(_:)`
        // traps). What the tool did is told by its status and output, not by this write.
        if let input { try? stdin.fileHandleForWriting.write(contentsOf: input) }
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `runAllowingFailure` on a thread of its own, so a test awaiting a tool (curl, s_client)
    /// never blocks Swift's cooperative pool, which the server under test needs.
    public static func runDetached(_ tool: String, _ arguments: [String], input: Data? = nil,
                                   environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try runAllowingFailure(tool, arguments, input: input, environment: environment))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    /// The absolute path of `tool` on PATH.
    public static func which(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
