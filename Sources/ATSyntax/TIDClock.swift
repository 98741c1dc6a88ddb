import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Generates TIDs for record keys and commit revisions (https://atproto.com/specs/tid "Generator").
///
/// Each instance picks a random 10-bit clock id and stamps TIDs with the wall clock in
/// microseconds. Output is strictly increasing: if the clock has not advanced (same microsecond)
/// or has gone backwards (NTP step), the previous timestamp plus one is used instead, so the
/// generator never repeats or goes back. `next(after:)` additionally guarantees a result above a
/// TID the caller has stored, e.g. the repository's last `rev`, which may come from an earlier
/// process with a different clock.
///
/// Thread-safe: the last timestamp is guarded by a `Mutex`.
public final class TIDClock: Sendable {
    /// The process-wide generator.
    public static let shared = TIDClock()

    /// The clock id stamped into every TID from this instance.
    public let clockID: UInt16

    /// The time source: microseconds since the UNIX epoch.
    private let now: @Sendable () -> UInt64

    /// The timestamp of the last TID handed out.
    private let last = Mutex<UInt64>(0)

    /// Creates a generator. `clockID` defaults to a random value in 0–1023; `now` defaults to the
    /// system wall clock and can be replaced in tests.
    public init(
        clockID: UInt16 = UInt16.random(in: 0...TID.maxClockID),
        now: @escaping @Sendable () -> UInt64 = TIDClock.systemMicroseconds
    ) {
        precondition(clockID <= TID.maxClockID, "TID clock id must fit in 10 bits")
        self.clockID = clockID
        self.now = now
    }

    /// The next TID: later than every TID this instance returned before.
    public func next() -> TID {
        stamp(after: 0)
    }

    /// The next TID, also strictly greater than `previous` (when given), whatever clock made it.
    /// Traps if `previous` has its top bit set (first character `c`–`j`): no conforming TID is
    /// greater, and such a rev can only come from corrupt storage.
    public func next(after previous: TID?) -> TID {
        guard let previous else { return next() }
        return stamp(after: previous.timestamp + 1)
    }

    /// Takes the wall clock, raises it to at least `floor` and one above the last timestamp, and
    /// records the result. A timestamp above every other TID's timestamp makes the TID greater
    /// whatever the clock ids, since the timestamp occupies the high bits.
    private func stamp(after floor: UInt64) -> TID {
        let wall = min(now(), TID.maxTimestamp)
        let timestamp = last.withLock { last in
            var candidate = max(wall, floor)
            if candidate <= last { candidate = last + 1 }
            precondition(candidate <= TID.maxTimestamp, "TID timestamp overflow (53 bits)")
            last = candidate
            return candidate
        }
        return TID(uncheckedRawValue: timestamp << 10 | UInt64(clockID))
    }

    /// Microseconds since the UNIX epoch from the system's real-time clock.
    public static func systemMicroseconds() -> UInt64 {
        UInt64(max(0, wallClockMicroseconds()))
    }
}

/// Microseconds since the UNIX epoch from `CLOCK_REALTIME` (no Foundation in this module).
func wallClockMicroseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000
}
