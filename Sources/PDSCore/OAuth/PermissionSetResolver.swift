import ATAuth
import ATData
import ATSyntax
import PDSNetwork
import Synchronization

/// Permission sets by NSID, resolved through Lexicon resolution and cached as the permission spec
/// asks (https://atproto.com/specs/permission, "Permission Sets"): a copy is fresh for
/// `staleAfter` seconds; a stale copy is still used while it is re-resolved in the background (a
/// failed refresh keeps it); after `expireAfter` seconds it is no longer used, so a set that can
/// no longer be resolved then fails. Times come from the caller (`now`), so tests drive the clock.
public final class PermissionSetResolver: Sendable {
    /// Stale after an hour (the spec allows up to a day; the reference refreshes every 5 minutes).
    public static let defaultStaleAfter: Int64 = 3600
    /// Unusable for new sessions after 90 days without a successful resolution.
    public static let defaultExpireAfter: Int64 = 90 * 86400
    static let maxEntries = 512

    let source: (any LexiconSource)?
    let staleAfter: Int64
    let expireAfter: Int64
    private let cache = Mutex<[String: Entry]>([:])
    private let refreshes = Mutex<[String: Task<Void, Never>]>([:])

    struct Entry {
        let set: PermissionSet
        /// When the set was last resolved successfully.
        let resolvedAt: Int64
    }

    /// `source` nil: Lexicon resolution is off and every set fails to resolve.
    public init(source: (any LexiconSource)?, staleAfter: Int64 = defaultStaleAfter, expireAfter: Int64 = defaultExpireAfter) {
        self.source = source
        self.staleAfter = staleAfter
        self.expireAfter = expireAfter
    }

    /// The set `nsid` names: from the cache while fresh or stale (a stale one is refreshed in the
    /// background), else resolved now. Throws `LexiconResolutionError` when it cannot be had.
    public func permissionSet(_ nsid: String, now: Int64) async throws(LexiconResolutionError) -> PermissionSet {
        if let entry = cache.withLock({ $0[nsid] }) {
            let age = now - entry.resolvedAt
            if age < staleAfter { return entry.set }
            if age < expireAfter {
                refreshInBackground(nsid, now: now)
                return entry.set
            }
        }
        return try await resolve(nsid, now: now)
    }

    /// Resolves every set of `nsids`; the first failure throws.
    public func permissionSets(_ nsids: [String], now: Int64) async throws(LexiconResolutionError) -> [String: PermissionSet] {
        var sets: [String: PermissionSet] = [:]
        for nsid in nsids where sets[nsid] == nil { sets[nsid] = try await permissionSet(nsid, now: now) }
        return sets
    }

    /// Resolves `nsid` from the network and caches it.
    func resolve(_ nsid: String, now: Int64) async throws(LexiconResolutionError) -> PermissionSet {
        guard let source else { throw LexiconResolutionError("Lexicon resolution is not available on this server") }
        guard let name = try? NSID(nsid) else { throw LexiconResolutionError("\(nsid) is not an NSID") }
        let main = try await source.mainDefinition(of: name)
        let set: PermissionSet
        do { set = try PermissionSet(nsid: nsid, main: main) } catch { throw LexiconResolutionError(error.description) }
        cache.withLock { cache in
            if cache.count >= Self.maxEntries, cache[nsid] == nil {
                // Drop the longest-unrefreshed entry; a bounded table, whatever clients ask for.
                if let oldest = cache.min(by: { $0.value.resolvedAt < $1.value.resolvedAt })?.key { cache[oldest] = nil }
            }
            cache[nsid] = Entry(set: set, resolvedAt: now)
        }
        return set
    }

    /// Starts one background refresh of `nsid` (none if one is under way); a failure keeps the copy.
    private func refreshInBackground(_ nsid: String, now: Int64) {
        refreshes.withLock { refreshes in
            guard refreshes[nsid] == nil else { return }
            refreshes[nsid] = Task {
                _ = try? await self.resolve(nsid, now: now)
                _ = self.refreshes.withLock { $0.removeValue(forKey: nsid) }
            }
        }
    }

    /// Waits for the background refreshes under way (tests).
    public func settle() async {
        for task in refreshes.withLock({ Array($0.values) }) { await task.value }
    }
}
