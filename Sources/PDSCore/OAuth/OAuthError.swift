import ATAuth

/// Why an OAuth request was refused, with the RFC 6749 §5.2 / RFC 9449 / RFC 9126 error code. The
/// HTTP edge answers the authorization server's endpoints with 400 (401 for `invalid_client`)
/// and `{"error","error_description"}`, and the resource server with 401 + `WWW-Authenticate: DPoP`.
public enum OAuthError: Error, Equatable, Sendable {
    case invalidRequest(String)
    case invalidClient(String)
    case invalidClientMetadata(String)
    case invalidGrant(String)
    case invalidScope(String)
    case unauthorizedClient(String)
    case unsupportedGrantType(String)
    case unsupportedResponseType(String)
    case accessDenied(String)
    case dpop(DPoPError)
    /// A resource request with a missing, unknown, expired or revoked access token (RFC 6750 §3.1).
    case invalidToken(String)

    public var code: String {
        switch self {
        case .invalidRequest: "invalid_request"
        case .invalidClient: "invalid_client"
        case .invalidClientMetadata: "invalid_client_metadata"
        case .invalidGrant: "invalid_grant"
        case .invalidScope: "invalid_scope"
        case .unauthorizedClient: "unauthorized_client"
        case .unsupportedGrantType: "unsupported_grant_type"
        case .unsupportedResponseType: "unsupported_response_type"
        case .accessDenied: "access_denied"
        case .dpop(let error): error.code
        case .invalidToken: "invalid_token"
        }
    }

    public var message: String {
        switch self {
        case .invalidRequest(let message), .invalidClient(let message), .invalidClientMetadata(let message),
             .invalidGrant(let message), .invalidScope(let message), .unauthorizedClient(let message),
             .unsupportedGrantType(let message), .unsupportedResponseType(let message), .accessDenied(let message),
             .invalidToken(let message):
            message
        case .dpop(let error): error.message
        }
    }
}
