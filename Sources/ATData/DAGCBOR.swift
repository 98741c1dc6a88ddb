/// DAG-CBOR as atproto restricts it (DRISL; spec: data-model "Binary Data Format", dasl.ing/drisl).
///
/// The encoder always produces the single canonical spelling. The decoder accepts *only* that
/// spelling: shortest heads, definite lengths, text map keys in canonical order without duplicates,
/// tag 42 as the only tag, `false`/`true`/`null` as the only simple values, no floats, valid UTF-8,
/// no trailing bytes. Anything else is a typed `DataError`, so a hash computed over bytes we
/// accepted is the hash every other implementation computes.
public enum DAGCBOR {
    /// Bounds the decoder enforces against hostile input.
    public struct Limits: Sendable {
        /// Deepest nesting of arrays and maps (data-model guide: 32 for records).
        public var maxDepth: Int
        /// Most elements in one array or map (data-model guide: 131,072).
        public var maxContainerLength: Int
        /// Largest input accepted.
        public var maxInputSize: Int

        public init(maxDepth: Int = 32, maxContainerLength: Int = 131_072, maxInputSize: Int = 2 * 1024 * 1024) {
            self.maxDepth = maxDepth
            self.maxContainerLength = maxContainerLength
            self.maxInputSize = maxInputSize
        }

        /// The data-model guide's limits, with a 2 MiB input cap (blocks and records are ≤ 1 MiB;
        /// firehose frames a little more).
        public static let `default` = Limits()
    }

    /// The canonical encoding of `value`.
    public static func encode(_ value: DataValue) -> [UInt8] {
        var writer = CBORWriter()
        writer.write(value)
        return writer.bytes
    }

    /// Decodes exactly one canonical item that spans all of `bytes`.
    public static func decode(_ bytes: [UInt8], limits: Limits = .default) throws(DataError) -> DataValue {
        try decode(bytes[...], limits: limits)
    }

    /// Decodes exactly one canonical item that spans all of `bytes`.
    public static func decode(_ bytes: ArraySlice<UInt8>, limits: Limits = .default) throws(DataError) -> DataValue {
        let (value, used) = try decodePrefix(bytes, limits: limits)
        guard used == bytes.count else { throw .trailingBytes }
        return value
    }

    /// Decodes the first item in `bytes` and returns it with the number of bytes it used
    /// (event-stream frames are a header item followed by a body item).
    public static func decodePrefix(_ bytes: ArraySlice<UInt8>, limits: Limits = .default) throws(DataError) -> (DataValue, Int) {
        guard bytes.count <= limits.maxInputSize else { throw .limitExceeded("input larger than \(limits.maxInputSize) bytes") }
        return try bytes.withUnsafeBufferPointer { buffer throws(DataError) in
            var reader = CBORReader(buffer: buffer, limits: limits)
            let value = try reader.readValue(depth: 0)
            return (value, reader.position)
        }
    }

    /// Map keys in DAG-CBOR canonical order: shorter UTF-8 first, then bytewise. (This equals
    /// RFC 8949 §4.2.1 bytewise order of the encoded keys, which DRISL prescribes.)
    public static func canonicalOrder<Keys: Sequence>(_ keys: Keys) -> [String] where Keys.Element == String {
        keys.sorted(by: precedesCanonically)
    }

    /// The canonical key comparison.
    @inline(__always)
    public static func precedesCanonically(_ lhs: String, _ rhs: String) -> Bool {
        let left = lhs.utf8.count, right = rhs.utf8.count
        if left != right { return left < right }
        return lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}

/// A strict single-pass reader over a byte buffer. Internal: use `DAGCBOR.decode`.
struct CBORReader {
    let buffer: UnsafeBufferPointer<UInt8>
    let limits: DAGCBOR.Limits
    var position = 0

    init(buffer: UnsafeBufferPointer<UInt8>, limits: DAGCBOR.Limits) {
        self.buffer = buffer
        self.limits = limits
    }

    @inline(__always)
    mutating func byte() throws(DataError) -> UInt8 {
        guard position < buffer.count else { throw .truncated }
        defer { position += 1 }
        return buffer[position]
    }

    /// Reads a head; returns (major type, argument). Rejects indefinite lengths, reserved
    /// additional-info values and non-shortest arguments.
    mutating func readHead() throws(DataError) -> (major: UInt8, argument: UInt64) {
        let initial = try byte()
        let major = initial >> 5
        let info = initial & 0x1f
        if major == 7 {
            // Simple values and floats have no "argument" in the integer sense; handled by caller.
            return (7, UInt64(info))
        }
        switch info {
        case 0..<24: return (major, UInt64(info))
        case 24:
            let value = UInt64(try byte())
            guard value >= 24 else { throw .nonCanonical("argument \(value) must use the one-byte head") }
            return (major, value)
        case 25:
            let value = try readUInt(count: 2)
            guard value > 0xff else { throw .nonCanonical("argument \(value) encoded in 2 bytes") }
            return (major, value)
        case 26:
            let value = try readUInt(count: 4)
            guard value > 0xffff else { throw .nonCanonical("argument \(value) encoded in 4 bytes") }
            return (major, value)
        case 27:
            let value = try readUInt(count: 8)
            guard value > 0xffff_ffff else { throw .nonCanonical("argument \(value) encoded in 8 bytes") }
            return (major, value)
        case 31: throw .forbidden("an indefinite-length item")
        default: throw .forbidden("reserved additional information \(info)")
        }
    }

