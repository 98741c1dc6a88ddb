import Foundation
import Synchronization

/// Remembers token ids until their tokens expire, so a service-auth token is accepted once
/// (ATPROTO.md §11: "receivers should reject replays"). Bounded: expired ids are dropped as new
/// ones arrive, and tokens live at most an hour.
final class ReplayGuard: Sendable {
    private let seen = Mutex<[String: Int64]>([:])

    /// True the first time `jti` is presented before `expiresAt`; false for a replay.
    func accept(_ jti: String, expiresAt: Int64, now: Int64 = Int64(Date().timeIntervalSince1970)) -> Bool {
        seen.withLock { seen in
            if seen.count > 1024 { seen = seen.filter { $0.value > now } }
            if let expiry = seen[jti], expiry > now { return false }
            seen[jti] = expiresAt
            return true
        }
    }
}
