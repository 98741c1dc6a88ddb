import COpenSSL
import Synchronization

/// A few `EVP_PKEY_CTX`s for one key, already initialised for signing or verifying, reused
/// across calls.
///
/// Creating a context and running `EVP_PKEY_sign_init`/`EVP_PKEY_verify_init` fetches the ECDSA
/// implementation from the provider store (string lookups under a lock) and allocates the
/// provider's state; per call that cost about a third of a P-256 signature. An initialised
/// context can run any number of `EVP_PKEY_sign`/`EVP_PKEY_verify` calls (each draws a fresh
/// nonce), which is also how `openssl speed` measures. An EVP_PKEY_CTX is not safe for
/// concurrent use, so each call takes one out of the pool for its duration: concurrent callers
/// get different contexts, and the pool creates another when it is empty.
final class EVPKeyContextPool: Sendable {
    /// What the pooled contexts are initialised for.
    enum Operation: Sendable {
        case sign
        case verify
    }

    /// An `EVP_PKEY_CTX` pointer. @unchecked Sendable: a context is only ever used by the one
    /// caller that took it out of the pool, so moving it between threads is safe.
    struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Contexts kept beyond this many (after a burst of concurrent use) are freed on return.
    static let capacity = 8

    private let key: EVPKey
    private let operation: Operation
    private let idle = Mutex<[Context]>([])

    init(key: EVPKey, operation: Operation) {
        self.key = key
        self.operation = operation
    }

    deinit {
        idle.withLock { contexts in
            for context in contexts { EVP_PKEY_CTX_free(context.pointer) }
            contexts.removeAll()
        }
    }

    /// Runs `body` with an initialised context that no other caller is using; nil when OpenSSL
    /// cannot create one (out of memory). The context goes back into the pool afterwards.
    func withContext<Result>(_ body: (OpaquePointer) -> Result) -> Result? {
        guard let context = idle.withLock({ $0.popLast() }) ?? makeContext() else { return nil }
        let result = body(context.pointer)
        let surplus = idle.withLock { contexts -> Context? in
            guard contexts.count < Self.capacity else { return context }
            contexts.append(context)
            return nil
        }
        if let surplus { EVP_PKEY_CTX_free(surplus.pointer) }
        return result
    }

    private func makeContext() -> Context? {
        guard let pointer = EVP_PKEY_CTX_new_from_pkey(nil, key.pointer, nil) else { return nil }
        let initialised = switch operation {
        case .sign: EVP_PKEY_sign_init(pointer)
        case .verify: EVP_PKEY_verify_init(pointer)
        }
        guard initialised == 1 else {
            EVP_PKEY_CTX_free(pointer)
            return nil
        }
        return Context(pointer: pointer)
    }
}
