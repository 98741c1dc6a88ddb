// Runs every line of the atproto interop syntax vectors (shared/vectors/interop/syntax) through
// the matching parser. Each rejected-but-valid or accepted-but-invalid line gets its own failure
// message, so a regression names the exact input.
import ATSyntax
import TestSupport
import Testing

/// Quotes a vector line for a failure message, keeping whitespace visible and long lines short.
func show(_ line: String) -> String {
    let shown = line.count > 80 ? String(line.prefix(60)) + "… (\(line.utf8.count) bytes)" : line
    return "\"\(shown)\""
}

/// The error a parse threw, or nil when it succeeded.
func failure(_ body: () throws(SyntaxError) -> Void) -> SyntaxError? {
    do { try body(); return nil } catch { return error }
}

/// Checks `<name>_syntax_valid.txt` and `<name>_syntax_invalid.txt` against `parse`, and returns
/// how many lines were checked so a test can assert the files were not empty.
@discardableResult
func checkVectors(_ name: String, _ parse: (String) throws(SyntaxError) -> Void) throws -> Int {
    let valid = try SharedVectors.lines("interop/syntax/\(name)_syntax_valid.txt")
    let invalid = try SharedVectors.lines("interop/syntax/\(name)_syntax_invalid.txt")
    #expect(!valid.isEmpty && !invalid.isEmpty, "\(name) vector files are empty")
    for line in valid {
        let error = failure { () throws(SyntaxError) in try parse(line) }
        #expect(error == nil, "\(name) should accept \(show(line)), but: \(error?.message ?? "")")
    }
    for line in invalid {
        let error = failure { () throws(SyntaxError) in try parse(line) }
        #expect(error != nil, "\(name) should reject \(show(line))")
        if let error { #expect(!error.message.isEmpty) }
    }
    return valid.count + invalid.count
}

@Suite("Interop syntax vectors", .enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))

struct VectorTests {
    @Test func did() throws { try checkVectors("did") { s throws(SyntaxError) in _ = try DID(s) } }
    @Test func handle() throws { try checkVectors("handle") { s throws(SyntaxError) in _ = try Handle(s) } }
    @Test func nsid() throws { try checkVectors("nsid") { s throws(SyntaxError) in _ = try NSID(s) } }
    @Test func atURI() throws { try checkVectors("aturi") { s throws(SyntaxError) in _ = try ATURI(s) } }
    @Test func atIdentifier() throws {
        try checkVectors("atidentifier") { s throws(SyntaxError) in _ = try ATIdentifier(s) }
    }
    @Test func tid() throws { try checkVectors("tid") { s throws(SyntaxError) in _ = try TID(s) } }
    @Test func recordKey() throws { try checkVectors("recordkey") { s throws(SyntaxError) in _ = try RecordKey(s) } }
    @Test func cid() throws { try checkVectors("cid") { s throws(SyntaxError) in _ = try CIDString(s) } }
    @Test func uri() throws { try checkVectors("uri") { s throws(SyntaxError) in _ = try URIString(s) } }

    /// Syntax-level datetime vectors hold for both the shape check and the full parse (every
    /// syntax-valid vector is also a real date).
    @Test func datetimeSyntax() throws {
        try checkVectors("datetime") { s throws(SyntaxError) in try Datetime.validateSyntax(s) }
        try checkVectors("datetime") { s throws(SyntaxError) in _ = try Datetime(s) }
    }

    @Test func datetimeParseInvalid() throws {
        let lines = try SharedVectors.lines("interop/syntax/datetime_parse_invalid.txt")
        #expect(!lines.isEmpty)
        for line in lines {
            let syntax = failure { () throws(SyntaxError) in try Datetime.validateSyntax(line) }
            #expect(syntax == nil, "datetime syntax should accept \(show(line)), but: \(syntax?.message ?? "")")
            let parse = failure { () throws(SyntaxError) in _ = try Datetime(line) }
            #expect(parse != nil, "datetime parse should reject \(show(line))")
        }
    }

    @Test func languageSyntax() throws {
        try checkVectors("language") { s throws(SyntaxError) in try LanguageTag.validateSyntax(s) }
        try checkVectors("language") { s throws(SyntaxError) in _ = try LanguageTag(s) }
    }

    @Test func languageParseInvalid() throws {
        let lines = try SharedVectors.lines("interop/syntax/language_parse_invalid.txt")
        #expect(!lines.isEmpty)
        for line in lines {
            let syntax = failure { () throws(SyntaxError) in try LanguageTag.validateSyntax(line) }
            #expect(syntax == nil, "language syntax should accept \(show(line)), but: \(syntax?.message ?? "")")
            let parse = failure { () throws(SyntaxError) in _ = try LanguageTag(line) }
            #expect(parse != nil, "language parse should reject \(show(line))")
        }
    }
}
