// XRPC query strings (ATSyntax's XRPCQuery, which the server's XRPCParams reads every GET's
// parameters through): any bytes split and decode without a crash, and what they decode to,
// percent-encoded again, parses back to the same keys and values in the same order. Each value
// is then read the way handlers read them (integer, boolean, the ATSyntax formats).
import ATSyntax
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        [
            "repo=did:plc:abcdefghijklmnopqrstuvwx&collection=app.bsky.feed.post&limit=50&reverse=true",
            "did=alice.test&cids=bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm&cids=bafkreib",
            "q=a+b%2Bc&cursor=3k2aaaaaaaaaa&since=%E9%ZZ%4&&=x&flag",
            "actors=did%3Aplc%3Aabc&actors=bob.test&uri=at%3A%2F%2Fdid%3Aplc%3Aabc%2Fapp.bsky.feed.post%2F3k2a",
        ].enumerated().map { ("query-\($0.offset)", Array($0.element.utf8)) }
    }
    return 0
}

/// Percent-encodes every byte but the URL Standard's unreserved set.
func encode(_ text: String) -> String {
    var output = ""
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "~"), UInt8(ascii: "*"):
            output.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            let hex = Array("0123456789ABCDEF".utf8)
            output += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
        }
    }
    return output
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // A request target's query arrives as a String (Hummingbird decodes the URI as UTF-8).
    let text = String(decoding: inputBytes(data, size), as: UTF8.self)
    let query = XRPCQuery(text)
    var pairs: [String] = []
    for (key, values) in query.values {
        require(!values.isEmpty, "a key with no values: \(key.debugDescription)")
        for value in values {
            pairs.append(encode(key) + "=" + encode(value))
            _ = Int(value)
            _ = try? DID(value)
            _ = try? ATIdentifier(value)
            _ = try? NSID(value)
            _ = try? ATURI(value)
            _ = try? Datetime(value)
            _ = try? CIDString(value)
        }
    }
    let reparsed = XRPCQuery(pairs.joined(separator: "&"))
    require(reparsed == query, "re-encoded query parses differently: \(text.debugDescription)")
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
