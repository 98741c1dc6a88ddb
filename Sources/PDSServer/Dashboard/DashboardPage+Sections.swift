import Foundation
import PDSCore
import PDSStore

/// The dashboard's sections. Each value shown carries an `id` so the browser test can compare it
/// with what XRPC says; a line needing the owner's attention is marked `warn`.
extension DashboardPage {
    static func section(_ id: String, _ title: String, _ content: String, wide: Bool = false) -> String {
        "<section id=\"\(id)\"\(wide ? " class=\"wide\"" : "")><h2>\(OAuthPage.escape(title))</h2>\(content)</section>"
    }

    /// `rows`: (label, value id, value text, needs attention).
    static func list(_ rows: [(String, String, String, Bool)]) -> String {
        let e = OAuthPage.escape
        return "<dl>" + rows.map { label, id, value, warn in
            "<dt>\(e(label))</dt><dd id=\"\(e(id))\"\(warn ? " class=\"warn\"" : "")>\(e(value))</dd>"
        }.joined() + "</dl>"
    }

    static func timestamp(_ date: Date) -> String { AccountStore.timestamp(date) }

    func accountSection() async throws -> String {
        guard let account = try services.accounts.account() else {
            return Self.section("account", "Account", "<p>No account yet (`pds init`).</p>")
        }
        var rows: [(String, String, String, Bool)] = [
            ("Handle", "handle", account.handle, false),
            ("DID", "did", account.did, false),
            ("Status", "account-status", account.isActive ? "active" : account.status ?? "inactive", !account.isActive),
        ]
        if let next = services.keys.nextSigningKey {
            rows.append(("Key rotation", "key-rotation", "pending: \(next.didKey) waits for the DID document; signing with the old key", true))
        }
        let checks = await services.identity.documentConsistency(did: account.did, handle: account.handle)
        if checks.isEmpty {
            rows.append(("DID document", "identity-document", "not published (development server without a PLC directory)", false))
        }
        for check in checks {
            let id = "identity-" + check.check.lowercased().replacingOccurrences(of: " ", with: "-")
            rows.append((check.check, id, (check.ok ? "✓ " : "✗ ") + check.detail, !check.ok))
        }
        return Self.section("account", "Account", Self.list(rows))
    }

    func storageSection(_ facts: ServerFacts) -> String {
        let e = OAuthPage.escape
        let report = facts.storage
        var rows: [(String, String, String, Bool)] = [
            ("Records", "records-total", "\(report.records)", false),
            ("Blobs", "blobs-count", "\(report.blobs)", false),
            ("Blob bytes", "blobs-bytes", "\(report.blobBytes) (\(ServerFacts.size(report.blobBytes)))", false),
            ("Database", "database-size", ServerFacts.size(facts.databaseBytes), false),
            ("Write-ahead log", "wal-size", ServerFacts.size(facts.walBytes), false),
        ]
        if report.temporaryBlobs > 0 { rows.insert(("Uploads not in a record", "blobs-temporary", "\(report.temporaryBlobs)", false), at: 3) }
        if let disk = facts.disk {
            rows.append(("Disk free", "disk-free", "\(ServerFacts.size(disk.free)) of \(ServerFacts.size(disk.total)) (\(Int(disk.freeFraction * 100))%)",
                         facts.diskIsLow))
        }
        let collections = report.collections.isEmpty ? "<p>No records yet.</p>" : "<table id=\"collections\">" + report.collections.map {
            "<tr><td><code>\(e($0.name))</code></td><td class=\"n\" data-collection=\"\(e($0.name))\">\($0.records)</td></tr>"
        }.joined() + "</table>"
        return Self.section("storage", "Storage", Self.list(rows) + "<h3>Records per collection</h3>" + collections)
    }

    func backupSection(_ facts: ServerFacts, now: Date) -> String {
        let report = facts.storage
        var rows: [(String, String, String, Bool)] = []
        if services.config.blobMirror == nil {
            rows.append(("Blob mirror", "mirror-state", "off (PDS_BLOB_MIRROR_*)", false))
        } else {
            let lag = facts.mirrorLag(now: now)
            rows.append(("Blob mirror queue", "mirror-pending", "\(report.mirrorPending)", facts.mirrorIsBehind(now: now)))
            rows.append(("Oldest pending", "mirror-oldest", report.mirrorPending == 0 ? "—" : "\(lag / 60_000) min", lag > ServerFacts.mirrorLagMilliseconds))
            if report.mirrorFailing > 0 {
                rows.append(("Failing", "mirror-failing", "\(report.mirrorFailing): \(report.mirrorLastError ?? "no message")", true))
            }
            let last = report.mirrorLastUploadAt.map { Self.timestamp(Date(timeIntervalSince1970: TimeInterval($0) / 1000)) }
            rows.append(("Last upload", "mirror-last-upload", last.map { "\($0) (\(report.mirrorUploads) in all)" } ?? "none yet", false))
        }
        let replication = facts.replicationLastWrite.map { "Litestream active, last write \(Self.timestamp($0))" }
            ?? "Litestream not seen on this database"
        rows.append(("Database replication", "replication", replication, false))
        return Self.section("backup", "Backup", Self.list(rows))
    }

    func federationSection(_ facts: ServerFacts) -> String {
        let e = OAuthPage.escape
        let hub = services.firehose
        var rows: [(String, String, String, Bool)] = [
            ("Firehose subscribers", "firehose-subscribers", "\(hub.subscriberCount)", false),
            ("Dropped as too slow", "firehose-dropped", "\(hub.droppedCount)", false),
        ]
        rows.append(("Newest event", "firehose-seq", facts.storage.newestEvent.map { String($0) } ?? "none", false))
        let relays = services.crawlNotifier.lastAnswers
        let table = relays.isEmpty ? "<p id=\"relays-none\">No relays configured (PDS_CRAWLERS).</p>" : "<table id=\"relays\">" + relays.map { relay, answer in
            let text: String
            var warn = false
            if let answer {
                warn = !answer.accepted
                text = "\(Self.timestamp(answer.sentAt)): " + (answer.status.map { "HTTP \($0)" } ?? "no answer")
                    + (answer.message.isEmpty ? "" : " — \(answer.message)")
            } else {
                text = "not asked since the server started (asked after the next write)"
            }
            return "<tr class=\"relay\"><td><code>\(e(relay))</code></td><td class=\"crawl\(warn ? " warn" : "")\">\(e(text))</td></tr>"
        }.joined() + "</table>"
        return Self.section("federation", "Federation", Self.list(rows) + "<h3>Last requestCrawl per relay</h3>" + table)
    }

    func tlsSection(_ facts: ServerFacts, now: Int64) -> String {
        var rows: [(String, String, String, Bool)] = []
        switch facts.tls {
        case .off:
            rows.append(("TLS", "tls-mode", "off (plain HTTP; a reverse proxy terminates TLS)", false))
        case .missing(let mode, let path):
            rows.append(("TLS", "tls-mode", mode, false))
            rows.append(("Certificate", "tls-names", "none at \(path) yet", true))
        case .serving(let mode, let certificate):
            let remaining = certificate.notAfter - now
            rows.append(("TLS", "tls-mode", mode, false))
            rows.append(("Names", "tls-names", certificate.names.joined(separator: ", "), false))
            rows.append(("Expires", "tls-expiry", "\(ServerFacts.day(certificate.notAfter)) (\(remaining / 86_400) days)",
                         remaining < ServerFacts.certificateWarningSeconds))
            rows.append(("Next renewal", "tls-renewal", certificate.renewalAt.map { ServerFacts.day($0) } ?? "by the owner (certificate files)", false))
        }
        return Self.section("tls", "TLS", Self.list(rows))
    }

    func activitySection(now: Int64) -> String {
        let window = history.window(now: now)
        let requests = window.map(\.requests), writes = window.map(\.writes), errors = window.map(\.errors)
        func chart(_ id: String, _ title: String, _ values: [Int], _ colour: String) -> String {
            "<div><h3>\(title): <span id=\"total-\(id)\">\(values.reduce(0, +))</span></h3>"
                + DashboardChart.svg(id: "chart-\(id)", title: "\(title) per 30 minutes, last 24 hours", values: values, colour: colour) + "</div>"
        }
        let charts = "<div class=\"charts\">" + chart("requests", "Requests", requests, "#1560d4") + chart("writes", "Writes", writes, "#137333")
            + chart("errors", "Errors", errors, "#b00020") + "</div>"
        return Self.section("activity", "Last 24 hours", charts + "<p class=\"lead\">Counted since the server started (kept in memory).</p>", wide: true)
    }
}
