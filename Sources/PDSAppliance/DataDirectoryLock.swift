import Foundation

/// An exclusive `flock` on `<data>/pds.lock`, held by a running server for its whole life and by
/// `pds compact` while it rewrites the database, so neither runs beside the other. The kernel
/// releases it when the process ends, however it ends (`kill -9` included): no stale lock.
public final class DataDirectoryLock: Sendable {
    /// The lock file's name in the data directory.
    public static let fileName = "pds.lock"

    /// Another process holds the lock.
    public struct Held: Error, CustomStringConvertible {
        public let directory: String
        /// The holder's pid, as it wrote it into the file.
        public let pid: String?
        public var description: String {
            "\(directory) is in use by a running pds\(pid.map { " (pid \($0))" } ?? "")"
        }
    }

    let fd: Int32

    /// Takes the lock without waiting; throws `Held` when another process has it.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let pid = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw Held(directory: directory, pid: pid?.isEmpty == false ? pid : nil)
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    /// Unlocks before closing: a child another thread is spawning holds a copy of this descriptor
    /// until its `exec` closes it (O_CLOEXEC), and `flock` belongs to the open file description,
    /// so a bare `close` could leave the lock held for that instant. `LOCK_UN` releases it for
    /// every copy at once.
    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }

    /// The pid written by the process holding the lock (empty when unreadable), or nil when no
    /// process holds it. Only probes: takes a shared lock for an instant and writes nothing.
    public static func holder(directory: String) -> String? {
        let path = (directory as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        return (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}
