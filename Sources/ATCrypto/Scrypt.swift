import COpenSSL

/// scrypt (RFC 7914) through OpenSSL's `EVP_PBE_scrypt`.
///
/// age wraps file keys with it (N = 2^logN, r = 8, p = 1); the server also hashes passwords with it.
public enum Scrypt {
    /// The cost parameters: CPU/memory cost `n` (a power of two > 1), block size `r`, parallelism `p`.
    public struct Parameters: Sendable, Hashable, CustomStringConvertible {
        /// CPU/memory cost N, a power of two greater than 1.
        public var n: UInt64
        /// Block size r.
        public var r: UInt32
        /// Parallelisation p.
        public var p: UInt32

        /// Parameters with an explicit N.
        public init(n: UInt64, r: UInt32, p: UInt32) {
            self.n = n
            self.r = r
            self.p = p
        }

        /// Parameters with N = 2^`logN` (age's "work factor").
        public init(logN: Int, r: UInt32, p: UInt32) {
            precondition(logN >= 1 && logN < 64, "scrypt log2(N) out of range")
            self.init(n: 1 << UInt64(logN), r: r, p: p)
        }

        /// Bytes of memory OpenSSL allocates for these parameters: `128·r·p` for B plus
        /// `128·r·(N + 2)` for V (crypto/evp/pbe_scrypt.c / providers' kdf_scrypt.c), or nil on overflow.
        public var memoryByteCount: UInt64? {
            let blockBytes = 128 * UInt64(r)
            let (bMemory, o1) = blockBytes.multipliedReportingOverflow(by: UInt64(p))
            let (vMemory, o2) = blockBytes.multipliedReportingOverflow(by: n &+ 2)
            let (total, o3) = bMemory.addingReportingOverflow(vMemory)
            return o1 || o2 || o3 || n > UInt64.max - 2 ? nil : total
        }

        public var description: String { "scrypt(N=\(n), r=\(r), p=\(p))" }
    }

    /// Derives `outputByteCount` bytes from `password` and `salt`.
    ///
    /// - Parameter maxMemory: the most memory OpenSSL may use. `nil` allows exactly what the
    ///   parameters need (``Parameters/memoryByteCount``). OpenSSL's own default (when 0 is passed)
    ///   is a 32 MiB cap, which age's default N = 2^18, r = 8 (256 MiB) exceeds, so a value is always
    ///   passed explicitly. Callers bound the work by validating the parameters first.
    /// - Throws: ``CryptoPrimitiveError/invalidParameters(_:)`` for an N that is not a power of two
    ///   above 1, a zero r or p, or parameters over `maxMemory`; ``OpenSSLError`` if OpenSSL fails
    ///   (e.g. cannot allocate the memory).
    public static func deriveKey(
        password: some Collection<UInt8>, salt: some Collection<UInt8>, parameters: Parameters,
        outputByteCount: Int, maxMemory: UInt64? = nil
    ) throws -> [UInt8] {
        guard parameters.n > 1, parameters.n & (parameters.n - 1) == 0 else {
            throw CryptoPrimitiveError.invalidParameters("scrypt N must be a power of two greater than 1")
        }
        guard parameters.r > 0, parameters.p > 0 else {
            throw CryptoPrimitiveError.invalidParameters("scrypt r and p must be positive")
        }
        guard outputByteCount > 0 else { throw CryptoPrimitiveError.invalidParameters("scrypt output length must be positive") }
        guard let needed = parameters.memoryByteCount else {
            throw CryptoPrimitiveError.invalidParameters("\(parameters) needs more memory than can be addressed")
        }
        let limit = maxMemory ?? needed
        guard needed <= limit else {
            throw CryptoPrimitiveError.invalidParameters("\(parameters) needs \(needed) bytes, over the \(limit)-byte limit")
        }
        var output = [UInt8](repeating: 0, count: outputByteCount)
        let ok = withContiguousBytes(password) { password in
            withContiguousBytes(salt) { salt in
                output.withUnsafeMutableBufferPointer { out in
                    EVP_PBE_scrypt(
                        baseAddress(password).assumingMemoryBound(to: CChar.self), password.count,
                        baseAddress(salt).assumingMemoryBound(to: UInt8.self), salt.count,
                        parameters.n, UInt64(parameters.r), UInt64(parameters.p), limit,
                        out.baseAddress, out.count)
                }
            }
        }
        guard ok == 1 else { throw OpenSSLError("EVP_PBE_scrypt") }
        return output
    }
}
