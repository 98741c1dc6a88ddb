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
