import ATCrypto
import ATData
import ATSyntax

/// A DID document, reduced to the parts atproto reads: `id`, `alsoKnownAs`,
/// `verificationMethod` and `service` (https://atproto.com/specs/did). Other members are ignored.
public struct DIDDocument: Hashable, Sendable {
    /// A `verificationMethod` entry.
    public struct VerificationMethod: Hashable, Sendable {
        /// `did:…#name` or the relative `#name`.
        public var id: String
        /// `Multikey`, or a legacy `EcdsaSecp256k1VerificationKey2019` /
        /// `EcdsaSecp256r1VerificationKey2019`.
        public var type: String
        /// The DID that controls the key.
        public var controller: String?
        /// The key in multibase form (a multikey for `Multikey`).
        public var publicKeyMultibase: String?

        /// A verification method.
        public init(id: String, type: String, controller: String?, publicKeyMultibase: String?) {
            self.id = id
            self.type = type
            self.controller = controller
            self.publicKeyMultibase = publicKeyMultibase
        }
    }

    /// A `service` entry.
    public struct Service: Hashable, Sendable {
        /// `did:…#name` or the relative `#name`.
        public var id: String
        /// The service type, e.g. `AtprotoPersonalDataServer`.
        public var type: String
        /// The endpoint when it is a string (DID Core also allows maps and arrays, which atproto
        /// never uses; those read as `nil`).
        public var serviceEndpoint: String?

        /// A service.
        public init(id: String, type: String, serviceEndpoint: String?) {
            self.id = id
            self.type = type
            self.serviceEndpoint = serviceEndpoint
        }
    }

    /// `@context` entries.
    public var context: [String]
    /// The DID the document describes.
    public var id: String
    /// Aliases; atproto reads `at://<handle>` entries.
    public var alsoKnownAs: [String]
    /// Keys.
    public var verificationMethods: [VerificationMethod]
    /// Services.
    public var services: [Service]

    /// A document from its parts.
    public init(
        context: [String], id: String, alsoKnownAs: [String],
        verificationMethods: [VerificationMethod], services: [Service]
    ) {
        self.context = context
        self.id = id
        self.alsoKnownAs = alsoKnownAs
        self.verificationMethods = verificationMethods
        self.services = services
    }
}

// MARK: - Parsing

extension DIDDocument {
    /// Parses a document from JSON text.
    public static func parse(_ bytes: [UInt8]) throws(IdentityError) -> DIDDocument {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch { throw .invalidDocument("not JSON: \(error)") }
        return try DIDDocument(json: json)
    }

    /// Reads a document from parsed JSON.
    ///
    /// `id` is required. Absent or `null` lists read as empty; a present list must be an array
    /// and its entries objects with string `id` and `type`, since a document that garbles those
    /// is not one to trust for anything.
    public init(json: JSONValue) throws(IdentityError) {
        guard let object = json.objectValue else { throw .invalidDocument("not a JSON object") }
        guard let id = object["id"]?.stringValue else { throw .invalidDocument("id is missing or not a string") }
        self.id = id

        switch object["@context"] {
        case .string(let single): context = [single]
        case .array(let list): context = list.compactMap(\.stringValue)
        default: context = []
        }

        alsoKnownAs = []
        for alias in try DIDDocument.list(object, "alsoKnownAs") {
            guard let string = alias.stringValue else { throw .invalidDocument("alsoKnownAs holds a non-string") }
            alsoKnownAs.append(string)
        }

        verificationMethods = []
        for method in try DIDDocument.list(object, "verificationMethod") {
            guard let methodID = method["id"]?.stringValue, let type = method["type"]?.stringValue else {
                throw .invalidDocument("a verificationMethod lacks a string id or type")
            }
            verificationMethods.append(VerificationMethod(
                id: methodID, type: type, controller: method["controller"]?.stringValue,
                publicKeyMultibase: method["publicKeyMultibase"]?.stringValue))
        }

        services = []
        for service in try DIDDocument.list(object, "service") {
            guard let serviceID = service["id"]?.stringValue, let type = service["type"]?.stringValue else {
                throw .invalidDocument("a service lacks a string id or type")
            }
            services.append(Service(id: serviceID, type: type, serviceEndpoint: service["serviceEndpoint"]?.stringValue))
        }
    }

