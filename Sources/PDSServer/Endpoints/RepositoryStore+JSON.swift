import ATData
import PDSStore

extension RepositoryStore {
    /// A stored record as atproto JSON (a missing block is a server fault: the index names it).
    func recordJSON(_ cid: CID) throws -> JSONValue {
        guard let json = try recordJSONIfPresent(cid) else { throw XRPCError.internalError }
        return json
    }

    /// A stored record as atproto JSON, nil when its block is gone (a commit deleted the record
    /// after the index was read: commits delete the blocks they release).
    func recordJSONIfPresent(_ cid: CID) throws -> JSONValue? {
        try block(cid).map(Self.recordJSON)
    }

    /// Record bytes as atproto JSON.
    static func recordJSON(_ bytes: [UInt8]) throws -> JSONValue {
        try DAGCBOR.decode(bytes, limits: recordLimits).jsonValue
    }

    /// Record bytes as atproto JSON, transcoded straight into `writer` (no data-model tree).
    static func writeRecordJSON(_ bytes: [UInt8], to writer: inout JSONWriter) throws {
        try DAGCBORTranscoder.appendJSON(of: bytes, to: &writer, limits: recordLimits)
    }

    /// Stored records were checked on the way in; the depth allowance only guards the stack.
    static let recordLimits = DAGCBOR.Limits(maxDepth: 64)
}
