import ATSyntax
import Testing

@Suite("TID")
struct TIDTests {
    @Test func zero() throws {
        let tid = try TID("2222222222222")
        #expect(tid.rawValue == 0)
        #expect(tid.timestamp == 0)
        #expect(tid.clockID == 0)
        #expect(TID.zero == tid)
        #expect(TID.zero.string == "2222222222222")
    }

    /// The spec §5 example: 2023-06-30T15:03:01.887007Z with clock id 6.
    @Test func knownValue() throws {
        let tid = try TID("3jzfcijpj2z2a")
        let expected = try Datetime("2023-06-30T15:03:01.887007Z").microsecondsSinceEpoch
        #expect(Int64(tid.timestamp) == expected)
        #expect(tid.clockID == 6)
        #expect(try TID(timestamp: UInt64(expected), clockID: 6).string == "3jzfcijpj2z2a")
    }

    /// The derived spec §5 example: 2024-01-01T00:00:00Z with clock id 0.
    @Test func knownValue2024() throws {
        let micros = try Datetime("2024-01-01T00:00:00Z").microsecondsSinceEpoch
        let tid = try TID(timestamp: UInt64(micros), clockID: 0)
        #expect(tid.string == "3khuwc44c2222")
        #expect(try TID("3khuwc44c2222") == tid)
    }

    @Test func extremes() throws {
        // The largest value a generator can make: top bit clear.
        let max = try TID(timestamp: TID.maxTimestamp, clockID: TID.maxClockID)
        #expect(max.string == "bzzzzzzzzzzzz")
        #expect(try TID("bzzzzzzzzzzzz") == max)
        #expect(max.rawValue == UInt64(Int64.max))
        #expect(!max.hasTopBitSet)
        // The spec regex still admits first characters c–j, which spell values with the top bit set.
        let top = try TID("jzzzzzzzzzzzz")
        #expect(top.rawValue == UInt64.max)
        #expect(top.hasTopBitSet)
        #expect(TID(rawValue: 1 << 63).string == "c222222222222")
        #expect(throws: SyntaxError.self) { try TID(timestamp: TID.maxTimestamp + 1, clockID: 0) }
        #expect(throws: SyntaxError.self) { try TID(timestamp: 0, clockID: 1024) }
        #expect(TID(rawValue: 12345).rawValue == 12345)
    }

    /// Encoding round-trips, and string order equals numeric order (why TIDs sort as rkeys).
    @Test func roundTripAndOrder() throws {
        var generator = SystemRandomNumberGenerator()
        var tids: [TID] = []
        for _ in 0..<500 {
            let tid = TID(rawValue: generator.next())
            #expect(try TID(tid.string) == tid)
            #expect(tid.string.utf8.count == 13)
            tids.append(tid)
        }
        let byValue = tids.sorted().map(\.string)
        let byString = tids.map(\.string).sorted()
        #expect(byValue == byString)
    }

    @Test func recordKeyFromTID() throws {
        let tid = try TID("3jzfcijpj2z2a")
        #expect(RecordKey(tid).string == "3jzfcijpj2z2a")
    }

    @Test func errors() {
        for (input, fragment) in [
            ("3jzfcijpj2z2", "exactly 13"), ("3JZFCIJPJ2Z2A", "'J'"), ("kjzfcijpj2z2a", "234567abcdefghij"),
            ("3jzf-cij-pj2z-2a", "exactly 13"), ("3jzfcijpj2z21", "'1'"),
        ] {
            #expect(throws: SyntaxError.self) { try TID(input) }
            do {
                _ = try TID(input)
            } catch {
                #expect(error.message.hasPrefix("TID "), "\(error.message)")
                #expect(error.message.contains(fragment), "\(input): \(error.message)")
            }
        }
    }
}
