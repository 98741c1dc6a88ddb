import CSecp256k1

/// The one libsecp256k1 context the process uses.
///
/// Creating a context precomputes tables (tens of microseconds), so it is made once. It is
/// randomized once, before first use, as the library recommends for side-channel protection of
/// signing; after that it is only passed as `const`, which secp256k1.h documents as safe from
/// many threads at once ("either do it once at creation time (in which case you do not need any
/// locking for the other calls), or use a read-write lock").
enum Secp256k1Context {
    nonisolated(unsafe) static let shared: OpaquePointer = {
        guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
            fatalError("secp256k1_context_create failed")
        }
        var seed = SecureRandom.bytes(32)
        defer { seed.zeroize() }
        guard secp256k1_context_randomize(context, seed) == 1 else {
            fatalError("secp256k1_context_randomize failed")
        }
        return context
    }()
}
