import ATSyntax

/// A Lexicon schema document: `{lexicon: 1, id, defs}` (https://atproto.com/specs/lexicon).
///
/// Construction checks the rules that make a document a schema: a valid NSID, at most one primary
/// definition and only as `main`, `ref`/`union`/`unknown` never as named definitions, records
/// holding an object, `required` and `nullable` naming declared properties, sane bounds. Relative
/// refs (`#name`) and bare NSIDs are made absolute (`nsid#name`, `nsid#main`).
public struct LexiconDocument: Hashable, Sendable {
    /// The document's NSID.
    public let id: String
    /// The definitions by name.
    public let defs: [String: LexiconType]

    public init(id: String, defs: [String: LexiconType]) throws(LexiconError) {
        guard NSID.isValid(id) else { throw LexiconError("id", "\"\(id)\" is not a valid NSID") }
        var normalized: [String: LexiconType] = [:]
        for (name, def) in defs {
            let path = "defs/\(name)"
            guard Self.isValidDefName(name) else { throw LexiconError(path, "is not a valid definition name") }
            switch def {
            case .ref, .union, .unknown:
                throw LexiconError(path, "a \(def.typeName) cannot be a named definition")
            default:
                break
            }
            if def.isPrimary, name != "main" {
                throw LexiconError(path, "a \(def.typeName) must be the main definition")
            }
            normalized[name] = try Self.normalize(def, in: id, path: path, topLevel: true)
        }
        self.id = id
        self.defs = normalized
    }

    /// The absolute form of `ref` as written in document `id`: `#x` → `id#x`, `a.b.c` → `a.b.c#main`.
    public static func absoluteRef(_ ref: String, in id: String) -> String {
        if ref.hasPrefix("#") { return id + ref }
        if !ref.contains("#") { return ref + "#main" }
        return ref
    }

    /// A definition name: letters, digits and `_`, not starting with a digit (the names in use).
    static func isValidDefName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(48...57).contains(first) else { return false }
        return name.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 }
    }

    /// Checks one definition (recursively) and rewrites its refs to absolute form.
    static func normalize(_ def: LexiconType, in id: String, path: String, topLevel: Bool) throws(LexiconError) -> LexiconType {
        switch def {
        case .boolean, .cidLink, .unknown, .token, .permissionSet:
            if case .token = def, !topLevel { throw LexiconError(path, "a token can only be a named definition") }
            return def
        case .integer(let c):
            if let min = c.minimum, let max = c.maximum, min > max { throw LexiconError(path, "minimum is greater than maximum") }
            return def
        case .string(let c):
            try checkBounds(c.minLength, c.maxLength, path: path, what: "length")
            try checkBounds(c.minGraphemes, c.maxGraphemes, path: path, what: "graphemes")
            return def
        case .bytes(let min, let max):
            try checkBounds(min, max, path: path, what: "length")
            return def
        case .blob(let c):
            if let maxSize = c.maxSize, maxSize < 0 { throw LexiconError(path, "maxSize must not be negative") }
            for pattern in c.accept ?? [] where !isValidAcceptPattern(pattern) {
                throw LexiconError(path, "\"\(pattern)\" is not a MIME type or type/* pattern")
            }
            return def
        case .array(let items, let min, let max):
            try checkBounds(min, max, path: path, what: "length")
            if items.isPrimary { throw LexiconError(path + "/items", "array items cannot be a \(items.typeName)") }
            return .array(items: try normalize(items, in: id, path: path + "/items", topLevel: false), minLength: min, maxLength: max)
        case .object(let schema):
            return .object(try normalize(schema, in: id, path: path))
        case .ref(let ref):
            return .ref(try checkedRef(ref, in: id, path: path))
        case .union(let refs, let closed):
            if closed && refs.isEmpty { throw LexiconError(path, "a closed union needs at least one ref") }
            var absolute: [String] = []
            for ref in refs { absolute.append(try checkedRef(ref, in: id, path: path)) }
            return .union(refs: absolute, closed: closed)
        case .record(let key, let object):
            if case .literal(let value) = key, !RecordKey.isValid(value) {
                throw LexiconError(path + "/key", "\"literal:\(value)\" does not name a valid record key")
            }
            return .record(key: key, object: try normalize(object, in: id, path: path + "/record"))
        case .xrpc(let kind, let parameters):
            guard let parameters else { return def }
            for (name, property) in parameters.properties {
                guard isParameterType(property) else {
                    throw LexiconError(path + "/parameters/properties/\(name)", "parameters may only be boolean, integer, string, unknown or arrays of those")
                }
            }
            return .xrpc(kind, parameters: try normalize(parameters, in: id, path: path + "/parameters"))
        }
    }

    static func normalize(_ schema: ObjectSchema, in id: String, path: String) throws(LexiconError) -> ObjectSchema {
        for name in schema.required where schema.properties[name] == nil {
            throw LexiconError(path, "required property \"\(name)\" is not declared")
        }
        for name in schema.nullable where schema.properties[name] == nil {
            throw LexiconError(path, "nullable property \"\(name)\" is not declared")
        }
        var properties: [String: LexiconType] = [:]
        for (name, property) in schema.properties {
            let propertyPath = path + "/properties/\(name)"
            if property.isPrimary { throw LexiconError(propertyPath, "a property cannot be a \(property.typeName)") }
            properties[name] = try normalize(property, in: id, path: propertyPath, topLevel: false)
        }
        return ObjectSchema(properties: properties, required: schema.required, nullable: schema.nullable)
    }

    static func checkedRef(_ ref: String, in id: String, path: String) throws(LexiconError) -> String {
        let absolute = absoluteRef(ref, in: id)
        let parts = absolute.split(separator: "#", omittingEmptySubsequences: false)
        guard parts.count == 2, NSID.isValid(String(parts[0])), isValidDefName(String(parts[1])) else {
            throw LexiconError(path, "\"\(ref)\" is not a valid ref")
        }
        return absolute
    }

    static func checkBounds(_ min: Int?, _ max: Int?, path: String, what: String) throws(LexiconError) {
        if let min, min < 0 { throw LexiconError(path, "minimum \(what) must not be negative") }
        if let max, max < 0 { throw LexiconError(path, "maximum \(what) must not be negative") }
        if let min, let max, min > max { throw LexiconError(path, "minimum \(what) is greater than the maximum") }
    }

    /// `type/subtype`, `type/*` or `*/*`; no partial globs (https://atproto.com/specs/lexicon, blob `accept`).
    static func isValidAcceptPattern(_ pattern: String) -> Bool {
        if pattern == "*/*" { return true }
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[0].contains("*") else { return false }
        return parts[1] == "*" || !parts[1].contains("*")
    }

    static func isParameterType(_ type: LexiconType) -> Bool {
        switch type {
        case .boolean, .integer, .string, .unknown: true
        case .array(let items, _, _):
            switch items {
            case .boolean, .integer, .string, .unknown: true
            default: false
            }
        default: false
        }
    }
}
