import NIOCore
import NIOPosix
import OpenSSLNIO
import Synchronization

/// One SMTP connection: lines in, commands out, TLS added at the start (implicit TLS) or after
/// STARTTLS. Used by one task at a time (`SMTPClient`).
final class SMTPConnection {
    private let channel: any Channel
    private var lines: AsyncThrowingStream<String, any Error>.AsyncIterator
    private let received: SMTPLineHandler.Counter
    private var consumed = 0
    private let timeout: TimeAmount

    private init(channel: any Channel, lines: AsyncThrowingStream<String, any Error>, received: SMTPLineHandler.Counter, timeout: TimeAmount) {
        self.channel = channel
        self.lines = lines.makeAsyncIterator()
        self.received = received
        self.timeout = timeout
    }

    /// Connects (with TLS first for implicit TLS).
    static func open(settings: SMTPSettings, tls: SSLContext, timeout: TimeAmount, group: any EventLoopGroup) async throws -> SMTPConnection {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: String.self, throwing: (any Error).self)
        let counter = SMTPLineHandler.Counter()
        let implicitTLS = settings.security == .implicitTLS
        let host = settings.host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(30))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if implicitTLS { try pipeline.addHandler(OpenSSLHandler(client: tls, serverName: host, alpn: [])) }
                    try pipeline.addHandler(SMTPLineHandler(lines: continuation, counter: counter))
                }
            }
        do {
            let channel = try await bootstrap.connect(host: settings.host, port: settings.port).get()
            return SMTPConnection(channel: channel, lines: stream, received: counter, timeout: timeout)
        } catch {
            throw SMTPError.connectFailed("\(settings.host):\(settings.port): \(error)")
        }
    }

    /// Reads one reply; a reply that is not 2xx (or 3xx when `intermediate`) is thrown.
    @discardableResult
    func expect(_ stage: String, positive: Bool = true, intermediate: Bool = false) async throws -> SMTPReply {
        var parser = SMTPReplyParser()
        let timer = channel.eventLoop.scheduleTask(in: timeout) { [channel] in channel.close(promise: nil) }
        defer { timer.cancel() }
        while true {
            let line: String?
            do { line = try await lines.next() } catch let error as TLSError {
                throw SMTPError.tls("\(error)")
            } catch {
                throw SMTPError.protocolViolation("connection failed during \(stage): \(error)")
            }
            guard let line else {
                throw SMTPError.protocolViolation("the server closed the connection during \(stage)")
            }
            consumed += 1
            let parsed: SMTPReply?
            do { parsed = try parser.consume(line) } catch { throw SMTPError.protocolViolation(error.description) }
            if let reply = parsed {
                let accepted = intermediate ? reply.isIntermediate : reply.isPositive
                guard accepted else { throw SMTPError.rejected(stage: stage, reply: reply) }
                return reply
            }
        }
    }

    /// Sends one command line and reads its reply.
    func command(_ line: String, stage: String, expectIntermediate: Bool = false) async throws -> SMTPReply {
        guard SMTPDialogue.isSafeArgument(line) else { throw SMTPError.protocolViolation("\(stage): a line break in a command") }
        return try await send(raw: Array((line + "\r\n").utf8), stage: stage, intermediate: expectIntermediate)
    }

    /// Sends bytes as they are and reads the reply.
    func send(raw bytes: [UInt8], stage: String, intermediate: Bool = false) async throws -> SMTPReply {
        do {
            try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get()
        } catch let error as TLSError {
            throw SMTPError.tls("\(error)")
        } catch {
            throw SMTPError.protocolViolation("connection failed during \(stage): \(error)")
        }
        return try await expect(stage, intermediate: intermediate)
    }

    /// Puts TLS under the line handler after the server's 220 to STARTTLS. Refuses if the
    /// server sent anything beyond that reply in plain text: such bytes could be injected by an
    /// attacker and later read as if they came over TLS (RFC 3207 §6).
    func startTLS(_ tls: SSLContext, serverName: String) async throws {
        let counter = received
        let seen = consumed
        do {
            try await channel.eventLoop.submit { [channel] in
                guard counter.lines.load(ordering: .relaxed) == seen, counter.partialBytes.load(ordering: .relaxed) == 0 else {
                    throw SMTPError.protocolViolation("the server sent data after its STARTTLS reply")
                }
                try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(client: tls, serverName: serverName, alpn: []), position: .first)
            }.get()
        } catch let error as SMTPError {
            throw error
        } catch {
            // The server closed the connection after its 220 (ChannelError.ioOnClosedChannel).
            throw SMTPError.protocolViolation("connection failed during STARTTLS: \(error)")
        }
    }

    /// Says QUIT and closes (the message is already accepted; a failure here changes nothing).
    func quit() async {
        _ = try? await command("QUIT", stage: "QUIT")
        close()
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Splits the server's bytes into lines (CRLF, or a bare LF leniently) for `SMTPConnection`.
final class SMTPLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// What has arrived, for the STARTTLS check.
    final class Counter: Sendable {
        let lines = Atomic<Int>(0)
        let partialBytes = Atomic<Int>(0)
    }

    /// Longest line accepted (RFC 5321 §4.5.3.1.5 allows 512 octets for a reply line).
    static let maxLine = 4096

    private var buffer = ByteBuffer()
    private let continuation: AsyncThrowingStream<String, any Error>.Continuation
    private let counter: Counter

    init(lines: AsyncThrowingStream<String, any Error>.Continuation, counter: Counter) {
        continuation = lines
        self.counter = counter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        buffer.writeBuffer(&chunk)
        while let newline = buffer.readableBytesView.firstIndex(of: 10) {
            let length = newline - buffer.readerIndex + 1
            guard var bytes = buffer.readBytes(length: length) else { break }
            bytes.removeLast()
            if bytes.last == 13 { bytes.removeLast() }
            counter.lines.add(1, ordering: .relaxed)
            continuation.yield(String(decoding: bytes, as: UTF8.self))
        }
        buffer.discardReadBytes()
        counter.partialBytes.store(buffer.readableBytes, ordering: .relaxed)
        if buffer.readableBytes > Self.maxLine {
            continuation.finish(throwing: SMTPError.protocolViolation("the server sent a line longer than \(Self.maxLine) bytes"))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }
}
