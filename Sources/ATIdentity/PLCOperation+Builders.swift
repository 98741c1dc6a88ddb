import ATCrypto
import ATSyntax

/// The operations this server creates for its accounts (the reference PDS): a genesis at
/// account creation and updates chained on the latest operation.
///
/// Everything built here is checked against the spec's limits, which are stricter than what the
/// directory has historically accepted: 1–5 distinct K-256/P-256 rotation keys, at most 10
/// verification methods, at most 7500 bytes signed.
extension PLCOperation {
    /// An unsigned genesis operation for a PDS-hosted account.
    ///
    /// - rotation keys: the user's `recoveryKey` first (when given, so it outranks the server
    ///   and can undo the server's operations within 72 h), then the server's rotation key;
    /// - `verificationMethods.atproto` = the repo signing key;
    /// - `alsoKnownAs` = `["at://<handle>"]`;
    /// - `services.atproto_pds` = `{type: "AtprotoPersonalDataServer", endpoint}`.
    public static func genesis(
        handle: Handle, signingKey: String, pdsEndpoint: String,
        serverRotationKey: String, recoveryKey: String? = nil
    ) throws(IdentityError) -> PLCOperation {
        let state = PLCState(
            rotationKeys: (recoveryKey.map { [$0] } ?? []) + [serverRotationKey],
            verificationMethods: ["atproto": signingKey],
            alsoKnownAs: ["at://" + handle.string],
            services: ["atproto_pds": .atprotoPDS(endpoint: pdsEndpoint)])
        try checkBuilt(state)
        return PLCOperation(content: .regular(state), prev: nil)
    }

    /// A signed genesis operation and the DID it creates, signed by the server's rotation key.
    public static func signedGenesis(
        handle: Handle, signingKey: String, pdsEndpoint: String,
        serverRotationKey: some SigningKey, recoveryKey: String? = nil
    ) throws(IdentityError) -> (operation: PLCOperation, did: DID) {
        let operation = try genesis(
            handle: handle, signingKey: signingKey, pdsEndpoint: pdsEndpoint,
            serverRotationKey: serverRotationKey.didKey, recoveryKey: recoveryKey
        ).signed(with: serverRotationKey)
        return (operation, try operation.did())
    }

    /// An unsigned update chained on `previous` (which must be signed, since its CID becomes
    /// `prev`): the previous state with the given fields replaced.
    ///
    /// A new handle replaces the first `at://` alias; other aliases are kept.
    public static func update(
        after previous: PLCOperation, handle: Handle? = nil, signingKey: String? = nil,
        pdsEndpoint: String? = nil, rotationKeys: [String]? = nil
    ) throws(IdentityError) -> PLCOperation {
        try update(after: previous) { state in
            if let handle { state.setHandle(handle) }
            if let signingKey { state.atprotoSigningKey = signingKey }
            if let pdsEndpoint { state.services["atproto_pds"] = .atprotoPDS(endpoint: pdsEndpoint) }
            if let rotationKeys { state.rotationKeys = rotationKeys }
        }
    }

    /// An unsigned update chained on `previous`, with the state changed by `change`.
    public static func update(
        after previous: PLCOperation, _ change: (inout PLCState) -> Void
    ) throws(IdentityError) -> PLCOperation {
        guard var state = previous.state else { throw .invalidRequest("cannot update after a tombstone") }
        let prev = try previous.cidForChaining()
        change(&state)
        try checkBuilt(state)
        return PLCOperation(content: .regular(state), prev: prev)
    }

    /// An unsigned tombstone chained on `previous`: deactivates the DID permanently.
    public static func tombstone(after previous: PLCOperation) throws(IdentityError) -> PLCOperation {
        guard !previous.isTombstone else { throw .invalidRequest("the DID is already tombstoned") }
        return PLCOperation(content: .tombstone, prev: try previous.cidForChaining())
    }

    /// Signs with `key` after checking that it may: it must be one of `previous`'s rotation keys
    /// (or, for a genesis, one of this operation's own).
    ///
    /// This only guards against signing something the directory would refuse; replacing a
    /// recent operation with a higher-priority key is `update(after:)` on the older operation.
    public func signed(with key: some SigningKey, chainedOn previous: PLCOperation?) throws(IdentityError) -> PLCOperation {
        let authority = previous?.rotationKeys ?? rotationKeys
        let isRotationKey = authority.contains { didKey in
            (try? parseDIDKey(didKey))?.isSameKey(as: key.publicKey) ?? false
        }
        guard isRotationKey else {
            throw .invalidRequest("\(key.didKey) is not a rotation key of the operation being replaced")
        }
        if let previous, prev != (try previous.cidForChaining()) {
            throw .invalidRequest("this operation's prev is not the given previous operation")
        }
        return try signed(with: key)
    }

    /// The CID string a following operation uses as `prev`.
    func cidForChaining() throws(IdentityError) -> String {
        guard sig != nil else { throw .invalidRequest("the previous operation is not signed") }
        return cid.string
    }

    /// Rejects states this server must never publish.
    static func checkBuilt(_ state: PLCState) throws(IdentityError) {
        do {
            try state.validate(allowDuplicates: false, allowEmpty: false)
        } catch {
            switch error {
            case .invalid(let detail): throw .invalidOperation(detail)
            case .duplicateRotationKeys: throw .invalidOperation("duplicate rotation keys")
            }
        }
        if let signingKey = state.atprotoSigningKey, (try? parseDIDKey(signingKey)) == nil {
            throw .invalidOperation("signing key \(signingKey) is not a K-256 or P-256 did:key")
        }
        if let endpoint = state.services["atproto_pds"]?.endpoint,
            !(endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://")) {
            throw .invalidOperation("PDS endpoint \(endpoint) is not an http(s) URL")
        }
    }
}
