// The floor for a request on this machine: a bare SwiftNIO HTTP/1.1 server (NIO's own HTTP/1
// pipeline and one handler, no Hummingbird, no middleware, no database) answering
// `GET /xrpc/_health` with the same body and headers as `pds`. Benchmarks/connection-floor.py
// measures it with server-bench.py's client pattern (a new connection per request, and kept-alive).
//
//     nio-floor [--port 0] [--threads N]
import NIOCore
import NIOHTTP1
import NIOPosix

final class HealthHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let body = #"{"version":"0.1.0"}"#
    var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            headers.add(name: "Content-Length", value: String(Self.body.utf8.count))
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: Self.body)))), promise: nil)
            let close = !keepAlive
            let flushed = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if close { flushed.whenComplete { [context] _ in context.close(promise: nil) } }
        }
    }
}

var port = 0
var threads = System.coreCount
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--port": port = Int(arguments.next() ?? "") ?? 0
    case "--threads": threads = Int(arguments.next() ?? "") ?? threads
    default: fatalError("usage: nio-floor [--port N] [--threads N]")
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(HealthHandler())
        }
    }
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
let channel = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
print("listening on port \(channel.localAddress?.port ?? 0)")
try channel.closeFuture.wait()
