import Foundation
import NIOCore
import NIOPosix
import OpenSSLNIO
import TestSupport
import Testing

/// Answers every request with `200 ok` and closes (the simplest HTTP/1.1 server).
final class TinyHTTPResponder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var request: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        request += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard String(decoding: request, as: UTF8.self).contains("\r\n\r\n") else { return }
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// A TLS server on a loopback port, driven by the real `openssl s_client`.
@Suite struct LoopbackServerTests {
    static func withServer<T>(_ store: TLSContextStore, _ body: (Int) async throws -> T) async throws -> T {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: store))
                    try channel.pipeline.syncOperations.addHandler(TinyHTTPResponder())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        do {
            let result = try await body(port)
            try await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }

    static func sClient(port: Int, ca: String, _ options: [String]) async throws -> (status: Int32, output: String) {
        try await TestCertificateAuthority.runDetached(
            "openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "pds.test", "-CAfile", ca,
                        "-verify_return_error", "-ign_eof"] + options,
            input: Data("GET / HTTP/1.1\r\nHost: pds.test\r\n\r\n".utf8))
    }

    @Test func sClientNegotiatesTLS13AndTLS12WithAEADAndALPN() async throws {
        let ca = try TestCertificateAuthority()
        let ec = try ca.issue("ec", dnsNames: ["pds.test"])
        let rsa = try ca.issue("rsa", dnsNames: ["rsa.pds.test"], keyType: "rsa")
        let store = try TLSContextStore(files: [.init(certificateChainPath: ec.chain, privateKeyPath: ec.key),
                                                .init(certificateChainPath: rsa.chain, privateKeyPath: rsa.key)])
        try await Self.withServer(store) { port in
            let v13 = try await Self.sClient(port: port, ca: ca.caCertificatePath, ["-tls1_3", "-alpn", "http/1.1"])
            #expect(v13.status == 0, "\(v13.output)")
            #expect(v13.output.contains("New, TLSv1.3, Cipher is TLS_"), "\(v13.output)")
            #expect(v13.output.contains("ALPN protocol: http/1.1"), "\(v13.output)")
            #expect(v13.output.contains("Verify return code: 0 (ok)"), "\(v13.output)")
            #expect(v13.output.contains("HTTP/1.1 200 OK"), "\(v13.output)")

            let v12 = try await Self.sClient(port: port, ca: ca.caCertificatePath, ["-tls1_2", "-alpn", "h2,http/1.1"])
            #expect(v12.status == 0, "\(v12.output)")
            #expect(v12.output.contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-"), "\(v12.output)")
            #expect(v12.output.contains("GCM") || v12.output.contains("CHACHA20"), "\(v12.output)")
            #expect(v12.output.contains("ALPN protocol: http/1.1"), "\(v12.output)")
            #expect(v12.output.contains("HTTP/1.1 200 OK"), "\(v12.output)")

            // SNI picks the RSA certificate for its name (and the ECDHE-RSA suites with it).
            let rsa12 = try await TestCertificateAuthority.runDetached(
                "openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "rsa.pds.test", "-CAfile", ca.caCertificatePath,
                            "-verify_return_error", "-verify_hostname", "rsa.pds.test", "-tls1_2", "-ign_eof"],
                input: Data("GET / HTTP/1.1\r\n\r\n".utf8))
            #expect(rsa12.status == 0, "\(rsa12.output)")
            #expect(rsa12.output.contains("Cipher is ECDHE-RSA-AES") || rsa12.output.contains("Cipher is ECDHE-RSA-CHACHA20"), "\(rsa12.output)")
        }
    }

    @Test func oldProtocolsAndNonAEADCiphersAreRefused() async throws {
        let ca = try TestCertificateAuthority()
        let ec = try ca.issue("ec", dnsNames: ["pds.test"])
        let rsa = try ca.issue("rsa", dnsNames: ["rsa.pds.test"], keyType: "rsa")
        let store = try TLSContextStore(files: [.init(certificateChainPath: ec.chain, privateKeyPath: ec.key),
                                                .init(certificateChainPath: rsa.chain, privateKeyPath: rsa.key)])
        try await Self.withServer(store) { port in
            // CBC suites (with and without ECDHE) and static RSA key exchange.
            for cipher in ["ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256", "AES256-SHA"] {
                let result = try await Self.sClient(port: port, ca: ca.caCertificatePath, ["-tls1_2", "-cipher", cipher])
                #expect(result.status != 0, "\(cipher) was accepted: \(result.output)")
                #expect(!result.output.contains("HTTP/1.1 200 OK"))
                // Refused by the server (an alert), not by the client's own configuration.
                #expect(result.output.contains("alert handshake failure"), "\(cipher): \(result.output)")
            }
            // TLS 1.1 (s_client at security level 0 so that the client would offer it).
            let old = try await Self.sClient(port: port, ca: ca.caCertificatePath, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
            #expect(old.status != 0, "TLS 1.1 was accepted: \(old.output)")
            #expect(!old.output.contains("HTTP/1.1 200 OK"))
            #expect(old.output.contains("alert protocol version"), "\(old.output)")
        }
    }
}
