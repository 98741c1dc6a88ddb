import ACME
import Foundation
import Hummingbird
import Logging
import OpenSSLNIO
@testable import PDSServer
import TestSupport
import Testing

/// Real issuance against Pebble with real validation: Pebble connects to the listeners the
/// appliance runs (HTTP-01 on the port-80 app, TLS-ALPN-01 on the TLS server).
@Suite(.serialized, .enabled(if: TestTools.installed("pebble", "pebble-challtestsrv") || SharedVectors.required,
                             "needs Pebble, the ACME test CA (apt-get install -y pebble)"))
struct PebbleIssuanceTests {
    static var logger: Logger {
        var logger = Logger(label: "acme-test")
        logger.logLevel = .warning
        return logger
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "pds-acme-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func mode(_ path: String) throws -> Int {
        ((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
    }

    /// `openssl verify` of a PEM chain file (leaf first) against `root`.
    static func verifyChain(_ chainPath: String, root: String, in directory: String) throws -> String {
        let chain = try TLSCertificate.chain(pem: Array(try Data(contentsOf: URL(fileURLWithPath: chainPath))))
        try Data(chain[0].pem).write(to: URL(fileURLWithPath: directory + "/leaf.pem"))
        try Data(chain.dropFirst().flatMap(\.pem)).write(to: URL(fileURLWithPath: directory + "/issuers.pem"))
        return try TestCertificateAuthority.openssl(["verify", "-CAfile", root, "-untrusted", directory + "/issuers.pem",
                                                     directory + "/leaf.pem"])
    }

    @Test(.timeLimit(.minutes(2)))
    func http01IssuesRenewsAtTwoThirdsAndKeepsTheAccount() async throws {
        // 30% of nonces refused: the issuance only completes if badNonce is retried.
        let pebble = try await Pebble.start(nonceRejectPercent: 30)
        defer { pebble.stop() }
        let data = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let http01 = HTTP01ChallengeStore()
        let portEighty = try await RunningServer.start { running in
            PortEightyApp.make(http01: http01, hostname: "pds.test", knownHosts: ["alice.pds.test"], bindAddress: "127.0.0.1",
                               port: pebble.httpPort, logger: Self.logger, onServerRunning: running)
        }
        defer { Task { await portEighty.stop() } }

        var configuration = ACMEConfiguration(directoryURL: pebble.directoryURL, names: ["pds.test", "alice.pds.test"],
                                              contact: ["mailto:admin@pds.test"], challengeTypes: [.http01],
                                              termsOfServiceAgreed: true)
        configuration.pollInterval = .milliseconds(100)
        let files = ACMEFiles(dataDirectory: data)
        let issued = Counter()
        let manager = ACMECertificateManager(configuration: configuration, files: files, transport: try pebble.apiClient(),
                                             http01: http01, tlsALPN01: TLSALPNChallengeStore(), logger: Self.logger,
                                             onCertificate: { issued.increment() })
        let now = ACMECertificateManager.now()
        #expect(manager.status(now: now) == .needed("no certificate yet"))

        let first = try await manager.ensureCertificate(now: now)
        #expect(first.issued, "\(pebble.log())")
        #expect(issued.count == 1)
        #expect(try Self.mode(files.accountKeyPath) == 0o600)
        #expect(try Self.mode(files.privateKeyPath) == 0o600)
        #expect(try Self.mode(files.directory) == 0o700)
        let chainBytes = Array(try Data(contentsOf: URL(fileURLWithPath: files.certificateChainPath)))
        let leaf = try #require(try TLSCertificate.chain(pem: chainBytes).first)
        #expect(Set(leaf.dnsNames) == ["pds.test", "alice.pds.test"])
        #expect(leaf.matches(try TLSPrivateKey(pem: Array(try Data(contentsOf: URL(fileURLWithPath: files.privateKeyPath))))))
        let root = try await pebble.rootCertificatePath()
        let verified = try Self.verifyChain(files.certificateChainPath, root: root, in: data)
        #expect(verified.contains(": OK"), "\(verified)")

        // Renewal at two thirds of the lifetime.
        let renewAt = ACMECertificateManager.renewalTime(notBefore: leaf.notBefore, notAfter: leaf.notAfter)
        #expect(first.renewAt == renewAt)
        #expect(renewAt == leaf.notBefore + (leaf.notAfter - leaf.notBefore) * 2 / 3)
        #expect(manager.status(now: now) == .current(renewAt: renewAt))
        #expect(manager.status(now: renewAt - 1) == .current(renewAt: renewAt))
        #expect(manager.status(now: renewAt) == .needed("two thirds of the certificate's lifetime have passed"))
        let notYet = try await manager.ensureCertificate(now: renewAt - 1)
        #expect(!notYet.issued)
        #expect(issued.count == 1)

        let accountKey = try Data(contentsOf: URL(fileURLWithPath: files.accountKeyPath))
        let renewed = try await manager.ensureCertificate(now: renewAt)
        #expect(renewed.issued, "\(pebble.log())")
        #expect(issued.count == 2)
        let renewedLeaf = try #require(try TLSCertificate.chain(pem: Array(try Data(contentsOf: URL(fileURLWithPath: files.certificateChainPath)))).first)
        #expect(renewedLeaf.der != leaf.der)
        #expect(try Data(contentsOf: URL(fileURLWithPath: files.accountKeyPath)) == accountKey, "the account key is kept")
    }

    @Test(.timeLimit(.minutes(2)))
    func tlsALPN01OnFirstStartThenTheIssuedCertificateIsServedWithoutRestart() async throws {
        let pebble = try await Pebble.start()
        defer { pebble.stop() }
        let data = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let files = ACMEFiles(dataDirectory: data)
        let challenges = TLSALPNChallengeStore()
        // First start: no certificate yet; the TLS port can only answer acme-tls/1.
        let store = try TLSContextStore(files: [.init(certificateChainPath: files.certificateChainPath, privateKeyPath: files.privateKeyPath)],
                                        challenges: challenges, requireCertificates: false)
        let router = Router()
        router.get("/") { _, _ in "hello over tls\n" }
        let tls = try await RunningServer.start { running in
            Application(router: router, server: .http1OverOpenSSL(contexts: store),
                        configuration: .init(address: .hostname("127.0.0.1", port: pebble.tlsPort)),
                        onServerRunning: running, logger: Self.logger)
        }
        defer { Task { await tls.stop() } }
        let root = try await pebble.rootCertificatePath()
        let curl = ["-sS", "--cacert", root, "--resolve", "pds.test:\(pebble.tlsPort):127.0.0.1", "https://pds.test:\(pebble.tlsPort)/"]
        let before = try await TestCertificateAuthority.runDetached("curl", curl)
        #expect(before.status != 0, "no certificate yet, so no ordinary handshake: \(before.output)")

        var configuration = ACMEConfiguration(directoryURL: pebble.directoryURL, names: ["pds.test"],
                                              challengeTypes: [.tlsALPN01], termsOfServiceAgreed: true)
        configuration.pollInterval = .milliseconds(100)
        let manager = ACMECertificateManager(configuration: configuration, files: files, transport: try pebble.apiClient(),
                                             http01: HTTP01ChallengeStore(), tlsALPN01: challenges, logger: Self.logger,
                                             onCertificate: { store.reloadIfChanged() })
        let result = try await manager.ensureCertificate(now: ACMECertificateManager.now())
        #expect(result.issued, "\(pebble.log())")
        #expect(challenges.entry(for: "pds.test") == nil, "the challenge certificate is withdrawn afterwards")

        let after = try await TestCertificateAuthority.runDetached("curl", curl)
        #expect(after.status == 0, "\(after.output)")
        #expect(after.output == "hello over tls\n")
    }

    @Test(.timeLimit(.minutes(2)))
    func validationIsRealWhenNothingAnswersItFails() async throws {
        let pebble = try await Pebble.start()
        defer { pebble.stop() }
        let data = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        // No port-80 listener is running: Pebble's HTTP-01 validation cannot connect.
        var configuration = ACMEConfiguration(directoryURL: pebble.directoryURL, names: ["pds.test"],
                                              challengeTypes: [.http01], termsOfServiceAgreed: true)
        configuration.pollInterval = .milliseconds(100)
        let files = ACMEFiles(dataDirectory: data)
        let manager = ACMECertificateManager(configuration: configuration, files: files, transport: try pebble.apiClient(),
                                             http01: HTTP01ChallengeStore(), tlsALPN01: TLSALPNChallengeStore(), logger: Self.logger)
        do {
            try await manager.ensureCertificate(now: ACMECertificateManager.now())
            Issue.record("issued without anyone answering the challenge")
        } catch let problem as ACMEProblem {
            #expect(problem.type.hasPrefix("urn:ietf:params:acme:error:"), "\(problem)")
        }
        #expect(!FileManager.default.fileExists(atPath: files.certificateChainPath))
        #expect(manager.status(now: ACMECertificateManager.now()) == .needed("no certificate yet"))
    }
}
