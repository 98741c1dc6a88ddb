import Multiformats

/// Compact JSON output into a byte buffer.
///
/// Strings are written as UTF-8 with only the escapes RFC 8259 §7 requires: `"`, `\` and the
/// control characters U+0000–U+001F (short forms where they exist, else `\u00XX`). Everything else,
/// non-ASCII included, is written as itself — shorter, and what other atproto services emit.
public struct JSONWriter: Sendable {
    /// The bytes written so far.
    public internal(set) var bytes: [UInt8]

    /// An empty writer; `capacity` pre-sizes the buffer.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends pre-serialized JSON verbatim. The caller vouches that it is valid JSON.
    public mutating func writeRaw<Bytes: Sequence>(_ json: Bytes) where Bytes.Element == UInt8 {
        bytes.append(contentsOf: json)
    }

    /// A quoted, escaped string.
    public mutating func write(string: String) {
        var string = string
        string.withUTF8 { write(utf8: $0) }
    }

    /// A quoted, escaped string from well-formed UTF-8 (the caller has checked it).
    mutating func write(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        writeEscaped(utf8: utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string: `utf8` with the escapes RFC 8259 requires. Runs without
    /// escapes (nearly all text) are found eight bytes at a time and appended whole.
    mutating func writeEscaped(utf8: UnsafeBufferPointer<UInt8>) {
        guard let base = utf8.baseAddress else { return }
        let count = utf8.count
        var runStart = 0
        var index = 0
        while index < count {
            if count - index >= 8, !Self.mayNeedEscape(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                index += 8
                continue
            }
            let byte = base[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: index - runStart)) }
            index += 1
            runStart = index
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0c: bytes.append(UInt8(ascii: "f"))
            case 0x0a: bytes.append(UInt8(ascii: "n"))
            case 0x0d: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            default:
                writeRaw("u00")
                bytes.append(JSONWriter.hexDigit(byte >> 4))
                bytes.append(JSONWriter.hexDigit(byte & 0xf))
            }
        }
        if runStart < count { bytes.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: count - runStart)) }
    }

    /// False when none of the eight bytes of `word` is below 0x20, `"` or `\` (bit tricks from
    /// "Bit Twiddling Hacks": a byte below n, a byte equal to zero; true may be a false alarm,
    /// which the byte-wise check then clears).
    @inline(__always)
    static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let control = (word &- ones &* 0x20) & ~word
        let quote = word ^ (ones &* 0x22), backslash = word ^ (ones &* 0x5c)
        return (control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highs != 0
    }

    /// `first` followed by `second` as one quoted, escaped string (an at:// URI from its parts).
    public mutating func write(string first: String, _ second: String) {
        var first = first, second = second
        bytes.append(UInt8(ascii: "\""))
        first.withUTF8 { writeEscaped(utf8: $0) }
        second.withUTF8 { writeEscaped(utf8: $0) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// A CID's string form, quoted (`"b…"`), written without building the string.
    public mutating func write(cidString cid: CID) {
        writeRaw("\"b")
        cid.bytes.withUnsafeBufferPointer { Base32.append($0, to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Fixed JSON text (punctuation, quoted keys), verbatim.
    @inline(__always)
    public mutating func writeRaw(_ literal: StaticString) {
        // Punctuation is one byte: appending a buffer costs ten times appending a byte.
        if literal.utf8CodeUnitCount == 1 { return bytes.append(literal.utf8Start.pointee) }
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `{"$bytes":"<standard base64, unpadded>"}`.
    mutating func write(bytesObject data: UnsafeBufferPointer<UInt8>) {
        writeRaw(#"{"$bytes":""#)
        Base64.append(data, to: &bytes, alphabet: .standard, padded: false)
        writeRaw(#""}"#)
    }

    /// `{"$link":"<CID string>"}` for a binary CID.
    mutating func write(linkObject cid: UnsafeBufferPointer<UInt8>) {
        writeRaw(#"{"$link":"b"#)
        Base32.append(cid, to: &bytes)
        writeRaw(#""}"#)
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10 }

    /// A decimal integer.
    public mutating func write(integer: Int64) {
        if integer < 0 { bytes.append(UInt8(ascii: "-")) }
        // Work on the magnitude as UInt64 so Int64.min needs no special case; digits are formed
        // right to left in a stack buffer (at most 19 for Int64).
        var magnitude = integer.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var index = 20
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[index...]))
        }
    }

    /// `true` / `false`.
    public mutating func write(bool: Bool) {
        if bool { bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65]) } else { bytes.append(contentsOf: [0x66, 0x61, 0x6c, 0x73, 0x65]) }
    }

    /// `null`.
    public mutating func writeNull() { bytes.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c]) }

    /// Any JSON value, object members in their stored order.
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: writeNull()
        case .bool(let bool): write(bool: bool)
        case .number(let number): bytes.append(contentsOf: number.text.utf8)
        case .string(let string): write(string: string)
        case .array(let array):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            for index in 0..<object.count {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(string: object.keys[index])
                bytes.append(UInt8(ascii: ":"))
                write(object.values[index])
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// A data-model value in the atproto JSON convention (spec: data model, "Data Types"):
    /// bytes as `{"$bytes": "<standard base64, unpadded>"}`, links as `{"$link": "<CID string>"}`.
    /// Map keys are written in bytewise UTF-8 order so the output is deterministic (JSON key
    /// order carries no meaning in atproto, and JSON is never hashed).
    public mutating func write(_ value: DataValue) {
        switch value {
        case .null: writeNull()
        case .bool(let bool): write(bool: bool)
        case .integer(let integer): write(integer: integer)
        case .string(let string): write(string: string)
        case .bytes(let data): data.withUnsafeBufferPointer { write(bytesObject: $0) }
        case .link(let cid): cid.bytes.withUnsafeBufferPointer { write(linkObject: $0) }
        case .array(let array):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .map(let map):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for key in map.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                write(string: key)
                bytes.append(UInt8(ascii: ":"))
                write(map[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}
