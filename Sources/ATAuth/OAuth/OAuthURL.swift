/// The parts of an absolute URL that OAuth client rules look at (RFC 3986 §3), parsed without
/// Foundation. Deliberately strict: no user-info, no whitespace or non-ASCII, and hosts are
/// compared as written (lower-cased).
public struct OAuthURL: Equatable, Sendable {
    public let scheme: String
    /// Empty for URLs without an authority (`com.example.app:/callback`).
    public let host: String
    public let port: Int?
    public let path: String
    public let query: String?
    public let fragment: String?
    public let hasAuthority: Bool

    public init?(_ string: String) {
        guard !string.isEmpty, string.utf8.count <= 2048, string.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        guard let colon = string.firstIndex(of: ":") else { return nil }
        let scheme = string[..<colon]
        guard let first = scheme.utf8.first, (first | 0x20) &- UInt8(ascii: "a") < 26,
              scheme.utf8.allSatisfy({ ($0 | 0x20) &- UInt8(ascii: "a") < 26 || $0 &- UInt8(ascii: "0") < 10 || "+-.".utf8.contains($0) })
        else { return nil }
        self.scheme = scheme.lowercased()
        var rest = string[string.index(after: colon)...]
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[rest.index(after: hash)...])
            rest = rest[..<hash]
        } else {
            fragment = nil
        }
        if let question = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: question)...])
            rest = rest[..<question]
        } else {
            query = nil
        }
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            guard !authority.contains("@") else { return nil }
            var hostPart = authority
            var port: Int?
            if let lastColon = authority.lastIndex(of: ":"), !authority[lastColon...].contains("]") {
                let digits = authority[authority.index(after: lastColon)...]
                guard !digits.isEmpty, digits.count <= 5, let value = Int(digits), value > 0, value < 65536 else { return nil }
                port = value
                hostPart = authority[..<lastColon]
            }
            guard !hostPart.isEmpty else { return nil }
            host = hostPart.lowercased()
            self.port = port
            path = String(rest[authorityEnd...])
            hasAuthority = true
        } else {
            host = ""
            port = nil
            path = String(rest)
            hasAuthority = false
        }
    }

    /// `scheme://host[:port]`.
    public var origin: String { scheme + "://" + host + (port.map { ":\($0)" } ?? "") }

    /// Whether the host is a loopback IP literal (`127.0.0.1` or `[::1]`), RFC 8252 §7.3.
    public var isLoopbackIP: Bool { host == "127.0.0.1" || host == "[::1]" }

    /// Whether the host is a domain name with at least two labels (not an IP literal, not `localhost`).
    public var isDomainName: Bool {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, !host.hasPrefix("["), host != "localhost", !host.hasSuffix(".localhost") else { return false }
        let isIPv4 = labels.count == 4 && labels.allSatisfy { $0.allSatisfy(\.isNumber) }
        return !isIPv4 && labels.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { ($0 | 0x20) &- 97 < 26 || $0 &- 48 < 10 || $0 == 45 } }
    }
}
