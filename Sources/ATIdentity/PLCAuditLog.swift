import ATData
import ATSyntax

/// Validation of a did:plc audit log: replays every operation the directory recorded for a DID
/// and checks that the history it claims is the one the rules produce (https://atproto.com/specs/did).
///
/// The rules, in the order they are applied to each entry:
/// - every entry names the same DID and its `cid` is the CID of its operation;
/// - the operation is well formed and within the limits (≤ 5 rotation keys, ≤ 10 verification
///   methods, ≤ 7500 bytes);
/// - the first entry is a genesis (`prev: null`) that hashes to the DID and is signed by one of
///   its own rotation keys; no later entry is a genesis;
/// - a later entry's `prev` is an earlier operation that is neither nullified nor a tombstone,
///   and it is signed by one of that operation's rotation keys;
/// - if `prev` is not the latest operation, the entry forks history and nullifies everything
///   after `prev`. That is only allowed with a key of higher priority (lower index in `prev`'s
///   rotation keys) than the one that signed the operation being nullified, and within 72 hours
///   of it (exactly 72 h is still allowed: log_nullification_at_exactly_72h);
/// - each operation is later than the one it follows (for a fork: later than the head it
///   replaces);
/// - finally, every entry's `nullified` flag matches the replayed history.
public enum PLCAuditLog {
    /// How much of the directory's historic leniency to accept.
    public struct Policy: Hashable, Sendable {
        /// Accept an operation that lists the same rotation key twice. The spec forbids it, but
        /// the reference directory stored such operations (log_duplicate_rotation_keys is a
        /// valid log), so a reader of real logs must accept them.
        public var allowsDuplicateRotationKeys: Bool

        /// A policy.
        public init(allowsDuplicateRotationKeys: Bool) {
            self.allowsDuplicateRotationKeys = allowsDuplicateRotationKeys
        }

        /// What the reference directory accepts: the default, for reading real logs.
        public static let directory = Policy(allowsDuplicateRotationKeys: true)
        /// The spec's letter: duplicate rotation keys are invalid.
        public static let strict = Policy(allowsDuplicateRotationKeys: false)
    }

    /// The outcome of a successful validation.
    public struct Result: Hashable, Sendable {
        /// The DID the log belongs to.
        public var did: DID
        /// The operations of the current history, genesis first (nullified entries excluded).
        public var activeEntries: [PLCLogEntry]
        /// The latest operation of the current history.
        public var head: PLCLogEntry { activeEntries[activeEntries.count - 1] }
        /// The current identity state, or `nil` when the DID is tombstoned.
        public var state: PLCState? { head.operation.state }
        /// Whether the DID has been deactivated by a tombstone.
        public var isTombstoned: Bool { head.operation.isTombstone }
        /// The DID document the directory serves for the current state (`nil` when tombstoned).
        public var document: DIDDocument? { state.map { DIDDocument.plc(did: did, state: $0) } }
    }

    /// Parses the JSON array `/log/audit` returns.
    public static func parse(_ bytes: [UInt8]) throws(IdentityError) -> [PLCLogEntry] {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch { throw .malformedLogEntry(index: 0, detail: "not JSON: \(error)") }
        guard let array = json.arrayValue else { throw .malformedLogEntry(index: 0, detail: "the log is not a JSON array") }
        var entries: [PLCLogEntry] = []
        for (index, element) in array.enumerated() {
            do {
                entries.append(try PLCLogEntry(json: element))
            } catch {
                guard case .malformedLogEntry(_, let detail) = error else { throw error }
                throw .malformedLogEntry(index: index, detail: detail)
            }
        }
        return entries
    }

    /// Parses and validates an audit log's JSON.
    public static func validate(json bytes: [UInt8], policy: Policy = .directory) throws(IdentityError) -> Result {
        try validate(parse(bytes), policy: policy)
    }

    /// The recovery window: a fork may nullify operations at most this old (72 h, in µs).
    static let recoveryWindow: Int64 = 72 * 3600 * 1_000_000

    /// What the replay remembers about one accepted operation.
    private struct Node {
        var entry: PLCLogEntry
        var nullified = false
        /// The operation that currently follows this one, if any.
        var child: String?
        /// How many of this operation's rotation keys (from the front) may still sign a
        /// successor. Each successor narrows it to the keys above its own signer, which is the
        /// priority rule: only a higher key can then fork here again.
        var authorizedKeyCount: Int
    }

