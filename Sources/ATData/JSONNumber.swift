/// A JSON number kept as its exact text, so nothing is lost between parsing and serializing.
///
/// RFC 8259 numbers have no fixed precision; converting them to `Double` on the way in would
/// change large integers and some decimals. atproto data has no floats at all (spec: data model,
/// "Data Types"), yet documents we only pass through (DID documents, OAuth metadata) may contain
/// them — so the text is the value, and `int64Value` / `doubleValue` interpret it on demand.
///
/// Equality is textual: `1.0` and `1` are different `JSONNumber`s.
public struct JSONNumber: Hashable, Sendable, CustomStringConvertible {
    /// The number's RFC 8259 spelling (always valid: every initializer checks or produces it).
    public let text: String

    /// Wraps `text` if it is an RFC 8259 number (no leading `+`, no leading zeros, no `NaN`…).
    public init?(_ text: String) {
        var copy = text
        let valid = copy.withUTF8 { utf8 in
            if case .number(let end, _) = JSONNumberSyntax.scan(utf8, from: 0) { return end == utf8.count }
            return false
        }
        guard valid else { return nil }
        self.text = text
    }

    /// Trusted initializer for text the parser has already scanned.
    init(validatedText: String) { text = validatedText }

    /// An integer.
    public init(_ integer: Int64) { text = String(integer) }

    /// An integer.
    public init(_ integer: Int) { text = String(integer) }

    /// A finite double in its shortest round-trip spelling; nil for NaN and infinities, which
    /// JSON cannot represent. (Swift's `description` yields `1.0`, `1e-07`, `5e+20`: all valid JSON.)
    public init?(_ double: Double) {
        guard double.isFinite else { return nil }
        text = double.description
    }

    /// True when the text has neither a fraction nor an exponent (`12`, `-3`, not `12.0`, `1e2`).
    public var isIntegerLiteral: Bool {
        !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The exact value as an `Int64` if the number is mathematically an integer in range, whatever
    /// its spelling (`100`, `100.0`, `1e2`); nil for fractions and out-of-range values.
    public var int64Value: Int64? {
        var copy = text
        let result = copy.withUTF8 { JSONNumberSyntax.exactInteger($0, nonLiteralLimit: UInt64(Int64.max) + 1) }
        if case .value(let value) = result { return value }
        return nil
    }

    /// The nearest `Double` (overflowing magnitudes become ±infinity, as `strtod` does).
    public var doubleValue: Double { Double(text) ?? .nan }

    public var description: String { text }
}

/// The JSON number grammar and the exact-integer test, shared by the parser and `JSONNumber`.
enum JSONNumberSyntax {
    enum ScanResult {
        /// A number ends at `end`; `isIntegerLiteral` is true without fraction and exponent.
        case number(end: Int, isIntegerLiteral: Bool)
        /// Not a number: why, and where.
        case invalid(String, offset: Int)
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// Scans RFC 8259 §6 `number = [ minus ] int [ frac ] [ exp ]` starting at `start`.
    static func scan(_ input: UnsafeBufferPointer<UInt8>, from start: Int) -> ScanResult {
        var index = start
        let count = input.count
        if index < count && input[index] == UInt8(ascii: "-") { index += 1 }
        guard index < count, isDigit(input[index]) else { return .invalid("expected a digit", offset: index) }
        if input[index] == UInt8(ascii: "0") {
            index += 1
            // RFC 8259: "Leading zeros are not allowed."
            if index < count && isDigit(input[index]) { return .invalid("leading zeros are not allowed", offset: index) }
        } else {
            while index < count && isDigit(input[index]) { index += 1 }
        }
        var literal = true
        if index < count && input[index] == UInt8(ascii: ".") {
            literal = false
            index += 1
            guard index < count, isDigit(input[index]) else { return .invalid("expected a digit after '.'", offset: index) }
            while index < count && isDigit(input[index]) { index += 1 }
        }
        if index < count && (input[index] == UInt8(ascii: "e") || input[index] == UInt8(ascii: "E")) {
            literal = false
            index += 1
            if index < count && (input[index] == UInt8(ascii: "+") || input[index] == UInt8(ascii: "-")) { index += 1 }
            guard index < count, isDigit(input[index]) else { return .invalid("expected a digit in the exponent", offset: index) }
            while index < count && isDigit(input[index]) { index += 1 }
        }
        return .number(end: index, isIntegerLiteral: literal)
    }

