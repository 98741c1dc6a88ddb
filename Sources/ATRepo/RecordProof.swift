import ATCrypto
import ATData

/// Checks a `com.atproto.sync.getRecord` answer (https://atproto.com/specs/sync): a CAR whose one
/// root is the repository's signed commit, holding the MST nodes on the record's search path and
/// the record's block. What it proves is that the repository's owner signed a tree holding this
/// record, so a record fetched from someone else's server is as good as the owner's word (how a
/// Lexicon resolver takes a schema: https://atproto.com/specs/lexicon).
public enum RecordProof {
    /// A proven record.
    public struct Record: Sendable {
        /// The commit that proves it.
        public let commit: SignedCommit
        /// The record's CID in that commit's tree.
        public let cid: CID
        /// The record's DAG-CBOR block.
        public let bytes: [UInt8]
    }

    /// The record at `path` of the repository `did`, proven by `car`: the commit is by `did`,
    /// its signature verifies under `key` (the DID document's `#atproto` key), and its tree holds
    /// `path`. Returns nil when the tree's nodes prove `path` absent. Throws `RepoError` when any
    /// link of the chain fails (`badSignature` for the signature, so a caller can retry it with a
    /// fresher DID document) or a block on the way is missing.
    public static func verify(car: [UInt8], did: String, path: String, key: any VerifyingKey,
                              limits: MST.Limits = .default) throws -> Record? {
        try RepoPath.validate(path)
        let (roots, blocks) = try CARReader.read(car)
        guard roots.count == 1, let root = roots.first else {
            throw RepoError.invalidCAR("a record proof has exactly one root, the commit")
        }
        let commit = try RepoVerifier.verifiedCommit(root: root, blocks: blocks, did: did) {
            key.verify(signature: $1, message: $0)
        }

        let tree = try MST(root: commit.commit.data, store: blocks, verifiesOnLoad: true, limits: limits)
        guard let cid = try tree.get(path) else { return nil }
        let bytes = try blocks.requireBlock(cid)
        guard blockMatches(cid, bytes) == true else { throw RepoError.cidMismatch(cid) }
        return Record(commit: commit, cid: cid, bytes: bytes)
    }
}
