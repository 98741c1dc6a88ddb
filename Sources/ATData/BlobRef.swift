/// A typed view of a blob reference (spec: data model, "Blob Type"; https://atproto.com/specs/data-model).
///
/// Current form: `{"$type": "blob", "ref": <cid-link, codec raw>, "mimeType": <non-empty>,
/// "size": <integer ≥ 0>}`. The legacy form `{"cid": "<CID string>", "mimeType": …}` (no `$type`,
/// no size) must still be readable; it is represented with `size == nil` and is never written —
/// neither in the legacy form nor, lacking a size, in the current one (`dataValue` is nil).
public struct BlobRef: Hashable, Sendable {
    /// The blob's CID (codec raw for current-form refs).
    public let ref: CID
    /// The declared MIME type.
    public let mimeType: String
    /// The size in bytes; nil for a legacy reference, whose size is unknown.
    public let size: Int64?

    /// True for a reference read from the legacy `{cid, mimeType}` form.
    public var isLegacy: Bool { size == nil }

    /// A current-form reference. `ref` must use the raw codec, `mimeType` must be non-empty (use
    /// `application/octet-stream` when unknown) and `size` non-negative (the empty blob is valid).
    public init(ref: CID, mimeType: String, size: Int64) throws(DataError) {
        guard ref.codec == CID.Codec.raw else { throw .invalidValue("blob ref must be a CID with the raw codec (0x55)") }
        guard !mimeType.isEmpty else { throw .invalidValue("blob mimeType must not be empty") }
        guard size >= 0 else { throw .invalidValue("blob size must not be negative") }
        self.ref = ref
        self.mimeType = mimeType
        self.size = size
    }

    private init(legacyRef ref: CID, mimeType: String) {
        self.ref = ref
        self.mimeType = mimeType
        self.size = nil
    }

    /// Reads a blob reference in the current form (strictly checked) or the legacy form.
    public init(_ value: DataValue) throws(DataError) {
        guard case .map(let map) = value else { throw .invalidValue("a blob must be an object") }
        if map["$type"] != nil {
            self = try BlobRef(currentForm: map)
        } else if let legacy = BlobRef(legacyForm: map) {
            self = legacy
        } else {
            throw .invalidValue("not a blob: expected $type \"blob\" or the legacy {cid, mimeType} form")
        }
    }

    /// The current form from a map whose `$type` is present.
    init(currentForm map: [String: DataValue]) throws(DataError) {
        guard map["$type"] == .string("blob") else { throw .invalidValue("a blob's $type must be \"blob\"") }
        guard let ref = map["ref"] else { throw .invalidValue("blob is missing ref") }
        guard case .link(let cid) = ref else { throw .invalidValue("blob ref must be a cid-link") }
        guard case .string(let mimeType)? = map["mimeType"] else { throw .invalidValue("blob mimeType must be a string") }
        guard case .integer(let size)? = map["size"] else { throw .invalidValue("blob size must be an integer") }
        try self.init(ref: cid, mimeType: mimeType, size: size)
    }

    /// The legacy form, or nil if `map` is not exactly `{cid: <CID string>, mimeType: <string>}`.
    /// Exactly those two keys: anything else is ordinary data that happens to have a `cid` field.
    init?(legacyForm map: [String: DataValue]) {
        guard map.count == 2, case .string(let cidString)? = map["cid"], case .string(let mimeType)? = map["mimeType"],
            let cid = try? CID(string: cidString)
        else { return nil }
        self.init(legacyRef: cid, mimeType: mimeType)
    }

    /// The current-form value to store or send; nil for a legacy reference (no size to write).
    public var dataValue: DataValue? {
        guard let size else { return nil }
        return .map(["$type": .string("blob"), "ref": .link(ref), "mimeType": .string(mimeType), "size": .integer(size)])
    }
}

/// The blobs and links a value refers to (`DataValue.references()`).
public struct DataReferences: Hashable, Sendable {
    /// Every blob reference, current and legacy, in walk order (duplicates kept).
    public var blobs: [BlobRef] = []
    /// Every cid-link in walk order (duplicates kept), including each current-form blob's `ref`.
    /// Legacy blobs hold their CID as a string, so theirs is only in `blobs`.
    public var links: [CID] = []

    /// No references.
    public init() {}
}

extension DataValue {
    /// Walks the value and collects its blob references and cid-links (what the server records
    /// per record for blob lifecycle and backlinks). Map keys are visited in canonical order, so
    /// the result is deterministic. Throws on a `$type: "blob"` map that is not a valid blob.
    public func references() throws(DataError) -> DataReferences {
        var result = DataReferences()
        try collectReferences(into: &result)
        return result
    }

    private func collectReferences(into result: inout DataReferences) throws(DataError) {
        switch self {
        case .link(let cid):
            result.links.append(cid)
        case .array(let array):
            for element in array { try element.collectReferences(into: &result) }
        case .map(let map):
            if case .string("blob")? = map["$type"] {
                let blob = try BlobRef(currentForm: map)
                result.blobs.append(blob)
                result.links.append(blob.ref)
                return
            }
            if map["$type"] == nil, let legacy = BlobRef(legacyForm: map) {
                result.blobs.append(legacy)
                return
            }
            for key in DAGCBOR.canonicalOrder(map.keys) { try map[key]!.collectReferences(into: &result) }
        default:
            break
        }
    }
}
