/// The generic syntax of one OAuth scope token, `resource[:positional][?key=value&key=value…]`
/// (https://atproto.com/specs/permission "Scope string syntax").
///
/// Only printable, non-whitespace ASCII is allowed; values are percent-decoded; a key without
/// `=` has the empty value; repeated keys make arrays. The resource ends at the first `:` or `?`,
/// the positional part at the first `?` after that, so a positional may itself contain `:`
/// (`did:web:…`) and a value may contain `?`.
public struct ScopeSyntax: Equatable, Sendable {
    public let resource: String
    /// The positional value, percent-decoded; empty when absent.
    public let positional: String
    /// Whether a positional part was written (even an empty one, `repo:`).
    public let hasPositional: Bool
    /// Parameters in order of first appearance, each with all its values.
    public let params: [(key: String, values: [String])]

    public static func == (lhs: ScopeSyntax, rhs: ScopeSyntax) -> Bool {
        lhs.resource == rhs.resource && lhs.positional == rhs.positional && lhs.hasPositional == rhs.hasPositional
            && lhs.params.map(\.key) == rhs.params.map(\.key) && lhs.params.map(\.values) == rhs.params.map(\.values)
    }

    /// Parses one scope token; nil when it is not printable ASCII or has a broken percent escape.
    public init?(_ scope: String) {
        let bytes = Array(scope.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        let resourceEnd = bytes.firstIndex(where: { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "?") }) ?? bytes.count
        guard resourceEnd > 0 else { return nil }
        resource = String(decoding: bytes[..<resourceEnd], as: UTF8.self)
        var rest = bytes[resourceEnd...]
        if rest.first == UInt8(ascii: ":") {
            rest = rest.dropFirst()
            let positionalEnd = rest.firstIndex(of: UInt8(ascii: "?")) ?? rest.endIndex
            guard let decoded = ScopeSyntax.percentDecode(rest[..<positionalEnd]) else { return nil }
            positional = decoded
            hasPositional = true
            rest = rest[positionalEnd...]
        } else {
            positional = ""
            hasPositional = false
        }
        var params: [(key: String, values: [String])] = []
        if rest.first == UInt8(ascii: "?") {
            for pair in rest.dropFirst().split(separator: UInt8(ascii: "&")) {
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                guard let key = ScopeSyntax.percentDecode(pair[..<(equals ?? pair.endIndex)]),
                      let value = ScopeSyntax.percentDecode(equals.map { pair[($0 + 1)...] } ?? [])
                else { return nil }
                if let index = params.firstIndex(where: { $0.key == key }) {
                    params[index].values.append(value)
                } else {
                    params.append((key, [value]))
                }
            }
        }
        self.params = params
    }

    /// All values of `key` (empty when absent).
    public func values(_ key: String) -> [String] {
        params.first(where: { $0.key == key })?.values ?? []
    }

    /// Percent-encodes a key or value for a scope string: everything but unreserved characters
    /// and `:`, `/`, `*` (so `aud=did:web:x#svc` becomes `aud=did:web:x%23svc`).
    public static func encode(_ value: String) -> String {
        let keep = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/*".utf8)
        var output = ""
        for byte in value.utf8 {
            if keep.contains(byte) {
                output.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                output += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return output
    }

    /// Decodes `%XX` escapes; nil for a truncated or non-hex escape or a result that is not UTF-8.
    static func percentDecode(_ bytes: ArraySlice<UInt8>) -> String? {
        var output = [UInt8]()
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                      let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
                else { return nil }
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(byte)
                index += 1
            }
        }
        return String(validating: output, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
