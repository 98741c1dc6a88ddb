/// Bounds the JSON parser enforces against hostile input.
public struct JSONLimits: Sendable {
    /// Largest input accepted, in bytes (spec guide: record JSON ≤ 2 MiB).
    public var maxInputSize: Int
    /// Deepest nesting of arrays and objects. This bounds the parser's recursion; the data
    /// model's own limit of 32 is checked on the result by `DataModel.validate`, since a
    /// `{"$link": …}` object is a JSON level but not a data-model one.
    public var maxDepth: Int
    /// Most elements in one array or members in one object (data-model guide: 131,072).
    public var maxContainerLength: Int

    /// Limits with the given values.
    public init(maxInputSize: Int = 2 * 1024 * 1024, maxDepth: Int = 64, maxContainerLength: Int = 131_072) {
        self.maxInputSize = maxInputSize
        self.maxDepth = maxDepth
        self.maxContainerLength = maxContainerLength
    }

    /// 2 MiB input, depth 64, 131,072 elements per container.
    public static let `default` = JSONLimits()
}

/// What the parser produces values with. The parser handles syntax; a builder decides the result
/// type and any meaning beyond syntax (atproto's `$link`, integer-only numbers…). Generic
/// specialization makes each builder its own tight parser.
protocol JSONTreeBuilder {
    associatedtype Value
    /// An object under construction.
    associatedtype Object

    mutating func makeNull() -> Value
    mutating func make(bool: Bool) -> Value
    mutating func make(string: String) -> Value
    /// `text` is a scanned RFC 8259 number.
    mutating func make(number text: UnsafeBufferPointer<UInt8>, isIntegerLiteral: Bool) throws(DataError) -> Value
    mutating func make(array: [Value]) -> Value
    mutating func beginObject() -> Object
    /// Adds a member; returns false if the key is already present.
    mutating func add(key: String, value: Value, to object: inout Object) -> Bool
    mutating func finish(object: Object) throws(DataError) -> Value
}

/// A strict recursive-descent RFC 8259 parser over a byte buffer. Internal: use `JSONValue.parse`
/// or `DataValue.fromJSON`.
///
/// Beyond the RFC it rejects: duplicate object keys, `\u` escapes that leave a surrogate unpaired
/// (they cannot become UTF-8), invalid UTF-8 anywhere, a byte-order mark, and anything after the
/// top-level value but whitespace.
struct JSONParser<Builder: JSONTreeBuilder> {
    let input: UnsafeBufferPointer<UInt8>
    let limits: JSONLimits
    var builder: Builder
    var position = 0
    /// Reused buffer for strings with escapes.
    var scratch: [UInt8] = []

    init(input: UnsafeBufferPointer<UInt8>, limits: JSONLimits, builder: Builder) {
        self.input = input
        self.limits = limits
        self.builder = builder
    }

    mutating func parseDocument() throws(DataError) -> Builder.Value {
        guard input.count <= limits.maxInputSize else {
            throw .limitExceeded("JSON input larger than \(limits.maxInputSize) bytes")
        }
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard position == input.count else { throw fail("unexpected data after the top-level value") }
        return value
    }

