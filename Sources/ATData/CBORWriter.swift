/// Low-level DAG-CBOR writer: appends canonical heads and items to a byte buffer.
///
/// `DAGCBOR.encode` builds on it; hot paths with a fixed shape (MST nodes, commits, firehose
/// frames) can use it directly and skip building a `DataValue`. The caller is responsible for
/// writing map keys in canonical order (length first, then bytewise) — `DAGCBOR.canonicalOrder`.
public struct CBORWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// An empty writer; `capacity` pre-sizes the buffer.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A major type and argument in the shortest form (DRISL: "shortest possible encoding").
    @inline(__always)
    public mutating func writeHead(major: UInt8, _ argument: UInt64) {
        let type = major << 5
        switch argument {
        case 0..<24: bytes.append(type | UInt8(argument))
        case 24..<0x100: bytes.append(type | 24); bytes.append(UInt8(argument))
        case 0x100..<0x1_0000:
            bytes.append(type | 25)
            bytes.append(UInt8(argument >> 8)); bytes.append(UInt8(truncatingIfNeeded: argument))
        case 0x1_0000..<0x1_0000_0000:
            bytes.append(type | 26)
            for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift))) }
        default:
            bytes.append(type | 27)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift))) }
        }
    }

    /// A signed integer (major 0 or 1).
    public mutating func write(integer: Int64) {
        if integer >= 0 { writeHead(major: 0, UInt64(integer)) } else { writeHead(major: 1, UInt64(-1 - integer)) }
    }

    /// A text string.
    public mutating func write(text: String) {
        var text = text
        text.withUTF8 { utf8 in
            writeHead(major: 3, UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A byte string.
    public mutating func write<Bytes: Collection>(bytes value: Bytes) where Bytes.Element == UInt8 {
        writeHead(major: 2, UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A CID link: tag 42 around a byte string of `0x00 ‖ binary CID` (the leading zero is the
    /// multibase "identity" prefix the DAG-CBOR spec requires).
    public mutating func write(link: CID) {
        bytes.append(0xd8); bytes.append(42)
        writeHead(major: 2, UInt64(link.bytes.count + 1))
        bytes.append(0)
        bytes.append(contentsOf: link.bytes)
    }

    /// `true` / `false`.
    public mutating func write(bool: Bool) { bytes.append(bool ? 0xf5 : 0xf4) }
    /// `null`.
    public mutating func writeNull() { bytes.append(0xf6) }
    /// An array head; the caller writes `count` items next.
    public mutating func writeArrayHead(count: Int) { writeHead(major: 4, UInt64(count)) }
    /// A map head; the caller writes `count` key/value pairs next, keys in canonical order.
    public mutating func writeMapHead(count: Int) { writeHead(major: 5, UInt64(count)) }

    /// Any data-model value, maps in canonical key order.
    public mutating func write(_ value: DataValue) {
        switch value {
        case .null: writeNull()
        case .bool(let bool): write(bool: bool)
        case .integer(let integer): write(integer: integer)
        case .string(let string): write(text: string)
        case .bytes(let value): write(bytes: value)
        case .link(let cid): write(link: cid)
        case .array(let array):
            writeArrayHead(count: array.count)
            for element in array { write(element) }
        case .map(let map):
            writeMapHead(count: map.count)
            // Sort the entries themselves rather than the keys: looking each value up again by key
            // would hash every key a second time.
            for (key, element) in map.sorted(by: { DAGCBOR.precedesCanonically($0.key, $1.key) }) {
                write(text: key)
                write(element)
            }
        }
    }
}
