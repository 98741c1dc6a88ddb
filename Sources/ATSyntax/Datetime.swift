/// A datetime in atproto's profile of RFC 3339 ∩ ISO 8601 (https://atproto.com/specs/lexicon#string-formats "datetime"):
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±hh:mm)`.
///
/// Two levels of checking, because the interop vectors distinguish them:
/// - `validateSyntax(_:)`: the shape only: four-digit year, two-digit fields, uppercase `T` and
///   `Z`, whole seconds, at least one fractional digit after a `.`, a timezone (`-00:00` is
///   forbidden);
/// - `init(_:)`: the shape plus semantics: real calendar dates (leap years included), hours 00–23,
///   minutes and seconds 00–59, offsets up to 23:59, and an instant not before
///   `0000-01-01T00:00:00Z` once the offset is applied (https://atproto.com/specs/lexicon#string-formats).
///
/// The original string is kept (https://atproto.com/specs/lexicon#string-formats: "keep datetimes as strings when round-tripping", since
/// re-formatting would change record CIDs); equality and hashing use it, ordering uses the instant.
public struct Datetime: SyntaxValue, Comparable {
    /// The datetime exactly as given.
    public let string: String
    /// The instant, in microseconds since 1970-01-01T00:00:00Z (extra fractional digits truncated).
    public let microsecondsSinceEpoch: Int64
    /// The UTC offset in minutes (`Z` is 0).
    public let offsetMinutes: Int

    /// The earliest allowed instant, 0000-01-01T00:00:00Z.
    static let minimumMicroseconds: Int64 = Int64(daysFromCivil(year: 0, month: 1, day: 1)) * 86_400_000_000

    /// Fully parses a datetime: syntax and semantic validity.
    public init(_ string: String) throws(SyntaxError) {
        let fields = try scanUTF8(string) { bytes throws(SyntaxError) in try Datetime.scan(bytes) }
        (microsecondsSinceEpoch, offsetMinutes) = try Datetime.resolve(fields)
        self.string = string
    }

    /// Checks only the shape of a datetime, not whether the date exists (see the type's notes).
    public static func validateSyntax(_ string: String) throws(SyntaxError) {
        _ = try scanUTF8(string) { bytes throws(SyntaxError) in try Datetime.scan(bytes) }
    }

    /// Whether `string` has a valid shape (`validateSyntax` without the error).
    public static func isWellFormed(_ string: String) -> Bool {
        do { try validateSyntax(string); return true } catch { return false }
    }

    /// How many fractional-second digits `init(microsecondsSinceEpoch:precision:)` writes.
    public enum Precision: Int, Sendable, Hashable {
        /// No fractional part.
        case seconds = 0
        /// Three digits, as JavaScript's `toISOString` writes (the reference implementation).
        case milliseconds = 3
        /// Six digits.
        case microseconds = 6
    }

    /// Formats an instant as `YYYY-MM-DDTHH:MM:SS[.fff]Z` in UTC, truncating to `precision`.
    /// The instant must lie in years 0000–9999.
    public init(microsecondsSinceEpoch micros: Int64, precision: Precision = .milliseconds) {
        let days = Int(micros.floorDivided(by: 86_400_000_000))
        let inDay = micros - Int64(days) * 86_400_000_000
        let (year, month, day) = civilFromDays(days)
        precondition((0...9999).contains(year), "Datetime year out of range 0000–9999")
        let seconds = Int(inDay / 1_000_000)
        let micro = Int(inDay % 1_000_000)
        // Digits straight into a byte buffer: built with `String(value)` and padding strings it
        // cost ~9,000 instructions, three times per write (docs/ARCHITECTURE.md, "Where the time goes").
        var text = [UInt8](repeating: 0, count: 27)
        var cursor = 0
        func put(_ value: Int, _ width: Int) {
            var value = value, index = cursor + width
            while index > cursor {
                index -= 1
                text[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            cursor += width
        }
        func put(_ character: Unicode.Scalar) {
            text[cursor] = UInt8(ascii: character)
            cursor += 1
        }
        put(year, 4); put("-"); put(month, 2); put("-"); put(day, 2); put("T")
        put(seconds / 3600, 2); put(":"); put(seconds / 60 % 60, 2); put(":"); put(seconds % 60, 2)
        switch precision {
        case .seconds: break
        case .milliseconds: put("."); put(micro / 1000, 3)
        case .microseconds: put("."); put(micro, 6)
        }
        put("Z")
        self.string = String(decoding: text[..<cursor], as: UTF8.self)
        var truncated = micros - Int64(micro)
        switch precision {
        case .seconds: break
        case .milliseconds: truncated += Int64(micro / 1000 * 1000)
        case .microseconds: truncated += Int64(micro)
        }
        self.microsecondsSinceEpoch = truncated
        self.offsetMinutes = 0
    }

    /// The current time from the system clock, formatted in UTC.
    public static func now(precision: Precision = .milliseconds) -> Datetime {
        Datetime(microsecondsSinceEpoch: wallClockMicroseconds(), precision: precision)
    }

    /// The local date and time fields as written in the string (before applying the offset).
    public var components: Components {
        let local = microsecondsSinceEpoch + Int64(offsetMinutes) * 60_000_000
        let days = Int(local.floorDivided(by: 86_400_000_000))
        let inDay = Int(local - Int64(days) * 86_400_000_000)
        let (year, month, day) = civilFromDays(days)
        let seconds = inDay / 1_000_000
        return Components(
            year: year, month: month, day: day, hour: seconds / 3600, minute: seconds / 60 % 60,
            second: seconds % 60, microsecond: inDay % 1_000_000, offsetMinutes: offsetMinutes)
    }

    /// The fields of a datetime as written.
    public struct Components: Hashable, Sendable {
        /// Year, 0–9999.
        public var year: Int
        /// Month, 1–12.
        public var month: Int
        /// Day of the month, 1–31.
        public var day: Int
        /// Hour, 0–23.
        public var hour: Int
        /// Minute, 0–59.
        public var minute: Int
        /// Second, 0–59.
        public var second: Int
        /// Fraction of the second in microseconds (further digits truncated).
        public var microsecond: Int
        /// UTC offset in minutes; 0 for `Z`.
        public var offsetMinutes: Int

        /// Creates a set of fields (not validated; for comparisons in callers and tests).
        public init(
            year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int,
            offsetMinutes: Int
        ) {
            self.year = year
            self.month = month
            self.day = day
            self.hour = hour
            self.minute = minute
            self.second = second
            self.microsecond = microsecond
            self.offsetMinutes = offsetMinutes
        }
    }

    /// The fractional-second digits as written, if any (may be longer than six digits).
    public var fractionDigits: Substring? {
        guard let dot = string.utf8.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        let start = string.utf8.index(after: dot)
        var end = start
        while end < string.utf8.endIndex, ASCII.isDigit(string.utf8[end]) { end = string.utf8.index(after: end) }
        return string[start..<end]
    }

    /// Orders by instant; equal instants written differently are ordered by their strings so the
    /// order stays consistent with `==`.
    public static func < (lhs: Datetime, rhs: Datetime) -> Bool {
        if lhs.microsecondsSinceEpoch != rhs.microsecondsSinceEpoch {
            return lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
        }
        return lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    // MARK: Scanning

    /// The raw numeric fields found by the syntax scan.
    struct Fields {
        var year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0
        var microsecond = 0
        var offsetSign = 0, offsetHour = 0, offsetMinute = 0
    }

    /// Reads `width` digits at `index`, or throws naming the field.
    @inline(__always)
    private static func digits(
        _ bytes: UnsafeBufferPointer<UInt8>, _ index: Int, _ width: Int, _ field: String
    ) throws(SyntaxError) -> Int {
        var value = 0
        for position in index..<(index + width) {
            guard position < bytes.count, ASCII.isDigit(bytes[position]) else {
                throw SyntaxError(.datetime, "\(field) must be exactly \(width) digits")
            }
            value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
        }
        return value
    }

    @inline(__always)
    private static func expect(
        _ bytes: UnsafeBufferPointer<UInt8>, _ index: Int, _ separator: UInt8, _ reason: String
    ) throws(SyntaxError) {
        guard index < bytes.count, bytes[index] == separator else { throw SyntaxError(.datetime, reason) }
    }

    /// The syntax check; returns the numeric fields for the semantic step.
    static func scan(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Fields {
        guard !bytes.isEmpty else { throw SyntaxError(.datetime, "is empty") }
        for byte in bytes where byte <= 0x20 || byte >= 0x7F {
            throw SyntaxError(.datetime, "contains \(ASCII.describe(byte))")
        }
        var fields = Fields()
        fields.year = try digits(bytes, 0, 4, "year")
        try expect(bytes, 4, UInt8(ascii: "-"), "year must be exactly 4 digits followed by '-'")
        fields.month = try digits(bytes, 5, 2, "month")
        try expect(bytes, 7, UInt8(ascii: "-"), "month must be exactly 2 digits followed by '-'")
        fields.day = try digits(bytes, 8, 2, "day")
        guard bytes.count > 10, bytes[10] == UInt8(ascii: "T") else {
            if bytes.count > 10, bytes[10] == UInt8(ascii: "t") {
                throw SyntaxError(.datetime, "must use an uppercase 'T' between date and time")
            }
            if bytes.count == 10 { throw SyntaxError(.datetime, "must include a time, not just a date") }
            throw SyntaxError(.datetime, "day must be exactly 2 digits followed by 'T' and the time")
        }
        fields.hour = try digits(bytes, 11, 2, "hour")
        try expect(bytes, 13, UInt8(ascii: ":"), "hour must be exactly 2 digits followed by ':'")
        fields.minute = try digits(bytes, 14, 2, "minute")
        try expect(bytes, 16, UInt8(ascii: ":"), "must include seconds (HH:MM:SS)")
        fields.second = try digits(bytes, 17, 2, "second")
        var index = 19
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            var scale = 100_000
            while index < bytes.count, ASCII.isDigit(bytes[index]) {
                fields.microsecond += Int(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { throw SyntaxError(.datetime, "fraction must have at least one digit") }
        }
        guard index < bytes.count else {
            throw SyntaxError(.datetime, "must end with a timezone ('Z' or ±hh:mm)")
        }
        switch bytes[index] {
        case UInt8(ascii: "Z"):
            guard index + 1 == bytes.count else { throw SyntaxError(.datetime, "has characters after the timezone") }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            fields.offsetSign = bytes[index] == UInt8(ascii: "+") ? 1 : -1
            guard bytes.count == index + 6, bytes[index + 3] == UInt8(ascii: ":") else {
                throw SyntaxError(.datetime, "timezone offset must have the form ±hh:mm")
            }
            fields.offsetHour = try digits(bytes, index + 1, 2, "timezone offset hour")
            fields.offsetMinute = try digits(bytes, index + 4, 2, "timezone offset minute")
            // RFC 3339 §4.3: -00:00 means "offset unknown"; atproto forbids it (https://atproto.com/specs/lexicon#string-formats).
            if fields.offsetSign < 0, fields.offsetHour == 0, fields.offsetMinute == 0 {
                throw SyntaxError(.datetime, "timezone -00:00 is not allowed (use Z or +00:00)")
            }
        case UInt8(ascii: "z"):
            throw SyntaxError(.datetime, "timezone 'Z' must be uppercase")
        default:
            throw SyntaxError(.datetime, "seconds must be exactly 2 digits followed by a fraction or timezone")
        }
        return fields
    }

    /// The semantic check; returns the instant and offset.
    private static func resolve(_ fields: Fields) throws(SyntaxError) -> (Int64, Int) {
        guard (1...12).contains(fields.month) else { throw SyntaxError(.datetime, "month must be 01–12") }
        guard (1...daysInMonth(year: fields.year, month: fields.month)).contains(fields.day) else {
            throw SyntaxError(.datetime, "day does not exist in that month")
        }
        guard fields.hour <= 23 else { throw SyntaxError(.datetime, "hour must be 00–23") }
        guard fields.minute <= 59 else { throw SyntaxError(.datetime, "minute must be 00–59") }
        // Leap seconds (:60) are refused, as by the JavaScript and Go reference implementations.
        guard fields.second <= 59 else { throw SyntaxError(.datetime, "second must be 00–59") }
        guard fields.offsetHour <= 23, fields.offsetMinute <= 59 else {
            throw SyntaxError(.datetime, "timezone offset must be at most 23:59")
        }
        let offset = fields.offsetSign * (fields.offsetHour * 60 + fields.offsetMinute)
        let days = Int64(daysFromCivil(year: fields.year, month: fields.month, day: fields.day))
        let seconds = days * 86_400 + Int64(fields.hour * 3600 + fields.minute * 60 + fields.second)
            - Int64(offset * 60)
        let micros = seconds * 1_000_000 + Int64(fields.microsecond)
        guard micros >= minimumMicroseconds else {
            throw SyntaxError(.datetime, "is before year 0000 once its timezone offset is applied")
        }
        return (micros, offset)
    }
}

// MARK: Proleptic Gregorian calendar arithmetic

/// Whether `year` is a Gregorian leap year.
func isLeapYear(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

/// The number of days in `month` of `year`.
func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: return isLeapYear(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Days from 1970-01-01 to the given date. Counts in 400-year eras (146,097 days each) starting
/// at March 1, so the leap day falls at the end of the year and month lengths follow a simple
/// pattern.
func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let shiftedYear = month <= 2 ? year - 1 : year
    let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
    let yearOfEra = shiftedYear - era * 400
    let marchMonth = month > 2 ? month - 3 : month + 9
    let dayOfYear = (153 * marchMonth + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// The inverse of `daysFromCivil`.
func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
    let shifted = days + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let marchMonth = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
    let month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

extension Int64 {
    /// Division rounding towards negative infinity (instants before 1970 are negative).
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
