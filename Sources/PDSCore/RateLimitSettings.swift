import Foundation

/// One token bucket: `points` requests per `seconds`, refilled continuously.
public struct RateLimitWindow: Sendable, Equatable, CustomStringConvertible {
    public let points: Int
    public let seconds: Int

    public init(points: Int, seconds: Int) {
        self.points = points
        self.seconds = seconds
    }

    /// `points/seconds`, the form of the `PDS_RATE_LIMIT_*` keys.
    public var description: String { "\(points)/\(seconds)" }
}

/// The request rate limits (`PDS_RATE_LIMITS_ENABLED`, `PDS_RATE_LIMIT_<NAME>`), the addresses
/// they do not apply to, and whose `X-Forwarded-For` is believed.
///
/// The table is the reference server's (its `rate-limits.ts` and the routes' `rateLimit`
/// declarations, for the methods this server has): a global per-IP limit on every XRPC call but
/// `sync.getRepo`, and per-method limits. Routes name an entry; `PDS_RATE_LIMIT_<NAME>` (the name
/// in upper snake case, e.g. `PDS_RATE_LIMIT_CREATE_SESSION=30/300,300/86400`) replaces its windows.
public struct RateLimitSettings: Sendable {
    /// Whether requests are limited at all (`PDS_RATE_LIMITS_ENABLED`, default true).
    public var enabled = true
    /// Windows by limit name.
    public var limits: [String: [RateLimitWindow]] = RateLimitSettings.reference
    /// Client addresses that are never limited (`PDS_RATE_LIMIT_BYPASS_IPS`, as the reference).
    public var bypass: [IPNetwork] = []
    /// Peers whose `X-Forwarded-For` names the client (`PDS_TRUSTED_PROXIES`; none by default:
    /// the server terminates TLS itself, and a header anyone can send must not pick the bucket).
    public var trustedProxies: [IPNetwork] = []
    /// The most buckets held in memory (`PDS_RATE_LIMIT_MAX_KEYS`); beyond it the least recently
    /// used go, so an attacker rotating addresses cannot grow memory without bound.
    public var maxTrackedKeys = 20_000

    public init() {}

    /// The reference server's limits (its rate-limit table, as the official PDS distribution
    /// configures it) for the methods this server has.
    /// createSession is keyed by IP alone here (the reference: identifier and IP): with one
    /// account, another spelling of its identifier must not buy another budget.
    public static let reference: [String: [RateLimitWindow]] = [
        "global": [.init(points: 3000, seconds: 300)],
        "createSession": [.init(points: 30, seconds: 300), .init(points: 300, seconds: 86_400)],
        "uploadBlob": [.init(points: 1000, seconds: 86_400)],
        "getRepo": [.init(points: 6000, seconds: 300)],
        "updateHandle": [.init(points: 10, seconds: 300), .init(points: 50, seconds: 86_400)],
        // requestEmailConfirmation, requestEmailUpdate, requestAccountDelete (each sends mail).
        "emailRequest": [.init(points: 5, seconds: 3600), .init(points: 15, seconds: 86_400)],
        "repoWrite": [.init(points: 5000, seconds: 3600), .init(points: 35_000, seconds: 86_400)],
    ]

    /// `createSession` → `CREATE_SESSION`.
    public static func configKey(_ name: String) -> String {
        var key = "PDS_RATE_LIMIT_"
        for character in name {
            if character.isUppercase { key += "_" }
            key += character.uppercased()
        }
        return key
    }

