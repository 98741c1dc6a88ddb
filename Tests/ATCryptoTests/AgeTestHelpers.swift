import ATCrypto
import Foundation
import TestSupport

/// The testkit's outcome classes (age-encryption.org/testkit README, `expect`).
enum AgeOutcome: String, CustomStringConvertible {
    case success = "success"
    case noMatch = "no match"
    case hmacFailure = "HMAC failure"
    case headerFailure = "header failure"
    case payloadFailure = "payload failure"
    case armorFailure = "armor failure"
    case other = "other error"

    init(_ error: AgeError) {
        switch error {
        case .noMatch: self = .noMatch
        case .hmacFailure: self = .hmacFailure
        case .headerFailure: self = .headerFailure
        case .payloadFailure: self = .payloadFailure
        case .armorFailure: self = .armorFailure
        case .invalidKey, .invalidArgument: self = .other
        }
    }

    var description: String { rawValue }
}

/// Decrypts with the streaming API so that plaintext released before a failure is kept.
func decryptCollecting(_ file: [UInt8], identities: [any AgeIdentity], format: Age.Format = .detect)
    -> (outcome: AgeOutcome, error: AgeError?, released: [UInt8])
{
    var released: [UInt8] = []
    do {
        try Age.decrypt(file, identities: identities, format: format) { released += $0 }
        return (.success, nil, released)
    } catch {
        return (AgeOutcome(error), error, released)
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String { SharedVectors.hex(SHA256.hash(bytes)) }

/// Runs a program and returns its exit status, stdout and stderr. Output is read to EOF before
/// waiting, so large outputs cannot deadlock the pipe.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws
    -> (status: Int32, stdout: Data, stderr: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Drain stderr concurrently so neither pipe can fill up and block the child.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
}

/// zlib-decompresses through Python's `zlib` (Foundation on Linux has no public zlib API).
func zlibDecompress(_ data: [UInt8]) throws -> [UInt8] {
    let directory = try TemporaryDirectory()
    let input = directory.url.appendingPathComponent("in.zlib")
    try Data(data).write(to: input)
    let result = try run("/usr/bin/env", [
        "python3", "-c", "import sys,zlib; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1],'rb').read()))", input.path,
    ])
    guard result.status == 0 else { throw TestFailure("zlib decompression via python3 failed: \(result.stderr)") }
    return [UInt8](result.stdout)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("atcrypto-age-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
}
