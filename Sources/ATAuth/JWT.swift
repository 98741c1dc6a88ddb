import ATCrypto
import ATData
import Multiformats

/// Compact JWS tokens (RFC 7515/7519) as the PDS uses them: HS256 session tokens signed with the
/// server's session secret, and (for service auth) ES256K/ES256 tokens signed with the account's
/// signing key.
public struct JWT: Sendable {
    /// The decoded header object.
    public let header: JSONObject
    /// The decoded claims.
    public let claims: JSONObject
    /// `base64url(header).base64url(claims)`: the bytes the signature covers.
    public let signingInput: String
    /// The raw signature.
    public let signature: [UInt8]

    /// Why a token was refused.
    public enum Failure: Error, Equatable {
        case malformed(String)
        case badSignature
        case expired
    }

    /// Splits and decodes a compact token without checking its signature.
    public init(parsing token: String) throws(Failure) {
        guard let jws = CompactJWS(token) else { throw .malformed("expected three dot-separated parts") }
        func object(_ part: ArraySlice<UInt8>, _ what: String) throws(Failure) -> JSONObject {
            guard let bytes = try? CompactJWS.decode(part),
                  let value = try? JSONValue.parse(bytes), let object = value.objectValue
            else { throw .malformed("\(what) is not base64url JSON") }
            return object
        }
        header = try object(jws.header, "header")
        claims = try object(jws.payload, "payload")
        guard let signature = try? jws.signature() else { throw .malformed("signature is not base64url") }
        self.signature = signature
        signingInput = String(decoding: jws.signingInput, as: UTF8.self)
    }

    /// A claim as a string.
    public func string(_ claim: String) -> String? { claims[claim]?.stringValue }
    /// A claim as an integer (NumericDate claims).
    public func integer(_ claim: String) -> Int64? { claims[claim]?.int64Value }

    /// Signs `claims` with HMAC-SHA-256 under `secret`.
    public static func signHS256(type: String, claims: JSONObject, secret: [UInt8]) -> String {
        let header: JSONValue = ["typ": .string(type), "alg": "HS256"]
        let input = encodeSegment(header) + "." + encodeSegment(.object(claims))
        let mac = HMAC.sha256(key: secret, message: Array(input.utf8))
        return input + "." + Base64.encode(mac, alphabet: .urlSafe)
    }

    /// Signs `claims` with an ECDSA signing key (`ES256K` or `ES256`, 64-byte r‖s, low-S).
    public static func sign(type: String = "JWT", claims: JSONObject, key: any SigningKey) throws -> String {
        let header: JSONValue = ["typ": .string(type), "alg": .string(key.algorithm.jwtName)]
        let input = encodeSegment(header) + "." + encodeSegment(.object(claims))
        let signature = try key.sign(Array(input.utf8))
        return input + "." + Base64.encode(signature, alphabet: .urlSafe)
    }

    /// Signs `claims` under an explicit header (DPoP proofs carry `typ` and `jwk`); `alg` must
    /// name the key's algorithm.
    public static func sign(header: JSONObject, claims: JSONObject, key: any SigningKey) throws -> String {
        precondition(header["alg"]?.stringValue == key.algorithm.jwtName, "header alg must match the key")
        let input = encodeSegment(.object(header)) + "." + encodeSegment(.object(claims))
        let signature = try key.sign(Array(input.utf8))
        return input + "." + Base64.encode(signature, alphabet: .urlSafe)
    }

    /// Checks an HS256 signature in constant time.
    public func verifyHS256(secret: [UInt8]) throws(Failure) {
        guard header["alg"]?.stringValue == "HS256" else { throw .malformed("unexpected algorithm") }
        let expected = HMAC.sha256(key: secret, message: Array(signingInput.utf8))
        guard HMAC.constantTimeEquals(expected, signature) else { throw .badSignature }
    }

    /// Checks an ECDSA signature against `key` (the algorithm must match the key's).
    public func verify(key: any VerifyingKey) throws(Failure) {
        guard header["alg"]?.stringValue == key.algorithm.jwtName else { throw .malformed("unexpected algorithm") }
        guard key.verify(signature: signature, message: Array(signingInput.utf8)) else { throw .badSignature }
    }

    /// Checks a JOSE ES256 signature (high or low S, RFC 7518 §3.4): DPoP proofs and client
    /// assertions come from JOSE libraries, which do not normalise s as atproto requires.
    public func verifyJOSE(key: P256PublicKey) throws(Failure) {
        guard header["alg"]?.stringValue == "ES256" else { throw .malformed("unexpected algorithm") }
        guard key.verifyJOSE(signature: signature, message: Array(signingInput.utf8)) else { throw .badSignature }
    }

    static func encodeSegment(_ value: JSONValue) -> String {
        Base64.encode(value.serialized(), alphabet: .urlSafe)
    }
}
