import Synchronization

/// The `jti`s of resource-server DPoP proofs, in memory (RFC 9449 §11.1). A proof is only
/// accepted with a nonce of this process (the nonce key is new at every start, see
/// `OAuthService.init`), so a proof from before a restart can never be replayed after it, and
/// memory is enough: what a replay store must cover is one process's acceptance window. This
/// keeps a SQLite transaction (and its fsync) off every DPoP request; the authorization server's
/// endpoints record theirs in `oauth_replay`.
final class DPoPReplayCache: Sendable {
    private let entries = Mutex<(seen: [String: Int64], inserts: Int)>(([:], 0))
    /// Far above one person's request rate within a proof's lifetime; past it proofs are refused
    /// rather than memory growing without bound.
    let capacity: Int

    init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    /// Records `key` until `expiresAt`; false if it was already recorded and has not expired (a
    /// replay), or if the cache is full of live entries.
    func recordOnce(_ key: String, expiresAt: Int64, now: Int64) -> Bool {
        entries.withLock { state in
            if let existing = state.seen[key], existing > now { return false }
            state.inserts += 1
            if state.inserts % 1024 == 0 || state.seen.count >= capacity {
                state.seen = state.seen.filter { $0.value > now }
            }
            guard state.seen.count < capacity else { return false }
            state.seen[key] = expiresAt
            return true
        }
    }
}
