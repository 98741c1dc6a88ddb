import Foundation

/// An RFC 7807 problem document as ACME returns it (RFC 8555 §6.7).
public struct ACMEProblem: Error, Decodable, Sendable, CustomStringConvertible {
    public var type: String
    public var detail: String?
    public var status: Int?
    public var subproblems: [ACMEProblem]?

    public init(type: String, detail: String? = nil, status: Int? = nil) {
        self.type = type
        self.detail = detail
        self.status = status
    }

    /// `badNonce`: retry the request with the fresh nonce the error carries.
    public var isBadNonce: Bool { type == "urn:ietf:params:acme:error:badNonce" }

    public var description: String {
        var text = "ACME \(type.replacingOccurrences(of: "urn:ietf:params:acme:error:", with: ""))"
        if let status { text += " (\(status))" }
        if let detail { text += ": \(detail)" }
        for sub in subproblems ?? [] { text += "; \(sub)" }
        return text
    }
}

/// The directory (RFC 8555 §7.1.1).
public struct ACMEDirectory: Decodable, Sendable {
    public struct Meta: Decodable, Sendable {
        public var termsOfService: String?
        public var externalAccountRequired: Bool?
    }

    public var newNonce: URL
    public var newAccount: URL
    public var newOrder: URL
    public var revokeCert: URL?
    public var keyChange: URL?
    public var meta: Meta?
}

/// An identifier (only `dns` here).
public struct ACMEIdentifier: Codable, Sendable, Hashable {
    public var type: String
    public var value: String

    public static func dns(_ name: String) -> ACMEIdentifier { ACMEIdentifier(type: "dns", value: name) }
}

/// An order (RFC 8555 §7.1.3).
public struct ACMEOrder: Decodable, Sendable {
    public var status: String
    public var expires: String?
    public var identifiers: [ACMEIdentifier]
    public var authorizations: [URL]
    public var finalize: URL
    public var certificate: URL?
    public var error: ACMEProblem?
}

/// An authorization (RFC 8555 §7.1.4).
public struct ACMEAuthorization: Decodable, Sendable {
    public var status: String
    public var identifier: ACMEIdentifier
    public var challenges: [ACMEChallenge]
    public var wildcard: Bool?
}

/// A challenge (RFC 8555 §8).
public struct ACMEChallenge: Decodable, Sendable {
    public var type: String
    public var url: URL
    public var status: String
    public var token: String?
    public var error: ACMEProblem?
}

/// The challenge types this client can answer.
public enum ACMEChallengeType: String, Sendable, CaseIterable {
    /// RFC 8555 §8.3: `http://<name>/.well-known/acme-challenge/<token>` on port 80.
    case http01 = "http-01"
    /// RFC 8737: a self-signed certificate on port 443 for ALPN `acme-tls/1`.
    case tlsALPN01 = "tls-alpn-01"
}

/// A protocol failure that is not a problem document.
public struct ACMEError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
