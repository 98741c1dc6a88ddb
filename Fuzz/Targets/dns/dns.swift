// DNS responses (ATIdentity DNSMessage): TXT answers for `_atproto.<handle>` and A/AAAA answers,
// as the UDP client hands them over. The transaction id is the message's own (so the id check
// passes) or, when the first byte says so, a different one.
import ATIdentity
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        var seeds: [(String, [UInt8])] = []
        let query = try! DNSMessage.txtQuery(name: "_atproto.alice.test", id: 0x1234)
        let question = Array(query[12...])
        func response(_ answers: [[UInt8]], rcode: UInt8 = 0, compressed: Bool = true) -> [UInt8] {
            var bytes: [UInt8] = [0x12, 0x34, 0x81, 0x80 | rcode, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0] + question
            for answer in answers {
                bytes += compressed ? [0xc0, 0x0c] : Array(question.dropLast(4))
                bytes += answer
            }
            return bytes
        }
        let did = Array("did=did:plc:abcdefghijklmnopqrstuvwx".utf8)
        let txt: [UInt8] = [0, 16, 0, 1, 0, 0, 1, 0, 0, UInt8(did.count + 1), UInt8(did.count)] + did
        let a: [UInt8] = [0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 1]
        let aaaa: [UInt8] = [0, 28, 0, 1, 0, 0, 1, 0, 0, 16] + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        seeds.append(("txt", response([txt])))
        seeds.append(("txt-uncompressed", response([txt], compressed: false)))
        seeds.append(("txt-two", response([txt, txt])))
        seeds.append(("addresses", response([a, aaaa])))
        seeds.append(("nxdomain", response([], rcode: 3)))
        seeds.append(("query", query))
        return seeds.map { ($0.0, [0] + $0.1) }
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var cursor = ByteCursor(inputBytes(data, size))
    let control = cursor.byte()
    let message = cursor.rest
    var id = message.count >= 2 ? UInt16(message[0]) << 8 | UInt16(message[1]) : 0
    if control & 1 == 1 { id &+= 1 }
    _ = try? DNSMessage.txtAnswers(message, id: id)
    _ = try? DNSMessage.addressAnswers(message, id: id)
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
