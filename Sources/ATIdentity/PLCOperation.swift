import ATCrypto
import ATData

/// A did:plc operation (spec v0.3.0; https://atproto.com/specs/did): a regular `plc_operation`, a
/// `plc_tombstone`, or a legacy `create` genesis.
///
/// The value holds the operation as typed fields; its DAG-CBOR (and so its CID and the bytes that
/// are signed) is rebuilt from them, so parsing rejects unknown fields rather than dropping them
/// and silently changing the CID.
public struct PLCOperation: Hashable, Sendable {
    /// What kind of operation this is, with its kind-specific fields.
    public enum Content: Hashable, Sendable {
        /// `type: "plc_operation"`: sets the whole identity state.
        case regular(PLCState)
        /// `type: "plc_tombstone"`: deactivates the DID for good.
        case tombstone
        /// `type: "create"`: the v0.1 genesis format. Read and verified, never produced.
        case legacyCreate(PLCLegacyCreate)
    }

    /// The kind-specific fields.
    public var content: Content
    /// The CID string of the previous operation; `nil` only for a genesis operation. The spec
    /// keeps it a plain string, not a DAG-CBOR link.
    public var prev: String?
    /// The base64url (unpadded) signature, or `nil` while unsigned.
    public var sig: String?

    /// The largest signed operation, in DAG-CBOR bytes, that the directory accepts.
    public static let maxSize = 7500

    /// An operation from its parts.
    public init(content: Content, prev: String?, sig: String? = nil) {
        self.content = content
        self.prev = prev
        self.sig = sig
    }

    /// The wire `type` value.
    public var type: String {
        switch content {
        case .regular: "plc_operation"
        case .tombstone: "plc_tombstone"
        case .legacyCreate: "create"
        }
    }

    /// True for the first operation of a DID (`prev` is null).
    public var isGenesis: Bool { prev == nil }

    /// True for a tombstone.
    public var isTombstone: Bool { if case .tombstone = content { true } else { false } }

    /// The identity state this operation establishes: a regular operation's fields, a legacy
    /// `create` mapped to the modern form, or `nil` for a tombstone.
    public var state: PLCState? {
        switch content {
        case .regular(let state): state
        case .tombstone: nil
        case .legacyCreate(let legacy): legacy.normalizedState
        }
    }

    /// The keys allowed to sign the next operation (empty for a tombstone).
    public var rotationKeys: [String] { state?.rotationKeys ?? [] }
}

/// The fields of a legacy (v0.1) `create` genesis operation.
public struct PLCLegacyCreate: Hashable, Sendable {
    /// The repo signing key, a `did:key`; also the second rotation key.
    public var signingKey: String
    /// The recovery key, a `did:key`; the first rotation key.
    public var recoveryKey: String
    /// The bare handle (no `at://`).
    public var handle: String
    /// The PDS URL.
    public var service: String

    /// A legacy create's fields.
    public init(signingKey: String, recoveryKey: String, handle: String, service: String) {
        self.signingKey = signingKey
        self.recoveryKey = recoveryKey
        self.handle = handle
        self.service = service
    }

    /// The equivalent modern state, as the reference directory normalises it: rotation keys
    /// `[recoveryKey, signingKey]`, `atproto` = signingKey, the handle as an `at://` alias (an
    /// `http(s)://` prefix replaced) and the service with an `https://` prefix if it had none.
    public var normalizedState: PLCState {
        var alias = handle
        if !alias.hasPrefix("at://") {
            for scheme in ["https://", "http://"] where alias.hasPrefix(scheme) {
                alias.removeFirst(scheme.count)
                break
            }
            alias = "at://" + alias
        }
        let endpoint = service.hasPrefix("https://") || service.hasPrefix("http://") ? service : "https://" + service
        return PLCState(
            rotationKeys: [recoveryKey, signingKey],
            verificationMethods: ["atproto": signingKey],
            alsoKnownAs: [alias],
            services: ["atproto_pds": .atprotoPDS(endpoint: endpoint)])
    }
}

// MARK: - DAG-CBOR form

extension PLCOperation {
    /// The operation as a data-model map without `sig`: the value that is signed.
    public var unsignedValue: DataValue {
        var map: [String: DataValue] = ["type": .string(type), "prev": prev.map(DataValue.string) ?? .null]
        switch content {
        case .regular(let state):
            map["rotationKeys"] = .array(state.rotationKeys.map(DataValue.string))
            map["verificationMethods"] = .map(state.verificationMethods.mapValues(DataValue.string))
            map["alsoKnownAs"] = .array(state.alsoKnownAs.map(DataValue.string))
            map["services"] = .map(state.services.mapValues { service in
                .map(["type": .string(service.type), "endpoint": .string(service.endpoint)])
            })
        case .tombstone:
            break
        case .legacyCreate(let legacy):
            map["signingKey"] = .string(legacy.signingKey)
            map["recoveryKey"] = .string(legacy.recoveryKey)
            map["handle"] = .string(legacy.handle)
            map["service"] = .string(legacy.service)
        }
        return .map(map)
    }

    /// The operation as a data-model map, with `sig` when signed.
    public var dataValue: DataValue {
        guard let sig, case .map(var map) = unsignedValue else { return unsignedValue }
        map["sig"] = .string(sig)
        return .map(map)
    }

