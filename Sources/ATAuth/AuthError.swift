/// Why a credential was refused. The HTTP edge turns each case into the status and error name the
/// reference server uses (401 for bad or missing credentials, 400 `ExpiredToken` so clients refresh).
public enum AuthError: Error, Equatable, Sendable {
    /// No `Authorization` header on a method that needs one.
    case missing
    /// The token failed verification (forged, malformed, wrong type or audience).
    case invalidToken(String)
    /// A genuine token past its `exp` (clients refresh on exactly this).
    case expiredToken(String)
    /// A genuine token whose session may not do this (an app password managing the account).
    case badScope(String)
    /// The account behind a genuine token is deactivated, and the method needs an active one.
    case accountDeactivated
    /// A refused inter-service token: `name` is the reference's error name (`BadJwtAudience`, …).
    case serviceToken(name: String, message: String)

    public static let defaultInvalidMessage = "Token could not be verified"
    public static let defaultScopeMessage = "Bad token scope"
}
