import ATCrypto
import Testing

@Suite struct Bech32Tests {
    // BIP 173 "valid Bech32" strings (checksum constant 1).
    @Test(arguments: [
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    ])
    func bip173ValidChecksums(text: String) throws {
        // Some of these carry non-canonical padding bits in their data, so only the checksum and
        // structure are asserted via a decode that may reject padding.
        do {
            let (hrp, data) = try Bech32.decode(text)
            let reencoded = Bech32.encode(hrp: hrp, data: data)
            #expect(reencoded == text.lowercased())
        } catch let error {
            #expect(error == .invalidPadding)
        }
    }

    // BIP 173 invalid strings.
    @Test(arguments: [
        ("\u{20}1nwldj5", Bech32Error.invalidCharacter),
        ("\u{7F}1axkwrx", .invalidCharacter),
        ("pzry9x0s0muk", .missingSeparator),
        ("1pzry9x0s0muk", .invalidLength),
        ("x1b4n0q5v", .invalidCharacter),
        ("li1dgmt3", .invalidLength),
        ("A1G7SGD8", .invalidChecksum),
        ("10a06t8", .invalidLength),
        ("1qzzfhee", .invalidLength),
        ("a12UEL5L", .mixedCase),
    ])
    func bip173Invalid(text: String, error: Bech32Error) {
        #expect(throws: error) { try Bech32.decode(text) }
    }

    @Test func roundTripAndCase() throws {
        let data = [UInt8](0..<32)
        let lower = Bech32.encode(hrp: "age", data: data)
        #expect(lower.hasPrefix("age1") && lower.count == 62)
        #expect(try Bech32.decode(lower).data == data)
        let upper = lower.uppercased()
        let decoded = try Bech32.decode(upper)
        #expect(decoded.hrp == "AGE" && decoded.data == data)  // the HRP keeps its case
        // No 90-character limit (age identities are 74, post-quantum recipients ~2000).
        let long = Bech32.encode(hrp: "age1pq", data: [UInt8](repeating: 7, count: 1216))
        #expect(long.count > 1900)
        #expect(try Bech32.decode(long).data.count == 1216)
        // A flipped character breaks the checksum.
        var broken = Array(lower.utf8)
        broken[10] = broken[10] == UInt8(ascii: "q") ? UInt8(ascii: "p") : UInt8(ascii: "q")
        #expect(throws: Bech32Error.invalidChecksum) { try Bech32.decode(String(decoding: broken, as: UTF8.self)) }
    }
}
