import ATData

extension LexiconDocument {
    /// Parses a Lexicon JSON document (the files under `lexicons/`, or a
    /// `com.atproto.lexicon.schema` record). Unknown keys are ignored, as the spec allows for
    /// future additions; a known key with the wrong JSON type is an error.
    public init(jsonBytes: [UInt8]) throws(LexiconError) {
        let json: JSONValue
        do { json = try JSONValue.parse(jsonBytes) } catch { throw LexiconError("", "not JSON: \(error)") }
        try self.init(json: json)
    }

    /// Parses a Lexicon document from JSON already read.
    public init(json: JSONValue) throws(LexiconError) {
        guard let object = json.objectValue else { throw LexiconError("", "a Lexicon document must be a JSON object") }
        guard let version = object["lexicon"]?.int64Value, version == 1 else {
            throw LexiconError("lexicon", "must be the integer 1")
        }
        guard let id = object["id"]?.stringValue else { throw LexiconError("id", "must be a string") }
        guard let defsObject = object["defs"]?.objectValue else { throw LexiconError("defs", "must be an object") }
        var defs: [String: LexiconType] = [:]
        for (name, value) in defsObject {
            defs[name] = try LexiconJSONReader.type(value, path: "defs/\(name)")
        }
        try self.init(id: id, defs: defs)
    }
}

/// Reads Lexicon type definitions from JSON. Refs are kept as written; `LexiconDocument.init`
/// makes them absolute.
enum LexiconJSONReader {
    static func type(_ json: JSONValue, path: String) throws(LexiconError) -> LexiconType {
        guard let object = json.objectValue else { throw LexiconError(path, "a definition must be an object") }
        guard let type = object["type"]?.stringValue else { throw LexiconError(path, "must have a string \"type\"") }
        let reader = Fields(object: object, path: path)
        switch type {
        case "boolean":
            return .boolean(const: try reader.bool("const"))
        case "integer":
            return .integer(IntegerConstraints(
                minimum: try reader.integer("minimum"), maximum: try reader.integer("maximum"),
                enumeration: try reader.integers("enum"), const: try reader.integer("const")))
        case "string":
            var format: StringFormat?
            if let text = try reader.string("format") {
                guard let known = StringFormat(rawValue: text) else { throw LexiconError(path + "/format", "unknown string format \"\(text)\"") }
                format = known
            }
            return .string(StringConstraints(
                format: format, minLength: try reader.count("minLength"), maxLength: try reader.count("maxLength"),
                minGraphemes: try reader.count("minGraphemes"), maxGraphemes: try reader.count("maxGraphemes"),
                enumeration: try reader.strings("enum"), const: try reader.string("const")))
        case "bytes":
            return .bytes(minLength: try reader.count("minLength"), maxLength: try reader.count("maxLength"))
        case "cid-link":
            return .cidLink
        case "blob":
            return .blob(BlobConstraints(accept: try reader.strings("accept"), maxSize: try reader.integer("maxSize")))
        case "array":
            guard let items = object["items"] else { throw LexiconError(path, "an array must have \"items\"") }
            return .array(items: try Self.type(items, path: path + "/items"),
                          minLength: try reader.count("minLength"), maxLength: try reader.count("maxLength"))
        case "object":
            return .object(try objectSchema(object, path: path))
        case "ref":
            guard let ref = try reader.string("ref") else { throw LexiconError(path, "a ref must have a string \"ref\"") }
            return .ref(ref)
        case "union":
            guard let refs = try reader.strings("refs") else { throw LexiconError(path, "a union must have \"refs\"") }
            return .union(refs: refs, closed: try reader.bool("closed") ?? false)
        case "unknown":
            return .unknown
        case "token":
            return .token
        case "record":
            guard let keyText = try reader.string("key") else { throw LexiconError(path, "a record must have a string \"key\"") }
            guard let key = recordKeyRule(keyText) else { throw LexiconError(path + "/key", "\"\(keyText)\" is not tid, nsid, any or literal:<key>") }
            guard let record = object["record"]?.objectValue, record["type"]?.stringValue == "object" else {
                throw LexiconError(path + "/record", "a record's \"record\" must be an object definition")
            }
            return .record(key: key, object: try objectSchema(record, path: path + "/record"))
        case "query", "procedure", "subscription":
            var parameters: ObjectSchema?
            if let params = object["parameters"] {
                guard let paramsObject = params.objectValue, paramsObject["type"]?.stringValue == "params" else {
                    throw LexiconError(path + "/parameters", "must be a params definition")
                }
                parameters = try objectSchema(paramsObject, path: path + "/parameters")
            }
            return .xrpc(XRPCKind(rawValue: type)!, parameters: parameters)
        case "permission-set":
            return .permissionSet
        default:
            throw LexiconError(path, "unknown type \"\(type)\"")
        }
    }

