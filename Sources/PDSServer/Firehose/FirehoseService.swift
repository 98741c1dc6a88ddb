import Logging
import PDSCore
import ServiceLifecycle

/// Runs beside the HTTP server: prunes the event log to the retention window.
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
        // Already stopped by `PDSApplicationService` before the HTTP server began to shut down
        // (services stop after it); this covers a server run without it.
        hub.stop()
    }
}
