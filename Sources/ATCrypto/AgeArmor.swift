import Multiformats

/// age's ASCII armor: strict PEM (RFC 7468 §3, figure 3) with the case-sensitive label
/// `AGE ENCRYPTED FILE`, padded standard base64 in 64-column lines (age spec, "ASCII armor").
///
/// Armor is malleable unless parsed strictly, so the decoder rejects everything the spec lets it
/// reject: headers inside the block, blank lines, short or long lines, whitespace inside lines,
/// missing or extra padding, non-canonical base64, and data before or after the block. It accepts
/// what the spec allows: whitespace (SP, HT, CR, LF) before and after the block, and CRLF line ends.
public enum AgeArmor {
    static let beginLine: [UInt8] = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
    static let endLine: [UInt8] = Array("-----END AGE ENCRYPTED FILE-----".utf8)
    static let columns = 64

    /// Armors a binary age file (LF line ends, final LF).
    public static func encode(_ binary: [UInt8]) -> [UInt8] {
        let encoded = Array(Base64.encode(binary, alphabet: .standard, padded: true).utf8)
        var output = beginLine + [0x0A]
        output.reserveCapacity(encoded.count + encoded.count / columns + 80)
        var start = 0
        while start < encoded.count {
            let end = Swift.min(start + columns, encoded.count)
            output.append(contentsOf: encoded[start..<end])
            output.append(0x0A)
            start = end
        }
        output.append(contentsOf: endLine)
        output.append(0x0A)
        return output
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }

    /// Whether `bytes` look like armor rather than a binary file: after optional whitespace they
    /// start with "-----". A binary age file always starts with "age-encryption.org/".
    public static func isArmored(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }) else { return false }
        return bytes[first...].starts(with: "-----".utf8)
    }

    /// Removes the armor and returns the binary age file.
    public static func decode(_ text: [UInt8]) throws(AgeError) -> [UInt8] {
        guard let first = text.firstIndex(where: { !isWhitespace($0) }),
              let lastByte = text.lastIndex(where: { !isWhitespace($0) }) else {
            throw .armorFailure("empty input")
        }
        var lines = text[first...lastByte].split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? line.dropLast() : line  // CRLF is allowed
        }
        guard lines.count >= 2, lines[0].elementsEqual(beginLine) else {
            throw .armorFailure("missing \"-----BEGIN AGE ENCRYPTED FILE-----\" line")
        }
        guard lines[lines.count - 1].elementsEqual(endLine) else {
            throw .armorFailure("missing \"-----END AGE ENCRYPTED FILE-----\" line, or data after it")
        }
        lines = Array(lines[1..<(lines.count - 1)])
        var encoded: [UInt8] = []
        encoded.reserveCapacity(lines.count * columns)
        for (index, line) in lines.enumerated() {
            // Every line but the last is exactly 64 columns; the last is 1...64 columns.
            if index < lines.count - 1 {
                guard line.count == columns else { throw .armorFailure("line \(index + 2) is not 64 columns") }
            } else {
                guard !line.isEmpty, line.count <= columns else { throw .armorFailure("last base64 line is empty or too long") }
            }
            guard line.allSatisfy({ AgeHeader.isBase64Character($0) || $0 == UInt8(ascii: "=") }) else {
                throw .armorFailure("line \(index + 2) has a character outside base64")
            }
            encoded.append(contentsOf: line)
        }
        do {
            // Padding required and only at the very end; non-zero leftover bits are rejected.
            return try Base64.decode(String(decoding: encoded, as: UTF8.self), alphabet: .standard, padding: .required)
        } catch {
            throw .armorFailure("base64 is not canonical padded base64 (\(error))")
        }
    }
}
