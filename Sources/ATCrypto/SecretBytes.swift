import COpenSSL

// SecretBytes (wiped key storage) and the internal byte helpers the primitives share: borrowing
// contiguous bytes from any collection without copying, and wiping buffers that held key material.

/// Calls `body` with the bytes of `collection`, without copying when the collection already has
/// contiguous storage (`[UInt8]`, `ArraySlice<UInt8>`, `String.UTF8View` of a native string).
@inline(__always)
func withContiguousBytes<C: Collection<UInt8>, R, E: Error>(
    _ collection: C, _ body: (UnsafeRawBufferPointer) throws(E) -> R
) throws(E) -> R {
    // withContiguousStorageIfAvailable is untyped-rethrows; keep the typed error through a Result.
    let direct: Result<R, E>? = collection.withContiguousStorageIfAvailable { buffer in
        do throws(E) { return .success(try body(UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
    }
    if let direct { return try direct.get() }
    var copy = Array(collection)
    defer { copy.zeroize() }  // the copy may be a key: wipe it
    let copied: Result<R, E> = copy.withUnsafeBytes { buffer in
        do throws(E) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try copied.get()
}

/// A base address that is never nil, for C APIs that reject NULL even when the length is zero
/// (OpenSSL's HMAC init treats a NULL key as "reuse the previous key").
nonisolated(unsafe) let nonNullEmpty: UnsafeRawPointer = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1))

@inline(__always)
func baseAddress(_ buffer: UnsafeRawBufferPointer) -> UnsafeRawPointer {
    buffer.baseAddress ?? nonNullEmpty
}

extension Array where Element == UInt8 {
    /// Overwrites the array's storage with zeros through `OPENSSL_cleanse`, which the compiler may
    /// not elide. Best effort: copies made earlier (copy-on-write) are not reached.
    public mutating func zeroize() {
        withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { OPENSSL_cleanse(base, buffer.count) }
        }
    }
}

/// Fixed-size secret bytes in memory this module owns, wiped with `OPENSSL_cleanse` when the last
/// reference goes away, so copies of a key value share one copy of the secret instead of
/// scattering it. Used for K-256 private scalars and age file keys.
final class SecretBytes: @unchecked Sendable {  // immutable after init, so sharing is safe
    private let storage: UnsafeMutableRawBufferPointer

    init<C: Collection<UInt8>>(_ bytes: C) {
        storage = .allocate(byteCount: Swift.max(bytes.count, 1), alignment: 1)
        _ = UnsafeMutableRawBufferPointer(rebasing: storage[0..<bytes.count]).initializeMemory(as: UInt8.self, from: bytes)
        count = bytes.count
    }

    let count: Int

    deinit {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// The secret as a typed pointer, for C APIs that take `const unsigned char *` (libsecp256k1).
    var pointer: UnsafePointer<UInt8> { UnsafePointer(storage.baseAddress!.assumingMemoryBound(to: UInt8.self)) }

    /// A copy as an array (for export to encrypted storage; the caller owns wiping it).
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(rebasing: storage[0..<count])) }
}
