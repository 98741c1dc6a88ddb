import COpenSSL

/// A failure reported by OpenSSL, with the library's own error text when there is one.
public struct OpenSSLFailure: Error, CustomStringConvertible, Sendable, Equatable {
    /// What we were doing (e.g. `"SSL_CTX_use_PrivateKey"`).
    public let operation: String
    /// OpenSSL's error queue, drained at the time of the failure.
    public let details: [String]

    /// Captures and clears OpenSSL's thread-local error queue.
    public init(_ operation: String) {
        self.operation = operation
        self.details = OpenSSLFailure.drainErrorQueue()
    }

    /// Drains OpenSSL's thread-local error queue into readable lines.
    static func drainErrorQueue() -> [String] {
        var details: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            details.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return details
    }

    public var description: String {
        details.isEmpty ? "OpenSSL: \(operation) failed" : "OpenSSL: \(operation) failed: \(details.joined(separator: "; "))"
    }
}

/// Why a TLS connection, context or certificate operation failed.
public enum TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// An OpenSSL call failed outside a connection (loading, building, signing).
    case openSSL(OpenSSLFailure)
    /// The handshake failed; the strings are OpenSSL's error queue (e.g. "no shared cipher").
    case handshakeFailed([String])
    /// The peer did not finish the handshake in time.
    case handshakeTimedOut
    /// A record could not be decrypted or the peer broke the protocol after the handshake.
    case protocolError([String])
    /// More bytes were queued for this connection than its configured limit.
    case bufferLimitExceeded(limit: Int)
    /// The connection was closed before the operation could finish.
    case closed
    /// A certificate, key or PEM file was unusable.
    case invalidCertificate(String)

    public var description: String {
        switch self {
        case .openSSL(let failure): failure.description
        case .handshakeFailed(let details):
            details.isEmpty ? "TLS handshake failed" : "TLS handshake failed: \(details.joined(separator: "; "))"
        case .handshakeTimedOut: "TLS handshake timed out"
        case .protocolError(let details):
            details.isEmpty ? "TLS protocol error" : "TLS protocol error: \(details.joined(separator: "; "))"
        case .bufferLimitExceeded(let limit): "TLS connection buffered more than \(limit) bytes"
        case .closed: "TLS connection closed"
        case .invalidCertificate(let reason): "invalid certificate: \(reason)"
        }
    }
}
