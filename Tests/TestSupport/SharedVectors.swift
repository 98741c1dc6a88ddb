// TestSupport: locates the read-only `../shared` folder (vectors, lexicons, tools) for tests.
//
// Tests never copy vectors into the repository; they read them at run time. When the folder is
// missing the test fails with a message that says so, rather than passing with nothing checked.
import Foundation

/// Where the shared test material lives and how to read it.
public enum SharedVectors {
    /// The `shared` folder: `$PDS_SHARED_DIR` if set, else `../shared` beside the package root.
    public static var sharedDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["PDS_SHARED_DIR"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        // #filePath = <root>/Tests/TestSupport/SharedVectors.swift
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared", isDirectory: true)
    }

    /// The package root (for tests that need repository files or built products).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The error thrown when a vector file is absent: the message names the path and the fix.
    public struct Missing: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "shared test vectors not found at \(path): these tests need the read-only ../shared folder "
                + "beside the repository (or PDS_SHARED_DIR pointing at it); nothing was checked"
        }
    }

    /// The URL of `relativePath` under `shared/vectors`, or a `Missing` error.
    public static func url(_ relativePath: String) throws -> URL {
        let url = sharedDirectory.appendingPathComponent("vectors").appendingPathComponent(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else { throw Missing(path: url.path) }
        return url
    }

    /// The `shared/lexicons` folder (the published Lexicon schemas), or a `Missing` error.
    public static func lexiconsDirectory() throws -> URL {
        let url = sharedDirectory.appendingPathComponent("lexicons", isDirectory: true)
        guard FileManager.default.fileExists(atPath: url.path) else { throw Missing(path: url.path) }
        return url
    }

    /// The bytes of a vector file.
    public static func data(_ relativePath: String) throws -> Data {
        try Data(contentsOf: url(relativePath))
    }

    /// A vector file parsed as JSON (`[[String: Any]]`, `[String: Any]`, …).
    public static func json(_ relativePath: String) throws -> Any {
        try JSONSerialization.jsonObject(with: data(relativePath), options: [.fragmentsAllowed])
    }

    /// The test lines of an interop `.txt` file: comment (`#`) and empty lines skipped, and lines
    /// **not** trimmed, since leading and trailing whitespace is part of some test cases.
    public static func lines(_ relativePath: String) throws -> [String] {
        let text = String(decoding: try data(relativePath), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Hex decoding for vector fields.
    public static func hex(_ text: String) -> [UInt8] {
        var bytes = [UInt8]()
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
        }
        return bytes
    }

    /// Lowercase hex encoding.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
