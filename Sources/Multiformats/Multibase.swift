/// Multibase: a one-character prefix naming the base of the text that follows.
///
/// atproto writes `b` (base32 lowercase) for CIDs and `z` (base58btc) for multikeys; the Lexicon
/// `cid` string format accepts other bases syntactically, but this library decodes only these two
/// plus the base64 variants, which is every base atproto data actually uses.
public enum Multibase {
    /// A multibase this library encodes and decodes.
    public enum Base: Character, Sendable, CaseIterable {
        case base32 = "b"
        case base58btc = "z"
        case base64 = "m"
        case base64url = "u"
    }

    /// Encodes `bytes` with the prefix of `base`.
    public static func encode(_ bytes: [UInt8], base: Base) -> String {
        let body: String
        switch base {
        case .base32: body = Base32.encode(bytes)
        case .base58btc: body = Base58.encode(bytes)
        case .base64: body = Base64.encode(bytes)
        case .base64url: body = Base64.encode(bytes, alphabet: .urlSafe)
        }
        return String(base.rawValue) + body
    }

    /// Decodes a multibase string, returning the base found and the bytes.
    public static func decode(_ text: String) throws(MultiformatsError) -> (base: Base, bytes: [UInt8]) {
        guard let prefix = text.first else { throw .empty }
        guard let base = Base(rawValue: prefix) else { throw .unsupportedMultibase(prefix) }
        let body = text.dropFirst()
        switch base {
        case .base32: return (base, try Base32.decode(body))
        case .base58btc: return (base, try Base58.decode(body))
        case .base64: return (base, try Base64.decode(body))
        case .base64url: return (base, try Base64.decode(body, alphabet: .urlSafe))
        }
    }
}
