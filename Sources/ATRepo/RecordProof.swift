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
        var reader = try CARReader(bytes: car)
        guard reader.roots.count == 1, let root = reader.roots.first else {
            throw RepoError.invalidCAR("a record proof has exactly one root, the commit")
        }
        var blocks = BlockMap()
        while let (cid, block) = try reader.next() { blocks.set(cid, block) }

        let commitBytes = try blocks.requireBlock(root)
        guard blockMatches(root, commitBytes) == true else { throw RepoError.cidMismatch(root) }
        let commit = try SignedCommit(bytes: commitBytes)
        guard commit.commit.did == did else {
            throw RepoError.invalidCommit("commit is for \(commit.commit.did), expected \(did)")
        }
        guard commit.commit.verifySignature(with: key) else { throw RepoError.badSignature }

        let tree = try MST(root: commit.commit.data, store: blocks, verifiesOnLoad: true, limits: limits)
        guard let cid = try tree.get(path) else { return nil }
        let bytes = try blocks.requireBlock(cid)
        guard blockMatches(cid, bytes) == true else { throw RepoError.cidMismatch(cid) }
        return Record(commit: commit, cid: cid, bytes: bytes)
    }
}
