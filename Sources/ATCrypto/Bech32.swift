/// Bech32 (BIP 173) as age uses it for keys: the original checksum constant, no 90-character
/// length limit (age identities and post-quantum recipients are longer), and strings that are
/// either all lowercase or all uppercase, with the checksum computed over the lowercase form.
public enum Bech32 {
    static let charset: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    static let reverseCharset: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, char) in charset.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    /// BIP 173 checksum generator over 5-bit values.
    static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for bit in 0..<5 where (top >> UInt32(bit)) & 1 == 1 { checksum ^= generator[bit] }
        }
        return checksum
    }

    /// The human-readable part expanded for checksumming: high bits, 0, low bits (BIP 173).
    static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Regroups bits (8 → 5 when encoding with padding, 5 → 8 when decoding, strictly).
    static func convertBits(_ input: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0, bits = 0
        var output: [UInt8] = []
        output.reserveCapacity(input.count * from / to + 1)
        let maxValue = (1 << to) - 1
        for value in input {
            accumulator = (accumulator << from | Int(value)) & ((1 << (from + to - 1)) - 1)
            bits += from
            while bits >= to {
                bits -= to
                output.append(UInt8(accumulator >> bits & maxValue))
            }
        }
        if pad {
            if bits > 0 { output.append(UInt8(accumulator << (to - bits) & maxValue)) }
        } else if bits >= from || (accumulator << (to - bits)) & maxValue != 0 {
            // Leftover bits must be fewer than one input group and all zero (canonical encoding).
            return nil
        }
        return output
    }

    /// Encodes `data` under the human-readable part `hrp`, in lowercase.
    ///
    /// `hrp` must be non-empty printable ASCII (33...126); it is lowercased. Callers that want the
    /// uppercase form (age identities) uppercase the whole result, which keeps the checksum valid.
    public static func encode(hrp: String, data: some Collection<UInt8>) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        precondition(!hrpBytes.isEmpty && hrpBytes.allSatisfy { $0 >= 33 && $0 <= 126 }, "invalid Bech32 human-readable part")
        let values = convertBits(Array(data), from: 8, to: 5, pad: true)!
        let checksumInput = expand(hrpBytes) + values + [0, 0, 0, 0, 0, 0]
        let checksum = polymod(checksumInput) ^ 1
        var output = hrpBytes + [UInt8(ascii: "1")]
        output.append(contentsOf: values.map { charset[Int($0)] })
        for index in 0..<6 { output.append(charset[Int(checksum >> UInt32(5 * (5 - index)) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes a Bech32 string into its human-readable part (in the case it was written in) and data.
    public static func decode(_ string: String) throws(Bech32Error) -> (hrp: String, data: [UInt8]) {
        let bytes = Array(string.utf8)
        guard bytes.allSatisfy({ $0 >= 33 && $0 <= 126 }) else { throw .invalidCharacter }
        let hasLower = bytes.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
        let hasUpper = bytes.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        guard !(hasLower && hasUpper) else { throw .mixedCase }
        let lower = bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
        // The separator is the last "1": the human-readable part may itself contain "1".
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")) else { throw .missingSeparator }
        guard separator >= 1, lower.count - separator - 1 >= 6 else { throw .invalidLength }
        let hrp = Array(lower[..<separator])
        var values: [UInt8] = []
        values.reserveCapacity(lower.count - separator - 1)
        for char in lower[(separator + 1)...] {
            let value = char < 128 ? reverseCharset[Int(char)] : -1
            guard value >= 0 else { throw .invalidCharacter }
            values.append(UInt8(value))
        }
        guard polymod(expand(hrp) + values) == 1 else { throw .invalidChecksum }
        guard let data = convertBits(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else { throw .invalidPadding }
        return (String(decoding: bytes[..<separator], as: UTF8.self), data)
    }
}

/// Why a Bech32 string did not decode.
public enum Bech32Error: Error, Equatable, Sendable {
    /// A character outside printable ASCII, or a data character outside the Bech32 alphabet.
    case invalidCharacter
    /// Both lowercase and uppercase letters appear.
    case mixedCase
    /// No "1" separates the human-readable part from the data.
    case missingSeparator
    /// Empty human-readable part, or data shorter than the 6-character checksum.
    case invalidLength
    /// The checksum does not verify.
    case invalidChecksum
    /// The data's padding bits are not a canonical zero padding.
    case invalidPadding
}
