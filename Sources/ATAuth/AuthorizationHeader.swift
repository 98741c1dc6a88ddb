/// The one parser of `Authorization` header values.
public enum AuthorizationHeader: Equatable, Sendable {
    /// `Bearer <token>` (scheme compared case-insensitively, RFC 9110 §11.1).
    case bearer(String)
    /// Any other scheme (`Basic`, `DPoP`, …) or a malformed value.
    case other

    public init(_ value: String) {
        guard value.utf8.count > 7, value.prefix(7).lowercased() == "bearer " else {
            self = .other
            return
        }
        self = .bearer(String(value.dropFirst(7).drop(while: { $0 == " " })))
    }

    /// The bearer token, if this is one.
    public var bearerToken: String? {
        if case .bearer(let token) = self { return token }
        return nil
    }
}
