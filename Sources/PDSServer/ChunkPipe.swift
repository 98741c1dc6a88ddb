import Foundation

/// A bounded hand-off from a synchronous producer thread to an async consumer.
///
/// CAR export walks the repository with synchronous block reads (SQLite, MST loading); the HTTP
/// response body is written asynchronously. The producer runs on its own thread and blocks when
/// `capacity` chunks are waiting, so a slow client holds back the walk instead of the walk
/// buffering the whole repository in memory.
final class ChunkPipe: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    private let condition = NSCondition()
    private var chunks: [[UInt8]] = []
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    private var waiter: CheckedContinuation<[UInt8]?, any Error>?
    let capacity: Int

    init(capacity: Int = 4) { self.capacity = capacity }

    struct Cancelled: Error {}

    /// Producer: hands over a chunk, blocking while the pipe is full. Throws once the consumer
    /// has gone away, which stops the walk.
    func put(_ chunk: [UInt8]) throws {
        condition.lock()
        while chunks.count >= capacity && !cancelled { condition.wait() }
        if cancelled { condition.unlock(); throw Cancelled() }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: chunk)
            return
        }
        chunks.append(chunk)
        condition.unlock()
    }

    /// Producer: no more chunks (with the error that ended the walk, if any).
    func finish(error: (any Error)? = nil) {
        condition.lock()
        finished = true
        failure = error
        let waiter = self.waiter
        self.waiter = nil
        condition.unlock()
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }

    /// Consumer: the next chunk, or nil at the end.
    func next() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if !chunks.isEmpty {
                let chunk = chunks.removeFirst()
                condition.signal()
                condition.unlock()
                continuation.resume(returning: chunk)
            } else if finished {
                let failure = self.failure
                condition.unlock()
                if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) }
            } else {
                waiter = continuation
                condition.unlock()
            }
        }
    }

    /// Consumer: stop (client went away); unblocks the producer.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `produce` on a new thread, feeding this pipe.
    func startProducer(_ produce: @escaping @Sendable (ChunkPipe) throws -> Void) {
        let thread = Thread { [self] in
            do {
                try produce(self)
                finish()
            } catch {
                finish(error: error)
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}