    private static func list(_ object: JSONObject, _ key: String) throws(IdentityError) -> [JSONValue] {
        switch object[key] {
        case nil, .null?: return []
        case .array(let list)?: return list
        default: throw .invalidDocument("\(key) is not an array")
        }
    }
}

// MARK: - atproto data (https://atproto.com/specs/did)

/// The atproto view of a DID document: who the account is, where it is hosted, and which key
/// signs its repo. Each part is `nil` when the document has no valid entry for it.
public struct AtprotoIdentity: Sendable {
    /// The DID.
    public var did: DID
    /// The claimed handle, *not yet verified*: it must also resolve back to the DID (https://atproto.com/specs/handle).
    public var handle: Handle?
    /// The `#atproto` repo signing key.
    public var signingKey: (any VerifyingKey)?
    /// The `#atproto_pds` endpoint.
    public var pdsEndpoint: String?
}

extension DIDDocument {
    /// The atproto data, after checking that the document is the one for `did`.
    public func atprotoIdentity(for did: DID) throws(IdentityError) -> AtprotoIdentity {
        guard id == did.string else { throw .didMismatch(expected: did.string, found: id) }
        return AtprotoIdentity(did: did, handle: handle, signingKey: atprotoSigningKey, pdsEndpoint: pdsEndpoint)
    }

    /// The first `alsoKnownAs` entry of the form `at://<valid handle>`.
    public var handle: Handle? { firstHandle(in: alsoKnownAs) }

    /// The key of the first verification method with id `#atproto` (relative or absolute)
    /// controlled by this DID, read according to its `type` (`Multikey` or a legacy type).
    public var atprotoSigningKey: (any VerifyingKey)? {
        guard let method = verificationMethods.first(where: { matches($0.id, fragment: "atproto") }) else { return nil }
        guard method.controller == nil || method.controller == id, let multibase = method.publicKeyMultibase else { return nil }
        return try? parseLegacyMultibase(multibase, type: method.type)
    }

    /// The endpoint of the first service with id `#atproto_pds` and type
    /// `AtprotoPersonalDataServer`, when it is an http(s) URL of scheme, host and optional port
    /// only (https://atproto.com/specs/did: no path).
    public var pdsEndpoint: String? {
        guard let service = services.first(where: {
            matches($0.id, fragment: "atproto_pds") && $0.type == PLCService.atprotoPDSType
        }), let endpoint = service.serviceEndpoint else { return nil }
        return DIDDocument.isOriginURL(endpoint) ? endpoint : nil
    }

    /// `#name` or `<this DID>#name`.
    private func matches(_ entryID: String, fragment: String) -> Bool {
        entryID == "#" + fragment || entryID == id + "#" + fragment
    }

