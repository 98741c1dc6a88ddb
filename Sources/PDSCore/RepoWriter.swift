import ATCrypto
import ATData
import ATRepo
import ATSync
import ATSyntax
import Foundation
import Logging
import PDSStore
import Synchronization

/// How a write's `swapRecord` constrains the current record.
public enum RecordSwap: Sendable, Equatable {
    /// No constraint.
    case any
    /// The record must not exist (`swapRecord: null` on putRecord).
    case mustNotExist
    /// The record's current CID must be this.
    case cid(CID)
}

/// One record operation of a commit.
public enum RecordWrite: Sendable {
    case create(collection: String, rkey: String, record: DataValue)
    case update(collection: String, rkey: String, record: DataValue, swap: RecordSwap)
    case delete(collection: String, rkey: String, swap: RecordSwap)

    public var collection: String {
        switch self { case .create(let c, _, _), .update(let c, _, _, _), .delete(let c, _, _): c }
    }
    public var rkey: String {
        switch self { case .create(_, let r, _), .update(_, let r, _, _), .delete(_, let r, _): r }
    }
}

/// The per-write result.
public struct RecordWriteResult: Sendable {
    public let collection: String
    public let rkey: String
    /// The new record CID (nil for deletes).
    public let cid: CID?
    /// False when the write changed nothing (putRecord with identical content, delete of a missing record).
    public let changed: Bool
}

/// The outcome of `RepoWriter.apply`.
public struct WriteOutcome: Sendable {
    public let results: [RecordWriteResult]
    /// The new commit, or nil when nothing changed (no commit is made then).
    public let commit: (cid: CID, rev: String)?
}

/// The only path by which the repository changes.
///
/// Writes are serialised by the store's single writer connection: everything from reading the
/// current tree to storing the event runs inside one `RepositoryStore.withWriter` closure, and the
/// in-memory tree is replaced only after the SQLite transaction commits — a failed commit leaves
/// both the database and memory as they were.
public final class RepoWriter: Sendable {
    struct Head: @unchecked Sendable {
        // @unchecked: MST's lazily-loaded nodes are only touched while holding the writer (GRDB's
        // writer queue) or the state mutex.
        var tree: MST
        var commit: SignedCommit
    }

    let did: String
    /// Read at each commit: a finished key rotation switches it in a running server.
    let key: @Sendable () -> any SigningKey
    let database: PDSDatabase
    let blocks: SQLiteBlockSource
    let clock: TIDClock
    let head: Mutex<Head?>
    /// Called after each commit's transaction, with the new sequence numbers (firehose wake-up).
    let onCommit: @Sendable ([Int64]) -> Void
    let logger: Logger
    let blobs: BlobStore
    /// The tree's recently used nodes. The head tree holds only its root between commits, so
    /// memory does not grow with the repository (docs/ARCHITECTURE.md, "Memory").
    let nodeCache: MSTNodeCache

    /// Largest CAR slice a commit may produce (the reference PDS: 2,000,000 B).
    static let maxCommitSize = 2_000_000
    /// Most writes in one commit (applyWrites limit, matching the firehose's 200-op cap).
    public static let maxWrites = 200

    public init(did: String, key: @autoclosure @escaping @Sendable () -> any SigningKey, database: PDSDatabase, blobs: BlobStore, logger: Logger,
                clock: TIDClock = .shared, nodeCacheCapacity: Int = 1024,
                onCommit: @escaping @Sendable ([Int64]) -> Void = { _ in }) throws {
        self.did = did
        self.key = key
        self.database = database
        self.blobs = blobs
        self.blocks = try RepositoryStore(database: database).blockSource()
        self.clock = clock
        self.onCommit = onCommit
        self.logger = logger
        head = Mutex(nil)
        nodeCache = MSTNodeCache(capacity: nodeCacheCapacity)
        if let stored = try RepositoryStore(database: database).head() {
            let commit = try SignedCommit(bytes: try blocks.requireBlock(stored.cid))
            let tree = try MST(root: commit.commit.data, store: blocks, verifiesOnLoad: false, cache: nodeCache)
            head.withLock { $0 = Head(tree: tree, commit: commit) }
        }
    }

    /// The current commit, if the repository exists.
    public var currentCommit: SignedCommit? { head.withLock { $0?.commit } }

    /// A snapshot of the current tree (cheap: nodes are shared).
    public var currentTree: MST? { head.withLock { $0?.tree } }

