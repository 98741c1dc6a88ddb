/// A timestamp identifier (https://atproto.com/specs/tid): a 64-bit integer whose top bit is zero, followed by 53 bits
/// of microseconds since the UNIX epoch and 10 bits of clock id, written as 13 characters of the
/// base32-sortable alphabet `234567abcdefghijklmnopqrstuvwxyz`.
///
/// The spec's syntax (`^[234567abcdefghij][234567a-z]{12}$`) gives the first character 4 bits, so
/// the 13 characters spell exactly the 64-bit values, including those whose top bit is set (first
/// character `c`–`j`). A conforming generator never makes those, but they are syntactically valid
/// record keys, so they parse; `hasTopBitSet` tells them apart.
///
/// The alphabet is in ASCII order, so string order equals numeric order equals time order; that is
/// why TIDs work as record keys and commit revisions. Parsing is case-sensitive and the legacy
/// dashed form is rejected.
public struct TID: SyntaxValue, Comparable {
    /// The encoded length.
    public static let length = 13
    /// The largest timestamp (53 bits of microseconds, good until the year 2255).
    public static let maxTimestamp: UInt64 = (1 << 53) - 1
    /// The largest clock id (10 bits).
    public static let maxClockID: UInt16 = (1 << 10) - 1
    /// The TID with value zero, `2222222222222`.
    public static let zero = TID(uncheckedRawValue: 0)

    /// The 64-bit value. Generated TIDs have the top bit clear; see `hasTopBitSet`.
    public let rawValue: UInt64

    /// The sortable base32 alphabet (https://atproto.com/specs/tid).
    static let alphabet: [UInt8] = Array("234567abcdefghijklmnopqrstuvwxyz".utf8)

    /// Maps a byte to its 5-bit value, or 0xFF when it is not in the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// Parses a 13-character TID.
    public init(_ string: String) throws(SyntaxError) {
        rawValue = try scanUTF8(string) { bytes throws(SyntaxError) in try TID.decode(bytes) }
    }

    /// Wraps any 64-bit value. Every value has exactly one 13-character spelling.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Builds a TID from microseconds since the epoch (at most 53 bits) and a clock id (0–1023).
    public init(timestamp: UInt64, clockID: UInt16) throws(SyntaxError) {
        guard timestamp <= TID.maxTimestamp else { throw SyntaxError(.tid, "timestamp exceeds 53 bits") }
        guard clockID <= TID.maxClockID else { throw SyntaxError(.tid, "clock id exceeds 10 bits (0–1023)") }
        rawValue = timestamp << 10 | UInt64(clockID)
    }

    init(uncheckedRawValue: UInt64) { rawValue = uncheckedRawValue }

    /// Microseconds since the UNIX epoch.
    public var timestamp: UInt64 { rawValue >> 10 }

    /// Whether the top bit is set (first character `c`–`j`), which https://atproto.com/specs/tid says generated TIDs never
    /// have. Such a TID's `timestamp` exceeds 53 bits.
    public var hasTopBitSet: Bool { rawValue >> 63 != 0 }

    /// The generator's 10-bit clock id.
    public var clockID: UInt16 { UInt16(truncatingIfNeeded: rawValue & 0x3FF) }

    /// The 13-character encoding, most significant bits first: 13 × 5 = 65 bits, so the first
    /// character carries the top 4 bits and the other twelve 5 bits each.
    public var string: String {
        String(unsafeUninitializedCapacity: TID.length) { output in
            TID.alphabet.withUnsafeBufferPointer { alphabet in
                for index in 0..<TID.length {
                    let shift = UInt64(60 - 5 * index)
                    output[index] = alphabet[Int((rawValue >> shift) & 31)]
                }
            }
            return TID.length
        }
    }

    /// Orders by value, which is also string order and time order.
    public static func < (lhs: TID, rhs: TID) -> Bool { lhs.rawValue < rhs.rawValue }

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> UInt64 {
        guard bytes.count == length else { throw SyntaxError(.tid, "must be exactly \(length) characters") }
        var value: UInt64 = 0
        for byte in bytes {
            let digit = decodeTable[Int(byte)]
            guard digit != 0xFF else {
                throw SyntaxError(
                    .tid, "contains \(ASCII.describe(byte)), outside the lowercase alphabet 234567a-z")
            }
            value = value << 5 | UInt64(digit)
        }
        // 13 × 5 = 65 bits: the first character carries only 4 bits (https://atproto.com/specs/tid), so it must be one of
        // 234567abcdefghij; a fifth bit would fall outside the 64-bit value.
        guard decodeTable[Int(bytes[0])] < 16 else {
            throw SyntaxError(.tid, "must start with one of 234567abcdefghij (the first character carries only 4 bits)")
        }
        return value
    }
}
