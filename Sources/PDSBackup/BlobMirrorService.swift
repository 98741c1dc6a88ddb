import ATCrypto
import ATData
import Foundation
import Logging
import Multiformats
import NIOPosix
import PDSNetwork
import PDSStore
import ServiceLifecycle

/// Drains `blob_mirror_queue` into the S3 bucket: uploads each permanent blob (`<prefix><cid>`)
/// and, after `deleteDelay`, deletes the objects of blobs the server deleted.
///
/// The queue is durable (rows are written by triggers in the transaction that makes a blob
/// permanent, and removed only after the remote operation succeeded), so a crash, a restart or an
/// unreachable bucket only delays mirroring. Failures back off exponentially per blob, from
/// `backoff.base` doubling up to `backoff.maximum`, with jitter. Runs as one of the server's
/// services (the appliance passes it to the application); one operation at a time (a Pi's uplink
/// is the limit, not CPU).
public struct BlobMirrorService: Service {
    /// Retry timing for failed operations.
    public struct Backoff: Sendable {
        public var base: TimeInterval = 2
        public var maximum: TimeInterval = 900

        public init(base: TimeInterval = 2, maximum: TimeInterval = 900) {
            self.base = base
            self.maximum = maximum
        }

        /// The delay before the next try after `attempts` failures (1 = first failure), without jitter.
        public func delay(afterAttempts attempts: Int) -> TimeInterval {
            let exponent = Double(min(max(attempts - 1, 0), 30))
            return min(maximum, base * pow(2, exponent))
        }
    }

    let queue: BlobMirrorQueue
    let blobs: BlobStore
    let client: S3Client
    let config: BlobMirrorConfig
    let logger: Logger
    /// How often the queue is checked when idle.
    public var pollInterval: Duration = .seconds(1)
    public var backoff = Backoff()

    public init(config: BlobMirrorConfig, database: PDSDatabase, blobs: BlobStore, http: any OutboundHTTP, logger: Logger) {
        self.config = config
        queue = BlobMirrorQueue(database: database)
        self.blobs = blobs
        client = S3Client(config: config, http: http)
        self.logger = logger
    }

    /// The services to add to the application: the mirror when `config` is set, else none.
    public static func services(config: BlobMirrorConfig?, database: PDSDatabase, blobs: BlobStore,
                                http: any OutboundHTTP, logger: Logger) -> [any Service] {
        guard let config else { return [] }
        return [BlobMirrorService(config: config, database: database, blobs: blobs, http: http, logger: logger)]
    }

    public func run() async throws {
        let pending = (try? queue.count()) ?? (puts: 0, deletes: 0, failing: 0)
        logger.info("blob mirror enabled", metadata: [
            "target": "\(config)", "pendingUploads": "\(pending.puts)", "pendingDeletes": "\(pending.deletes)",
        ])
        // Errors are logged and retried, never thrown: returning would stop the service group.
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await drain(now: Date())
                    try await Task.sleep(for: pollInterval)
                }
            }
        } catch is CancellationError {
            return
        }
    }

    /// Results of one pass.
    public struct PassResult: Sendable, Equatable {
        public var uploaded = 0
        public var deleted = 0
        public var dropped = 0
        public var failed = 0
    }

    /// Runs every operation due at `now` once (failures are rescheduled, not retried in this pass).
    /// At most `limit` operations, so one pass always ends.
    @discardableResult
    public func drain(now: Date, limit: Int = 10_000) async -> PassResult {
        var result = PassResult()
        var seen = Set<String>()
        while result.uploaded + result.deleted + result.dropped + result.failed < limit, !Task.isCancelled {
            let batch: [BlobMirrorQueue.Item]
            do {
                batch = try queue.due(now: now, deleteDelay: config.deleteDelay).filter { !seen.contains("\($0.cid)#\($0.version)") }
            } catch {
                logger.error("blob mirror: cannot read the queue", metadata: ["error": "\(error)"])
                return result
            }
            if batch.isEmpty { break }
            for item in batch {
                seen.insert("\(item.cid)#\(item.version)")
                await process(item, result: &result)
            }
        }
        if result != PassResult() {
            logger.debug("blob mirror pass", metadata: [
                "uploaded": "\(result.uploaded)", "deleted": "\(result.deleted)", "failed": "\(result.failed)",
            ])
        }
        return result
    }

    func process(_ item: BlobMirrorQueue.Item, result: inout PassResult) async {
        do {
            switch item.operation {
            case .put:
                if try await upload(item) {
                    result.uploaded += 1
                    try? queue.recordUpload(at: Date())
                } else {
                    result.dropped += 1
                }
            case .delete:
                try await client.deleteObject(key: config.key(for: item.cid))
                result.deleted += 1
            }
            try queue.complete(item)
        } catch {
            result.failed += 1
            let attempts = item.attempts + 1
            let delay = backoff.delay(afterAttempts: attempts) * Double.random(in: 0.75...1.0)
            let level: Logger.Level = attempts <= 1 || attempts % 10 == 0 ? .warning : .info
            logger.log(level: level, "blob mirror operation failed; will retry", metadata: [
                "cid": "\(item.cid)", "operation": "\(item.operation.rawValue)", "attempts": "\(attempts)",
                "retryInSeconds": "\(Int(delay.rounded()))", "error": "\(error)",
            ])
            do {
                try queue.fail(item, error: "\(error)", retryAt: Date().addingTimeInterval(delay))
            } catch {
                logger.error("blob mirror: cannot record a failure", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Uploads one blob. Returns false if the blob is gone (nothing to upload; the row is dropped).
    /// The file is hashed first: the hash is the SigV4 payload hash, and a file whose bytes do not
    /// match its CID is never uploaded (it would poison the backup).
    func upload(_ item: BlobMirrorQueue.Item) async throws -> Bool {
        let cid = try CID(string: item.cid)
        let path = blobs.path(for: cid)
        // Reading and hashing a blob (up to the upload limit) is blocking work: NIO's pool, not the
        // event loop this task runs on.
        let read: (bytes: [UInt8], digest: [UInt8])? = try await NIOThreadPool.singleton.runIfActive {
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            let bytes = [UInt8](data)
            return (bytes, SHA256.hash(bytes))
        }
        guard let (bytes, digest) = read else {
            if try !queue.blobExists(item.cid) { return false }
            throw MirrorError.fileMissing(path)
        }
        guard cid.codec == CID.Codec.raw, cid.hashCode == CID.sha256Code, Array(cid.digest) == digest else {
            throw MirrorError.contentMismatch(path)
        }
        try await client.putObject(key: config.key(for: item.cid), body: bytes, payloadHash: Base16.encode(digest))
        return true
    }

    enum MirrorError: Error, CustomStringConvertible {
        case fileMissing(String)
        case contentMismatch(String)

        var description: String {
            switch self {
            case .fileMissing(let path): "blob file \(path) is missing"
            case .contentMismatch(let path): "blob file \(path) does not hash to its CID (not uploaded)"
            }
        }
    }
}
