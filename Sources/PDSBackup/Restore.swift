import ATCrypto
import ATData
import Foundation
import Multiformats
import PDSNetwork
import PDSStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `pds restore`: rebuilds a data directory from the backup.
///
/// 1. `pds.sqlite` with the real `litestream restore` (from the `litestream.yml` replica of the
///    database, or from a replica URL), with a quick integrity check;
/// 2. the blobs from the S3 mirror (ListObjectsV2 under the prefix, then GET each), each verified
///    against its CID (raw codec, SHA-256 of the bytes) before it is renamed to `blobs/<cid>`.
///    Only blobs the restored database knows are fetched, so objects of blobs deleted since
///    (kept in the bucket for `PDS_BLOB_MIRROR_DELETE_DELAY_HOURS`) are skipped;
/// 3. optionally the (age-encrypted) key files from a directory the owner kept — they are not
///    part of the bucket backup.
///
/// Litestream and the server must be stopped, and the target must be empty or absent (Litestream restores only
/// to a new path: https://litestream.io/reference/restore/). On failure everything the restore created is removed, so
/// it can simply be run again.
public enum Restore {
    public struct Options: Sendable {
        /// The data directory to create (must be absent or empty).
        public var dataDirectory: String
        /// The litestream binary: a path, or a name looked up on `PATH`.
        public var litestream: String = "litestream"
        /// `litestream.yml` naming the replica (`-config`); nil when `databaseSource` is a URL.
        public var litestreamConfig: String?
        /// The database path as written in `litestream.yml` (e.g. `/var/lib/pds/pds.sqlite`), or a
        /// replica URL (`s3://bucket/path?endpoint=…`, `file:///path`).
        public var databaseSource: String
        /// Point in time to restore the database to (`-timestamp`, RFC 3339); latest when nil.
        public var timestamp: String?
        /// The blob mirror to read; nil restores the database only.
        public var mirror: BlobMirrorConfig?
        /// A directory holding `signing.age`, `rotation.age` (and whatever else was in `keys/`)
        /// to copy into the new `keys/`.
        public var keysFrom: String?

        public init(dataDirectory: String, databaseSource: String, litestreamConfig: String? = nil,
                    litestream: String = "litestream", mirror: BlobMirrorConfig? = nil) {
            self.dataDirectory = dataDirectory
            self.databaseSource = databaseSource
            self.litestreamConfig = litestreamConfig
            self.litestream = litestream
            self.mirror = mirror
        }
    }

    /// What a restore did.
    public struct Summary: Sendable {
        public var databaseBytes: Int64 = 0
        /// The restored repository head (`repo_root`), if there is one.
        public var did: String?
        public var rootCID: String?
        public var rev: String?
        /// Blob files written.
        public var blobsRestored = 0
        public var bytesRestored: Int64 = 0
        /// Permanent blobs the database lists that the mirror does not have (yet).
        public var missingBlobs: [String] = []
        /// Objects under the prefix that the database does not know (deleted blobs awaiting their
        /// delayed delete) or whose names are not CIDs: not downloaded.
        public var skippedObjects = 0
        /// Objects whose bytes do not match their CID: not written.
        public var corruptBlobs: [String] = []
        /// Key files copied from `keysFrom`.
        public var keyFilesCopied = 0
    }

    public enum Failure: Error, CustomStringConvertible {
        case notEmpty(String)
        case litestream(String)
        case unreadableDatabase(String)
        case keys(String)
        case io(String)

        public var description: String {
            switch self {
            case .notEmpty(let path): "\(path) is not empty; restore only into a new or empty directory (move the old one aside first)"
            case .litestream(let text): text
            case .unreadableDatabase(let text): "the restored database cannot be read: \(text)"
            case .keys(let text): text
            case .io(let text): text
            }
        }
    }

