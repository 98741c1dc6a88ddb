import NIOCore
import NIOEmbedded
@testable import OpenSSLNIO

/// Records what reaches the end of a pipeline: plaintext, user events, errors, inactivity.
final class Recorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var received: [UInt8] = []
    var events: [TLSHandshakeCompleted] = []
    var errors: [any Error] = []
    var inactive = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { events.append(event) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { errors.append(error) }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        context.fireChannelInactive()
    }

    var tlsErrors: [TLSError] { errors.compactMap { $0 as? TLSError } }
}

/// Counts `ChannelEvent.inputClosed` events.
final class EventRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var inputClosed = 0

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed? = event as? ChannelEvent { inputClosed += 1 }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Completes `close(mode: .output)` without passing it on (a socket would shut its write side;
/// EmbeddedChannel would close altogether).
final class OutputHalfCloser: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output { promise?.succeed() } else { context.close(mode: mode, promise: promise) }
    }
}

/// A client and a server `EmbeddedChannel`, each with an `OpenSSLHandler`, wired back to back.
final class TLSPair {
    let server = EmbeddedChannel()
    let client = EmbeddedChannel()
    let serverRecorder = Recorder()
    let clientRecorder = Recorder()
    let serverHandler: OpenSSLHandler
    let clientHandler: OpenSSLHandler

    init(server contexts: TLSServerContexts, client context: SSLContext, serverName: String,
         alpn: [String] = ["http/1.1"], serverConfiguration: OpenSSLHandlerConfiguration = .init(),
         clientConfiguration: OpenSSLHandlerConfiguration = .init()) throws {
        serverHandler = OpenSSLHandler(server: contexts, configuration: serverConfiguration)
        clientHandler = OpenSSLHandler(client: context, serverName: serverName, alpn: alpn, configuration: clientConfiguration)
        try server.pipeline.syncOperations.addHandler(serverHandler)
        try server.pipeline.syncOperations.addHandler(serverRecorder)
        try client.pipeline.syncOperations.addHandler(clientHandler)
        try client.pipeline.syncOperations.addHandler(clientRecorder)
    }

    /// Connects both channels (the client sends its ClientHello) and shuttles bytes until quiet.
    func connect() throws {
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try shuttle()
    }

    /// Moves written bytes from each side to the other until neither writes anything more.
    func shuttle() throws {
        var moved = true
        while moved {
            moved = false
            moved = try move(from: client, to: server) || moved
            moved = try move(from: server, to: client) || moved
        }
    }

    private func move(from source: EmbeddedChannel, to destination: EmbeddedChannel) throws -> Bool {
        var moved = false
        while let buffer = try source.readOutbound(as: ByteBuffer.self) {
            moved = true
            guard destination.isActive else { continue }
            try destination.writeInbound(buffer)
        }
        return moved
    }

    /// Writes and flushes `text` on `channel`'s pipeline (as the application would).
    @discardableResult
    func send(_ text: String, on channel: EmbeddedChannel) -> EventLoopFuture<Void> {
        channel.writeAndFlush(ByteBuffer(string: text))
    }
}

/// Certificates made in-process with this module's own X.509 code.
enum InProcessCertificates {
    /// A self-signed certificate and key for `names`, valid for a day around now.
    static func selfSigned(_ names: [String]) throws -> (certificate: TLSCertificate, key: TLSPrivateKey) {
        let key = try TLSPrivateKey.generateP256()
        let certificate = try TLSCertificate.selfSigned(key: key, dnsNames: names, notBefore: wallClock() - 3600, lifetime: 86400)
        return (certificate, key)
    }

    static func wallClock() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }

    static func serverContexts(_ names: [[String]], challenges: TLSALPNChallengeStore? = nil) throws
        -> (contexts: TLSServerContexts, certificates: [TLSCertificate]) {
        var contexts: [SSLContext] = []
        var certificates: [TLSCertificate] = []
        for group in names {
            let (certificate, key) = try selfSigned(group)
            contexts.append(try SSLContext.server(certificateChain: [certificate], privateKey: key))
            certificates.append(certificate)
        }
        return (try TLSServerContexts(contexts: contexts, challenges: challenges), certificates)
    }

    /// A client context trusting exactly `certificates`.
    static func client(trusting certificates: [TLSCertificate], maximumVersion: TLSVersion = .tls13) throws -> SSLContext {
        try SSLContext.client(trustRoots: .pem(certificates.flatMap(\.pem)), maximumVersion: maximumVersion)
    }
}

#if canImport(Glibc)
import Glibc
#endif
