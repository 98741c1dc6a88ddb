import ATCrypto
import Foundation
import Multiformats
import TestSupport
import Testing

/// Files made by the real age 1.1.1 CLI (shared/vectors/age/cli, see its README.md), their
/// step-by-step traces, key encodings, and round-trip / tamper properties.
@Suite struct AgeTests {
    static let passphrase = "correct horse battery staple"
    static let helloSHA = "a1b6fb5c9cb431cb6e3994156727161dd2802ba719ac36311801a723145a460b"
    static let seventyKSHA = "9f6d8bb550591a5410aa72b997e7d49e3eed1ce025e83628addaf4382d2295bd"
    static let emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func cli(_ name: String) throws -> [UInt8] { [UInt8](try SharedVectors.data("age/cli/\(name)")) }
    static func identities(_ name: String) throws -> [AgeX25519Identity] {
        try Age.parseIdentities(String(decoding: try cli(name), as: UTF8.self))
    }
    /// A trace file's values: hex fields decoded to bytes; `decimal` keeps the decimal ones.
    struct Trace {
        var text: [String: String] = [:]
        subscript(_ key: String) -> [UInt8]? { text[key].map { SharedVectors.hex($0) } }
        func decimal(_ key: String) -> Int? { text[key].flatMap { Int($0) } }
    }

