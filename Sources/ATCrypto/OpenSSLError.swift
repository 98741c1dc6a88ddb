import COpenSSL

/// A failure reported by OpenSSL, with the library's own error text when there is one.
public struct OpenSSLError: Error, CustomStringConvertible, Sendable {
    /// What we were doing (e.g. `"EVP_DigestInit_ex2"`).
    public let operation: String
    /// OpenSSL's error queue, drained at the time of the failure.
    public let details: [String]

    /// Captures and clears OpenSSL's thread-local error queue.
    public init(_ operation: String) {
        self.operation = operation
        var details: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            details.append(String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        self.details = details
    }

    public var description: String {
        details.isEmpty ? "OpenSSL: \(operation) failed" : "OpenSSL: \(operation) failed: \(details.joined(separator: "; "))"
    }
}
