import Foundation
import OpenSSLNIO
import PDSNetwork
import Testing
import TestSupport

/// The SMTP client's whole dialogue against a loopback server: STARTTLS with a verified
/// certificate, AUTH PLAIN and LOGIN, the envelope, dot-stuffing, and the refusals (a bad
/// password, a certificate for another name or CA, no STARTTLS, bytes injected after STARTTLS).
@Suite struct SMTPClientTests {
    struct Fixture {
        let ca: TestCertificateAuthority
        let store: TLSContextStore
    }

    static func fixture(name: String = "localhost") throws -> Fixture {
        let ca = try TestCertificateAuthority()
        let leaf = try ca.issue("smtp", dnsNames: [name], ipAddresses: ["127.0.0.1"])
        return Fixture(ca: ca, store: try TLSContextStore(files: [.init(certificateChainPath: leaf.chain, privateKeyPath: leaf.key)]))
    }

    static func settings(port: Int, ca: String, password: String = "s3cret pass") -> SMTPSettings {
        SMTPSettings(host: "localhost", port: port, security: .startTLS, username: "mailer", password: password,
                     fromAddress: "pds@example.com", fromName: "My PDS", caFile: ca)
    }

    static let message = EmailMessage(fromAddress: "pds@example.com", fromName: "My PDS", to: "alice@example.net",
                                      subject: "Your code", body: "Line one\n.starts with a dot\n..two dots\nCODE-12345\n")

    @Test(arguments: ["PLAIN", "LOGIN"])
    func deliversOverSTARTTLSWithAuth(mechanism: String) async throws {
        let fixture = try Self.fixture()
        let server = try await SMTPTestServer(tls: fixture.store, behaviour: .init(mechanisms: [mechanism]))
        defer { Task { await server.close() } }
        let client = SMTPClient(settings: Self.settings(port: server.port, ca: fixture.ca.caCertificatePath), heloName: "pds.example.com")
        let bytes = Self.message.rendered(unixTime: 1_796_614_443, messageID: "abc@example.com")
        let reply = try await client.send(bytes, to: ["alice@example.net"])
        #expect(reply.code == 250)
        let got = try #require(server.messages.first)
        #expect(got.overTLS)
        #expect(got.authMechanism == mechanism)
        #expect(got.mailFrom == "pds@example.com")
        #expect(got.recipients == ["alice@example.net"])
        // The server undid the dot-stuffing: what arrived is exactly what was rendered.
        #expect(got.data == bytes)
        let text = String(decoding: got.data, as: UTF8.self)
        #expect(text.contains("\r\n.starts with a dot\r\n..two dots\r\n"))
    }

