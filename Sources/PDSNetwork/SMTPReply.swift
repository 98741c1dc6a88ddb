/// One SMTP reply (RFC 5321 §4.2): a three-digit code and its text lines. A multi-line reply
/// is `250-first`, `250-…`, `250 last`; every line carries the same code.
public struct SMTPReply: Sendable, Equatable {
    public var code: Int
    public var lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    /// 2xx (RFC 5321 §4.2.1).
    public var isPositive: Bool { (200..<300).contains(code) }
    /// 3xx: the server waits for more (DATA's 354, AUTH's 334).
    public var isIntermediate: Bool { (300..<400).contains(code) }
    /// 5xx: sending the same again will fail again (RFC 5321 §4.2.1).
    public var isPermanentFailure: Bool { (500..<600).contains(code) }

    /// The reply as one line for logs and errors.
    public var summary: String { "\(code) " + lines.joined(separator: " / ") }

    /// The EHLO keywords (RFC 5321 §4.1.1.1: every line after the greeting line), upper-cased,
    /// each with its parameters: `["AUTH": ["PLAIN", "LOGIN"], "STARTTLS": [], …]`.
    public var extensions: [String: [String]] {
        var result: [String: [String]] = [:]
        for line in lines.dropFirst() {
            let words = line.split(separator: " ").map { String($0).uppercased() }
            guard let keyword = words.first else { continue }
            result[keyword] = Array(words.dropFirst())
        }
        return result
    }
}

/// Assembles replies from lines as they arrive.
public struct SMTPReplyParser: Sendable {
    /// A line that is not `ddd`, `ddd text` or `ddd-text`, or a continuation with another code.
    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let line: String
        public var description: String { "malformed SMTP reply line: \(line.prefix(80))" }
    }

    private var code: Int?
    private var lines: [String] = []

    public init() {}

    /// Feeds one line (without CRLF); returns the reply when this line completed one.
    public mutating func consume(_ line: String) throws(Malformed) -> SMTPReply? {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes[0...2].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              (2...5).contains(bytes[0] - UInt8(ascii: "0"))
        else { throw Malformed(line: line) }
        let lineCode = Int(String(decoding: bytes[0...2], as: UTF8.self))!
        if let code, code != lineCode { throw Malformed(line: line) }
        let separator = bytes.count > 3 ? bytes[3] : UInt8(ascii: " ")
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { throw Malformed(line: line) }
        code = lineCode
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        guard separator == UInt8(ascii: " ") else { return nil }
        let reply = SMTPReply(code: lineCode, lines: lines)
        code = nil
        lines = []
        return reply
    }
}
