import ATCrypto
import ATData
import Multiformats

/// Inter-service auth tokens (https://atproto.com/specs/xrpc#inter-service-authentication-jwt):
/// short ES256K/ES256 JWTs `{iss, aud, exp, iat, lxm?, jti}` signed with the issuing account's
/// repository signing key.
public enum ServiceAuthToken {
    /// A signed token from `issuer` for `audience`, valid `lifetime` seconds from `issuedAt`.
    public static func make(issuer: String, audience: String, lxm: String?, issuedAt: Int64, lifetime: Int64,
                            key: any SigningKey) throws -> String {
        var claims: JSONObject = [
            "iat": .number(JSONNumber(issuedAt)),
            "iss": .string(issuer),
            "aud": .string(audience),
            "exp": .number(JSONNumber(issuedAt + lifetime)),
            "jti": .string(Base16.encode(SecureRandom.bytes(16))),
        ]
        if let lxm { claims["lxm"] = .string(lxm) }
        return try JWT.sign(type: "JWT", claims: claims, key: key)
    }

    /// True when `jwt` is shaped like a service token rather than a session token (an ECDSA
    /// algorithm; session tokens are HS256).
    public static func isCandidate(_ jwt: JWT) -> Bool {
        jwt.header["alg"]?.stringValue != "HS256"
    }

    /// Checks a service token's claims and signature. `audience` is the accepting service's DID (a
    /// `#fragment` on the token's `aud` is allowed); `key` is the issuer's current signing key.
    public static func verify(_ jwt: JWT, issuer: String, key: any VerifyingKey, audience: String, lxm: String,
                              now: Int64) throws(AuthError) {
        // Session, refresh and DPoP tokens are never service tokens.
        if let type = jwt.header["typ"]?.stringValue, ["at+jwt", "refresh+jwt", "dpop+jwt"].contains(type) {
            throw .serviceToken(name: "BadJwtType", message: "Invalid jwt type")
        }
        guard jwt.string("iss") == issuer else {
            throw .serviceToken(name: "BadJwtIssuer", message: "Service tokens are only accepted from this server's account")
        }
        guard let expiry = jwt.integer("exp") else { throw .serviceToken(name: "BadJwt", message: "Token has no exp") }
        guard expiry > now else { throw .serviceToken(name: "JwtExpired", message: "jwt expired") }
        let tokenAudience = jwt.string("aud") ?? ""
        guard tokenAudience == audience || tokenAudience.hasPrefix(audience + "#") else {
            throw .serviceToken(name: "BadJwtAudience", message: "jwt audience does not match service did")
        }
        guard jwt.string("lxm") == lxm else {
            throw .serviceToken(name: "BadJwtLexiconMethod", message: "jwt lexicon method (\"lxm\") does not match: \(lxm)")
        }
        do { try jwt.verify(key: key) } catch {
            throw .serviceToken(name: "BadJwtSignature", message: "jwt signature does not match jwt issuer")
        }
        guard let jti = jwt.string("jti"), !jti.isEmpty else { throw .serviceToken(name: "BadJwt", message: "jwt has no jti") }
    }
}
