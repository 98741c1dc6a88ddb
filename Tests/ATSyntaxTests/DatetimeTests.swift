import ATSyntax
import Testing

@Suite("Datetime")
struct DatetimeTests {
    @Test func epochAndOffsets() throws {
        #expect(try Datetime("1970-01-01T00:00:00Z").microsecondsSinceEpoch == 0)
        #expect(try Datetime("1970-01-01T01:00:00+01:00").microsecondsSinceEpoch == 0)
        #expect(try Datetime("1969-12-31T16:00:00-08:00").microsecondsSinceEpoch == 0)
        #expect(try Datetime("1969-12-31T23:59:59.999999Z").microsecondsSinceEpoch == -1)
        #expect(try Datetime("2000-01-01T00:00:00.000Z").microsecondsSinceEpoch == 946_684_800_000_000)
        #expect(try Datetime("1985-04-12T23:20:50.123-07:00").offsetMinutes == -420)
        #expect(try Datetime("1985-04-12T23:20:50.123+01:45").offsetMinutes == 105)
    }

    @Test func keepsOriginalString() throws {
        let text = "1985-04-12T23:20:50.120000+00:00"
        let datetime = try Datetime(text)
        #expect(datetime.string == text)
        #expect(datetime.description == text)
        // Same instant, different spelling: not equal (the string is the identity), but ordered
        // consistently.
        let other = try Datetime("1985-04-12T23:20:50.12Z")
        #expect(datetime != other)
        #expect(datetime.microsecondsSinceEpoch == other.microsecondsSinceEpoch)
        #expect((datetime < other) != (other < datetime))
    }

    @Test func components() throws {
        let components = try Datetime("1985-04-12T23:20:50.1234567-07:00").components
        #expect(components == Datetime.Components(
            year: 1985, month: 4, day: 12, hour: 23, minute: 20, second: 50, microsecond: 123_456,
            offsetMinutes: -420))
        #expect(try Datetime("1985-04-12T23:20:50.1234567-07:00").fractionDigits == "1234567")
        #expect(try Datetime("1985-04-12T23:20:50Z").fractionDigits == nil)
    }

    @Test func calendarSemantics() {
        let good = [
            "2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "1985-04-30T23:59:59Z", "1985-12-31T00:00:00Z",
            "0000-01-01T00:00:00Z", "0000-01-01T00:00:00-01:00", "0000-02-29T12:00:00Z", "9999-12-31T23:59:59.999Z",
            "1985-04-12T23:20:50+23:59",
        ]
        let bad = [
            "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "1985-02-30T00:00:00Z", "1985-04-31T00:00:00Z",
            "1985-00-12T00:00:00Z", "1985-13-01T00:00:00Z", "1985-01-00T00:00:00Z", "1985-01-32T00:00:00Z",
            "1985-04-12T24:00:00Z", "1985-04-12T25:00:00Z", "1985-04-12T23:60:00Z", "1985-04-12T23:59:60Z",
            "1985-04-12T23:20:50+24:00", "1985-04-12T23:20:50+01:60", "0000-01-01T00:00:00+01:00",
            "0000-01-01T00:59:59.999999+01:00",
        ]
        for text in good {
            #expect(throws: Never.self, "\(text)") { try Datetime(text) }
        }
        for text in bad {
            #expect(Datetime.isWellFormed(text), "\(text) should be well-formed")
            #expect(throws: SyntaxError.self, "\(text)") { try Datetime(text) }
        }
    }

    @Test func formatting() throws {
        let ms = Datetime(microsecondsSinceEpoch: 482_196_050_123_456)
        #expect(ms.string == "1985-04-12T23:20:50.123Z")
        #expect(ms.microsecondsSinceEpoch == 482_196_050_123_000)
        #expect(Datetime(microsecondsSinceEpoch: 482_196_050_123_456, precision: .microseconds).string
            == "1985-04-12T23:20:50.123456Z")
        #expect(Datetime(microsecondsSinceEpoch: 482_196_050_123_456, precision: .seconds).string
            == "1985-04-12T23:20:50Z")
        #expect(Datetime(microsecondsSinceEpoch: -1, precision: .microseconds).string == "1969-12-31T23:59:59.999999Z")
        #expect(Datetime(microsecondsSinceEpoch: -1).string == "1969-12-31T23:59:59.999Z")
        // Round trips through the parser, for dates across the whole supported range.
        for days: Int64 in [-719_528, -500_000, -1, 0, 1, 11_016, 19_723, 2_932_896] {
            let micros = days * 86_400_000_000 + 45_296_789_012
            let formatted = Datetime(microsecondsSinceEpoch: micros, precision: .microseconds)
            let parsed = try Datetime(formatted.string)
            #expect(parsed.microsecondsSinceEpoch == micros, "\(formatted.string)")
        }
        let now = Datetime.now()
        #expect(try Datetime(now.string) == now)
    }

    @Test func syntaxErrors() {
        let cases: [(String, String)] = [
            ("1985-04-12t23:20:50Z", "datetime must use an uppercase 'T' between date and time"),
            ("1985-04-12T23:20:50z", "datetime timezone 'Z' must be uppercase"),
            ("1985-04-12T23:20:50", "datetime must end with a timezone ('Z' or ±hh:mm)"),
            ("1985-04-12T23:20:50-00:00", "datetime timezone -00:00 is not allowed (use Z or +00:00)"),
            ("1985-04-12T23:20Z", "datetime must include seconds (HH:MM:SS)"),
            ("1985-04-12T23:20:50.Z", "datetime fraction must have at least one digit"),
            ("985-04-12T23:20:50Z", "datetime year must be exactly 4 digits"),
            (" 1985-04-12T23:20:50Z", "datetime contains a space"),
            ("1985-04-12", "datetime must include a time, not just a date"),
        ]
        for (input, message) in cases {
            do {
                try Datetime.validateSyntax(input)
                Issue.record("accepted \(input)")
            } catch {
                #expect(error.message == message, "\(input)")
            }
        }
    }

    @Test func semanticErrorMessages() {
        for (input, message) in [
            ("1985-02-30T00:00:00Z", "datetime day does not exist in that month"),
            ("0000-01-01T00:00:00+01:00", "datetime is before year 0000 once its timezone offset is applied"),
            ("1985-04-12T25:20:50.123Z", "datetime hour must be 00–23"),
        ] {
            do {
                _ = try Datetime(input)
                Issue.record("accepted \(input)")
            } catch {
                #expect(error.message == message)
            }
        }
    }
}
