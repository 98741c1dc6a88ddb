import Multiformats

/// The byte-level rules of a submission (pure; the connection is `SMTPClient`'s).
public enum SMTPDialogue {
    /// The SASL mechanisms this client speaks (RFC 4954), in order of preference.
    public enum AuthMechanism: String, Sendable, CaseIterable {
        /// RFC 4616: one message, `authzid NUL authcid NUL password`, base64.
        case plain = "PLAIN"
        /// The common (draft-murchison-sasl-login) user-name then password exchange.
        case login = "LOGIN"
    }

    /// The mechanism to use among those the server's EHLO `AUTH` line offers.
    public static func chooseMechanism(offered: [String]) -> AuthMechanism? {
        AuthMechanism.allCases.first { offered.contains($0.rawValue) }
    }

    /// `AUTH PLAIN` with its initial response (RFC 4954 §4, RFC 4616 §2; empty authzid).
    public static func plainInitialResponse(username: String, password: String) -> String {
        Base64.encode([0] + Array(username.utf8) + [0] + Array(password.utf8), padded: true)
    }

    /// One base64 line of the LOGIN exchange.
    public static func loginResponse(_ text: String) -> String {
        Base64.encode(Array(text.utf8), padded: true)
    }

    /// The DATA payload (RFC 5321 §4.1.1.4, §4.5.2): line ends normalised to CRLF, a `.` doubled
    /// at the start of every line (dot-stuffing, so no line is the end marker), and the
    /// terminating `CRLF.CRLF`.
    public static func dataPayload(_ message: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.count + message.count / 64 + 5)
        var atLineStart = true
        var index = 0
        while index < message.count {
            let byte = message[index]
            if atLineStart && byte == UInt8(ascii: ".") { output.append(UInt8(ascii: ".")) }
            switch byte {
            case UInt8(ascii: "\r"):
                output += [13, 10]
                if index + 1 < message.count, message[index + 1] == 10 { index += 1 }
                atLineStart = true
            case 10:
                output += [13, 10]
                atLineStart = true
            default:
                output.append(byte)
                atLineStart = false
            }
            index += 1
        }
        if !atLineStart || output.isEmpty { output += [13, 10] }
        output += Array(".\r\n".utf8)
        return output
    }

    /// A command line's argument must not be able to end the line early (no CR, LF or NUL).
    public static func isSafeArgument(_ text: String) -> Bool {
        !text.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 }
    }
}
