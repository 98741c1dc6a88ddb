import ATAuth
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PDSCore
import PDSNetwork

/// Service proxying (the reference PDS): every XRPC method without a local handler goes to the
/// service named by `atproto-proxy: <did>#<service>`, or by default to the configured AppView,
/// with a service-auth token in place of the session token. Status, body and the relevant headers
/// come back streamed.
struct ServiceProxy: Sendable {
    let config: PDSConfig
    /// For the configured AppView.
    let http: any OutboundHTTP
    /// `http` behind the outbound guard, for service endpoints taken from DID documents.
    let remoteHTTP: any OutboundHTTP
    let identity: any IdentityDirectory
    let serviceTokens: ServiceTokenIssuer
    let authenticator: Authenticator
    let logger: Logger

    /// Request headers passed on (the reference's list); everything else, cookies and the
    /// session token included, stays here.
    static let forwardedRequestHeaders = [
        "accept-language", "atproto-accept-labelers", "x-bsky-topics", "content-type", "content-encoding",
    ]
    /// Response headers passed back.
    static let forwardedResponseHeaders = [
        "content-type", "content-language", "content-encoding", "atproto-repo-rev", "atproto-content-labelers", "retry-after",
    ]

    /// `atproto-proxy: <did>#<service id>` (https://atproto.com/specs/xrpc#inter-service-authentication-jwt, "Service proxying").
    static let proxyHeader = HTTPField.Name("atproto-proxy")!

    /// Where a proxied request goes: the service DID (the token's audience) and its base URL.
    struct ProxyTarget {
        let did: String
        let serviceID: String
        let url: String
        /// From a DID document rather than the configuration: goes through the outbound guard.
        var isRemote = false
    }

    /// Every NSID without a local handler goes through `proxy` (which authenticates the caller
    /// itself, after the checks that answer 501 for methods nobody serves).
    func register(on router: inout XRPCRouter) {
        router.fallback = { request, context in
            let nsid = String(request.uri.path.dropFirst("/xrpc/".count))
            return try await proxy(request, context: context, nsid: nsid)
        }
    }

    /// Methods sent to the AppView when no `atproto-proxy` header names a service: the app.bsky
    /// namespace, and the com.atproto reads the AppView answers for a PDS (the reference PDS).
    /// The reference sends *every* unknown NSID there; an unknown method of another namespace is
    /// answered here with 501 instead, which is what it is.
    static func isAppViewMethod(_ nsid: String) -> Bool {
        nsid.hasPrefix("app.bsky.") || nsid.hasPrefix("com.atproto.label.") || nsid == "com.atproto.identity.resolveDid"
            || nsid == "com.atproto.identity.resolveIdentity" || nsid == "com.atproto.moderation.createReport"
    }

    /// The target of `request`: its `atproto-proxy` header, else the AppView for its methods.
    func proxyTarget(_ request: Request, nsid: String) async throws -> ProxyTarget {
        guard let header = request.headers[Self.proxyHeader] else {
            // `proxy` already answered 501 for methods that are not the AppView's.
            guard !config.appViewURL.isEmpty else { throw XRPCError.methodNotImplemented(nsid) }
            return ProxyTarget(did: config.appViewDID, serviceID: "bsky_appview", url: config.appViewURL)
        }
        let parts = header.split(separator: "#", omittingEmptySubsequences: false)
        guard parts.count == 2, !header.contains(" ") else { throw XRPCError.invalidRequest("invalid proxy header format") }
        let did = String(parts[0]), serviceID = String(parts[1])
        guard !did.isEmpty, DID.isValid(did) else { throw XRPCError.invalidRequest("no did specified in proxy header") }
        guard !serviceID.isEmpty else { throw XRPCError.invalidRequest("no service id specified in proxy header") }
        if did == config.appViewDID && serviceID == "bsky_appview" && !config.appViewURL.isEmpty {
            return ProxyTarget(did: did, serviceID: serviceID, url: config.appViewURL)
        }
        do {
            return ProxyTarget(did: did, serviceID: serviceID, url: try await identity.serviceEndpoint(did: did, fragment: serviceID),
                               isRemote: true)
        } catch {
            throw XRPCError.invalidRequest("could not resolve proxy did service url")
        }
    }

    /// True when the request's proxy header is absent or names the configured AppView: the
    /// methods served locally "for the AppView" (preferences) are then answered here.
    func isForDefaultAppView(_ request: Request) -> Bool {
        guard let header = request.headers[Self.proxyHeader] else { return true }
        return header == config.appViewDID + "#bsky_appview"
    }

