import Multiformats

/// atproto JSON ⇄ `DataValue` (spec: data model, "Data Types", JSON column; https://atproto.com/specs/data-model.2).
///
/// The atproto JSON convention is not DAG-JSON: a cid-link is `{"$link": "<CID string>"}`, bytes
/// are `{"$bytes": "<standard base64>"}`, a blob is an ordinary object with `$type: "blob"`, and
/// numbers must be integers (floats do not exist in atproto).
extension DataValue {
    /// How `$link` / `$bytes` objects that break the convention are treated.
    public enum JSONMode: Sendable {
        /// Data-model validation, as the interop vectors (data-model-invalid.json) require:
        /// a `$link` or `$bytes` object with other keys or a non-string value is an error, and so
        /// is a `$type` that is not a non-empty string or a malformed `$type: "blob"` object.
        case strict
        /// The JS reference codec's reading (lex-cbor `poorlyFormatted`): such objects are kept
        /// as plain maps, and `$type` and blobs are not checked. For reading others' data only.
        case lenient
    }

    /// Parses atproto JSON straight into the data model, in one pass.
    ///
    /// Numbers: integer literals may use the whole signed 64-bit range; integer-valued spellings
    /// such as `123.0` or `1e2` are accepted as integers (data-model-valid.json, "float, but
    /// integer-like") but only up to ±(2^53−1), the range in which every JSON implementation
    /// reads them exactly (spec: "best practice is to stay within ±(2^53−1)"); a true fraction
    /// is an error. The top level may be any value: records require a map, which
    /// `DataModel.validateObject` / `validateRecord` check along with the data-model limits.
    public static func fromJSON(_ bytes: [UInt8], mode: JSONMode = .strict, limits: JSONLimits = .default) throws(DataError) -> DataValue {
        try fromJSON(bytes[...], mode: mode, limits: limits)
    }

    /// Parses atproto JSON straight into the data model.
    public static func fromJSON(_ bytes: ArraySlice<UInt8>, mode: JSONMode = .strict, limits: JSONLimits = .default) throws(DataError) -> DataValue {
        try bytes.withUnsafeBufferPointer { buffer throws(DataError) in
            var parser = JSONParser(input: buffer, limits: limits, builder: DataValueBuilder(mode: mode))
            return try parser.parseDocument()
        }
    }

    /// Parses atproto JSON held in a string.
    public static func fromJSON(_ text: String, mode: JSONMode = .strict, limits: JSONLimits = .default) throws(DataError) -> DataValue {
        try fromJSON(Array(text.utf8), mode: mode, limits: limits)
    }

    /// Converts an already-parsed JSON value with the same rules as `fromJSON`. `maxDepth`
    /// guards against a hand-built value nested deeper than the stack allows.
    public init(json: JSONValue, mode: JSONMode = .strict, maxDepth: Int = JSONLimits.default.maxDepth) throws(DataError) {
        self = try DataValue.convert(json, mode: mode, depth: 0, maxDepth: maxDepth)
    }

    private static func convert(_ json: JSONValue, mode: JSONMode, depth: Int, maxDepth: Int) throws(DataError) -> DataValue {
        switch json {
        case .null: return .null
        case .bool(let bool): return .bool(bool)
        case .string(let string): return .string(string)
        case .number(let number):
            var text = number.text
            // `withUTF8` rethrows untyped errors; carry the typed one out in a Result.
            let result = text.withUTF8 { utf8 in
                Result { () throws(DataError) in try DataValueBuilder.integer(utf8, isIntegerLiteral: number.isIntegerLiteral) }
            }
            return try result.get()
        case .array(let array):
            guard depth < maxDepth else { throw .limitExceeded("JSON nesting deeper than \(maxDepth)") }
            var result = [DataValue]()
            result.reserveCapacity(array.count)
            for element in array { result.append(try convert(element, mode: mode, depth: depth + 1, maxDepth: maxDepth)) }
            return .array(result)
        case .object(let object):
            guard depth < maxDepth else { throw .limitExceeded("JSON nesting deeper than \(maxDepth)") }
            var map = [String: DataValue](minimumCapacity: object.count)
            for (key, value) in object { map[key] = try convert(value, mode: mode, depth: depth + 1, maxDepth: maxDepth) }
            return try interpretJSONObject(map, mode: mode)
        }
    }

