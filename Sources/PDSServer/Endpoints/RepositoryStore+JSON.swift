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

    /// getRecord's output, `{"uri":…,"cid":…,"value":…}`, in one buffer (no JSON tree).
    static func recordOutputJSON(uri: String, cid: CID, bytes: [UInt8]) throws -> [UInt8] {
        var writer = JSONWriter(capacity: bytes.count * 2 + 256)
        try writeRecordOutput(uri: (uri, ""), cid: cid, bytes: bytes, to: &writer)
        return writer.bytes
    }

    /// listRecords' output, `{"records":[…],"cursor":…}`, written into one buffer sized for the
    /// page (then copied once into the response).
    static func pageOutputJSON(uriPrefix: String, page: [(rkey: String, cid: CID, bytes: [UInt8])], cursor: String?) throws -> [UInt8] {
        var writer = JSONWriter(capacity: page.reduce(64) { $0 + $1.bytes.count * 2 + uriPrefix.utf8.count + 128 })
        writer.writeRaw(#"{"records":["#)
        for (index, entry) in page.enumerated() {
            if index > 0 { writer.writeRaw(",") }
            try writeRecordOutput(uri: (uriPrefix, entry.rkey), cid: entry.cid, bytes: entry.bytes, to: &writer)
        }
        writer.writeRaw("]")
        if let cursor {
            writer.writeRaw(#","cursor":"#)
            writer.write(string: cursor)
        }
        writer.writeRaw("}")
        return writer.bytes
    }

    /// One record as `{"uri":…,"cid":…,"value":…}`; the URI is given in two parts (prefix and rkey).
    static func writeRecordOutput(uri: (String, String), cid: CID, bytes: [UInt8], to writer: inout JSONWriter) throws {
        writer.writeRaw(#"{"uri":"#)
        writer.write(string: uri.0, uri.1)
        writer.writeRaw(#","cid":"#)
        writer.write(cidString: cid)
        writer.writeRaw(#","value":"#)
        try writeRecordJSON(bytes, to: &writer)
        writer.writeRaw("}")
    }

    /// Stored records were checked on the way in; the depth allowance only guards the stack.
    static let recordLimits = DAGCBOR.Limits(maxDepth: 64)
}
