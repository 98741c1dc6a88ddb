import Foundation
import PDSStore
import Synchronization

/// The defence of the one account's password against guessing, independent of addresses (a
/// botnet rotates them faster than any per-IP limit notices).
///
/// Consecutive failed logins are counted in SQLite (`login_failure`), so a restart does not
/// reset them. From half of `failureLimit` on, each attempt waits a second more than the last
/// (up to 10 s) before its password is checked; at `failureLimit` every attempt is refused
/// (`SessionError.loginLocked`, 429) without checking the password until `lockoutSeconds` have
/// passed since the last failure, after which one attempt at a time is let through (a failure
/// locks again). A success, or `pds account unlock-logins`, resets the count.
///
/// Attempts in progress count too: at most `failureLimit - failures` passwords are being checked
/// at any moment, so a burst of parallel guesses cannot slip past the limit before the first of
/// them is recorded.
public final class LoginGuard: Sendable {
    let accounts: AccountStore
    public let settings: LoginDefenceSettings
    /// Attempts admitted and not yet finished.
    private let inFlight = Mutex<Int>(0)
    let sleep: @Sendable (Duration) async throws -> Void

    public init(accounts: AccountStore, settings: LoginDefenceSettings,
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.accounts = accounts
        self.settings = settings
        self.sleep = sleep
    }

    /// The wait before an attempt after `failures` consecutive failures.
    public func delay(afterFailures failures: Int) -> Duration {
        let from = max(1, settings.failureLimit / 2)
        guard failures >= from else { return .zero }
        return .seconds(min(failures - from + 1, 10))
    }

    /// Admits one attempt at `now` (Unix seconds) and returns how long it must wait first, or
    /// throws `SessionError.loginLocked`. Every admitted attempt must be `finish`ed.
    public func admit(now: Int64) throws -> Duration {
        try inFlight.withLock { count in
            let state = try accounts.loginFailures()
            let failures = state?.failures ?? 0
            if let state, failures >= settings.failureLimit {
                let until = state.lastFailureAt + Int64(settings.lockoutSeconds)
                if now < until { throw SessionError.loginLocked(retryAfter: Int(until - now)) }
            }
            let budget = failures >= settings.failureLimit ? 1 : settings.failureLimit - failures
            guard count < budget else { throw SessionError.loginLocked(retryAfter: 1) }
            count += 1
            return delay(afterFailures: failures)
        }
    }

    /// What became of an admitted attempt.
    public enum Outcome: Sendable { case succeeded, failed, abandoned }

    /// Ends an admitted attempt; returns the failure count after it.
    @discardableResult
    public func finish(_ outcome: Outcome, now: Int64) throws -> Int {
        try inFlight.withLock { count in
            count -= 1
            switch outcome {
            case .succeeded:
                try accounts.resetLoginFailures()
                return 0
            case .failed:
                return try accounts.recordLoginFailure(now: now).failures
            case .abandoned:
                return try accounts.loginFailures()?.failures ?? 0
            }
        }
    }

    /// The current count of consecutive failures (for the operator).
    public func failures() throws -> Int { try accounts.loginFailures()?.failures ?? 0 }
}
