import Multiformats
import Testing

@Suite struct Base64Tests {
    @Test(arguments: [("", "", ""), ("f", "Zg", "Zg=="), ("fo", "Zm8", "Zm8="), ("foo", "Zm9v", "Zm9v"),
                      ("foob", "Zm9vYg", "Zm9vYg=="), ("fooba", "Zm9vYmE", "Zm9vYmE="), ("foobar", "Zm9vYmFy", "Zm9vYmFy")])
    func rfc4648Vectors(plain: String, unpadded: String, padded: String) throws {
        #expect(Base64.encode(Array(plain.utf8)) == unpadded)
        #expect(Base64.encode(Array(plain.utf8), padded: true) == padded)
        #expect(try Base64.decode(unpadded) == Array(plain.utf8))
        #expect(try Base64.decode(padded, padding: .optional) == Array(plain.utf8))
        #expect(try Base64.decode(padded, padding: .required) == Array(plain.utf8))
    }

    @Test func urlSafeAlphabet() throws {
        let bytes: [UInt8] = [0xfb, 0xff, 0xbf]
        #expect(Base64.encode(bytes) == "+/+/")
        #expect(Base64.encode(bytes, alphabet: .urlSafe) == "-_-_")
        #expect(try Base64.decode("-_-_", alphabet: .urlSafe) == bytes)
        #expect(throws: MultiformatsError.self) { try Base64.decode("-_-_") }
    }

    @Test func rejectsBadInput() {
        #expect(throws: MultiformatsError.nonCanonical) { try Base64.decode("Zh") }  // trailing bits set
        #expect(throws: MultiformatsError.invalidLength) { try Base64.decode("Z") }
        #expect(throws: MultiformatsError.self) { try Base64.decode("Zg==") }  // padding forbidden
        #expect(throws: MultiformatsError.invalidLength) { try Base64.decode("Zg=", padding: .optional) }
        #expect(throws: MultiformatsError.invalidLength) { try Base64.decode("Zg", padding: .required) }
        #expect(throws: MultiformatsError.invalidCharacter(offset: 1)) { try Base64.decode("Z g") }
    }
}
