/// The two DNS messages handle resolution needs (RFC 1035 §4): a TXT query, and the TXT strings
/// of its answer. Pure bytes in, bytes out; the UDP exchange lives in the server module.
///
/// Handles resolve through `_atproto.<handle>` TXT records holding `did=<DID>` (https://atproto.com/specs/handle).
public enum DNSMessage {
    /// Record type TXT and class IN.
    static let typeTXT: UInt16 = 16
    static let classIN: UInt16 = 1

    /// Why a response could not be used.
    public enum Failure: Error, Equatable, Sendable {
        case malformed(String)
        /// The server answered with a non-zero RCODE (3 = NXDOMAIN).
        case responseCode(Int)
    }

    /// Record types this module reads.
    public enum RecordType: UInt16, Sendable {
        case a = 1, txt = 16, aaaa = 28
    }

    /// A recursive TXT query for `name` with transaction `id`.
    public static func txtQuery(name: String, id: UInt16) throws(Failure) -> [UInt8] {
        try query(name: name, type: .txt, id: id)
    }

    /// A recursive query for `name`'s records of `type` with transaction `id`.
    public static func query(name: String, type: RecordType, id: UInt16) throws(Failure) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00,  // RD set
                              0, 1, 0, 0, 0, 0, 0, 0]  // one question
        for label in name.split(separator: ".", omittingEmptySubsequences: false) where !label.isEmpty {
            let utf8 = Array(label.utf8)
            guard utf8.count <= 63 else { throw .malformed("label longer than 63 bytes") }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes.append(0)
        guard bytes.count - 12 <= 255 else { throw .malformed("name longer than 255 bytes") }
        bytes += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), UInt8(classIN >> 8), UInt8(classIN & 0xff)]
        return bytes
    }

    /// The A and AAAA addresses in a response to query `id`, as text (`192.0.2.1`, `2001:db8::1`
    /// in full hexadecimal groups).
    public static func addressAnswers(_ message: [UInt8], id: UInt16) throws(Failure) -> [String] {
        try records(message, id: id).compactMap { type, data -> String? in
            switch (type, data.count) {
            case (RecordType.a.rawValue, 4): return data.map(String.init).joined(separator: ".")
            case (RecordType.aaaa.rawValue, 16):
                return stride(from: 0, to: 16, by: 2).map { String(UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]), radix: 16) }
                    .joined(separator: ":")
            default: return nil
            }
        }
    }

    /// The TXT records of a response to query `id`, each the concatenation of its character
    /// strings. An empty list means the name exists without TXT data; NXDOMAIN throws.
    public static func txtAnswers(_ message: [UInt8], id: UInt16) throws(Failure) -> [String] {
        var texts: [String] = []
        for (type, data) in try records(message, id: id) where type == typeTXT {
            var text: [UInt8] = []
            var position = 0
            while position < data.count {
                let count = Int(data[position])
                guard position + 1 + count <= data.count else { throw .malformed("bad character string") }
                text += data[(position + 1)..<(position + 1 + count)]
                position += 1 + count
            }
            texts.append(String(decoding: text, as: UTF8.self))
        }
        return texts
    }

    /// The answer section's records as (type, data).
    static func records(_ message: [UInt8], id: UInt16) throws(Failure) -> [(UInt16, [UInt8])] {
        guard message.count >= 12 else { throw .malformed("shorter than a header") }
        guard UInt16(message[0]) << 8 | UInt16(message[1]) == id else { throw .malformed("transaction id does not match") }
        guard message[2] & 0x80 != 0 else { throw .malformed("not a response") }
        let rcode = Int(message[3] & 0x0f)
        guard rcode == 0 else { throw .responseCode(rcode) }
        let questions = Int(message[4]) << 8 | Int(message[5])
        let answers = Int(message[6]) << 8 | Int(message[7])
        var offset = 12
        for _ in 0..<questions {
            offset = try skipName(message, from: offset)
            offset += 4
        }
        var records: [(UInt16, [UInt8])] = []
        for _ in 0..<answers {
            offset = try skipName(message, from: offset)
            guard offset + 10 <= message.count else { throw .malformed("truncated record") }
            let type = UInt16(message[offset]) << 8 | UInt16(message[offset + 1])
            let length = Int(message[offset + 8]) << 8 | Int(message[offset + 9])
            offset += 10
            guard offset + length <= message.count else { throw .malformed("truncated record data") }
            records.append((type, Array(message[offset..<(offset + length)])))
            offset += length
        }
        return records
    }

    /// The offset just past the (possibly compressed) name at `offset`.
    static func skipName(_ message: [UInt8], from start: Int) throws(Failure) -> Int {
        var offset = start
        while true {
            guard offset < message.count else { throw .malformed("truncated name") }
            let length = message[offset]
            if length == 0 { return offset + 1 }
            if length & 0xc0 == 0xc0 { return offset + 2 }  // a pointer ends the name
            offset += 1 + Int(length)
        }
    }
}