    /// Reads the `PDS_RATE_LIMIT*` and `PDS_TRUSTED_PROXIES` keys; a key this server does not
    /// know under `PDS_RATE_LIMIT_` is an error (a typo must not silently leave a default).
    static func load(_ values: [String: String]) throws -> RateLimitSettings {
        var settings = RateLimitSettings()
        if let text = values["PDS_RATE_LIMITS_ENABLED"], !text.isEmpty {
            guard let enabled = ["true": true, "false": false, "1": true, "0": false][text.lowercased()] else {
                throw PDSConfig.Invalid(description: "PDS_RATE_LIMITS_ENABLED=\(text) must be true or false")
            }
            settings.enabled = enabled
        }
        let names = Dictionary(uniqueKeysWithValues: reference.keys.map { (configKey($0), $0) })
        for (key, text) in values where key.hasPrefix("PDS_RATE_LIMIT_") && !text.isEmpty {
            switch key {
            case "PDS_RATE_LIMIT_BYPASS_IPS": settings.bypass = try IPNetwork.list(text, key: key)
            case "PDS_RATE_LIMIT_MAX_KEYS":
                guard let number = Int(text), (100...10_000_000).contains(number) else {
                    throw PDSConfig.Invalid(description: "\(key)=\(text) is not a number in 100...10000000")
                }
                settings.maxTrackedKeys = number
            default:
                guard let name = names[key] else {
                    throw PDSConfig.Invalid(description: "\(key) is not a known rate limit (known: \(names.keys.sorted().joined(separator: ", ")))")
                }
                settings.limits[name] = try windows(text, key: key)
            }
        }
        if let text = values["PDS_TRUSTED_PROXIES"], !text.isEmpty {
            settings.trustedProxies = try IPNetwork.list(text, key: "PDS_TRUSTED_PROXIES")
        }
        return settings
    }

    /// `30/300,300/86400`: points per seconds, comma-separated.
    static func windows(_ text: String, key: String) throws -> [RateLimitWindow] {
        try text.split(separator: ",").map { part in
            let pieces = part.trimmingCharacters(in: .whitespaces).split(separator: "/")
            guard pieces.count == 2, let points = Int(pieces[0]), let seconds = Int(pieces[1]),
                  points > 0, seconds > 0, seconds <= 31_536_000 else {
                throw PDSConfig.Invalid(description: "\(key)=\(text) must be points/seconds[,points/seconds…], e.g. 30/300,300/86400")
            }
            return RateLimitWindow(points: points, seconds: seconds)
        }
    }
}

/// The defence of the account password against guessing from many addresses
/// (`PDS_LOGIN_FAILURE_LIMIT`, `PDS_LOGIN_LOCKOUT_SECONDS`): counted failures, not addresses.
public struct LoginDefenceSettings: Sendable, Equatable {
    /// Consecutive failed logins after which createSession answers 429 until `lockoutSeconds`
    /// have passed since the last failure (default 10). From half of it on, attempts are delayed.
    public var failureLimit = 10
    /// How long a lock lasts after the last failure (default 900 s).
    public var lockoutSeconds = 900

    public init(failureLimit: Int = 10, lockoutSeconds: Int = 900) {
        self.failureLimit = failureLimit
        self.lockoutSeconds = lockoutSeconds
    }
}

/// An IPv4 or IPv6 address block (`10.0.0.0/8`, `::1`, `fd00::/8`). IPv4-mapped IPv6 addresses
/// (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4 peers) match IPv4 blocks.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    public let address: [UInt8]
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = IPNetwork.parseAddress(String(first)) else { return nil }
        let length: Int
        if parts.count == 2 {
            guard let number = Int(parts[1]), (0...(address.count * 8)).contains(number) else { return nil }
            length = number
        } else {
            length = address.count * 8
        }
        self.address = address
        prefixLength = length
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        address.withUnsafeBytes { bytes in
            _ = inet_ntop(address.count == 4 ? AF_INET : AF_INET6, bytes.baseAddress, &buffer, socklen_t(buffer.count))
        }
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(prefixLength)"
    }

    /// 4 or 16 bytes, IPv4-mapped IPv6 unwrapped to IPv4; nil if `text` is not an address.
    public static func parseAddress(_ text: String) -> [UInt8]? {
        var text = text
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if let zone = text.firstIndex(of: "%") { text = String(text[..<zone]) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return Array(bytes[12...]) }
        return bytes
    }

    /// Whether the address `bytes` (as `parseAddress` returns) is in this block.
    public func contains(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == address.count else { return false }
        var remaining = prefixLength
        for index in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if bytes[index] & mask != address[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// Whether the textual address `text` is in this block.
    public func contains(_ text: String) -> Bool { IPNetwork.parseAddress(text).map(contains) ?? false }

    /// A comma-separated list of addresses or blocks.
    static func list(_ text: String, key: String) throws -> [IPNetwork] {
        try text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map {
            guard let network = IPNetwork($0) else {
                throw PDSConfig.Invalid(description: "\(key): \($0) is not an IP address or address/prefix block")
            }
            return network
        }
    }
}
