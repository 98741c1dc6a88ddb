import ATData

/// One record operation of a commit, as the firehose `repoOp` carries it (https://atproto.com/specs/sync).
public struct RepoOp: Sendable, Hashable {
    /// What happened to the path.
    public enum Action: String, Sendable, Hashable {
        case create, update, delete
    }

    /// The action.
    public var action: Action
    /// The repository path `<collection>/<rkey>`.
    public var path: String
    /// The new record CID (nil for deletes).
    public var cid: CID?
    /// The previous record CID (nil for creates; required for updates and deletes in sync 1.1).
    public var prev: CID?

    public init(action: Action, path: String, cid: CID?, prev: CID?) {
        self.action = action
        self.path = path
        self.cid = cid
        self.prev = prev
    }

    /// A create of `path` with `cid`.
    public static func create(_ path: String, _ cid: CID) -> RepoOp { RepoOp(action: .create, path: path, cid: cid, prev: nil) }
    /// An update of `path` from `prev` to `cid`.
    public static func update(_ path: String, _ cid: CID, prev: CID) -> RepoOp { RepoOp(action: .update, path: path, cid: cid, prev: prev) }
    /// A delete of `path` whose record was `prev`.
    public static func delete(_ path: String, prev: CID) -> RepoOp { RepoOp(action: .delete, path: path, cid: nil, prev: prev) }

    /// The op for a changed path of an `MSTDiff`.
    public init(_ change: MSTChange) {
        switch (change.old, change.new) {
        case (nil, let new?): self = .create(change.path, new)
        case (let old?, let new?): self = .update(change.path, new, prev: old)
        case (let old?, nil): self = .delete(change.path, prev: old)
        case (nil, nil): preconditionFailure("an MST change has an old or a new CID")
        }
    }
}

extension MST {
    /// Applies `ops` forwards (create/update/delete), checking each against the current content:
    /// a create must not find the path, updates and deletes must find `prev` when given.
    public mutating func apply(_ ops: [RepoOp]) throws {
        for op in ops {
            switch op.action {
            case .create:
                guard let cid = op.cid else { throw RepoError.conflict("create of \(op.path) without cid") }
                try insert(op.path, cid)
            case .update:
                guard let cid = op.cid else { throw RepoError.conflict("update of \(op.path) without cid") }
                let old = try update(op.path, cid)
                if let prev = op.prev, prev != old { throw RepoError.conflict("update of \(op.path): prev \(prev) but found \(old)") }
            case .delete:
                let old = try delete(op.path)
                if let prev = op.prev, prev != old { throw RepoError.conflict("delete of \(op.path): prev \(prev) but found \(old)") }
            }
        }
    }
}
