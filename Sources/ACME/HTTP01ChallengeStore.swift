import Synchronization

/// The HTTP-01 key authorizations being served, by token (RFC 8555 §8.3).
///
/// The port-80 listener answers `GET /.well-known/acme-challenge/<token>` with
/// `keyAuthorization(for: token)` as `text/plain` (`application/octet-stream` is also allowed),
/// and 404 for unknown tokens.
public final class HTTP01ChallengeStore: Sendable {
    private let tokens = Mutex<[String: String]>([:])

    public init() {}

    public func set(token: String, keyAuthorization: String) {
        tokens.withLock { $0[token] = keyAuthorization }
    }

    public func remove(token: String) {
        _ = tokens.withLock { $0.removeValue(forKey: token) }
    }

    /// The key authorization for `token`, if it is being served.
    public func keyAuthorization(for token: String) -> String? {
        tokens.withLock { $0[token] }
    }

    /// The request path prefix of HTTP-01 challenges.
    public static let pathPrefix = "/.well-known/acme-challenge/"
}
