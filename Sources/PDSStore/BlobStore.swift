import ATCrypto
import ATData
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-addressed blob files: `blobs/<cid>` in the data directory.
///
/// An upload streams into `blobs/tmp/<random>` while being hashed, is fsynced, then renamed to its
/// CID and the directory fsynced, so a crash leaves either no file or a complete one under its
/// final name (never a partial file under a CID). Identical uploads share one file. Whether a blob
/// is still "temporary" (not yet referenced by a record) is database state, not file location.
public struct BlobStore: Sendable {
    /// `<data>/blobs`.
    public let directory: String
    var temporaryDirectory: String { directory + "/tmp" }

    /// Creates the directories if needed (mode 0700: blob bytes are the account's data).
    public init(directory: String) throws {
        self.directory = directory
        for path in [directory, directory + "/tmp"] {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    /// The path of a stored blob (whether or not it exists).
    public func path(for cid: CID) -> String { directory + "/" + cid.string }

    /// True if the blob's bytes are on disk.
    public func contains(_ cid: CID) -> Bool { FileManager.default.fileExists(atPath: path(for: cid)) }

    /// Deletes a blob's file (missing is fine: deletion is idempotent).
    public func delete(_ cid: CID) {
        unlink(path(for: cid))
    }

    /// Starts a streaming upload that fails once more than `limit` bytes arrive.
    public func beginUpload(limit: Int) throws -> BlobUpload {
        try BlobUpload(store: self, limit: limit)
    }

    /// Removes leftover partial uploads (from a crash mid-upload); call at startup.
    public func removeStaleTemporaryFiles() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: temporaryDirectory) else { return }
        for name in names { unlink(temporaryDirectory + "/" + name) }
    }
}

/// Errors from the blob store.
public enum BlobStoreError: Error, Equatable, Sendable {
    /// More bytes arrived than the configured upload limit.
    case tooLarge(limit: Int)
    /// A filesystem call failed (`errno` text).
    case io(String)
}

/// One upload in progress. Feed it with `write`, then `finish` (or `abort`).
public final class BlobUpload {
    let store: BlobStore
    let limit: Int
    let temporaryPath: String
    var descriptor: Int32
    var hasher = SHA256()
    /// Bytes received so far.
    public private(set) var size = 0
    /// The first bytes, kept for content sniffing.
    var head: [UInt8] = []
    /// Set by `finish`: true if no file had this blob's CID before (so a failed index insert
    /// removes it again; an identical earlier upload's file stays).
    var createdFinalFile = false

    init(store: BlobStore, limit: Int) throws {
        self.store = store
        self.limit = limit
        temporaryPath = store.temporaryDirectory + "/" + Base32Name.random()
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.failure("open \(temporaryPath)") }
    }

    deinit { abort() }

    /// Appends bytes. Throws `tooLarge` (and removes the partial file) past the limit.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard descriptor >= 0 else { throw BlobStoreError.io("upload already finished") }
        size += bytes.count
        guard size <= limit else {
            abort()
            throw BlobStoreError.tooLarge(limit: limit)
        }
        if head.count < 64 { head.append(contentsOf: bytes.prefix(64 - head.count)) }
        hasher.update(bytes)
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                let error = Self.failure("write")
                abort()
                throw error
            }
            offset += written
        }
    }

    /// Appends bytes.
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    /// Makes the blob durable under its CID and returns what was stored.
    /// `declaredType` (the request's Content-Type) is used only when sniffing finds nothing.
    public func finish(declaredType: String?) throws -> (cid: CID, size: Int, mimeType: String) {
        guard descriptor >= 0 else { throw BlobStoreError.io("upload already finished") }
        guard fsync(descriptor) == 0 else {
            let error = Self.failure("fsync")
            abort()
            throw error
        }
        close(descriptor)
        descriptor = -1
        let digest = hasher.finalize()
        let cid = CID(codec: CID.Codec.raw, sha256Digest: digest)
        let finalPath = store.path(for: cid)
        createdFinalFile = access(finalPath, F_OK) != 0
        guard rename(temporaryPath, finalPath) == 0 else {
            let error = Self.failure("rename")
            unlink(temporaryPath)
            throw error
        }
        // The rename is durable only once the directory entry is on disk.
        let directoryDescriptor = open(store.directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        let mimeType = MIMESniffer.sniff(head) ?? Self.cleaned(declaredType) ?? "application/octet-stream"
        return (cid, size, mimeType)
    }

    /// The error for a failed filesystem call (`errno` as it is now): `StorageFullError` when the
    /// disk is full, else `BlobStoreError.io`.
    static func failure(_ operation: String) -> any Error {
        let code = errno
        let message = String(cString: strerror(code))
        if StorageFullError.isFull(errno: code) { return StorageFullError(detail: "blob \(operation): \(message)") }
        return BlobStoreError.io("\(operation): \(message)")
    }

    /// Discards the upload.
    public func abort() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
            unlink(temporaryPath)
        }
    }

    /// A declared Content-Type without parameters, or nil if absent or unusable.
    static func cleaned(_ declared: String?) -> String? {
        guard let declared else { return nil }
        let base = declared.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard base.contains("/"), !base.contains(" "), base != "*/*" else { return nil }
        return base
    }
}

/// Random file names for temporary uploads.
enum Base32Name {
    static func random() -> String {
        SecureRandom.bytes(16).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
