import ATIdentity
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import PDSCore
import PDSNetwork
import PDSStore
import ServiceLifecycle

/// Builds the Hummingbird application: basic routes, the XRPC dispatcher and middleware.
public enum PDSApplication {
    /// The version reported by `/xrpc/_health` and the banner.
    public static let version = PDSVersion.string

    /// The application for `server` listening per its configuration. `onServerRunning` receives
    /// the listening channel (its `localAddress` tells the port when the configuration says 0).
    /// With `tls`, the port speaks HTTPS/WSS (system OpenSSL) and TLS's services (certificate
    /// reloads, ACME, the port-80 listener) run with the server, and so do `services` (the
    /// appliance passes the blob mirror here).
    public static func make(
        server: PDSServices, logger: Logger, tls: TLSServing? = nil, services: [any Service] = [],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> PDSApplicationService<some ApplicationProtocol> {
        let router = Router(context: PDSRequestContext.self)
        let metrics = Metrics()
        router.add(middleware: RequestLogMiddleware(logger: logger, trustedProxies: server.config.rateLimits.trustedProxies))
        router.add(middleware: SecurityHeadersMiddleware(servesTLS: tls != nil))
        if server.config.metricsEnabled { router.add(middleware: MetricsMiddleware(metrics: metrics)) }
        let activity = ActivityHistory()
        router.add(middleware: ActivityMiddleware(history: activity))
        router.add(middleware: ErrorAndCORSMiddleware(logger: logger))
        addBasicRoutes(to: router, server: server, metrics: metrics)
        SubscribeRepos.addPlainRoute(to: router)
        OAuthRoom.register(on: router, server: server, activity: activity)
        let xrpc = XRPCRouter.endpoints(server)
        router.on("/xrpc/:nsid", method: .get) { request, context in
            try await xrpc.dispatch(request, context: context, nsid: context.parameters.get("nsid") ?? "")
        }
        router.on("/xrpc/:nsid", method: .post) { request, context in
            try await xrpc.dispatch(request, context: context, nsid: context.parameters.get("nsid") ?? "")
        }
        router.on("/xrpc/:nsid", method: .head) { request, context in
            try await xrpc.dispatch(request, context: context, nsid: context.parameters.get("nsid") ?? "")
        }
        for method in [HTTPRequest.Method.put, .delete, .patch] {
            router.on("/xrpc/:nsid", method: method) { request, _ -> Response in
                throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method))")
            }
        }
        let webSocketRouter = SubscribeRepos.webSocketRouter(hub: server.firehose)
        let application = Application(
            router: router,
            // HTTP/1.1 with WebSocket upgrade on the same port: subscribeRepos (https://atproto.com/specs/event-stream).
            server: tls?.serverBuilder(webSocketRouter: webSocketRouter) ?? .http1WebSocketUpgradeAnsweringParseErrors(webSocketRouter: webSocketRouter),
            configuration: .init(
                address: .hostname(server.config.bindAddress, port: server.config.port),
                serverName: nil),
            // Background work that lives and stops with the server.
            services: [
                TemporaryBlobSweeper(index: server.blobIndex, logger: logger),
                FirehoseService(hub: server.firehose, logger: logger),
                OAuthMaintenance(oauth: server.oauth, logger: logger),
            ] + (tls?.services ?? []) + services,
            onServerRunning: onServerRunning,
            logger: logger)
        return PDSApplicationService(application: application, hub: server.firehose, logger: logger)
    }

    static func addBasicRoutes(to router: Router<PDSRequestContext>, server: PDSServices, metrics: Metrics) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: banner)))
        }
        router.get("/robots.txt") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: "# Hello!\n\n# Crawling the public API is allowed\nUser-agent: *\nAllow: /\n")))
        }
        // Handle resolution over HTTPS for a handle served by this host (https://atproto.com/specs/handle).
        router.get("/.well-known/atproto-did") { _, _ in
            guard let account = try server.accounts.account() else { throw XRPCError.notFound("no user by that handle") }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: account.did)))
        }
        // A did:web account's document lives here (did:web:<hostname>, https://atproto.com/specs/did).
        router.get("/.well-known/did.json") { _, _ in
            guard let account = try server.accounts.account(), account.did == server.config.webDID,
                  let did = try? DID(account.did), let handle = try? Handle(account.handle)
            else { throw XRPCError.notFound() }
            let document = DIDDocument.web(did: did, handle: handle, signingKey: server.keys.signingKey.publicKey,
                                           pdsEndpoint: server.config.publicURL)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: document.jsonBytes)))
        }
        if server.config.metricsEnabled {
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(string: await metrics.render(state: server))))
            }
        }
        router.get("/xrpc/_health") { _, _ in
            // The reference answers 503 when its database does not respond (the reference PDS).
            let healthy = await server.database.isResponding()
            let body = healthy
                ? #"{"version":"\#(version)"}"#
                : #"{"version":"\#(version)","error":"Service Unavailable"}"#
            return Response(status: healthy ? .ok : .serviceUnavailable,
                            headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }

    static let banner = """
             __                         __
            /\\ \\__                     /\\ \\__
        __  \\ \\ ,_\\  _____   _ __   ___\\ \\ ,_\\   ___
      /'__'\\ \\ \\ \\/ /\\ '__'\\/\\''__\\/ __'\\ \\ \\/  / __'\\
     /\\ \\L\\.\\_\\ \\ \\_\\ \\ \\L\\ \\ \\ \\//\\ \\L\\ \\ \\ \\_/\\ \\L\\ \\
     \\ \\__/.\\_\\\\ \\__\\\\ \\ ,__/\\ \\_\\\\ \\____/\\ \\__\\ \\____/
      \\/__/\\/_/ \\/__/ \\ \\ \\/  \\/_/ \\/___/  \\/__/\\/___/
                       \\ \\_\\
                        \\/_/

    This is an AT Protocol Personal Data Server (aka, an atproto PDS), hosting one account.

    Most API routes are under /xrpc/

          Code: https://github.com/bluesky-social/atproto (protocol)
      Protocol: https://atproto.com

    """
}
