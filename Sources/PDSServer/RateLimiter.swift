import Foundation
import HTTPTypes
import PDSCore
import Synchronization

/// Where a request stands against a limit, for the `RateLimit-*` headers the reference sends
/// (its xrpc-server: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` as Unix seconds
/// when the bucket is full again, `RateLimit-Policy: <points>;w=<seconds>`).
public struct RateLimitStatus: Sendable, Equatable {
    public var limit: Int
    public var remaining: Int
    /// Unix seconds.
    public var resetAt: Int64
    public var windowSeconds: Int
    /// Seconds until the refused request would fit (nil when it was admitted).
    public var retryAfter: Int?

    public var headers: HTTPFields {
        var fields: HTTPFields = [
            RateLimitStatus.limitField: String(limit),
            RateLimitStatus.remainingField: String(remaining),
            RateLimitStatus.resetField: String(resetAt),
            RateLimitStatus.policyField: "\(limit);w=\(windowSeconds)",
        ]
        if let retryAfter { fields[.retryAfter] = String(retryAfter) }
        return fields
    }

    static let limitField = HTTPField.Name("RateLimit-Limit")!
    static let remainingField = HTTPField.Name("RateLimit-Remaining")!
    static let resetField = HTTPField.Name("RateLimit-Reset")!
    static let policyField = HTTPField.Name("RateLimit-Policy")!
}

extension XRPCError {
    /// 429 `RateLimitExceeded` with `Retry-After` (and the `RateLimit-*` fields when known).
    static func rateLimitExceeded(retryAfter: Int, status: RateLimitStatus? = nil,
                                  message: String = "Rate Limit Exceeded") -> XRPCError {
        var fields = status?.headers ?? [:]
        fields[.retryAfter] = String(max(1, retryAfter))
        return XRPCError(.tooManyRequests, "RateLimitExceeded", message, headers: fields)
    }
}

/// In-memory token buckets: each limit window is a bucket of `points` tokens per client key,
/// refilled continuously at `points / seconds` per second. A request takes its cost from every
/// bucket that applies, all or nothing.
///
/// Memory is bounded: beyond `maxTrackedKeys` buckets, those already full again (the same as
/// no bucket) and then the least recently used are dropped, down to 90% of the cap.
public final class TokenBucketLimiter: XRPCRateLimiter {
    struct Bucket {
        var tokens: Double
        var updated: Double
        let capacity: Double
        let rate: Double

        /// The tokens at `now`.
        func level(at now: Double) -> Double { min(capacity, tokens + max(0, now - updated) * rate) }
    }

    public let settings: RateLimitSettings
    private let buckets = Mutex<[String: Bucket]>([:])
    /// Unix seconds (injected by tests).
    let clock: @Sendable () -> Double

    public init(settings: RateLimitSettings, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.settings = settings
        self.clock = clock
    }

    /// The buckets held (for tests).
    var trackedKeys: Int { buckets.withLock { $0.count } }

    public func isExempt(clientIP: String) -> Bool {
        guard !settings.bypass.isEmpty, let address = IPNetwork.parseAddress(clientIP) else { return false }
        return settings.bypass.contains { $0.contains(address) }
    }

    public func consume(_ charges: [RateLimitCharge]) throws -> RateLimitStatus? {
        let now = clock()
        var planned: [(key: String, bucket: Bucket, window: RateLimitWindow, points: Int)] = []
        return try buckets.withLock { table in
            for charge in charges {
                for (index, window) in (settings.limits[charge.limit] ?? []).enumerated() {
                    let key = "\(charge.limit)#\(index)|\(charge.key)"
                    let bucket = table[key] ?? Bucket(tokens: Double(window.points), updated: now, capacity: Double(window.points),
                                                      rate: Double(window.points) / Double(window.seconds))
                    planned.append((key, bucket, window, charge.points))
                }
            }
            // Refused if any bucket lacks the points; then nothing is taken.
            for plan in planned {
                let level = plan.bucket.level(at: now)
                let needed = min(Double(plan.points), plan.bucket.capacity)
                if level < needed {
                    let wait = Int(((needed - level) / plan.bucket.rate).rounded(.up))
                    var status = Self.status(plan.bucket, level: level, window: plan.window, now: now)
                    status.retryAfter = max(1, wait)
                    throw XRPCError.rateLimitExceeded(retryAfter: max(1, wait), status: status)
                }
            }
            var tightest: RateLimitStatus?
            for plan in planned {
                var bucket = plan.bucket
                bucket.tokens = bucket.level(at: now) - Double(plan.points)
                bucket.updated = now
                table[plan.key] = bucket
                let status = Self.status(bucket, level: bucket.tokens, window: plan.window, now: now)
                if tightest == nil || status.remaining < tightest!.remaining { tightest = status }
            }
            if table.count > settings.maxTrackedKeys { Self.evict(&table, keep: settings.maxTrackedKeys * 9 / 10, now: now) }
            return tightest
        }
    }

    static func status(_ bucket: Bucket, level: Double, window: RateLimitWindow, now: Double) -> RateLimitStatus {
        let untilFull = (bucket.capacity - level) / bucket.rate
        return RateLimitStatus(limit: window.points, remaining: max(0, Int(level.rounded(.down))),
                               resetAt: Int64((now + untilFull).rounded(.up)), windowSeconds: window.seconds, retryAfter: nil)
    }

    /// Drops full buckets, then the least recently used, until `keep` remain.
    static func evict(_ table: inout [String: Bucket], keep: Int, now: Double) {
        table = table.filter { $0.value.level(at: now) < $0.value.capacity }
        guard table.count > keep else { return }
        let oldest = table.sorted { $0.value.updated < $1.value.updated }.prefix(table.count - keep)
        for (key, _) in oldest { table[key] = nil }
    }
}
