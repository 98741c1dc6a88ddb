import ATCrypto
import ATData

/// Full-repository verification (https://atproto.com/specs/repository import, §4): checks the commit signature, walks the
/// whole MST verifying every node (hash, key heights, order, compression, layers, bounds), and
/// hands every record to the caller.
public enum RepoVerifier {
    /// Verifies the repository CAR `car`.
    ///
    /// - Parameters:
    ///   - did: when given, the commit's `did` must equal it (cross-account contamination).
    ///   - verifySignature: `(message, signature) -> Bool`, typically `VerifyingKey.verify`.
    ///   - visit: called for each record in path order with its path, CID and bytes.
    /// - Returns: the verified commit.
    @discardableResult
    public static func verify(car: [UInt8], did: String? = nil,
                              verifySignature: (_ message: [UInt8], _ signature: [UInt8]) -> Bool,
                              limits: MST.Limits = .default,
                              visit: (_ path: String, _ cid: CID, _ bytes: [UInt8]) throws -> Void) throws -> SignedCommit {
        let (roots, blocks) = try CARReader.read(car)
        return try verify(root: roots[0], blocks: blocks, did: did, verifySignature: verifySignature, limits: limits, visit: visit)
    }

    /// Verifies the repository whose commit is `root`, reading blocks from `blocks`.
    @discardableResult
    public static func verify(root: CID, blocks: any BlockSource, did: String? = nil,
                              verifySignature: (_ message: [UInt8], _ signature: [UInt8]) -> Bool,
                              limits: MST.Limits = .default,
                              visit: (_ path: String, _ cid: CID, _ bytes: [UInt8]) throws -> Void) throws -> SignedCommit {
        let commit = try verifiedCommit(root: root, blocks: blocks, did: did, verifySignature: verifySignature)
        let tree = try MST(root: commit.commit.data, store: blocks, verifiesOnLoad: true, limits: limits)
        try tree.forEach { path, cid in
            let bytes = try blocks.requireBlock(cid)
            guard blockMatches(cid, bytes) == true else { throw RepoError.cidMismatch(cid) }
            try visit(path, cid, bytes)
            return true
        }
        return commit
    }

    /// The commit block `root` from `blocks`, checked: its bytes hash to `root`, it decodes as a
    /// canonical v3 commit, it is by `did` (when given), and its signature verifies
    /// (`RepoError.badSignature` otherwise). Full verification and record proofs both start here.
    static func verifiedCommit(root: CID, blocks: any BlockSource, did: String?,
                               verifySignature: (_ message: [UInt8], _ signature: [UInt8]) -> Bool) throws -> SignedCommit {
        let commitBytes = try blocks.requireBlock(root)
        guard blockMatches(root, commitBytes) == true else { throw RepoError.cidMismatch(root) }
        let commit = try SignedCommit(bytes: commitBytes)
        if let did, commit.commit.did != did {
            throw RepoError.invalidCommit("commit is for \(commit.commit.did), expected \(did)")
        }
        guard commit.commit.verifySignature(verifySignature) else { throw RepoError.badSignature }
        return commit
    }

    /// Verifies the repository CAR `car` against the account's `#atproto` key.
    @discardableResult
    public static func verify(car: [UInt8], did: String? = nil, key: any VerifyingKey, limits: MST.Limits = .default,
                              visit: (_ path: String, _ cid: CID, _ bytes: [UInt8]) throws -> Void) throws -> SignedCommit {
        try verify(car: car, did: did, verifySignature: { key.verify(signature: $1, message: $0) }, limits: limits, visit: visit)
    }
}
