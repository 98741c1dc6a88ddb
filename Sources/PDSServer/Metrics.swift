import CMalloc
import Foundation
import Hummingbird
import NIOCore
import PDSCore
import PDSStore
import Synchronization

/// Counters for `/metrics` (Prometheus text format 0.0.4), served only when
/// `PDS_METRICS_ENABLED=true`: request counts by status class and XRPC method family, plus
/// gauges read at scrape time (firehose, repository, blobs, SQLite's and malloc's memory, process).
public final class Metrics: Sendable {
    private let requests = Mutex<[String: Int]>([:])
    let started = Date()

    public init() {}

    /// Counts one answered request.
    func record(path: String, status: Int) {
        let family: String
        if path.hasPrefix("/xrpc/") {
            let nsid = path.dropFirst(6)
            family = nsid.split(separator: ".").prefix(3).joined(separator: ".")  // e.g. com.atproto.repo
        } else {
            family = "other"
        }
        let key = "\(family)|\(status / 100)xx"
        requests.withLock { $0[key, default: 0] += 1 }
    }

    /// The exposition text.
    func render(state: PDSServices) async -> String {
        var lines: [String] = []
        lines.append("# HELP pds_http_requests_total Answered HTTP requests by XRPC namespace and status class.")
        lines.append("# TYPE pds_http_requests_total counter")
        for (key, count) in requests.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|")
            lines.append("pds_http_requests_total{namespace=\"\(parts[0])\",status=\"\(parts[1])\"} \(count)")
        }
        func gauge(_ name: String, _ help: String, _ value: Double) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) gauge")
            lines.append("\(name) \(value == value.rounded() ? String(Int64(value)) : String(value))")
        }
        gauge("pds_firehose_subscribers", "Connected subscribeRepos consumers.", Double(state.firehose.subscriberCount))
        gauge("pds_firehose_dropped_total", "Consumers dropped as too slow since start.", Double(state.firehose.droppedCount))
        if let counts = try? await state.database.statistics() {
            gauge("pds_firehose_seq", "The newest event sequence number.", Double(counts.highWaterMark))
            gauge("pds_repo_records", "Records in the repository.", Double(counts.records))
            gauge("pds_blobs", "Stored blobs referenced by records.", Double(counts.blobs))
            gauge("pds_blob_bytes", "Bytes of stored blobs referenced by records.", Double(counts.blobBytes))
        }
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
           let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            gauge("process_resident_memory_bytes", "Resident memory.", pages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
        gauge("pds_sqlite_memory_bytes", "Memory SQLite holds (page caches of every connection, statements).",
              Double(PDSDatabase.sqliteMemoryUsed))
        // Whether memory that grows is held (a leak shows as in-use bytes rising) or freed but
        // kept in malloc's arenas (fragmentation shows as free bytes rising).
        var inUse = 0, keptFree = 0
        if pds_malloc_counters(&inUse, &keptFree) == 1 {
            gauge("process_malloc_in_use_bytes", "Bytes malloc has handed out (glibc mallinfo2).", Double(inUse))
            gauge("process_malloc_free_bytes", "Free bytes malloc keeps in its arenas (glibc mallinfo2).", Double(keptFree))
        }
        gauge("process_start_time_seconds", "Start time, seconds since the epoch.", started.timeIntervalSince1970.rounded())
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Counts every response for `Metrics` (installed only when metrics are enabled).
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = PDSRequestContext
    let metrics: Metrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.record(path: request.uri.path, status: Int(response.status.code))
        return response
    }
}
