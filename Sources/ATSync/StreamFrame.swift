import ATData
import ATRepo

/// A frame that is not what the event stream defines.
public enum StreamFrameError: Error, Equatable, Sendable {
    /// The header or body is not DAG-CBOR, or bytes follow the body.
    case malformed(String)
    /// The header is not `{op: 1, t}` or `{op: -1}`, or names a type this decoder does not know.
    case unexpectedFrame(String)
    /// A body field is missing or has the wrong type.
    case badField(String)
}

/// One frame of an event stream (https://atproto.com/specs/event-stream): two concatenated
/// DAG-CBOR objects, a header and a body. A message's header is `{op: 1, t: "#<type>"}`; an
/// error's is `{op: -1}` with body `{error, message?}`, after which the server closes the
/// connection. `#info` (`{name, message?}`) is a message that is never persisted and has no seq.
public enum StreamFrame: Sendable, Hashable {
    case event(seq: Int64, RepoEvent)
    case info(name: String, message: String?)
    case error(name: String, message: String?)

    /// The frame's bytes.
    public func encode() -> [UInt8] {
        switch self {
        case .event(let seq, let event):
            return event.encode(seq: seq)
        case .info(let name, let message):
            var body: [String: DataValue] = ["name": .string(name)]
            if let message { body["message"] = .string(message) }
            return Self.message(type: "#info", body: body)
        case .error(let name, let message):
            var body: [String: DataValue] = ["error": .string(name)]
            if let message { body["message"] = .string(message) }
            var writer = CBORWriter(capacity: 64)
            writer.write(.map(["op": .integer(-1)]))
            writer.write(.map(body))
            return writer.bytes
        }
    }

    /// A message frame: header `{op: 1, t: type}`, then the body.
    static func message(type: String, body: [String: DataValue]) -> [UInt8] {
        var writer = CBORWriter(capacity: 512)
        writer.write(.map(["op": 1, "t": .string(type)]))
        writer.write(.map(body))
        return writer.bytes
    }

    /// Frames may carry a commit's CAR slice of up to 2 MB plus its fields.
    static let limits = DAGCBOR.Limits(maxInputSize: 8 << 20)

    /// Parses a frame: header, then body, nothing after.
    public static func decode(_ frame: [UInt8]) throws(StreamFrameError) -> StreamFrame {
        let header: DataValue, body: DataValue
        do {
            let (value, used) = try DAGCBOR.decodePrefix(frame[...], limits: limits)
            header = value
            body = try DAGCBOR.decode(frame[used...], limits: limits)
        } catch {
            throw .malformed("\(error)")
        }
        guard let headerMap = header.mapValue, let op = headerMap["op"]?.integerValue else {
            throw .unexpectedFrame("header without op")
        }
        let fields = try Fields(body)
        switch op {
        case -1:
            return .error(name: try fields.string("error"), message: try fields.optionalString("message"))
        case 1:
            guard let type = headerMap["t"]?.stringValue else { throw .unexpectedFrame("message header without t") }
            if type == "#info" {
                return .info(name: try fields.string("name"), message: try fields.optionalString("message"))
            }
            return .event(seq: try fields.integer("seq"), try RepoEvent.decodeBody(type: type, fields))
        default:
            throw .unexpectedFrame("op \(op)")
        }
    }
}

extension RepoEvent {
    static func decodeBody(type: String, _ fields: Fields) throws(StreamFrameError) -> RepoEvent {
        switch type {
        case "#commit":
            var ops: [RepoOp] = []
            for value in try fields.array("ops") {
                let op = try Fields(value)
                guard let action = RepoOp.Action(rawValue: try op.string("action")) else { throw .badField("ops.action") }
                ops.append(RepoOp(action: action, path: try op.string("path"), cid: try op.optionalLink("cid"),
                                  prev: try op.optionalLink("prev")))
            }
            var blobs: [CID] = []
            for value in try fields.array("blobs") {
                guard let cid = value.linkValue else { throw .badField("blobs") }
                blobs.append(cid)
            }
            return .commit(Commit(
                repo: try fields.string("repo"), commit: try fields.link("commit"), rev: try fields.string("rev"),
                since: try fields.optionalString("since"), blocks: try fields.bytes("blocks"), ops: ops,
                prevData: try fields.optionalLink("prevData"), time: try fields.string("time"),
                rebase: try fields.bool("rebase"), tooBig: try fields.bool("tooBig"), blobs: blobs))
        case "#sync":
            return .sync(Sync(did: try fields.string("did"), blocks: try fields.bytes("blocks"),
                              rev: try fields.string("rev"), time: try fields.string("time")))
        case "#identity":
            return .identity(Identity(did: try fields.string("did"), handle: try fields.optionalString("handle"),
                                      time: try fields.string("time")))
        case "#account":
            return .account(Account(did: try fields.string("did"), active: try fields.bool("active"),
                                    status: try fields.optionalString("status"), time: try fields.string("time")))
        default:
            throw .unexpectedFrame("unknown type \(type)")
        }
    }
}

/// Typed access to a frame body's fields; a missing or mistyped field names itself.
struct Fields {
    let map: [String: DataValue]

    init(_ value: DataValue) throws(StreamFrameError) {
        guard let map = value.mapValue else { throw .badField("body is not a map") }
        self.map = map
    }

    func value<T>(_ key: String, _ extract: (DataValue) -> T?) throws(StreamFrameError) -> T {
        guard let value = map[key], let typed = extract(value) else { throw .badField(key) }
        return typed
    }

    /// Absent and null both read as nil.
    func optional<T>(_ key: String, _ extract: (DataValue) -> T?) throws(StreamFrameError) -> T? {
        guard let value = map[key], !value.isNull else { return nil }
        guard let typed = extract(value) else { throw .badField(key) }
        return typed
    }

    func string(_ key: String) throws(StreamFrameError) -> String { try value(key) { $0.stringValue } }
    func integer(_ key: String) throws(StreamFrameError) -> Int64 { try value(key) { $0.integerValue } }
    func bool(_ key: String) throws(StreamFrameError) -> Bool { try value(key) { $0.boolValue } }
    func bytes(_ key: String) throws(StreamFrameError) -> [UInt8] { try value(key) { $0.bytesValue } }
    func link(_ key: String) throws(StreamFrameError) -> CID { try value(key) { $0.linkValue } }
    func array(_ key: String) throws(StreamFrameError) -> [DataValue] { try value(key) { $0.arrayValue } }
    func optionalString(_ key: String) throws(StreamFrameError) -> String? { try optional(key) { $0.stringValue } }
    func optionalLink(_ key: String) throws(StreamFrameError) -> CID? { try optional(key) { $0.linkValue } }
}
