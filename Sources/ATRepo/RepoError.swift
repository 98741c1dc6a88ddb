import ATData

/// Why a repository structure (MST, commit, CAR, proof) was rejected or could not be processed.
///
/// Every case names what was wrong so the message can be surfaced in an XRPC error or a log line.
public enum RepoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A block the operation needed is not in the block source (partial tree, incomplete CAR).
    case missingBlock(CID)
    /// A repository path (MST key) breaks the path rules of https://atproto.com/specs/repository.
    case invalidPath(String)
    /// An MST node is malformed or breaks a structural rule (heights, order, compression, layers).
    case invalidNode(String)
    /// A commit object is malformed.
    case invalidCommit(String)
    /// A CAR file is malformed.
    case invalidCAR(String)
    /// A block's bytes do not hash to its CID.
    case cidMismatch(CID)
    /// A structure exceeds a defensive bound (entries per node, tree depth, section size…).
    case limitExceeded(String)
    /// A write conflicts with the tree's content (create of an existing key, update of a missing one…).
    case conflict(String)
    /// A sync 1.1 operation inversion did not reproduce the previous tree.
    case inversionFailed(String)
    /// A commit signature did not verify.
    case badSignature
    /// Underlying data-model decoding failure.
    case data(DataError)

    public var description: String {
        switch self {
        case .missingBlock(let cid): "missing block \(cid)"
        case .invalidPath(let why): "invalid repository path: \(why)"
        case .invalidNode(let why): "invalid MST node: \(why)"
        case .invalidCommit(let why): "invalid commit: \(why)"
        case .invalidCAR(let why): "invalid CAR: \(why)"
        case .cidMismatch(let cid): "block bytes do not match CID \(cid)"
        case .limitExceeded(let why): "limit exceeded: \(why)"
        case .conflict(let why): "conflicting write: \(why)"
        case .inversionFailed(let why): "operation inversion failed: \(why)"
        case .badSignature: "commit signature does not verify"
        case .data(let error): error.description
        }
    }
}
