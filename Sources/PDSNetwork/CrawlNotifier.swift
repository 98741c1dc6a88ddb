import Foundation
import Logging
import Synchronization

/// Tells relays to come and crawl: after events are sequenced, at most once per 20 minutes, POST
/// `com.atproto.sync.requestCrawl {hostname}` to each `PDS_CRAWLERS` host, in the background
/// (the reference PDS). Failures are logged; the next event after the interval tries again.
/// The last request to each relay and its answer are kept (in memory) for the owner's dashboard.
public final class CrawlNotifier: Sendable {
    /// One `requestCrawl` and how the relay answered.
    public struct Answer: Sendable, Equatable {
        public var relay: String
        public var sentAt: Date
        /// The HTTP status (nil: no answer, see `message`).
        public var status: Int?
        /// The relay's `message` or error name, or why there was no answer.
        public var message: String
        public var accepted: Bool { status.map { $0 < 300 } ?? false }
    }

    let http: any OutboundHTTP
    let hostname: String
    let crawlers: [String]
    let logger: Logger
    let interval: TimeInterval = 20 * 60
    private let lastNotified = Mutex<Date?>(nil)
    private let answers = Mutex<[String: Answer]>([:])

    /// The relays (as configured) and the last answer from each (nil: not asked since start).
    public var lastAnswers: [(relay: String, answer: Answer?)] {
        let known = answers.withLock { $0 }
        return crawlers.map { ($0, known[$0]) }
    }

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
            Task { [self] in
                let sentAt = Date()
                var answer = Answer(relay: crawler, sentAt: sentAt, status: nil, message: "")
                do {
                    let response = try await http.send(OutboundRequest(
                        method: "POST", url: url, headers: [("Content-Type", "application/json")], body: body), maxResponseBytes: 64 << 10)
                    answer.status = response.status
                    answer.message = Self.summary(response.body)
                    if response.status >= 300 {
                        logger.warning("requestCrawl refused", metadata: ["crawler": "\(crawler)", "status": "\(response.status)"])
                    } else {
                        logger.info("requestCrawl sent", metadata: ["crawler": "\(crawler)"])
                    }
                } catch {
                    answer.message = "\(error)"
                    logger.warning("requestCrawl failed", metadata: ["crawler": "\(crawler)", "error": "\(error)"])
                }
                record(answer)
            }
        }
    }

    private func record(_ answer: Answer) {
        answers.withLock { $0[answer.relay] = answer }
    }

    /// The `error`/`message` of an XRPC answer (empty for `{}`), or the first bytes of another body.
    static func summary(_ body: [UInt8]) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            let parts = [object["error"] as? String, object["message"] as? String].compactMap { $0 }
            return parts.joined(separator: ": ")
        }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }
}
