import Synchronization

/// The RFC 8737 (TLS-ALPN-01) challenge certificates the server currently presents, by name.
///
/// An ACME client adds an entry before asking the CA to validate and removes it afterwards; a
/// TLS server with this store presents the entry's certificate to any client that offers ALPN
/// `acme-tls/1` with that SNI name, completes the handshake and closes the connection.
public final class TLSALPNChallengeStore: Sendable {
    /// One challenge certificate and its key.
    public struct Entry: Sendable {
        public let certificate: TLSCertificate
        public let key: TLSPrivateKey
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Presents `certificate` (made with `TLSCertificate.selfSigned(…, acmeIdentifier:)`) for `name`.
    public func set(name: String, certificate: TLSCertificate, key: TLSPrivateKey) {
        entries.withLock { $0[name.lowercased()] = Entry(certificate: certificate, key: key) }
    }

    /// Builds and presents the challenge certificate for `name` with SHA-256(key authorization)
    /// `digest`, on a fresh P-256 key, valid from `now` for a week.
    public func set(name: String, keyAuthorizationDigest digest: [UInt8], now: Int64) throws(TLSError) {
        let key = try TLSPrivateKey.generateP256()
        let certificate = try TLSCertificate.selfSigned(key: key, dnsNames: [name], notBefore: now - 60,
                                                        lifetime: 7 * 86400, acmeIdentifier: digest)
        set(name: name, certificate: certificate, key: key)
    }

    /// Stops presenting a challenge for `name`.
    public func remove(name: String) {
        _ = entries.withLock { $0.removeValue(forKey: name.lowercased()) }
    }

    /// The entry for `name`, if one is set.
    public func entry(for name: String) -> Entry? {
        entries.withLock { $0[name.lowercased()] }
    }
}