    /// The DAG-CBOR bytes that are signed: the operation without `sig` (https://atproto.com/specs/did step 1).
    public var unsignedBytes: [UInt8] { DAGCBOR.encode(unsignedValue) }

    /// The DAG-CBOR bytes of the operation as it stands (with `sig` when signed).
    public var encoded: [UInt8] { DAGCBOR.encode(dataValue) }

    /// The operation's CID: CIDv1 dag-cbor sha-256 of the signed operation's DAG-CBOR. Its
    /// `.string` is what the next operation's `prev` and the log's `cid` hold.
    public var cid: CID { CID.dagCBOR(hashing: encoded) }

    /// Reads an operation from its data-model form (decoded DAG-CBOR or JSON).
    ///
    /// Exactly the fields of the operation's `type` must be present (`sig` may be absent for an
    /// unsigned operation); every field must have the spec's type.
    public init(dataValue: DataValue) throws(IdentityError) {
        guard case .map(let map) = dataValue else { throw .invalidOperation("not a map") }
        var reader = FieldReader(map: map)
        let type = try reader.string("type")
        switch type {
        case "plc_operation":
            let rotationKeys = try reader.strings("rotationKeys")
            let verificationMethods = try reader.stringMap("verificationMethods")
            let alsoKnownAs = try reader.strings("alsoKnownAs")
            let servicesMap = try reader.map("services")
            var services: [String: PLCService] = [:]
            for (name, value) in servicesMap {
                guard case .map(let fields) = value else { throw .invalidOperation("service \(name) is not a map") }
                var serviceReader = FieldReader(map: fields, context: "service \(name)")
                services[name] = PLCService(type: try serviceReader.string("type"), endpoint: try serviceReader.string("endpoint"))
                try serviceReader.finish()
            }
            content = .regular(PLCState(
                rotationKeys: rotationKeys, verificationMethods: verificationMethods,
                alsoKnownAs: alsoKnownAs, services: services))
        case "plc_tombstone":
            content = .tombstone
        case "create":
            content = .legacyCreate(PLCLegacyCreate(
                signingKey: try reader.string("signingKey"), recoveryKey: try reader.string("recoveryKey"),
                handle: try reader.string("handle"), service: try reader.string("service")))
        default:
            throw .invalidOperation("unknown type \"\(type)\"")
        }
        prev = try reader.nullableString("prev")
        sig = try reader.optionalString("sig")
        try reader.finish()
        // A tombstone always follows something; a legacy create is always a genesis.
        if case .tombstone = content, prev == nil { throw .invalidOperation("tombstone without prev") }
        if case .legacyCreate = content, prev != nil { throw .invalidOperation("legacy create with a prev") }
    }

    /// Decodes an operation from DAG-CBOR.
    public init(dagCBOR bytes: [UInt8]) throws(IdentityError) {
        let value: DataValue
        do { value = try DAGCBOR.decode(bytes) } catch { throw .invalidOperation("bad DAG-CBOR: \(error)") }
        try self.init(dataValue: value)
    }
}

/// Takes the fields of a map one by one and, at the end, complains about any left over.
struct FieldReader {
    private var map: [String: DataValue]
    private let context: String

    init(map: [String: DataValue], context: String = "operation") {
        self.map = map
        self.context = context
    }

    private mutating func take(_ key: String) throws(IdentityError) -> DataValue {
        guard let value = map.removeValue(forKey: key) else { throw .invalidOperation("\(context) has no \(key)") }
        return value
    }

    mutating func string(_ key: String) throws(IdentityError) -> String {
        guard case .string(let string) = try take(key) else { throw .invalidOperation("\(context) \(key) is not a string") }
        return string
    }

    /// A key that must be present and is a string or null (`prev`).
    mutating func nullableString(_ key: String) throws(IdentityError) -> String? {
        switch try take(key) {
        case .null: return nil
        case .string(let string): return string
        default: throw .invalidOperation("\(context) \(key) is neither a string nor null")
        }
    }

    /// A key that may be absent (`sig` of an unsigned operation).
    mutating func optionalString(_ key: String) throws(IdentityError) -> String? {
        guard map[key] != nil else { return nil }
        return try string(key)
    }

    mutating func strings(_ key: String) throws(IdentityError) -> [String] {
        guard case .array(let array) = try take(key) else { throw .invalidOperation("\(context) \(key) is not an array") }
        var result: [String] = []
        for element in array {
            guard case .string(let string) = element else { throw .invalidOperation("\(context) \(key) holds a non-string") }
            result.append(string)
        }
        return result
    }

    mutating func map(_ key: String) throws(IdentityError) -> [String: DataValue] {
        guard case .map(let map) = try take(key) else { throw .invalidOperation("\(context) \(key) is not a map") }
        return map
    }

    mutating func stringMap(_ key: String) throws(IdentityError) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in try map(key) {
            guard case .string(let string) = value else { throw .invalidOperation("\(context) \(key).\(name) is not a string") }
            result[name] = string
        }
        return result
    }

    func finish() throws(IdentityError) {
        if let extra = map.keys.sorted().first { throw .invalidOperation("\(context) has an unexpected field \(extra)") }
    }
}
