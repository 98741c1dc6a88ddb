import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1

/// Answers a connection whose first request cannot be parsed as HTTP/1.1, and closes it.
///
/// With the WebSocket upgrade pipeline, NIO's decoder error on the *first* request (a garbage
/// request line, an oversize header, a bad `Content-Length`, an HTTP/2 preface) arrives while the
/// upgrade decision is pending; Hummingbird turns off NIO's own protocol error handler and nothing
/// else answers, so the connection stayed open, unanswered, for as long as the client liked.
/// This handler sits at the end of the pipeline until the first request part reaches it: a parser
/// error before that is answered `400 InvalidRequest` (`431` for oversize headers, RFC 6585 §5)
/// with `Connection: close`, written below the HTTP encoder, and the connection is closed. Errors
/// on later requests are Hummingbird's (it answers 400 and closes).
final class HTTPParseErrorResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny

    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A request reached the application: from here on errors are Hummingbird's.
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !answered else { return }
        answered = true
        let tooLarge = parseError == .headerOverflow
        let status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"
        let message = tooLarge ? "Request header fields too large" : "Malformed HTTP request"
        let body = #"{"error":"InvalidRequest","message":"\#(message)"}"#
        let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json; charset=utf-8\r\nAccess-Control-Allow-Origin: *\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        // Written from the encoder's context the bytes go only through the handlers before it
        // (TLS, when there is one), not through the HTTP encoder.
        guard let below = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            context.close(promise: nil)
            return
        }
        below.writeAndFlush(NIOAny(ByteBuffer(string: response))).whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// A child channel that runs `base`'s setup and then appends an `HTTPParseErrorResponder`, and
/// runs the connection's task on the event loop of its channel (`EventLoopTaskExecutor`).
struct ParseErrorAnsweringChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    typealias Value = BaseChannel.Value
    let base: BaseChannel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try channel.pipeline.syncOperations.addHandler(HTTPParseErrorResponder())
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// `.http1WebSocketUpgrade(webSocketRouter:)` whose connections answer an unparseable first
    /// request (see `HTTPParseErrorResponder`).
    static func http1WebSocketUpgradeAnsweringParseErrors<WSResponderBuilder: HTTPResponderBuilder>(
        webSocketRouter: WSResponderBuilder
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            ParseErrorAnsweringChannel(base: HTTP1WebSocketUpgradeChannel(
                responder: responder, webSocketResponder: webSocketResponder, configuration: .init()))
        }
    }
}
