// TestSupport: locates the read-only `../shared` folder (vectors, lexicons, tools) for tests.
//
// Tests never copy vectors into the repository; they read them at run time. A lone clone has no
// such folder: every test that reads it carries `.enabled(if: SharedVectors.enabled, "…")`, so there
// it is reported as skipped with that reason. With `CI=true` or `PDS_REQUIRE_VECTORS=1` those tests
// run regardless and a missing folder fails them with a message that says so (CI checks them all).
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

    /// Whether the shared vectors are here (`sharedDirectory/vectors` exists).
    public static var available: Bool {
        FileManager.default.fileExists(atPath: sharedDirectory.appendingPathComponent("vectors").path)
    }

    /// Whether missing shared vectors or test tools are a failure rather than a skip: under CI
    /// (`CI=true`) or with `PDS_REQUIRE_VECTORS=1`.
    public static var required: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["CI"] == "true" || environment["PDS_REQUIRE_VECTORS"] == "1"
    }

    /// The condition for `.enabled(if:)` on tests that read the shared folder: run them when it is
    /// here, or when it is required (then its absence fails them).
    public static var enabled: Bool { available || required }

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
