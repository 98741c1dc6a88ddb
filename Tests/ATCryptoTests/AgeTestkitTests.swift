import ATCrypto
import Foundation
import TestSupport
import Testing

/// The C2SP/CCTV age testkit (shared/vectors/age/testkit, see its README.md and NOTES.md): every
/// non-post-quantum vector must give its exact outcome class, and the SHA-256 of all plaintext
/// released (also before a payload failure) must match `payload`.
@Suite(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
struct AgeTestkitTests {
    struct Vector {
        var name: String
        var fields: [(String, String)]
        var body: [UInt8]
        func values(_ key: String) -> [String] { fields.filter { $0.0 == key }.map(\.1) }
        func value(_ key: String) -> String? { values(key).first }
    }

    static let knownKeys: Set<String> = ["expect", "payload", "identity", "passphrase", "armored", "compressed", "file key", "comment"]

    /// Splits a vector file into its `key: value` header and the age file after the blank line.
    static func parse(name: String, _ bytes: [UInt8]) throws -> Vector {
        var fields: [(String, String)] = []
        var position = 0
        while true {
            guard let newline = bytes[position...].firstIndex(of: 0x0A) else { throw TestFailure("\(name): no blank line") }
            let line = bytes[position..<newline]
            position = newline + 1
            if line.isEmpty { break }
            let text = String(decoding: line, as: UTF8.self)
            guard let range = text.range(of: ": ") else { throw TestFailure("\(name): bad header line \(text)") }
            fields.append((String(text[..<range.lowerBound]), String(text[range.upperBound...])))
        }
        return Vector(name: name, fields: fields, body: Array(bytes[position...]))
    }

    @Test func testkit() throws {
        let directory = try SharedVectors.url("age/testkit/testdata")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(names.count == 143, "the testkit should hold 143 vectors")
        var ran = 0, skippedPQ = 0, ignoredUnknownKeys = 0
        var perClass: [String: Int] = [:]
        var detectDisagreements: [String] = []

        for name in names {
            let vector = try Self.parse(name: name, [UInt8](try Data(contentsOf: directory.appendingPathComponent(name))))
            if vector.fields.contains(where: { !Self.knownKeys.contains($0.0) }) {
                ignoredUnknownKeys += 1  // README: files with unknown keys should be ignored
                continue
            }
            // Post-quantum hybrid (mlkem768x25519) vectors: not implemented (age 1.1.1 has none).
            if name.hasPrefix("hybrid") || name.contains("hybrid")
                || vector.values("identity").contains(where: { $0.hasPrefix("AGE-SECRET-KEY-PQ-") }) {
                skippedPQ += 1
                continue
            }
            guard let expectText = vector.value("expect"), let expected = AgeOutcome(rawValue: expectText) else {
                Issue.record("\(name): missing or unknown expect")
                continue
            }
            var file = vector.body
            if vector.value("compressed") == "zlib" { file = try zlibDecompress(file) }

            var identities: [any AgeIdentity] = []
            for (key, value) in vector.fields {
                if key == "identity" { identities.append(try AgeX25519Identity(value)) }
                if key == "passphrase" { identities.append(AgeScryptIdentity(passphrase: value)) }
            }
            let armored = vector.value("armored") == "yes"
            let result = decryptCollecting(file, identities: identities, format: armored ? .armored : .binary)
            ran += 1
            perClass[expected.rawValue, default: 0] += 1

            #expect(result.outcome == expected, "\(name): expected \(expected), got \(result.outcome) (\(result.error.map { "\($0)" } ?? "no error"))")
            if expected == .success || expected == .payloadFailure {
                #expect(sha256Hex(result.released) == vector.value("payload"), "\(name): released plaintext hash")
            } else {
                #expect(result.released.isEmpty, "\(name): nothing may be released on \(expected)")
            }

            // Automatic armor detection must agree, except where the armor is unrecognisable as
            // such: garbage before "-----BEGIN" is then simply not an age file (header failure).
            let detected = decryptCollecting(file, identities: identities, format: .detect)
            if detected.outcome != result.outcome {
                detectDisagreements.append("\(name): \(detected.outcome)")
            }
        }
        print("age testkit: \(ran) vectors run, \(skippedPQ) post-quantum skipped, \(ignoredUnknownKeys) ignored for unknown keys; per class: \(perClass.sorted { $0.key < $1.key })")
        print("age testkit: automatic format detection differs on \(detectDisagreements)")
        #expect(ran == 124, "expected 124 non-post-quantum vectors, ran \(ran)")
        #expect(skippedPQ == 19)
        #expect(detectDisagreements == ["armor_garbage_leading: header failure"])
    }
}
