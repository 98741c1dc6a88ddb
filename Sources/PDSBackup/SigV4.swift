import ATCrypto
import Foundation
import Multiformats

/// AWS Signature Version 4 for S3 requests (header form, `AWS4-HMAC-SHA256`), as the AWS
/// documentation "Authenticating Requests (AWS Signature Version 4)" describes:
///
/// 1. the *canonical request*: method, URI-encoded path, sorted query, lowercased sorted headers,
///    the signed header list and the payload's SHA-256 (also sent as `x-amz-content-sha256`);
/// 2. the *string to sign*: algorithm, timestamp, credential scope (`date/region/s3/aws4_request`)
///    and the SHA-256 of the canonical request;
/// 3. the *signing key*: `HMAC("AWS4" + secret, date)` → region → service → `"aws4_request"`;
/// 4. the signature: hex HMAC of the string to sign under that key.
///
/// S3 differs from other services in two details handled here: the path is URI-encoded once (not
/// twice) and is not normalised, and `x-amz-content-sha256` is required.
public struct SigV4Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service: String = "s3"

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The SHA-256 of an empty payload (GET, DELETE, HEAD), hex.
    public static let emptyPayloadHash = Base16.encode(SHA256.hash([UInt8]()))

    /// A request before signing. `path` is the raw (not yet encoded) path, `/bucket/key`;
    /// `query` holds raw names and values.
    public struct Request: Sendable {
        public var method: String
        /// `host` or `host:port`, exactly as the HTTP `Host` header will carry it.
        public var host: String
        public var path: String
        public var query: [(name: String, value: String)]
        /// Extra headers to sign (besides host, x-amz-date and x-amz-content-sha256).
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body.
        public var payloadHash: String

        public init(method: String, host: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)] = [], payloadHash: String = SigV4Signer.emptyPayloadHash) {
            self.method = method
            self.host = host
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// The parts of a signature, exposed for tests and diagnostics (never log `signingKey`).
    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signedHeaders: String
        public var signature: String
        /// The `Authorization` header value.
        public var authorization: String
        /// Every header the request must carry (including `x-amz-date`, `x-amz-content-sha256`;
        /// `host` is listed too, though HTTP clients set it themselves from the URL).
        public var headers: [(name: String, value: String)]
    }

    /// Signs `request` at `date`.
    public func sign(_ request: Request, date: Date) -> Signature {
        let (amzDate, day) = Self.timestamps(date)
        var all: [(name: String, value: String)] = [("host", request.host), ("x-amz-content-sha256", request.payloadHash),
                                                    ("x-amz-date", amzDate)]
        all += request.headers.map { ($0.name.lowercased(), $0.value) }
        let canonicalHeaders = Self.canonicalHeaders(all)
        let signedHeaders = canonicalHeaders.map(\.name).joined(separator: ";")
        let canonicalRequest = [
            request.method,
            Self.encodePath(request.path),
            Self.canonicalQuery(request.query),
            canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined(),
            signedHeaders,
            request.payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Base16.encode(SHA256.hash(Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        let key = Self.signingKey(secret: credentials.secretAccessKey, day: day, region: region, service: service)
        let signature = Base16.encode(HMAC.sha256(key: key, message: Array(stringToSign.utf8)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), "
            + "SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signedHeaders: signedHeaders,
                         signature: signature, authorization: authorization,
                         headers: canonicalHeaders + [("authorization", authorization)])
    }

    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request")`.
    public static func signingKey(secret: String, day: String, region: String, service: String) -> [UInt8] {
        let dateKey = HMAC.sha256(key: Array(("AWS4" + secret).utf8), message: Array(day.utf8))
        let regionKey = HMAC.sha256(key: dateKey, message: Array(region.utf8))
        let serviceKey = HMAC.sha256(key: regionKey, message: Array(service.utf8))
        return HMAC.sha256(key: serviceKey, message: Array("aws4_request".utf8))
    }

    /// `(yyyyMMdd'T'HHmmss'Z', yyyyMMdd)` in UTC, without a formatter (locale-proof).
    public static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return (day + "T" + two(parts.tm_hour) + two(parts.tm_min) + two(parts.tm_sec) + "Z", day)
    }

    /// Headers lowercased, values trimmed with inner runs of spaces collapsed, sorted by name;
    /// repeated names are joined with commas.
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var merged: [String: [String]] = [:]
        for header in headers {
            let value = header.value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            merged[header.name.lowercased().trimmingCharacters(in: .whitespaces), default: []].append(value)
        }
        return merged.keys.sorted().map { ($0, merged[$0]!.joined(separator: ",")) }
    }

    /// Query pairs encoded, sorted by name then value, `name=value` joined with `&`.
    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (encode($0.name), encode($0.value)) }
        // Encoded text is ASCII, so String order is byte order, as SigV4 asks.
        let sorted = encoded.sorted { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        return sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
    }

    /// The path with every byte but unreserved characters and `/` percent-encoded (uppercase hex).
    public static func encodePath(_ path: String) -> String {
        let encoded = encode(path, keepSlash: true)
        return encoded.isEmpty ? "/" : encoded
    }

    /// `A-Z a-z 0-9 - _ . ~`.
    static let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8))

    /// RFC 3986 percent-encoding of everything but `A-Z a-z 0-9 - _ . ~` (and `/` if asked).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            let unreserved = Self.unreserved.contains(byte)
            switch byte {
            case _ where unreserved:
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case 0x2f where keepSlash:  // /
                out.append("/")
            default:
                let digits = Array("0123456789ABCDEF")
                out.append("%")
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
        }
        return out
    }
}

/// An S3 access key pair. The secret never appears in `description` (so never in logs).
public struct S3Credentials: Sendable, CustomStringConvertible, CustomReflectable {
    public var accessKeyID: String
    public var secretAccessKey: String

    public init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    public var description: String { "S3Credentials(accessKeyID: \(accessKeyID), secretAccessKey: <redacted>)" }
    /// `dump` and debuggers see the same redacted view.
    public var customMirror: Mirror { Mirror(self, children: ["accessKeyID": accessKeyID, "secretAccessKey": "<redacted>"]) }
}
