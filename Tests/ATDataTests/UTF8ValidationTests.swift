import ATData
import Testing

/// Text validation in both decoders (String(validatingUTF8Bytes:)): it decodes with repair and
/// compares, so the cases where repair keeps the byte length must still be rejected.
@Suite struct UTF8ValidationTests {
    /// Ill-formed sequences; the first three are replaced by one 3-byte U+FFFD each, the same
    /// length as the input, so only a byte comparison tells them apart from valid text.
    static let illFormed: [(String, [UInt8])] = [
        ("truncated 4-byte sequence", [0xf0, 0x90, 0x80, 0x41]),
        ("encoded surrogate", [0xed, 0xa0, 0x80]),
        ("overlong 3-byte", [0xe0, 0x80, 0xaf]),
        ("stray continuation", [0x41, 0x80, 0x42]),
        ("above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]),
        ("invalid byte", [0xff]),
        ("truncated at end", [0x41, 0xe2, 0x82]),
    ]

    @Test(arguments: illFormed)
    func dagCBORRejects(name: String, bytes: [UInt8]) {
        let item = [0x60 | UInt8(bytes.count)] + bytes  // text string, length < 24
        #expect(throws: DataError.invalidUTF8, "\(name)") { try DAGCBOR.decode(item) }
    }

    @Test(arguments: illFormed)
    func jsonRejects(name: String, bytes: [UInt8]) {
        #expect(throws: DataError.invalidUTF8, "\(name)") { try DataValue.fromJSON([0x22] + bytes + [0x22]) }
        // The escaped-string path validates its rebuilt buffer.
        #expect(throws: DataError.invalidUTF8, "\(name), escaped") {
            try DataValue.fromJSON(Array(#""\n"#.utf8) + bytes + [0x22])
        }
    }

    @Test func wellFormedTextIncludingAReplacementCharacterIsKept() throws {
        let text = "a\u{FFFD}é☕️🦋日本\u{0}"
        #expect(try DAGCBOR.decode(DAGCBOR.encode(.string(text))) == .string(text))
        #expect(try DataValue.fromJSON(DataValue.string(text).toJSON()) == .string(text))
    }
}
