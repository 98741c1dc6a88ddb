extension String {
    /// The string spelled by `bytes`, or nil when they are not well-formed UTF-8 (overlong forms,
    /// encoded surrogates, values above U+10FFFF, truncated or stray bytes).
    ///
    /// Why not `String(validating:as:)`: it is generic and not inlinable, so every call from the
    /// decoders went through runtime generic-metadata lookups, about a tenth of DAG-CBOR decode
    /// time. `String(decoding:as:)` has a specialised fast path for contiguous UTF-8; it replaces
    /// ill-formed sequences with U+FFFD, and its output is always well-formed, so the output
    /// equals the input exactly when the input was already well-formed.
    @inline(__always)
    init?(validatingUTF8Bytes bytes: UnsafeBufferPointer<UInt8>) {
        var decoded = String(decoding: bytes, as: UTF8.self)
        let unchanged = decoded.withUTF8 { $0.count == bytes.count && $0.elementsEqual(bytes) }
        guard unchanged else { return nil }
        self = decoded
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// True when the bytes are well-formed UTF-8 (Unicode §3.9, table 3-7: no overlong forms,
    /// encoded surrogates, values above U+10FFFF, truncated or stray bytes) — the rule
    /// `String(validatingUTF8Bytes:)` applies, checked in place without building a string.
    var isWellFormedUTF8: Bool {
        guard let base = baseAddress else { return true }
        let count = self.count
        var index = 0
        while index < count {
            // ASCII, eight bytes at a time.
            if count - index >= 8, UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
                continue
            }
            let lead = base[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int, low: UInt8, high: UInt8
            switch lead {
            case 0xc2...0xdf: (length, low, high) = (2, 0x80, 0xbf)
            case 0xe0: (length, low, high) = (3, 0xa0, 0xbf)
            case 0xed: (length, low, high) = (3, 0x80, 0x9f)
            case 0xe1...0xef: (length, low, high) = (3, 0x80, 0xbf)
            case 0xf0: (length, low, high) = (4, 0x90, 0xbf)
            case 0xf4: (length, low, high) = (4, 0x80, 0x8f)
            case 0xf1...0xf3: (length, low, high) = (4, 0x80, 0xbf)
            default: return false
            }
            guard count - index >= length, (low...high).contains(base[index + 1]) else { return false }
            for offset in 2..<length where base[index + offset] & 0xc0 != 0x80 { return false }
            index += length
        }
        return true
    }
}
