import ATAuth
import ATCrypto
import Synchronization

/// The DPoP proof headers verified recently, by their base64url text (`DPoPHeaderCache`).
/// Importing a P-256 point into OpenSSL (and setting up its verify contexts) costs more than the
/// signature check itself, and the header's base64, JSON and thumbprint about as much again; a
/// client signs every proof with one key and so sends one header text, so headers are kept (at
/// most `capacity`, the oldest dropped). Only headers whose key verified a proof are remembered;
/// a cache hit still verifies every signature.
final class DPoPKeyCache: DPoPHeaderCache {
    private let entries = Mutex<(keys: [String: ECPublicJWK], order: [String])>(([:], []))
    let capacity: Int

    init(capacity: Int = 64) {
        self.capacity = capacity
    }

    func key(forHeader segment: String) -> ECPublicJWK? {
        entries.withLock { $0.keys[segment] }
    }

    func remember(_ key: ECPublicJWK, forHeader name: String) {
        entries.withLock { state in
            guard state.keys[name] == nil else { return }
            state.keys[name] = key
            state.order.append(name)
            if state.order.count > capacity { state.keys[state.order.removeFirst()] = nil }
        }
    }
}
