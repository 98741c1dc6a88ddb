import ATAuth
import ATCrypto
import Synchronization

/// The DPoP public keys seen recently, by their JWK coordinates. Importing a P-256 point into
/// OpenSSL (and setting up its verify contexts) costs more than the signature check itself, and a
/// client signs every proof with one key, so keys are kept (at most `capacity`, the oldest dropped).
/// Only verified keys are remembered; a cache hit still verifies every signature.
final class DPoPKeyCache: Sendable {
    private let entries = Mutex<(keys: [String: P256PublicKey], order: [String])>(([:], []))
    let capacity: Int

    init(capacity: Int = 64) {
        self.capacity = capacity
    }

    var lookup: ECPublicJWK.KeyLookup {
        { [self] x, y in entries.withLock { $0.keys[x + "." + y] } }
    }

    func remember(_ jwk: ECPublicJWK) {
        let name = jwk.coordinates
        entries.withLock { state in
            guard state.keys[name] == nil else { return }
            state.keys[name] = jwk.key
            state.order.append(name)
            if state.order.count > capacity { state.keys[state.order.removeFirst()] = nil }
        }
    }
}
