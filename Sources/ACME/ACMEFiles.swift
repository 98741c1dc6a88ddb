import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif

/// Where ACME state lives: `<data directory>/tls/`.
///
/// - `acme-account.key`: the account key (P-256, PKCS#8 PEM, 0600); the account URL is not
///   stored: `newAccount` with the same key returns it.
/// - `acme-cert.pem`: the issued chain, leaf first (0644).
/// - `acme-cert.key`: the certificate's key (PKCS#8 PEM, 0600).
///
/// Files are replaced atomically (temporary file, fsync, rename, fsync of the directory), key
/// before certificate; `TLSContextStore` refuses a mismatched pair, so a reader never serves a
/// half-written renewal.
public struct ACMEFiles: Sendable {
    /// The `tls` directory.
    public var directory: String

    public init(dataDirectory: String) {
        directory = (dataDirectory as NSString).appendingPathComponent("tls")
    }

    public init(tlsDirectory: String) {
        directory = tlsDirectory
    }

    public var accountKeyPath: String { directory + "/acme-account.key" }
    public var certificateChainPath: String { directory + "/acme-cert.pem" }
    public var privateKeyPath: String { directory + "/acme-cert.key" }

    /// Creates the directory (0700) when missing.
    public func createDirectory() throws {
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
    }

    /// Atomically replaces `path` with `bytes`, created with `mode` (never wider at any moment).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp-\(getpid())"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw ACMEError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = fchmod(descriptor, mode) == 0 // umask may have narrowed it; never widens beyond `mode`
        var offset = 0
        while ok, offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { posixWrite(descriptor, $0.baseAddress, $0.count) }
            if written < 0 { if errno == EINTR { continue }; ok = false } else { offset += written }
        }
        ok = ok && fsync(descriptor) == 0
        close(descriptor)
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ACMEError("cannot write \(path): \(reason)")
        }
        let parent = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if parent >= 0 {
            fsync(parent)
            close(parent)
        }
    }

    /// The bytes at `path`, or nil when it does not exist.
    public static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Refuses a secret file that its group or others may read.
    public static func checkPrivate(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        if info.st_mode & 0o077 != 0 {
            throw ACMEError("\(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): run chmod 600 \(path)")
        }
    }
}
