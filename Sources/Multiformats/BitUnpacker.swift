/// Turns a run of fixed-width symbols (base32: 5 bits, base64: 6 bits) into bytes, most
/// significant bits first, leaving the caller to judge the leftover bits (padding rules differ).
enum BitUnpacker {
    /// The bytes, the number of leftover bits (< 8) and the accumulator holding them.
    static func unpack<Symbols: Collection<UInt8>>(
        _ symbols: Symbols, table: [Int8], width: Int
    ) throws(MultiformatsError) -> (bytes: [UInt8], leftoverBits: Int, buffer: UInt32) {
        var output = [UInt8]()
        output.reserveCapacity(symbols.count * width / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for (offset, char) in symbols.enumerated() {
            let value = table[Int(char)]
            guard value >= 0 else { throw .invalidCharacter(offset: offset) }
            buffer = (buffer << UInt32(width)) | UInt32(value)
            bits += width
            if bits >= 8 {
                bits -= 8
                output.append(UInt8((buffer >> UInt32(bits)) & 0xff))
            }
        }
        return (output, bits, buffer)
    }
}
