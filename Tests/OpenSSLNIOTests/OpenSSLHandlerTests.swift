import NIOCore
import NIOEmbedded
@testable import OpenSSLNIO
import Testing

/// The handler between two `EmbeddedChannel`s: deterministic, no sockets, no clocks but the
/// embedded event loop's.
@Suite struct OpenSSLHandlerTests {
    @Test(arguments: [TLSVersion.tls13, .tls12])
    func handshakeNegotiatesPolicyAndCarriesData(version: TLSVersion) throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]])
        let pair = try TLSPair(server: contexts,
                               client: InProcessCertificates.client(trusting: certificates, maximumVersion: version),
                               serverName: "pds.test")
        try pair.connect()

        let serverInfo = try #require(pair.serverRecorder.events.first?.info)
        let clientInfo = try #require(pair.clientRecorder.events.first?.info)
        #expect(serverInfo.protocolVersion == (version == .tls13 ? "TLSv1.3" : "TLSv1.2"))
        #expect(clientInfo.protocolVersion == serverInfo.protocolVersion)
        #expect(serverInfo.alpn == "http/1.1")
        #expect(clientInfo.alpn == "http/1.1")
        #expect(serverInfo.serverName == "pds.test")
        let cipher = try #require(serverInfo.cipher)
        #expect(cipher.contains("GCM") || cipher.contains("CHACHA20"), "not an AEAD suite: \(cipher)")
        if version == .tls12 { #expect(cipher.hasPrefix("ECDHE-ECDSA-"), "\(cipher)") }

        pair.send("GET / HTTP/1.1\r\n\r\n", on: pair.client)
        try pair.shuttle()
        #expect(pair.serverRecorder.received == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        // 100 KiB the other way: several records, reassembled in order.
        let big = String(repeating: "0123456789abcdef", count: 6400)
        pair.send(big, on: pair.server)
        try pair.shuttle()
        #expect(pair.clientRecorder.received == Array(big.utf8))
        #expect(pair.serverRecorder.errors.isEmpty && pair.clientRecorder.errors.isEmpty)
    }

    @Test func writesBeforeTheHandshakeAreQueuedAndSentAfterIt() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]])
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates), serverName: "pds.test")
        let write = pair.send("early", on: pair.client)
        try pair.connect()
        try write.wait()
        #expect(pair.serverRecorder.received == Array("early".utf8))
    }

    @Test func queuedPlaintextIsBounded() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]])
        var limits = OpenSSLHandlerConfiguration()
        limits.maxPendingPlaintext = 1000
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates),
                               serverName: "pds.test", clientConfiguration: limits)
        let small = pair.send(String(repeating: "a", count: 600), on: pair.client)
        let tooMuch = pair.send(String(repeating: "b", count: 600), on: pair.client)
        #expect(throws: TLSError.bufferLimitExceeded(limit: 1000)) { try tooMuch.wait() }
        #expect(throws: TLSError.bufferLimitExceeded(limit: 1000)) { try small.wait() }
        #expect(pair.clientRecorder.tlsErrors.contains(.bufferLimitExceeded(limit: 1000)))
    }

    @Test func handshakeTimesOut() throws {
        let (contexts, _) = try InProcessCertificates.serverContexts([["pds.test"]])
        let channel = EmbeddedChannel()
        let recorder = Recorder()
        var configuration = OpenSSLHandlerConfiguration()
        configuration.handshakeTimeout = .seconds(10)
        try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: contexts, configuration: configuration))
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // Half a ClientHello record header: the handshake waits for more.
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01]))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(recorder.tlsErrors == [.handshakeTimedOut])
    }

    @Test(arguments: [
        // Plain HTTP on the TLS port: OpenSSL recognises it and fails without an alert.
        (Array("GET / HTTP/1.1\r\nHost: pds.test\r\n\r\n".utf8), false),
        // A handshake record whose body is not a ClientHello: a fatal alert goes back first.
        ([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xFF, 0xFF, 0xFF, 0xFF], true),
    ])
    func garbageFailsTheHandshakeAndCloses(bytes: [UInt8], expectAlert: Bool) throws {
        let (contexts, _) = try InProcessCertificates.serverContexts([["pds.test"]])
        let channel = EmbeddedChannel()
        let recorder = Recorder()
        try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: contexts))
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        #expect(!channel.isActive)
        guard case .handshakeFailed = recorder.tlsErrors.first else {
            Issue.record("expected a handshake failure, got \(recorder.errors)")
            return
        }
        #expect(recorder.received.isEmpty)
        var written: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { written += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        if expectAlert {
            // An alert record: type 21, then level 2 (fatal).
            #expect(written.count == 7 && written[0] == 0x15 && written[5] == 2, "\(written)")
        } else {
            #expect(written.isEmpty, "\(written)")
        }
    }

    @Test func closeSendsCloseNotifyAndThePeerCloses() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]])
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates), serverName: "pds.test")
        try pair.connect()
        let closed = pair.server.close()
        try pair.shuttle()
        try closed.wait()
        #expect(!pair.server.isActive)
        // The client saw close_notify (not a truncation), answered and closed itself.
        #expect(!pair.client.isActive)
        #expect(pair.clientRecorder.inactive)
        #expect(pair.clientRecorder.errors.isEmpty, "\(pair.clientRecorder.errors)")
    }

    @Test func closeNotifyIsAHalfCloseWhenTheChannelAllowsIt() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]])
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates), serverName: "pds.test")
        try pair.server.syncOptions!.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        let events = EventRecorder()
        try pair.server.pipeline.syncOperations.addHandler(events)
        // EmbeddedChannel turns any close into a full close: stand in for the socket's half-close.
        try pair.client.pipeline.syncOperations.addHandler(OutputHalfCloser(), position: .first)
        try pair.connect()
        // The client sends its request, then close_notify with a TCP half-close.
        pair.send("GET / HTTP/1.1\r\n\r\n", on: pair.client)
        pair.client.close(mode: .output, promise: nil)
        try pair.shuttle()
        #expect(pair.serverRecorder.received == Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(events.inputClosed == 1)
        #expect(pair.server.isActive)
        // The server may still answer, and the client reads it.
        pair.send("HTTP/1.1 200 OK\r\n\r\n", on: pair.server)
        try pair.shuttle()
        #expect(pair.clientRecorder.received == Array("HTTP/1.1 200 OK\r\n\r\n".utf8))
        // Then the server closes; its close_notify ends the client too.
        let closed = pair.server.close()
        try pair.shuttle()
        try closed.wait()
        #expect(!pair.client.isActive)
        #expect(pair.serverRecorder.errors.isEmpty, "\(pair.serverRecorder.errors)")
    }

    @Test func sniSelectsTheCertificateForTheName() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["a.test"], ["b.test", "*.b.test"]])
        for name in ["a.test", "b.test", "x.b.test"] {
            // The client verifies the name against the certificate, so a wrong pick fails the handshake.
            let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates), serverName: name)
            try pair.connect()
            #expect(pair.clientRecorder.events.count == 1, "\(name): \(pair.clientRecorder.errors)")
            #expect(pair.serverRecorder.events.first?.info.serverName == name)
        }
        // An unknown name gets the default (first) certificate, which the client rejects.
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates), serverName: "c.test")
        try pair.connect()
        #expect(pair.clientRecorder.events.isEmpty)
        guard case .handshakeFailed(let details) = pair.clientRecorder.tlsErrors.first else {
            Issue.record("expected a verification failure, got \(pair.clientRecorder.errors)")
            return
        }
        #expect(details.joined().contains("certificate verify"), "\(details)")
    }

    @Test func withoutACertificateOrdinaryHandshakesFail() throws {
        let contexts = try TLSServerContexts(contexts: [])
        let (certificate, _) = try InProcessCertificates.selfSigned(["pds.test"])
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: [certificate]), serverName: "pds.test")
        try pair.connect()
        #expect(pair.serverRecorder.events.isEmpty)
        #expect(!pair.server.isActive)
    }

    @Test func acmeTLSALPNChallengeIsAnsweredAndClosed() throws {
        let challenges = TLSALPNChallengeStore()
        let digest = [UInt8](repeating: 0xAB, count: 32)
        try challenges.set(name: "pds.test", keyAuthorizationDigest: digest, now: InProcessCertificates.wallClock())
        // No ordinary certificate at all: first issuance.
        let contexts = try TLSServerContexts(contexts: [], challenges: challenges)
        let challengeCertificate = try #require(challenges.entry(for: "pds.test")?.certificate)
        let pair = try TLSPair(server: contexts, client: SSLContext.unverifiedClientForTesting(),
                               serverName: "pds.test", alpn: ["acme-tls/1"])
        try pair.connect()

        #expect(pair.clientRecorder.events.first?.info.alpn == "acme-tls/1", "\(pair.clientRecorder.errors)")
        #expect(pair.clientHandler.peerCertificate?.der == challengeCertificate.der)
        // The application never sees a validation connection, and the server closes it.
        #expect(pair.serverRecorder.events.isEmpty)
        #expect(!pair.server.isActive)
        let presented = try #require(challengeCertificate.extensionValue(oid: TLSCertificate.acmeIdentifierOID))
        #expect(presented.critical)
        #expect(presented.value == [0x04, 0x20] + digest)
        #expect(challengeCertificate.dnsNames == ["pds.test"])
    }

    @Test func acmeTLSALPNWithoutAChallengeIsRefused() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]], challenges: TLSALPNChallengeStore())
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates),
                               serverName: "pds.test", alpn: ["acme-tls/1"])
        try pair.connect()
        #expect(pair.clientRecorder.events.isEmpty)
        #expect(pair.serverRecorder.events.isEmpty)
        #expect(!pair.server.isActive)
    }

    @Test func alpnWithoutHTTP11ProceedsWithoutALPN() throws {
        let (contexts, certificates) = try InProcessCertificates.serverContexts([["pds.test"]])
        let pair = try TLSPair(server: contexts, client: InProcessCertificates.client(trusting: certificates),
                               serverName: "pds.test", alpn: ["h2"])
        try pair.connect()
        let info = try #require(pair.serverRecorder.events.first?.info)
        #expect(info.alpn == nil)
    }
}
