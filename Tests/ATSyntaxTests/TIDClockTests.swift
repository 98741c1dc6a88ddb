import ATSyntax
import Synchronization
import Testing

/// A fake wall clock that replays a fixed sequence of microsecond readings (repeating the last).
final class ScriptedClock: Sendable {
    private let readings: Mutex<[UInt64]>
    init(_ readings: [UInt64]) { self.readings = Mutex(readings) }
    func now() -> UInt64 {
        readings.withLock { readings in readings.count > 1 ? readings.removeFirst() : readings[0] }
    }
}

@Suite("TIDClock")
struct TIDClockTests {
    /// The same microsecond twice, then the wall clock stepping back: output still increases.
    @Test func monotonicWhenClockStallsOrGoesBackwards() {
        let script = ScriptedClock([1_000, 1_000, 999, 500, 1_001, 2_000, 1_500])
        let clock = TIDClock(clockID: 7, now: script.now)
        let tids = (0..<7).map { _ in clock.next() }
        #expect(tids.map(\.timestamp) == [1_000, 1_001, 1_002, 1_003, 1_004, 2_000, 2_001])
        #expect(tids.allSatisfy { $0.clockID == 7 })
        for (earlier, later) in zip(tids, tids.dropFirst()) {
            #expect(earlier < later)
            #expect(earlier.string < later.string)
        }
    }

    /// `next(after:)` beats a stored rev from a "future" clock with a higher clock id.
    @Test func nextAfterStoredRev() throws {
        let clock = TIDClock(clockID: 0, now: { 5_000 })
        let stored = try TID(timestamp: 9_000, clockID: 1023)
        let next = clock.next(after: stored)
        #expect(next > stored)
        #expect(next.timestamp == 9_001)
        // The generator remembers: later TIDs keep increasing even though the wall clock is behind.
        #expect(clock.next() > next)
        // An older stored rev does not hold the clock back or forward.
        let older = try TID(timestamp: 10, clockID: 0)
        #expect(clock.next(after: older) > older)
        #expect(clock.next(after: nil).timestamp == 9_004)
    }

    /// Many concurrent callers on a frozen clock: all TIDs distinct (the mutex serialises them).
    @Test func uniqueUnderConcurrency() async {
        let clock = TIDClock(clockID: 3, now: { 1_700_000_000_000_000 })
        let tasks = 16
        let perTask = 500
        let all = await withTaskGroup(of: [TID].self) { group in
            for _ in 0..<tasks {
                group.addTask { (0..<perTask).map { _ in clock.next() } }
            }
            var all: [TID] = []
            for await batch in group {
                // Within one task the sequence is strictly increasing.
                #expect(zip(batch, batch.dropFirst()).allSatisfy { $0 < $1 })
                all += batch
            }
            return all
        }
        #expect(all.count == tasks * perTask)
        #expect(Set(all).count == all.count)
    }

    @Test func sharedClockUsesWallTime() throws {
        let first = TIDClock.shared.next()
        let second = TIDClock.shared.next()
        #expect(first < second)
        #expect(first.clockID == TIDClock.shared.clockID)
        #expect(TIDClock.shared.clockID <= TID.maxClockID)
        // The timestamp is "now": compare with the Datetime wall clock at millisecond precision.
        let now = Datetime.now(precision: .microseconds).microsecondsSinceEpoch
        #expect(abs(Int64(second.timestamp) - now) < 60_000_000)
    }

    @Test func randomClockIDInRange() {
        for _ in 0..<50 { #expect(TIDClock().clockID <= 1023) }
    }
}
