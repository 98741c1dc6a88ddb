import Foundation
import HTTPTypes
import Hummingbird

/// An XRPC error response: `{"error": <name>, "message": <text>}` with the protocol's status.
///
/// Names follow the Lexicon where one applies (`RecordNotFound`, `InvalidSwap`, `ExpiredToken`, …)
/// and the reference server's generic names otherwise (https://atproto.com/specs/xrpc).
public struct XRPCError: Error, HTTPResponseError, CustomStringConvertible {
    /// HTTP status.
    public let status: HTTPResponse.Status
    /// The `error` field.
    public let name: String
    /// The `message` field.
    public let message: String?
    /// Extra response headers (e.g. `WWW-Authenticate`).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ name: String, _ message: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.name = name
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(name): \(message ?? "")" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var body = #"{"error":"# + Self.jsonString(name)
        if let message { body += #","message":"# + Self.jsonString(message) }
        body += "}"
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// A JSON string literal for `text` (errors must never fail to serialise).
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension XRPCError {
    /// 400 `InvalidRequest`.
    public static func invalidRequest(_ message: String) -> XRPCError { XRPCError(.badRequest, "InvalidRequest", message) }
    /// 400 with a Lexicon-specific error name.
    public static func badRequest(_ name: String, _ message: String) -> XRPCError { XRPCError(.badRequest, name, message) }
    /// 401 `AuthMissing` (no credentials on an authenticated route).
    public static let authMissing = XRPCError(
        .unauthorized, "AuthMissing", "Authentication Required", headers: [.wwwAuthenticate: "Bearer"])
    /// 401 `AuthenticationRequired` with a message.
    public static func authenticationRequired(_ message: String) -> XRPCError {
        XRPCError(.unauthorized, "AuthenticationRequired", message, headers: [.wwwAuthenticate: "Bearer"])
    }
    /// 400 `ExpiredToken`: clients refresh their session on exactly this name (the reference PDS).
    public static func expiredToken(_ message: String = "Token has expired") -> XRPCError {
        XRPCError(.badRequest, "ExpiredToken", message)
    }
    /// 401 `InvalidToken`: the token failed verification (forged, malformed, wrong type or
    /// audience). 401 makes clients drop or refresh the session rather than retry as is.
    public static func invalidToken(_ message: String = "Token could not be verified") -> XRPCError {
        XRPCError(.unauthorized, "InvalidToken", message, headers: [.wwwAuthenticate: "Bearer"])
    }
    /// 400 `InvalidToken` "Bad token scope": a genuine token whose session may not do this (an
    /// app password managing the account), as the reference server answers.
    public static let badTokenScope = XRPCError(.badRequest, "InvalidToken", "Bad token scope")
    /// 403 `Forbidden`.
    public static func forbidden(_ message: String) -> XRPCError { XRPCError(.forbidden, "Forbidden", message) }
    /// 404 for routes that are not XRPC methods.
    public static func notFound(_ message: String = "Not Found") -> XRPCError { XRPCError(.notFound, "NotFound", message) }
    /// 413 `PayloadTooLarge`.
    public static func payloadTooLarge(_ message: String = "request entity too large") -> XRPCError {
        XRPCError(.contentTooLarge, "PayloadTooLarge", message)
    }
    /// 501 `MethodNotImplemented` for unknown NSIDs.
    public static func methodNotImplemented(_ nsid: String) -> XRPCError {
        XRPCError(.notImplemented, "MethodNotImplemented", "Method Not Implemented: \(nsid)")
    }
    /// 500 `InternalServerError` (details go to the log, never to the client).
    public static let internalError = XRPCError(.internalServerError, "InternalServerError", "Internal Server Error")
}
