import ATData

/// Why `RepoWriter` refused a write. Nothing was stored.
public enum RepoWriteError: Error, Equatable, Sendable {
    /// An empty batch.
    case noWrites
    /// More writes than one commit may hold.
    case tooManyWrites(max: Int)
    /// The repository does not exist (yet).
    case repoNotFound(did: String)
    /// `swapCommit` named another commit than the current one.
    case invalidCommitSwap(current: CID)
    /// `swapRecord` did not match the record at the path (nil: there is none).
    case invalidRecordSwap(current: CID?)
    /// A create at a path that holds a record.
    case recordExists(uri: String)
    /// The collection is not a valid NSID.
    case invalidCollection(String)
    /// The record key is not valid.
    case invalidRecordKey(String)
    /// The record is not a valid data-model record (the reason).
    case invalidRecord(String)
    /// The commit's CAR slice would exceed `RepoWriter.maxCommitSize`.
    case commitTooLarge
}
