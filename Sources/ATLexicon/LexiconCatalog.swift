/// A set of Lexicon documents that refs resolve within.
///
/// Validation looks refs up here; a ref to a definition the catalog does not hold makes the data
/// invalid (the schema cannot be checked), never silently valid.
public struct LexiconCatalog: Sendable {
    /// The documents by NSID.
    public private(set) var documents: [String: LexiconDocument] = [:]

    public init(_ documents: [LexiconDocument] = []) {
        for document in documents { add(document) }
    }

    /// Adds (or replaces) a document.
    public mutating func add(_ document: LexiconDocument) {
        documents[document.id] = document
    }

    /// The definition an absolute ref (`nsid#name`) or a bare NSID names.
    public func definition(_ ref: String) -> LexiconType? {
        let absolute = LexiconDocument.absoluteRef(ref, in: "")
        guard let hash = absolute.firstIndex(of: "#") else { return nil }
        return documents[String(absolute[..<hash])]?.defs[String(absolute[absolute.index(after: hash)...])]
    }

    /// The record definition for a collection NSID, if the catalog has one.
    public func recordSchema(_ collection: String) -> (key: RecordKeyRule, object: ObjectSchema)? {
        guard case .record(let key, let object)? = documents[collection]?.defs["main"] else { return nil }
        return (key, object)
    }

    /// Every ref (from any document) that names no definition in the catalog.
    public func unresolvedRefs() -> Set<String> {
        var missing = Set<String>()
        func visit(_ type: LexiconType) {
            switch type {
            case .ref(let ref): if definition(ref) == nil { missing.insert(ref) }
            case .union(let refs, _): for ref in refs where definition(ref) == nil { missing.insert(ref) }
            case .array(let items, _, _): visit(items)
            case .object(let schema): schema.properties.values.forEach(visit)
            case .record(_, let object): object.properties.values.forEach(visit)
            case .xrpc(_, let parameters): parameters?.properties.values.forEach(visit)
            default: break
            }
        }
        for document in documents.values { document.defs.values.forEach(visit) }
        return missing
    }
}
