import Multiformats

/// One recipient stanza of an age header: `-> type args...`, then a base64 body (age spec,
/// "Recipient stanza").
public struct AgeStanza: Sendable, Hashable {
    /// The first argument, which names the recipient type (`X25519`, `scrypt`, ...). Case matters.
    public var type: String
    /// The arguments after the type.
    public var arguments: [String]
    /// The decoded body.
    public var body: [UInt8]

    /// A stanza. `type` and every argument must be non-empty printable ASCII without spaces
    /// (`1*VCHAR` in the spec's ABNF); this is checked when the header is encoded.
    public init(type: String, arguments: [String], body: [UInt8]) {
        self.type = type
        self.arguments = arguments
        self.body = body
    }
}

/// Shared argument checks for the native stanza types.
extension AgeStanza {
    /// Decodes a stanza argument that must be canonical unpadded base64 of exactly `count` bytes.
    static func decodeArgument(_ text: String, count: Int, what: String) throws(AgeError) -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try Base64.decode(text, alphabet: .standard, padding: .forbidden) } catch {
            throw .headerFailure("\(what) is not canonical base64")
        }
        guard bytes.count == count else { throw .headerFailure("\(what) must be \(count) bytes, got \(bytes.count)") }
        return bytes
    }
}

/// Unpadded standard base64, the encoding of every binary value in an age header.
enum Base64Text {
    static func encode(_ bytes: [UInt8]) -> String { Base64.encode(bytes, alphabet: .standard, padded: false) }
}
