import ATData
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reading XRPC inputs and writing XRPC outputs.
///
/// Bodies are parsed with ATData's strict JSON parser (one parser for records and for everything
/// else), and every bad input becomes a 400 `InvalidRequest` whose message names the field, as
/// the reference server's Lexicon validation does.
extension Request {
    /// Reads a JSON object body of at most `limit` bytes.
    func jsonObject(context: PDSRequestContext, limit: Int = 150 * 1024) async throws -> XRPCInput {
        try requireContentType("application/json")
        try requireIdentityEncoding()
        // Refuse a declared oversize body before reading it.
        if let length = headers[.contentLength].flatMap(Int.init), length > limit { throw XRPCError.payloadTooLarge() }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw XRPCError.payloadTooLarge()
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw XRPCError.payloadTooLarge()
        }
        let bytes = buffer.readableBytesView
        let value: JSONValue
        do {
            value = try JSONValue.parse(Array(bytes))
        } catch {
            throw XRPCError.invalidRequest("Invalid JSON body: \(error)")
        }
        guard let object = value.objectValue else { throw XRPCError.invalidRequest("Input must be a JSON object") }
        return XRPCInput(object: object)
    }

    /// Fails with the reference server's messages when the body's encoding is missing or wrong.
    func requireContentType(_ expected: String) throws {
        guard let contentType = headers[.contentType] else {
            throw XRPCError.invalidRequest("Request encoding (Content-Type) required but not provided")
        }
        // The media type before any parameters, compared case-insensitively (RFC 9110 §8.3.1).
        let base = String(contentType.prefix(while: { $0 != ";" })).lowercased().filter { $0 != " " && $0 != "\t" }
        guard base == expected else {
            throw XRPCError.invalidRequest("Wrong request encoding (Content-Type): \(base)")
        }
    }

    /// Bodies are read as sent. A compressed body (`Content-Encoding` other than `identity`) is
    /// refused with 415 `UnsupportedMediaType`, the reference's answer to an encoding it cannot
    /// decode; read as is, it would be parsed (or, for uploadBlob, stored) compressed.
    func requireIdentityEncoding() throws {
        guard let encoding = headers[.contentEncoding] else { return }
        let codings = encoding.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard codings.allSatisfy({ $0 == "identity" || $0.isEmpty }) else {
            throw XRPCError(.unsupportedMediaType, "UnsupportedMediaType", "unsupported content-encoding: \(encoding)")
        }
    }

    /// The query parameters.
    var params: XRPCParams { XRPCParams(query: uri.query ?? "") }
}

/// Typed access to a JSON input object with protocol-style errors.
struct XRPCInput {
    let object: JSONObject

    func value(_ key: String) -> JSONValue? {
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    func requiredString(_ key: String, maxLength: Int = 8192) throws -> String {
        guard let value = object[key] else { throw XRPCError.invalidRequest("Input must have the property \"\(key)\"") }
        guard let string = value.stringValue else { throw XRPCError.invalidRequest("Input/\(key) must be a string") }
        guard string.utf8.count <= maxLength else { throw XRPCError.invalidRequest("Input/\(key) must not be longer than \(maxLength) characters") }
        return string
    }

    func optionalString(_ key: String, maxLength: Int = 8192) throws -> String? {
        guard value(key) != nil else { return nil }
        return try requiredString(key, maxLength: maxLength)
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.boolValue else { throw XRPCError.invalidRequest("Input/\(key) must be a boolean") }
        return bool
    }
}

/// Typed access to query parameters.
struct XRPCParams {
    let values: [String: [String]]

    /// Parses `application/x-www-form-urlencoded` query text: `+` is a space and `%XX` escapes
    /// are decoded (as the reference server's Express does). Repeated keys form arrays (https://atproto.com/specs/xrpc).
    init(query: String) {
        var values: [String: [String]] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            values[key, default: []].append(value)
        }
        self.values = values
    }

    /// One key or value: `+` is a space, `%XX` a byte. Malformed escapes, or escapes that do not
    /// decode to UTF-8, leave the text as it is (with `+` still a space), as Foundation's
    /// `removingPercentEncoding` fallback did. Byte-level: Foundation's string replacing and
    /// percent decoding were over a third of a getRecord's instructions (docs/ARCHITECTURE.md, "Reads").
    static func decode(_ text: Substring) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else { return String(text) }
        var spaced: [UInt8] = []
        spaced.reserveCapacity(utf8.count)
        for byte in utf8 { spaced.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(spaced.count)
        var index = 0
        while index < spaced.count {
            let byte = spaced[index]
            guard byte == UInt8(ascii: "%") else { decoded.append(byte); index += 1; continue }
            guard index + 2 < spaced.count, let high = hexValue(spaced[index + 1]), let low = hexValue(spaced[index + 2]) else {
                return String(decoding: spaced, as: UTF8.self)
            }
            decoded.append(high << 4 | low)
            index += 3
        }
        return String(validating: decoded, as: UTF8.self) ?? String(decoding: spaced, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    func requiredString(_ key: String) throws -> String {
        guard let value = values[key]?.first else { throw XRPCError.invalidRequest("Params must have the property \"\(key)\"") }
        return value
    }

    func optionalString(_ key: String) -> String? { values[key]?.first }

    func optionalInteger(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text = values[key]?.first else { return nil }
        guard let number = Int(text) else { throw XRPCError.invalidRequest("\(key) must be an integer") }
        guard range.contains(number) else {
            throw XRPCError.invalidRequest("\(key) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return number
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let text = values[key]?.first else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default: throw XRPCError.invalidRequest("\(key) must be a boolean")
        }
    }
}

/// A JSON response.
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    var fields = headers
    fields[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: value.serialized())))
}

/// A JSON response from serialised bytes.
func jsonResponse(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}
