import ATIdentity
import Testing

/// The TXT query and answer parsing that handle resolution uses (RFC 1035 §4).
@Suite struct DNSMessageTests {
    @Test func queryEncodesTheNameAsLabels() throws {
        let query = try DNSMessage.txtQuery(name: "_atproto.alice.example.com", id: 0xBEEF)
        #expect(Array(query.prefix(4)) == [0xBE, 0xEF, 0x01, 0x00])  // id, RD
        #expect(Array(query[4..<6]) == [0, 1])  // one question
        let name: [UInt8] = [8] + Array("_atproto".utf8) + [5] + Array("alice".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0]
        #expect(Array(query[12..<(12 + name.count)]) == name)
        #expect(Array(query.suffix(4)) == [0, 16, 0, 1])  // TXT, IN
        #expect(throws: DNSMessage.Failure.self) { try DNSMessage.txtQuery(name: String(repeating: "a", count: 64) + ".com", id: 1) }
    }

    /// A response built by hand: the question echoed, then two TXT answers using a compressed
    /// name pointer, one of them split into two character strings.
    func response(id: UInt16, rcode: UInt8 = 0, answers: [[String]]) throws -> [UInt8] {
        var query = try DNSMessage.txtQuery(name: "_atproto.alice.example.com", id: id)
        query[2] = 0x81; query[3] = 0x80 | rcode
        query[7] = UInt8(answers.count)
        for strings in answers {
            var data: [UInt8] = []
            for string in strings { data += [UInt8(string.utf8.count)] + Array(string.utf8) }
            query += [0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60, UInt8(data.count >> 8), UInt8(data.count & 0xff)] + data
        }
        return query
    }

    @Test func answersAreJoinedPerRecord() throws {
        let bytes = try response(id: 7, answers: [["did=did:plc:", "abc"], ["v=spf1 -all"]])
        #expect(try DNSMessage.txtAnswers(bytes, id: 7) == ["did=did:plc:abc", "v=spf1 -all"])
    }

    @Test func errorsAreTyped() throws {
        #expect(throws: DNSMessage.Failure.responseCode(3)) { try DNSMessage.txtAnswers(try response(id: 7, rcode: 3, answers: []), id: 7) }
        #expect(throws: DNSMessage.Failure.self) { try DNSMessage.txtAnswers(try response(id: 7, answers: [["x"]]), id: 8) }
        let truncated = Array(try response(id: 7, answers: [["did=did:plc:abc"]]).dropLast(4))
        #expect(throws: DNSMessage.Failure.self) { try DNSMessage.txtAnswers(truncated, id: 7) }
    }
}

@Suite struct DNSAddressTests {
    @Test func addressRecordsReadAsText() throws {
        var message = try DNSMessage.query(name: "pds.example.com", type: .a, id: 9)
        message[2] = 0x81; message[3] = 0x80; message[7] = 2
        message += [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]
        message += [0xC0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        #expect(try DNSMessage.addressAnswers(message, id: 9) == ["192.0.2.1", "2001:db8:0:0:0:0:0:1"])
        #expect(Array(message[(message.count - 44 - 4)..<(message.count - 44)]) == [0, 1, 0, 1], "an A question, class IN")
    }
}
