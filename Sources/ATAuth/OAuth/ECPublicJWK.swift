import ATCrypto
import ATData
import Multiformats

/// A P-256 public key as a JSON Web Key (RFC 7517/7518 §6.2), the only key type this server
/// accepts for DPoP proofs and client assertions (ES256, https://atproto.com/specs/oauth).
public struct ECPublicJWK: Sendable, Equatable {
    public let key: P256PublicKey
    /// The `kid`, if the JWK named one.
    public let keyID: String?
    /// The RFC 7638 thumbprint (base64url SHA-256 of the canonical members), the `jkt` that
    /// binds tokens to a DPoP key (RFC 9449 §6).
    public let thumbprint: String

    /// Reads a public JWK; refuses private members, other key types and curves, and any `use`
    /// other than `sig`. (A caller that sees one key often caches the result: importing a key
    /// into OpenSSL costs more than verifying with it; `DPoPHeaderCache`.)
    public init(_ object: JSONObject) throws(AuthError) {
        guard object["kty"]?.stringValue == "EC", object["crv"]?.stringValue == "P-256" else {
            throw .invalidToken("the key must be an EC P-256 JWK")
        }
        guard object["d"] == nil else { throw .invalidToken("the JWK contains a private key") }
        if let use = object["use"], use.stringValue != "sig" { throw .invalidToken("the JWK is not a signing key") }
        if let alg = object["alg"], alg.stringValue != "ES256" { throw .invalidToken("the JWK is not an ES256 key") }
        guard let x = object["x"]?.stringValue, let y = object["y"]?.stringValue else {
            throw .invalidToken("the JWK is not a valid P-256 point")
        }
        guard let xBytes = try? Base64.decode(x, alphabet: .urlSafe), let yBytes = try? Base64.decode(y, alphabet: .urlSafe),
              xBytes.count == 32, yBytes.count == 32,
              let key = try? P256PublicKey(bytes: [0x04] + xBytes + yBytes)
        else { throw .invalidToken("the JWK is not a valid P-256 point") }
        self.key = key
        self.keyID = object["kid"]?.stringValue
        // RFC 7638 §3.2: required members only, in lexicographic order, no whitespace.
        let canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        self.thumbprint = Base64.encode(SHA256.hash(Array(canonical.utf8)), alphabet: .urlSafe)
    }

    /// The public JWK of a key (for clients in tests, and the server's own documents).
    public static func object(for key: P256PublicKey, keyID: String? = nil) -> JSONObject {
        let point = key.uncompressedBytes
        var members: [(String, JSONValue)] = [
            ("kty", "EC"), ("crv", "P-256"),
            ("x", .string(Base64.encode(point[1..<33], alphabet: .urlSafe))),
            ("y", .string(Base64.encode(point[33..<65], alphabet: .urlSafe))),
        ]
        if let keyID { members.append(("kid", .string(keyID))) }
        return JSONObject(members)
    }

    public static func == (lhs: ECPublicJWK, rhs: ECPublicJWK) -> Bool { lhs.thumbprint == rhs.thumbprint }
}
