import Foundation
import Logging
import PDSAppliance
import PDSCore
import PDSNetwork
@testable import PDSServer
import PDSStore
import Synchronization
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The owner's dashboard: the bounded activity buckets, the SVG chart, the relay answers the
/// crawl notifier keeps, and the page rendered from a real server's state.
@Suite struct DashboardTests {
    @Test func activityIsCountedPerHalfHourAndForgottenAfterADay() {
        let history = ActivityHistory()
        let start: Int64 = 1_800_000_000 - 1_800_000_000 % ActivityHistory.width
        history.record(now: start + 5, isWrite: true, isError: false)
        history.record(now: start + 1799, isWrite: false, isError: true)
        history.record(now: start + 1800, isWrite: false, isError: false)
        var window = history.window(now: start + 1800)
        #expect(window.count == ActivityHistory.count)
        #expect(window.last == ActivityHistory.Bucket(start: start + 1800, requests: 1, writes: 0, errors: 0))
        #expect(window[window.count - 2] == ActivityHistory.Bucket(start: start, requests: 2, writes: 1, errors: 1))
        #expect(window.map(\.start) == (0..<48).map { start + 1800 - Int64(47 - $0) * 1800 })
        // 24 hours later the first bucket has left the window, and its ring slot is reused.
        let dayLater = start + 24 * 3600
        window = history.window(now: dayLater)
        #expect(window.reduce(0) { $0 + $1.requests } == 1)
        history.record(now: dayLater + 1, isWrite: true, isError: false)
        window = history.window(now: dayLater)
        #expect(window.last == ActivityHistory.Bucket(start: dayLater, requests: 1, writes: 1, errors: 0))
        #expect(window.reduce(0) { $0 + $1.requests } == 2)
    }

    @Test func writesAreTheRepositoryWriteMethodsAnsweredWithSuccess() {
        #expect(ActivityHistory.isWrite(path: "/xrpc/com.atproto.repo.createRecord", status: 200))
        #expect(ActivityHistory.isWrite(path: "/xrpc/com.atproto.repo.uploadBlob", status: 200))
        #expect(!ActivityHistory.isWrite(path: "/xrpc/com.atproto.repo.createRecord", status: 400))
        #expect(!ActivityHistory.isWrite(path: "/xrpc/com.atproto.repo.getRecord", status: 200))
        #expect(!ActivityHistory.isWrite(path: "/dashboard", status: 200))
    }

    @Test func chartsAreSVGWithoutInlineStyleAndEscapeTheirTitle() {
        var values = [Int](repeating: 0, count: 48)
        values[47] = 4
        values[10] = 2
        let svg = DashboardChart.svg(id: "chart-x", title: "a <b> & \"c\"", values: values, colour: "#123456")
        #expect(svg.hasPrefix("<svg id=\"chart-x\""))
        #expect(svg.contains("data-total=\"6\""))
        #expect(svg.contains("a &lt;b&gt; &amp; &quot;c&quot;"))
        #expect(!svg.contains("<b>") && !svg.contains("style="))
        #expect(svg.components(separatedBy: "<rect ").count - 1 == 2)
        #expect(svg.contains("max 4 per 30 min"))
    }

    /// Answers every request with `status` and `body`.
    final class AnsweringHTTP: OutboundHTTP {
        let status: Int
        let body: String
        init(status: Int, body: String) { (self.status, self.body) = (status, body) }

        func stream(_ request: OutboundRequest) async throws -> OutboundStream {
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
            continuation.yield(Array(body.utf8))
            continuation.finish()
            return OutboundStream(status: status, headers: [:], body: stream)
        }
    }

