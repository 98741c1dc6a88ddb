import ACME
import Foundation
import OpenSSLNIO
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Let's Encrypt's Pebble test CA on loopback, in real validation mode, one instance per test.
///
/// Every port is free-picked at start, so tests (and other engineers' Pebbles) never collide: `pebble-challtestsrv` serves only DNS
/// (every A query → 127.0.0.1), and Pebble validates HTTP-01 on `httpPort` and TLS-ALPN-01 on
/// `tlsPort` of 127.0.0.1, where the test runs the appliance's listeners.
final class Pebble: @unchecked Sendable {
    let listenerCA: TestCertificateAuthority
    let directoryURL: URL
    let managementURL: URL
    /// Where Pebble sends HTTP-01 validations.
    let httpPort: Int
    /// Where Pebble sends TLS-ALPN-01 validations.
    let tlsPort: Int
    private let processes: [Process]
    private let logPath: String

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Starts challtestsrv and Pebble; `nonceRejectPercent` makes Pebble refuse that share of
    /// nonces with `badNonce` (its default is 5).
    static func start(nonceRejectPercent: Int = 0) async throws -> Pebble {
        guard let pebble = TestCertificateAuthority.which("pebble"),
              let challtestsrv = TestCertificateAuthority.which("pebble-challtestsrv") else {
            throw Failure(description: "pebble is not installed (these ACME tests run against it): apt-get install -y pebble")
        }
        let ca = try TestCertificateAuthority(name: "pebble listener test CA")
        let listener = try ca.issue("listener", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"])
        let listenPort = try freePort(), managementPort = try freePort(), httpPort = try freePort(), tlsPort = try freePort()
        let dnsPort = try freePort(udp: true), challtestManagement = try freePort()
        let config = """
            { "pebble": { "listenAddress": "127.0.0.1:\(listenPort)", "managementListenAddress": "127.0.0.1:\(managementPort)",
              "certificate": "\(listener.chain)", "privateKey": "\(listener.key)", "httpPort": \(httpPort), "tlsPort": \(tlsPort),
              "ocspResponderURL": "", "externalAccountBindingRequired": false } }
            """
        let configPath = ca.directory + "/pebble-config.json"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let logPath = ca.directory + "/pebble.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))

        let dns = Process()
        dns.executableURL = URL(fileURLWithPath: challtestsrv)
        dns.arguments = ["-dns01", "127.0.0.1:\(dnsPort)", "-http01", "", "-https01", "", "-tlsalpn01", "",
                         "-management", "127.0.0.1:\(challtestManagement)", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]
        dns.standardOutput = log
        dns.standardError = log
        let server = Process()
        server.executableURL = URL(fileURLWithPath: pebble)
        server.arguments = ["-config", configPath, "-dnsserver", "127.0.0.1:\(dnsPort)"]
        var environment = ProcessInfo.processInfo.environment
        environment["PEBBLE_VA_NOSLEEP"] = "1"
        environment["PEBBLE_VA_ALWAYS_VALID"] = "0"
        environment["PEBBLE_WFE_NONCEREJECT"] = String(nonceRejectPercent)
        server.environment = environment
        server.standardOutput = log
        server.standardError = log
        try dns.run()
        try server.run()

        let instance = Pebble(listenerCA: ca, directoryURL: URL(string: "https://127.0.0.1:\(listenPort)/dir")!,
                              managementURL: URL(string: "https://127.0.0.1:\(managementPort)")!, httpPort: httpPort,
                              tlsPort: tlsPort, processes: [server, dns], logPath: logPath)
        let client = try instance.apiClient()
        for _ in 0..<100 {
            if let response = try? await client.send(ACMEHTTPRequest(method: "GET", url: instance.directoryURL)), response.status == 200,
               await isListening(port: challtestManagement) {
                return instance
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        instance.stop()
        throw Failure(description: "pebble did not come up: \(instance.log())")
    }

    private init(listenerCA: TestCertificateAuthority, directoryURL: URL, managementURL: URL, httpPort: Int, tlsPort: Int,
                 processes: [Process], logPath: String) {
        self.listenerCA = listenerCA
        self.directoryURL = directoryURL
        self.managementURL = managementURL
        self.httpPort = httpPort
        self.tlsPort = tlsPort
        self.processes = processes
        self.logPath = logPath
    }

    /// Stops the processes this harness started.
    func stop() {
        for process in processes where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    /// Pebble's own log (for failure messages).
    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)).map { String($0.suffix(4000)) } ?? ""
    }

    /// An HTTPS client trusting Pebble's listener CA (the ACME API's own certificate).
    func apiClient() throws -> OpenSSLHTTPSClient {
        try OpenSSLHTTPSClient(trustRoots: .pemFile(listenerCA.caCertificatePath), timeout: .seconds(20))
    }

    /// Pebble's issuing root (regenerated on every start), written to a file.
    func rootCertificatePath() async throws -> String {
        let response = try await apiClient().send(ACMEHTTPRequest(method: "GET", url: managementURL.appendingPathComponent("roots/0")))
        guard response.status == 200 else { throw Failure(description: "roots/0 answered \(response.status)") }
        let path = listenerCA.directory + "/pebble-root.pem"
        try Data(response.body).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A loopback port that is free now, for a listener started a moment later (Pebble and the
    /// port-80 app need their ports named in advance). Picked at random below Linux's ephemeral
    /// range (32768–60999), which every outgoing connection and every port-0 listener of the
    /// parallel tests draws from: a port from there could be taken before it is bound (a loaded
    /// run once failed with "Address already in use").
    static func freePort(udp: Bool = false) throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000)
            if try isFree(port, udp: udp) { return port }
        }
        throw Failure(description: "no free port between 20000 and 32000")
    }

    private static func isFree(_ port: Int, udp: Bool) throws -> Bool {
        let descriptor = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        return bound == 0
    }

    static func isListening(port: Int) async -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
