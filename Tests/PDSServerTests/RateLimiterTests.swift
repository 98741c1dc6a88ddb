import Foundation
import HTTPTypes
@testable import PDSCore
@testable import PDSServer
import Synchronization
import Testing

/// Token-bucket maths, the headers, all-or-nothing charges, bounded memory, exemptions, the
/// client address behind trusted proxies, and the configuration keys.
@Suite struct RateLimiterTests {
    final class Clock: Sendable {
        let seconds = Mutex<Double>(1_800_000_000)
        var now: Double { seconds.withLock { $0 } }
        func advance(_ by: Double) { seconds.withLock { $0 += by } }
    }

    static func limiter(_ limits: [String: [RateLimitWindow]], clock: Clock, maxKeys: Int = 20_000) -> TokenBucketLimiter {
        var settings = RateLimitSettings()
        settings.limits = limits
        settings.maxTrackedKeys = maxKeys
        return TokenBucketLimiter(settings: settings, clock: { clock.now })
    }

    static func refusal(_ body: () throws -> Void) -> XRPCError? {
        do { try body(); return nil } catch let error as XRPCError { return error } catch { return nil }
    }

    @Test func aBucketEmptiesRefusesWithHeadersAndRefills() throws {
        let clock = Clock()
        let limiter = Self.limiter(["login": [.init(points: 30, seconds: 300)]], clock: clock)
        let charge = [RateLimitCharge(limit: "login", key: "203.0.113.7", points: 1)]
        let first = try #require(try limiter.consume(charge))
        #expect(first == RateLimitStatus(limit: 30, remaining: 29, resetAt: 1_800_000_010, windowSeconds: 300, retryAfter: nil))
        #expect(first.headers[HTTPField.Name("RateLimit-Policy")!] == "30;w=300")
        for _ in 0..<29 { _ = try limiter.consume(charge) }

        let refused = try #require(Self.refusal { _ = try limiter.consume(charge) })
        #expect(refused.status == .tooManyRequests && refused.name == "RateLimitExceeded")
        // One point comes back every 10 s; the bucket is full again after 300 s.
        #expect(refused.headers[.retryAfter] == "10")
        #expect(refused.headers[HTTPField.Name("RateLimit-Limit")!] == "30")
        #expect(refused.headers[HTTPField.Name("RateLimit-Remaining")!] == "0")
        #expect(refused.headers[HTTPField.Name("RateLimit-Reset")!] == "1800000300")

        // Another client has its own bucket.
        #expect(try limiter.consume([RateLimitCharge(limit: "login", key: "198.51.100.1", points: 1)])?.remaining == 29)
        clock.advance(9.9)
        #expect(Self.refusal { _ = try limiter.consume(charge) } != nil)
        clock.advance(0.1)
        #expect(try limiter.consume(charge)?.remaining == 0)
        clock.advance(3600)
        #expect(try limiter.consume(charge)?.remaining == 29, "refills only up to the capacity")
    }

    @Test func chargesAreAllOrNothingAndTheTightestStatusIsReported() throws {
        let clock = Clock()
        let limiter = Self.limiter([
            "global": [.init(points: 100, seconds: 300)],
            "createSession": [.init(points: 2, seconds: 300), .init(points: 300, seconds: 86_400)],
        ], clock: clock)
        let charges = [RateLimitCharge(limit: "global", key: "a", points: 1), RateLimitCharge(limit: "createSession", key: "a", points: 1)]
        #expect(try limiter.consume(charges)?.limit == 2)
        #expect(try limiter.consume(charges)?.remaining == 0)
        #expect(Self.refusal { _ = try limiter.consume(charges) }?.headers[HTTPField.Name("RateLimit-Policy")!] == "2;w=300")
        // The refused request took nothing from the global bucket.
        #expect(try limiter.consume([RateLimitCharge(limit: "global", key: "a", points: 1)])?.remaining == 97)
        // Points: a cost of 3 needs 3 tokens.
        let writes = Self.limiter(["repoWrite": [.init(points: 5, seconds: 3600)]], clock: clock)
        #expect(try writes.consume([RateLimitCharge(limit: "repoWrite", key: "did", points: 3)])?.remaining == 2)
        #expect(Self.refusal { _ = try writes.consume([RateLimitCharge(limit: "repoWrite", key: "did", points: 3)]) }?.headers[.retryAfter] == "720")
        #expect(try writes.consume([RateLimitCharge(limit: "repoWrite", key: "did", points: 1)])?.remaining == 1)
    }

