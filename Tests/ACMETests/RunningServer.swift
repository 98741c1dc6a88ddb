import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// A Hummingbird application running in its own service group (no signal handlers) for a test.
final class RunningServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Starts the service `make` builds; `make` gets the callback to pass as `onServerRunning`.
    static func start(_ make: (@escaping @Sendable (any Channel) async -> Void) -> any Service) async throws -> RunningServer {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let service = make { channel in continuation.yield(channel.localAddress?.port ?? 0) }
        var logger = Logger(label: "acme-test")
        logger.logLevel = .warning
        let group = ServiceGroup(configuration: .init(services: [service], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var bound = 0
        for await port in ports {
            bound = port
            break
        }
        guard bound > 0 else {
            throw Failure(description: "the server did not start: \(String(describing: await task.result))")
        }
        return RunningServer(port: bound, group: group, task: task)
    }

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.group = group
        self.task = task
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// A counter the callbacks of a test can bump.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() { lock.lock(); value += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return value }
}