    @Test func theCrawlNotifierKeepsEachRelaysLastAnswer() async throws {
        let notifier = CrawlNotifier(http: AnsweringHTTP(status: 400, body: #"{"error":"InvalidRequest","message":"not a host"}"#),
                                     hostname: "pds.example", crawlers: ["https://relay.example"], logger: Logger(label: "test"))
        #expect(notifier.lastAnswers.map(\.relay) == ["https://relay.example"])
        #expect(notifier.lastAnswers.first?.answer == nil)
        notifier.eventsSequenced()
        var answer: CrawlNotifier.Answer?
        for _ in 0..<300 where answer == nil {
            answer = notifier.lastAnswers.first?.answer
            if answer == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(answer?.status == 400)
        #expect(answer?.message == "InvalidRequest: not a host")
        #expect(answer?.accepted == false)
    }

    @Test func whatARelayAnswersIsShownEscaped() async throws {
        let directory = NSTemporaryDirectory() + "pds-dashboard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = PDSConfig(hostname: "127.0.0.1", port: 2583, bindAddress: "127.0.0.1", dataDirectory: directory, isDevelopment: true)
        config.crawlers = ["https://relay.example"]
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let hostile = AnsweringHTTP(status: 400, body: #"{"error":"InvalidRequest","message":"<script>alert(1)</script>"}"#)
        let services = try PDSServices.open(config: config, keys: try DevBootstrap.loadKeys(dataDirectory: directory), logger: logger, http: hostile)
        // Creating the account sequences events, which asks the relay to crawl.
        _ = try await DevBootstrap.ensureAccount(state: services, handle: "alice.test", password: "password-1234")
        for _ in 0..<300 where services.crawlNotifier.lastAnswers.first?.answer == nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        let page = DashboardPage(services: services, browsers: BrowserSessions(store: services.oauth.store, sessions: services.sessions,
                                                                              limiter: nil, secure: false), history: ActivityHistory())
        let facts = try ServerFacts.gather(config: config, database: services.database)
        let section = page.federationSection(facts)
        #expect(section.contains("HTTP 400 — InvalidRequest: &lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(section.contains("class=\"crawl warn\""))
        #expect(!section.contains("<script"))
    }

    @Test func thePageShowsTheServersState() async throws {
        try await TestServer.with { server in
            let token = try await server.accessToken()
            var request = URLRequest(url: server.url("/xrpc/com.atproto.repo.createRecord"))
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let record: [String: Any] = ["$type": "app.bsky.feed.post", "text": "hello", "createdAt": "2026-01-01T00:00:00.000Z"]
            let input = try JSONSerialization.data(withJSONObject: ["repo": server.did, "collection": "app.bsky.feed.post", "record": record])
            let (_, response) = try await server.send(request, body: input)
            #expect(response.statusCode == 200)

            let state = server.state
            let history = ActivityHistory()
            history.record(now: Int64(Date().timeIntervalSince1970), isWrite: true, isError: false)
            let page = DashboardPage(services: state, browsers: BrowserSessions(store: state.oauth.store, sessions: state.sessions, limiter: nil, secure: false),
                                     history: history)
            let html = try await page.render(OAuthPageSession(id: "x", did: server.did, csrf: "csrf-token", expiresAt: 0),
                                             now: Int64(Date().timeIntervalSince1970))
            #expect(html.contains("id=\"did\">\(server.did)<"))
            #expect(html.contains("id=\"handle\">alice.test<"))
            #expect(html.contains("data-collection=\"app.bsky.feed.post\">1<"))
            #expect(html.contains("id=\"records-total\">1<"))
            #expect(html.contains("id=\"blobs-count\">0<"))
            #expect(html.contains("id=\"total-writes\">1<"))
            #expect(html.contains("id=\"identity-document\">not published"))
            // The test configuration says ACME and no order has run: the page says the certificate is missing.
            #expect(html.contains("id=\"tls-mode\">\(state.config.tlsMode.rawValue)<"))
            #expect(state.config.tlsMode != .acme || html.contains("id=\"tls-names\" class=\"warn\">none at"))
            #expect(html.contains("id=\"relays-none\""))
            #expect(html.contains("name=\"csrf\" value=\"csrf-token\""))
            #expect(!html.contains("<script"))
        }
    }
}
