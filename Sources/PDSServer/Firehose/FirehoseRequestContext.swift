import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of the WebSocket upgrade router (separate from `PDSRequestContext`, which
/// stays a plain HTTP context).
public struct FirehoseRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<FirehoseRequestContext>
    /// The connection. Kept so a consumer whose socket stays full can be cut off: a write to it
    /// would otherwise wait for as long as the peer refuses to read.
    ///
    /// Weak: hummingbird-websocket keeps the upgrade's handler in a box inside the context
    /// (`WebSocketHandlerReference`) together with a copy of the context, a cycle it never
    /// breaks, so every upgraded connection's context outlives it. Held strongly here, the cycle
    /// kept the whole channel and its pipeline too: 5.1–5.3 KB of malloc'd memory never freed
    /// per subscriber connection (`process_malloc_in_use_bytes` around 300 connections), 1.5 KB
    /// with this. The connection's task holds the channel while it runs (`SubscribeRepos.serve`).
    public weak var channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}