    @Test func memoryStaysBoundedWhenAddressesRotate() throws {
        let clock = Clock()
        let limiter = Self.limiter(["global": [.init(points: 3000, seconds: 300)]], clock: clock, maxKeys: 1000)
        for index in 0..<50_000 {
            _ = try limiter.consume([RateLimitCharge(limit: "global", key: "10.\(index >> 16).\((index >> 8) & 255).\(index & 255)", points: 1)])
            clock.advance(0.001)
        }
        #expect(limiter.trackedKeys <= 1000)
        // The most recent client keeps its bucket.
        #expect(try limiter.consume([RateLimitCharge(limit: "global", key: "10.0.195.79", points: 1)])?.remaining == 2998)
    }

    @Test func bypassAddressesAndTrustedProxies() throws {
        var settings = RateLimitSettings()
        settings.bypass = [IPNetwork("192.0.2.0/24")!, IPNetwork("::1")!]
        let limiter = TokenBucketLimiter(settings: settings)
        #expect(limiter.isExempt(clientIP: "192.0.2.44") && limiter.isExempt(clientIP: "::1"))
        #expect(limiter.isExempt(clientIP: "::ffff:192.0.2.9"), "IPv4-mapped IPv6 matches the IPv4 block")
        #expect(!limiter.isExempt(clientIP: "192.0.3.1") && !limiter.isExempt(clientIP: "unknown"))

        let proxies = [IPNetwork("127.0.0.1")!, IPNetwork("10.0.0.0/8")!]
        // Not from a trusted proxy: the header is ignored.
        #expect(RequestLogMiddleware.clientIP(peer: "203.0.113.5", forwardedFor: ["1.2.3.4"], trusted: proxies) == "203.0.113.5")
        // From a proxy: the nearest untrusted hop, read from the right (the left is the client's to forge).
        #expect(RequestLogMiddleware.clientIP(peer: "127.0.0.1", forwardedFor: ["6.6.6.6, 198.51.100.2", "10.1.2.3"],
                                              trusted: proxies) == "198.51.100.2")
        #expect(RequestLogMiddleware.clientIP(peer: "127.0.0.1", forwardedFor: [], trusted: proxies) == "127.0.0.1")
        #expect(RequestLogMiddleware.clientIP(peer: "127.0.0.1", forwardedFor: ["junk, 10.0.0.9"], trusted: proxies) == "10.0.0.9")
        #expect(RequestLogMiddleware.clientIP(peer: "::ffff:127.0.0.1", forwardedFor: ["2001:db8::1"], trusted: proxies) == "2001:db8::1")
    }

    @Test func configurationKeys() throws {
        let defaults = try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", "PDS_TLS": "off"], environment: [:])
        #expect(defaults.rateLimits.enabled)
        #expect(defaults.rateLimits.limits["createSession"] == [.init(points: 30, seconds: 300), .init(points: 300, seconds: 86_400)])
        #expect(defaults.rateLimits.limits["global"] == [.init(points: 3000, seconds: 300)])
        #expect(defaults.rateLimits.trustedProxies.isEmpty && defaults.rateLimits.bypass.isEmpty)
        #expect(defaults.loginDefence == LoginDefenceSettings(failureLimit: 10, lockoutSeconds: 900))
        #expect(RateLimitSettings.configKey("createSession") == "PDS_RATE_LIMIT_CREATE_SESSION")

        let custom = try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", "PDS_TLS": "off"], environment: [
            "PDS_RATE_LIMITS_ENABLED": "false", "PDS_RATE_LIMIT_CREATE_SESSION": "5/60, 50/3600",
            "PDS_TRUSTED_PROXIES": "127.0.0.1, fd00::/8", "PDS_RATE_LIMIT_BYPASS_IPS": "192.0.2.1",
            "PDS_LOGIN_FAILURE_LIMIT": "3", "PDS_LOGIN_LOCKOUT_SECONDS": "60", "PDS_LOG_LEVEL": "warn",
        ])
        #expect(!custom.rateLimits.enabled)
        #expect(custom.rateLimits.limits["createSession"] == [.init(points: 5, seconds: 60), .init(points: 50, seconds: 3600)])
        #expect(custom.rateLimits.trustedProxies.map(\.description) == ["127.0.0.1/32", "fd00::/8"])
        #expect(custom.loginDefence == LoginDefenceSettings(failureLimit: 3, lockoutSeconds: 60))
        #expect(custom.logLevel == "warning")

        for (key, value) in [("PDS_RATE_LIMIT_CREATE_SESION", "5/60"), ("PDS_RATE_LIMIT_GLOBAL", "5"),
                             ("PDS_TRUSTED_PROXIES", "10.0.0.0/33"), ("PDS_LOG_LEVEL", "loud")] {
            #expect(throws: PDSConfig.Invalid.self) {
                _ = try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", "PDS_TLS": "off"], environment: [key: value])
            }
        }
    }
}
