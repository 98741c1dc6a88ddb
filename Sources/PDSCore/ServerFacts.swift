import ACME
import Foundation
import OpenSSLNIO
import PDSStore

/// The facts about a server that `pds status` prints and the owner's dashboard shows, gathered
/// from its configuration, data directory and database in one place so both say the same thing.
/// Reads only (safe next to a running server); the network checks of the identity are the
/// caller's (they need an identity directory).
public struct ServerFacts: Sendable {
    public struct DiskSpace: Sendable, Equatable {
        public var free: Int64
        public var total: Int64
        public var freeFraction: Double { total > 0 ? Double(free) / Double(total) : 1 }
    }

    /// The certificate the HTTPS port serves, as read from its file.
    public struct Certificate: Sendable, Equatable {
        public var names: [String]
        public var notAfter: Int64
        /// When ACME renews it (nil: certificate files the owner renews).
        public var renewalAt: Int64?
    }

    public enum TLSState: Sendable, Equatable {
        /// Plain HTTP (a reverse proxy terminates TLS).
        case off
        /// No certificate at `path` yet.
        case missing(mode: String, path: String)
        case serving(mode: String, Certificate)
    }

    public var storage: StorageReport
    public var databaseBytes: Int64
    public var walBytes: Int64
    public var disk: DiskSpace?
    public var tls: TLSState
    /// When Litestream last wrote its shadow WAL beside the database (nil: no Litestream seen).
    /// Litestream keeps `.<db>-litestream/` next to the database it replicates; its replica's own
    /// state is only visible to `litestream snapshots`, so this is "replication is running".
    public var replicationLastWrite: Date?

    /// Thresholds above which the owner should look.
    public static let lowDiskBytes: Int64 = 1 << 30
    public static let lowDiskFraction = 0.05
    public static let mirrorLagMilliseconds: Int64 = 3_600_000
    public static let certificateWarningSeconds: Int64 = 14 * 86_400

    public static func gather(config: PDSConfig, database: PDSDatabase) throws -> ServerFacts {
        let directory = config.dataDirectory
        return ServerFacts(
            storage: try database.storageReport(),
            databaseBytes: fileSize(directory + "/" + PDSDatabase.fileName),
            walBytes: fileSize(directory + "/" + PDSDatabase.fileName + "-wal"),
            disk: diskSpace(directory),
            tls: tlsState(config),
            replicationLastWrite: newestModification(under: directory + "/." + PDSDatabase.fileName + "-litestream", depth: 4))
    }

    /// The newest modification time of a file under `path` (a few levels deep), nil if none.
    static func newestModification(under path: String, depth: Int) -> Date? {
        let files = FileManager.default
        guard let attributes = try? files.attributesOfItem(atPath: path) else { return nil }
        var newest = attributes[.modificationDate] as? Date
        guard depth > 0, attributes[.type] as? FileAttributeType == .typeDirectory,
              let names = try? files.contentsOfDirectory(atPath: path) else { return newest }
        for name in names.prefix(200) {
            if let date = newestModification(under: path + "/" + name, depth: depth - 1), date > (newest ?? .distantPast) { newest = date }
        }
        return newest
    }

    public var diskIsLow: Bool {
        guard let disk else { return false }
        return disk.free < Self.lowDiskBytes || disk.freeFraction < Self.lowDiskFraction
    }

    /// Milliseconds the oldest pending mirror operation has waited.
    public func mirrorLag(now: Date) -> Int64 {
        storage.mirrorOldestEnqueuedAt.map { BlobMirrorQueue.milliseconds(now) - $0 } ?? 0
    }

    public func mirrorIsBehind(now: Date) -> Bool {
        mirrorLag(now: now) > Self.mirrorLagMilliseconds || storage.mirrorFailing > 0
    }

    public static func tlsState(_ config: PDSConfig) -> TLSState {
        let chainPath: String
        switch config.tlsMode {
        case .off: return .off
        case .files: chainPath = config.values["PDS_TLS_CERTIFICATE"] ?? ""
        case .acme: chainPath = ACMEFiles(dataDirectory: config.dataDirectory).certificateChainPath
        }
        guard let pem = ACMEFiles.read(chainPath), let leaf = try? TLSCertificate.chain(pem: pem).first else {
            return .missing(mode: config.tlsMode.rawValue, path: chainPath)
        }
        let renewal = config.tlsMode == .acme
            ? ACMECertificateManager.renewalTime(notBefore: leaf.notBefore, notAfter: leaf.notAfter) : nil
        return .serving(mode: config.tlsMode.rawValue, Certificate(names: leaf.dnsNames, notAfter: leaf.notAfter, renewalAt: renewal))
    }

    /// Bytes in binary units ("1.5 MiB").
    public static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// A day as YYYY-MM-DD (UTC).
    public static func day(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601.year().month().day())
    }

    public static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.int64Value ?? 0
    }

    public static func diskSpace(_ path: String) -> DiskSpace? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return DiskSpace(free: Int64(stats.f_bavail) * Int64(stats.f_frsize), total: Int64(stats.f_blocks) * Int64(stats.f_frsize))
    }
}
