import ATData
import ATRepo
import ATSyntax
import Foundation
import Hummingbird
import Logging
import PDSServer
import PDSStore
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The firehose tests run against the shared test server (TestServer.swift).
typealias FirehoseTestServer = TestServer

/// Repository writes and log queries the firehose tests drive directly.
extension TestServer {
    /// One commit creating a post (through the repo writer, as the XRPC handlers do).
    @discardableResult
    func createPost(_ text: String, padding: Int = 0) async throws -> (rkey: String, cid: CID) {
        let rkey = TIDClock.shared.next().string
        var record: [String: DataValue] = [
            "$type": "app.bsky.feed.post", "text": .string(text), "createdAt": .string(AccountStore.timestamp()),
        ]
        if padding > 0 { record["padding"] = .string(String(repeating: "x", count: padding)) }
        let outcome = try await state.repoWriter().apply([.create(collection: "app.bsky.feed.post", rkey: rkey, record: .map(record))])
        return (rkey, outcome.results[0].cid!)
    }

    func updatePost(rkey: String, text: String) async throws -> CID {
        let record: DataValue = .map(["$type": "app.bsky.feed.post", "text": .string(text), "createdAt": .string(AccountStore.timestamp())])
        let outcome = try await state.repoWriter().apply([.update(collection: "app.bsky.feed.post", rkey: rkey, record: record, swap: .any)])
        return outcome.results[0].cid!
    }

    func deletePost(rkey: String) async throws {
        _ = try await state.repoWriter().apply([.delete(collection: "app.bsky.feed.post", rkey: rkey, swap: .any)])
    }

    /// The newest seq in the log.
    func highWaterMark() async throws -> Int64 { try await EventLogStore(database: state.database).highWaterMark() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension sockaddr_in {
    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// A blocking TCP connection to the loopback server (the tests' transport, no client library).
final class LoopbackSocket: @unchecked Sendable {
    // @unchecked: the descriptor is only read from one thread at a time; writes take `writeLock`.
    let fd: Int32
    let writeLock = Mutex(())

    /// Connects; `receiveBuffer` shrinks SO_RCVBUF first (a consumer that reads slowly fills up fast).
    init(port: Int, receiveBuffer: Int? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in.loopback(port: UInt16(port))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestFailure("connect() to port \(port) failed")
        }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        try writeLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { throw TestFailure("send() failed") }
                offset += written
            }
        }
    }

    /// Exactly `count` bytes, or nil at end of stream.
    func read(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let received = bytes[offset...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received < 0, errno == EINTR { continue }
            guard received > 0 else { return nil }
            offset += received
        }
        return bytes
    }

    /// Bytes up to and including the blank line ending an HTTP head.
    func readHead() -> String? {
        var head: [UInt8] = []
        while !(head.count >= 4 && head.suffix(4) == [13, 10, 13, 10]) {
            guard let byte = read(1) else { return nil }
            head += byte
            if head.count > 65_536 { return nil }
        }
        return String(decoding: head, as: UTF8.self)
    }

    func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }
}

/// Plain HTTP/1.1 requests over `LoopbackSocket`.
enum RawHTTP {
    struct Response {
        let status: Int
        let head: String
        let body: String
    }

    static func get(port: Int, path: String, headers: [String] = []) throws -> Response {
        let socket = try LoopbackSocket(port: port)
        let request = (["GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close"] + headers + ["", ""])
            .joined(separator: "\r\n")
        try socket.write(Array(request.utf8))
        guard let head = socket.readHead() else { throw TestFailure("no response head") }
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var body: [UInt8] = []
        while let byte = socket.read(1) { body += byte }
        return Response(status: status, head: head, body: String(decoding: body, as: UTF8.self))
    }
}

/// What a firehose client receives.
enum FirehoseMessage: Sendable {
    case binary([UInt8])
    case close(code: UInt16?)
    case end
}

/// A minimal RFC 6455 client for the firehose tests: upgrade handshake, masked client frames,
/// reassembly of fragmented messages, pong and close replies. A reader thread queues what arrives
/// (so a test can also model a consumer that does not read at all: it never starts the thread).
final class FirehoseTestClient: Sendable {
    let socket: LoopbackSocket
    let queue = Mutex<[FirehoseMessage]>([])
    let started = Mutex(false)

    /// Connects and upgrades. `cursor` goes in the query string as given.
    init(port: Int, cursor: Int64? = nil, receiveBuffer: Int? = nil, startReading: Bool = true) throws {
        socket = try LoopbackSocket(port: port, receiveBuffer: receiveBuffer)
        let query = cursor.map { "?cursor=\($0)" } ?? ""
        let request = [
            "GET /xrpc/com.atproto.sync.subscribeRepos\(query) HTTP/1.1", "Host: 127.0.0.1:\(port)",
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13", "", "",
        ].joined(separator: "\r\n")
        try socket.write(Array(request.utf8))
        guard let head = socket.readHead() else { throw TestFailure("no upgrade response") }
        guard head.hasPrefix("HTTP/1.1 101") else { throw TestFailure("upgrade refused: \(head)") }
        if startReading { self.startReading() }
    }

