import Foundation

/// An HTTP request this server makes to another service (PLC directory, AppView, relays, did:web
/// and handle resolution).
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: URL
    /// Header names as given; values are sent as is.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Seconds without progress before the request fails (the reference proxy: 10 s for headers);
    /// also the connect timeout.
    public var timeout: TimeInterval
    /// Whether a GET or HEAD follows redirects (at most 5; never from https to http). Off by
    /// default: a redirect is then returned as the response.
    public var followRedirects: Bool

    public init(method: String = "GET", url: URL, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeout: TimeInterval = 10, followRedirects: Bool = false) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.followRedirects = followRedirects
    }
}

/// A response whose body arrives as a stream of chunks.
public struct OutboundStream: Sendable {
    public var status: Int
    /// Header values by lowercased name.
    public var headers: [String: String]
    public var body: AsyncThrowingStream<[UInt8], any Error>

    public init(status: Int, headers: [String: String], body: AsyncThrowingStream<[UInt8], any Error>) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A fully read response.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body parsed as a JSON object, or nil.
    public var jsonObject: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

/// Why an outbound request did not produce a response.
public enum OutboundHTTPError: Error, CustomStringConvertible {
    case unreachable(String)
    case responseTooLarge(limit: Int)
    case badRedirect(String)
    /// The outbound guard would not connect there (a private, loopback, … address).
    case refused(OutboundRefusal)

    public var description: String {
        switch self {
        case .refused(let refusal): "\(refusal)"
        case .unreachable(let reason): "upstream unreachable: \(reason)"
        case .responseTooLarge(let limit): "upstream response larger than \(limit) bytes"
        case .badRedirect(let reason): "upstream redirect not followed: \(reason)"
        }
    }
}

/// The seam for outbound HTTP: production uses `NIOHTTPClient`; tests may inject another.
public protocol OutboundHTTP: Sendable {
    /// Sends `request` and returns as soon as the response head has arrived.
    func stream(_ request: OutboundRequest) async throws -> OutboundStream

    /// This client behind `guard`: for every request whose target someone else chose (did:web,
    /// handle well-known, DID service endpoints, OAuth client metadata and JWKS, Lexicon
    /// resolution). `NIOHTTPClient` returns a client sharing its connection pool.
    func guarded(by outboundGuard: OutboundGuard) -> any OutboundHTTP
}

extension OutboundHTTP {
    /// A stand-in that does no networking of its own (tests) has nothing to guard.
    public func guarded(by outboundGuard: OutboundGuard) -> any OutboundHTTP { self }
}

extension OutboundHTTP {
    /// Sends `request` and reads the whole body, failing past `maxResponseBytes`.
    public func send(_ request: OutboundRequest, maxResponseBytes: Int = 10 << 20) async throws -> OutboundResponse {
        let response = try await stream(request)
        var body: [UInt8] = []
        for try await chunk in response.body {
            body += chunk
            if body.count > maxResponseBytes { throw OutboundHTTPError.responseTooLarge(limit: maxResponseBytes) }
        }
        return OutboundResponse(status: response.status, headers: response.headers, body: body)
    }
}
