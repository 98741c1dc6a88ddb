import ATCrypto
import Multiformats

/// PKCE with `S256` only (RFC 7636; https://atproto.com/specs/oauth forbids `plain`).
public enum PKCE {
    /// Whether `method` and `challenge` are acceptable in an authorization request: `S256`, and a
    /// challenge that is the base64url (no padding) of 32 bytes.
    public static func isValidChallenge(_ challenge: String, method: String?) -> Bool {
        guard method == "S256" else { return false }
        guard let bytes = try? Base64.decode(challenge, alphabet: .urlSafe) else { return false }
        return bytes.count == 32
    }

    /// Whether `verifier` (RFC 7636 §4.1: 43–128 unreserved characters) hashes to `challenge`.
    public static func verify(verifier: String, challenge: String) -> Bool {
        let bytes = Array(verifier.utf8)
        guard (43...128).contains(bytes.count), bytes.allSatisfy(isUnreserved) else { return false }
        let computed = Base64.encode(SHA256.hash(bytes), alphabet: .urlSafe)
        return HMAC.constantTimeEquals(Array(computed.utf8), Array(challenge.utf8))
    }

    /// The S256 challenge of a verifier (for tests and clients).
    public static func challenge(for verifier: String) -> String {
        Base64.encode(SHA256.hash(Array(verifier.utf8)), alphabet: .urlSafe)
    }

    /// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte | 0x20) &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "0") < 10 || "-._~".utf8.contains(byte)
    }
}