    /// Runs a restore. `progress` receives phase lines and the blob progress bar.
    public static func run(_ options: Options, http: (any OutboundHTTP)? = nil,
                           progress: RestoreProgress = RestoreProgress()) async throws -> Summary {
        let directory = options.dataDirectory
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try? fileManager.contentsOfDirectory(atPath: directory))?.isEmpty == true else {
                throw Failure.notEmpty(directory)
            }
        }
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            return try await restore(options, http: http ?? NIOHTTPClient(), progress: progress)
        } catch {
            // The directory was empty: everything in it now is ours.
            for name in (try? fileManager.contentsOfDirectory(atPath: directory)) ?? [] {
                try? fileManager.removeItem(atPath: directory + "/" + name)
            }
            throw error
        }
    }

    static func restore(_ options: Options, http: any OutboundHTTP, progress: RestoreProgress) async throws -> Summary {
        var summary = Summary()
        let directory = options.dataDirectory
        let databasePath = directory + "/" + PDSDatabase.fileName

        progress.line("restoring the database with litestream from \(options.databaseSource)")
        try runLitestream(options, output: databasePath)
        summary.databaseBytes = ((try? FileManager.default.attributesOfItem(atPath: databasePath))?[.size] as? NSNumber)?.int64Value ?? 0

        // What the database knows: permanent blobs must come back; temporary ones may.
        let inventory: RestoreInventory
        do { inventory = try RestoreInventory.read(databaseAt: databasePath) } catch {
            throw Failure.unreadableDatabase("\(error)")
        }
        summary.did = inventory.did
        summary.rootCID = inventory.rootCID
        summary.rev = inventory.rev
        let permanent = inventory.permanentBlobs, temporary = inventory.temporaryBlobs
        progress.line("database restored: \(RestoreProgress.bytes(summary.databaseBytes)), "
            + "repo \(summary.did ?? "(none)") at rev \(summary.rev ?? "-"), \(permanent.count) blobs referenced")

        let store = try BlobStore(directory: directory + "/blobs")
        if let mirror = options.mirror {
            let client = S3Client(config: mirror, http: http)
            progress.line("listing \(mirror)")
            let objects = try await client.listAllObjects(prefix: mirror.prefix)
            var wanted: [(cid: CID, object: S3Client.Object)] = []
            var present = Set<String>()
            for object in objects {
                let name = String(object.key.dropFirst(mirror.prefix.count))
                guard let cid = try? CID(string: name), cid.string == name,
                      permanent.contains(name) || temporary.contains(name) else {
                    summary.skippedObjects += 1
                    continue
                }
                present.insert(name)
                wanted.append((cid, object))
            }
            summary.missingBlobs = permanent.subtracting(present).sorted()
            let totalBytes = wanted.reduce(Int64(0)) { $0 + $1.object.size }
            progress.startBlobs(count: wanted.count, bytes: totalBytes)
            for (cid, object) in wanted {
                let written = try await download(cid: cid, key: object.key, client: client, store: store)
                if let written {
                    summary.blobsRestored += 1
                    summary.bytesRestored += written
                } else {
                    summary.corruptBlobs.append(cid.string)
                }
                progress.blobDone(bytes: object.size)
            }
            progress.finishBlobs()
            syncDirectory(store.directory)
        } else {
            summary.missingBlobs = permanent.sorted()
        }

        if let keysFrom = options.keysFrom {
            summary.keyFilesCopied = try copyKeys(from: keysFrom, to: directory + "/keys")
            progress.line("copied \(summary.keyFilesCopied) key files from \(keysFrom)")
        }
        return summary
    }

    // MARK: Litestream

    /// `litestream restore [-config C] -o OUT [-timestamp T] -integrity-check quick SOURCE`.
    static func runLitestream(_ options: Options, output: String) throws {
        guard let executable = resolveExecutable(options.litestream) else {
            throw Failure.litestream("litestream not found (\(options.litestream)); install Litestream 0.5 or pass its path")
        }
        var arguments = ["restore"]
        if let config = options.litestreamConfig { arguments += ["-config", config] }
        arguments += ["-o", output]
        if let timestamp = options.timestamp { arguments += ["-timestamp", timestamp] }
        arguments += ["-integrity-check", "quick", options.databaseSource]

        // Litestream's S3 client fails every call while AWS_CA_BUNDLE is set (AWS SDK Go v2 with a
        // custom HTTP client, measured with litestream 0.5.17); it has no CA option of its own, so drop the variable.
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "AWS_CA_BUNDLE")
        let logPath = NSTemporaryDirectory() + "pds-restore-litestream-\(Base16.encode(SecureRandom.bytes(8))).log"
        defer { unlink(logPath) }
        let status: Int32
        do {
            status = try ChildProcess.run(executable, arguments, environment: environment, outputPath: logPath)
        } catch {
            throw Failure.litestream("\(error)")
        }
        guard status == 0 else {
            let text = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure.litestream("litestream restore failed (exit \(status)): \(text.suffix(2000))")
        }
        guard FileManager.default.fileExists(atPath: options.dataDirectory + "/" + PDSDatabase.fileName) else {
            throw Failure.litestream("litestream restore wrote no database (is the replica empty?)")
        }
    }

    /// A path as given, or the first match on `PATH`.
    static func resolveExecutable(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    // MARK: Blobs

    /// Downloads one object into `blobs/tmp/`, checks it hashes to `cid`, fsyncs and renames it to
    /// `blobs/<cid>`. Returns the size, or nil (and writes nothing) when the bytes do not match.
    static func download(cid: CID, key: String, client: S3Client, store: BlobStore) async throws -> Int64? {
        let temporaryPath = store.directory + "/tmp/restore-" + Base16.encode(SecureRandom.bytes(8))
        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure.io("open \(temporaryPath): \(String(cString: strerror(errno)))") }
        var closed = false
        defer {
            if !closed { close(descriptor) }
            unlink(temporaryPath)
        }
        var hasher = SHA256()
        var size: Int64 = 0
        let stream = try await client.getObject(key: key)
        for try await chunk in stream.body {
            hasher.update(chunk)
            size += Int64(chunk.count)
            try chunk.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw Failure.io("write \(temporaryPath): \(String(cString: strerror(errno)))")
                    }
                    offset += written
                }
            }
        }
        let digest = hasher.finalize()
        guard cid.codec == CID.Codec.raw, cid.hashCode == CID.sha256Code, Array(cid.digest) == digest else { return nil }
        guard fsync(descriptor) == 0 else { throw Failure.io("fsync \(temporaryPath): \(String(cString: strerror(errno)))") }
        close(descriptor)
        closed = true
        guard rename(temporaryPath, store.path(for: cid)) == 0 else {
            throw Failure.io("rename to \(store.path(for: cid)): \(String(cString: strerror(errno)))")
        }
        return size
    }

    static func syncDirectory(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }

    /// Copies the regular files of `source` into `destination` (0700) with mode 0600.
    static func copyKeys(from source: String, to destination: String) throws -> Int {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: source) else {
            throw Failure.keys("cannot read the key directory \(source)")
        }
        try fileManager.createDirectory(atPath: destination, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var copied = 0
        for name in names.sorted() {
            let from = source + "/" + name
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: from, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = fileManager.contents(atPath: from) else { continue }
            let to = destination + "/" + name
            guard fileManager.createFile(atPath: to, contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw Failure.keys("cannot write \(to)")
            }
            copied += 1
        }
        guard copied > 0 else { throw Failure.keys("\(source) holds no key files") }
        return copied
    }
}

