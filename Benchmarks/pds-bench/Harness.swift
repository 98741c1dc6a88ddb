// Measurement machinery shared by every suite: a monotonic clock, warm-up, adaptive batching and
// a sink the optimiser cannot see through.
//
// Each batch is timed twice: on the monotonic wall clock (what a caller waits) and on this
// thread's CPU clock (what the work costs). On a shared machine the wall figure drops whenever a
// neighbour takes the core; the CPU figure does not, and it is what `openssl speed` reports by
// default (user CPU time), so reference ratios use it.

import Glibc

/// Keeps a value alive as far as the optimiser knows, so the work that produced it is not removed.
/// `@_optimize(none)` stops the body being folded away; `@inline(never)` keeps callers from
/// seeing that it does nothing.
@inline(never) @_optimize(none)
func blackHole<T>(_ value: T) {}

/// One measured operation: how many times it ran, in how long, and the per-batch spread.
struct Measurement {
    /// Operation label as printed.
    var label: String
    /// Operations per second from the median batch (less sensitive to a noisy neighbour than the mean).
    var opsPerSecond: Double
    /// Fastest batch, operations per second.
    var bestOpsPerSecond: Double
    /// Operations per second of this thread's CPU time, from the median batch.
    var cpuOpsPerSecond: Double
    /// All timed operations over all wall time: how references like `openssl speed` report.
    var meanOpsPerSecond: Double
    /// All timed operations over all CPU time.
    var meanCPUOpsPerSecond: Double
    /// Payload bytes handled per operation, for MB/s; nil when throughput is meaningless.
    var bytesPerOp: Int?
    /// Total operations timed (warm-up excluded).
    var iterations: Int

    /// Decimal megabytes (10⁶ bytes) per second, or nil.
    var megabytesPerSecond: Double? { bytesPerOp.map { Double($0) * opsPerSecond / 1e6 } }
    /// Median time per operation in nanoseconds.
    var nanosecondsPerOp: Double { 1e9 / opsPerSecond }
}

/// Runs benchmark bodies and prints aligned rows.
struct Harness {
    /// How long each operation is timed for, warm-up excluded.
    var duration: Duration = .milliseconds(800)
    /// How long each operation is exercised first (page faults, caches, lazy statics).
    var warmUp: Duration = .milliseconds(150)
    /// Target length of one batch; the batch size is grown until a batch takes about this long,
    /// so clock reads are a negligible fraction of the timed work.
    var batchTarget: Duration = .milliseconds(40)

    private let clock = ContinuousClock()

    /// Times `body` (one operation per call) and prints a row unless `quiet`.
    @discardableResult
    func measure(_ label: String, bytes: Int? = nil, quiet: Bool = false, _ body: () throws -> Void) rethrows -> Measurement {
        // Warm up while finding a batch size that takes about `batchTarget`.
        var batch = 1
        let warmUpStart = clock.now
        while true {
            let start = clock.now
            for _ in 0..<batch { try body() }
            let elapsed = clock.now - start
            if elapsed < batchTarget / 2 {
                batch *= 2
            } else if clock.now - warmUpStart >= warmUp {
                break
            }
        }

        var rates: [Double] = [], cpuRates: [Double] = []
        var total = 0
        let start = clock.now, cpuStart = threadCPUSeconds()
        repeat {
            let cpuStart = threadCPUSeconds()
            let batchStart = clock.now
            for _ in 0..<batch { try body() }
            let elapsed = clock.now - batchStart
            let cpuElapsed = threadCPUSeconds() - cpuStart
            rates.append(Double(batch) / elapsed.seconds)
            cpuRates.append(Double(batch) / cpuElapsed)
            total += batch
        } while clock.now - start < duration
        let wallTotal = (clock.now - start).seconds, cpuTotal = threadCPUSeconds() - cpuStart
        rates.sort()
        cpuRates.sort()
        let result = Measurement(
            label: label, opsPerSecond: rates[rates.count / 2], bestOpsPerSecond: rates.last!,
            cpuOpsPerSecond: cpuRates[cpuRates.count / 2],
            meanOpsPerSecond: Double(total) / wallTotal, meanCPUOpsPerSecond: Double(total) / cpuTotal,
            bytesPerOp: bytes, iterations: total)
        if !quiet { print(Report.row(result)) }
        return result
    }
}

/// CPU time this thread has used, in seconds (CLOCK_THREAD_CPUTIME_ID).
func threadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

extension Duration {
    /// The duration as floating-point seconds.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

/// Text formatting for the printed report (no Foundation needed for these).
enum Report {
    static let labelWidth = 40

    /// Prints a section heading.
    static func section(_ title: String) {
        print("")
        print("== \(title)")
        print(pad("operation", labelWidth) + leftPad("median op/s", 13) + leftPad("best op/s", 12)
            + leftPad("per op", 11) + leftPad("MB/s", 8) + leftPad("CPU op/s", 12))
    }

    /// One measurement as a row: median and best wall-clock rate, median time per op,
    /// throughput (wall clock), and the rate per second of CPU time.
    static func row(_ m: Measurement) -> String {
        pad(m.label, labelWidth)
            + leftPad(grouped(m.opsPerSecond), 13)
            + leftPad(grouped(m.bestOpsPerSecond), 12)
            + leftPad(duration(nanoseconds: m.nanosecondsPerOp), 11)
            + leftPad(m.megabytesPerSecond.map { fixed($0, 1) } ?? "-", 8)
            + leftPad(grouped(m.cpuOpsPerSecond), 12)
    }

    /// Left-aligns `text` in `width` columns (characters, not bytes: labels use arrows).
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// Right-aligns `text` in `width` columns.
    static func leftPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }

    /// `value` rounded to `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard digits > 0 else { return sign + "\(whole)" }
        let fractionText = String(fraction)
        return sign + "\(whole)." + String(repeating: "0", count: digits - fractionText.count) + fractionText
    }

    /// An integer-rounded rate with thousands separators.
    static func grouped(_ value: Double) -> String {
        var digits = String(Int(value.rounded()))
        var groups: [Substring] = []
        while digits.count > 3 {
            groups.insert(digits.suffix(3), at: 0)
            digits.removeLast(3)
        }
        groups.insert(Substring(digits), at: 0)
        return groups.joined(separator: ",")
    }

    /// A per-operation time with a readable unit.
    static func duration(nanoseconds: Double) -> String {
        switch nanoseconds {
        case ..<1_000: return fixed(nanoseconds, 0) + " ns"
        case ..<1_000_000: return fixed(nanoseconds / 1_000, 2) + " µs"
        default: return fixed(nanoseconds / 1_000_000, 2) + " ms"
        }
    }
}
