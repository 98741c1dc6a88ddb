import ATCrypto
import Foundation
import Multiformats
import PDSNetwork

/// The few S3 calls backup and restore need — PutObject, GetObject, DeleteObject, ListObjectsV2 —
/// signed with SigV4 and sent as path-style requests (`<endpoint>/<bucket>/<key>`), which every
/// S3-compatible store accepts for a custom endpoint. Transport is the server's `OutboundHTTP`.
public struct S3Client: Sendable {
    public let endpoint: URL
    public let bucket: String
    let signer: SigV4Signer
    let http: any OutboundHTTP
    /// The signing clock (tests pin it).
    var now: @Sendable () -> Date = { Date() }
    /// Seconds without progress before a request fails.
    public var timeout: TimeInterval = 60

    public init(endpoint: URL, bucket: String, region: String, credentials: S3Credentials, http: any OutboundHTTP) {
        self.endpoint = endpoint
        self.bucket = bucket
        signer = SigV4Signer(credentials: credentials, region: region)
        self.http = http
    }

    public init(config: BlobMirrorConfig, http: any OutboundHTTP) {
        precondition(config.unreadSecretFile == nil, "BlobMirrorConfig.withSecret() reads the secret before a client is made")
        self.init(endpoint: config.endpoint, bucket: config.bucket, region: config.region, credentials: config.credentials, http: http)
    }

    /// One object of a listing.
    public struct Object: Sendable, Equatable {
        public var key: String
        public var size: Int64
    }

    /// One page of ListObjectsV2.
    public struct ListPage: Sendable {
        public var objects: [Object]
        /// Pass to the next call; nil on the last page.
        public var continuationToken: String?
    }

    /// Uploads `body` as `key`. `payloadHash` is the body's hex SHA-256 if the caller has it.
    public func putObject(key: String, body: [UInt8], payloadHash: String? = nil,
                          contentType: String = "application/octet-stream") async throws {
        let hash = payloadHash ?? Base16.encode(SHA256.hash(body))
        let response = try await send("PUT", key: key, body: body, payloadHash: hash, headers: [("Content-Type", contentType)])
        guard response.status == 200 else { throw S3Error(operation: "PutObject", key: key, response: response) }
    }

    /// Deletes `key` (an absent key is success, as S3 answers 204 for it).
    public func deleteObject(key: String) async throws {
        let response = try await send("DELETE", key: key)
        guard response.status == 204 || response.status == 200 || response.status == 404 else {
            throw S3Error(operation: "DeleteObject", key: key, response: response)
        }
    }

    /// The object's bytes as a stream (status 200), or an `S3Error`.
    public func getObject(key: String) async throws -> OutboundStream {
        let request = signedRequest("GET", key: key)
        let stream = try await http.stream(request)
        guard stream.status == 200 else {
            var body: [UInt8] = []
            for try await chunk in stream.body where body.count < 64 << 10 { body += chunk }
            throw S3Error(operation: "GetObject", key: key,
                          response: OutboundResponse(status: stream.status, headers: stream.headers, body: body))
        }
        return stream
    }

    /// Reads a whole (small) object.
    public func getObjectBytes(key: String, limit: Int = 16 << 20) async throws -> [UInt8] {
        let stream = try await getObject(key: key)
        var body: [UInt8] = []
        for try await chunk in stream.body {
            body += chunk
            if body.count > limit { throw OutboundHTTPError.responseTooLarge(limit: limit) }
        }
        return body
    }

