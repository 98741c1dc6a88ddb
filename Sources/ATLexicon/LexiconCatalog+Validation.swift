import ATData
import ATSyntax

/// A blob found while validating a record, with the schema's constraints on it. The PDS checks
/// the stored blob (its real MIME type and size) against these at write time.
public struct ValidatedBlob: Hashable, Sendable {
    /// The blob's CID (from `ref`, or the legacy `cid` string).
    public let cid: CID
    public let mimeType: String
    /// nil for a legacy `{cid, mimeType}` reference.
    public let size: Int64?
    public let constraints: BlobConstraints
}

extension LexiconCatalog {
    /// The outcome of validating a record whose collection may or may not have a schema here.
    public enum RecordValidation: Hashable, Sendable {
        /// The collection has a schema and the record matches it; `blobs` are the blob refs seen.
        case valid(blobs: [ValidatedBlob])
        /// The catalog has no schema for the collection.
        case unknownLexicon
    }

    /// Validates `record` as a record of `collection` stored under `rkey`, following the Lexicon
    /// rules (https://atproto.com/specs/lexicon): `$type` must be the collection, the key must fit the record's key
    /// rule, every field its schema. Unknown extra fields are ignored. Throws on invalid data.
    public func validateRecord(_ record: DataValue, collection: String, rkey: String? = nil) throws(LexiconValidationError) -> RecordValidation {
        guard let schema = recordSchema(collection) else { return .unknownLexicon }
        guard case .map(let map) = record else { throw LexiconValidationError("Record must be an object") }
        guard map["$type"] == .string(collection) else {
            throw LexiconValidationError("Record/$type must be \(collection)")
        }
        if let rkey { try Self.checkRecordKey(rkey, rule: schema.key) }
        var walker = Walker(catalog: self)
        try walker.object(map, schema: schema.object, path: "Record")
        return .valid(blobs: walker.blobs)
    }

    /// Validates a value against an absolute ref (`nsid#name`) or a bare NSID's main definition.
    /// For tests and for checking non-record data.
    public func validate(_ value: DataValue, against ref: String, path: String = "Value") throws(LexiconValidationError) {
        var walker = Walker(catalog: self)
        try walker.value(value, type: .ref(LexiconDocument.absoluteRef(ref, in: "")), path: path)
    }

    static func checkRecordKey(_ rkey: String, rule: RecordKeyRule) throws(LexiconValidationError) {
        let fits: Bool = switch rule {
        case .any: RecordKey.isValid(rkey)
        case .tid: TID.isValid(rkey)
        case .nsid: NSID.isValid(rkey)
        case .literal(let value): rkey == value
        }
        if !fits { throw LexiconValidationError("Record key \(rkey) does not match the Lexicon key type \(rule.text)") }
    }

    /// Walks data and schema together, collecting blobs.
    struct Walker {
        let catalog: LexiconCatalog
        var blobs: [ValidatedBlob] = []
        /// Ref chains that come back to themselves without consuming data would loop forever.
        var refDepth = 0

