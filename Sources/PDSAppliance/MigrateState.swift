import Foundation

/// What `pds migrate` has done so far, kept in `<data>/migrate-state.json` (0600) and rewritten
/// atomically after every step, so a run stopped at any point (network, Ctrl-C, `kill -9`)
/// continues where it stopped. It holds no secret: passwords and session tokens are asked for
/// (or passed) again. The signed PLC operation is saved *before* it is submitted, so a resumed run
/// submits that same operation and never asks the old server to sign a second one.
public struct MigrateState: Codable, Sendable, Equatable {
    /// The phases, in order.
    public enum Phase: String, Codable, CaseIterable, Sendable {
        case account, repo, blobs, preferences, sign, submit, activate, deactivateOld = "deactivate-old"

        public var number: Int { Self.allCases.firstIndex(of: self)! + 1 }
    }

    public var did: String
    public var oldPDS: String
    public var handle: String
    public var done: [Phase] = []
    /// The PLC operation the old server signed for this move (JSON text), once it has.
    public var signedOperation: String?
    public var repoBytes: Int = 0
    public var records: Int = 0
    public var blobs: Int = 0
    public var blobBytes: Int = 0

    public init(did: String, oldPDS: String, handle: String) {
        self.did = did
        self.oldPDS = oldPDS
        self.handle = handle
    }

    public func isDone(_ phase: Phase) -> Bool { done.contains(phase) }

    public static func path(dataDirectory: String) -> String { dataDirectory + "/migrate-state.json" }

    /// The saved state, or nil when no move was started.
    public static func load(dataDirectory: String) throws -> MigrateState? {
        let path = path(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try JSONDecoder().decode(MigrateState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes the state to a temporary file, fsyncs it and renames it over the old one.
    public func save(dataDirectory: String) throws {
        let path = Self.path(dataDirectory: dataDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes = Array(try encoder.encode(self))
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: temporary]) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
