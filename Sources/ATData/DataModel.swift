/// Generic data-model validation: the rules every atproto value must follow regardless of its
/// Lexicon (spec: data model; guide "data validation"; https://atproto.com/specs/data-model.4).
///
/// Parsing (`DAGCBOR.decode`, `DataValue.fromJSON`) guarantees well-formedness; these checks add
/// the limits and the reserved-key rules. Lexicon validation is a separate, later step.
public enum DataModel {
    /// The generic limits (https://atproto.com/specs/data-model, from the data-validation guide).
    public struct Limits: Sendable {
        /// Deepest nesting of arrays and maps, the top level counting as one.
        public var maxDepth: Int
        /// Most elements in one array or map.
        public var maxContainerLength: Int
        /// Longest map key in UTF-8 bytes.
        public var maxKeyBytes: Int
        /// Largest record, as canonical CBOR.
        public var maxRecordSize: Int

        /// Limits with the given values.
        public init(maxDepth: Int = 32, maxContainerLength: Int = 131_072, maxKeyBytes: Int = 8192, maxRecordSize: Int = 1_048_576) {
            self.maxDepth = maxDepth
            self.maxContainerLength = maxContainerLength
            self.maxKeyBytes = maxKeyBytes
            self.maxRecordSize = maxRecordSize
        }

        /// Depth 32, 131,072 elements, 8192-byte keys, 1 MiB records.
        public static let `default` = Limits()
    }

    /// Checks any value: nesting depth and container lengths; map keys non-empty and not too
    /// long; no map with a `$link` or `$bytes` key (it would read back from JSON as a link or
    /// bytes, or be rejected); every `$type` a non-empty string; every `$type: "blob"` map a valid
    /// blob; every cid-link CIDv1 with codec dag-cbor or raw.
    public static func validate(_ value: DataValue, limits: Limits = .default) throws(DataError) {
        try check(value, depth: 0, limits: limits)
    }

    /// `validate`, plus: the top level must be a map (data-model-invalid.json, "top-level not an
    /// object"). For XRPC bodies and other objects that are not records.
    public static func validateObject(_ value: DataValue, limits: Limits = .default) throws(DataError) {
        guard case .map = value else { throw .invalidValue("top level must be an object") }
        try check(value, depth: 0, limits: limits)
    }

    /// Validates a record and returns its canonical CBOR (which the caller needs anyway, to store
    /// and hash): a map with a non-empty string `$type`, passing `validate`, at most
    /// `limits.maxRecordSize` bytes encoded.
    @discardableResult
    public static func validateRecord(_ value: DataValue, limits: Limits = .default) throws(DataError) -> [UInt8] {
        guard case .map(let map) = value else { throw .invalidValue("a record must be an object") }
        guard case .string(let type)? = map["$type"], !type.isEmpty else {
            throw .invalidValue("a record must have a non-empty string $type")
        }
        try check(value, depth: 0, limits: limits)
        let bytes = DAGCBOR.encode(value)
        guard bytes.count <= limits.maxRecordSize else {
            throw .limitExceeded("record is \(bytes.count) bytes as CBOR; the limit is \(limits.maxRecordSize)")
        }
        return bytes
    }

    /// The `$type` rules for one map: if present it is a non-empty string (data-model-invalid:
    /// "$type null / wrong type / empty string"), and `"blob"` means a well-formed blob.
    static func checkTypedMap(_ map: [String: DataValue]) throws(DataError) {
        guard let type = map["$type"] else { return }
        guard case .string(let name) = type else { throw .invalidValue("$type must be a string") }
        guard !name.isEmpty else { throw .invalidValue("$type must not be empty") }
        if name == "blob" { _ = try BlobRef(currentForm: map) }
    }

    private static func check(_ value: DataValue, depth: Int, limits: Limits) throws(DataError) {
        switch value {
        case .link(let cid):
            guard cid.codec == CID.Codec.dagCBOR || cid.codec == CID.Codec.raw else {
                throw .invalidValue("cid-link \(cid) must use the dag-cbor or raw codec")
            }
        case .array(let array):
            guard depth < limits.maxDepth else { throw .limitExceeded("nesting deeper than \(limits.maxDepth)") }
            guard array.count <= limits.maxContainerLength else {
                throw .limitExceeded("array longer than \(limits.maxContainerLength)")
            }
            for element in array { try check(element, depth: depth + 1, limits: limits) }
        case .map(let map):
            guard depth < limits.maxDepth else { throw .limitExceeded("nesting deeper than \(limits.maxDepth)") }
            guard map.count <= limits.maxContainerLength else {
                throw .limitExceeded("map longer than \(limits.maxContainerLength)")
            }
            guard map["$link"] == nil && map["$bytes"] == nil else {
                throw .invalidValue("a map must not have a $link or $bytes key (reserved for cid-links and bytes in JSON)")
            }
            try checkTypedMap(map)
            for (key, element) in map {
                guard !key.isEmpty else { throw .badMapKey("empty map keys are not allowed") }
                guard key.utf8.count <= limits.maxKeyBytes else {
                    throw .badMapKey("map key longer than \(limits.maxKeyBytes) bytes")
                }
                try check(element, depth: depth + 1, limits: limits)
            }
        default:
            break
        }
    }
}
