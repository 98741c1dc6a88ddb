import COpenSSL

/// Where a client context finds the certificates it trusts.
public enum TLSTrustRoots: Sendable {
    /// OpenSSL's default locations (Debian: `/etc/ssl/certs`), i.e. the system CA store.
    case system
    /// The certificates in one PEM file (e.g. a test CA such as Pebble's listener CA).
    case pemFile(String)
    /// The certificates in PEM bytes.
    case pem([UInt8])
}

/// A TLS protocol version this module speaks.
public enum TLSVersion: Sendable {
    case tls12, tls13

    var openSSLValue: Int32 { self == .tls12 ? TLS1_2_VERSION : TLS1_3_VERSION }
}

/// An OpenSSL `SSL_CTX` configured with this module's fixed policy.
///
/// A server context holds at most one certificate chain and key; a context without one can
/// only complete RFC 8737 `acme-tls/1` handshakes (whose certificate is set per connection).
/// Contexts are immutable once built; a new certificate means a new context (`TLSContextStore`).
public final class SSLContext: @unchecked Sendable {
    /// The `SSL_CTX*`, owned by this object.
    let pointer: OpaquePointer
    /// Server or client.
    public let isServer: Bool
    /// The certificate chain (leaf first), empty for client contexts and certificate-less servers.
    public let certificateChain: [TLSCertificate]

    /// TLS 1.2 suites: ECDHE only, AEAD only (Mozilla "intermediate" without DHE).
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// TLS 1.3 suites: all three are AEAD (RFC 8446 §9.1); the CCM ones stay off as in OpenSSL's default.
    static let tls13Ciphers = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    private init(pointer: OpaquePointer, isServer: Bool, certificateChain: [TLSCertificate]) {
        self.pointer = pointer
        self.isServer = isServer
        self.certificateChain = certificateChain
    }

    deinit { SSL_CTX_free(pointer) }

