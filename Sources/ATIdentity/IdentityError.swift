/// Why identity data was rejected or could not be produced.
///
/// `description` is one sentence suitable for logs and XRPC error messages.
public enum IdentityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A did:plc operation that is not well formed: a missing or mistyped field, an unknown
    /// field, an unknown `type`, or a field breaking a did:plc limit (https://atproto.com/specs/did).
    case invalidOperation(String)
    /// A signed operation whose DAG-CBOR is longer than `PLCOperation.maxSize` bytes.
    case operationTooLarge(size: Int)
    /// An operation was expected to carry a signature and does not.
    case unsigned
    /// A `sig` that is not strict unpadded base64url (https://atproto.com/specs/did: strict decoding).
    case invalidSignatureEncoding(String)
    /// Signing failed inside the crypto library.
    case signingFailed(String)
    /// A request that does not make sense for this operation (e.g. the DID of a non-genesis op,
    /// an update chained on a tombstone, or a signer that is not a rotation key).
    case invalidRequest(String)
    /// An audit-log entry that is not `{did, operation, cid, nullified, createdAt}`.
    case malformedLogEntry(index: Int, detail: String)
    /// An audit log that fails validation: `failure` says which rule, `index` which entry.
    case invalidLog(PLCLogFailure, index: Int, detail: String)
    /// A DID document that is not a JSON object of the expected shape.
    case invalidDocument(String)
    /// A DID document whose `id` is not the DID it was fetched for (https://atproto.com/specs/did).
    case didMismatch(expected: String, found: String)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .invalidOperation(let detail): "invalid PLC operation: \(detail)"
        case .operationTooLarge(let size): "PLC operation is \(size) bytes, over the \(PLCOperation.maxSize)-byte limit"
        case .unsigned: "PLC operation is not signed"
        case .invalidSignatureEncoding(let detail): "PLC operation signature is not strict base64url: \(detail)"
        case .signingFailed(let detail): "signing the PLC operation failed: \(detail)"
        case .invalidRequest(let detail): detail
        case let .malformedLogEntry(index, detail): "PLC audit log entry \(index) is malformed: \(detail)"
        case let .invalidLog(failure, index, detail): "PLC audit log entry \(index) is invalid (\(failure.rawValue)): \(detail)"
        case .invalidDocument(let detail): "invalid DID document: \(detail)"
        case let .didMismatch(expected, found): "DID document id \(found) does not match the DID \(expected)"
        }
    }
}

/// The rule an audit log broke, for callers (and tests) that need to tell failures apart.
public enum PLCLogFailure: String, Sendable, Hashable, CaseIterable {
    /// The log has no entries.
    case emptyLog
    /// An entry names a different DID from the first entry.
    case inconsistentDID
    /// An operation is malformed or breaks a field limit (key counts, key syntax).
    case invalidOperation
    /// An operation's DAG-CBOR exceeds 7500 bytes.
    case operationTooLarge
    /// An operation lists the same rotation key twice (only under `Policy.strict`).
    case duplicateRotationKeys
    /// An entry's `cid` is not the CID of its operation.
    case cidMismatch
    /// The same operation appears twice.
    case duplicateOperation
    /// The first entry is not a genesis operation (`prev` is not null).
    case expectedGenesis
    /// A later entry has `prev: null`.
    case unexpectedGenesis
    /// The genesis operation does not hash to the log's DID.
    case genesisDIDMismatch
    /// `prev` names no earlier entry of this log.
    case prevNotFound
    /// `prev` names an operation that was nullified.
    case prevNullified
    /// `prev` names a tombstone: nothing may follow one.
    case prevTombstoned
    /// Timestamps go backwards (an update must be later than its predecessor, and a
    /// nullifying fork later than the head it replaces).
    case timestampOrder
    /// The `sig` is not strict unpadded base64url.
    case signatureEncoding
    /// No rotation key of the previous operation produced this signature (covers DER and
    /// high-S signatures, which atproto never accepts).
    case invalidSignature
    /// The signature is by a rotation key that lacks the priority to fork here: a fork must be
    /// signed by a key listed before the one that signed the operation it nullifies.
    case unauthorizedKey
    /// A fork tries to nullify an operation more than 72 hours old.
    case nullificationTooLate
    /// An entry's `nullified` flag disagrees with the replayed history.
    case nullifiedFlagMismatch
}
