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
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}
