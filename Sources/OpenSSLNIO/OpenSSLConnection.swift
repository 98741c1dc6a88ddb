import COpenSSL
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One TLS session driven over a pair of memory BIOs: the network side writes ciphertext into
/// `readBIO` and takes ciphertext out of `writeBIO`; OpenSSL never touches a socket.
///
/// Not thread-safe: it belongs to one channel handler and is used on that channel's event loop
/// only. The OpenSSL callbacks that run inside `SSL_do_handshake` find this object through the
/// `SSL`'s ex-data slot 0 (`SSL_set_app_data`), which holds an unretained reference — valid
/// because the callbacks only run while a method of this object is on the stack.
final class OpenSSLConnection {
    /// The protocol a normal connection negotiates.
    static let http11 = "http/1.1"
    /// The RFC 8737 challenge protocol.
    static let acmeTLS1 = "acme-tls/1"

    enum HandshakeResult: Equatable {
        case complete
        case wantRead
        case failed([String])
    }

    enum ReadResult: Equatable {
        /// Plaintext was appended to the buffer.
        case data
        /// All buffered ciphertext has been consumed.
        case wantRead
        /// The peer sent close_notify.
        case closeNotify
        case failed([String])
    }

    let ssl: OpaquePointer
    /// Network → OpenSSL (owned by `ssl`).
    let readBIO: OpaquePointer
    /// OpenSSL → network (owned by `ssl`).
    let writeBIO: OpaquePointer
    let isServer: Bool
    /// Server role: the contexts to choose from by SNI, and the challenge certificates.
    let serverContexts: TLSServerContexts?
    /// Every context the `SSL` may reference, kept alive with it.
    private var retained: [SSLContext]
    /// A challenge certificate set on this connection (kept alive while `ssl` uses it).
    private var challenge: TLSALPNChallengeStore.Entry?

    /// The SNI name the client asked for (server role), lowercased.
    private(set) var requestedServerName: String?
    /// Whether this is an RFC 8737 validation connection (ALPN `acme-tls/1` was offered and a
    /// challenge certificate for the name was presented).
    private(set) var isACMEChallenge = false

    /// A server session on the context that `contexts` picks first (SNI may switch it).
    init(server contexts: TLSServerContexts) throws(TLSError) {
        let initial = contexts.initialContext
        guard let ssl = SSL_new(initial.pointer) else { throw .openSSL(OpenSSLFailure("SSL_new")) }
        guard let pair = Self.attachBIOs(ssl) else {
            SSL_free(ssl)
            throw .openSSL(OpenSSLFailure("BIO_new(BIO_s_mem())"))
        }
        self.ssl = ssl
        (readBIO, writeBIO) = pair
        isServer = true
        serverContexts = contexts
        retained = [initial]
        SSL_set_accept_state(ssl)
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    }