        mutating func value(_ value: DataValue, type: LexiconType, path: String) throws(LexiconValidationError) {
            switch type {
            case .boolean(let const):
                guard case .bool(let bool) = value else { throw LexiconValidationError("\(path) must be a boolean") }
                if let const, bool != const { throw LexiconValidationError("\(path) must be \(const)") }
            case .integer(let c):
                guard case .integer(let integer) = value else { throw LexiconValidationError("\(path) must be an integer") }
                try Self.check(integer, c, path: path)
            case .string(let c):
                guard case .string(let string) = value else { throw LexiconValidationError("\(path) must be a string") }
                try Self.check(string, c, path: path)
            case .bytes(let min, let max):
                guard case .bytes(let bytes) = value else { throw LexiconValidationError("\(path) must be a byte array") }
                if let min, bytes.count < min { throw LexiconValidationError("\(path) must not be smaller than \(min) bytes") }
                if let max, bytes.count > max { throw LexiconValidationError("\(path) must not be larger than \(max) bytes") }
            case .cidLink:
                guard case .link = value else { throw LexiconValidationError("\(path) must be a CID") }
            case .blob(let c):
                try blob(value, c, path: path)
            case .array(let items, let min, let max):
                guard case .array(let elements) = value else { throw LexiconValidationError("\(path) must be an array") }
                if let min, elements.count < min { throw LexiconValidationError("\(path) must not have fewer than \(min) elements") }
                if let max, elements.count > max { throw LexiconValidationError("\(path) must not have more than \(max) elements") }
                for (index, element) in elements.enumerated() {
                    try self.value(element, type: items, path: "\(path)/\(index)")
                }
            case .object(let schema):
                guard case .map(let map) = value, !Self.isBlob(map) else { throw LexiconValidationError("\(path) must be an object") }
                try object(map, schema: schema, path: path)
            case .ref(let ref):
                try follow(ref, value: value, path: path)
            case .union(let refs, let closed):
                guard case .map(let map) = value, !Self.isBlob(map) else { throw LexiconValidationError("\(path) must be an object which includes the \"$type\" property") }
                guard case .string(let typeName)? = map["$type"] else {
                    throw LexiconValidationError("\(path) must be an object which includes the \"$type\" property")
                }
                // `$type` names a main definition by its bare NSID; `nsid#main` there is invalid.
                guard !typeName.hasSuffix("#main") else { throw LexiconValidationError("\(path)/$type must not end in #main") }
                let absolute = LexiconDocument.absoluteRef(typeName, in: "")
                guard refs.contains(absolute) else {
                    if closed { throw LexiconValidationError("\(path) $type must be one of \(refs.map(Self.display).joined(separator: ", "))") }
                    return  // open union: a type we do not know is accepted as is
                }
                try follow(absolute, value: value, path: path)
            case .unknown:
                guard case .map(let map) = value, !Self.isBlob(map) else { throw LexiconValidationError("\(path) must be an object") }
            case .token:
                throw LexiconValidationError("\(path): a token cannot hold data")
            case .record(_, let schema):
                guard case .map(let map) = value else { throw LexiconValidationError("\(path) must be an object") }
                try object(map, schema: schema, path: path)
            case .xrpc, .permissionSet:
                throw LexiconValidationError("\(path): a \(type.typeName) definition cannot hold data")
            }
        }

        mutating func object(_ map: [String: DataValue], schema: ObjectSchema, path: String) throws(LexiconValidationError) {
            for name in schema.required where map[name] == nil {
                throw LexiconValidationError("\(path) must have the property \"\(name)\"")
            }
            for (name, property) in schema.properties {
                guard let fieldValue = map[name] else { continue }
                if fieldValue.isNull {
                    if schema.nullable.contains(name) { continue }
                    throw LexiconValidationError("\(path)/\(name) must not be null")
                }
                try value(fieldValue, type: property, path: "\(path)/\(name)")
            }
        }

        mutating func follow(_ ref: String, value: DataValue, path: String) throws(LexiconValidationError) {
            guard let target = catalog.definition(ref) else { throw LexiconValidationError("\(path): Lexicon not found: \(Self.display(ref))") }
            if case .token = target { throw LexiconValidationError("\(path): \(Self.display(ref)) is a token, not a data type") }
            refDepth += 1
            defer { refDepth -= 1 }
            guard refDepth < 32 else { throw LexiconValidationError("\(path): refs nest too deeply") }
            try self.value(value, type: target, path: path)
        }

