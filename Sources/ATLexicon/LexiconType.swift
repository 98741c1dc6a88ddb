/// One Lexicon type definition: a field schema, a named definition, or a primary (record, query,
/// procedure, subscription, permission set).
///
/// Refs are stored absolute (`nsid#name`, `#main` spelled out) so that two documents that say the
/// same thing compare equal whether they wrote `#entity` or `app.bsky.feed.post#entity`.
public indirect enum LexiconType: Hashable, Sendable {
    case boolean(const: Bool?)
    case integer(IntegerConstraints)
    case string(StringConstraints)
    case bytes(minLength: Int?, maxLength: Int?)
    case cidLink
    case blob(BlobConstraints)
    case array(items: LexiconType, minLength: Int?, maxLength: Int?)
    case object(ObjectSchema)
    /// A reference to another definition, absolute (`nsid#name`).
    case ref(String)
    /// A union of absolute refs; `closed` forbids `$type`s outside `refs`.
    case union(refs: [String], closed: Bool)
    /// Any data-model object (not a scalar, not a blob).
    case unknown
    /// A named constant with no data of its own (used in `knownValues`).
    case token
    /// A repository record: its key rule and its object schema.
    case record(key: RecordKeyRule, object: ObjectSchema)
    /// An XRPC query, procedure or subscription; only their parameters are kept.
    case xrpc(XRPCKind, parameters: ObjectSchema?)
    /// An OAuth permission set (kept as a marker; its content is not modelled here).
    case permissionSet

    /// The Lexicon `type` name.
    public var typeName: String {
        switch self {
        case .boolean: "boolean"
        case .integer: "integer"
        case .string: "string"
        case .bytes: "bytes"
        case .cidLink: "cid-link"
        case .blob: "blob"
        case .array: "array"
        case .object: "object"
        case .ref: "ref"
        case .union: "union"
        case .unknown: "unknown"
        case .token: "token"
        case .record: "record"
        case .xrpc(let kind, _): kind.rawValue
        case .permissionSet: "permission-set"
        }
    }

    /// Records, XRPC methods and permission sets: only allowed as a document's `main`.
    public var isPrimary: Bool {
        switch self {
        case .record, .xrpc, .permissionSet: true
        default: false
        }
    }
}

/// The three XRPC primary types.
public enum XRPCKind: String, Hashable, Sendable {
    case query, procedure, subscription
}

/// Constraints of an `integer` field.
public struct IntegerConstraints: Hashable, Sendable {
    public var minimum: Int64?
    public var maximum: Int64?
    public var enumeration: [Int64]?
    public var const: Int64?

    public init(minimum: Int64? = nil, maximum: Int64? = nil, enumeration: [Int64]? = nil, const: Int64? = nil) {
        self.minimum = minimum
        self.maximum = maximum
        self.enumeration = enumeration
        self.const = const
    }
}

/// The string formats of Lexicon v1.
public enum StringFormat: String, Hashable, Sendable, CaseIterable {
    case atIdentifier = "at-identifier"
    case atURI = "at-uri"
    case cid
    case datetime
    case did
    case handle
    case nsid
    case tid
    case recordKey = "record-key"
    case uri
    case language
}

/// Constraints of a `string` field. Lengths are UTF-8 bytes; graphemes are extended grapheme
/// clusters (Swift `Character`s), as the spec says.
public struct StringConstraints: Hashable, Sendable {
    public var format: StringFormat?
    public var minLength: Int?
    public var maxLength: Int?
    public var minGraphemes: Int?
    public var maxGraphemes: Int?
    /// A closed set of values (`knownValues`, being open, is not kept).
    public var enumeration: [String]?
    public var const: String?

    public init(
        format: StringFormat? = nil, minLength: Int? = nil, maxLength: Int? = nil,
        minGraphemes: Int? = nil, maxGraphemes: Int? = nil, enumeration: [String]? = nil, const: String? = nil
    ) {
        self.format = format
        self.minLength = minLength
        self.maxLength = maxLength
        self.minGraphemes = minGraphemes
        self.maxGraphemes = maxGraphemes
        self.enumeration = enumeration
        self.const = const
    }
}

/// Constraints of a `blob` field: MIME patterns (`image/*`, `*/*`, or exact) and a size cap.
public struct BlobConstraints: Hashable, Sendable {
    public var accept: [String]?
    public var maxSize: Int64?

    public init(accept: [String]? = nil, maxSize: Int64? = nil) {
        self.accept = accept
        self.maxSize = maxSize
    }

    /// True when `mimeType` matches one of `accept` (or `accept` is absent).
    public func accepts(mimeType: String) -> Bool {
        guard let accept else { return true }
        return accept.contains { pattern in
            if pattern == "*/*" { return true }
            if pattern.hasSuffix("/*") {
                return mimeType.hasPrefix(pattern.dropLast())  // keeps the "/": "image/" prefix
            }
            return pattern == mimeType
        }
    }
}

/// An `object` (or `params`) schema.
public struct ObjectSchema: Hashable, Sendable {
    public var properties: [String: LexiconType]
    public var required: Set<String>
    public var nullable: Set<String>

    public init(properties: [String: LexiconType], required: Set<String> = [], nullable: Set<String> = []) {
        self.properties = properties
        self.required = required
        self.nullable = nullable
    }
}

/// A record definition's `key`: which record keys a record of this type may be stored under.
public enum RecordKeyRule: Hashable, Sendable {
    case tid
    case nsid
    case any
    case literal(String)

    /// The Lexicon spelling (`tid`, `nsid`, `any`, `literal:self`).
    public var text: String {
        switch self {
        case .tid: "tid"
        case .nsid: "nsid"
        case .any: "any"
        case .literal(let value): "literal:\(value)"
        }
    }
}