    /// A client session to `serverName` (a DNS name, sent as SNI and checked against the
    /// certificate, or an IP literal, checked against its IP SANs), offering `alpn`.
    init(client context: SSLContext, serverName: String, alpn: [String]) throws(TLSError) {
        guard let ssl = SSL_new(context.pointer) else { throw .openSSL(OpenSSLFailure("SSL_new")) }
        guard let pair = Self.attachBIOs(ssl) else {
            SSL_free(ssl)
            throw .openSSL(OpenSSLFailure("BIO_new(BIO_s_mem())"))
        }
        self.ssl = ssl
        (readBIO, writeBIO) = pair
        isServer = false
        serverContexts = nil
        retained = [context]
        SSL_set_connect_state(ssl)
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
        if Self.isIPAddress(serverName) {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) == 1 else {
                throw .openSSL(OpenSSLFailure("X509_VERIFY_PARAM_set1_ip_asc"))
            }
        } else {
            guard pds_SSL_set_tlsext_host_name(ssl, serverName) == 1, SSL_set1_host(ssl, serverName) == 1 else {
                throw .openSSL(OpenSSLFailure("SSL_set1_host"))
            }
        }
        if !alpn.isEmpty {
            let wire = ClientHello.wireFormat(alpn)
            // SSL_set_alpn_protos returns 0 on success (unlike nearly everything else).
            guard SSL_set_alpn_protos(ssl, wire, UInt32(wire.count)) == 0 else {
                throw .openSSL(OpenSSLFailure("SSL_set_alpn_protos"))
            }
        }
    }

    deinit { SSL_free(ssl) }

    private static func attachBIOs(_ ssl: OpaquePointer) -> (OpaquePointer, OpaquePointer)? {
        guard let read = BIO_new(BIO_s_mem()) else { return nil }
        guard let write = BIO_new(BIO_s_mem()) else {
            BIO_free(read)
            return nil
        }
        // An empty memory BIO reads as "retry" (eof_return −1 by default), which OpenSSL reports
        // as SSL_ERROR_WANT_READ: more socket bytes are needed, not an error (SSL_get_error(3)).
        SSL_set_bio(ssl, read, write)
        return (read, write)
    }

    static func isIPAddress(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }

    // MARK: - Ciphertext in and out

    /// Bytes received from the network, not yet consumed by OpenSSL.
    var bufferedCiphertext: Int { Int(BIO_ctrl_pending(readBIO)) }
    /// Bytes OpenSSL produced for the network.
    var pendingCiphertext: Int { Int(BIO_ctrl_pending(writeBIO)) }

    /// Hands bytes from the network to OpenSSL.
    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = BIO_write(readBIO, bytes.baseAddress! + offset, Int32(min(bytes.count - offset, Int(Int32.max))))
                guard written > 0 else { return }
                offset += Int(written)
            }
        }
    }

    /// Moves everything OpenSSL wrote for the network into `buffer`.
    func drainCiphertext(into buffer: inout ByteBuffer) {
        while case let pending = pendingCiphertext, pending > 0 {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { out in
                Int(max(0, BIO_read(writeBIO, out.baseAddress, Int32(min(out.count, Int(Int32.max))))))
            }
        }
    }

    // MARK: - TLS operations

    /// Advances the handshake with whatever ciphertext has been fed.
    func handshake() -> HandshakeResult {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        default: return .failed(failureDetails())
        }
    }

    /// Decrypts one record's worth of plaintext (at most 16 KiB) into `buffer`.
    func read(into buffer: inout ByteBuffer) -> ReadResult {
        ERR_clear_error()
        var code: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16384) { out in
            var count = 0
            let result = SSL_read_ex(ssl, out.baseAddress, out.count, &count)
            if result == 1 { return count }
            code = SSL_get_error(ssl, result)
            return 0
        }
        switch code {
        case 0: return .data
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        case SSL_ERROR_ZERO_RETURN: return .closeNotify
        default: return .failed(failureDetails())
        }
    }

    /// Encrypts all of `plaintext`. With memory BIOs SSL_write never waits for the network:
    /// the records land in `writeBIO` (the caller drains it right after).
    func write(_ plaintext: ByteBuffer) -> [String]? {
        var failure: [String]?
        plaintext.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                ERR_clear_error()
                var written = 0
                let result = SSL_write_ex(ssl, bytes.baseAddress! + offset, bytes.count - offset, &written)
                guard result == 1 else {
                    failure = failureDetails()
                    return
                }
                offset += written
            }
        }
        return failure
    }

    /// Queues close_notify (when the handshake finished; before that there is nothing to close).
    func shutdown() {
        ERR_clear_error()
        guard SSL_is_init_finished(ssl) == 1 else { return }
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func failureDetails() -> [String] {
        var details = OpenSSLFailure.drainErrorQueue()
        let verify = SSL_get_verify_result(ssl)
        if !isServer, verify != X509_V_OK, let text = X509_verify_cert_error_string(verify) {
            details.append("certificate verify: " + String(cString: text))
        }
        return details
    }

    // MARK: - Negotiated parameters

    /// The ALPN protocol both sides agreed on, if any.
    var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// `TLSv1.2` or `TLSv1.3`.
    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// The OpenSSL name of the negotiated cipher suite.
    var cipherName: String? {
        guard let cipher = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(cipher) else { return nil }
        return String(cString: name)
    }

    /// The server's leaf certificate (client role).
    var peerCertificate: TLSCertificate? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        return TLSCertificate(taking: certificate)
    }

    // MARK: - Callbacks (server role)

    /// The client-hello callback: picks the certificate before OpenSSL looks at anything else.
    /// An offer of `acme-tls/1` is answered with the challenge certificate for the SNI name (and
    /// refused when there is none); any other handshake gets the context whose certificate
    /// covers the SNI name, or the default one.
    func clientHello(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let contexts = serverContexts else { return SSL_CLIENT_HELLO_SUCCESS }
        var data: UnsafePointer<UInt8>?
        var length = 0
        if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_server_name), &data, &length) == 1, let data {
            requestedServerName = ClientHello.serverName(UnsafeBufferPointer(start: data, count: length))
        }
        var offered: [String] = []
        if SSL_client_hello_get0_ext(ssl, UInt32(TLSEXT_TYPE_application_layer_protocol_negotiation), &data, &length) == 1,
           let data {
            offered = ClientHello.alpnProtocols(UnsafeBufferPointer(start: data, count: length)) ?? []
        }

        if offered.contains(Self.acmeTLS1) {
            guard let name = requestedServerName, let entry = contexts.challenges?.entry(for: name),
                  SSL_use_cert_and_key(ssl, entry.certificate.pointer, entry.key.pointer, nil, 1) == 1
            else {
                alert?.pointee = Int32(SSL_AD_NO_APPLICATION_PROTOCOL)
                return SSL_CLIENT_HELLO_ERROR
            }
            challenge = entry
            isACMEChallenge = true
            return SSL_CLIENT_HELLO_SUCCESS
        }

        guard let selected = contexts.context(forServerName: requestedServerName) else {
            // No certificate is loaded yet (ACME has not issued one): only challenges work.
            alert?.pointee = Int32(SSL_AD_HANDSHAKE_FAILURE)
            return SSL_CLIENT_HELLO_ERROR
        }
        if selected !== retained[0] {
            guard SSL_set_SSL_CTX(ssl, selected.pointer) != nil else {
                alert?.pointee = Int32(SSL_AD_INTERNAL_ERROR)
                return SSL_CLIENT_HELLO_ERROR
            }
            retained.append(selected)
        }
        return SSL_CLIENT_HELLO_SUCCESS
    }

    /// The ALPN select callback: `acme-tls/1` on challenge connections, `http/1.1` otherwise.
    /// Returns the offset of the chosen name inside the client's list (OpenSSL wants a pointer
    /// into that buffer), or nil.
    func selectALPN(_ clientList: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        let wanted = Array((isACMEChallenge ? Self.acmeTLS1 : Self.http11).utf8)
        guard let ranges = ClientHello.protocolListRanges(clientList) else { return nil }
        return ranges.first { clientList[$0].elementsEqual(wanted) }
    }

    static func from(_ ssl: OpaquePointer?) -> OpenSSLConnection? {
        guard let ssl, let raw = SSL_get_ex_data(ssl, 0) else { return nil }
        return Unmanaged<OpenSSLConnection>.fromOpaque(raw).takeUnretainedValue()
    }
}

/// `SSL_CTX_set_client_hello_cb`'s callback (a C function pointer: no captures).
let clientHelloCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = { ssl, alert, _ in
    guard let connection = OpenSSLConnection.from(ssl) else { return SSL_CLIENT_HELLO_ERROR }
    return connection.clientHello(alert: alert)
}

/// `SSL_CTX_set_alpn_select_cb`'s callback.
let alpnSelectCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
    UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
) -> Int32 = { ssl, out, outLength, input, inputLength, _ in
    guard let connection = OpenSSLConnection.from(ssl), let input, let out, let outLength else {
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
    let list = UnsafeBufferPointer(start: input, count: Int(inputLength))
    guard let chosen = connection.selectALPN(list) else {
        // A challenge connection must speak acme-tls/1; anyone else may go on without ALPN
        // (HTTP/1.1 is then implied).
        return connection.isACMEChallenge ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK
    }
    out.pointee = input + chosen.lowerBound
    outLength.pointee = UInt8(chosen.count)
    return SSL_TLSEXT_ERR_OK
}
