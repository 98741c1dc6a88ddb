import Multiformats

/// A compact JWS (`header.payload.signature`, RFC 7515 §7.1) split on its UTF-8 bytes. Splitting
/// the `String` walked it `Character` by `Character` (grapheme breaking): a quarter of a million
/// instructions for a 600-byte DPoP proof, a fifth of the server's whole proof check (callgrind,
/// docs/ARCHITECTURE.md "OAuth").
struct CompactJWS {
    /// The token's UTF-8 bytes.
    let bytes: [UInt8]
    let firstDot: Int
    let secondDot: Int

    /// Nil unless the token has exactly two dots.
    init?(_ token: String) {
        let bytes = Array(token.utf8)
        let dot = UInt8(ascii: ".")
        guard let first = bytes.firstIndex(of: dot), let second = bytes[(first + 1)...].firstIndex(of: dot),
              !bytes[(second + 1)...].contains(dot)
        else { return nil }
        self.bytes = bytes
        firstDot = first
        secondDot = second
    }

    var header: ArraySlice<UInt8> { bytes[..<firstDot] }
    var payload: ArraySlice<UInt8> { bytes[(firstDot + 1)..<secondDot] }
    /// What the signature covers: the text before the second dot.
    var signingInput: ArraySlice<UInt8> { bytes[..<secondDot] }

    /// The signature segment, base64url-decoded.
    func signature() throws(MultiformatsError) -> [UInt8] {
        try Base64.decode(utf8: Array(bytes[(secondDot + 1)...]), alphabet: .urlSafe)
    }

    /// A segment, base64url-decoded.
    static func decode(_ segment: ArraySlice<UInt8>) throws(MultiformatsError) -> [UInt8] {
        try Base64.decode(utf8: Array(segment), alphabet: .urlSafe)
    }
}