    static func trace(_ name: String) throws -> Trace {
        var trace = Trace()
        for line in try SharedVectors.lines("age/cli/\(name)") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count == 2 { trace.text[String(parts[0])] = String(parts[1]) }
        }
        return trace
    }

    // MARK: CLI vectors

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"), arguments: [
        ("x25519-hello.age", "identity.txt", helloSHA),
        ("x25519-hello.armored.age", "identity.txt", helloSHA),
        ("x25519-70000.age", "identity.txt", seventyKSHA),
        ("x25519-empty.age", "identity.txt", emptySHA),
        ("x25519-two-recipients-hello.age", "identity.txt", helloSHA),
        ("x25519-two-recipients-hello.age", "identity2.txt", helloSHA),
        ("x25519-for-identity2-hello.age", "identity2.txt", helloSHA),
        ("x25519-hello.age", "identities-both.txt", helloSHA),
        ("x25519-for-identity2-hello.age", "identities-both.txt", helloSHA),
    ])
    func cliX25519(file: String, identityFile: String, sha: String) throws {
        let plaintext = try Age.decrypt(try Self.cli(file), identities: try Self.identities(identityFile))
        #expect(sha256Hex(plaintext) == sha)
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func cliPlaintextsMatchTheirFiles() throws {
        #expect(try Age.decrypt(try Self.cli("x25519-hello.age"), identities: try Self.identities("identity.txt")) == Self.cli("plain-hello.txt"))
        #expect(try Age.decrypt(try Self.cli("x25519-70000.age"), identities: try Self.identities("identity.txt")) == Self.cli("plain-70000.bin"))
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func cliNoMatch() throws {
        #expect(throws: AgeError.noMatch) {
            try Age.decrypt(try Self.cli("x25519-for-identity2-hello.age"), identities: try Self.identities("identity.txt"))
        }
        // A passphrase identity does not match X25519 stanzas either.
        #expect(throws: AgeError.noMatch) {
            try Age.decrypt(try Self.cli("x25519-hello.age"), identities: [AgeScryptIdentity(passphrase: Self.passphrase)])
        }
    }

    /// The CLI's default work factor (2^18, 256 MiB): the explicit scrypt maxmem matters here.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"), arguments: [
        ("scrypt-hello.age", helloSHA),
        ("scrypt-hello.armored.age", helloSHA),
        ("scrypt-70000.age", seventyKSHA),
    ])
    func cliScrypt(file: String, sha: String) throws {
        let plaintext = try Age.decrypt(try Self.cli(file), identities: [AgeScryptIdentity(passphrase: Self.passphrase)])
        #expect(sha256Hex(plaintext) == sha)
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func cliScryptWrongPassphraseAndLowCap() throws {
        #expect(throws: AgeError.noMatch) {
            try Age.decrypt(try Self.cli("scrypt-hello.age"), identities: [AgeScryptIdentity(passphrase: "wrong")])
        }
        // A cap below the file's work factor refuses to run scrypt at all.
        #expect(throws: AgeError.self) {
            try Age.decrypt(try Self.cli("scrypt-hello.age"), identities: [AgeScryptIdentity(passphrase: Self.passphrase, maxWorkFactor: 17)])
        }
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func cliKeyEncodings() throws {
        let identity = try #require(try Self.identities("identity.txt").first)
        let recipientText = String(decoding: try Self.cli("recipient.txt"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(identity.recipient.description == recipientText)
        #expect(identity.encoded() == "AGE-SECRET-KEY-174XAKSG8XG6VMDG5E7QXLZLHZ3UNRN56Q60T3WXK72LA5ZRZ50DSQ7KE7K")
        #expect(try AgeX25519Recipient(recipientText) == identity.recipient)
        #expect(!identity.description.contains("SECRET"))  // no secret in logs
        #expect(try Self.identities("identities-both.txt").count == 2)
        #expect(try Age.parseRecipients("# comment\r\n\(recipientText)\r\n").map(\.description) == [recipientText])
    }

    /// Recomputes every intermediate value of the X25519 traces with the primitives.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"),
          arguments: [("x25519-hello.age", "x25519-hello.trace.txt"), ("x25519-70000.age", "x25519-70000.trace.txt")])
    func cliX25519Trace(file: String, traceFile: String) throws {
        let trace = try Self.trace(traceFile)
        let bytes = try Self.cli(file)
        let identity = try #require(try Self.identities("identity.txt").first)
        #expect(identity.recipient.publicKey.rawRepresentation == trace["x25519_recipient"])

        let lines = bytes.split(separator: 0x0A, maxSplits: 4, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let share = try Base64.decode(lines[1].split(separator: " ")[2])
        #expect(share == trace["ephemeral_share"])
        let body = try Base64.decode(lines[2])
        #expect(body == trace["stanza_body"])
        let shared = try identity.privateKey.sharedSecret(with: X25519.PublicKey(rawRepresentation: share))
        #expect(shared == trace["shared_secret"])
        let wrapKey = HKDF.sha256(inputKeyMaterial: shared, salt: share + identity.recipient.publicKey.rawRepresentation,
                                  info: "age-encryption.org/v1/X25519".utf8, outputByteCount: 32)
        #expect(wrapKey == trace["wrap_key"])
        let fileKey = try ChaCha20Poly1305.open(body, key: wrapKey, nonce: [UInt8](repeating: 0, count: 12))
        #expect(fileKey == trace["file_key"])
        try checkCommon(trace: trace, bytes: bytes, fileKey: fileKey, macLine: lines[3])
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func cliScryptTrace() throws {
        let trace = try Self.trace("scrypt-hello.trace.txt")
        let bytes = try Self.cli("scrypt-hello.age")
        let lines = bytes.split(separator: 0x0A, maxSplits: 4, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let arguments = lines[1].split(separator: " ")
        let salt = try Base64.decode(arguments[2])
        #expect(salt == trace["scrypt_salt_arg"])
        #expect(arguments[3] == "18")
        let wrapKey = try Scrypt.deriveKey(password: Self.passphrase.utf8, salt: Array("age-encryption.org/v1/scrypt".utf8) + salt,
                                           parameters: .init(logN: 18, r: 8, p: 1), outputByteCount: 32)
        #expect(wrapKey == trace["wrap_key"])
        let fileKey = try ChaCha20Poly1305.open(try Base64.decode(lines[2]), key: wrapKey, nonce: [UInt8](repeating: 0, count: 12))
        #expect(fileKey == trace["file_key"])
        try checkCommon(trace: trace, bytes: bytes, fileKey: fileKey, macLine: lines[3])
    }

    private func checkCommon(trace: Trace, bytes: [UInt8], fileKey: [UInt8], macLine: String) throws {
        let hmacKey = HKDF.sha256(inputKeyMaterial: fileKey, salt: [UInt8](), info: "header".utf8, outputByteCount: 32)
        #expect(hmacKey == trace["hmac_key"])
        let macInputLength = try #require(bytes.firstIndex(of: UInt8(ascii: "-"), after: "---")) + 3
        #expect(macInputLength == trace.decimal("mac_input_len"))
        let mac = HMAC.sha256(key: hmacKey, message: bytes[..<macInputLength])
        #expect(mac == trace["header_mac"])
        #expect(try Base64.decode(macLine.dropFirst(4)) == mac)
        let headerEnd = macInputLength + 1 + 43 + 1
        let nonce = Array(bytes[headerEnd..<(headerEnd + 16)])
        #expect(nonce == trace["payload_nonce"])
        #expect(HKDF.sha256(inputKeyMaterial: fileKey, salt: nonce, info: "payload".utf8, outputByteCount: 32) == trace["payload_key"])
    }

    // MARK: Encrypt / decrypt round trips

    @Test(arguments: [0, 1, 11, 65535, 65536, 65537, 131072, 131073, 200_000])
    func roundTripAroundChunkBoundaries(size: Int) throws {
        let plaintext = SecureRandom.bytes(size)
        let identity = AgeX25519Identity.generate()
        for armor in [false, true] {
            let file = try Age.encrypt(plaintext, to: [identity.recipient], armor: armor)
            #expect(try Age.decrypt(file, identities: [identity]) == plaintext)
            if !armor {
                // header + 16-byte nonce + chunks with 16-byte tags (an empty file has one empty chunk).
                let chunks = max(1, (size + 65535) / 65536)
                let header = try #require(file.firstIndex(of: UInt8(ascii: "-"), after: "---")) + 3 + 1 + 43 + 1
                #expect(file.count == header + 16 + size + 16 * chunks)
            }
        }
    }

    @Test func multipleRecipientsAndScrypt() throws {
        let a = AgeX25519Identity.generate(), b = AgeX25519Identity.generate(), c = AgeX25519Identity.generate()
        let file = try Age.encrypt(Array("two".utf8), to: [a.recipient, b.recipient])
        #expect(try Age.decrypt(file, identities: [b]) == Array("two".utf8))
        #expect(try Age.decrypt(file, identities: [c, a]) == Array("two".utf8))
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: [c]) }
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: []) }

        let scrypt = try AgeScryptRecipient(passphrase: "pw", workFactor: 10)
        let locked = try Age.encrypt(Array("secret".utf8), to: [scrypt], armor: true)
        #expect(try Age.decrypt(locked, identities: [a, AgeScryptIdentity(passphrase: "pw")]) == Array("secret".utf8))
        #expect(throws: AgeError.noMatch) { try Age.decrypt(locked, identities: [AgeScryptIdentity(passphrase: "pW")]) }
        #expect(throws: AgeError.invalidArgument("a passphrase (scrypt) recipient must be the only recipient")) {
            try Age.encrypt([1], to: [scrypt, a.recipient])
        }
        #expect(throws: AgeError.self) { try AgeScryptRecipient(passphrase: "") }
        #expect(throws: AgeError.self) { try Age.encrypt([1], to: []) }
    }

    @Test func keyParsing() throws {
        let identity = AgeX25519Identity.generate()
        let encoded = identity.encoded()
        #expect(encoded.hasPrefix("AGE-SECRET-KEY-1") && encoded.count == 74)
        #expect(try AgeX25519Identity(encoded).recipient == identity.recipient)
        #expect(identity.recipient.description.hasPrefix("age1") && identity.recipient.description.count == 62)
        #expect(throws: AgeError.self) { try AgeX25519Identity(encoded.lowercased()) }          // HRP must be uppercase
        #expect(throws: AgeError.self) { try AgeX25519Recipient(identity.recipient.description.uppercased()) }
        #expect(throws: AgeError.self) { try AgeX25519Identity(identity.recipient.description) }
        #expect(throws: AgeError.self) { try AgeX25519Recipient(Bech32.encode(hrp: "age", data: [UInt8](repeating: 1, count: 31))) }
        #expect(throws: AgeError.self) { try Age.parseIdentities("# only a comment\n\n") }
        #expect(throws: AgeError.self) { try Age.parseIdentities("\(encoded)\nnot-a-key\n") }
        #expect(try Age.parseIdentities("# c\r\n\(encoded)\r\n\r\n").count == 1)
    }

    // MARK: Tampering

    /// Flipping any single header byte gives a header failure, HMAC failure or no match (never
    /// success, never a payload failure); flipping any payload byte gives a payload failure,
    /// except in the 16-byte nonce, which changes the payload key (also a payload failure).
    @Test func tamperingEveryByte() throws {
        let identity = AgeX25519Identity.generate()
        let plaintext = SecureRandom.bytes(70000)
        let file = try Age.encrypt(plaintext, to: [identity.recipient])
        let headerEnd = try #require(file.firstIndex(of: UInt8(ascii: "-"), after: "---")) + 3 + 1 + 43 + 1

        var headerOutcomes: [AgeOutcome: Int] = [:]
        for index in 0..<headerEnd {
            for flip: UInt8 in [0x01, 0x80] {
                var tampered = file
                tampered[index] ^= flip
                let result = decryptCollecting(tampered, identities: [identity], format: .binary)
                headerOutcomes[result.outcome, default: 0] += 1
                #expect([.headerFailure, .hmacFailure, .noMatch].contains(result.outcome), "header byte \(index) ^ \(flip): \(result.outcome)")
                #expect(result.released.isEmpty)
            }
        }
        #expect(headerOutcomes[.hmacFailure, default: 0] > 0 && headerOutcomes[.headerFailure, default: 0] > 0)

        // Payload: every byte of the nonce and of a sample of positions in both chunks.
        let payloadPositions = Array(headerEnd..<(headerEnd + 16)) + stride(from: headerEnd + 16, to: file.count, by: 97) + [file.count - 1]
        for index in payloadPositions {
            var tampered = file
            tampered[index] ^= 0x01
            let result = decryptCollecting(tampered, identities: [identity], format: .binary)
            #expect(result.outcome == .payloadFailure, "payload byte \(index): \(result.outcome)")
            // Whatever was released is a prefix of the plaintext, and only whole authenticated chunks.
            #expect(result.released == Array(plaintext.prefix(result.released.count)))
            #expect(result.released.count % 65536 == 0)
        }

        // Truncation and extension.
        for cut in [1, 15, 16, 17, 4480, 4481] {
            let result = decryptCollecting(Array(file.dropLast(cut)), identities: [identity], format: .binary)
            #expect(result.outcome == .payloadFailure, "truncated by \(cut)")
        }
        #expect(decryptCollecting(file + [0], identities: [identity], format: .binary).outcome == .payloadFailure)
        #expect(decryptCollecting(Array(file.prefix(headerEnd + 15)), identities: [identity], format: .binary).outcome == .headerFailure)
    }

    @Test func tamperingArmor() throws {
        let identity = AgeX25519Identity.generate()
        let file = try Age.encrypt(Array("hello".utf8), to: [identity.recipient], armor: true)
        let text = String(decoding: file, as: UTF8.self)
        #expect(text.hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----\n") && text.hasSuffix("\n-----END AGE ENCRYPTED FILE-----\n"))
        #expect(text.split(separator: "\n").dropFirst().dropLast().allSatisfy { $0.count <= 64 })
        // Whitespace around and CRLF are accepted; a byte of garbage after is not.
        #expect(try Age.decrypt(Array(" \n".utf8) + file + Array("\n\t".utf8), identities: [identity]) == Array("hello".utf8))
        let crlf = Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
        #expect(try Age.decrypt(crlf, identities: [identity]) == Array("hello".utf8))
        #expect(throws: AgeError.self) { try Age.decrypt(file + Array("x".utf8), identities: [identity]) }
        #expect(decryptCollecting(file + Array("x".utf8), identities: [identity]).outcome == .armorFailure)
    }
}

extension Array where Element == UInt8 {
    /// Index of the first occurrence of `marker` (as UTF-8) — used to find the "---" MAC line.
    func firstIndex(of _: UInt8, after marker: String) -> Int? {
        let needle = Array(("\n" + marker).utf8)
        guard count >= needle.count else { return nil }
        for start in 0...(count - needle.count) where self[start..<(start + needle.count)].elementsEqual(needle) {
            return start + 1
        }
        return nil
    }
}
