import ATData

/// The JSON form, which is what the PLC directory accepts (`POST /:did`) and returns
/// (`/log`, `/log/last`, `/log/audit`; the reference PDS).
extension PLCOperation {
    /// Reads an operation from parsed JSON, with the same rules as `init(dataValue:)`.
    public init(json: JSONValue) throws(IdentityError) {
        let value: DataValue
        do { value = try DataValue(json: json) } catch { throw .invalidOperation("\(error)") }
        try self.init(dataValue: value)
    }

    /// Parses an operation from JSON text.
    public init(jsonBytes bytes: [UInt8]) throws(IdentityError) {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch { throw .invalidOperation("\(error)") }
        try self.init(json: json)
    }

    /// The operation as a JSON object, fields in the order the reference implementation writes
    /// them (the order carries no meaning; the signature covers the DAG-CBOR form).
    public var json: JSONValue {
        var object = JSONObject()
        object["type"] = .string(type)
        switch content {
        case .regular(let state):
            object["rotationKeys"] = .array(state.rotationKeys.map(JSONValue.string))
            object["verificationMethods"] = .object(JSONObject(
                state.verificationMethods.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
            object["alsoKnownAs"] = .array(state.alsoKnownAs.map(JSONValue.string))
            object["services"] = .object(JSONObject(state.services.sorted { $0.key < $1.key }.map { name, service in
                (name, JSONValue.object(JSONObject([("type", .string(service.type)), ("endpoint", .string(service.endpoint))])))
            }))
        case .tombstone:
            break
        case .legacyCreate(let legacy):
            object["signingKey"] = .string(legacy.signingKey)
            object["recoveryKey"] = .string(legacy.recoveryKey)
            object["handle"] = .string(legacy.handle)
            object["service"] = .string(legacy.service)
        }
        object["prev"] = prev.map(JSONValue.string) ?? .null
        if let sig { object["sig"] = .string(sig) }
        return .object(object)
    }

    /// The JSON text of the operation.
    public var jsonBytes: [UInt8] { json.serialized() }
}
