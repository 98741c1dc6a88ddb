import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One HTTP/1.1 request, already split into what goes on the wire (callers parse URLs; this
/// module has no Foundation).
public struct HTTP1ClientRequest: Sendable {
    public var method: String
    /// `https` (TLS through `OpenSSLHandler`, verified against the client's trust roots and
    /// `host`) or plain `http`.
    public var isSecure: Bool
    /// DNS name or IP literal (IPv6 without brackets): where to connect, the SNI name and the name
    /// the certificate must carry.
    public var host: String
    public var port: Int
    /// The request target in origin form (`/path?query`).
    public var target: String
    /// Header names as given. `Host`, `Content-Length`, `Transfer-Encoding` and `Connection` are
    /// set by the client and ignored here.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// The `Host` header. Nil: the host (IPv6 literals bracketed) and the port unless it is the
    /// scheme's default. Callers with a URL pass its authority as written (a signed request, e.g.
    /// S3's SigV4, covers the exact value).
    public var hostHeader: String?
    /// Where to connect instead of resolving `host` (tried in order): addresses the caller has
    /// resolved and checked itself (the outbound guard), so no second lookup can answer
    /// differently. `host` still names the server for SNI, the certificate check and `Host`.
    public var connectAddresses: [SocketAddress]?

    public init(method: String = "GET", isSecure: Bool, host: String, port: Int, target: String,
                headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, hostHeader: String? = nil,
                connectAddresses: [SocketAddress]? = nil) {
        self.connectAddresses = connectAddresses
        self.method = method
        self.isSecure = isSecure
        self.host = host
        self.port = port
        self.target = target
        self.headers = headers
        self.body = body
        self.hostHeader = hostHeader
    }

    /// The `Host` header sent.
    var authority: String {
        if let hostHeader { return hostHeader }
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (isSecure ? 443 : 80) ? name : "\(name):\(port)"
    }
}

/// A response whose head has arrived; the body streams.
public struct HTTP1ClientResponse: Sendable {
    public var status: Int
    /// Every header in order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body, as the connection delivers it. Reading is paused while the consumer lags (a few
    /// chunks are buffered at most); when the consumer stops iterating, is cancelled or drops the
    /// stream before the end, the connection is closed. A connection whose response was read to
    /// the end goes back to the pool (the consumer may still be reading the last chunks).
    public var body: AsyncThrowingStream<[UInt8], any Error>
    let abandon: @Sendable () -> Void

    /// Closes the connection without reading the rest of the body (nothing, when the body has
    /// already arrived in full).
    public func cancel() {
        abandon()
    }
}

/// How long a request may take.
public struct HTTP1ClientTimeouts: Sendable {
    /// To establish the TCP connection (every address of the name together).
    public var connect: TimeAmount
    /// Without progress while waiting for the server: from the connection to the response head
    /// (TLS handshake included), then between body reads. Time the consumer spends not asking for
    /// more does not count.
    public var idle: TimeAmount
    /// For the whole exchange, the consumer's reading of the body included.
    public var total: TimeAmount

    public init(connect: TimeAmount, idle: TimeAmount, total: TimeAmount) {
        self.connect = connect
        self.idle = idle
        self.total = total
    }

    /// One limit for everything.
    public static func all(_ limit: TimeAmount) -> HTTP1ClientTimeouts {
        HTTP1ClientTimeouts(connect: limit, idle: limit, total: limit)
    }
}

/// Why a request did not produce a (complete) response.
public enum HTTP1ClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No TCP connection (refused, unreachable, no address, connect timeout).
    case connectFailed(String)
    /// The idle or the total limit passed.
    case timedOut
    /// The server closed the connection before the response was complete.
    case connectionClosed
    /// No pooled connection became free within the connect limit.
    case poolExhausted

    public var description: String {
        switch self {
        case .connectFailed(let reason): "could not connect: \(reason)"
        case .timedOut: "timed out"
        case .connectionClosed: "the connection closed before the response was complete"
        case .poolExhausted: "no connection to the server became free in time"
        }
    }
}

/// How an `HTTP1Client` keeps connections for reuse.
public struct HTTP1PoolConfiguration: Sendable {
    /// Off: `Connection: close` and a new connection for every request.
    public var isEnabled: Bool
    /// Most connections open at once to one server (a pool key: scheme, TLS name, port and the
    /// addresses connected to); further requests wait (within their connect limit) for one.
    public var maxConnectionsPerServer: Int
    /// How long an unused connection is kept (shortened to a second under the server's own
    /// `Keep-Alive: timeout=`).
    public var idleTimeout: TimeAmount

    public init(isEnabled: Bool = true, maxConnectionsPerServer: Int = 8, idleTimeout: TimeAmount = .seconds(45)) {
        self.isEnabled = isEnabled
        self.maxConnectionsPerServer = max(1, maxConnectionsPerServer)
        self.idleTimeout = idleTimeout
    }

    /// One connection per request.
    public static let disabled = HTTP1PoolConfiguration(isEnabled: false)
}
