// Byte-level helpers shared by the hand-written scanners. Every grammar in this module is ASCII,
// so the scanners work on a string's UTF-8 bytes directly: any byte >= 0x80 is simply an invalid
// character, which is how non-ASCII input gets rejected.

/// ASCII classification and conversion on UTF-8 code units.
enum ASCII {
    @inline(__always) static func isDigit(_ byte: UInt8) -> Bool { byte &- 0x30 < 10 }
    @inline(__always) static func isLower(_ byte: UInt8) -> Bool { byte &- 0x61 < 26 }
    @inline(__always) static func isUpper(_ byte: UInt8) -> Bool { byte &- 0x41 < 26 }
    @inline(__always) static func isLetter(_ byte: UInt8) -> Bool { isLower(byte | 0x20) }
    @inline(__always) static func isAlphanumeric(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }
    @inline(__always) static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20) &- 0x61 < 6
    }
    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 { isUpper(byte) ? byte | 0x20 : byte }

    /// A short description of an offending byte for error messages ("invalid character '_'",
    /// "a space", "a non-ASCII character"), to follow the word "contains". Non-printable and non-ASCII
    /// bytes are named rather than quoted, so a message never contains control characters or a
    /// torn UTF-8 sequence.
    static func describe(_ byte: UInt8) -> String {
        switch byte {
        case 0x20: return "a space"
        case 0x09, 0x0A, 0x0D: return "whitespace"
        case 0x21...0x7E: return "invalid character '\(Character(Unicode.Scalar(byte)))'"
        case 0x80...: return "a non-ASCII character"
        default: return "a control character"
        }
    }

    /// The string with ASCII uppercase letters lowercased (other bytes untouched).
    static func lowercased(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count) { output in
            for index in 0..<bytes.count { output[index] = lowercased(bytes[index]) }
            return bytes.count
        }
    }

    /// Whether the bytes contain an ASCII uppercase letter.
    static func hasUpper(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where isUpper(byte) { return true }
        return false
    }

    /// Whether the bytes equal `literal` exactly.
    static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let other = literal.utf8Start
        for index in 0..<bytes.count where bytes[index] != other[index] { return false }
        return true
    }

    /// Whether the bytes equal `literal` ignoring ASCII case (`literal` must be lowercase).
    static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count == literal.utf8CodeUnitCount else { return false }
        let other = literal.utf8Start
        for index in 0..<bytes.count where lowercased(bytes[index]) != other[index] { return false }
        return true
    }

    /// Whether the bytes start with `literal`.
    static func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard bytes.count >= literal.utf8CodeUnitCount else { return false }
        let other = literal.utf8Start
        for index in 0..<literal.utf8CodeUnitCount where bytes[index] != other[index] { return false }
        return true
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// The bytes in `range` as a buffer whose indices start at zero.
    @inline(__always) func slice(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: self[range])
    }

    /// The first index of `byte` at or after `start`, or `count`.
    @inline(__always) func firstIndex(of byte: UInt8, from start: Int) -> Int {
        var index = start
        while index < count, self[index] != byte { index += 1 }
        return index
    }

    /// The bytes as a String (they are known to be ASCII, hence valid UTF-8).
    var asString: String { String(decoding: self, as: UTF8.self) }
}

/// Runs a typed-throwing scanner over the UTF-8 bytes of `string`.
///
/// `String.withUTF8` is free for native strings (the common case) and only copies bridged or
/// non-contiguous ones. It is `rethrows` with an untyped error, so the scanner's result travels
/// out as a `Result` to keep `throws(SyntaxError)` intact.
@inline(__always)
func scanUTF8<Value>(
    _ string: String,
    _ body: (UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Value
) throws(SyntaxError) -> Value {
    var copy = string
    let result: Result<Value, SyntaxError> = copy.withUTF8 { bytes in
        do throws(SyntaxError) { return .success(try body(bytes)) } catch { return .failure(error) }
    }
    return try result.get()
}