    func fail(_ reason: String, at offset: Int? = nil) -> DataError {
        .invalidJSON(reason, offset: offset ?? position)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        // RFC 8259 §2: ws = space, horizontal tab, line feed, carriage return. Nothing else.
        while position < input.count {
            switch input[position] {
            case 0x20, 0x09, 0x0a, 0x0d: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(DataError) -> Builder.Value {
        guard position < input.count else { throw fail("unexpected end of input") }
        switch input[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return builder.make(string: try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return builder.make(bool: true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return builder.make(bool: false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return builder.makeNull()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = position
            switch JSONNumberSyntax.scan(input, from: start) {
            case .invalid(let reason, let offset): throw fail(reason, at: offset)
            case .number(let end, let isIntegerLiteral):
                position = end
                return try builder.make(number: UnsafeBufferPointer(rebasing: input[start..<end]), isIntegerLiteral: isIntegerLiteral)
            }
        case 0xef where position == 0:
            throw fail("byte-order mark is not allowed")
        default:
            throw fail("expected a JSON value")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(DataError) {
        let count = literal.utf8CodeUnitCount
        guard input.count - position >= count else { throw fail("invalid literal") }
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where input[position + offset] != bytes[offset] {
            throw fail("invalid literal", at: position + offset)
        }
        position += count
    }

    mutating func parseArray(depth: Int) throws(DataError) -> Builder.Value {
        guard depth < limits.maxDepth else { throw .limitExceeded("JSON nesting deeper than \(limits.maxDepth)") }
        position += 1  // [
        var elements: [Builder.Value] = []
        skipWhitespace()
        if position < input.count && input[position] == UInt8(ascii: "]") {
            position += 1
            return builder.make(array: elements)
        }
        while true {
            guard elements.count < limits.maxContainerLength else {
                throw .limitExceeded("JSON array longer than \(limits.maxContainerLength)")
            }
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < input.count else { throw fail("unexpected end of input in an array") }
            switch input[position] {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                position += 1
                return builder.make(array: elements)
            default:
                throw fail("expected ',' or ']'")
            }
        }
    }

    mutating func parseObject(depth: Int) throws(DataError) -> Builder.Value {
        guard depth < limits.maxDepth else { throw .limitExceeded("JSON nesting deeper than \(limits.maxDepth)") }
        let start = position
        position += 1  // {
        var object = builder.beginObject()
        var count = 0
        skipWhitespace()
        if position < input.count && input[position] == UInt8(ascii: "}") {
            position += 1
            return try finish(object, start: start)
        }
        while true {
            guard count < limits.maxContainerLength else {
                throw .limitExceeded("JSON object with more than \(limits.maxContainerLength) members")
            }
            guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                throw fail(position < input.count ? "expected a string key" : "unexpected end of input in an object")
            }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            guard position < input.count, input[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            // RFC 8259 §4: names "SHOULD be unique"; atproto data maps MUST be (CBOR has no
            // duplicates), and accepting them invites parser-differential attacks.
            guard builder.add(key: key, value: value, to: &object) else {
                // Quote at most 64 characters: a hostile key can be megabytes long.
                let shown = key.count <= 64 ? key : String(key.prefix(64)) + "…"
                throw .badMapKey("duplicate key \"\(shown)\" in JSON object at byte \(keyOffset)")
            }
            count += 1
            skipWhitespace()
            guard position < input.count else { throw fail("unexpected end of input in an object") }
            switch input[position] {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                position += 1
                return try finish(object, start: start)
            default:
                throw fail("expected ',' or '}'")
            }
        }
    }

    @inline(__always)
    mutating func finish(_ object: Builder.Object, start: Int) throws(DataError) -> Builder.Value {
        do {
            return try builder.finish(object: object)
        } catch {
            // Say where the offending object starts: a record can hold many `$link`s.
            if case .invalidValue(let why) = error { throw .invalidValue("\(why) (object at byte \(start))") }
            throw error
        }
    }

    /// Parses a string starting at the opening quote. Unescaped strings (the common case) are
    /// validated in place in one pass; strings with escapes are rebuilt in `scratch`.
    mutating func parseString() throws(DataError) -> String {
        position += 1  // opening quote
        let start = position
        let count = input.count
        while position < count {
            let byte = input[position]
            if byte == UInt8(ascii: "\"") {
                let string = try validatedString(UnsafeBufferPointer(rebasing: input[start..<position]), offset: start)
                position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") { return try parseEscapedString(from: start) }
            // RFC 8259 §7: control characters U+0000–U+001F must be escaped.
            if byte < 0x20 { throw fail("unescaped control character in a string") }
            position += 1
        }
        throw fail("unterminated string", at: start - 1)
    }

    @inline(__always)
    func validatedString(_ bytes: UnsafeBufferPointer<UInt8>, offset: Int) throws(DataError) -> String {
        // Swift's validation rejects overlong forms, encoded surrogates and bytes above U+10FFFF.
        guard let string = String(validatingUTF8Bytes: bytes) else { throw .invalidUTF8 }
        return string
    }

    mutating func parseEscapedString(from start: Int) throws(DataError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<position]))
        let count = input.count
        while position < count {
            let byte = input[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                // Escapes only ever add whole, valid sequences, so validating the rebuilt bytes
                // once also catches any invalid raw bytes between them.
                guard let string = scratch.withUnsafeBufferPointer({ String(validatingUTF8Bytes: $0) }) else { throw .invalidUTF8 }
                return string
            case UInt8(ascii: "\\"):
                let escapeOffset = position
                position += 1
                guard position < count else { break }
                let escaped = input[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""): scratch.append(0x22)
                case UInt8(ascii: "\\"): scratch.append(0x5c)
                case UInt8(ascii: "/"): scratch.append(0x2f)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0c)
                case UInt8(ascii: "n"): scratch.append(0x0a)
                case UInt8(ascii: "r"): scratch.append(0x0d)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        // A high surrogate must be followed at once by an escaped low surrogate.
                        guard count - position >= 6, input[position] == UInt8(ascii: "\\"),
                            input[position + 1] == UInt8(ascii: "u")
                        else { throw fail("unpaired high surrogate escape", at: escapeOffset) }
                        position += 2
                        let low = try hex4()
                        guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("unpaired high surrogate escape", at: escapeOffset) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                        throw fail("unpaired low surrogate escape", at: escapeOffset)
                    }
                    appendUTF8(scalar)
                default:
                    throw fail("invalid escape sequence", at: escapeOffset)
                }
            default:
                if byte < 0x20 { throw fail("unescaped control character in a string") }
                scratch.append(byte)
                position += 1
            }
        }
        throw fail("unterminated string", at: start - 1)
    }

    mutating func hex4() throws(DataError) -> UInt32 {
        guard input.count - position >= 4 else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = input[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}

/// Builds `JSONValue`s: numbers keep their text, objects their order.
struct JSONValueBuilder: JSONTreeBuilder {
    struct Object {
        var keys: [String] = []
        var values: [JSONValue] = []
        /// Duplicate detection: a linear scan while small, a set once the object grows, so a
        /// 100,000-member object costs O(n), not O(n²).
        var seen: Set<String>? = nil
    }

    func makeNull() -> JSONValue { .null }
    func make(bool: Bool) -> JSONValue { .bool(bool) }
    func make(string: String) -> JSONValue { .string(string) }
    func make(number text: UnsafeBufferPointer<UInt8>, isIntegerLiteral: Bool) throws(DataError) -> JSONValue {
        .number(JSONNumber(validatedText: String(decoding: text, as: UTF8.self)))
    }
    func make(array: [JSONValue]) -> JSONValue { .array(array) }
    func beginObject() -> Object { Object() }

    func add(key: String, value: JSONValue, to object: inout Object) -> Bool {
        if object.seen != nil {
            guard object.seen!.insert(key).inserted else { return false }
        } else if object.keys.count < 16 {
            if object.keys.contains(key) { return false }
        } else {
            var seen = Set(object.keys)
            guard seen.insert(key).inserted else { return false }
            object.seen = seen
        }
        object.keys.append(key)
        object.values.append(value)
        return true
    }

    func finish(object: Object) throws(DataError) -> JSONValue {
        .object(JSONObject(uniqueKeys: object.keys, values: object.values))
    }
}
