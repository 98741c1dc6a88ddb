// The HTTP/1.1 client's response parser. OpenSSLNIO's HTTP1Client parses responses with
// NIOHTTP1's decoder (`addHTTPClientHandlers()`: HTTPRequestEncoder + HTTPResponseDecoder over
// llhttp); this target runs that same pipeline on an EmbeddedChannel: a request goes out, the
// input comes back in chunks, and the parts are consumed as HTTP1ClientHandler consumes them.
import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        [
            ("ok", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
            ("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0;ext=1\r\nTrailer: x\r\n\r\n"),
            ("close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nnot found"),
            ("continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"),
            ("redirect", "HTTP/1.0 301 Moved\r\nLocation: https://example.com/\r\nContent-Length: 0\r\n\r\n"),
            ("folded", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\nz"),
        ].map { ($0.0, [0, 0] + Array($0.1.utf8)) }
    }
    return 0
}

let methods: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .CONNECT]

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var cursor = ByteCursor(inputBytes(data, size))
    let method = methods[Int(cursor.byte()) % methods.count]
    let chunk = Int(cursor.byte()) + 1
    let response = cursor.rest

    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    do {
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: "/xrpc/app.bsky.feed.getTimeline")
        head.headers.add(name: "Host", value: "example.com")
        head.headers.add(name: "Connection", value: "close")
        try channel.writeOutbound(HTTPClientRequestPart.head(head))
        try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        while let _ = try channel.readOutbound(as: ByteBuffer.self) {}
        var offset = 0
        while offset < response.count {
            let end = min(response.count, offset + chunk)
            try channel.writeInbound(ByteBuffer(bytes: response[offset..<end]))
            offset = end
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                consume(part)
            }
        }
        // The peer closes: a body delimited by the connection ends here.
        channel.pipeline.fireChannelInactive()
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
            consume(part)
        }
    } catch {
        // Malformed responses are errors on the channel: what HTTP1Client reports as a failure.
    }
    return 0
}

/// What HTTP1ClientHandler does with each part: status and headers into the response, body
/// bytes copied out.
func consume(_ part: HTTPClientResponsePart) {
    switch part {
    case .head(let head):
        let status = Int(head.status.code)
        require(status >= 0 && status <= 999, "status code \(status)")
        _ = head.headers.map { ($0.name, $0.value) }
    case .body(let buffer):
        let bytes = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
        require(bytes.count == buffer.readableBytes, "body part of \(buffer.readableBytes) bytes copied as \(bytes.count)")
    case .end(let trailers):
        _ = trailers?.map { ($0.name, $0.value) }
    }
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
