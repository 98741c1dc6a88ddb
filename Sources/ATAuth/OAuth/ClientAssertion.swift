import ATData

/// A confidential client's `private_key_jwt` assertion (RFC 7523 §3, RFC 7521 §4.2;
/// https://atproto.com/specs/oauth "Confidential Client Authentication"): an ES256 JWT with
/// `iss` = `sub` = client_id, `aud` = the authorization server's issuer, `iat`, and a unique
/// `jti` (the caller records it so that it is never accepted twice).
public struct ClientAssertion: Sendable {
    public static let type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// How old an assertion may be (the spec asks to accept at least one minute) and how far in
    /// the future `iat` may lie.
    public static let maxAge: Int64 = 300
    public static let maxSkew: Int64 = 60

    /// The key that signed it; sessions are bound to its thumbprint and `kid`.
    public let key: ECPublicJWK
    public let jti: String
    /// Until when the `jti` must be remembered.
    public let expiresAt: Int64

    public init(_ assertion: String, clientID: String, issuer: String, keys: [ECPublicJWK], now: Int64) throws(AuthError) {
        let jwt: JWT
        do { jwt = try JWT(parsing: assertion) } catch { throw .invalidToken("client assertion is not a JWT") }
        guard jwt.header["alg"]?.stringValue == "ES256" else { throw .invalidToken("client assertion must be ES256") }
        let kid = jwt.header["kid"]?.stringValue
        let candidates = kid.map { kid in keys.filter { $0.keyID == kid } } ?? keys
        guard let key = candidates.first(where: { (try? jwt.verifyJOSE(key: $0.key)) != nil }) else {
            throw .invalidToken("client assertion is not signed by a key of the client")
        }
        guard jwt.string("iss") == clientID, jwt.string("sub") == clientID else {
            throw .invalidToken("client assertion iss and sub must be the client_id")
        }
        let audience = jwt.claims["aud"]
        let audiences = audience?.stringValue.map { [$0] } ?? audience?.arrayValue?.compactMap(\.stringValue) ?? []
        guard audiences.contains(issuer) else { throw .invalidToken("client assertion aud must be the issuer") }
        guard let iat = jwt.integer("iat"), iat <= now + Self.maxSkew, iat >= now - Self.maxAge else {
            throw .invalidToken("client assertion iat is missing or out of range")
        }
        if let exp = jwt.claims["exp"] {
            guard let exp = exp.int64Value, exp > now else { throw .invalidToken("client assertion has expired") }
        }
        guard let jti = jwt.string("jti"), !jti.isEmpty, jti.utf8.count <= 256 else { throw .invalidToken("client assertion has no jti") }
        self.key = key
        self.jti = jti
        self.expiresAt = iat + Self.maxAge + Self.maxSkew
    }
}