    @inline(__always)
    mutating func readUInt(count: Int) throws(DataError) -> UInt64 {
        guard buffer.count - position >= count else { throw .truncated }
        var value: UInt64 = 0
        for offset in 0..<count { value = value << 8 | UInt64(buffer[position + offset]) }
        position += count
        return value
    }

    /// Returns a length argument as Int after checking that the input can hold it.
    @inline(__always)
    mutating func length(_ argument: UInt64, unitSize: Int) throws(DataError) -> Int {
        guard argument <= UInt64(buffer.count - position) / UInt64(unitSize) else { throw .truncated }
        return Int(argument)
    }

    mutating func readText(length: Int) throws(DataError) -> String {
        let slice = UnsafeBufferPointer(rebasing: buffer[position..<(position + length)])
        position += length
        guard let string = String(validatingUTF8Bytes: slice) else { throw .invalidUTF8 }
        return string
    }

    mutating func readValue(depth: Int) throws(DataError) -> DataValue {
        let (major, argument) = try readHead()
        switch major {
        case 0:
            guard argument <= UInt64(Int64.max) else { throw .integerOutOfRange }
            return .integer(Int64(argument))
        case 1:
            guard argument <= UInt64(Int64.max) else { throw .integerOutOfRange }
            return .integer(-1 - Int64(argument))
        case 2:
            let count = try length(argument, unitSize: 1)
            defer { position += count }
            return .bytes(Array(buffer[position..<(position + count)]))
        case 3:
            return .string(try readText(length: try length(argument, unitSize: 1)))
        case 4:
            guard depth < limits.maxDepth else { throw .limitExceeded("nesting deeper than \(limits.maxDepth)") }
            guard argument <= UInt64(limits.maxContainerLength) else { throw .limitExceeded("array longer than \(limits.maxContainerLength)") }
            let count = try length(argument, unitSize: 1)
            var array = [DataValue]()
            array.reserveCapacity(count)
            for _ in 0..<count { array.append(try readValue(depth: depth + 1)) }
            return .array(array)
        case 5:
            guard depth < limits.maxDepth else { throw .limitExceeded("nesting deeper than \(limits.maxDepth)") }
            guard argument <= UInt64(limits.maxContainerLength) else { throw .limitExceeded("map longer than \(limits.maxContainerLength)") }
            let count = try length(argument, unitSize: 2)
            var map = [String: DataValue](minimumCapacity: count)
            var previousKey: UnsafeBufferPointer<UInt8>? = nil
            for _ in 0..<count {
                let (keyMajor, keyArgument) = try readHead()
                guard keyMajor == 3 else { throw .badMapKey("map keys must be text strings") }
                let keyLength = try length(keyArgument, unitSize: 1)
                let keyBytes = UnsafeBufferPointer(rebasing: buffer[position..<(position + keyLength)])
                if let previous = previousKey {
                    // Canonical order is strict: equal keys (duplicates) fail here too.
                    let ordered = previous.count != keyBytes.count
                        ? previous.count < keyBytes.count
                        : previous.lexicographicallyPrecedes(keyBytes)
                    guard ordered else {
                        throw previous.elementsEqual(keyBytes) ? .badMapKey("duplicate key") : .badMapKey("keys out of canonical order")
                    }
                }
                previousKey = keyBytes
                let key = try readText(length: keyLength)
                map[key] = try readValue(depth: depth + 1)
            }
            return .map(map)
        case 6:
            guard argument == 42 else { throw .forbidden("tag \(argument) (only tag 42 is allowed)") }
            let (innerMajor, innerArgument) = try readHead()
            guard innerMajor == 2 else { throw .invalidCID("tag 42 must wrap a byte string") }
            let count = try length(innerArgument, unitSize: 1)
            guard count >= 1, buffer[position] == 0 else { throw .invalidCID("tag 42 bytes must start with 0x00") }
            let cidBytes = Array(buffer[(position + 1)..<(position + count)])
            position += count
            return .link(try CID(bytes: cidBytes))
        default:  // 7
            switch argument {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 25, 26, 27: throw .forbidden("floating-point numbers")
            case 23: throw .forbidden("the undefined value")
            case 31: throw .forbidden("the break code")
            default: throw .forbidden("simple value \(argument)")
            }
        }
    }
}
