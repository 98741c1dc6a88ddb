/// The parameters of an XRPC query string, split and decoded.
///
/// XRPC sends query parameters as `application/x-www-form-urlencoded` text; a repeated key is an
/// array (https://atproto.com/specs/xrpc#lexicon-http-endpoints). Parsing follows the URL
/// Standard's urlencoded parser (https://url.spec.whatwg.org/#urlencoded-parsing): split on `&`,
/// drop empty pieces, split each at its first `=`, turn `+` into a space, percent-decode the bytes
/// (a `%` not followed by two hex digits stays as it is), then decode UTF-8 with U+FFFD for
/// invalid sequences. It never fails: what a handler needs from a value (an integer, a DID) is
/// checked where the value is read.
public struct XRPCQuery: Sendable, Equatable {
    /// Every value of each key, in the order they were sent.
    public let values: [String: [String]]

    public init(_ query: some StringProtocol) {
        var values: [String: [String]] = [:]
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let key = Self.decode(pair[..<(equals ?? pair.endIndex)])
            let value = equals.map { Self.decode(pair[pair.index(after: $0)...]) } ?? ""
            values[key, default: []].append(value)
        }
        self.values = values
    }

    /// The first value of `key`.
    public func first(_ key: String) -> String? { values[key]?.first }

    /// Every value of `key` (empty when absent).
    public func all(_ key: String) -> [String] { values[key] ?? [] }

    /// One name or value: `+` is a space, then `%XX` escapes become bytes, then UTF-8.
    static func decode(_ bytes: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            index = bytes.index(after: index)
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index != bytes.endIndex,
                      let high = hexValue(bytes[index]),
                      bytes.index(after: index) != bytes.endIndex,
                      let low = hexValue(bytes[bytes.index(after: index)]) {
                output.append(high << 4 | low)
                index = bytes.index(index, offsetBy: 2)
            } else {
                output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
