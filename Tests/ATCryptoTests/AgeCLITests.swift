import ATCrypto
import Foundation
import TestSupport
import Testing

/// Interoperability with the real `age` CLI (Debian age 1.1.1; CI installs it). Without it these
/// tests are skipped with the reason; under CI (`SharedVectors.required`) they fail with instructions.
@Suite(.enabled(if: TestTools.installed("age", "age-keygen") || SharedVectors.required,
                "needs the age CLI (apt-get install -y age)"))
struct AgeCLITests {
    static let passphrase = "correct horse battery staple"

    /// The `age` binary, or a failure that says how to install it.
    static func ageBinary() throws -> String {
        let candidates = ["/usr/bin/age", "/usr/local/bin/age"]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/age" }
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestFailure("the `age` CLI is not installed: install it (Debian/Ubuntu: `apt-get install -y age`) to run the age interop tests")
        }
        return path
    }

    /// Tests/tools/age-pass, which types a passphrase into `age` through a pty.
    static func agePass() throws -> String { TestTools.script("age-pass") }

    static func plaintext70000() -> [UInt8] { (0..<70000).map { UInt8((7 * $0 + 3) % 256) } }

    /// Files written here decrypt with `age -d -i <identity file>`.
    @Test(arguments: [(11, false), (11, true), (70000, false), (70000, true), (0, false), (65536, false)])
    func ageDecryptsOurX25519Files(size: Int, armor: Bool) throws {
        let age = try Self.ageBinary()
        let directory = try TemporaryDirectory()
        let identity = AgeX25519Identity.generate()
        let identityFile = directory.file("identity.txt")
        try Data("# test key\n# public key: \(identity.recipient)\n\(identity.encoded())\n".utf8).write(to: identityFile)
        let plaintext = size == 70000 ? Self.plaintext70000() : SecureRandom.bytes(size)
        let encrypted = directory.file("file.age")
        try Data(try Age.encrypt(plaintext, to: [identity.recipient], armor: armor)).write(to: encrypted)
        // Plaintext via stdout: with `-o`, age 1.1.1 creates no file at all for an empty plaintext.
        let result = try run(age, ["-d", "-i", identityFile.path, encrypted.path])
        #expect(result.status == 0, "age -d failed: \(result.stderr)")
        #expect([UInt8](result.stdout) == plaintext)
    }

    /// A file for two recipients decrypts with either key in the CLI.
    @Test func ageDecryptsMultiRecipientFile() throws {
        let age = try Self.ageBinary()
        let directory = try TemporaryDirectory()
        let a = AgeX25519Identity.generate(), b = AgeX25519Identity.generate()
        let encrypted = directory.file("file.age")
        try Data(try Age.encrypt(Array("both".utf8), to: [a.recipient, b.recipient])).write(to: encrypted)
        for identity in [a, b] {
            let identityFile = directory.file("id.txt")
            try Data("\(identity.encoded())\n".utf8).write(to: identityFile)
            let result = try run(age, ["-d", "-i", identityFile.path, encrypted.path])
            #expect(result.status == 0, "age -d failed: \(result.stderr)")
            #expect([UInt8](result.stdout) == Array("both".utf8))
        }
    }

    /// Files `age -r` writes (binary and `-a`) decrypt here.
    @Test(arguments: [(11, false), (11, true), (70000, false), (70000, true), (0, false)])
    func weDecryptAgeX25519Files(size: Int, armor: Bool) throws {
        let age = try Self.ageBinary()
        let directory = try TemporaryDirectory()
        let identity = AgeX25519Identity.generate()
        let plaintext = size == 70000 ? Self.plaintext70000() : SecureRandom.bytes(size)
        let input = directory.file("plain.bin"), encrypted = directory.file("file.age")
        try Data(plaintext).write(to: input)
        let result = try run(age, ["-r", identity.recipient.description] + (armor ? ["-a"] : []) + ["-o", encrypted.path, input.path])
        #expect(result.status == 0, "age -r failed: \(result.stderr)")
        let file = [UInt8](try Data(contentsOf: encrypted))
        #expect(AgeArmor.isArmored(file) == armor)
        #expect(try Age.decrypt(file, identities: [identity]) == plaintext)
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: [AgeX25519Identity.generate()]) }
    }

    /// Keys from `age-keygen` parse here and match its recipient.
    @Test func ageKeygenIdentitiesParse() throws {
        let age = try Self.ageBinary()
        let keygen = URL(fileURLWithPath: age).deletingLastPathComponent().appendingPathComponent("age-keygen").path
        guard FileManager.default.isExecutableFile(atPath: keygen) else {
            throw TestFailure("age-keygen not found next to \(age): install the `age` package")
        }
        let result = try run(keygen, [])
        #expect(result.status == 0)
        let text = String(decoding: result.stdout, as: UTF8.self)
        let identities = try Age.parseIdentities(text)
        #expect(identities.count == 1)
        let publicLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("# public key: ") })
        #expect(identities[0].recipient.description == publicLine.dropFirst("# public key: ".count))
    }

    /// Passphrase files written here decrypt with the CLI (driven through a pty by age-pass):
    /// a fast work factor, plus one at the default 2^18.
    @Test(arguments: [(10, false), (10, true), (AgeScryptRecipient.defaultWorkFactor, false)])
    func ageDecryptsOurScryptFiles(workFactor: Int, armor: Bool) throws {
        let age = try Self.ageBinary(), agePass = try Self.agePass()
        let directory = try TemporaryDirectory()
        let plaintext = Self.plaintext70000()
        let encrypted = directory.file("file.age"), output = directory.file("out.bin")
        let recipient = try AgeScryptRecipient(passphrase: Self.passphrase, workFactor: workFactor)
        try Data(try Age.encrypt(plaintext, to: [recipient], armor: armor)).write(to: encrypted)
        let result = try run("/usr/bin/env", ["python3", agePass, age, "-d", "-o", output.path, encrypted.path],
                             environment: ["AGE_PASS": Self.passphrase])
        #expect(result.status == 0, "age-pass age -d failed: \(result.stderr)")
        #expect([UInt8](try Data(contentsOf: output)) == plaintext)
    }

    /// A passphrase file from `age -p` (work factor 18) decrypts here, and not with a wrong passphrase.
    @Test func weDecryptAgePassphraseFile() throws {
        let age = try Self.ageBinary(), agePass = try Self.agePass()
        let directory = try TemporaryDirectory()
        let input = directory.file("plain.txt"), encrypted = directory.file("file.age")
        try Data("hello from age -p\n".utf8).write(to: input)
        let result = try run("/usr/bin/env", ["python3", agePass, age, "-p", "-o", encrypted.path, input.path],
                             environment: ["AGE_PASS": Self.passphrase])
        #expect(result.status == 0, "age-pass age -p failed: \(result.stderr)")
        let file = [UInt8](try Data(contentsOf: encrypted))
        #expect(try Age.decrypt(file, identities: [AgeScryptIdentity(passphrase: Self.passphrase)]) == Array("hello from age -p\n".utf8))
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: [AgeScryptIdentity(passphrase: "nope")]) }
    }
}
