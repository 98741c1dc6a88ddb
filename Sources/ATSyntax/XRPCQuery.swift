/// The parameters of an XRPC query string, split and decoded.
///
/// XRPC sends query parameters as `application/x-www-form-urlencoded` text; a repeated key is an
/// array (https://atproto.com/specs/xrpc#lexicon-http-endpoints). Split on `&` (empty pieces
/// dropped), each piece at its first `=`, `+` read as a space, then `%XX` escapes decoded
/// (https://url.spec.whatwg.org/#urlencoded-parsing). Where a name or value has an escape that
/// does not decode (a `%` without two hex digits, or bytes that are not UTF-8), that name or value
/// is kept as sent, `+` still a space: what the reference server's query parser (Express's `qs`)
/// hands its handlers, so both servers answer such input the same way. It never fails: what a
/// handler needs from a value (an integer, a DID) is checked where the value is read.
public struct XRPCQuery: Sendable, Equatable {
    /// Every value of each key, in the order they were sent.
    public let values: [String: [String]]

    public init(_ query: some StringProtocol) {
        // One pass over contiguous UTF-8: the generic entry point is not specialised across
        // modules, and walking `some StringProtocol` byte by byte went through protocol witnesses
        // and generic-metadata lookups on every byte (a fifth of a getRecord's instructions).
        var text = String(query)
        self = text.withUTF8 { XRPCQuery(utf8: $0) }
    }

    init(utf8 query: UnsafeBufferPointer<UInt8>) {
        var values: [String: [String]] = [:]
        var start = 0
        while start < query.count {
            var end = start
            while end < query.count && query[end] != UInt8(ascii: "&") { end += 1 }
            if end > start {
                let pair = UnsafeBufferPointer(rebasing: query[start..<end])
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                let key = Self.decode(UnsafeBufferPointer(rebasing: pair[..<(equals ?? pair.endIndex)]))
                let value = equals.map { Self.decode(UnsafeBufferPointer(rebasing: pair[($0 + 1)...])) } ?? ""
                values[key, default: []].append(value)
            }
            start = end + 1
        }
        self.values = values
    }

    /// The first value of `key`.
    public func first(_ key: String) -> String? { values[key]?.first }

    /// Every value of `key` (empty when absent).
    public func all(_ key: String) -> [String] { values[key] ?? [] }

    /// One name or value: `+` is a space, then `%XX` escapes become bytes that must be UTF-8;
    /// else the text as sent (with its spaces).
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard bytes.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        let spaced = bytes.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }
        var output: [UInt8] = []
        output.reserveCapacity(spaced.count)
        var index = 0
        while index < spaced.count {
            let byte = spaced[index]
            guard byte == UInt8(ascii: "%") else {
                output.append(byte)
                index += 1
                continue
            }
            guard index + 2 < spaced.count, let high = hexValue(spaced[index + 1]), let low = hexValue(spaced[index + 2]) else {
                return String(decoding: spaced, as: UTF8.self)
            }
            output.append(high << 4 | low)
            index += 3
        }
        // Well-formed exactly when decoding with repair changes nothing (String(validating:) is
        // generic and not inlinable: slow here).
        let decoded = String(decoding: output, as: UTF8.self)
        return decoded.utf8.elementsEqual(output) ? decoded : String(decoding: spaced, as: UTF8.self)
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
