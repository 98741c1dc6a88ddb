import Hummingbird
import NIOCore
import Synchronization

/// Keeps a request whose client said `Connection: close` from stalling that client.
///
/// Hummingbird drains an unread body itself on kept-alive connections, but when the request says
/// `Connection: close` it writes the response, half-closes and stops reading. A client that writes
/// its whole body before reading the response (Python `urllib`, `requests`) then blocks forever on
/// a full socket once a handler answered early (401 before the body, 413 past a limit). So for such
/// requests the body is read through a shared iterator that remembers where the handler stopped,
/// and after the response is ready the rest is drained, up to `limit`; past that the connection
/// is closed (the client sees a reset instead of hanging).
struct RequestBodyDrain: Sendable {
    /// Most bytes read and discarded after an early answer (about a second on a slow link).
    static let limit = 8 << 20

    private let shared: SharedBodyIterator

    /// Wraps `request`'s body when the client asked for the connection to close after this
    /// request and the request has a body; nil otherwise (the common case costs nothing).
    init?(wrapping request: inout Request) {
        guard let connection = request.headers[.connection], connection.lowercased().contains("close") else { return nil }
        let length = request.headers[.contentLength].flatMap(Int.init) ?? 0
        guard length > 0 || request.headers[.transferEncoding] != nil else { return nil }
        // A client that waits for `100 Continue` sends no body after an early answer: nothing
        // to drain, and waiting for one would hold the answer back for good.
        if let expect = request.headers[.expect], expect.lowercased().contains("100-continue") { return nil }
        shared = SharedBodyIterator(request.body.makeAsyncIterator())
        request.body = RequestBody(asyncSequence: SharedBodySequence(shared: shared))
    }

    /// Reads what the handler left unread; closes `channel` when more than `limit` bytes remain.
    func drain(channel: any Channel) async {
        var drained = 0
        do {
            while let chunk = try await shared.next() {
                drained += chunk.readableBytes
                if drained > Self.limit {
                    channel.close(promise: nil)
                    return
                }
            }
        } catch {
            // The body ended badly (client went away, parse error): nothing left to protect.
        }
    }
}

/// One body iterator shared by the handler and the drain, used by one of them at a time.
final class SharedBodyIterator: @unchecked Sendable {
    // @unchecked: the handler consumes first, the drain runs after the handler returned; never both.
    private var iterator: RequestBody.AsyncIterator
    private var finished = false

    init(_ iterator: RequestBody.AsyncIterator) { self.iterator = iterator }

    func next() async throws -> ByteBuffer? {
        if finished { return nil }
        guard let chunk = try await iterator.next() else {
            finished = true
            return nil
        }
        return chunk
    }
}

struct SharedBodySequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let shared: SharedBodyIterator

    struct AsyncIterator: AsyncIteratorProtocol {
        let shared: SharedBodyIterator
        func next() async throws -> ByteBuffer? { try await shared.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(shared: shared) }
}
