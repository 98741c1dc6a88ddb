/// RFC 4648 base64 in the standard (§4) and URL-safe (§5) alphabets.
///
/// atproto JSON `$bytes` uses the standard alphabet and is emitted unpadded (padding is accepted on
/// input); JWTs and did:plc signatures use the URL-safe alphabet unpadded; age uses the standard
/// alphabet unpadded and forbids `=`; PEM-style armor uses the standard alphabet padded.
public enum Base64 {
    /// Which 64-character alphabet to use.
    public enum Alphabet: Sendable {
        case standard
        case urlSafe
    }

    /// What the decoder does with `=` padding.
    public enum Padding: Sendable {
        /// `=` is an error (age, JWT, did:plc signatures).
        case forbidden
        /// `=` may be present; if present it must be complete (atproto `$bytes`).
        case optional
        /// Input must be padded to a multiple of four characters (PEM).
        case required
    }

    static let standardTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let urlSafeTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static func decodeTable(for table: [UInt8]) -> [Int8] {
        var result = [Int8](repeating: -1, count: 256)
        for (index, char) in table.enumerated() { result[Int(char)] = Int8(index) }
        return result
    }
    static let standardDecode = decodeTable(for: standardTable)
    static let urlSafeDecode = decodeTable(for: urlSafeTable)

    /// Encodes `bytes`; `padded` adds `=` to a multiple of four characters.
    public static func encode<Bytes: Collection>(
        _ bytes: Bytes, alphabet: Alphabet = .standard, padded: Bool = false
    ) -> String where Bytes.Element == UInt8 {
        var output = [UInt8]()
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        if bytes.withContiguousStorageIfAvailable({ append($0, to: &output, alphabet: alphabet, padded: padded) }) == nil {
            Array(bytes).withUnsafeBufferPointer { append($0, to: &output, alphabet: alphabet, padded: padded) }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the base64 of `bytes` to `output` (no intermediate string: JSON writers put
    /// `$bytes` values straight into their buffer), formed in a scratch buffer and appended at once.
    public static func append(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8], alphabet: Alphabet = .standard,
                              padded: Bool = false) {
        let remainder = bytes.count % 3
        let count = bytes.count / 3 * 4 + (remainder == 0 ? 0 : padded ? 4 : remainder + 1)
        guard count > 0 else { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { characters in
            (alphabet == .standard ? standardTable : urlSafeTable).withUnsafeBufferPointer { table in
                var index = 0, out = 0
                while index < bytes.count {
                    let remaining = bytes.count - index
                    let second: UInt8 = remaining > 1 ? bytes[index + 1] : 0
                    let third: UInt8 = remaining > 2 ? bytes[index + 2] : 0
                    let value = UInt32(bytes[index]) << 16 | UInt32(second) << 8 | UInt32(third)
                    index += 3
                    characters[out] = table[Int(value >> 18 & 63)]
                    characters[out + 1] = table[Int(value >> 12 & 63)]
                    out += 2
                    if remaining > 1 || padded {
                        characters[out] = remaining > 1 ? table[Int(value >> 6 & 63)] : UInt8(ascii: "=")
                        out += 1
                    }
                    if remaining > 2 || padded {
                        characters[out] = remaining > 2 ? table[Int(value & 63)] : UInt8(ascii: "=")
                        out += 1
                    }
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(characters))
        }
    }

    /// Decodes base64, rejecting characters outside `alphabet` and bad padding. Non-zero trailing
    /// bits (a second spelling of the same bytes) are rejected unless `allowTrailingBits` is set.
    public static func decode(
        _ text: some StringProtocol, alphabet: Alphabet = .standard, padding: Padding = .forbidden,
        allowTrailingBits: Bool = false
    ) throws(MultiformatsError) -> [UInt8] {
        try decode(utf8: Array(text.utf8), alphabet: alphabet, padding: padding, allowTrailingBits: allowTrailingBits)
    }

    /// `decode` of text given as its UTF-8 bytes (a token already split on its bytes).
    public static func decode(
        utf8 input: [UInt8], alphabet: Alphabet = .standard, padding: Padding = .forbidden,
        allowTrailingBits: Bool = false
    ) throws(MultiformatsError) -> [UInt8] {
        var input = input
        var padCount = 0
        while input.last == UInt8(ascii: "=") {
            input.removeLast()
            padCount += 1
        }
        switch padding {
        case .forbidden:
            guard padCount == 0 else { throw .invalidCharacter(offset: input.count) }
        case .optional:
            guard padCount == 0 || (input.count + padCount) % 4 == 0 else { throw .invalidLength }
        case .required:
            guard (input.count + padCount) % 4 == 0 else { throw .invalidLength }
        }
        guard padCount <= 2, input.count % 4 != 1 else { throw .invalidLength }
        if padCount > 0 && input.count % 4 == 0 { throw .invalidLength }
        let table = alphabet == .standard ? standardDecode : urlSafeDecode
        let (output, bits, buffer) = try BitUnpacker.unpack(input, table: table, width: 6)
        guard allowTrailingBits || buffer & ((1 << UInt32(bits)) - 1) == 0 else { throw .nonCanonical }
        return output
    }
}
