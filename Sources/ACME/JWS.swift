import Foundation
import Multiformats
import OpenSSLNIO

/// RFC 7515 JSON Web Signatures as ACME uses them (RFC 8555 §6.2): flattened JSON serialization,
/// `ES256` over a P-256 account key, `jwk` in the protected header for `newAccount` (and
/// revocation by certificate key), `kid` for everything else.
public enum JWS {
    /// How the request names its key.
    public enum KeyReference: Sendable {
        /// The public key itself (newAccount).
        case jwk
        /// The account URL returned by newAccount.
        case keyID(String)
    }

    /// base64url without padding (RFC 7515 §2).
    public static func base64url(_ bytes: [UInt8]) -> String {
        Base64.encode(bytes, alphabet: .urlSafe, padded: false)
    }

    /// The account key's public JWK in RFC 7638 member order: `crv`, `kty`, `x`, `y`.
    public static func jwk(_ key: TLSPrivateKey) throws -> String {
        let (x, y) = try key.ecCoordinates()
        // No member value needs JSON escaping (fixed strings and base64url).
        return #"{"crv":"P-256","kty":"EC","x":"\#(base64url(x))","y":"\#(base64url(y))"}"#
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): the second half of a key authorization.
    public static func thumbprint(_ key: TLSPrivateKey) throws -> String {
        base64url(SHA256Digest.hash(Array(try jwk(key).utf8)))
    }

    /// The signed request body.
    ///
    /// - Parameters:
    ///   - payload: the JSON payload bytes, or nil for POST-as-GET (an empty payload, RFC 8555 §6.3).
    ///   - url: the request URL (the `url` header parameter must match it exactly).
    ///   - nonce: a fresh `Replay-Nonce`.
    ///   - key: the account key.
    ///   - keyReference: `jwk` or `kid`.
    /// - Returns: `{"protected":…,"payload":…,"signature":…}`.
    public static func sign(payload: [UInt8]?, url: String, nonce: String, key: TLSPrivateKey,
                            keyReference: KeyReference) throws -> [UInt8] {
        let keyMember: String
        switch keyReference {
        case .jwk: keyMember = #""jwk":\#(try jwk(key))"#
        case .keyID(let kid): keyMember = #""kid":\#(try jsonString(kid))"#
        }
        let header = #"{"alg":"ES256",\#(keyMember),"nonce":\#(try jsonString(nonce)),"url":\#(try jsonString(url))}"#
        let protected = base64url(Array(header.utf8))
        let encodedPayload = payload.map(base64url) ?? ""
        let signature = try key.signES256(Array("\(protected).\(encodedPayload)".utf8))
        let body = #"{"protected":"\#(protected)","payload":"\#(encodedPayload)","signature":"\#(base64url(signature))"}"#
        return Array(body.utf8)
    }

    /// `string` as a JSON string literal.
    static func jsonString(_ string: String) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: [string], options: [.withoutEscapingSlashes])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
