import Foundation
import Multiformats
import NIOCore
import NIOPosix
import OpenSSLNIO
import Synchronization

/// A small SMTP submission server on loopback for the client's unit tests (the interop suite
/// uses aiosmtpd): greets, answers EHLO (STARTTLS before TLS, AUTH PLAIN/LOGIN after),
/// switches to TLS on STARTTLS with a test CA's certificate, checks AUTH against one user,
/// and records the envelope and the message after undoing dot-stuffing.
final class SMTPTestServer: Sendable {
    struct Received: Sendable, Equatable {
        var mailFrom: String
        var recipients: [String]
        var data: [UInt8]
        var authMechanism: String?
        var overTLS: Bool
    }

    struct Behaviour: Sendable {
        var username = "mailer"
        var password = "s3cret pass"
        /// Offer only these mechanisms after TLS.
        var mechanisms = ["PLAIN", "LOGIN"]
        /// Offer STARTTLS at all.
        var offersSTARTTLS = true
        /// Append a plain-text line right after the STARTTLS reply (an injection).
        var injectAfterSTARTTLS = false
        /// TLS from the first byte (port 465 style) instead of STARTTLS.
        var implicitTLS = false
        /// Refuse every recipient with 550 (a permanent failure).
        var refuseRecipients = false
    }

    /// What the sessions saw, shared with them.
    final class Record: Sendable {
        let received = Mutex<[Received]>([])
        let authFailures = Mutex<Int>(0)
    }

    let record = Record()
    let channel: any Channel
    /// The messages received so far.
    var messages: [Received] { record.received.withLock { $0 } }
    /// Refused AUTH attempts so far.
    var failedLogins: Int { record.authFailures.withLock { $0 } }
    var port: Int { channel.localAddress?.port ?? 0 }

    init(tls store: TLSContextStore, behaviour: Behaviour = .init()) async throws {
        let record = record
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if behaviour.implicitTLS { try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(server: store)) }
                    try channel.pipeline.syncOperations.addHandler(
                        Session(store: store, behaviour: behaviour, record: record))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

    final class Session: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let store: TLSContextStore
        let behaviour: Behaviour
        let record: Record
        var buffer: [UInt8] = []
        var tls = false
        var authenticated: String?
        var loginStep = 0
        var loginUser = ""
        var mailFrom: String?
        var recipients: [String] = []
        var inData = false
        var data: [UInt8] = []

        init(store: TLSContextStore, behaviour: Behaviour, record: Record) {
            self.store = store
            self.behaviour = behaviour
            self.record = record
            tls = behaviour.implicitTLS
        }

        func channelActive(context: ChannelHandlerContext) {
            send("220 test.local ESMTP ready", context: context)
            context.fireChannelActive()
        }

        func send(_ text: String, context: ChannelHandlerContext) {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text + "\r\n")), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            buffer += Array(unwrapInboundIn(data).readableBytesView)
            while let end = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                if line.last == 13 { line.removeLast() }
                handle(line, context: context)
            }
        }

        func handle(_ line: [UInt8], context: ChannelHandlerContext) {
            if inData {
                if line == [UInt8(ascii: ".")] {
                    inData = false
                    record.received.withLock {
                        $0.append(Received(mailFrom: mailFrom ?? "", recipients: recipients, data: self.data,
                                           authMechanism: authenticated, overTLS: tls))
                    }
                    send("250 2.0.0 queued as 1", context: context)
                } else {
                    self.data += (line.first == UInt8(ascii: ".") ? Array(line.dropFirst()) : line) + [13, 10]
                }
                return
            }
            let text = String(decoding: line, as: UTF8.self)
            if loginStep > 0 { return continueLogin(text, context: context) }
            let upper = text.uppercased()
            if upper.hasPrefix("EHLO ") {
                if tls {
                    send("250-test.local\r\n250-AUTH \(behaviour.mechanisms.joined(separator: " "))\r\n250 8BITMIME", context: context)
                } else {
                    send(behaviour.offersSTARTTLS ? "250-test.local\r\n250-PIPELINING\r\n250 STARTTLS" : "250 test.local", context: context)
                }
            } else if upper == "STARTTLS", !tls {
                send("220 2.0.0 ready to start TLS" + (behaviour.injectAfterSTARTTLS ? "\r\n250 injected" : ""), context: context)
                tls = true
                try? context.pipeline.syncOperations.addHandler(OpenSSLHandler(server: store), position: .first)
            } else if upper.hasPrefix("AUTH PLAIN ") {
                let decoded = (try? Base64.decode(text.dropFirst(11), padding: .optional)) ?? []
                let parts = decoded.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                check(parts.count == 3 ? parts[1] : "", parts.count == 3 ? parts[2] : "", mechanism: "PLAIN", context: context)
            } else if upper == "AUTH LOGIN" {
                loginStep = 1
                send("334 VXNlcm5hbWU6", context: context)
            } else if upper.hasPrefix("MAIL FROM:") {
                guard authenticated != nil else { return send("530 5.7.0 Authentication required", context: context) }
                mailFrom = Self.address(text)
                send("250 2.1.0 OK", context: context)
            } else if upper.hasPrefix("RCPT TO:") {
                if behaviour.refuseRecipients { return send("550 5.1.1 no such mailbox", context: context) }
                recipients.append(Self.address(text))
                send("250 2.1.5 OK", context: context)
            } else if upper == "DATA" {
                inData = true
                data = []
                send("354 End data with <CR><LF>.<CR><LF>", context: context)
            } else if upper == "QUIT" {
                send("221 2.0.0 bye", context: context)
                context.close(promise: nil)
            } else {
                send("502 5.5.2 command not recognised", context: context)
            }
        }

        func continueLogin(_ text: String, context: ChannelHandlerContext) {
            let decoded = String(decoding: (try? Base64.decode(text, padding: .optional)) ?? [], as: UTF8.self)
            if loginStep == 1 {
                loginUser = decoded
                loginStep = 2
                send("334 UGFzc3dvcmQ6", context: context)
            } else {
                loginStep = 0
                check(loginUser, decoded, mechanism: "LOGIN", context: context)
            }
        }

        func check(_ user: String, _ password: String, mechanism: String, context: ChannelHandlerContext) {
            if tls, user == behaviour.username, password == behaviour.password {
                authenticated = mechanism
                send("235 2.7.0 Authentication successful", context: context)
            } else {
                record.authFailures.withLock { $0 += 1 }
                send("535 5.7.8 Authentication credentials invalid", context: context)
            }
        }

        static func address(_ text: String) -> String {
            guard let open = text.firstIndex(of: "<"), let close = text.lastIndex(of: ">") else { return "" }
            return String(text[text.index(after: open)..<close])
        }
    }
}
