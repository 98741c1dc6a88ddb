import Hummingbird
import Logging
import PDSCore
import ServiceLifecycle

/// The Hummingbird application with the firehose stopped first on a graceful shutdown.
///
/// Hummingbird shuts its HTTP server down before the application's services (a service group
/// stops its members in reverse order, and the server comes last), and hummingbird-websocket
/// answers the server's shutdown by closing every WebSocket with 1000 "normal closure" from a
/// task of its own. A relay must instead get 1001 "going away" (https://atproto.com/specs/event-stream:
/// it reconnects later with its cursor). This wrapper's shutdown handler is registered before the
/// application starts, so it runs before the server hears of the shutdown; it stops the hub,
/// whose subscribers queue their 1001 on their channels right then (`FirehoseSubscriber.onShutdown`),
/// ahead of anything the server's shutdown writes.
public struct PDSApplicationService<Application: ApplicationProtocol>: Service {
    let application: Application
    let hub: FirehoseHub
    let logger: Logger

    public func run() async throws {
        let hub = hub
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            hub.stop()
        }
    }

    /// Runs in a service group of its own that shuts down gracefully on SIGTERM and SIGINT.
    public func runService() async throws {
        let group = ServiceGroup(configuration: .init(services: [self], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