    /// Creates the empty repository with its first signed commit, and the account-creation events
    /// (`#identity`, `#account`, `#commit`, `#sync`, as the reference server sequences them).
    public func createRepository(handle: String) async throws {
        let did = self.did, key = self.key()
        let rev = clock.next(after: nil).string
        var tree = MST(store: blocks, cache: nodeCache)
        let (root, nodes) = tree.finalize()
        let commit = try SignedCommit.create(did: did, data: root, rev: rev, key: key)
        var blockMap = nodes
        blockMap.set(commit.cid, commit.bytes)
        let slice = CARWriter.encode(roots: [commit.cid], blocks: blockMap)
        let time = AccountStore.timestamp()
        let write = CommitWrite(commit: commit, blocks: blockMap, records: [], events: [
            .identity(.init(did: did, handle: handle, time: time)),
            .account(.init(did: did, active: true, status: nil, time: time)),
            .commit(.init(repo: did, commit: commit, since: nil, carSlice: slice, ops: [], prevData: nil, time: time)),
            .sync(.init(did: did, commit: commit, time: time)),
        ])
        let finalTree = tree
        let outcome = try await RepositoryStore(database: database).withWriterAsync { writer in
            let stored = try writer.store(write, did: did)
            self.head.withLock { $0 = Head(tree: finalTree, commit: commit) }
            return stored
        }
        onCommit(outcome.sequenceNumbers)
    }

    /// Applies `writes` as one signed commit.
    public func apply(_ writes: [RecordWrite], swapCommit: CID? = nil) async throws -> WriteOutcome {
        guard !writes.isEmpty else { throw RepoWriteError.noWrites }
        guard writes.count <= Self.maxWrites else { throw RepoWriteError.tooManyWrites(max: Self.maxWrites) }
        // Encode and check records before taking the writer: this is the CPU-heavy part.
        let prepared = try writes.map(Self.prepare)

        let (outcome, results, newHead) = try RepositoryStore(database: database).withWriter { writer -> (CommitOutcome?, [RecordWriteResult], Head?) in
            guard let current = self.head.withLock({ $0 }) else { throw RepoWriteError.repoNotFound(did: self.did) }
            if let swapCommit, swapCommit != current.commit.cid {
                throw RepoWriteError.invalidCommitSwap(current: current.commit.cid)
            }
            var staged = try self.stage(prepared, on: current.tree)
            guard !staged.changes.isEmpty else { return (nil, staged.results, nil) }
            let (write, newHead) = try self.makeCommit(&staged, after: current.commit)
            let stored = try writer.store(write, did: self.did)
            // Still on the writer connection: the next write must start from this commit, and a
            // concurrent upload of the same bytes must not interleave with the file deletion.
            self.head.withLock { $0 = newHead }
            for blob in stored.orphanedBlobs { self.blobs.delete(blob) }
            return (stored, staged.results, newHead)
        }

        guard let outcome, let newHead else { return WriteOutcome(results: results, commit: nil) }
        onCommit(outcome.sequenceNumbers)
        return WriteOutcome(results: results, commit: (newHead.commit.cid, newHead.commit.commit.rev ?? ""))
    }

    /// The writes applied to a copy of the tree, not yet committed.
    struct Staged {
        /// The committed tree the writes started from.
        var base: MST
        var tree: MST
        var recordBlocks = BlockMap()
        var changes: [RecordChange] = []
        var results: [RecordWriteResult] = []
        /// Net effect per path (the CID before this commit, the CID after), for the firehose ops.
        var net: [String: (before: CID?, after: CID?)] = [:]
    }

    /// Checks each write against the tree and applies it to a copy.
    func stage(_ prepared: [PreparedWrite], on tree: MST) throws -> Staged {
        var staged = Staged(base: tree, tree: tree)
        for write in prepared {
            let path = write.collection + "/" + write.rkey
            let existing = try staged.tree.get(path)
            try check(write.write, path: path, existing: existing)
            if let (cid, bytes) = write.encoded {
                if existing == cid {
                    staged.results.append(RecordWriteResult(collection: write.collection, rkey: write.rkey, cid: cid, changed: false))
                    continue
                }
                staged.recordBlocks.set(cid, bytes)
                _ = try staged.tree.set(path, cid)
                staged.net[path] = (staged.net[path].map { $0.before } ?? existing, cid)
                staged.changes.append(RecordChange(collection: write.collection, rkey: write.rkey, cid: cid, blobs: write.blobs,
                                                   replacesRecord: existing != nil))
                staged.results.append(RecordWriteResult(collection: write.collection, rkey: write.rkey, cid: cid, changed: true))
            } else {
                guard existing != nil else {
                    staged.results.append(RecordWriteResult(collection: write.collection, rkey: write.rkey, cid: nil, changed: false))
                    continue
                }
                _ = try staged.tree.remove(path)
                staged.net[path] = (staged.net[path].map { $0.before } ?? existing, nil)
                staged.changes.append(RecordChange(collection: write.collection, rkey: write.rkey, cid: nil, blobs: []))
                staged.results.append(RecordWriteResult(collection: write.collection, rkey: write.rkey, cid: nil, changed: true))
            }
        }
        return staged
    }

