import COpenSSL

/// A fixed-size secret (a private scalar) in its own heap block, wiped when the last reference
/// goes away, so copies of a key struct share one copy of the secret instead of scattering it.
final class SecretBytes: @unchecked Sendable {
    // @unchecked: the memory is written only in init and read-only afterwards.
    let pointer: UnsafeMutablePointer<UInt8>
    let count: Int

    /// Copies `bytes` into fresh storage.
    init(_ bytes: [UInt8]) {
        count = bytes.count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(from: bytes, count: count)
    }

    deinit {
        OPENSSL_cleanse(pointer, count)
        pointer.deallocate()
    }

    /// A copy as an array (for export to encrypted storage).
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Overwrites secret bytes in a way the optimiser may not remove (`OPENSSL_cleanse`).
func cleanse(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { OPENSSL_cleanse(base, buffer.count) }
    }
}
