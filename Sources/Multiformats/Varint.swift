/// Unsigned LEB128 varints as multiformats specifies them (CID fields, multicodec prefixes, CAR
/// section lengths): at most 9 bytes (63 bits) and minimally encoded.
public enum Varint {
    /// The largest number of bytes a multiformats varint may use.
    public static let maxLength = 9

    /// Appends the varint encoding of `value` to `output`.
    public static func encode(_ value: UInt64, into output: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            output.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        output.append(UInt8(value))
    }

    /// The varint encoding of `value`.
    public static func encode(_ value: UInt64) -> [UInt8] {
        var output = [UInt8]()
        encode(value, into: &output)
        return output
    }

    /// Decodes a varint at the start of `bytes`; returns the value and the number of bytes used.
    /// Rejects truncated, over-long (> 9 bytes) and non-minimal encodings.
    public static func decode<Bytes: Collection>(
        _ bytes: Bytes
    ) throws(MultiformatsError) -> (value: UInt64, length: Int) where Bytes.Element == UInt8 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var length = 0
        for byte in bytes {
            length += 1
            guard length <= maxLength else { throw .invalidVarint }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 {
                // A final zero byte after the first means a shorter encoding existed.
                guard byte != 0 || length == 1 else { throw .invalidVarint }
                return (value, length)
            }
            shift += 7
        }
        throw .invalidVarint
    }
}
