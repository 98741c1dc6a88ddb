// DAG-CBOR (DRISL) decoding. The decoder is strict (shortest heads, canonical key order, no
// indefinite lengths, no trailing bytes), so whatever it accepts must re-encode to the same bytes.
import ATData
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        let samples: [(String, DataValue)] = [
            ("map", .map(["a": .integer(1), "b": .array([.string("x"), .null, .bool(true)])])),
            ("link", .map(["$type": .string("app.bsky.feed.like"), "subject": .link(CID.dagCBOR(hashing: [1, 2, 3]))])),
            ("bytes", .map(["k": .bytes([0, 1, 2, 255]), "n": .integer(-1 << 40)])),
            ("ints", .array([.integer(0), .integer(23), .integer(24), .integer(255), .integer(256), .integer(65536), .integer(Int64.max), .integer(Int64.min)])),
            ("nested", .array([.array([.array([.map([:])])])])),
        ]
        return samples.map { ($0.0, DAGCBOR.encode($0.1)) }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    if let value = try? DAGCBOR.decode(bytes) {
        require(DAGCBOR.encode(value) == bytes, "decode accepted bytes that do not re-encode identically")
        // The JSON side of the same value must not trap either.
        _ = value.toJSON()
    }
    if let (value, consumed) = try? DAGCBOR.decodePrefix(bytes[...]) {
        require(consumed > 0 && consumed <= bytes.count, "decodePrefix consumed \(consumed) of \(bytes.count)")
        require(DAGCBOR.encode(value) == Array(bytes[0..<consumed]), "decodePrefix accepted a non-canonical prefix")
    }
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
