/// A value in the atproto data model (spec: data-model, "Data Types").
///
/// Integers are signed 64-bit; floats do not exist in atproto. Maps have text keys; their order in
/// memory is irrelevant because the encoder writes the canonical order. Blobs are maps with
/// `$type: "blob"` at this level; `BlobRef` gives them a typed view.
public indirect enum DataValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case bytes([UInt8])
    case link(CID)
    case array([DataValue])
    case map([String: DataValue])
}

extension DataValue {
    /// The map's entries, or nil for other kinds.
    public var mapValue: [String: DataValue]? { if case .map(let map) = self { map } else { nil } }
    /// The array's elements, or nil.
    public var arrayValue: [DataValue]? { if case .array(let array) = self { array } else { nil } }
    /// The string, or nil.
    public var stringValue: String? { if case .string(let string) = self { string } else { nil } }
    /// The integer, or nil.
    public var integerValue: Int64? { if case .integer(let integer) = self { integer } else { nil } }
    /// The boolean, or nil.
    public var boolValue: Bool? { if case .bool(let bool) = self { bool } else { nil } }
    /// The bytes, or nil.
    public var bytesValue: [UInt8]? { if case .bytes(let bytes) = self { bytes } else { nil } }
    /// The link, or nil.
    public var linkValue: CID? { if case .link(let cid) = self { cid } else { nil } }
    /// True for `.null`.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// Member lookup for maps (nil for absent keys and non-maps).
    public subscript(key: String) -> DataValue? { mapValue?[key] }

    /// The record/object `$type`, if this is a map with a string `$type`.
    public var typeName: String? { self["$type"]?.stringValue }
}

extension DataValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: DataValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, DataValue)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
