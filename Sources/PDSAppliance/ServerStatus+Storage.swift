import Foundation
import PDSCore
import PDSStore

/// The storage, backup and TLS lines of `pds status`, worded from `ServerFacts` (the facts the
/// owner's dashboard shows too).
extension ServerStatus {
    mutating func addStorage(_ facts: ServerFacts, mirrored: Bool, now: Date) {
        let report = facts.storage
        let top = report.collections.prefix(4).map { "\($0.name) \($0.records)" }.joined(separator: ", ")
        add("records", "\(report.records) in \(report.collections.count) collection\(report.collections.count == 1 ? "" : "s")"
            + (top.isEmpty ? "" : " (\(top)\(report.collections.count > 4 ? ", …" : ""))"))
        add("blobs", "\(report.blobs), \(Self.size(report.blobBytes))"
            + (report.temporaryBlobs > 0 ? " (+\(report.temporaryBlobs) uploads not yet in a record)" : ""))
        add("database", "\(Self.size(facts.databaseBytes)) + write-ahead log \(Self.size(facts.walBytes))")
        if let disk = facts.disk {
            add("disk", "\(Self.size(disk.free)) free of \(Self.size(disk.total)) (\(Int(disk.freeFraction * 100))%)",
                attention: facts.diskIsLow ? "little space left: a full disk refuses writes (`pds compact` may give space back)" : nil)
        }
        if let oldest = report.oldestEvent, let newest = report.newestEvent {
            add("events", "seq \(oldest)–\(newest) kept for replay\(report.oldestEventAt.map { " (since \($0))" } ?? "")")
        } else {
            add("events", "none kept")
        }
        guard mirrored else {
            add("backup", "blob mirror off (PDS_BLOB_MIRROR_*); the database's replication is Litestream's (`litestream snapshots`)")
            return
        }
        let lag = facts.mirrorLag(now: now)
        var text = report.mirrorPending == 0 ? "blob mirror up to date" : "blob mirror: \(report.mirrorPending) pending, oldest \(lag / 60_000) min"
        if report.mirrorFailing > 0 { text += "; \(report.mirrorFailing) failing (\(report.mirrorLastError ?? "no message"))" }
        if let last = report.mirrorLastUploadAt {
            text += "; last upload \(AccountStore.timestamp(Date(timeIntervalSince1970: TimeInterval(last) / 1000)))"
        }
        add("backup", text, attention: facts.mirrorIsBehind(now: now) ? "the mirror is behind: check the S3 settings and the server log" : nil)
    }

    mutating func addTLS(_ facts: ServerFacts, config: PDSConfig, now: Date) {
        switch facts.tls {
        case .off:
            add("tls", "off (plain HTTP; a reverse proxy terminates TLS)")
        case .missing(let mode, let path):
            add("tls", "\(mode): no certificate at \(path) yet",
                attention: config.tlsMode == .acme ? "the first ACME order runs when the server starts (see `pds doctor`)" : "check PDS_TLS_CERTIFICATE")
        case .serving(let mode, let certificate):
            let remaining = certificate.notAfter - Int64(now.timeIntervalSince1970)
            var text = "\(mode): \(certificate.names.joined(separator: ", ")), expires \(ServerFacts.day(certificate.notAfter)) (\(remaining / 86_400) days)"
            if let renewal = certificate.renewalAt { text += ", renewal from \(ServerFacts.day(renewal))" }
            add("tls", text, attention: remaining < ServerFacts.certificateWarningSeconds
                ? (remaining < 0 ? "the certificate has expired" : "the certificate expires soon and has not been renewed") : nil)
        }
    }

    static func size(_ bytes: Int64) -> String { ServerFacts.size(bytes) }
}