/// Restore progress on standard error: a redrawn bar on a terminal, plain lines otherwise
/// (every 10 % of the blobs), so logs of an unattended restore stay readable.
public final class RestoreProgress: @unchecked Sendable {
    let isTerminal: Bool
    let write: (String) -> Void
    var total = 0
    var totalBytes: Int64 = 0
    var done = 0
    var doneBytes: Int64 = 0
    var lastDraw = Date.distantPast
    var lastDecile = -1

    /// `isTerminal` defaults to whether standard error is a TTY.
    public init(isTerminal: Bool = isatty(STDERR_FILENO) == 1,
                write: @escaping (String) -> Void = { try? FileHandle.standardError.write(contentsOf: Data($0.utf8)) }) {
        self.isTerminal = isTerminal
        self.write = write
    }

    /// A phase line.
    public func line(_ text: String) { write("restore: \(text)\n") }

    func startBlobs(count: Int, bytes: Int64) {
        total = count
        totalBytes = bytes
        done = 0
        doneBytes = 0
        line("downloading \(count) blobs (\(Self.bytes(bytes)))")
        draw(force: true)
    }

    func blobDone(bytes: Int64) {
        done += 1
        doneBytes += bytes
        draw(force: done == total)
    }

    func finishBlobs() {
        if isTerminal { write("\n") }
    }

    func draw(force: Bool) {
        if isTerminal {
            let now = Date()
            guard force || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            let width = 30
            let fraction = total == 0 ? 1 : Double(done) / Double(total)
            let filled = Int((fraction * Double(width)).rounded(.down))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            write("\r  blobs [\(bar)] \(done)/\(total)  \(Self.bytes(doneBytes))/\(Self.bytes(totalBytes))  \(Int(fraction * 100))%\u{1B}[K")
        } else {
            let decile = total == 0 ? 10 : done * 10 / total
            guard decile != lastDecile else { return }
            lastDecile = decile
            write("restore: blobs \(done)/\(total) (\(decile * 10)%), \(Self.bytes(doneBytes)) of \(Self.bytes(totalBytes))\n")
        }
    }

    /// `12.3 MB`-style sizes (decimal units).
    public static func bytes(_ count: Int64) -> String {
        if count < 1000 { return "\(count) B" }
        let units = ["kB", "MB", "GB", "TB"]
        var value = Double(count) / 1000
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.1f", value) + " " + units[unit]
    }
}
