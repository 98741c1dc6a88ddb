import Multiformats

/// The textual age header: version line, recipient stanzas, MAC line (age spec, "Header").
///
/// Parsing follows the spec's ABNF exactly, because the MAC covers the header bytes as written:
///
///     header = v1-line 1*stanza end
///     v1-line = %s"age-encryption.org/v1" LF
///     end = "--- " 43base64char LF
///     stanza = arg-line *full-line final-line
///     arg-line = "-> " argument *(SP argument) LF
///     argument = 1*VCHAR
///     full-line = 64base64char LF
///     final-line = *63base64char LF
///
/// Lines end in LF only (a CR is an invalid character), base64 is canonical and unpadded.
struct AgeHeader {
    static let versionLine: [UInt8] = Array("age-encryption.org/v1".utf8)
    static let columns = 64
    static let nonceByteCount = 16

    var stanzas: [AgeStanza]
    var mac: [UInt8]
    /// `bytes[0..<macInputEnd]` is the MAC input: the header through "---", without the space.
    var macInputEnd: Int
    /// Index of the first byte after the MAC line: the payload nonce.
    var payloadStart: Int

    /// Parses the header at the start of `bytes`.
    static func parse(_ bytes: [UInt8]) throws(AgeError) -> AgeHeader {
        var position = 0

        func nextLine() throws(AgeError) -> ArraySlice<UInt8> {
            guard position < bytes.count else { throw .headerFailure("unexpected end of header") }
            guard let newline = bytes[position...].firstIndex(of: 0x0A) else {
                throw .headerFailure("header line without LF")
            }
            defer { position = newline + 1 }
            return bytes[position..<newline]
        }

        let first = try nextLine()
        guard first.elementsEqual(versionLine) else {
            if first.starts(with: "age-encryption.org/".utf8) {
                throw .headerFailure("unsupported version \(String(decoding: first.dropFirst(19), as: UTF8.self).debugDescription)")
            }
            throw .headerFailure("not an age file (missing version line)")
        }

        var stanzas: [AgeStanza] = []
        while true {
            let lineStart = position
            let line = try nextLine()
            if line.starts(with: "---".utf8) {
                guard !stanzas.isEmpty else { throw .headerFailure("header has no recipient stanzas") }
                // "--- " followed by exactly 43 base64 characters (a 32-byte HMAC).
                guard line.count == 4 + 43, line[line.startIndex + 3] == 0x20 else {
                    throw .headerFailure("malformed MAC line")
                }
                let mac = try decodeBase64Line(line.dropFirst(4), what: "header MAC")
                guard mac.count == HMAC.sha256ByteCount else { throw .headerFailure("malformed MAC line") }
                return AgeHeader(stanzas: stanzas, mac: mac, macInputEnd: lineStart + 3, payloadStart: position)
            }
            guard line.starts(with: "-> ".utf8) else {
                throw .headerFailure("expected a stanza (\"-> \") or the MAC line (\"---\")")
            }
            var arguments: [String] = []
            for argument in line.dropFirst(3).split(separator: 0x20, omittingEmptySubsequences: false) {
                // argument = 1*VCHAR: no empty arguments (double or trailing spaces), no controls,
                // no non-ASCII.
                guard !argument.isEmpty else { throw .headerFailure("empty stanza argument") }
                guard argument.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
                    throw .headerFailure("stanza argument has a character outside VCHAR")
                }
                arguments.append(String(decoding: argument, as: UTF8.self))
            }
            // The body: full 64-column lines, ended by the first shorter line (possibly empty).
            var body: [UInt8] = []
            while true {
                let bodyLine = try nextLine()
                guard bodyLine.count <= columns else { throw .headerFailure("stanza body line longer than 64 columns") }
                body.append(contentsOf: try decodeBase64Line(bodyLine, what: "stanza body"))
                if bodyLine.count < columns { break }
            }
            stanzas.append(AgeStanza(type: arguments[0], arguments: Array(arguments.dropFirst()), body: body))
        }
    }

    /// Decodes one line of canonical unpadded base64. A 64-column line is a whole number of
    /// 4-character groups, so decoding line by line equals decoding the joined body.
    private static func decodeBase64Line(_ line: ArraySlice<UInt8>, what: String) throws(AgeError) -> [UInt8] {
        guard line.allSatisfy({ isBase64Character($0) }) else { throw .headerFailure("\(what) has a non-base64 character") }
        do {
            return try Base64.decode(String(decoding: line, as: UTF8.self), alphabet: .standard, padding: .forbidden)
        } catch {
            throw .headerFailure("\(what) is not canonical base64")
        }
    }

    static func isBase64Character(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2B || byte == 0x2F
    }

    /// The header from the version line through "---" (the MAC input), for `stanzas`.
    static func encodeWithoutMAC(_ stanzas: [AgeStanza]) throws(AgeError) -> [UInt8] {
        var output = versionLine + [0x0A]
        for stanza in stanzas {
            let arguments = [stanza.type] + stanza.arguments
            for argument in arguments {
                guard !argument.isEmpty, argument.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
                    throw .invalidArgument("stanza argument \(argument.debugDescription) is not 1*VCHAR")
                }
            }
            output.append(contentsOf: "-> ".utf8)
            output.append(contentsOf: arguments.joined(separator: " ").utf8)
            output.append(0x0A)
            let encoded = Array(Base64.encode(stanza.body, alphabet: .standard, padded: false).utf8)
            var start = 0
            // Full lines, then a final line shorter than 64 columns, empty when the encoding is
            // a multiple of 64 characters (including an empty body).
            while encoded.count - start >= columns {
                output.append(contentsOf: encoded[start..<(start + columns)])
                output.append(0x0A)
                start += columns
            }
            output.append(contentsOf: encoded[start...])
            output.append(0x0A)
        }
        output.append(contentsOf: "---".utf8)
        return output
    }
}
