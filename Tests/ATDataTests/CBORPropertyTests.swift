import ATData
import Foundation
import Testing

/// A small, fast, seedable generator (SplitMix64) so every run checks the same trees.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random data-model trees covering every kind, awkward strings and boundary integers.
struct DataValueGenerator {
    var rng: SplitMix64

    static let pieces: [String] = ["a", "b", "z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "ñ", "中",
                                   "😀", "👨‍👩‍👧", "\u{2028}", "\u{FEFF}", "$", "{", "}", "[", "]", ",", ":"]
    static let integers: [Int64] = [0, 1, -1, 23, 24, -24, -25, 255, 256, 65_535, 65_536, 4_294_967_295, 4_294_967_296,
                                    9_007_199_254_740_991, -9_007_199_254_740_991, .max, .min]

    mutating func string(maxPieces: Int = 6) -> String {
        var result = ""
        for _ in 0..<Int.random(in: 0...maxPieces, using: &rng) { result += Self.pieces.randomElement(using: &rng)! }
        return result
    }

    mutating func key() -> String {
        // `$`-prefixed keys are reserved (`$link`/`$bytes` would change meaning in JSON).
        var key = string(maxPieces: 4)
        while key.isEmpty || key.hasPrefix("$") { key = "k" + key }
        return key
    }

    mutating func integer() -> Int64 {
        if Bool.random(using: &rng) { return Self.integers.randomElement(using: &rng)! }
        let bits = Int.random(in: 0...63, using: &rng)
        let magnitude = Int64(truncatingIfNeeded: (rng.next() >> UInt64(63 - bits)) >> 1)
        return Bool.random(using: &rng) ? magnitude : -magnitude
    }

    mutating func value(depth: Int = 0) -> DataValue {
        let kinds = depth < 5 ? 9 : 7
        switch Int.random(in: 0..<kinds, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .integer(integer())
        case 3: return .string(string())
        case 4: return .bytes((0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        case 5:
            let digest = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return .link(CID(codec: Bool.random(using: &rng) ? CID.Codec.dagCBOR : CID.Codec.raw, sha256Digest: digest))
        case 6: return .integer(Int64.random(in: -1000...1000, using: &rng))
        case 7: return .array((0..<Int.random(in: 0...6, using: &rng)).map { _ in value(depth: depth + 1) })
        default:
            var map = [String: DataValue]()
            for _ in 0..<Int.random(in: 0...6, using: &rng) { map[key()] = value(depth: depth + 1) }
            return .map(map)
        }
    }
}

@Suite struct CBORPropertyTests {
    @Test func cborRoundTripsAndReencodesIdentically() throws {
        var generator = DataValueGenerator(rng: SplitMix64(seed: 1))
        for index in 0..<3000 {
            let value = generator.value()
            let bytes = DAGCBOR.encode(value)
            let decoded = try DAGCBOR.decode(bytes)
            #expect(decoded == value, "tree \(index)")
            #expect(DAGCBOR.encode(decoded) == bytes, "tree \(index)")
        }
    }

    @Test func jsonRoundTrips() throws {
        var generator = DataValueGenerator(rng: SplitMix64(seed: 2))
        for index in 0..<3000 {
            let value = generator.value()
            let json = value.toJSON()
            #expect(try DataValue.fromJSON(json) == value, "tree \(index): \(value.jsonString)")
            let general = try JSONValue.parse(json)
            #expect(general == value.jsonValue, "tree \(index): JSONValue")
            #expect(general.serialized() == json, "tree \(index): JSONValue re-serialization")
            #expect(try DataValue(json: general) == value, "tree \(index): via JSONValue")
            // Another parser agrees that the output is JSON.
            #expect((try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])) != nil, "tree \(index): Foundation")
        }
    }

    /// DRISL admits one spelling per value: a mutated encoding must either be rejected or be the
    /// canonical encoding of whatever it decodes to.
    @Test func singleByteMutationsAreRejectedOrCanonical() throws {
        var generator = DataValueGenerator(rng: SplitMix64(seed: 3))
        var accepted = 0, rejected = 0
        for _ in 0..<1500 {
            let bytes = DAGCBOR.encode(generator.value())
            for _ in 0..<12 {
                var mutated = bytes
                let position = Int.random(in: 0..<mutated.count, using: &generator.rng)
                var replacement = UInt8.random(in: 0...255, using: &generator.rng)
                if replacement == mutated[position] { replacement &+= 1 }
                mutated[position] = replacement
                do {
                    let decoded = try DAGCBOR.decode(mutated)
                    accepted += 1
                    #expect(DAGCBOR.encode(decoded) == mutated, "accepted a non-canonical spelling: \(mutated)")
                } catch {
                    rejected += 1
                }
            }
            // Truncations are always rejected.
            if bytes.count > 1 {
                let cut = Int.random(in: 0..<bytes.count, using: &generator.rng)
                #expect(throws: DataError.self) { try DAGCBOR.decode(Array(bytes[..<cut])) }
            }
        }
        #expect(accepted > 0 && rejected > 0)
    }

    /// Mutated JSON never crashes the parser; whatever it accepts serializes to something it
    /// reads back as the same value, and the general parser accepts it too.
    @Test func jsonMutationsAreHandled() throws {
        var generator = DataValueGenerator(rng: SplitMix64(seed: 4))
        let interesting: [UInt8] = Array("{}[]\",:\\u0123456789.eE+-tfn aZ".utf8) + [0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xed, 0xff]
        for _ in 0..<1500 {
            let json = generator.value().toJSON()
            for _ in 0..<8 {
                var mutated = json
                let position = Int.random(in: 0..<mutated.count, using: &generator.rng)
                switch Int.random(in: 0..<3, using: &generator.rng) {
                case 0: mutated[position] = interesting.randomElement(using: &generator.rng)!
                case 1: mutated.remove(at: position)
                default: mutated.insert(interesting.randomElement(using: &generator.rng)!, at: position)
                }
                if let value = try? DataValue.fromJSON(mutated) {
                    #expect(try DataValue.fromJSON(value.toJSON()) == value)
                    #expect((try? JSONValue.parse(mutated)) != nil, "DataValue accepted what JSONValue rejects: \(mutated)")
                    // Only here, not for every JSONValue: Foundation rejects numbers beyond Double
                    // (`6e536`), which RFC 8259 §9 lets a parser do; JSONValue keeps their text.
                    #expect((try? JSONSerialization.jsonObject(with: Data(mutated), options: [.fragmentsAllowed])) != nil,
                            "accepted JSON that Foundation rejects: \(String(decoding: mutated, as: UTF8.self))")
                }
                if let general = try? JSONValue.parse(mutated) {
                    #expect(try JSONValue.parse(general.serialized()) == general)
                }
            }
        }
    }
}
