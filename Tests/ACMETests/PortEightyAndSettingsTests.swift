import ACME
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PDSCore
@testable import PDSServer
import TestSupport
import Testing

@Suite struct PortEightyAndSettingsTests {
    @Test func portEightyAnswersChallengesAndRedirectsEverythingElse() async throws {
        let http01 = HTTP01ChallengeStore()
        http01.set(token: "tok-123", keyAuthorization: "tok-123.thumb")
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let server = try await RunningServer.start { running in
            PortEightyApp.make(http01: http01, hostname: "pds.test", knownHosts: ["alice.pds.test"], httpsPort: 8443,
                               bindAddress: "127.0.0.1", port: 0, logger: logger, onServerRunning: running)
        }
        defer { Task { await server.stop() } }
        func curl(_ path: String, host: String = "pds.test", method: String = "GET") async throws -> String {
            try await TestCertificateAuthority.runDetached(
                "curl", ["-sS", "-i", "-X", method, "-H", "Host: \(host)", "http://127.0.0.1:\(server.port)\(path)"]).output
        }
        let challenge = try await curl("/.well-known/acme-challenge/tok-123")
        #expect(challenge.hasPrefix("HTTP/1.1 200"), "\(challenge)")
        #expect(challenge.hasSuffix("\r\n\r\ntok-123.thumb"), "\(challenge)")
        let unknown = try await curl("/.well-known/acme-challenge/other")
        #expect(unknown.hasPrefix("HTTP/1.1 404"), "\(unknown)")

        let redirect = try await curl("/xrpc/_health?x=1", host: "alice.pds.test:80")
        #expect(redirect.hasPrefix("HTTP/1.1 301"), "\(redirect)")
        #expect(redirect.lowercased().contains("location: https://alice.pds.test:8443/xrpc/_health?x=1"), "\(redirect)")
        // A foreign Host header never becomes the redirect target.
        let foreign = try await curl("/", host: "evil.example")
        #expect(foreign.lowercased().contains("location: https://pds.test:8443/\r\n"), "\(foreign)")
        let post = try await curl("/xrpc/com.atproto.server.createSession", method: "POST")
        #expect(post.hasPrefix("HTTP/1.1 308"), "\(post)")
    }

    @Test func settingsParseEveryMode() throws {
        #expect(try TLSSettings.load(file: ["PDS_TLS": "off"], environment: [:]) == nil)

        let files = try #require(try TLSSettings.load(file: ["PDS_TLS_CERTIFICATE": "/c.pem", "PDS_TLS_PRIVATE_KEY": "/k.pem"], environment: [:]))
        guard case .files(let chain, let key) = files.certificates else { Issue.record("files expected"); return }
        #expect(chain == "/c.pem" && key == "/k.pem")
        #expect(files.httpPort == 80)

        let acme = try #require(try TLSSettings.load(
            file: ["PDS_ACME_EMAIL": "admin@pds.test", "PDS_ACME_AGREE_TOS": "true", "PDS_ACME_CHALLENGES": "http-01",
                   "PDS_TLS_EXTRA_NAMES": "alice.pds.test", "PDS_HTTP_PORT": "8080"],
            environment: ["PDS_ACME_DIRECTORY_URL": "https://127.0.0.1:14000/dir"]))
        guard case .acme(let options) = acme.certificates else { Issue.record("acme expected"); return }
        #expect(options.email == "admin@pds.test")
        #expect(options.termsOfServiceAgreed)
        #expect(options.challengeTypes == [.http01])
        #expect(options.directoryURL.absoluteString == "https://127.0.0.1:14000/dir")
        #expect(acme.additionalNames == ["alice.pds.test"])
        #expect(acme.httpPort == 8080)

        #expect(throws: PDSConfig.Invalid.self) { try TLSSettings.load(file: ["PDS_TLS": "files"], environment: [:]) }
        #expect(throws: PDSConfig.Invalid.self) { try TLSSettings.load(file: ["PDS_ACME_CHALLENGES": "dns-01"], environment: [:]) }
        #expect(throws: PDSConfig.Invalid.self) { try TLSSettings.load(file: ["PDS_ACME_DIRECTORY_URL": "http://x"], environment: [:]) }
        #expect(throws: PDSConfig.Invalid.self) { try TLSSettings.load(file: ["PDS_HTTP_PORT": "99999"], environment: [:]) }
    }

    @Test func configureRefusesHalfConfiguredTLS() throws {
        let logger = Logger(label: "test")
        // ACME without agreeing to the terms.
        let acme = try #require(try TLSSettings.load(file: [:], environment: [:]))
        #expect(throws: PDSConfig.Invalid.self) {
            try TLSServing.configure(settings: acme, dataDirectory: NSTemporaryDirectory(), hostname: "pds.test",
                                     bindAddress: "127.0.0.1", httpsPort: 443, logger: logger)
        }
        // Certificate files that do not exist.
        let missing = TLSSettings(certificates: .files(chain: "/nonexistent/c.pem", key: "/nonexistent/k.pem"))
        #expect(throws: PDSConfig.Invalid.self) {
            try TLSServing.configure(settings: missing, dataDirectory: NSTemporaryDirectory(), hostname: "pds.test",
                                     bindAddress: "127.0.0.1", httpsPort: 443, logger: logger)
        }
        // HTTP-01 with the port-80 listener off.
        var noPortEighty = try #require(try TLSSettings.load(file: ["PDS_ACME_AGREE_TOS": "true", "PDS_ACME_CHALLENGES": "http-01"], environment: [:]))
        noPortEighty.httpPort = nil
        #expect(throws: PDSConfig.Invalid.self) {
            try TLSServing.configure(settings: noPortEighty, dataDirectory: NSTemporaryDirectory(), hostname: "pds.test",
                                     bindAddress: "127.0.0.1", httpsPort: 443, logger: logger)
        }
    }
}
