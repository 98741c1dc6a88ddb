import ATData
import PDSStore

extension RepositoryStore {
    /// A stored record as atproto JSON (a missing block is a server fault: the index names it).
    func recordJSON(_ cid: CID) throws -> JSONValue {
        guard let bytes = try block(cid) else { throw XRPCError.internalError }
        return try DAGCBOR.decode(bytes, limits: .init(maxDepth: 64)).jsonValue
    }
}