    /// Gives a parsed JSON object its atproto meaning: `$link` → `.link`, `$bytes` → `.bytes`,
    /// otherwise a map (checked for `$type` and blob rules in strict mode).
    static func interpretJSONObject(_ map: [String: DataValue], mode: JSONMode) throws(DataError) -> DataValue {
        if let link = map["$link"] {
            if map.count == 1, case .string(let string) = link { return .link(try CID(string: string)) }
            if mode == .strict {
                throw .invalidValue(map.count == 1
                    ? "$link must be a CID string"
                    : "a $link object must have no other keys (found \(map.count - 1) more)")
            }
        } else if let data = map["$bytes"] {
            if map.count == 1, case .string(let string) = data {
                // Standard alphabet (RFC 4648 §4); padding optional on input (https://atproto.com/specs/data-model).
                // Non-zero trailing bits are accepted: the interop Lexicon vectors treat
                // `{"$bytes": "123"}` as valid data, as the JS and Go decoders do. The bytes are
                // the same either way and CBOR has one spelling of them, so nothing is ambiguous.
                do {
                    return .bytes(try Base64.decode(string, alphabet: .standard, padding: .optional, allowTrailingBits: true))
                } catch {
                    throw .invalidValue("$bytes is not valid standard base64")
                }
            }
            if mode == .strict {
                throw .invalidValue(map.count == 1
                    ? "$bytes must be a base64 string"
                    : "a $bytes object must have no other keys (found \(map.count - 1) more)")
            }
        }
        if mode == .strict { try DataModel.checkTypedMap(map) }
        return .map(map)
    }

    /// Compact atproto JSON (bytes and links in the `$bytes` / `$link` convention, `$bytes`
    /// unpadded, map keys in bytewise order). A map that itself has a `$link` or `$bytes` key
    /// would read back as something else; `DataModel.validate` rejects such maps.
    public func toJSON() -> [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }

    /// `toJSON()` as a string.
    public var jsonString: String { String(decoding: toJSON(), as: UTF8.self) }

    /// The atproto JSON form as a `JSONValue` (map keys in bytewise order).
    public var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let bool): return .bool(bool)
        case .integer(let integer): return .number(JSONNumber(integer))
        case .string(let string): return .string(string)
        case .bytes(let data):
            return .object(JSONObject(uniqueKeys: ["$bytes"], values: [.string(Base64.encode(data, alphabet: .standard, padded: false))]))
        case .link(let cid):
            return .object(JSONObject(uniqueKeys: ["$link"], values: [.string(cid.string)]))
        case .array(let array): return .array(array.map(\.jsonValue))
        case .map(let map):
            let keys = map.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            return .object(JSONObject(uniqueKeys: keys, values: keys.map { map[$0]!.jsonValue }))
        }
    }
}

/// Builds `DataValue`s directly from the parser: no intermediate `JSONValue` tree.
struct DataValueBuilder: JSONTreeBuilder {
    typealias Object = [String: DataValue]
    let mode: DataValue.JSONMode

    /// ±(2^53−1): the limit for integers written as `1.0` / `1e2` (see `DataValue.fromJSON`).
    static let maxSafeInteger: UInt64 = (1 << 53) - 1

    func makeNull() -> DataValue { .null }
    func make(bool: Bool) -> DataValue { .bool(bool) }
    func make(string: String) -> DataValue { .string(string) }
    func make(number text: UnsafeBufferPointer<UInt8>, isIntegerLiteral: Bool) throws(DataError) -> DataValue {
        try DataValueBuilder.integer(text, isIntegerLiteral: isIntegerLiteral)
    }
    func make(array: [DataValue]) -> DataValue { .array(array) }
    func beginObject() -> Object { [:] }
    func add(key: String, value: DataValue, to object: inout Object) -> Bool {
        object.updateValue(value, forKey: key) == nil
    }
    func finish(object: Object) throws(DataError) -> DataValue {
        try DataValue.interpretJSONObject(object, mode: mode)
    }

    /// At most 32 characters of a number, for error messages (a hostile number can be megabytes).
    static func preview(_ text: UnsafeBufferPointer<UInt8>) -> String {
        text.count <= 32 ? String(decoding: text, as: UTF8.self)
            : String(decoding: UnsafeBufferPointer(rebasing: text[..<32]), as: UTF8.self) + "…"
    }

    /// The integer a scanned number denotes under the atproto rules.
    @inline(__always)
    static func integer(_ text: UnsafeBufferPointer<UInt8>, isIntegerLiteral: Bool) throws(DataError) -> DataValue {
        // Fast path: up to 18 digits cannot overflow Int64.
        if isIntegerLiteral && text.count <= 18 {
            var index = 0
            let negative = text[0] == UInt8(ascii: "-")
            if negative { index = 1 }
            var value: Int64 = 0
            while index < text.count {
                value = value &* 10 &+ Int64(text[index] &- UInt8(ascii: "0"))
                index += 1
            }
            return .integer(negative ? -value : value)
        }
        switch JSONNumberSyntax.exactInteger(text, nonLiteralLimit: maxSafeInteger) {
        case .value(let value): return .integer(value)
        case .notInteger:
            throw .invalidValue("number \(preview(text)) is not an integer: atproto data has no floating-point numbers")
        case .outOfRange:
            if isIntegerLiteral { throw .integerOutOfRange }
            throw .invalidValue("number \(preview(text)) is outside ±(2^53−1), the range where a non-integer spelling is exact everywhere")
        }
    }
}
