import ATData

extension EventFrame {
    /// An error frame (ATPROTO.md §12): header `{op: -1}` (no `t`), body `{error, message?}`. The
    /// server closes the connection right after sending it.
    public static func error(_ name: String, message: String?) -> [UInt8] {
        var body: [String: DataValue] = ["error": .string(name)]
        if let message { body["message"] = .string(message) }
        var writer = CBORWriter(capacity: 64)
        writer.write(.map(["op": .integer(-1)]))
        writer.write(.map(body))
        return writer.bytes
    }

    /// An `#info` frame (ATPROTO.md §13.5): `{name, message?}`, never persisted and without a seq.
    public static func info(_ name: String, message: String?) -> [UInt8] {
        var body: [String: DataValue] = ["name": .string(name)]
        if let message { body["message"] = .string(message) }
        return frame(type: "#info", body: body)
    }
}
