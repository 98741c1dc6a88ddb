import ATCrypto
import Foundation
import Multiformats

/// A plain-text message rendered as RFC 5322 with MIME (RFC 2045-2047): `Date`, `From`, `To`,
/// `Subject`, `Message-ID`, `MIME-Version`, a UTF-8 `text/plain` body, and `Auto-Submitted`
/// (RFC 3834: no auto-replies to it). Headers are 7-bit: a non-ASCII subject or display name
/// becomes RFC 2047 encoded-words; a non-ASCII body is base64 (the server need not offer
/// 8BITMIME). Lines end in CRLF. Pure: the caller passes the time and the random part.
public struct EmailMessage: Sendable, Equatable {
    public var fromAddress: String
    public var fromName: String?
    public var to: String
    public var subject: String
    public var body: String

    public init(fromAddress: String, fromName: String? = nil, to: String, subject: String, body: String) {
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.to = to
        self.subject = subject
        self.body = body
    }

    /// The message bytes. `unixTime` is the `Date` (UTC); `messageID` is `<id>` without brackets.
    public func rendered(unixTime: Int64, messageID: String) -> [UInt8] {
        var lines = [
            "Date: " + Self.dateHeader(unixTime),
            "From: " + Self.mailbox(name: fromName, address: fromAddress),
            "To: " + to,
            "Subject: " + Self.encodedText(subject),
            "Message-ID: <\(messageID)>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Auto-Submitted: auto-generated",
        ]
        let text = body.replacingCRLF()
        if text.utf8.allSatisfy({ $0 < 128 }) {
            lines.append("Content-Transfer-Encoding: 7bit")
            lines.append("")
            lines.append(text)
        } else {
            lines.append("Content-Transfer-Encoding: base64")
            lines.append("")
            let encoded = Array(Base64.encode(Array(text.utf8), padded: true).utf8)
            // RFC 2045 §6.8: encoded lines of at most 76 characters.
            stride(from: 0, to: encoded.count, by: 76).forEach {
                lines.append(String(decoding: encoded[$0..<min($0 + 76, encoded.count)], as: UTF8.self))
            }
        }
        return Array((lines.joined(separator: "\r\n") + "\r\n").utf8)
    }

    /// A fresh Message-ID: random, at the sender's domain (RFC 5322 §3.6.4).
    public static func newMessageID(domain: String) -> String {
        Base16.encode(SecureRandom.bytes(16)) + "@" + domain
    }

    /// `Name <address>` with the name quoted or encoded as needed, or the bare address.
    static func mailbox(name: String?, address: String) -> String {
        guard let name, !name.isEmpty else { return address }
        if name.utf8.allSatisfy({ $0 >= 32 && $0 < 127 }) {
            let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\" <\(address)>"
        }
        return encodedText(name) + " <\(address)>"
    }

    /// Text for a header: as is when printable ASCII, else RFC 2047 `=?utf-8?b?…?=` words of at
    /// most 75 characters (split between characters, never inside a UTF-8 sequence).
    static func encodedText(_ text: String) -> String {
        let clean = text.replacingCRLF().replacingOccurrences(of: "\r\n", with: " ")
        if clean.utf8.allSatisfy({ $0 >= 32 && $0 < 127 }) { return clean }
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in clean {
            let bytes = Array(String(character).utf8)
            // 45 bytes encode to 60 base64 characters; with "=?utf-8?b?" and "?=" that is 72.
            if chunk.count + bytes.count > 45, !chunk.isEmpty {
                words.append("=?utf-8?b?" + Base64.encode(chunk, padded: true) + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?utf-8?b?" + Base64.encode(chunk, padded: true) + "?=") }
        return words.joined(separator: "\r\n ")
    }

    /// RFC 5322 §3.3 date-time in UTC: `Mon, 07 Dec 2026 03:24:03 +0000`.
    static func dateHeader(_ unixTime: Int64) -> String {
        let days = unixTime >= 0 ? unixTime / 86_400 : (unixTime - 86_399) / 86_400
        let seconds = unixTime - days * 86_400
        // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1]) \(year) \(two(seconds / 3600)):\(two(seconds % 3600 / 60)):\(two(seconds % 60)) +0000"
    }
}

extension String {
    /// Every line end (CR, LF or CRLF) as CRLF.
    func replacingCRLF() -> String {
        var output = ""
        var previousCR = false
        for scalar in unicodeScalars {
            if scalar == "\n" {
                if !previousCR { output += "\r\n" }
                previousCR = false
            } else if scalar == "\r" {
                output += "\r\n"
                previousCR = true
            } else {
                output.unicodeScalars.append(scalar)
                previousCR = false
            }
        }
        return output
    }
}
