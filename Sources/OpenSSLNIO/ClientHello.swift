/// Parsers for the two ClientHello extensions the server looks at before choosing a certificate
/// (read with `SSL_client_hello_get0_ext` in the client-hello callback, where OpenSSL has not
/// processed them yet). Both return nil on any malformed length.
enum ClientHello {
    /// The first `host_name` of a `server_name` extension body (RFC 6066 §3), lowercased.
    static func serverName(_ body: UnsafeBufferPointer<UInt8>) -> String? {
        guard body.count >= 2 else { return nil }
        let listLength = Int(body[0]) << 8 | Int(body[1])
        guard listLength == body.count - 2 else { return nil }
        var offset = 2
        while offset + 3 <= body.count {
            let type = body[offset]
            let length = Int(body[offset + 1]) << 8 | Int(body[offset + 2])
            offset += 3
            guard offset + length <= body.count else { return nil }
            if type == 0 {
                let name = UnsafeBufferPointer(rebasing: body[offset..<offset + length])
                guard !name.isEmpty, !name.contains(0) else { return nil }
                return String(decoding: name, as: UTF8.self).lowercased()
            }
            offset += length
        }
        return nil
    }

    /// The protocol names of an `application_layer_protocol_negotiation` extension body
    /// (RFC 7301 §3.1), in the client's order.
    static func alpnProtocols(_ body: UnsafeBufferPointer<UInt8>) -> [String]? {
        guard let ranges = alpnRanges(body) else { return nil }
        return ranges.map { String(decoding: UnsafeBufferPointer(rebasing: body[$0]), as: UTF8.self) }
    }

    /// Where each protocol name sits in an ALPN extension body.
    static func alpnRanges(_ body: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        guard body.count >= 2 else { return nil }
        let listLength = Int(body[0]) << 8 | Int(body[1])
        guard listLength == body.count - 2 else { return nil }
        return protocolListRanges(UnsafeBufferPointer(rebasing: body[2...]))?.map { ($0.lowerBound + 2)..<($0.upperBound + 2) }
    }

    /// Where each name sits in a wire-format protocol list (length-prefixed names, no outer
    /// length): the `in` argument of OpenSSL's ALPN select callback.
    static func protocolListRanges(_ list: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        var ranges: [Range<Int>] = []
        var offset = 0
        while offset < list.count {
            let length = Int(list[offset])
            offset += 1
            guard length > 0, offset + length <= list.count else { return nil }
            ranges.append(offset..<offset + length)
            offset += length
        }
        return ranges
    }

    /// `names` in wire format (each prefixed by its one-byte length), for `SSL_set_alpn_protos`.
    static func wireFormat(_ names: [String]) -> [UInt8] {
        var bytes: [UInt8] = []
        for name in names where !name.isEmpty && name.utf8.count < 256 {
            bytes.append(UInt8(name.utf8.count))
            bytes += name.utf8
        }
        return bytes
    }
}
