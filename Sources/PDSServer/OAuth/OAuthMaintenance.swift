import Foundation
import Logging
import PDSCore
import ServiceLifecycle

/// Background upkeep of the OAuth state, as a service of the application: every `interval`,
/// expired rows (requests, codes, replay entries, browser sessions, ended sessions) are deleted,
/// and confidential clients' published keys are re-read so that a session bound to a key the
/// client withdrew is revoked (https://atproto.com/specs/oauth "Confidential Client Authentication").
struct OAuthMaintenance: Service {
    let oauth: OAuthService
    let logger: Logger
    var interval: Duration = .seconds(600)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await pass(now: Int64(Date().timeIntervalSince1970))
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            return
        }
    }

    func pass(now: Int64) async {
        do {
            let removed = try oauth.store.sweep(now: now)
            if removed > 0 { logger.debug("swept expired oauth rows", metadata: ["count": "\(removed)"]) }
            let revoked = try await oauth.recheckConfidentialClients(now: now)
            if revoked > 0 { logger.info("revoked oauth sessions whose client key was withdrawn", metadata: ["count": "\(revoked)"]) }
        } catch {
            logger.error("oauth maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
