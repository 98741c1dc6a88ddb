import Logging
import PDSCore
import ServiceLifecycle

/// Runs beside the HTTP server: prunes the event log to the retention window, and stops the hub
/// when the application shuts down so no new subscription starts.
public struct FirehoseService: Service {
    let hub: FirehoseHub
    let logger: Logger

    public init(hub: FirehoseHub, logger: Logger) {
        self.hub = hub
        self.logger = logger
    }

    /// How often to prune: a small fraction of the window, between a second and an hour.
    var pruneInterval: Duration {
        min(max(hub.retention / 12, .seconds(1)), .seconds(3600))
    }

    public func run() async throws {
        let hub = self.hub, logger = self.logger, interval = pruneInterval
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await hub.prune()
                } catch is CancellationError {
                    break
                } catch {
                    logger.error("firehose pruning failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
        hub.stop()
        // Each subscriber now sends its 1001 "going away" and unsubscribes. Services shut down
        // before the HTTP server, whose own shutdown closes the WebSockets left with 1000: give
        // the subscribers a moment to go first (a stalled one, whose socket is full, does not).
        let deadline = ContinuousClock.now + Self.drainTime
        while hub.subscriberCount > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// How long a shutdown waits for subscribers to send their close frames.
    static let drainTime: Duration = .seconds(2)
}
