import ATCrypto
import Multiformats

/// Group orders, typed in from SEC 2 §2.4.1 (secp256k1) and §2.7.2 (secp256r1) so the tests
/// check the library's low-S logic against an independent source.
enum CurveOrder {
    static let k256 = hexBytes("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
    static let p256 = hexBytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")

    static func of(_ algorithm: SignatureAlgorithm) -> [UInt8] {
        algorithm == .es256k ? k256 : p256
    }
}

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// a − b for 32-byte big-endian numbers with a ≥ b.
func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: 32)
    var borrow = 0
    for index in stride(from: 31, through: 0, by: -1) {
        var value = Int(a[index]) - Int(b[index]) - borrow
        borrow = value < 0 ? 1 : 0
        if value < 0 { value += 256 }
        result[index] = UInt8(value)
    }
    return result
}

/// Big-endian comparison: whether a > b.
func greater(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    for (x, y) in zip(a, b) where x != y { return x > y }
    return false
}

/// ⌊n/2⌋.
func half(_ n: [UInt8]) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: 32)
    var carry: UInt8 = 0
    for index in 0..<32 {
        result[index] = n[index] >> 1 | carry
        carry = (n[index] & 1) << 7
    }
    return result
}

/// The other valid ECDSA signature for the same r: (r, n − s).
func twin(_ signature: [UInt8], _ algorithm: SignatureAlgorithm) -> [UInt8] {
    Array(signature[0..<32]) + subtract(CurveOrder.of(algorithm), Array(signature[32..<64]))
}

/// Whether s ≤ n/2.
func isLowS(_ signature: [UInt8], _ algorithm: SignatureAlgorithm) -> Bool {
    !greater(Array(signature[32..<64]), half(CurveOrder.of(algorithm)))
}

func base64(_ text: String) throws -> [UInt8] {
    try Base64.decode(text, alphabet: .standard, padding: .optional)
}
