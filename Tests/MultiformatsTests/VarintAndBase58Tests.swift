import Multiformats
import Testing

@Suite struct VarintTests {
    static let cases: [(UInt64, [UInt8])] = [
        (0, [0x00]), (1, [0x01]), (127, [0x7f]), (128, [0x80, 0x01]),
        (255, [0xff, 0x01]), (300, [0xac, 0x02]), (16384, [0x80, 0x80, 0x01]),
    ]

    @Test(arguments: cases)
    func knownEncodings(value: UInt64, bytes: [UInt8]) throws {
        #expect(Varint.encode(value) == bytes)
        let decoded = try Varint.decode(bytes + [0xaa])
        #expect(decoded.value == value && decoded.length == bytes.count)
    }

    @Test func rejectsNonMinimalTruncatedAndOverlong() {
        #expect(throws: MultiformatsError.invalidVarint) { try Varint.decode([0x80, 0x00]) }
        #expect(throws: MultiformatsError.invalidVarint) { try Varint.decode([0x80]) }
        #expect(throws: MultiformatsError.invalidVarint) { try Varint.decode([UInt8](repeating: 0xff, count: 9) + [0x01]) }
        #expect(throws: MultiformatsError.invalidVarint) { try Varint.decode([UInt8]()) }
    }
}

@Suite struct Base58Tests {
    // Vectors from the base58btc draft (draft-msporny-base58) and Bitcoin's test set.
    @Test(arguments: [("", ""), ("Hello World!", "2NEpo7TZRRrLZSi2U"),
                      ("The quick brown fox jumps over the lazy dog.", "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z")])
    func textVectors(plain: String, encoded: String) throws {
        #expect(Base58.encode(Array(plain.utf8)) == encoded)
        #expect(try Base58.decode(encoded) == Array(plain.utf8))
    }

    @Test func leadingZeros() throws {
        #expect(Base58.encode([0, 0, 0x28, 0x7f, 0xb4, 0xcd]) == "11233QC4")
        #expect(try Base58.decode("11233QC4") == [0, 0, 0x28, 0x7f, 0xb4, 0xcd])
        #expect(throws: MultiformatsError.invalidCharacter(offset: 1)) { try Base58.decode("10") }
    }

    @Test func multibasePrefixes() throws {
        let bytes: [UInt8] = [1, 2, 3, 250]
        for base in Multibase.Base.allCases {
            let text = Multibase.encode(bytes, base: base)
            let decoded = try Multibase.decode(text)
            #expect(decoded.base == base && decoded.bytes == bytes)
        }
        #expect(throws: MultiformatsError.unsupportedMultibase("f")) { try Multibase.decode("f0102") }
    }
}

@Suite struct Base16Tests {
    // RFC 4648 §10 test vectors (base16), lowercase on output.
    @Test func rfc4648Vectors() {
        let vectors = ["": "", "f": "66", "fo": "666f", "foo": "666f6f", "foob": "666f6f62", "fooba": "666f6f6261", "foobar": "666f6f626172"]
        for (plain, hex) in vectors {
            #expect(Base16.encode(Array(plain.utf8)) == hex)
            #expect(Base16.decode(hex) == Array(plain.utf8))
            #expect(Base16.decode(hex.uppercased()) == Array(plain.utf8))
        }
    }

    @Test func malformedTextIsRefused() {
        #expect(Base16.decode("abc") == nil)
        #expect(Base16.decode("zz") == nil)
        #expect(Base16.decode("0g") == nil)
    }
}