    /// One page of the keys under `prefix` (ListObjectsV2, up to `maxKeys` per page).
    public func listObjects(prefix: String, continuationToken: String? = nil, maxKeys: Int = 1000) async throws -> ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys))]
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send("GET", key: nil, query: query)
        guard response.status == 200 else { throw S3Error(operation: "ListObjectsV2", key: prefix, response: response) }
        let xml = String(decoding: response.body, as: UTF8.self)
        var objects: [Object] = []
        for contents in MiniXML.elements("Contents", in: xml) {
            guard let key = MiniXML.firstText("Key", in: contents) else { continue }
            let size = MiniXML.firstText("Size", in: contents).flatMap { Int64($0) } ?? 0
            objects.append(Object(key: key, size: size))
        }
        let truncated = MiniXML.firstText("IsTruncated", in: xml) == "true"
        let token = truncated ? MiniXML.firstText("NextContinuationToken", in: xml) : nil
        if truncated, token == nil {
            throw S3Error(operation: "ListObjectsV2", key: prefix, status: response.status, code: "MalformedResponse",
                          message: "IsTruncated without NextContinuationToken")
        }
        return ListPage(objects: objects, continuationToken: token)
    }

    /// Every key under `prefix`, following continuation tokens (at most `maxPages` pages).
    public func listAllObjects(prefix: String, maxPages: Int = 100_000) async throws -> [Object] {
        var all: [Object] = []
        var token: String?
        for _ in 0..<maxPages {
            let page = try await listObjects(prefix: prefix, continuationToken: token)
            all += page.objects
            guard let next = page.continuationToken else { return all }
            token = next
        }
        throw S3Error(operation: "ListObjectsV2", key: prefix, status: 0, code: "TooManyPages", message: "more than \(maxPages) pages")
    }

    // MARK: Requests

    /// The path-style path of `key` (or of the bucket for a nil key), unencoded.
    func path(key: String?) -> String {
        guard let key else { return "/" + bucket }
        return "/" + bucket + "/" + key
    }

    /// `Host` as the HTTP client will send it: host, plus the port when it is explicit.
    var hostHeader: String {
        let host = endpoint.host ?? ""
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return endpoint.port.map { "\(bracketed):\($0)" } ?? bracketed
    }

    /// A signed request ready for `OutboundHTTP`.
    func signedRequest(_ method: String, key: String?, query: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                       payloadHash: String = SigV4Signer.emptyPayloadHash,
                       headers: [(name: String, value: String)] = []) -> OutboundRequest {
        let rawPath = path(key: key)
        let unsigned = SigV4Signer.Request(method: method, host: hostHeader, path: rawPath, query: query, payloadHash: payloadHash)
        let signature = signer.sign(unsigned, date: now())
        let queryString = SigV4Signer.canonicalQuery(query)
        var text = endpoint.absoluteString
        if text.hasSuffix("/") { text.removeLast() }
        text += SigV4Signer.encodePath(rawPath)
        if !queryString.isEmpty { text += "?" + queryString }
        var allHeaders = signature.headers.filter { $0.name != "host" }
        allHeaders += headers
        return OutboundRequest(method: method, url: URL(string: text)!, headers: allHeaders, body: body, timeout: timeout)
    }

    func send(_ method: String, key: String?, query: [(name: String, value: String)] = [], body: [UInt8]? = nil,
              payloadHash: String = SigV4Signer.emptyPayloadHash,
              headers: [(name: String, value: String)] = []) async throws -> OutboundResponse {
        try await http.send(signedRequest(method, key: key, query: query, body: body, payloadHash: payloadHash, headers: headers),
                            maxResponseBytes: 64 << 20)
    }
}

/// An S3 error response (`<Error><Code>…</Code><Message>…</Message></Error>`) or unexpected status.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var key: String
    public var status: Int
    public var code: String?
    public var message: String?

    public init(operation: String, key: String, status: Int, code: String?, message: String?) {
        self.operation = operation
        self.key = key
        self.status = status
        self.code = code
        self.message = message
    }

    init(operation: String, key: String, response: OutboundResponse) {
        let xml = String(decoding: response.body.prefix(64 << 10), as: UTF8.self)
        self.init(operation: operation, key: key, status: response.status, code: MiniXML.firstText("Code", in: xml),
                  message: MiniXML.firstText("Message", in: xml))
    }

    public var description: String {
        "S3 \(operation) \(key): HTTP \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
    }
}

/// Just enough XML for S3 responses: the text of simple elements, entities decoded. S3's list
/// and error documents are flat and machine-written, so a full parser (and libxml2) is not needed.
enum MiniXML {
    /// The inner text of each `<name>…</name>` in `xml`, in order (no attributes expected).
    static func elements(_ name: String, in xml: String) -> [Substring] {
        var found: [Substring] = []
        var rest = xml[...]
        let open = "<\(name)>", close = "</\(name)>"
        while let start = rest.range(of: open), let end = rest.range(of: close, range: start.upperBound..<rest.endIndex) {
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    /// The decoded text of the first `<name>` element.
    static func firstText(_ name: String, in xml: some StringProtocol) -> String? {
        elements(name, in: String(xml)).first.map { decodeEntities(String($0)) }
    }

    /// `&amp; &lt; &gt; &quot; &apos;` and numeric references.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            guard character == "&", let semicolon = text[index...].firstIndex(of: ";"),
                  text.distance(from: index, to: semicolon) <= 10 else {
                out.append(character)
                index = text.index(after: index)
                continue
            }
            let entity = text[text.index(after: index)..<semicolon]
            var replacement: String?
            switch entity {
            case "amp": replacement = "&"
            case "lt": replacement = "<"
            case "gt": replacement = ">"
            case "quot": replacement = "\""
            case "apos": replacement = "'"
            default:
                if entity.hasPrefix("#x") || entity.hasPrefix("#X"), let value = UInt32(entity.dropFirst(2), radix: 16),
                   let scalar = Unicode.Scalar(value) {
                    replacement = String(Character(scalar))
                } else if entity.hasPrefix("#"), let value = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(value) {
                    replacement = String(Character(scalar))
                }
            }
            if let replacement {
                out += replacement
                index = text.index(after: semicolon)
            } else {
                out.append(character)
                index = text.index(after: index)
            }
        }
        return out
    }
}