    /// Validates a log in the directory's order and returns the resulting state.
    public static func validate(_ entries: [PLCLogEntry], policy: Policy = .directory) throws(IdentityError) -> Result {
        guard let first = entries.first else { throw .invalidLog(.emptyLog, index: 0, detail: "the log has no entries") }
        let did = first.did
        var nodes: [String: Node] = [:]
        var head: String?

        for (index, entry) in entries.enumerated() {
            func fail(_ failure: PLCLogFailure, _ detail: String) -> IdentityError {
                .invalidLog(failure, index: index, detail: detail)
            }
            let operation = entry.operation
            guard entry.did == did else { throw fail(.inconsistentDID, "entry is for \(entry.did), the log for \(did)") }

            try checkStructure(operation, policy: policy, fail: fail)
            let cid = operation.cid.string
            guard cid == entry.cid else { throw fail(.cidMismatch, "operation hashes to \(cid), entry says \(entry.cid)") }
            guard nodes[cid] == nil else { throw fail(.duplicateOperation, "operation \(cid) appears twice") }

            if let headCID = head {
                guard let prev = operation.prev else { throw fail(.unexpectedGenesis, "a genesis operation after the first entry") }
                guard var parent = nodes[prev] else { throw fail(.prevNotFound, "prev \(prev) is not an earlier operation of this log") }
                guard !parent.nullified else { throw fail(.prevNullified, "prev \(prev) was nullified") }
                guard !parent.entry.operation.isTombstone else { throw fail(.prevTombstoned, "prev \(prev) is a tombstone") }

                let keys = parent.entry.operation.rotationKeys
                guard let index = try signerIndex(of: operation, among: keys, fail: fail) else {
                    throw fail(.invalidSignature, "not signed by any rotation key of \(prev)")
                }
                guard index < parent.authorizedKeyCount else {
                    throw fail(.unauthorizedKey, "signed by rotation key \(index) of \(prev); only keys before index \(parent.authorizedKeyCount) may replace its current successor")
                }
                let now = entry.createdAt.microsecondsSinceEpoch
                if let disputed = parent.child {
                    try nullifyFork(from: disputed, head: headCID, entry: entry, nodes: &nodes, fail: fail)
                } else {
                    guard now > parent.entry.createdAt.microsecondsSinceEpoch else {
                        throw fail(.timestampOrder, "created at \(entry.createdAt), not after its prev \(parent.entry.createdAt)")
                    }
                }
                parent.child = cid
                parent.authorizedKeyCount = index
                nodes[prev] = parent
            } else {
                guard operation.isGenesis else { throw fail(.expectedGenesis, "the first entry has a prev") }
                let computed = PLCOperation.plcDID(forSignedGenesis: operation.encoded)
                guard computed.string == did else {
                    throw fail(.genesisDIDMismatch, "the genesis operation creates \(computed), not \(did)")
                }
                guard try signerIndex(of: operation, among: operation.rotationKeys, fail: fail) != nil else {
                    throw fail(.invalidSignature, "not signed by any of its own rotation keys")
                }
            }
            nodes[cid] = Node(entry: entry, authorizedKeyCount: operation.rotationKeys.count)
            head = cid
        }

        try checkNullifiedFlags(entries, nodes: nodes)

        var active: [PLCLogEntry] = []
        var cursor: String? = first.cid
        while let current = cursor, let node = nodes[current] {
            active.append(node.entry)
            cursor = node.child
        }
        // The first entry passed the DID check, so this always succeeds.
        return Result(did: try! DID(did), activeEntries: active)
    }

    /// A fork: it must come after the head it replaces, and within the recovery window of the
    /// oldest operation it nullifies (the direct successor of its prev), which is nullified with
    /// everything after it.
    private static func nullifyFork(
        from disputed: String, head headCID: String, entry: PLCLogEntry, nodes: inout [String: Node],
        fail: (PLCLogFailure, String) -> IdentityError
    ) throws(IdentityError) {
        guard let headNode = nodes[headCID], let disputedNode = nodes[disputed] else {
            preconditionFailure("replay bookkeeping lost an operation")
        }
        let now = entry.createdAt.microsecondsSinceEpoch
        guard now > headNode.entry.createdAt.microsecondsSinceEpoch else {
            throw fail(.timestampOrder, "created at \(entry.createdAt), not after the head \(headNode.entry.createdAt)")
        }
        let age = now - disputedNode.entry.createdAt.microsecondsSinceEpoch
        guard age <= recoveryWindow else {
            throw fail(.nullificationTooLate, "would nullify \(disputed), created \(disputedNode.entry.createdAt), more than 72 h before")
        }
        var next: String? = disputed
        while let current = next {
            nodes[current]!.nullified = true
            next = nodes[current]!.child
        }
    }

    /// Each entry's `nullified` flag must agree with the replay.
    private static func checkNullifiedFlags(_ entries: [PLCLogEntry], nodes: [String: Node]) throws(IdentityError) {
        for (index, entry) in entries.enumerated() {
            let replayed = nodes[entry.cid]!.nullified
            guard replayed == entry.nullified else {
                throw IdentityError.invalidLog(
                    .nullifiedFlagMismatch, index: index,
                    detail: "marked \(entry.nullified ? "" : "not ")nullified, but the replay says \(replayed ? "nullified" : "active")")
            }
        }
    }

    /// `PLCOperation.signerIndex`, with a missing or badly encoded `sig` reported as a log failure.
    private static func signerIndex(
        of operation: PLCOperation, among keys: [String], fail: (PLCLogFailure, String) -> IdentityError
    ) throws(IdentityError) -> Int? {
        do {
            return try operation.signerIndex(among: keys)
        } catch {
            throw fail(.signatureEncoding, error.description)
        }
    }

    /// The per-operation checks that need no history.
    private static func checkStructure(
        _ operation: PLCOperation, policy: Policy, fail: (PLCLogFailure, String) -> IdentityError
    ) throws(IdentityError) {
        let size = operation.encoded.count
        guard size <= PLCOperation.maxSize else {
            throw fail(.operationTooLarge, "\(size) bytes, limit \(PLCOperation.maxSize)")
        }
        // Only regular operations are checked against the key limits: a legacy create names
        // exactly two keys, and its key syntax shows up as a signature failure if wrong.
        guard case .regular(let state) = operation.content else { return }
        do {
            // Empty rotation keys are allowed: the directory accepted them (log_empty_rotation_keys).
            try state.validate(allowDuplicates: policy.allowsDuplicateRotationKeys, allowEmpty: true)
        } catch {
            switch error {
            case .invalid(let detail): throw fail(.invalidOperation, detail)
            case .duplicateRotationKeys: throw fail(.duplicateRotationKeys, "a rotation key is listed twice")
            }
        }
    }
}
