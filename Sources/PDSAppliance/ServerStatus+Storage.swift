import ACME
import Foundation
import OpenSSLNIO
import PDSCore
import PDSStore

extension ServerStatus {
    mutating func addStorage(_ report: StorageReport, directory: String, mirrored: Bool, now: Date) {
        let top = report.collections.prefix(4).map { "\($0.name) \($0.records)" }.joined(separator: ", ")
        add("records", "\(report.records) in \(report.collections.count) collection\(report.collections.count == 1 ? "" : "s")"
            + (top.isEmpty ? "" : " (\(top)\(report.collections.count > 4 ? ", …" : ""))"))
        add("blobs", "\(report.blobs), \(Self.size(report.blobBytes))"
            + (report.temporaryBlobs > 0 ? " (+\(report.temporaryBlobs) uploads not yet in a record)" : ""))
        let database = Self.fileSize(directory + "/" + PDSDatabase.fileName)
        let wal = Self.fileSize(directory + "/" + PDSDatabase.fileName + "-wal")
        add("database", "\(Self.size(database)) + write-ahead log \(Self.size(wal))")
        if let disk = Self.diskSpace(directory) {
            let fraction = disk.total > 0 ? Double(disk.free) / Double(disk.total) : 1
            let low = disk.free < Self.lowDiskBytes || fraction < Self.lowDiskFraction
            add("disk", "\(Self.size(disk.free)) free of \(Self.size(disk.total)) (\(Int(fraction * 100))%)",
                attention: low ? "little space left: a full disk refuses writes (`pds compact` may give space back)" : nil)
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
        let nowMS = BlobMirrorQueue.milliseconds(now)
        let lag = report.mirrorOldestEnqueuedAt.map { nowMS - $0 } ?? 0
        var text = report.mirrorPending == 0 ? "blob mirror up to date" : "blob mirror: \(report.mirrorPending) pending, oldest \(lag / 60_000) min"
        if report.mirrorFailing > 0 { text += "; \(report.mirrorFailing) failing (\(report.mirrorLastError ?? "no message"))" }
        add("backup", text, attention: lag > Self.mirrorLagMilliseconds || report.mirrorFailing > 0
            ? "the mirror is behind: check the S3 settings and the server log" : nil)
    }

    mutating func addTLS(_ config: PDSConfig, now: Date) {
        let chainPath: String
        switch config.tlsMode {
        case .off:
            add("tls", "off (plain HTTP; a reverse proxy terminates TLS)")
            return
        case .files:
            chainPath = config.values["PDS_TLS_CERTIFICATE"] ?? ""
        case .acme:
            chainPath = ACMEFiles(dataDirectory: config.dataDirectory).certificateChainPath
        }
        guard let pem = ACMEFiles.read(chainPath), let leaf = try? TLSCertificate.chain(pem: pem).first else {
            add("tls", "\(config.tlsMode.rawValue): no certificate at \(chainPath) yet",
                attention: config.tlsMode == .acme ? "the first ACME order runs when the server starts (see `pds doctor`)" : "check PDS_TLS_CERTIFICATE")
            return
        }
        let remaining = leaf.notAfter - Int64(now.timeIntervalSince1970)
        let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notAfter)).formatted(.iso8601.year().month().day())
        var text = "\(config.tlsMode.rawValue): \(leaf.dnsNames.joined(separator: ", ")), expires \(expiry) (\(remaining / 86_400) days)"
        if config.tlsMode == .acme {
            let renewAt = ACMECertificateManager.renewalTime(notBefore: leaf.notBefore, notAfter: leaf.notAfter)
            text += ", renewal from \(Date(timeIntervalSince1970: TimeInterval(renewAt)).formatted(.iso8601.year().month().day()))"
        }
        add("tls", text, attention: remaining < Self.certificateWarningSeconds
            ? (remaining < 0 ? "the certificate has expired" : "the certificate expires soon and has not been renewed") : nil)
    }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.int64Value ?? 0
    }

    static func diskSpace(_ path: String) -> (free: Int64, total: Int64)? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return (Int64(stats.f_bavail) * Int64(stats.f_frsize), Int64(stats.f_blocks) * Int64(stats.f_frsize))
    }
}
