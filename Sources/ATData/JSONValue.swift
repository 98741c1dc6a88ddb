/// A general JSON value (RFC 8259), for documents that are not atproto data: XRPC bodies before
/// Lexicon validation, DID documents, OAuth metadata, JWT parts.
///
/// Numbers keep their exact text (`JSONNumber`) and objects keep their member order, so a document
/// passes through parse → serialize without change beyond whitespace. For atproto data use
/// `DataValue.fromJSON`, which parses straight into the data model (see `DataValue+JSON.swift`).
public indirect enum JSONValue: Hashable, Sendable {
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// A number, kept as its exact text.
    case number(JSONNumber)
    /// A string (always valid Unicode: the parser rejects invalid UTF-8 and lone surrogates).
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object with unique keys in document order.
    case object(JSONObject)
}

extension JSONValue {
    /// Parses one JSON document that spans all of `bytes`, within `limits`. Rejects everything
    /// RFC 8259 does not allow, plus duplicate object keys and unpaired surrogate escapes
    /// (both "interoperability" hazards in RFC 8259 §4 and §8.2 that we refuse outright).
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .default) throws(DataError) -> JSONValue {
        try parse(bytes[...], limits: limits)
    }

    /// Parses one JSON document that spans all of `bytes`.
    public static func parse(_ bytes: ArraySlice<UInt8>, limits: JSONLimits = .default) throws(DataError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(DataError) in
            var parser = JSONParser(input: buffer, limits: limits, builder: JSONValueBuilder())
            return try parser.parseDocument()
        }
    }

    /// Parses one JSON document held in a string.
    public static func parse(_ text: String, limits: JSONLimits = .default) throws(DataError) -> JSONValue {
        try parse(Array(text.utf8), limits: limits)
    }

    /// Compact serialization: no insignificant whitespace, members in their stored order.
    public func serialized() -> [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }

    /// Compact serialization as a string.
    public var serializedString: String { String(decoding: serialized(), as: UTF8.self) }
}

extension JSONValue {
    /// The string, or nil.
    public var stringValue: String? { if case .string(let string) = self { string } else { nil } }
    /// The boolean, or nil.
    public var boolValue: Bool? { if case .bool(let bool) = self { bool } else { nil } }
    /// The number, or nil.
    public var numberValue: JSONNumber? { if case .number(let number) = self { number } else { nil } }
    /// The number as an exact `Int64` (see `JSONNumber.int64Value`), or nil.
    public var int64Value: Int64? { numberValue?.int64Value }
    /// The number as the nearest `Double`, or nil.
    public var doubleValue: Double? { numberValue?.doubleValue }
    /// The array's elements, or nil.
    public var arrayValue: [JSONValue]? { if case .array(let array) = self { array } else { nil } }
    /// The object, or nil.
    public var objectValue: JSONObject? { if case .object(let object) = self { object } else { nil } }
    /// True for `.null`.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// Member lookup for objects (nil for absent keys and non-objects).
    public subscript(key: String) -> JSONValue? { objectValue?[key] }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .number(JSONNumber(value)) }
    /// A float literal; it must be finite.
    public init(floatLiteral value: Double) {
        guard let number = JSONNumber(value) else { preconditionFailure("JSON numbers must be finite") }
        self = .number(number)
    }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Members in literal order; a repeated key keeps its first position and last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

/// A JSON object: members with unique keys, in insertion (document) order.
///
/// Lookup is a linear scan, which beats hashing for the small objects JSON documents are made
/// of; build a dictionary yourself for a large object read many times. Equality is order-sensitive.
public struct JSONObject: Hashable, Sendable, Sequence {
    /// The keys, in order.
    public private(set) var keys: [String]
    /// The values, parallel to `keys`.
    public private(set) var values: [JSONValue]

    /// An empty object.
    public init() {
        keys = []
        values = []
    }

    /// An object from members in order; a repeated key keeps its first position and last value.
    public init<Members: Sequence>(_ members: Members) where Members.Element == (String, JSONValue) {
        self.init()
        for (key, value) in members { self[key] = value }
    }

    /// Internal: members already known to have unique keys (the parser checked).
    init(uniqueKeys keys: [String], values: [JSONValue]) {
        self.keys = keys
        self.values = values
    }

    /// The number of members.
    public var count: Int { keys.count }
    /// True when there are no members.
    public var isEmpty: Bool { keys.isEmpty }

    /// The value for `key`. Setting appends a new key at the end, replaces an existing value in
    /// place, and `nil` removes the member.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let index = keys.firstIndex(of: key) else { return nil }
            return values[index]
        }
        set {
            if let index = keys.firstIndex(of: key) {
                if let newValue { values[index] = newValue } else {
                    keys.remove(at: index)
                    values.remove(at: index)
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// The members in order.
    public func makeIterator() -> Zip2Sequence<[String], [JSONValue]>.Iterator {
        zip(keys, values).makeIterator()
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// An object from a literal; later duplicates replace earlier ones.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}
