import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One open connection: its channel and the handler that runs its exchanges.
final class HTTP1Connection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<HTTP1ConnectionHandler>
    /// The pool it belongs to; nil for a one-off connection.
    let key: HTTP1PoolKey?

    init(channel: any Channel, handler: NIOLoopBound<HTTP1ConnectionHandler>, key: HTTP1PoolKey?) {
        self.channel = channel
        self.handler = handler
        self.key = key
    }
}

/// Which requests may share a connection: same scheme, same server name (the TLS name that was
/// verified), same port, and the same connect addresses (none: the name as NIO resolves it).
struct HTTP1PoolKey: Hashable, Sendable {
    let isSecure: Bool
    let host: String
    let port: Int
    let addresses: [String]

    init(_ request: HTTP1ClientRequest) {
        isSecure = request.isSecure
        host = request.host.lowercased()
        port = request.port
        addresses = request.connectAddresses?.map { "\($0)" } ?? []
    }
}

/// The idle connections per key, the number open (or opening) per key, and the requests waiting
/// for a free one.
final class HTTP1ConnectionPool: Sendable {
    enum Lease: Sendable {
        /// An idle connection, now the caller's.
        case reuse(HTTP1Connection)
        /// A slot: the caller opens the connection (and calls `slotFreed` if that fails).
        case connect
    }

    private struct Idle {
        let connection: HTTP1Connection
        /// Which idle period this is (its expiry timer carries the same number).
        let generation: UInt64
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Lease, any Error>
    }

    private struct Entry {
        var idle: [Idle] = []
        var open = 0
        var waiters: [Waiter] = []
        var isUnused: Bool { idle.isEmpty && open == 0 && waiters.isEmpty }
    }

    private struct State {
        var entries: [HTTP1PoolKey: Entry] = [:]
        var counter: UInt64 = 0
    }

    let configuration: HTTP1PoolConfiguration
    private let state = Mutex(State())

    init(configuration: HTTP1PoolConfiguration) {
        self.configuration = configuration
    }

    /// Connections open per key and idle per key, for tests and metrics.
    func counts(_ key: HTTP1PoolKey) -> (open: Int, idle: Int) {
        state.withLock { state in
            let entry = state.entries[key]
            return (entry?.open ?? 0, entry?.idle.count ?? 0)
        }
    }

    /// Every key's counts.
    var totals: (open: Int, idle: Int) {
        state.withLock { state in
            state.entries.values.reduce((0, 0)) { ($0.0 + $1.open, $0.1 + $1.idle.count) }
        }
    }

    /// An idle connection (one on `loop` first), or a slot to open one, or — with every slot
    /// taken — the first of either to come free within `timeout`.
    func acquire(_ key: HTTP1PoolKey, near loop: any EventLoop, timeout: TimeAmount) async throws -> Lease {
        let max = configuration.maxConnectionsPerServer
        if let lease = state.withLock({ Self.take(&$0, key: key, max: max, loop: loop) }) { return lease }
        return try await withCheckedThrowingContinuation { continuation in
            let waiting: UInt64? = state.withLock { state in
                if let lease = Self.take(&state, key: key, max: max, loop: loop) {
                    continuation.resume(returning: lease)
                    return nil
                }
                state.counter += 1
                state.entries[key, default: Entry()].waiters.append(Waiter(id: state.counter, continuation: continuation))
                return state.counter
            }
            guard let waiting else { return }
            loop.scheduleTask(in: timeout) { [self] in
                let expired: Waiter? = state.withLock { state in
                    guard let index = state.entries[key]?.waiters.firstIndex(where: { $0.id == waiting }) else { return nil }
                    return state.entries[key]?.waiters.remove(at: index)
                }
                expired?.continuation.resume(throwing: HTTP1ClientError.poolExhausted)
            }
        }
    }

    private static func take(_ state: inout State, key: HTTP1PoolKey, max: Int, loop: any EventLoop) -> Lease? {
        var entry = state.entries[key] ?? Entry()
        defer { state.entries[key] = entry }
        while !entry.idle.isEmpty {
            let index = entry.idle.lastIndex { $0.connection.channel.eventLoop === loop } ?? entry.idle.count - 1
            let idle = entry.idle.remove(at: index)
            // One that closed is dropped here; its slot is freed by `closed`.
            if idle.connection.channel.isActive { return .reuse(idle.connection) }
        }
        if entry.open < max {
            entry.open += 1
            return .connect
        }
        return nil
    }

    /// `connection` finished an exchange and may be reused; `serverLimit` is the server's
    /// `Keep-Alive: timeout=`.
    func release(_ connection: HTTP1Connection, serverLimit: TimeAmount?) {
        guard let key = connection.key else { return }
        var keep = configuration.idleTimeout
        if let serverLimit { keep = min(keep, serverLimit - .seconds(1)) }
        guard keep > .zero else {
            connection.channel.close(promise: nil)
            return
        }
        enum Next { case waiter(Waiter), idle(UInt64) }
        let next: Next = state.withLock { state in
            if let waiter = state.entries[key]?.waiters.first {
                state.entries[key]?.waiters.removeFirst()
                return .waiter(waiter)
            }
            state.counter += 1
            state.entries[key, default: Entry()].idle.append(Idle(connection: connection, generation: state.counter))
            return .idle(state.counter)
        }
        switch next {
        case .waiter(let waiter):
            waiter.continuation.resume(returning: .reuse(connection))
        case .idle(let generation):
            connection.channel.eventLoop.scheduleTask(in: keep) { [self] in
                let expired = state.withLock { state -> Bool in
                    guard let index = state.entries[key]?.idle.firstIndex(where: { $0.generation == generation }) else { return false }
                    state.entries[key]?.idle.remove(at: index)
                    return true
                }
                if expired { connection.channel.close(promise: nil) }
            }
        }
    }

    /// `connection` closed: its slot is free (for the first waiter, if any).
    func closed(_ connection: HTTP1Connection) {
        guard let key = connection.key else { return }
        freeSlot(key) { $0.idle.removeAll { $0.connection === connection } }
    }

    /// A connection that was to be opened in a slot was not.
    func slotFreed(_ key: HTTP1PoolKey) {
        freeSlot(key) { _ in }
    }

    private func freeSlot(_ key: HTTP1PoolKey, _ adjust: (inout Entry) -> Void) {
        let woken: Waiter? = state.withLock { state in
            guard var entry = state.entries[key] else { return nil }
            adjust(&entry)
            entry.open -= 1
            var woken: Waiter?
            if !entry.waiters.isEmpty {
                woken = entry.waiters.removeFirst()
                entry.open += 1
            }
            state.entries[key] = entry.isUnused ? nil : entry
            return woken
        }
        woken?.continuation.resume(returning: .connect)
    }
}