    @Test func deliversOverImplicitTLS() async throws {
        let fixture = try Self.fixture()
        let server = try await SMTPTestServer(tls: fixture.store, behaviour: .init(implicitTLS: true))
        defer { Task { await server.close() } }
        var settings = Self.settings(port: server.port, ca: fixture.ca.caCertificatePath)
        settings.security = .implicitTLS
        let bytes = Self.message.rendered(unixTime: 0, messageID: "a@b.c")
        try await SMTPClient(settings: settings, heloName: "pds.example.com").send(bytes, to: ["alice@example.net"])
        let got = try #require(server.messages.first)
        #expect(got.overTLS && got.authMechanism == "PLAIN" && got.data == bytes)

        // The same server spoken to with STARTTLS: the client's plain-text EHLO meets a TLS server.
        settings.security = .startTLS
        await #expect(throws: SMTPError.self) {
            try await SMTPClient(settings: settings, heloName: "pds.example.com").send(bytes, to: ["alice@example.net"])
        }
    }

    @Test func verifySignsInAndSendsNothing() async throws {
        let fixture = try Self.fixture()
        let server = try await SMTPTestServer(tls: fixture.store)
        defer { Task { await server.close() } }
        let capabilities = try await SMTPClient(settings: Self.settings(port: server.port, ca: fixture.ca.caCertificatePath),
                                                heloName: "pds.example.com").verify()
        #expect(capabilities["AUTH"] == ["PLAIN", "LOGIN"])
        #expect(server.messages.isEmpty && server.failedLogins == 0)
        await #expect(throws: SMTPError.self) {
            try await SMTPClient(settings: Self.settings(port: server.port, ca: fixture.ca.caCertificatePath, password: "nope"),
                                 heloName: "pds.example.com").verify()
        }
        #expect(server.failedLogins == 1)
    }

    @Test func aWrongPasswordIsRefusedAndRetryable() async throws {
        let fixture = try Self.fixture()
        let server = try await SMTPTestServer(tls: fixture.store)
        defer { Task { await server.close() } }
        let client = SMTPClient(settings: Self.settings(port: server.port, ca: fixture.ca.caCertificatePath, password: "wrong horse"),
                                heloName: "pds.example.com")
        let error = await #expect(throws: SMTPError.self) {
            try await client.send(Self.message.rendered(unixTime: 0, messageID: "a@b.c"), to: ["alice@example.net"])
        }
        let refusal = try #require(error)
        #expect(refusal.isPermanent == false, "a refused login may be fixed by the operator: retry")
        #expect(!"\(refusal)".contains("wrong horse"))
        #expect("\(refusal)".contains("535"), "\(refusal)")
        #expect(server.messages.isEmpty)
        #expect(server.failedLogins == 1)
    }

    @Test func aCertificateFromAnotherCAIsRefused() async throws {
        let fixture = try Self.fixture()
        let otherCA = try TestCertificateAuthority(name: "someone else")
        let server = try await SMTPTestServer(tls: fixture.store)
        defer { Task { await server.close() } }
        let client = SMTPClient(settings: Self.settings(port: server.port, ca: otherCA.caCertificatePath), heloName: "pds.example.com")
        await #expect(throws: SMTPError.self) {
            try await client.send(Self.message.rendered(unixTime: 0, messageID: "a@b.c"), to: ["alice@example.net"])
        }
        #expect(server.messages.isEmpty)
        #expect(server.failedLogins == 0, "no credentials may be sent before the certificate checked out")
    }

    @Test func aCertificateForAnotherNameIsRefused() async throws {
        let fixture = try Self.fixture(name: "mail.elsewhere.test")
        let ca = fixture.ca
        let leaf = try ca.issue("other", dnsNames: ["mail.elsewhere.test"])
        let store = try TLSContextStore(files: [.init(certificateChainPath: leaf.chain, privateKeyPath: leaf.key)])
        let server = try await SMTPTestServer(tls: store)
        defer { Task { await server.close() } }
        let client = SMTPClient(settings: Self.settings(port: server.port, ca: ca.caCertificatePath), heloName: "pds.example.com")
        await #expect(throws: SMTPError.self) {
            try await client.send(Self.message.rendered(unixTime: 0, messageID: "a@b.c"), to: ["alice@example.net"])
        }
        #expect(server.messages.isEmpty)
    }

    @Test func noSTARTTLSMeansNothingIsSent() async throws {
        let fixture = try Self.fixture()
        let server = try await SMTPTestServer(tls: fixture.store, behaviour: .init(offersSTARTTLS: false))
        defer { Task { await server.close() } }
        let client = SMTPClient(settings: Self.settings(port: server.port, ca: fixture.ca.caCertificatePath), heloName: "pds.example.com")
        let error = await #expect(throws: SMTPError.self) {
            try await client.send(Self.message.rendered(unixTime: 0, messageID: "a@b.c"), to: ["alice@example.net"])
        }
        #expect("\(try #require(error))".contains("STARTTLS"))
        #expect(server.messages.isEmpty)
        #expect(server.failedLogins == 0)
    }

    @Test func bytesInjectedAfterSTARTTLSAreRefused() async throws {
        let fixture = try Self.fixture()
        let server = try await SMTPTestServer(tls: fixture.store, behaviour: .init(injectAfterSTARTTLS: true))
        defer { Task { await server.close() } }
        let client = SMTPClient(settings: Self.settings(port: server.port, ca: fixture.ca.caCertificatePath), heloName: "pds.example.com")
        await #expect(throws: SMTPError.self) {
            try await client.send(Self.message.rendered(unixTime: 0, messageID: "a@b.c"), to: ["alice@example.net"])
        }
        #expect(server.messages.isEmpty)
    }

    @Test func aServerThatIsDownIsAConnectFailure() async throws {
        let fixture = try Self.fixture()
        let client = SMTPClient(settings: Self.settings(port: 1, ca: fixture.ca.caCertificatePath), heloName: "pds.example.com")
        let error = await #expect(throws: SMTPError.self) {
            try await client.send(Self.message.rendered(unixTime: 0, messageID: "a@b.c"), to: ["alice@example.net"])
        }
        guard case .connectFailed = error else { Issue.record("expected a connect failure, got \(String(describing: error))"); return }
    }
}
