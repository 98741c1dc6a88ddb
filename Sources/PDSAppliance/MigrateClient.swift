import ATData
import Foundation
import PDSNetwork

/// An XRPC error another server answered (https://atproto.com/specs/xrpc): its status and
/// `{"error", "message"}`.
public struct RemoteXRPCError: Error, CustomStringConvertible, Sendable {
    public let nsid: String
    public let status: Int
    public let name: String
    public let message: String
    public var description: String { "\(nsid): \(status) \(name)\(message.isEmpty ? "" : ": \(message)")" }
}

/// A minimal XRPC client for `pds migrate`: JSON queries and procedures, raw bodies (CARs, blobs)
/// and a bearer token. The old server's URL comes from a DID document, so the caller hands in the
/// guarded HTTP client (PDSNetwork's OutboundGuard).
struct MigrateClient: Sendable {
    let http: any OutboundHTTP
    let base: String
    var token: String?

    init(http: any OutboundHTTP, base: String, token: String? = nil) {
        self.http = http
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.token = token
    }

    /// Largest response read into memory (a repository CAR; blobs are bounded by their server).
    static let maxResponse = 2 << 30

    func url(_ nsid: String, _ params: [(String, String)]) throws -> URL {
        var components = URLComponents(string: base + "/xrpc/" + nsid)
        if !params.isEmpty { components?.queryItems = params.map { URLQueryItem(name: $0.0, value: $0.1) } }
        guard let url = components?.url else { throw RemoteXRPCError(nsid: nsid, status: 0, name: "BadURL", message: base) }
        return url
    }

    func headers(_ contentType: String?) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        if let token { headers.append(("Authorization", "Bearer " + token)) }
        if let contentType { headers.append(("Content-Type", contentType)) }
        return headers
    }

    /// GET, returning the raw body.
    func queryBytes(_ nsid: String, _ params: [(String, String)] = []) async throws -> [UInt8] {
        let response = try await http.send(OutboundRequest(method: "GET", url: try url(nsid, params), headers: headers(nil), timeout: 120),
                                           maxResponseBytes: Self.maxResponse)
        try Self.check(response, nsid)
        return response.body
    }

    /// GET, returning the JSON object.
    func query(_ nsid: String, _ params: [(String, String)] = []) async throws -> JSONObject {
        try Self.object(try await queryBytes(nsid, params), nsid)
    }

    /// POST of a JSON object (or of raw `bytes` with `contentType`); the JSON answer if any.
    @discardableResult
    func procedure(_ nsid: String, _ body: JSONObject? = nil, bytes: [UInt8]? = nil, contentType: String = "application/json",
                   token override: String? = nil) async throws -> JSONObject {
        var client = self
        if let override { client.token = override }
        let payload = bytes ?? body.map { JSONValue.object($0).serialized() }
        let response = try await http.send(OutboundRequest(method: "POST", url: try url(nsid, []),
                                                           headers: client.headers(payload == nil ? nil : contentType),
                                                           body: payload, timeout: 300), maxResponseBytes: 16 << 20)
        try Self.check(response, nsid)
        return response.body.isEmpty ? [:] : (try? Self.object(response.body, nsid)) ?? [:]
    }

    static func check(_ response: OutboundResponse, _ nsid: String) throws {
        guard response.status >= 300 else { return }
        let object = (try? JSONValue.parse(response.body))?.objectValue
        throw RemoteXRPCError(nsid: nsid, status: response.status, name: object?["error"]?.stringValue ?? "HTTP\(response.status)",
                              message: object?["message"]?.stringValue ?? "")
    }

    static func object(_ bytes: [UInt8], _ nsid: String) throws -> JSONObject {
        guard let object = (try? JSONValue.parse(bytes))?.objectValue else {
            throw RemoteXRPCError(nsid: nsid, status: 200, name: "InvalidResponse", message: "the answer is not a JSON object")
        }
        return object
    }
}
