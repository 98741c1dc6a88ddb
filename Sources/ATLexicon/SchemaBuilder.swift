/// Short constructors for writing schemas in Swift (the built-in catalog, tests).
///
/// `Schema.object(["text": .string(maxLength: 3000)], required: ["text"])` reads close to the
/// Lexicon JSON it stands for; refs may be relative (`#entity`) as in a document, and are made
/// absolute when the `LexiconDocument` is built.
enum Schema {
    static func string(
        format: StringFormat? = nil, minLength: Int? = nil, maxLength: Int? = nil,
        minGraphemes: Int? = nil, maxGraphemes: Int? = nil, oneOf enumeration: [String]? = nil
    ) -> LexiconType {
        .string(StringConstraints(
            format: format, minLength: minLength, maxLength: maxLength,
            minGraphemes: minGraphemes, maxGraphemes: maxGraphemes, enumeration: enumeration))
    }

    /// A string of at most `graphemes` graphemes and `bytes` UTF-8 bytes (the usual pair in app.bsky).
    static func text(graphemes: Int, bytes: Int, minLength: Int? = nil) -> LexiconType {
        string(minLength: minLength, maxLength: bytes, maxGraphemes: graphemes)
    }

    static let plainString = string()
    static let datetime = string(format: .datetime)
    static let did = string(format: .did)
    static let atURI = string(format: .atURI)
    static let uri = string(format: .uri)
    static let language = string(format: .language)
    static let boolean = LexiconType.boolean(const: nil)

    static func integer(minimum: Int64? = nil, maximum: Int64? = nil) -> LexiconType {
        .integer(IntegerConstraints(minimum: minimum, maximum: maximum))
    }

    static func blob(accept: [String], maxSize: Int64) -> LexiconType {
        .blob(BlobConstraints(accept: accept, maxSize: maxSize))
    }

    static func array(_ items: LexiconType, maxLength: Int? = nil) -> LexiconType {
        .array(items: items, minLength: nil, maxLength: maxLength)
    }

    static func ref(_ ref: String) -> LexiconType { .ref(ref) }

    static func union(_ refs: String...) -> LexiconType { .union(refs: refs, closed: false) }

    static func object(_ properties: [String: LexiconType], required: Set<String> = []) -> LexiconType {
        .object(ObjectSchema(properties: properties, required: required))
    }

    static func record(key: RecordKeyRule, _ properties: [String: LexiconType], required: Set<String> = []) -> LexiconType {
        .record(key: key, object: ObjectSchema(properties: properties, required: required))
    }
}
