/// RFC 4648 §6 base32 in lowercase without padding, the spelling of CID strings (after the
/// multibase `b`) and of the did:plc identifier.
public enum Base32 {
    static let alphabet: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    /// Encodes `bytes` as lowercase base32 with no padding.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        // The public entry points are generic and not inlinable, so a loop written against
        // `Bytes` runs through protocol witnesses on every byte; CID strings are built and parsed
        // on every JSON record, so the work is done on a contiguous buffer instead.
        if let encoded = bytes.withContiguousStorageIfAvailable(encode(buffer:)) { return encoded }
        return Array(bytes).withUnsafeBufferPointer(encode(buffer:))
    }

    static func encode(buffer bytes: UnsafeBufferPointer<UInt8>) -> String {
        var output = [UInt8]()
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        append(bytes, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the lowercase unpadded base32 of `bytes` to `output` (no intermediate string:
    /// JSON writers put CID strings straight into their buffer). The characters are formed in a
    /// scratch buffer and appended at once: appending them one by one cost ~45 instructions each.
    public static func append(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        let count = (bytes.count * 8 + 4) / 5
        guard count > 0 else { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { characters in
            alphabet.withUnsafeBufferPointer { table in
                var buffer: UInt32 = 0
                var bits = 0
                var index = 0
                for byte in bytes {
                    buffer = (buffer << 8) | UInt32(byte)
                    bits += 8
                    while bits >= 5 {
                        bits -= 5
                        characters[index] = table[Int((buffer >> UInt32(bits)) & 31)]
                        index += 1
                    }
                }
                if bits > 0 { characters[index] = table[Int((buffer << UInt32(5 - bits)) & 31)] }
            }
            output.append(contentsOf: UnsafeBufferPointer(characters))
        }
    }

    /// Decodes lowercase unpadded base32. Uppercase, padding and non-zero trailing bits are rejected.
    public static func decode(_ text: some StringProtocol) throws(MultiformatsError) -> [UInt8] {
        // Contiguous fast path, as in `encode`; a String or Substring's UTF-8 is contiguous
        // unless it is a bridged or foreign string.
        let result = text.utf8.withContiguousStorageIfAvailable { utf8 in
            Result { () throws(MultiformatsError) in try decode(utf8: utf8) }
        } ?? Array(text.utf8).withUnsafeBufferPointer { utf8 in
            Result { () throws(MultiformatsError) in try decode(utf8: utf8) }
        }
        return try result.get()
    }

    static func decode(utf8 text: UnsafeBufferPointer<UInt8>) throws(MultiformatsError) -> [UInt8] {
        let (output, bits, buffer) = try BitUnpacker.unpack(text, table: decodeTable, width: 5)
        // 1, 3 or 6 leftover characters' worth of bits (5, 15... → bits ≥ 5) cannot come from an encoder.
        guard bits < 5 else { throw .invalidLength }
        guard buffer & ((1 << UInt32(bits)) - 1) == 0 else { throw .nonCanonical }
        return output
    }
}