    enum ExactInteger: Equatable {
        case value(Int64)
        /// A true fraction such as `1.5` or `1e-1`.
        case notInteger
        /// An integer too large for the allowed range.
        case outOfRange
    }

    /// The exact integer a scanned number denotes. Integer literals may use the whole Int64 range;
    /// other spellings (`1.0`, `1e2`) only up to `nonLiteralLimit` in magnitude. Works digit by
    /// digit, never through `Double`, so `9007199254740993.0` is not mistaken for …992.
    static func exactInteger(_ number: UnsafeBufferPointer<UInt8>, nonLiteralLimit: UInt64) -> ExactInteger {
        let count = number.count
        var index = 0
        let negative = count > 0 && number[0] == UInt8(ascii: "-")
        if negative { index = 1 }
        let integerStart = index
        while index < count && isDigit(number[index]) { index += 1 }
        let integerEnd = index
        var fractionStart = index, fractionEnd = index
        var hasFraction = false
        if index < count && number[index] == UInt8(ascii: ".") {
            hasFraction = true
            index += 1
            fractionStart = index
            while index < count && isDigit(number[index]) { index += 1 }
            fractionEnd = index
        }
        var hasExponent = false
        var exponent = 0
        if index < count && (number[index] == UInt8(ascii: "e") || number[index] == UInt8(ascii: "E")) {
            hasExponent = true
            index += 1
            var exponentNegative = false
            if index < count && (number[index] == UInt8(ascii: "+") || number[index] == UInt8(ascii: "-")) {
                exponentNegative = number[index] == UInt8(ascii: "-")
                index += 1
            }
            while index < count && isDigit(number[index]) {
                // Saturate: `1e99999999999999999999` must not overflow, only be "out of range".
                if exponent < 1_000_000_000 { exponent = exponent * 10 + Int(number[index] - UInt8(ascii: "0")) }
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        let fullLimit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        let literal = !hasFraction && !hasExponent
        let limit = literal ? fullLimit : min(fullLimit, nonLiteralLimit)

        // The significant digits are integer digits followed by fraction digits; position p in
        // that sequence maps back into `number` here.
        let integerCount = integerEnd - integerStart
        let fractionCount = fractionEnd - fractionStart
        let total = integerCount + fractionCount
        @inline(__always) func digit(_ position: Int) -> UInt8 {
            let byte = position < integerCount ? number[integerStart + position] : number[fractionStart + position - integerCount]
            return byte - UInt8(ascii: "0")
        }
        var first = 0
        while first < total && digit(first) == 0 { first += 1 }
        if first == total { return .value(0) }  // 0, -0, 0.000e7: all the integer zero
        var last = total - 1
        while digit(last) == 0 { last -= 1 }
        let trailingZeros = total - 1 - last
        let scale = exponent - fractionCount + trailingZeros
        if scale < 0 { return .notInteger }
        let significant = last - first + 1
        if significant + scale > 19 { return .outOfRange }
        var magnitude: UInt64 = 0
        for position in first...last {
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (plus, overflow2) = times.addingReportingOverflow(UInt64(digit(position)))
            if overflow1 || overflow2 { return .outOfRange }
            magnitude = plus
        }
        for _ in 0..<scale {
            let (times, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            if overflow { return .outOfRange }
            magnitude = times
        }
        guard magnitude <= limit else { return .outOfRange }
        if negative { return .value(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)) }
        return .value(Int64(magnitude))
    }
}