    /// Forwards `request` for `nsid` and streams the answer back.
    func proxy(_ request: Request, context: PDSRequestContext, nsid: String, audience: String? = nil, lxm: String? = nil) async throws -> Response {
        Self.streamedResponse(try await proxyUpstream(request, nsid: nsid, audience: audience, lxm: lxm))
    }

    /// Sends `request` upstream and returns the response head with the body still streaming.
    /// Unreachable upstreams and upstream 5xx are `UpstreamFailure` (502), as the reference.
    func proxyUpstream(_ request: Request, nsid: String, audience: String? = nil, lxm: String? = nil) async throws -> OutboundStream {
        guard NSID.isValid(nsid) else { throw XRPCError.invalidRequest("Invalid XRPC method name: \(nsid)") }
        guard request.method == .get || request.method == .head || request.method == .post else {
            throw XRPCError.invalidRequest("Incorrect HTTP method (\(request.method))")
        }
        if request.headers[Self.proxyHeader] == nil && !Self.isAppViewMethod(nsid) {
            throw XRPCError.methodNotImplemented(nsid)
        }
        let auth = try authenticator.authenticate(request, .activeSession)
        if MethodPolicy.protectedMethods.contains(nsid) { throw XRPCError.badRequest("InvalidToken", "Bad token method") }
        if MethodPolicy.isPrivileged(nsid) && !auth.isPrivileged { throw XRPCError.badRequest("InvalidToken", "Bad token method") }
        let target = try await proxyTarget(request, nsid: nsid)
        // OAuth sessions need an `rpc:` permission (or the transition scope) for this method at
        // this service (https://atproto.com/specs/permission "rpc").
        if let grant = auth.oauth, !grant.allowsRPC(lxm: lxm ?? nsid, audience: target.did + "#" + target.serviceID) {
            throw XRPCError(.forbidden, "ScopeMissingError", "Missing required scope: rpc:\(lxm ?? nsid)?aud=\(target.did)#\(target.serviceID)")
        }

        var path = target.url + "/xrpc/" + nsid
        if let query = request.uri.query, !query.isEmpty { path += "?" + query }
        guard let url = URL(string: path) else { throw XRPCError.invalidRequest("invalid proxy target URL") }
        // The reference sends the bare DID as the audience for now (the reference PDS).
        let token = try serviceTokens.token(audience: audience ?? target.did, lxm: lxm ?? nsid)
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer " + token)]
        for name in Self.forwardedRequestHeaders {
            if let field = HTTPField.Name(name), let value = request.headers[field] { headers.append((name, value)) }
        }
        // Identity unless the client asked otherwise: the body passes through untouched either way.
        headers.append(("accept-encoding", request.headers[.acceptEncoding] ?? "identity"))
        var body: [UInt8]?
        if request.method == .post {
            let limit = config.blobUploadLimit
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw XRPCError.payloadTooLarge() }
            do {
                body = Array(try await request.body.collect(upTo: limit).readableBytesView)
            } catch is NIOTooManyBytesError {
                throw XRPCError.payloadTooLarge()
            }
        }
        let upstream: OutboundStream
        do {
            upstream = try await (target.isRemote ? remoteHTTP : http).stream(
                OutboundRequest(method: request.method.rawValue, url: url, headers: headers, body: body, timeout: 10))
        } catch OutboundHTTPError.refused(let refusal) {
            throw XRPCError.invalidRequest("refused to proxy to \(refusal.host): \(refusal.reason)")
        } catch {
            logger.warning("proxy upstream unreachable", metadata: ["nsid": "\(nsid)", "target": "\(target.url)", "error": "\(error)"])
            throw XRPCError(.badGateway, "UpstreamFailure", "Upstream service unreachable")
        }
        if upstream.status >= 500 {
            // The upstream's own error name when it gave one, with the reference's 502.
            var bytes: [UInt8] = []
            for try await chunk in upstream.body where bytes.count < 65536 { bytes += chunk }
            let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
            throw XRPCError(.badGateway, "UpstreamFailure", (object?["message"] as? String) ?? "Upstream service failure")
        }
        return upstream
    }

    /// The client's response for an upstream one: its status, the forwarded headers, its body.
    static func streamedResponse(_ upstream: OutboundStream) -> Response {
        Response(status: HTTPResponse.Status(code: upstream.status), headers: forwardedHeaders(upstream),
                 body: ResponseBody(asyncSequence: upstream.body.map { ByteBuffer(bytes: $0) }))
    }

    static func forwardedHeaders(_ upstream: OutboundStream) -> HTTPFields {
        var fields = HTTPFields()
        for name in forwardedResponseHeaders {
            if let value = upstream.headers[name], let field = HTTPField.Name(name) { fields[field] = value }
        }
        return fields
    }
}
