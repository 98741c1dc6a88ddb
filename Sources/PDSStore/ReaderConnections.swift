import GRDB
import Synchronization

/// Read-only connections for the short reads (`PDSDatabase.singleStatementRead`, `snapshotRead`),
/// handed out from a list under a mutex.
///
/// GRDB's `DatabasePool` hands out a reader through a barrier queue, a semaphore, a dispatch group
/// and a lock: about 30 k instructions a read, more than the SQLite statement of a getRecord
/// (docs/ARCHITECTURE.md, "Reads"). At most `limit` connections are opened, on first need; when
/// all are in use, `read` answers nil and the caller uses the pool, so a burst never waits here.
final class ReaderConnections: Sendable {
    private struct State {
        var idle: [DatabaseQueue] = []
        var opened = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let limit: Int
    private let open: @Sendable () throws -> DatabaseQueue

    init(limit: Int, open: @escaping @Sendable () throws -> DatabaseQueue) {
        self.limit = limit
        self.open = open
    }

    /// `body` on an idle connection, or on a new one while fewer than `limit` are open; nil
    /// (and `body` not run) when none is free or the connections are closed.
    func read<T>(_ body: (Database) throws -> T) throws -> T? {
        guard let connection = try checkOut() else { return nil }
        defer { checkIn(connection) }
        return try connection.unsafeRead(body)
    }

    private func checkOut() throws -> DatabaseQueue? {
        let (idle, mayOpen) = state.withLock { state -> (DatabaseQueue?, Bool) in
            guard !state.closed else { return (nil, false) }
            if let connection = state.idle.popLast() { return (connection, false) }
            guard state.opened < limit else { return (nil, false) }
            state.opened += 1
            return (nil, true)
        }
        if let idle { return idle }
        guard mayOpen else { return nil }
        do {
            return try open()
        } catch {
            state.withLock { $0.opened -= 1 }
            throw error
        }
    }

    private func checkIn(_ connection: DatabaseQueue) {
        let keep = state.withLock { state -> Bool in
            guard !state.closed else {
                state.opened -= 1
                return false
            }
            state.idle.append(connection)
            return true
        }
        if !keep { try? connection.close() }
    }

    /// Closes the idle connections and those in use as they come back; later reads answer nil.
    func close() {
        let idle = state.withLock { state -> [DatabaseQueue] in
            state.closed = true
            state.opened -= state.idle.count
            defer { state.idle = [] }
            return state.idle
        }
        for connection in idle { try? connection.close() }
    }
}
