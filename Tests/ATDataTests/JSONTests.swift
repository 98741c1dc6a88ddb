import ATData
import Foundation
import Testing

/// Parser and writer edge cases: RFC 8259 grammar, the extra strictness (duplicates, surrogates,
/// UTF-8), limits, and the atproto number rules.
@Suite struct JSONTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func parsesAllValueKindsAndPreservesMemberOrder() throws {
        let value = try JSONValue.parse(#" { "z" : [ 1 , -2.5e3 , true , false , null ] , "a" : { } , "m" : "x" } "#)
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(value["z"]?.arrayValue?.count == 5)
        #expect(value["z"]?.arrayValue?[1].numberValue?.text == "-2.5e3")
        #expect(value["z"]?.arrayValue?[1].doubleValue == -2500)
        #expect(value.serializedString == #"{"z":[1,-2.5e3,true,false,null],"a":{},"m":"x"}"#)
    }

    @Test(arguments: [
        ("", "empty input"), ("   ", "whitespace only"), ("01", "leading zero"), ("-01", "negative leading zero"),
        ("00.5", "leading zeros before fraction"), ("1.", "no fraction digits"), (".5", "no integer part"),
        ("+1", "plus sign"), ("1e", "no exponent digits"), ("1e+", "no exponent digits after sign"), ("-", "lone minus"),
        ("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("0x10", "hex"), ("[1,]", "trailing comma in array"),
        ("{\"a\":1,}", "trailing comma in object"), ("{'a':1}", "single quotes"), ("{a:1}", "bare key"), ("[01]", "leading zero in array"),
        ("1 2", "two values"), ("{} x", "trailing garbage"), ("[1] ]", "extra bracket"), ("tru", "truncated literal"),
        ("True", "capitalised literal"), ("nul", "truncated null"), ("[", "unterminated array"), ("{\"a\"", "unterminated object"),
        ("{\"a\" 1}", "missing colon"), ("[1 2]", "missing comma"), ("\"abc", "unterminated string"), ("\u{FEFF}1", "byte-order mark"),
        ("\u{0C}1", "form feed is not JSON whitespace"), ("\u{A0}1", "no-break space is not JSON whitespace"), ("[1,,2]", "double comma"),
        ("{,}", "comma in empty object"), ("\"a\\x\"", "invalid escape"), ("\"\\u12G4\"", "bad hex in \\u"), ("\"\\u12\"", "short \\u"),
        ("\"a\tb\"", "raw tab in string"), ("\"a\nb\"", "raw newline in string"), ("\"\u{0}\"", "raw NUL in string"),
        ("// c\n1", "comments"), ("{\"a\":1}}", "extra brace"),
    ])
    func rejectsInvalidSyntax(text: String, why: String) {
        #expect(throws: DataError.self, "\(why) must be rejected") { try JSONValue.parse(text) }
        #expect(throws: DataError.self, "\(why) must be rejected") { try DataValue.fromJSON(text) }
    }

    @Test func reportsTheOffsetOfSyntaxErrors() {
        #expect(throws: DataError.invalidJSON("expected ',' or ']'", offset: 3)) { try JSONValue.parse("[1 2]") }
        #expect(throws: DataError.invalidJSON("leading zeros are not allowed", offset: 2)) { try JSONValue.parse("[01]") }
        #expect(throws: DataError.invalidJSON("unexpected data after the top-level value", offset: 3)) { try JSONValue.parse("{} x") }
    }

    @Test func acceptsAllRFCWhitespaceAndScalarsAtTopLevel() throws {
        #expect(try JSONValue.parse(" \t\r\n[ \t\r\n1 \t\r\n] \t\r\n") == [1])
        #expect(try JSONValue.parse("\"x\"") == "x")
        #expect(try JSONValue.parse("0") == .number(JSONNumber(0)))
        #expect(try JSONValue.parse("-0").numberValue?.text == "-0")
        #expect(try JSONValue.parse("null") == .null)
        #expect(try DataValue.fromJSON("true") == .bool(true))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let text = #""\"\\\/\b\f\n\r\t\u0000\u00e9\u4e2D\ud83d\ude00x""#
        #expect(try JSONValue.parse(text) == .string("\"\\/\u{8}\u{C}\n\r\t\u{0}é中😀x"))
        #expect(try DataValue.fromJSON(text) == .string("\"\\/\u{8}\u{C}\n\r\t\u{0}é中😀x"))
        // Escaped and raw spellings of the same text are the same string.
        #expect(try JSONValue.parse(#""\u00e9""#) == JSONValue.parse("\"é\""))
        // DEL and U+2028 need no escape.
        #expect(try JSONValue.parse("\"\u{7F}\u{2028}\"") == .string("\u{7F}\u{2028}"))
    }

    @Test(arguments: [
        (#""\ud83d""#, "lone high surrogate at end"), (#""\ud83dx""#, "high surrogate followed by text"),
        (#""\ud83d\u0041""#, "high surrogate followed by a non-surrogate escape"), (#""\ude00""#, "lone low surrogate"),
        (#""\ude00\ud83d""#, "reversed pair"), (#""\ud83d\ud83d""#, "two high surrogates"), (#""\uDBFF\n""#, "high then other escape"),
    ])
    func rejectsUnpairedSurrogates(text: String, why: String) {
        #expect(throws: DataError.self, "\(why) must be rejected") { try JSONValue.parse(text) }
        #expect(throws: DataError.self, "\(why) must be rejected") { try JSONValue.parse("{\(text):1}") }
    }

    @Test func rejectsInvalidUTF8() {
        let cases: [(String, [UInt8])] = [
            ("lone continuation", [0x22, 0x80, 0x22]),
            ("bad second byte", [0x22, 0xc3, 0x28, 0x22]),
            ("overlong slash", [0x22, 0xc0, 0xaf, 0x22]),
            ("overlong 3-byte", [0x22, 0xe0, 0x80, 0xaf, 0x22]),
            ("encoded surrogate", [0x22, 0xed, 0xa0, 0x80, 0x22]),
            ("truncated sequence", [0x22, 0xe2, 0x82, 0x22]),
            ("beyond U+10FFFF", [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]),
            ("0xFF", [0x22, 0xff, 0x22]),
            ("invalid byte after an escape", [0x22, 0x5c, 0x6e, 0xc3, 0x22]),
            ("invalid byte in a key", [0x7b, 0x22, 0xc3, 0x22, 0x3a, 0x31, 0x7d]),
            ("non-ASCII outside a string", [0x5b, 0xc3, 0xa9, 0x5d]),
        ]
        for (name, input) in cases {
            #expect(throws: DataError.self, "\(name) must be rejected") { try JSONValue.parse(input) }
            #expect(throws: DataError.self, "\(name) must be rejected") { try DataValue.fromJSON(input) }
        }
        #expect(throws: DataError.invalidUTF8) { try JSONValue.parse([0x22, 0xed, 0xa0, 0x80, 0x22]) }
    }

    @Test func rejectsDuplicateKeysWithAClearError() throws {
        #expect(throws: DataError.badMapKey("duplicate key \"a\" in JSON object at byte 7")) {
            try JSONValue.parse(#"{"a":1,"a":2}"#)
        }
        #expect(throws: DataError.self) { try DataValue.fromJSON(#"{"a":1,"a":2}"#) }
        #expect(throws: DataError.self) { try DataValue.fromJSON(#"{"x":{"a":1,"b":2,"a":1}}"#) }
        // Escaped and raw spellings of one key are the same key.
        #expect(throws: DataError.self) { try JSONValue.parse(#"{"é":1,"\u00e9":2}"#) }
        // Large objects switch to a hash set; duplicates far apart are still found.
        var members = (0..<100).map { "\"k\($0)\":\($0)" }
        #expect(try JSONValue.parse("{" + members.joined(separator: ",") + "}").objectValue?.count == 100)
        members.append("\"k3\":0")
        #expect(throws: DataError.self) { try JSONValue.parse("{" + members.joined(separator: ",") + "}") }
        #expect(throws: DataError.self) { try DataValue.fromJSON("{" + members.joined(separator: ",") + "}") }
    }

    @Test func enforcesDepthLimitWithoutOverflowingTheStack() throws {
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        #expect(try JSONValue.parse(nested(64)).arrayValue != nil)
        #expect(throws: DataError.limitExceeded("JSON nesting deeper than 64")) { try JSONValue.parse(nested(65)) }
        #expect(throws: DataError.self) { try DataValue.fromJSON(nested(65)) }
        // Hostile depth fails at the limit, long before the stack.
        #expect(throws: DataError.self) { try JSONValue.parse(String(repeating: "[", count: 1_000_000)) }
        #expect(throws: DataError.self) { try JSONValue.parse(String(repeating: "{\"a\":", count: 100_000)) }
        let custom = JSONLimits(maxDepth: 3)
        #expect(try JSONValue.parse(nested(3), limits: custom).arrayValue != nil)
        #expect(throws: DataError.self) { try JSONValue.parse(nested(4), limits: custom) }
    }

    @Test func enforcesSizeAndContainerLimits() throws {
        let limits = JSONLimits(maxInputSize: 10, maxContainerLength: 3)
        #expect(throws: DataError.self) { try JSONValue.parse("[1,2,3,4,5]", limits: limits) }
        #expect(try JSONValue.parse("[1,2,3]", limits: limits).arrayValue?.count == 3)
        #expect(throws: DataError.self) { try JSONValue.parse("[1,2,3,4]", limits: limits) }
        #expect(throws: DataError.self) { try JSONValue.parse(#"{"a":1,"b":2,"c":3,"d":4}"#, limits: JSONLimits(maxContainerLength: 3)) }
        #expect(throws: DataError.self) { try DataValue.fromJSON("[1,2,3,4]", limits: limits) }
    }

    @Test func atprotoNumbersAreIntegers() throws {
        let accepted: [(String, Int64)] = [
            ("0", 0), ("-0", 0), ("123", 123), ("123.0", 123), ("123.000", 123), ("1e2", 100), ("1E+2", 100), ("100e-2", 1),
            ("10e-1", 1), ("1e-0", 1), ("0.0e5", 0), ("-0.0", 0), ("1.5e1", 15), ("0.000e-99999999999999999999", 0),
            ("9223372036854775807", .max), ("-9223372036854775808", .min), ("-999999999999999999", -999_999_999_999_999_999),
            ("9007199254740991.0", 9_007_199_254_740_991), ("-9007199254740991.0", -9_007_199_254_740_991),
            ("9.007199254740991e15", 9_007_199_254_740_991), ("123456789012345678", 123_456_789_012_345_678),
        ]
        for (text, expected) in accepted {
            #expect(try DataValue.fromJSON(text) == .integer(expected), "\(text)")
            #expect(try DataValue(json: JSONValue.parse(text)) == .integer(expected), "\(text) via JSONValue")
        }
        let rejected: [(String, String)] = [
            ("123.456", "fraction"), ("0.5", "fraction"), ("1e-1", "negative exponent fraction"), ("-1.25", "negative fraction"),
            ("1.0000000000000000000001", "tiny fraction"), ("9223372036854775808", "Int64.max + 1"),
            ("-9223372036854775809", "Int64.min - 1"), ("99999999999999999999999999", "huge literal"),
            ("9007199254740992.0", "2^53 as a float spelling"), ("1e16", "1e16 beyond 2^53"), ("1e400", "beyond Double"),
            ("1e99999999999999999999999999", "huge exponent"), ("1e-99999999999999999999999999", "tiny exponent"),
        ]
        for (text, why) in rejected {
            #expect(throws: DataError.self, "\(text) (\(why)) must be rejected") { try DataValue.fromJSON(text) }
            #expect(throws: DataError.self, "\(text) (\(why)) must be rejected via JSONValue") { try DataValue(json: JSONValue.parse(text)) }
        }
        #expect(throws: DataError.integerOutOfRange) { try DataValue.fromJSON("9223372036854775808") }
        // A megabyte of digits is rejected quickly with a short message.
        let huge = "1" + String(repeating: "0", count: 1_000_000) + ".5"
        do {
            _ = try DataValue.fromJSON(huge)
            Issue.record("huge number accepted")
        } catch {
            #expect(error.description.count < 200)
        }
    }

    @Test func generalNumbersKeepTheirText() throws {
        let value = try JSONValue.parse("[1.50, 1e400, -0.0, 12345678901234567890123, 2.5E-3]")
        #expect(value.arrayValue?.map { $0.numberValue!.text } == ["1.50", "1e400", "-0.0", "12345678901234567890123", "2.5E-3"])
        #expect(value.serializedString == "[1.50,1e400,-0.0,12345678901234567890123,2.5E-3]")
        #expect(value.arrayValue?[0].doubleValue == 1.5)
        #expect(value.arrayValue?[0].int64Value == nil)
        #expect(value.arrayValue?[3].int64Value == nil)
        #expect(JSONNumber("1e2")?.int64Value == 100)
        #expect(JSONNumber("1e18")?.int64Value == 1_000_000_000_000_000_000)
        #expect(JSONNumber("-9.223372036854775808e18")?.int64Value == .min)
        #expect(JSONNumber("01") == nil)
        #expect(JSONNumber("1.") == nil)
        #expect(JSONNumber(" 1") == nil)
        #expect(JSONNumber(0.1)?.text == "0.1")
        #expect(JSONNumber(Double.nan) == nil)
        #expect(JSONNumber(1e-7).map { JSONNumber($0.text) != nil } == true)
        let literal: JSONValue = ["a": 1, "b": 2.5, "c": [nil, true, "s"]]
        #expect(literal.serializedString == #"{"a":1,"b":2.5,"c":[null,true,"s"]}"#)
    }

    @Test func escapesControlCharactersAndKeepsUnicode() throws {
        var all = ""
        for scalar in 0..<0x20 { all.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        all += "\"\\/é中😀\u{7F}\u{2028}"
        let json = JSONValue.string(all).serializedString
        #expect(json == #""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
            + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
            + "\\\"\\\\/é中😀\u{7F}\u{2028}\"")
        #expect(try JSONValue.parse(json) == .string(all))
        #expect(try DataValue.fromJSON(json) == .string(all))
        let foundation = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) as? String
        #expect(foundation == all)
    }

    @Test func serializesDataValuesCompactlyAndDeterministically() throws {
        let cid = try CID(string: "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a")
        let value: DataValue = ["b": .bytes([0x9c, 0x51]), "a": .link(cid), "c": [1, -2, nil, true, "x"], "$type": "t", "": .map([:])]
        #expect(value.jsonString == #"{"":{},"$type":"t","a":{"$link":"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},"b":{"$bytes":"nFE"},"c":[1,-2,null,true,"x"]}"#)
        #expect(value.jsonValue.serializedString == value.jsonString)
        #expect(try DataValue.fromJSON(value.toJSON()) == value)
        #expect(DataValue.integer(.min).jsonString == "-9223372036854775808")
        #expect(DataValue.integer(.max).jsonString == "9223372036854775807")
    }

    @Test func bytesAcceptPaddingAndTrailingBitsAndRejectOtherAlphabets() throws {
        #expect(try DataValue.fromJSON(#"{"$bytes":"nFE="}"#) == .bytes([0x9c, 0x51]))
        #expect(try DataValue.fromJSON(#"{"$bytes":"nFE"}"#) == .bytes([0x9c, 0x51]))
        #expect(try DataValue.fromJSON(#"{"$bytes":""}"#) == .bytes([]))
        #expect(throws: DataError.self, "URL-safe alphabet") { try DataValue.fromJSON(#"{"$bytes":"-_8"}"#) }
        // Non-zero trailing bits name the same bytes; the interop Lexicon vectors accept them
        // (`{"$bytes": "123"}` in record-data-valid.json), so `$bytes` does too. The codec itself
        // stays strict (Base64Tests).
        #expect(try DataValue.fromJSON(#"{"$bytes":"nFF"}"#) == .bytes([0x9c, 0x51]))
        #expect(throws: DataError.self, "partial padding") { try DataValue.fromJSON(#"{"$bytes":"nF="}"#) }
        #expect(throws: DataError.self, "whitespace") { try DataValue.fromJSON(#"{"$bytes":"nF E"}"#) }
    }

    @Test func linkObjectsAreStrictByDefaultAndPlainMapsWhenLenient() throws {
        let cid = "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
        let cases = [
            #"{"$link":"\#(cid)","x":1}"#, #"{"$link":1}"#, #"{"$link":null}"#, #"{"$bytes":"nFE","x":1}"#, #"{"$bytes":[1]}"#,
            #"{"$type":null}"#, #"{"$type":""}"#, #"{"$type":7}"#, #"{"$type":"blob","size":1,"mimeType":"a/b"}"#,
        ]
        for text in cases {
            #expect(throws: DataError.self, "strict must reject \(text)") { try DataValue.fromJSON(text) }
            let lenient = try DataValue.fromJSON(text, mode: .lenient)
            #expect(lenient.mapValue != nil, "lenient keeps \(text) as a map")
            #expect(throws: DataError.self, "validation must reject \(text)") { try DataModel.validate(lenient) }
        }
        // A well-formed single-key object with a bad CID is an error in both modes.
        #expect(throws: DataError.self) { try DataValue.fromJSON(#"{"$link":"."}"#, mode: .lenient) }
        #expect(throws: DataError.self) { try DataValue.fromJSON(#"{"$link":"Qmabc"}"#) }
        // DAG-JSON's "/" form has no meaning in atproto JSON.
        #expect(try DataValue.fromJSON(#"{"/":"\#(cid)"}"#) == ["/": .string(cid)])
        // Errors name the object's position.
        #expect(throws: DataError.invalidValue("a $link object must have no other keys (found 1 more) (object at byte 5)")) {
            try DataValue.fromJSON(#"{"a":{"$link":"\#(cid)","x":1}}"#)
        }
    }

    @Test func jsonObjectEditing() {
        var object = JSONObject()
        object["b"] = 1
        object["a"] = 2
        object["b"] = 3
        #expect(object.keys == ["b", "a"])
        #expect(object["b"] == 3)
        object["b"] = nil
        #expect(object.keys == ["a"])
        #expect(Array(object).map(\.0) == ["a"])
        let literal: JSONValue = ["x": 1, "y": 2, "x": 3]
        #expect(literal.objectValue?.keys == ["x", "y"])
        #expect(literal["x"] == 3)
    }
}
