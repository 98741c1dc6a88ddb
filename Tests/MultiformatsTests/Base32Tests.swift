import Multiformats
import Testing

@Suite struct Base32Tests {
    // RFC 4648 §10 test vectors, lowercased and unpadded.
    @Test(arguments: [("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"),
                      ("fooba", "mzxw6ytb"), ("foobar", "mzxw6ytboi")])
    func rfc4648Vectors(plain: String, encoded: String) throws {
        #expect(Base32.encode(Array(plain.utf8)) == encoded)
        #expect(try Base32.decode(encoded) == Array(plain.utf8))
    }

    @Test func rejectsNonCanonical() {
        #expect(throws: MultiformatsError.nonCanonical) { try Base32.decode("mz") }  // 'z' leaves 2 set bits
        #expect(throws: MultiformatsError.invalidLength) { try Base32.decode("m") }
        #expect(throws: MultiformatsError.invalidLength) { try Base32.decode("mzx") }
        #expect(throws: MultiformatsError.invalidCharacter(offset: 0)) { try Base32.decode("MY") }
        #expect(throws: MultiformatsError.invalidCharacter(offset: 2)) { try Base32.decode("my==") }
    }

    @Test func roundTripsRandomBytes() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<80 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(try Base32.decode(Base32.encode(bytes)) == bytes)
        }
    }
}
