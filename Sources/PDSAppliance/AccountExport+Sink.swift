import Foundation

/// Where `AccountExport` writes: a directory (`repo.car`, `blobs/<cid>`), or a ustar file written
/// as `<path>.partial` and renamed when complete. The repository is streamed to a file first
/// (its size is not known until the walk ends; a tar header needs it), then copied in.
final class ExportSink {
    private let destination: String
    private let isTar: Bool
    private var tar: FileHandle?

    init(_ destination: String) throws {
        self.destination = destination
        isTar = destination.hasSuffix(".tar")
        let manager = FileManager.default
        if isTar {
            guard !manager.fileExists(atPath: destination) else { throw ExportError("\(destination) exists: choose a new file name") }
            guard manager.createFile(atPath: partialPath, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let handle = FileHandle(forWritingAtPath: partialPath)
            else { throw ExportError("cannot create \(partialPath)") }
            tar = handle
        } else {
            if let entries = try? manager.contentsOfDirectory(atPath: destination), !entries.isEmpty {
                throw ExportError("\(destination) is not empty: export into a new or empty directory")
            }
            try manager.createDirectory(atPath: destination + "/blobs", withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
        }
    }

    private var partialPath: String { destination + ".partial" }

    /// The file the repository CAR is streamed to.
    func repositoryFile() throws -> String {
        isTar ? destination + ".repo.car.partial" : destination + "/" + AccountExport.carName
    }

    func finishRepository(_ path: String) throws {
        guard isTar else { return }
        defer { try? FileManager.default.removeItem(atPath: path) }
        try append(name: AccountExport.carName, from: path)
    }

    func addBlob(name: String, from path: String) throws {
        if isTar {
            try append(name: name, from: path)
        } else {
            try FileManager.default.copyItem(atPath: path, toPath: destination + "/" + name)
        }
    }

    private func append(name: String, from path: String) throws {
        guard let tar, let input = FileHandle(forReadingAtPath: path) else { throw ExportError("cannot read \(path)") }
        defer { try? input.close() }
        let size = Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64 ?? 0)
        try tar.write(contentsOf: try TarArchive.header(name: name, size: size))
        var copied = 0
        while let data = try input.read(upToCount: 1 << 16), !data.isEmpty {
            try tar.write(contentsOf: data)
            copied += data.count
        }
        guard copied == size else { throw ExportError("\(path) changed while it was copied") }
        try tar.write(contentsOf: TarArchive.padding(after: size))
    }

    func finish() throws {
        guard let tar else { return }
        try tar.write(contentsOf: TarArchive.end)
        try tar.synchronize()
        try tar.close()
        self.tar = nil
        try FileManager.default.moveItem(atPath: partialPath, toPath: destination)
    }

    /// Removes what a failed export left.
    func discard() {
        try? tar?.close()
        if isTar {
            try? FileManager.default.removeItem(atPath: partialPath)
            try? FileManager.default.removeItem(atPath: destination + ".repo.car.partial")
        } else {
            try? FileManager.default.removeItem(atPath: destination)
        }
    }
}
