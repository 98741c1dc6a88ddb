import ATData
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PDSCore

/// HTTP plumbing shared by the OAuth endpoints and pages: form bodies, the error shape of the
/// authorization server (RFC 6749 §5.2: `{"error","error_description"}`), `DPoP-Nonce`, cookies.
enum OAuthHTTP {
    static let dpopHeader = HTTPField.Name("DPoP")!
    static let dpopNonceHeader = HTTPField.Name("DPoP-Nonce")!
    static let maxFormBytes = 64 << 10

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// Reads an `application/x-www-form-urlencoded` body (the only encoding OAuth endpoints take).
    static func form(_ request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else {
            throw OAuthError.invalidRequest("the body must be application/x-www-form-urlencoded")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: maxFormBytes) } catch { throw OAuthError.invalidRequest("the body is too large") }
        var values: [String: String] = [:]
        for (key, list) in XRPCParams(query: String(buffer: buffer)).values {
            // RFC 6749 §3.1: parameters must not be repeated.
            guard list.count == 1 else { throw OAuthError.invalidRequest("parameter \(key) is repeated") }
            values[key] = list[0]
        }
        return values
    }

    /// The authorization server's error answer: 400 (401 for `invalid_client`, RFC 6749 §5.2),
    /// always with a fresh `DPoP-Nonce` so a client can retry `use_dpop_nonce` at once.
    static func errorResponse(_ error: OAuthError, nonce: String) -> Response {
        let status: HTTPResponse.Status = error.code == "invalid_client" ? .unauthorized : .badRequest
        var headers: HTTPFields = [dpopNonceHeader: nonce, .cacheControl: "no-store"]
        if case .invalidClient = error { headers[.wwwAuthenticate] = "Bearer" }
        let body: JSONValue = ["error": .string(error.code), "error_description": .string(error.message)]
        return jsonResponse(body, status: status, headers: headers)
    }

    /// Runs an authorization-server endpoint: OAuth errors become RFC 6749 answers, every answer
    /// carries the current nonce.
    static func answer(_ nonce: String, _ body: () async throws -> Response) async throws -> Response {
        do {
            var response = try await body()
            response.headers[dpopNonceHeader] = nonce
            response.headers[.cacheControl] = "no-store"
            return response
        } catch let error as OAuthError {
            return errorResponse(error, nonce: nonce)
        }
    }

    /// A cookie: `HttpOnly; SameSite=Lax; Path=/`, and `Secure` except on the loopback dev origin
    /// (browsers drop Secure cookies set over http).
    static func cookie(_ name: String, _ value: String, maxAge: Int64, secure: Bool) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (secure ? "; Secure" : "")
    }

    /// The value of cookie `name` in the request.
    static func cookie(_ request: Request, _ name: String) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0] == name { return String(pair[1]) }
            }
        }
        return nil
    }

    /// A 303 to `location` (after a form POST, RFC 9110 §15.4.4).
    static func seeOther(_ location: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.location] = location
        fields[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: fields)
    }

    /// Percent-encodes a query value (RFC 3986 unreserved characters stay).
    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn:
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")) ?? ""
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
