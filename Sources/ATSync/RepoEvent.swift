import ATData
import ATRepo

/// Encodes `com.atproto.sync.subscribeRepos` event frames (ATPROTO.md §12–13): a DAG-CBOR header
/// `{op: 1, t: "#<type>"}` followed by the DAG-CBOR body. Frames are built once, when the event is
/// written to the log, and sent byte-for-byte to every subscriber.
public enum EventFrame {
    static func frame(type: String, body: [String: DataValue]) -> [UInt8] {
        var writer = CBORWriter(capacity: 512)
        writer.write(.map(["op": 1, "t": .string(type)]))
        writer.write(.map(body))
        return writer.bytes
    }

    /// A `#commit` event (sync 1.1: `prevData` and per-op `prev` let consumers invert the ops).
    public static func commit(seq: Int64, did: String, commit: SignedCommit, since: String?, carSlice: [UInt8],
                              ops: [RepoOp], prevData: CID?, time: String) -> [UInt8] {
        let opValues: [DataValue] = ops.map { op in
            var map: [String: DataValue] = [
                "action": .string(op.action.rawValue),
                "path": .string(op.path),
                "cid": op.cid.map(DataValue.link) ?? .null,
            ]
            if let prev = op.prev { map["prev"] = .link(prev) }
            return .map(map)
        }
        var body: [String: DataValue] = [
            "seq": .integer(seq),
            "rebase": false,
            "tooBig": false,
            "repo": .string(did),
            "commit": .link(commit.cid),
            "rev": .string(commit.commit.rev ?? ""),
            "since": since.map(DataValue.string) ?? .null,
            "blocks": .bytes(carSlice),
            "ops": .array(opValues),
            "blobs": [],
            "time": .string(time),
        ]
        if let prevData { body["prevData"] = .link(prevData) }
        return frame(type: "#commit", body: body)
    }

    /// A `#sync` event: the current commit alone, telling consumers to resynchronise.
    public static func sync(seq: Int64, did: String, commit: SignedCommit, time: String) -> [UInt8] {
        frame(type: "#sync", body: [
            "seq": .integer(seq), "did": .string(did),
            "blocks": .bytes(CARWriter.encode(roots: [commit.cid], blocks: BlockMap([commit.cid: commit.bytes]))),
            "rev": .string(commit.commit.rev ?? ""), "time": .string(time),
        ])
    }

    /// An `#identity` event (handle or DID document changed).
    public static func identity(seq: Int64, did: String, handle: String?, time: String) -> [UInt8] {
        var body: [String: DataValue] = ["seq": .integer(seq), "did": .string(did), "time": .string(time)]
        if let handle { body["handle"] = .string(handle) }
        return frame(type: "#identity", body: body)
    }

    /// An `#account` event (hosting status).
    public static func account(seq: Int64, did: String, active: Bool, status: String?, time: String) -> [UInt8] {
        var body: [String: DataValue] = ["seq": .integer(seq), "did": .string(did), "active": .bool(active), "time": .string(time)]
        if let status { body["status"] = .string(status) }
        return frame(type: "#account", body: body)
    }
}