    /// A create needs a free path; an update or delete must match its `swapRecord`.
    func check(_ write: RecordWrite, path: String, existing: CID?) throws {
        switch write {
        case .create:
            guard existing == nil else { throw RepoWriteError.recordExists(uri: "at://\(did)/\(path)") }
        case .update(_, _, _, let swap), .delete(_, _, let swap):
            switch swap {
            case .any: break
            case .mustNotExist:
                if let existing { throw RepoWriteError.invalidRecordSwap(current: existing) }
            case .cid(let expected):
                if existing != expected { throw RepoWriteError.invalidRecordSwap(current: existing) }
            }
        }
    }

    /// Signs the staged tree as the commit after `previous` and builds what the store writes: the
    /// blocks, the record changes and the `#commit` event with its CAR slice.
    func makeCommit(_ staged: inout Staged, after previous: SignedCommit) throws -> (CommitWrite, Head) {
        // The ops come from what the writer did rather than from diffing two whole trees
        // (RepoDiff): the writer already knows every changed path and its previous CID, and a
        // full diff was the largest cost of a commit.
        let ops: [RepoOp] = staged.net.keys.sorted().compactMap { path in
            let (before, after) = staged.net[path]!
            switch (before, after) {
            case (nil, let cid?): return .create(path, cid)
            case (let old?, let cid?) where old != cid: return .update(path, cid, prev: old)
            case (let old?, nil): return .delete(path, prev: old)
            default: return nil
            }
        }
        let (root, nodes) = staged.tree.finalize()
        let previousRev = previous.commit.rev.flatMap { try? TID($0) }
        let rev = clock.next(after: previousRev).string
        let commit = try SignedCommit.create(did: did, data: root, rev: rev, key: key())
        // CAR slice (https://atproto.com/specs/repository): the commit, the new nodes, the nodes needed to invert the ops
        // (covering paths of every changed key), and the new record blocks.
        var sliceBlocks = try staged.tree.proofNodes(for: ops.map(\.path), known: nodes)
        sliceBlocks.merge(nodes)
        for op in ops { if let cid = op.cid, let bytes = staged.recordBlocks[cid] { sliceBlocks.set(cid, bytes) } }
        sliceBlocks.set(commit.cid, commit.bytes)
        let slice = CARWriter.encode(roots: [commit.cid], blocks: sliceBlocks)
        guard slice.count <= Self.maxCommitSize else { throw RepoWriteError.commitTooLarge }
        // Only records the new tree holds are stored: one created and deleted again within the
        // commit is not.
        var blockMap = nodes
        for op in ops { if let cid = op.cid, let bytes = staged.recordBlocks[cid] { blockMap.set(cid, bytes) } }
        blockMap.set(commit.cid, commit.bytes)
        // What the new commit no longer reaches (docs/ARCHITECTURE.md, "Blocks"): the previous
        // commit and the nodes of the old tree the new one does not hold; record blocks are
        // counted by the paths holding them and go when none does.
        var removed = try staged.tree.nodesRemoved(since: staged.base, newNodes: nodes)
        removed.append(previous.cid)
        var references: [CID: Int] = [:]
        for op in ops {
            if let cid = op.cid { references[cid, default: 0] += 1 }
            if let prev = op.prev { references[prev, default: 0] -= 1 }
        }
        let event = RepoEvent.Commit(repo: did, commit: commit, since: previous.commit.rev, carSlice: slice, ops: ops,
                                     prevData: previous.commit.data, time: AccountStore.timestamp())
        let write = CommitWrite(commit: commit, blocks: blockMap, records: staged.changes, events: [.commit(event)],
                                removedBlocks: removed, recordReferences: references.filter { $0.value != 0 })
        var tree = staged.tree
        tree.releaseLoadedNodes()
        return (write, Head(tree: tree, commit: commit))
    }

    /// A write with its record encoded and checked.
    struct PreparedWrite {
        let write: RecordWrite
        let collection: String
        let rkey: String
        /// The record's CID and canonical bytes (nil for deletes).
        let encoded: (CID, [UInt8])?
        let blobs: [BlobRef]
    }

    static func prepare(_ write: RecordWrite) throws -> PreparedWrite {
        let collection = write.collection, rkey = write.rkey
        guard (try? NSID(collection)) != nil else { throw RepoWriteError.invalidCollection(collection) }
        guard (try? RecordKey(rkey)) != nil else { throw RepoWriteError.invalidRecordKey(rkey) }
        switch write {
        case .delete:
            return PreparedWrite(write: write, collection: collection, rkey: rkey, encoded: nil, blobs: [])
        case .create(_, _, let record), .update(_, _, let record, _):
            let bytes: [UInt8]
            let references: DataReferences
            do {
                bytes = try DataModel.validateRecord(record)
                references = try record.references()
            } catch {
                throw RepoWriteError.invalidRecord("\(error)")
            }
            return PreparedWrite(write: write, collection: collection, rkey: rkey,
                                 encoded: (CID.dagCBOR(hashing: bytes), bytes), blobs: references.blobs)
        }
    }
}
