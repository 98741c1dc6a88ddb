import HummingbirdCore
import Logging
import NIOCore
import OpenSSLNIO

/// Sets up a child channel with TLS (system OpenSSL, `OpenSSLHandler`) in front of a base
/// channel's setup, as HummingbirdTLS's `TLSChannel` does with NIOSSL (measured, docs/ARCHITECTURE.md).
///
/// Each connection takes the store's current contexts, so a reloaded certificate applies to new
/// connections without a restart.
///
/// ```swift
/// let server = HTTPServerBuilder { responder in
///     OpenSSLChannel(HTTP1Channel(responder: responder), contexts: store)
/// }
/// ```
public struct OpenSSLChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    public typealias Value = BaseChannel.Value

    /// The channel set up after TLS.
    public let baseChannel: BaseChannel
    /// Where the server certificates come from.
    public let contexts: TLSContextStore
    /// Handshake timeout and buffer limits of each connection.
    public let configuration: OpenSSLHandlerConfiguration

    /// - Parameters:
    ///   - baseChannel: the channel to wrap (HTTP/1.1, HTTP/1.1 with WebSocket upgrade, …).
    ///   - contexts: the server certificates.
    ///   - configuration: handshake timeout and buffer limits.
    public init(_ baseChannel: BaseChannel, contexts: TLSContextStore, configuration: OpenSSLHandlerConfiguration = .init()) {
        self.baseChannel = baseChannel
        self.contexts = contexts
        self.configuration = configuration
    }

    /// Adds the TLS handler, then runs the base channel's setup.
    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                OpenSSLHandler(server: contexts.current, configuration: configuration))
        }.flatMap {
            baseChannel.setup(channel: channel, logger: logger)
        }
    }

    /// Forwards to the base channel.
    public func handle(value: Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
    }
}

extension OpenSSLChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    public var responder: HTTPChannelHandler.Responder { baseChannel.responder }
}
