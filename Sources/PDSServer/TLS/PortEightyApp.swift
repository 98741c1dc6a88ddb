import ACME
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The plain-HTTP listener on port 80: ACME HTTP-01 responses, and a redirect to HTTPS for
/// everything else (nothing else is ever served over plain HTTP).
public enum PortEightyApp {
    /// The application.
    ///
    /// - Parameters:
    ///   - http01: the key authorizations being served (filled by the ACME manager).
    ///   - hostname: the canonical host redirects go to when the request names another host.
    ///   - knownHosts: hosts a request may keep in its redirect (the hostname, the handle).
    ///   - httpsPort: the TLS port, written into redirects unless it is 443.
    ///   - bindAddress: listen address.
    ///   - port: listen port (80; 0 for an ephemeral port in tests).
    ///   - logger: the logger.
    ///   - onServerRunning: receives the listening channel.
    public static func make(
        http01: HTTP01ChallengeStore, hostname: String, knownHosts: [String] = [], httpsPort: Int = 443,
        bindAddress: String = "0.0.0.0", port: Int = 80, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            responder: PortEightyResponder(http01: http01, hostname: hostname,
                                           knownHosts: Set(([hostname] + knownHosts).map { $0.lowercased() }),
                                           httpsPort: httpsPort),
            configuration: .init(address: .hostname(bindAddress, port: port), serverName: nil),
            onServerRunning: onServerRunning,
            logger: logger)
    }
}

/// HTTP-01 answers and redirects (RFC 8555 §8.3; the CA follows no redirect of ours for a
/// challenge path, so those are answered directly).
struct PortEightyResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let http01: HTTP01ChallengeStore
    let hostname: String
    let knownHosts: Set<String>
    let httpsPort: Int

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix(HTTP01ChallengeStore.pathPrefix), request.method == .get || request.method == .head {
            let token = String(path.dropFirst(HTTP01ChallengeStore.pathPrefix.count))
            guard let keyAuthorization = http01.keyAuthorization(for: token) else {
                return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "no such challenge\n")))
            }
            return Response(status: .ok, headers: [.contentType: "text/plain"],
                            body: .init(byteBuffer: ByteBuffer(string: keyAuthorization)))
        }
        return Response(status: redirectStatus(request.method), headers: [.location: location(request), .contentLength: "0"])
    }

    /// 301 keeps GET/HEAD simple for old clients; 308 keeps the method and body of the rest.
    func redirectStatus(_ method: HTTPRequest.Method) -> HTTPResponse.Status {
        method == .get || method == .head ? .movedPermanently : .permanentRedirect
    }

    /// `https://<host>[:port]<path>?<query>`, with the request's host when it is one of ours
    /// (never an arbitrary Host header: no open redirect).
    func location(_ request: Request) -> String {
        var host = hostname
        if let authority = request.head.authority {
            let name = authority.split(separator: ":", maxSplits: 1).first.map(String.init)?.lowercased() ?? ""
            if knownHosts.contains(name) { host = name }
        }
        let port = httpsPort == 443 ? "" : ":\(httpsPort)"
        let query = request.uri.query.map { "?" + $0 } ?? ""
        return "https://\(host)\(port)\(request.uri.path)\(query)"
    }
}
