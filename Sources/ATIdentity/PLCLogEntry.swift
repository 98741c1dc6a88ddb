import ATData
import ATSyntax

/// One entry of a PLC directory audit log (`GET /:did/log/audit`):
/// `{did, operation, cid, nullified, createdAt}` (https://atproto.com/specs/did).
public struct PLCLogEntry: Hashable, Sendable {
    /// The DID the entry belongs to, as the directory wrote it.
    public var did: String
    /// The operation.
    public var operation: PLCOperation
    /// The directory's CID string for the operation.
    public var cid: String
    /// Whether the directory considers the operation nullified (replaced by a recovery fork).
    public var nullified: Bool
    /// When the directory accepted the operation.
    public var createdAt: Datetime

    /// An entry from its parts.
    public init(did: String, operation: PLCOperation, cid: String, nullified: Bool, createdAt: Datetime) {
        self.did = did
        self.operation = operation
        self.cid = cid
        self.nullified = nullified
        self.createdAt = createdAt
    }

    /// Reads an entry from the directory's JSON. Errors name the entry with index 0; use
    /// `PLCAuditLog.parse` to get the real position.
    public init(json: JSONValue) throws(IdentityError) {
        do {
            self = try PLCLogEntry.read(json)
        } catch {
            throw .malformedLogEntry(index: 0, detail: error.description)
        }
    }

    private static func read(_ json: JSONValue) throws(IdentityError) -> PLCLogEntry {
        guard let object = json.objectValue else { throw .invalidRequest("not an object") }
        guard let did = object["did"]?.stringValue else { throw .invalidRequest("did is missing or not a string") }
        guard let cid = object["cid"]?.stringValue else { throw .invalidRequest("cid is missing or not a string") }
        guard let nullified = object["nullified"]?.boolValue else { throw .invalidRequest("nullified is missing or not a boolean") }
        guard let createdAtText = object["createdAt"]?.stringValue else { throw .invalidRequest("createdAt is missing or not a string") }
        guard let operationJSON = object["operation"] else { throw .invalidRequest("operation is missing") }
        let createdAt: Datetime
        do { createdAt = try Datetime(createdAtText) } catch { throw .invalidRequest("createdAt: \(error.message)") }
        return PLCLogEntry(
            did: did, operation: try PLCOperation(json: operationJSON), cid: cid,
            nullified: nullified, createdAt: createdAt)
    }

    /// The entry as the directory's JSON.
    public var json: JSONValue {
        .object(JSONObject([
            ("did", .string(did)), ("operation", operation.json), ("cid", .string(cid)),
            ("nullified", .bool(nullified)), ("createdAt", .string(createdAt.string)),
        ]))
    }
}
