import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import OpenSSLNIO

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS (system OpenSSL).
    ///
    /// `HTTPServerBuilder.buildChildChannel` is package-scoped in Hummingbird, so an arbitrary
    /// builder cannot be wrapped; these builders name the base channel themselves.
    ///
    /// - Parameters:
    ///   - contexts: the server certificates (reloaded by the store).
    ///   - configuration: the HTTP/1.1 channel configuration.
    ///   - tls: handshake timeout and buffer limits.
    public static func http1OverOpenSSL(
        contexts: TLSContextStore, configuration: HTTP1Channel.Configuration = .init(),
        tls: OpenSSLHandlerConfiguration = .init()
    ) -> HTTPServerBuilder {
        .init { responder in
            OpenSSLChannel(HTTP1Channel(responder: responder, configuration: configuration), contexts: contexts, configuration: tls)
        }
    }

    /// HTTP/1.1 with WebSocket upgrade over TLS (system OpenSSL): `.http1WebSocketUpgrade`
    /// behind `OpenSSLChannel`, so `wss://` works on the same port as `https://`.
    ///
    /// - Parameters:
    ///   - webSocketRouter: the router deciding WebSocket upgrades.
    ///   - contexts: the server certificates (reloaded by the store).
    ///   - configuration: the WebSocket upgrade channel configuration.
    ///   - tls: handshake timeout and buffer limits.
    public static func http1WebSocketUpgradeOverOpenSSL<WSResponderBuilder: HTTPResponderBuilder>(
        webSocketRouter: WSResponderBuilder, contexts: TLSContextStore,
        configuration: HTTP1WebSocketUpgradeChannel.Configuration = .init(),
        tls: OpenSSLHandlerConfiguration = .init()
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            OpenSSLChannel(
                ParseErrorAnsweringChannel(base: HTTP1WebSocketUpgradeChannel(
                    responder: responder, webSocketResponder: webSocketResponder, configuration: configuration)),
                contexts: contexts, configuration: tls)
        }
    }
}