    /// Whether `url` is `http(s)://host[:port]`, optionally with a lone trailing `/`.
    static func isOriginURL(_ url: String) -> Bool {
        var rest: Substring
        if url.hasPrefix("https://") { rest = url.dropFirst(8) } else if url.hasPrefix("http://") { rest = url.dropFirst(7) } else { return false }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty else { return false }
        var host = rest
        if let colon = rest.lastIndex(of: ":"), !rest.hasPrefix("[") || rest[..<colon].hasSuffix("]") {
            let port = rest[rest.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCIIDigitCharacter) else { return false }
            host = rest[..<colon]
        }
        guard !host.isEmpty else { return false }
        return host.allSatisfy { $0.isASCIIHostCharacter }
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
    fileprivate var isASCIIHostCharacter: Bool {
        guard isASCII else { return false }
        return isLetter || isNumber || self == "." || self == "-" || self == "[" || self == "]" || self == ":"
    }
}

// MARK: - Rendering

extension DIDDocument {
    /// The JSON-LD contexts of a document whose keys are all multikeys on these curves: the
    /// DID and Multikey contexts, plus the suite context of each curve in use, as the PLC
    /// directory writes them (https://atproto.com/specs/did "DID doc rendering").
    static func contexts(for keys: [any VerifyingKey]) -> [String] {
        var result = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
        for key in keys {
            let suite = key.algorithm == .es256k
                ? "https://w3id.org/security/suites/secp256k1-2019/v1"
                : "https://w3id.org/security/suites/ecdsa-2019/v1"
            if !result.contains(suite) { result.append(suite) }
        }
        return result
    }

    /// The document the PLC directory serves for `did` in `state`: every verification method
    /// as a `Multikey` with absolute id `<did>#<name>`, every service with relative id
    /// `#<name>`, and the aliases. Rotation keys are not part of the document. Names are
    /// sorted, so the output is deterministic.
    public static func plc(did: DID, state: PLCState) -> DIDDocument {
        var keys: [any VerifyingKey] = []
        var methods: [VerificationMethod] = []
        for (name, didKey) in state.verificationMethods.sorted(by: { $0.key < $1.key }) {
            if let key = try? parseDIDKey(didKey) { keys.append(key) }
            let multikey = didKey.hasPrefix(DIDKey.prefix) ? String(didKey.dropFirst(DIDKey.prefix.count)) : didKey
            methods.append(VerificationMethod(id: did.string + "#" + name, type: "Multikey", controller: did.string, publicKeyMultibase: multikey))
        }
        let services = state.services.sorted(by: { $0.key < $1.key }).map { name, service in
            Service(id: "#" + name, type: service.type, serviceEndpoint: service.endpoint)
        }
        return DIDDocument(
            context: contexts(for: keys), id: did.string, alsoKnownAs: state.alsoKnownAs,
            verificationMethods: methods, services: services)
    }

    /// The document a PDS publishes at `https://<host>/.well-known/did.json` for an account
    /// whose identity is a did:web (https://atproto.com/specs/did): the same shape as a did:plc document.
    public static func web(did: DID, handle: Handle?, signingKey: some VerifyingKey, pdsEndpoint: String) -> DIDDocument {
        DIDDocument(
            context: contexts(for: [signingKey]), id: did.string,
            alsoKnownAs: handle.map { ["at://" + $0.string] } ?? [],
            verificationMethods: [VerificationMethod(
                id: did.string + "#atproto", type: "Multikey", controller: did.string,
                publicKeyMultibase: signingKey.multikey)],
            services: [Service(id: "#atproto_pds", type: PLCService.atprotoPDSType, serviceEndpoint: pdsEndpoint)])
    }

    /// The document as JSON.
    public var json: JSONValue {
        var object = JSONObject()
        object["@context"] = .array(context.map(JSONValue.string))
        object["id"] = .string(id)
        object["alsoKnownAs"] = .array(alsoKnownAs.map(JSONValue.string))
        object["verificationMethod"] = .array(verificationMethods.map { method in
            var entry = JSONObject([("id", .string(method.id)), ("type", .string(method.type))])
            if let controller = method.controller { entry["controller"] = .string(controller) }
            if let multibase = method.publicKeyMultibase { entry["publicKeyMultibase"] = .string(multibase) }
            return .object(entry)
        })
        object["service"] = .array(services.map { service in
            var entry = JSONObject([("id", .string(service.id)), ("type", .string(service.type))])
            if let endpoint = service.serviceEndpoint { entry["serviceEndpoint"] = .string(endpoint) }
            return .object(entry)
        })
        return .object(object)
    }

    /// The document as JSON text.
    public var jsonBytes: [UInt8] { json.serialized() }
}
