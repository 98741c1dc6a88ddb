import Foundation

/// Memory figures of this process from /proc/self/status (Linux).
enum ProcessStats {
    /// Peak resident set (VmHWM) and current resident set (VmRSS) in KiB, when readable.
    static func residentSet() -> (peakKiB: Int, currentKiB: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        var peak: Int?, current: Int?
        for line in status.split(separator: "\n") {
            // Lines look like "VmHWM:\t   12345 kB".
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { continue }
            if fields[0] == "VmHWM:" { peak = Int(fields[1]) }
            if fields[0] == "VmRSS:" { current = Int(fields[1]) }
        }
        guard let peak, let current else { return nil }
        return (peak, current)
    }

    /// The 1, 5 and 15-minute load averages from /proc/loadavg, as printed there. On a shared
    /// machine they say how much the wall-clock figures were squeezed by neighbours.
    static func loadAverage() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Prints the machine's CPU count and load average.
    static func printLoad(_ when: String) {
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        print("machine: \(cpus) CPUs, load average \(loadAverage() ?? "unavailable") (1/5/15 min) \(when)")
    }

    /// Prints the resident-set figures.
    static func printResidentSet() {
        print("")
        print("== Memory")
        if let rss = residentSet() {
            print("peak RSS (VmHWM): \(Report.fixed(Double(rss.peakKiB) / 1024, 1)) MiB   current RSS (VmRSS): \(Report.fixed(Double(rss.currentKiB) / 1024, 1)) MiB")
        } else {
            print("peak RSS: unavailable (/proc/self/status unreadable)")
        }
    }
}