    /// Starts the reader thread (once).
    func startReading() {
        guard started.withLock({ let was = $0; $0 = true; return !was }) else { return }
        let thread = Thread { [self] in readLoop() }
        thread.start()
    }

    private func readLoop() {
        var message: [UInt8] = []
        while true {
            guard let head = socket.read(2) else { break }
            let fin = head[0] & 0x80 != 0
            let opcode = head[0] & 0x0F
            var length = UInt64(head[1] & 0x7F)
            if length == 126 {
                guard let extended = socket.read(2) else { break }
                length = UInt64(extended[0]) << 8 | UInt64(extended[1])
            } else if length == 127 {
                guard let extended = socket.read(8) else { break }
                length = extended.reduce(0) { $0 << 8 | UInt64($1) }
            }
            let payload = length == 0 ? [] : (socket.read(Int(length)) ?? [])
            guard payload.count == Int(length) else { break }
            switch opcode {
            case 0x0, 0x1, 0x2:
                message += payload
                if fin {
                    let complete = message
                    queue.withLock { $0.append(.binary(complete)) }
                    message = []
                }
            case 0x8:
                let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
                queue.withLock { $0.append(.close(code: code)) }
                try? sendFrame(opcode: 0x8, payload: Array(payload.prefix(2)))
            case 0x9:
                try? sendFrame(opcode: 0xA, payload: payload)
            default:
                break
            }
        }
        queue.withLock { $0.append(.end) }
    }

    /// Sends one masked frame (RFC 6455 §5.3: every client frame is masked).
    func sendFrame(opcode: UInt8, payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try socket.write(frame)
    }

    /// Sends a close frame (1000) and lets the server finish the handshake.
    func close() {
        try? sendFrame(opcode: 0x8, payload: [0x03, 0xE8])
    }

    /// The next message, waiting up to `timeout`; nil on timeout.
    func next(timeout: Duration = .seconds(10)) async throws -> FirehoseMessage? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let message = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return message }
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The next decoded frame (header and body), or the close/end that came instead.
    func nextFrame(timeout: Duration = .seconds(10)) async throws -> DecodedFrame {
        guard let message = try await next(timeout: timeout) else { throw TestFailure("timed out waiting for a frame") }
        switch message {
        case .binary(let bytes): return try DecodedFrame(bytes)
        case .close(let code): return .closed(code)
        case .end: return .ended
        }
    }

    /// Reads `#commit`/other event frames until `count` events have arrived.
    func events(_ count: Int, timeout: Duration = .seconds(20)) async throws -> [FirehoseEvent] {
        var events: [FirehoseEvent] = []
        while events.count < count {
            let frame = try await nextFrame(timeout: timeout)
            guard case .event(let event) = frame else { throw TestFailure("expected an event after \(events.count), got \(frame)") }
            events.append(event)
        }
        return events
    }
}

/// One event frame decoded.
struct FirehoseEvent: Sendable, CustomStringConvertible {
    let type: String
    let body: DataValue
    let bytes: [UInt8]
    var seq: Int64 { body["seq"]?.integerValue ?? -1 }
    var description: String { "\(type)@\(seq)" }
}

enum DecodedFrame: Sendable, CustomStringConvertible {
    case event(FirehoseEvent)
    case info(name: String, message: String?)
    case error(name: String, message: String?)
    case closed(UInt16?)
    case ended

    /// Splits header ‖ body with `DAGCBOR.decodePrefix` (ATPROTO.md §12).
    init(_ bytes: [UInt8]) throws {
        let (header, used) = try DAGCBOR.decodePrefix(bytes[...])
        let body = try DAGCBOR.decode(bytes[used...])
        switch header["op"]?.integerValue {
        case 1:
            let type = header["t"]?.stringValue ?? ""
            if type == "#info" {
                self = .info(name: body["name"]?.stringValue ?? "", message: body["message"]?.stringValue)
            } else {
                self = .event(FirehoseEvent(type: type, body: body, bytes: bytes))
            }
        case -1:
            guard header["t"] == nil else { throw TestFailure("error header with t") }
            self = .error(name: body["error"]?.stringValue ?? "", message: body["message"]?.stringValue)
        default:
            throw TestFailure("unknown op in \(header)")
        }
    }

    var description: String {
        switch self {
        case .event(let event): "event \(event)"
        case .info(let name, _): "#info \(name)"
        case .error(let name, _): "error \(name)"
        case .closed(let code): "close \(code.map(String.init) ?? "-")"
        case .ended: "end of stream"
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

extension FirehoseTestClient {
    /// Drops the TCP connection without a close handshake.
    func shutdownSocket() { socket.shutdownBoth() }
}
