import Foundation
import Logging
import Synchronization

/// Tells relays to come and crawl: after events are sequenced, at most once per 20 minutes, POST
/// `com.atproto.sync.requestCrawl {hostname}` to each `PDS_CRAWLERS` host, in the background
/// (the reference PDS). Failures are logged; the next event after the interval tries again.
public final class CrawlNotifier: Sendable {
    let http: any OutboundHTTP
    let hostname: String
    let crawlers: [String]
    let logger: Logger
    let interval: TimeInterval = 20 * 60
    private let lastNotified = Mutex<Date?>(nil)

    public init(http: any OutboundHTTP, hostname: String, crawlers: [String], logger: Logger) {
        self.http = http
        self.hostname = hostname
        self.crawlers = crawlers
        self.logger = logger
    }

    /// Called after each transaction that sequenced events. `now` skips the interval: an account
    /// that was just activated (a move here) wants the relays at once, as the reference asks then.
    public func eventsSequenced(now: Bool = false) {
        guard !crawlers.isEmpty else { return }
        let due = lastNotified.withLock { last -> Bool in
            if !now, let last, Date().timeIntervalSince(last) < interval { return false }
            last = Date()
            return true
        }
        guard due else { return }
        let body = Array(#"{"hostname":"\#(hostname)"}"#.utf8)
        for crawler in crawlers {
            guard let url = URL(string: crawler + "/xrpc/com.atproto.sync.requestCrawl") else { continue }
            Task { [http, logger] in
                do {
                    let response = try await http.send(OutboundRequest(
                        method: "POST", url: url, headers: [("Content-Type", "application/json")], body: body), maxResponseBytes: 64 << 10)
                    if response.status >= 300 {
                        logger.warning("requestCrawl refused", metadata: ["crawler": "\(crawler)", "status": "\(response.status)"])
                    } else {
                        logger.info("requestCrawl sent", metadata: ["crawler": "\(crawler)"])
                    }
                } catch {
                    logger.warning("requestCrawl failed", metadata: ["crawler": "\(crawler)", "error": "\(error)"])
                }
            }
        }
    }
}