    /// A server context presenting `certificateChain` (leaf first) with `privateKey`, or a
    /// certificate-less one when both are nil.
    public static func server(certificateChain: [TLSCertificate] = [], privateKey: TLSPrivateKey? = nil) throws(TLSError) -> SSLContext {
        guard certificateChain.isEmpty == (privateKey == nil) else {
            throw .invalidCertificate("a certificate chain needs its private key and the other way round")
        }
        ERR_clear_error()
        guard let ctx = SSL_CTX_new_ex(nil, nil, TLS_server_method()) else { throw .openSSL(OpenSSLFailure("SSL_CTX_new_ex")) }
        let context = SSLContext(pointer: ctx, isServer: true, certificateChain: certificateChain)
        try context.applyPolicy()
        // Sessions resume only within this context (tickets are keyed per SSL_CTX anyway).
        let sessionContext: [UInt8] = Array("pds".utf8)
        guard SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count)) == 1 else {
            throw .openSSL(OpenSSLFailure("SSL_CTX_set_session_id_context"))
        }
        SSL_CTX_set_client_hello_cb(ctx, clientHelloCallback, nil)
        SSL_CTX_set_alpn_select_cb(ctx, alpnSelectCallback, nil)

        if let leaf = certificateChain.first, let privateKey {
            guard SSL_CTX_use_certificate(ctx, leaf.pointer) == 1 else {
                throw .invalidCertificate(OpenSSLFailure("SSL_CTX_use_certificate").description)
            }
            for issuer in certificateChain.dropFirst() {
                // add1 takes its own reference, so the Swift wrapper keeps its one.
                guard pds_SSL_CTX_add1_chain_cert(ctx, issuer.pointer) == 1 else {
                    throw .invalidCertificate(OpenSSLFailure("SSL_CTX_add1_chain_cert").description)
                }
            }
            guard SSL_CTX_use_PrivateKey(ctx, privateKey.pointer) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
                throw .invalidCertificate("the private key does not match the certificate (\(OpenSSLFailure("SSL_CTX_check_private_key").details.joined(separator: "; ")))")
            }
        }
        return context
    }

    /// A server context from PEM bytes: a chain file (leaf first) and a key file.
    public static func server(certificateChainPEM: [UInt8], privateKeyPEM: [UInt8]) throws(TLSError) -> SSLContext {
        try server(certificateChain: TLSCertificate.chain(pem: certificateChainPEM),
                   privateKey: TLSPrivateKey(pem: privateKeyPEM))
    }

    /// A client context that verifies the server against `trustRoots` (the host name or IP is
    /// checked per connection).
    ///
    /// - Parameters:
    ///   - trustRoots: the certificates to trust.
    ///   - maximumVersion: the newest protocol to offer (`.tls12` to test TLS 1.2 servers).
    public static func client(trustRoots: TLSTrustRoots = .system, maximumVersion: TLSVersion = .tls13) throws(TLSError) -> SSLContext {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new_ex(nil, nil, TLS_client_method()) else { throw .openSSL(OpenSSLFailure("SSL_CTX_new_ex")) }
        let context = SSLContext(pointer: ctx, isServer: false, certificateChain: [])
        try context.applyPolicy()
        guard pds_SSL_CTX_set_max_proto_version(ctx, maximumVersion.openSSLValue) == 1 else {
            throw .openSSL(OpenSSLFailure("SSL_CTX_set_max_proto_version"))
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        switch trustRoots {
        case .system:
            guard SSL_CTX_set_default_verify_paths(ctx) == 1 else { throw .openSSL(OpenSSLFailure("SSL_CTX_set_default_verify_paths")) }
        case .pemFile(let path):
            guard SSL_CTX_load_verify_locations(ctx, path, nil) == 1 else {
                throw .invalidCertificate("cannot load trust roots from \(path): \(OpenSSLFailure("SSL_CTX_load_verify_locations").details.joined(separator: "; "))")
            }
        case .pem(let bytes):
            guard let store = SSL_CTX_get_cert_store(ctx) else { throw .openSSL(OpenSSLFailure("SSL_CTX_get_cert_store")) }
            for certificate in try TLSCertificate.chain(pem: bytes) {
                guard X509_STORE_add_cert(store, certificate.pointer) == 1 else { throw .openSSL(OpenSSLFailure("X509_STORE_add_cert")) }
            }
        }
        return context
    }

    /// A client context that accepts any certificate. Internal: only tests use it, to look at
    /// what a server presents (an RFC 8737 challenge certificate has a critical extension that
    /// OpenSSL's verifier rejects, which is why the ACME server does not verify it either).
    static func unverifiedClientForTesting() throws(TLSError) -> SSLContext {
        let context = try client(trustRoots: .system)
        SSL_CTX_set_verify(context.pointer, SSL_VERIFY_NONE, nil)
        return context
    }

    /// Protocol versions, suites, groups and options shared by both roles.
    private func applyPolicy() throws(TLSError) {
        guard pds_SSL_CTX_set_min_proto_version(pointer, TLS1_2_VERSION) == 1,
              pds_SSL_CTX_set_max_proto_version(pointer, TLS1_3_VERSION) == 1
        else { throw .openSSL(OpenSSLFailure("SSL_CTX_set_min/max_proto_version")) }
        guard SSL_CTX_set_cipher_list(pointer, Self.tls12Ciphers) == 1,
              SSL_CTX_set_ciphersuites(pointer, Self.tls13Ciphers) == 1
        else { throw .openSSL(OpenSSLFailure("SSL_CTX_set_cipher_list")) }
        guard pds_SSL_CTX_set1_groups_list(pointer, "X25519:P-256:P-384") == 1 else {
            throw .openSSL(OpenSSLFailure("SSL_CTX_set1_groups_list"))
        }
        // No renegotiation (a CPU-exhaustion vector and never needed), no compression (CRIME),
        // and a peer that closes TCP without close_notify is an EOF, not an error (SSL_OP_IGNORE_UNEXPECTED_EOF, SSL_CTX_set_options(3)).
        _ = SSL_CTX_set_options(pointer, pds_SSL_OP_NO_RENEGOTIATION() | pds_SSL_OP_NO_COMPRESSION()
            | pds_SSL_OP_IGNORE_UNEXPECTED_EOF())
        // Release the 2 × 16 KiB record buffers of idle connections (a firehose subscriber is
        // idle most of the time); SSL_write's buffer may move between retries.
        _ = pds_SSL_CTX_set_mode(pointer, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
    }
}
