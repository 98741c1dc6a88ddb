/// The Bitcoin base58 alphabet (multibase `z`, "base58btc"), used by did:key and multikey strings.
public enum Base58 {
    static let alphabet: [UInt8] = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    /// Encodes `bytes` in base58btc. Leading zero bytes become leading `1`s.
    public static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix(while: { $0 == 0 }).count
        // Base-256 → base-58 by repeated long division, in place over a digit array.
        var digits = [UInt8](repeating: 0, count: (bytes.count - zeros) * 138 / 100 + 1)
        var length = 0
        for byte in bytes[zeros...] {
            var carry = Int(byte)
            var index = 0
            var position = digits.count - 1
            while (carry != 0 || index < length) && position >= 0 {
                carry += 256 * Int(digits[position])
                digits[position] = UInt8(carry % 58)
                carry /= 58
                index += 1
                position -= 1
            }
            length = index
        }
        var output = [UInt8](repeating: alphabet[0], count: zeros)
        for digit in digits[(digits.count - length)...] { output.append(alphabet[Int(digit)]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes base58btc text. Any character outside the alphabet is an error.
    public static func decode(_ text: some StringProtocol) throws(MultiformatsError) -> [UInt8] {
        let input = Array(text.utf8)
        let zeros = input.prefix(while: { $0 == alphabet[0] }).count
        var bytes = [UInt8](repeating: 0, count: (input.count - zeros) * 733 / 1000 + 1)
        var length = 0
        for offset in zeros..<input.count {
            let value = decodeTable[Int(input[offset])]
            guard value >= 0 else { throw .invalidCharacter(offset: offset) }
            var carry = Int(value)
            var index = 0
            var position = bytes.count - 1
            while (carry != 0 || index < length) && position >= 0 {
                carry += 58 * Int(bytes[position])
                bytes[position] = UInt8(carry & 0xff)
                carry >>= 8
                index += 1
                position -= 1
            }
            length = index
        }
        return [UInt8](repeating: 0, count: zeros) + bytes[(bytes.count - length)...]
    }
}
