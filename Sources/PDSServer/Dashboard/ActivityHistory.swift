import Foundation
import Hummingbird
import Synchronization

/// Requests, repository writes and errors over the last 24 hours, for the dashboard's charts:
/// 48 half-hour buckets in a ring, so memory stays bounded however busy the server is. Kept in
/// memory only (docs/ARCHITECTURE.md, "Dashboard activity"): a restart starts the charts empty.
public final class ActivityHistory: Sendable {
    public struct Bucket: Sendable, Equatable {
        /// Start of the bucket, seconds since the epoch (a multiple of `width`).
        public var start: Int64
        public var requests = 0
        public var writes = 0
        public var errors = 0
    }

    public static let width: Int64 = 1800
    public static let count = 48

    private let buckets = Mutex<[Bucket]>([])

    public init() {}

    /// Counts one answered request at `now`.
    public func record(now: Int64, isWrite: Bool, isError: Bool) {
        let start = now - now % Self.width
        buckets.withLock { ring in
            let index = Int((start / Self.width) % Int64(Self.count))
            if ring.isEmpty { ring = (0..<Self.count).map { _ in Bucket(start: -1) } }
            if ring[index].start != start { ring[index] = Bucket(start: start) }
            ring[index].requests += 1
            if isWrite { ring[index].writes += 1 }
            if isError { ring[index].errors += 1 }
        }
    }

    /// The last 24 hours ending with the bucket holding `now`, oldest first (empty buckets included).
    public func window(now: Int64) -> [Bucket] {
        let current = now - now % Self.width
        let ring = buckets.withLock { $0 }
        return (0..<Self.count).reversed().map { back in
            let start = current - Int64(back) * Self.width
            let index = Int((start / Self.width) % Int64(Self.count))
            if !ring.isEmpty, ring[index].start == start { return ring[index] }
            return Bucket(start: start)
        }
    }

    /// The XRPC methods that change the repository (a write is one of these answered 2xx).
    static let writeMethods: Set<String> = [
        "com.atproto.repo.createRecord", "com.atproto.repo.putRecord", "com.atproto.repo.deleteRecord",
        "com.atproto.repo.applyWrites", "com.atproto.repo.uploadBlob", "com.atproto.repo.importRepo",
    ]

    static func isWrite(path: Substring, status: Int) -> Bool {
        guard status < 300, path.hasPrefix("/xrpc/") else { return false }
        return writeMethods.contains(String(path.dropFirst(6)))
    }
}

/// Counts every answered request into the `ActivityHistory` (errors: 4xx and 5xx answers, and
/// requests that threw).
struct ActivityMiddleware: RouterMiddleware {
    typealias Context = PDSRequestContext
    let history: ActivityHistory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let now = Int64(Date().timeIntervalSince1970)
        do {
            let response = try await next(request, context)
            let status = Int(response.status.code)
            // Every write method is a POST: reads skip the path lookup.
            let isWrite = request.method == .post && ActivityHistory.isWrite(path: Substring(request.uri.path), status: status)
            history.record(now: now, isWrite: isWrite, isError: status >= 400)
            return response
        } catch {
            history.record(now: now, isWrite: false, isError: true)
            throw error
        }
    }
}
