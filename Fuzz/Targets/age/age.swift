// age file decryption (ATCrypto Age): armor, the textual header (AgeHeader), stanza unwrapping
// for X25519 and scrypt identities, the header MAC and the payload stream. Seeds are files
// encrypted to this target's own identities, so every stage is reachable; run-all.sh adds the
// age testkit's identities (FUZZ_AGE_IDENTITIES) for the testkit's files.
import ATCrypto
import FuzzSupport

let x25519 = AgeX25519Identity(privateKey: try! X25519.PrivateKey(rawRepresentation: [UInt8](repeating: 3, count: 32)))
// A low ceiling keeps each scrypt attempt around a millisecond; the parser and limits are the same.
let scrypt = AgeScryptIdentity(passphrase: "fuzz", maxWorkFactor: 10)
nonisolated(unsafe) var identities: [any AgeIdentity] = [x25519, scrypt]

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    if let file = environment("FUZZ_AGE_IDENTITIES"), let text = readFile(file),
       let more = try? Age.parseIdentities(String(decoding: text, as: UTF8.self)) {
        identities += more.prefix(4).map { $0 as any AgeIdentity }
    }
    writeSeeds {
        var seeds: [(String, [UInt8])] = []
        let plaintexts: [(String, [UInt8])] = [("empty", []), ("hello", Array("hello".utf8)), ("chunk", [UInt8](repeating: 0x41, count: 65536 + 10))]
        for (name, plaintext) in plaintexts {
            if let file = try? Age.encrypt(plaintext, to: [x25519.recipient]) { seeds.append(("x25519-\(name)", file)) }
            if let file = try? Age.encrypt(plaintext, to: [x25519.recipient], armor: true) { seeds.append(("x25519-armor-\(name)", file)) }
            if let recipient = try? AgeScryptRecipient(passphrase: "fuzz", workFactor: 2),
               let file = try? Age.encrypt(plaintext, to: [recipient]) { seeds.append(("scrypt-\(name)", file)) }
        }
        let other = AgeX25519Identity(privateKey: try! X25519.PrivateKey(rawRepresentation: [UInt8](repeating: 4, count: 32)))
        if let file = try? Age.encrypt(Array("two".utf8), to: [other.recipient, x25519.recipient]) { seeds.append(("two-recipients", file)) }
        return seeds
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    _ = try? Age.decrypt(bytes, identities: identities)
    _ = try? Age.decrypt(bytes, identities: [x25519], format: .binary)
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