        mutating func blob(_ value: DataValue, _ c: BlobConstraints, path: String) throws(LexiconValidationError) {
            guard case .map(let map) = value else { throw LexiconValidationError("\(path) should be a blob ref") }
            let cid: CID, mimeType: String, size: Int64?
            if map["$type"] != nil {
                // The data model's blob shape; the codec of `ref` is the data model's business.
                guard map["$type"] == .string("blob"), case .link(let link)? = map["ref"],
                      case .string(let mime)? = map["mimeType"], !mime.isEmpty,
                      case .integer(let length)? = map["size"], length >= 0
                else { throw LexiconValidationError("\(path) should be a blob ref") }
                (cid, mimeType, size) = (link, mime, length)
            } else if map.count == 2, case .string(let cidText)? = map["cid"], case .string(let mime)? = map["mimeType"],
                      let link = try? CID(string: cidText) {
                (cid, mimeType, size) = (link, mime, nil)  // legacy reference: readable, no size
            } else {
                throw LexiconValidationError("\(path) should be a blob ref")
            }
            if let maxSize = c.maxSize, let size, size > maxSize {
                throw LexiconValidationError("\(path) is too big: \(size) bytes, at most \(maxSize) allowed")
            }
            if !c.accepts(mimeType: mimeType) {
                throw LexiconValidationError("\(path) has an unacceptable MIME type \(mimeType): expected \((c.accept ?? []).joined(separator: ", "))")
            }
            blobs.append(ValidatedBlob(cid: cid, mimeType: mimeType, size: size, constraints: c))
        }

        static func check(_ integer: Int64, _ c: IntegerConstraints, path: String) throws(LexiconValidationError) {
            if let const = c.const, integer != const { throw LexiconValidationError("\(path) must be \(const)") }
            if let values = c.enumeration, !values.contains(integer) {
                throw LexiconValidationError("\(path) must be one of (\(values.map(String.init).joined(separator: "|")))")
            }
            if let min = c.minimum, integer < min { throw LexiconValidationError("\(path) can not be less than \(min)") }
            if let max = c.maximum, integer > max { throw LexiconValidationError("\(path) can not be greater than \(max)") }
        }

        static func check(_ string: String, _ c: StringConstraints, path: String) throws(LexiconValidationError) {
            if let const = c.const, string != const { throw LexiconValidationError("\(path) must be \(const)") }
            if let values = c.enumeration, !values.contains(string) {
                throw LexiconValidationError("\(path) must be one of (\(values.joined(separator: "|")))")
            }
            let bytes = string.utf8.count
            if let min = c.minLength, bytes < min { throw LexiconValidationError("\(path) must not be shorter than \(min) characters") }
            if let max = c.maxLength, bytes > max { throw LexiconValidationError("\(path) must not be longer than \(max) characters") }
            if c.minGraphemes != nil || c.maxGraphemes != nil {
                // A grapheme is at least one byte, so short enough in bytes means short enough in
                // graphemes; only count when it can matter (counting walks the whole string).
                let needsCount = (c.maxGraphemes.map { bytes > $0 } ?? false) || (c.minGraphemes != nil)
                if needsCount {
                    let graphemes = string.count
                    if let min = c.minGraphemes, graphemes < min { throw LexiconValidationError("\(path) must not be shorter than \(min) graphemes") }
                    if let max = c.maxGraphemes, graphemes > max { throw LexiconValidationError("\(path) must not be longer than \(max) graphemes") }
                }
            }
            if let format = c.format, !Self.matches(string, format) {
                throw LexiconValidationError("\(path) must be a valid \(format.rawValue)")
            }
        }

        static func matches(_ string: String, _ format: StringFormat) -> Bool {
            switch format {
            case .atIdentifier: ATIdentifier.isValid(string)
            case .atURI: ATURI.isValid(string)
            case .cid: CIDString.isValid(string)
            case .datetime: Datetime.isValid(string)
            case .did: DID.isValid(string)
            case .handle: Handle.isValid(string)
            case .nsid: NSID.isValid(string)
            case .tid: TID.isValid(string)
            case .recordKey: RecordKey.isValid(string)
            case .uri: URIString.isValid(string)
            case .language: LanguageTag.isValid(string)
            }
        }

        static func isBlob(_ map: [String: DataValue]) -> Bool { map["$type"] == .string("blob") }

        /// A ref as people write it: `nsid` for a main definition.
        static func display(_ ref: String) -> String { ref.hasSuffix("#main") ? String(ref.dropLast(5)) : ref }
    }
}
