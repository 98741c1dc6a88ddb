// TestSupport: the external programs some tests drive (the real `age` CLI, Pebble, the Python tools
// venv of `Tests/tools/venv`), and whether they are here.
//
// Like the shared vectors, a missing tool makes its tests skip with the reason
// (`.enabled(if: TestTools.installed(...) || SharedVectors.required, "…")`); under CI
// (`SharedVectors.required`) they run anyway and fail with a message saying what to install.
import Foundation

public enum TestTools {
    /// The repository's test helper scripts, `Tests/tools`.
    public static var directory: URL { SharedVectors.packageRoot.appendingPathComponent("Tests/tools", isDirectory: true) }

    /// The path of a helper script in `Tests/tools`.
    public static func script(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Whether every named program is on PATH.
    public static func installed(_ names: String...) -> Bool {
        names.allSatisfy { TestCertificateAuthority.which($0) != nil }
    }

    /// Whether the Python tools venv exists or could be made (`Tests/tools/venv`, which installs
    /// `Tests/interop/requirements.txt` on first use: python3 with its venv module, and PyPI).
    /// Asking makes it, once per test process; use as `.enabled(if: TestTools.hasVenv || …)` so the
    /// first-use install runs before the test and outside its time limit.
    public static var hasVenv: Bool { (try? venvPath.get()) != nil }

    /// The Python tools venv's directory, or an error carrying the script's own message.
    public static func venv() throws -> String { try venvPath.get() }

    private static let venvPath: Result<String, TestCertificateAuthority.Failure> = {
        let script = TestTools.script("venv")
        let errorPath = NSTemporaryDirectory() + "pds-test-venv-\(UUID().uuidString).err"
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        do {
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: script)
            let output = Pipe()
            process.standardOutput = output
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            if !errors.isEmpty { FileHandle.standardError.write(Data(errors.utf8)) }  // first-use install, or why not
            guard process.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path + "/bin/python") else {
                return .failure(.init(description: "\(script) exited \(process.terminationStatus): \(errors.suffix(1500))"))
            }
            return .success(path)
        } catch {
            return .failure(.init(description: "\(script) could not run: \(error)"))
        }
    }()
}