    static func objectSchema(_ object: JSONObject, path: String) throws(LexiconError) -> ObjectSchema {
        let reader = Fields(object: object, path: path)
        var properties: [String: LexiconType] = [:]
        if let json = object["properties"] {
            guard let members = json.objectValue else { throw LexiconError(path + "/properties", "must be an object") }
            for (name, value) in members { properties[name] = try type(value, path: path + "/properties/\(name)") }
        }
        return ObjectSchema(
            properties: properties,
            required: Set(try reader.strings("required") ?? []),
            nullable: Set(try reader.strings("nullable") ?? []))
    }

    static func recordKeyRule(_ text: String) -> RecordKeyRule? {
        switch text {
        case "tid": return .tid
        case "nsid": return .nsid
        case "any": return .any
        default:
            guard text.hasPrefix("literal:") else { return nil }
            return .literal(String(text.dropFirst("literal:".count)))
        }
    }

    /// Typed access to a definition's optional fields with path-bearing errors.
    struct Fields {
        let object: JSONObject
        let path: String

        func bool(_ key: String) throws(LexiconError) -> Bool? {
            guard let value = object[key] else { return nil }
            guard let bool = value.boolValue else { throw LexiconError(path + "/" + key, "must be a boolean") }
            return bool
        }

        func integer(_ key: String) throws(LexiconError) -> Int64? {
            guard let value = object[key] else { return nil }
            guard let number = value.numberValue, number.isIntegerLiteral, let integer = number.int64Value else {
                throw LexiconError(path + "/" + key, "must be an integer")
            }
            return integer
        }

        func count(_ key: String) throws(LexiconError) -> Int? {
            guard let integer = try integer(key) else { return nil }
            guard integer >= 0, integer <= Int64(Int32.max) else { throw LexiconError(path + "/" + key, "must be a non-negative integer") }
            return Int(integer)
        }

        func string(_ key: String) throws(LexiconError) -> String? {
            guard let value = object[key] else { return nil }
            guard let string = value.stringValue else { throw LexiconError(path + "/" + key, "must be a string") }
            return string
        }

        func strings(_ key: String) throws(LexiconError) -> [String]? {
            guard let value = object[key] else { return nil }
            guard let array = value.arrayValue else { throw LexiconError(path + "/" + key, "must be an array of strings") }
            var strings: [String] = []
            for element in array {
                guard let string = element.stringValue else { throw LexiconError(path + "/" + key, "must be an array of strings") }
                strings.append(string)
            }
            return strings
        }

        func integers(_ key: String) throws(LexiconError) -> [Int64]? {
            guard let value = object[key] else { return nil }
            guard let array = value.arrayValue else { throw LexiconError(path + "/" + key, "must be an array of integers") }
            var integers: [Int64] = []
            for element in array {
                guard let number = element.numberValue, number.isIntegerLiteral, let integer = number.int64Value else {
                    throw LexiconError(path + "/" + key, "must be an array of integers")
                }
                integers.append(integer)
            }
            return integers
        }
    }
}
