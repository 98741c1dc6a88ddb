// ATSync: the `com.atproto.sync.subscribeRepos` event stream's wire format.
//
// What it is: typed repository events (`#commit`, `#sync`, `#identity`, `#account`) and the
// stream's control frames (`#info`, error), each encoded to and decoded from the exact frame
// bytes (https://atproto.com/specs/event-stream: a DAG-CBOR header followed by a DAG-CBOR body).
//
// What it is not: the event log (PDSStore keeps the encoded frames), the fan-out to subscribers
// (PDSCore's FirehoseHub) or the WebSocket transport (PDSServer).
import ATData
import ATRepo

/// One repository event of `com.atproto.sync.subscribeRepos`
/// (https://atproto.com/specs/sync#firehose). Values carry the event's fields; the sequence number
/// is given when the event is encoded, because it is assigned inside the transaction that stores it.
public enum RepoEvent: Sendable, Hashable {
    case commit(Commit)
    case sync(Sync)
    case identity(Identity)
    case account(Account)

    /// A `#commit` event (sync 1.1: `prevData` and per-op `prev` let consumers invert the ops).
    public struct Commit: Sendable, Hashable {
        public var repo: String
        /// The new commit's CID.
        public var commit: CID
        public var rev: String
        /// The previous commit's rev (nil for the first commit).
        public var since: String?
        /// The CAR slice: the commit, new MST nodes, proof nodes and new records.
        public var blocks: [UInt8]
        public var ops: [RepoOp]
        /// The previous commit's MST root.
        public var prevData: CID?
        public var time: String
        public var rebase: Bool
        public var tooBig: Bool
        public var blobs: [CID]

        public init(repo: String, commit: CID, rev: String, since: String?, blocks: [UInt8], ops: [RepoOp],
                    prevData: CID?, time: String, rebase: Bool = false, tooBig: Bool = false, blobs: [CID] = []) {
            self.repo = repo
            self.commit = commit
            self.rev = rev
            self.since = since
            self.blocks = blocks
            self.ops = ops
            self.prevData = prevData
            self.time = time
            self.rebase = rebase
            self.tooBig = tooBig
            self.blobs = blobs
        }

        /// The event for a signed commit and its CAR slice.
        public init(repo: String, commit: SignedCommit, since: String?, carSlice: [UInt8], ops: [RepoOp],
                    prevData: CID?, time: String) {
            self.init(repo: repo, commit: commit.cid, rev: commit.commit.rev ?? "", since: since, blocks: carSlice,
                      ops: ops, prevData: prevData, time: time)
        }
    }

    /// A `#sync` event: the current commit alone, telling consumers to resynchronise.
    public struct Sync: Sendable, Hashable {
        public var did: String
        /// A CAR holding the commit block, rooted at it.
        public var blocks: [UInt8]
        public var rev: String
        public var time: String

        public init(did: String, blocks: [UInt8], rev: String, time: String) {
            self.did = did
            self.blocks = blocks
            self.rev = rev
            self.time = time
        }

        /// The event for `commit`: a CAR of the commit block alone.
        public init(did: String, commit: SignedCommit, time: String) {
            self.init(did: did, blocks: CARWriter.encode(roots: [commit.cid], blocks: BlockMap([commit.cid: commit.bytes])),
                      rev: commit.commit.rev ?? "", time: time)
        }
    }

    /// An `#identity` event (handle or DID document changed).
    public struct Identity: Sendable, Hashable {
        public var did: String
        public var handle: String?
        public var time: String

        public init(did: String, handle: String?, time: String) {
            self.did = did
            self.handle = handle
            self.time = time
        }
    }

    /// An `#account` event (hosting status).
    public struct Account: Sendable, Hashable {
        public var did: String
        public var active: Bool
        public var status: String?
        public var time: String

        public init(did: String, active: Bool, status: String?, time: String) {
            self.did = did
            self.active = active
            self.status = status
            self.time = time
        }
    }

    /// The event's type without the `#` ("commit", "sync", "identity", "account"): the header's
    /// `t` is `#` + this.
    public var type: String {
        switch self {
        case .commit: "commit"
        case .sync: "sync"
        case .identity: "identity"
        case .account: "account"
        }
    }

    /// The complete wire frame: header `{op: 1, t: "#<type>"}` followed by the body with `seq`.
    public func encode(seq: Int64) -> [UInt8] {
        StreamFrame.message(type: "#" + type, body: body(seq: seq))
    }

    /// The body's fields, as the Lexicon of `com.atproto.sync.subscribeRepos` names them.
    func body(seq: Int64) -> [String: DataValue] {
        switch self {
        case .commit(let event):
            var body: [String: DataValue] = [
                "seq": .integer(seq),
                "rebase": .bool(event.rebase),
                "tooBig": .bool(event.tooBig),
                "repo": .string(event.repo),
                "commit": .link(event.commit),
                "rev": .string(event.rev),
                "since": event.since.map(DataValue.string) ?? .null,
                "blocks": .bytes(event.blocks),
                "ops": .array(event.ops.map(Self.opValue)),
                "blobs": .array(event.blobs.map(DataValue.link)),
                "time": .string(event.time),
            ]
            if let prevData = event.prevData { body["prevData"] = .link(prevData) }
            return body
        case .sync(let event):
            return ["seq": .integer(seq), "did": .string(event.did), "blocks": .bytes(event.blocks),
                    "rev": .string(event.rev), "time": .string(event.time)]
        case .identity(let event):
            var body: [String: DataValue] = ["seq": .integer(seq), "did": .string(event.did), "time": .string(event.time)]
            if let handle = event.handle { body["handle"] = .string(handle) }
            return body
        case .account(let event):
            var body: [String: DataValue] = ["seq": .integer(seq), "did": .string(event.did),
                                             "active": .bool(event.active), "time": .string(event.time)]
            if let status = event.status { body["status"] = .string(status) }
            return body
        }
    }

    static func opValue(_ op: RepoOp) -> DataValue {
        var map: [String: DataValue] = [
            "action": .string(op.action.rawValue),
            "path": .string(op.path),
            "cid": op.cid.map(DataValue.link) ?? .null,
        ]
        if let prev = op.prev { map["prev"] = .link(prev) }
        return .map(map)
    }

    /// Parses a stored or received event frame back into its sequence number and event. Control
    /// frames (`#info`, errors) and unknown types are refused; `StreamFrame.decode` accepts them.
    public static func decode(_ frame: [UInt8]) throws(StreamFrameError) -> (seq: Int64, event: RepoEvent) {
        guard case .event(let seq, let event) = try StreamFrame.decode(frame) else {
            throw .unexpectedFrame("not a repository event")
        }
        return (seq, event)
    }
}
