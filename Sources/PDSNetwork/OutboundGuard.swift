import Foundation
import Logging
import NIOCore
import NIOPosix

/// An IP address, for deciding whether this server may connect to it.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    /// 16 bytes, network order.
    case v6([UInt8])

    /// Parses a dotted-quad IPv4 or a textual IPv6 address (no brackets, no zone); nil otherwise.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        self = .v6(withUnsafeBytes(of: &v6) { Array($0) })
    }

    /// The address of an IPv4 or IPv6 socket address; nil for a Unix socket.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4): self = .v4(UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            var raw = v6.address.sin6_addr
            self = .v6(withUnsafeBytes(of: &raw) { Array($0) })
        case .unixDomainSocket: return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return "\(value >> 24).\((value >> 16) & 0xFF).\((value >> 8) & 0xFF).\(value & 0xFF)"
        case .v6(let bytes):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil else { return "?" }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

/// Which addresses count as public unicast: the ones a server on the open internet may be asked
/// to fetch from by someone else. Everything else is refused with a reason.
public enum AddressPolicy {
    /// IPv4 ranges that are not public unicast (RFC 6890 and its updates).
    static let refusedV4: [(prefix: UInt32, length: Int, reason: String)] = [
        (0x0000_0000, 8, "\"this network\" (0.0.0.0/8)"),
        (0x0A00_0000, 8, "private (10.0.0.0/8)"),
        (0x6440_0000, 10, "shared address space / carrier-grade NAT (100.64.0.0/10)"),
        (0x7F00_0000, 8, "loopback (127.0.0.0/8)"),
        (0xA9FE_0000, 16, "link-local (169.254.0.0/16)"),
        (0xAC10_0000, 12, "private (172.16.0.0/12)"),
        (0xC000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
        (0xC000_0200, 24, "documentation (192.0.2.0/24)"),
        (0xC058_6300, 24, "6to4 relay anycast (192.88.99.0/24)"),
        (0xC0A8_0000, 16, "private (192.168.0.0/16)"),
        (0xC612_0000, 15, "benchmarking (198.18.0.0/15)"),
        (0xC633_6400, 24, "documentation (198.51.100.0/24)"),
        (0xCB00_7100, 24, "documentation (203.0.113.0/24)"),
        (0xE000_0000, 4, "multicast (224.0.0.0/4)"),
        (0xF000_0000, 4, "reserved or broadcast (240.0.0.0/4)"),
    ]

    /// Why `address` is not public unicast, or nil when it is.
    public static func refusal(_ address: IPAddress) -> String? {
        switch address {
        case .v4(let value): return refusal(v4: value)
        case .v6(let bytes): return refusal(v6: bytes)
        }
    }

    static func refusal(v4 value: UInt32) -> String? {
        for range in refusedV4 where value >> (32 - range.length) == range.prefix >> (32 - range.length) {
            return range.reason
        }
        return nil
    }

    static func refusal(v6 bytes: [UInt8]) -> String? {
        func prefix(_ pattern: [UInt8], bits: Int) -> Bool {
            for bit in 0..<bits {
                let mask = UInt8(0x80) >> UInt8(bit % 8)
                if bytes[bit / 8] & mask != pattern[bit / 8] & mask { return false }
            }
            return true
        }
        func embedded(at offset: Int) -> UInt32 {
            bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        func embedding(_ kind: String, at offset: Int) -> String? {
            let v4 = embedded(at: offset)
            return refusal(v4: v4).map { "\(kind) \(IPAddress.v4(v4)): \($0)" }
        }
        let zeros = [UInt8](repeating: 0, count: 16)
        if bytes == zeros { return "unspecified (::)" }
        if bytes == zeros.dropLast() + [1] { return "loopback (::1)" }
        if prefix(zeros.prefix(10) + [0xFF, 0xFF] + [0, 0, 0, 0], bits: 96) { return embedding("IPv4-mapped", at: 12) }
        if prefix(zeros, bits: 96) { return "IPv4-compatible (::/96, deprecated) \(IPAddress.v4(embedded(at: 12)))" }
        if prefix([0x00, 0x64, 0xFF, 0x9B] + zeros.prefix(12), bits: 96) { return embedding("NAT64", at: 12) }
        if prefix([0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01] + zeros.prefix(10), bits: 48) { return "local-use NAT64 (64:ff9b:1::/48)" }
        if prefix([0x01, 0x00] + zeros.prefix(14), bits: 64) { return "discard-only (100::/64)" }
        if prefix([0x20, 0x01, 0x0D, 0xB8] + zeros.prefix(12), bits: 32) { return "documentation (2001:db8::/32)" }
        if prefix([0x20, 0x01] + zeros.prefix(14), bits: 23) { return "IETF protocol assignments (2001::/23, Teredo included)" }
        if prefix([0x20, 0x02] + zeros.prefix(14), bits: 16) { return embedding("6to4", at: 2) }
        if prefix([0x3F, 0xFF] + zeros.prefix(14), bits: 20) { return "documentation (3fff::/20)" }
        if prefix([0xFC] + zeros.prefix(15), bits: 7) { return "unique local (fc00::/7)" }
        if prefix([0xFE, 0x80] + zeros.prefix(14), bits: 10) { return "link-local (fe80::/10)" }
        if prefix([0xFE, 0xC0] + zeros.prefix(14), bits: 10) { return "site-local (fec0::/10, deprecated)" }
        if prefix([0xFF] + zeros.prefix(15), bits: 8) { return "multicast (ff00::/8)" }
        if !prefix([0x20] + zeros.prefix(15), bits: 3) { return "not global unicast (outside 2000::/3)" }
        return nil
    }
}

/// Turns a host name into socket addresses.
public protocol HostResolver: Sendable {
    /// Every address of `host` (never an IP literal; the guard handles those), with `port`.
    func resolve(host: String, port: Int) async throws -> [SocketAddress]
}

/// The system resolver (`getaddrinfo`: /etc/hosts, then DNS as nsswitch says), run on NIO's
/// blocking-work pool.
public struct SystemHostResolver: HostResolver {
    public init() {}

    public func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        try await NIOThreadPool.singleton.runIfActive { try Self.getaddrinfo(host: host, port: port) }
    }

    static func getaddrinfo(host: String, port: Int) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = Glibc.getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw OutboundHTTPError.unreachable("\(host) does not resolve: \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let raw = info.pointee.ai_addr {
                switch info.pointee.ai_family {
                case AF_INET:
                    addresses.append(raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                case AF_INET6:
                    addresses.append(raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }
}

/// Why the guard would not let a request go out.
public struct OutboundRefusal: Error, CustomStringConvertible, Sendable {
    public let host: String
    /// The address refused (the first one that is not public).
    public let address: String
    public let reason: String

    public var description: String {
        host == address
            ? "refused to connect to \(host): \(reason)"
            : "refused to connect to \(host) (\(address)): \(reason)"
    }
}

/// The outbound guard: for requests whose target someone else chose (did:web documents, handle
/// well-known, service endpoints from DID documents, OAuth client metadata, Lexicon resolution).
///
/// It resolves the host itself and refuses unless *every* address is public unicast
/// (`AddressPolicy`); the request then connects to exactly those addresses (no second lookup, so
/// no DNS-rebinding window), and each redirect is checked the same way. Responses are capped in
/// size and time. Targets the operator configured (PLC directory, AppView, relays, S3, ACME) do
/// not go through it.
///
/// `allowPrivate` (`PDS_OUTBOUND_ALLOW_PRIVATE=1`) lets everything through, for test suites whose
/// stand-ins live on loopback; the addresses are still resolved once and connected to as checked.
public struct OutboundGuard: Sendable {
    public var allowPrivate: Bool
    /// Most bytes of one response body (a streamed one fails when it passes this).
    public var maxResponseBytes: Int
    /// Most time for one exchange, the reading of the body included.
    public var maxDuration: TimeAmount
    let resolver: any HostResolver
    let logger: Logger?
    /// Why an address is refused (nil: allowed). `AddressPolicy.refusal`; tests substitute one.
    let policy: @Sendable (IPAddress) -> String?

    public init(allowPrivate: Bool = false, maxResponseBytes: Int = 16 << 20, maxDuration: TimeAmount = .seconds(30),
                resolver: any HostResolver = SystemHostResolver(), logger: Logger? = nil) {
        self.init(allowPrivate: allowPrivate, maxResponseBytes: maxResponseBytes, maxDuration: maxDuration,
                  resolver: resolver, logger: logger, policy: AddressPolicy.refusal)
    }

    init(allowPrivate: Bool = false, maxResponseBytes: Int = 16 << 20, maxDuration: TimeAmount = .seconds(30),
         resolver: any HostResolver = SystemHostResolver(), logger: Logger? = nil,
         policy: @escaping @Sendable (IPAddress) -> String?) {
        self.allowPrivate = allowPrivate
        self.maxResponseBytes = maxResponseBytes
        self.maxDuration = maxDuration
        self.resolver = resolver
        self.logger = logger
        self.policy = policy
    }

    /// The addresses to connect to for `host`:`port`, each one checked. Throws
    /// `OutboundHTTPError.refused` (and logs a warning) when any is not public unicast, and
    /// `OutboundHTTPError.unreachable` when the name does not resolve.
    public func addresses(host: String, port: Int) async throws -> [SocketAddress] {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var addresses: [SocketAddress]
        if IPAddress(bare) != nil {
            addresses = [try SocketAddress(ipAddress: bare, port: port)]
        } else {
            do {
                addresses = try await resolver.resolve(host: bare, port: port)
            } catch let error as OutboundHTTPError {
                throw error
            } catch {
                throw OutboundHTTPError.unreachable("\(bare) does not resolve: \(error)")
            }
        }
        // Duplicates (one per socket type or family order) are tried once.
        var seen = Set<String>()
        addresses = addresses.filter { seen.insert("\($0)").inserted }
        guard !addresses.isEmpty else { throw OutboundHTTPError.unreachable("\(bare) has no address") }
        guard !allowPrivate else { return addresses }
        for address in addresses {
            guard let ip = IPAddress(address) else {
                throw refuse(OutboundRefusal(host: bare, address: "\(address)", reason: "not an IP address"))
            }
            if let reason = policy(ip) {
                throw refuse(OutboundRefusal(host: bare, address: ip.description, reason: reason))
            }
        }
        return addresses
    }

    private func refuse(_ refusal: OutboundRefusal) -> OutboundHTTPError {
        logger?.warning("outbound request refused", metadata: [
            "host": "\(refusal.host)", "address": "\(refusal.address)", "reason": "\(refusal.reason)",
        ])
        return .refused(refusal)
    }
}
