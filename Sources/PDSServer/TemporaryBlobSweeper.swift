import Foundation
import Logging
import PDSStore
import ServiceLifecycle

/// Deletes uploads that no record referenced in time: every `interval`, temporary blobs older
/// than `maximumAge` (rows and files).
///
/// The protocol asks PDSs to collect unreferenced uploads after at least an hour (https://atproto.com/specs/blob);
/// the reference never does and they pile up (the reference PDS, GC). Runs as a service of the
/// Hummingbird application, so it starts with the server and stops on shutdown.
struct TemporaryBlobSweeper: Service {
    let index: BlobIndex
    let logger: Logger
    /// How often to sweep (10 minutes).
    var interval: Duration = .seconds(600)
    /// How long an unreferenced upload is kept (1 hour: the protocol's minimum, long enough for a
    /// client to upload media and then post the record that embeds it).
    var maximumAge: TimeInterval = 3600

    func run() async throws {
        // On graceful shutdown the sleep is cancelled and the loop ends. Returning early for any
        // other reason would stop the whole service group, so errors are logged, not thrown.
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    sweep(now: Date())
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            return
        }
    }

    /// One pass (also called at start, which clears what a stopped server left behind).
    func sweep(now: Date) {
        do {
            let deleted = try index.sweepTemporaryBlobs(olderThan: now.addingTimeInterval(-maximumAge))
            if !deleted.isEmpty {
                logger.info("deleted unreferenced temporary blobs", metadata: ["count": "\(deleted.count)"])
            }
        } catch {
            logger.error("temporary blob sweep failed", metadata: ["error": "\(error)"])
        }
    }
}
