import ATCrypto
import ATSyntax

/// A service entry of a did:plc operation: `{type, endpoint}` (https://atproto.com/specs/did).
public struct PLCService: Hashable, Sendable {
    /// The service type, e.g. `AtprotoPersonalDataServer`.
    public var type: String
    /// The service URL, e.g. `https://pds.example.com`.
    public var endpoint: String

    /// A service entry.
    public init(type: String, endpoint: String) {
        self.type = type
        self.endpoint = endpoint
    }

    /// The service type of an atproto PDS.
    public static let atprotoPDSType = "AtprotoPersonalDataServer"

    /// An `atproto_pds` entry pointing at `endpoint`.
    public static func atprotoPDS(endpoint: String) -> PLCService {
        PLCService(type: atprotoPDSType, endpoint: endpoint)
    }
}

/// The identity data a regular did:plc operation sets: everything but `type`, `prev` and `sig`
/// (https://atproto.com/specs/did). It is also the "current state" of a DID after replaying its log.
public struct PLCState: Hashable, Sendable {
    /// Priority-ordered rotation keys (`did:key`); a lower index has more authority.
    public var rotationKeys: [String]
    /// Verification methods by name (`atproto` is the repo signing key), each a `did:key`.
    public var verificationMethods: [String: String]
    /// Aliases, typically `["at://<handle>"]`.
    public var alsoKnownAs: [String]
    /// Services by name (`atproto_pds` is the PDS).
    public var services: [String: PLCService]

    /// Limits from the did:plc spec (https://atproto.com/specs/did, the reference PDS).
    public static let maxRotationKeys = 5
    /// At most this many verification methods.
    public static let maxVerificationMethods = 10

    /// A state from its parts.
    public init(
        rotationKeys: [String], verificationMethods: [String: String],
        alsoKnownAs: [String], services: [String: PLCService]
    ) {
        self.rotationKeys = rotationKeys
        self.verificationMethods = verificationMethods
        self.alsoKnownAs = alsoKnownAs
        self.services = services
    }

    /// The `atproto` verification method (the repo signing key), as a `did:key`.
    public var atprotoSigningKey: String? {
        get { verificationMethods["atproto"] }
        set { verificationMethods["atproto"] = newValue }
    }

    /// The first `at://` alias that is a syntactically valid handle (https://atproto.com/specs/did).
    public var handle: Handle? { firstHandle(in: alsoKnownAs) }

    /// The `atproto_pds` endpoint, when that service has the PDS type.
    public var pdsEndpoint: String? {
        guard let service = services["atproto_pds"], service.type == PLCService.atprotoPDSType else { return nil }
        return service.endpoint
    }

    /// Replaces the handle alias: the first `at://` entry is replaced (the reference PDS's
    /// `updateHandle` does the same), or the alias is put first when there is none.
    public mutating func setHandle(_ handle: Handle) {
        let alias = "at://" + handle.string
        if let index = alsoKnownAs.firstIndex(where: { $0.hasPrefix("at://") }) {
            alsoKnownAs[index] = alias
        } else {
            alsoKnownAs.insert(alias, at: 0)
        }
    }

    /// Checks the did:plc field limits: at most 5 rotation keys, each a K-256 or P-256
    /// `did:key`; at most 10 verification methods, each a `did:key`; and, unless allowed,
    /// no repeated rotation key and at least one rotation key.
    ///
    /// Reading the directory's history needs the lenient settings: the reference directory
    /// accepted duplicate and empty rotation-key lists (vectors log_duplicate_rotation_keys,
    /// log_empty_rotation_keys are valid), while the spec says 1–5 distinct keys, which is what
    /// this server produces.
    func validate(allowDuplicates: Bool, allowEmpty: Bool) throws(StateProblem) {
        guard rotationKeys.count <= PLCState.maxRotationKeys else {
            throw .invalid("\(rotationKeys.count) rotation keys, at most \(PLCState.maxRotationKeys) allowed")
        }
        guard allowEmpty || !rotationKeys.isEmpty else { throw .invalid("no rotation keys") }
        if !allowDuplicates && Set(rotationKeys).count != rotationKeys.count {
            throw .duplicateRotationKeys
        }
        for key in rotationKeys {
            guard (try? parseDIDKey(key)) != nil else { throw .invalid("rotation key \(key) is not a K-256 or P-256 did:key") }
        }
        guard verificationMethods.count <= PLCState.maxVerificationMethods else {
            throw .invalid("\(verificationMethods.count) verification methods, at most \(PLCState.maxVerificationMethods) allowed")
        }
        for (name, key) in verificationMethods where !key.hasPrefix("did:key:") {
            throw .invalid("verification method \(name) is not a did:key")
        }
    }

    /// What `validate` found.
    enum StateProblem: Error {
        case invalid(String)
        case duplicateRotationKeys
    }
}

/// The first `at://` alias whose remainder is a valid handle.
func firstHandle(in aliases: [String]) -> Handle? {
    for alias in aliases where alias.hasPrefix("at://") {
        if let handle = try? Handle(String(alias.dropFirst(5))) { return handle }
    }
    return nil
}
