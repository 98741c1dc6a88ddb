import COpenSSL

/// Shared P-256 state and the byte-level scalar arithmetic both key types need.
///
/// OpenSSL 3.0 neither produces nor enforces low-S ECDSA signatures (https://atproto.com/specs/cryptography requires it), so
/// the comparisons against n/2 and the n − s flip are done here on 32-byte big-endian values:
/// no BIGNUM allocation and the same code for signing and verifying.
enum P256Curve {
    /// The OpenSSL group name of P-256.
    static let groupName = "prime256v1"

    /// The curve group, built once. EC_GROUP is read-only after creation, so every thread may use
    /// it (EC_GROUP/EC_POINT are not deprecated in 3.0; only EC_KEY is).
    nonisolated(unsafe) static let group: OpaquePointer = {
        guard let group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1) else {
            fatalError("\(OpenSSLError("EC_GROUP_new_by_curve_name(prime256v1)"))")
        }
        return group
    }()

    /// The group order n, 32 bytes big-endian (read from OpenSSL rather than typed in).
    static let order: [UInt8] = {
        guard let n = EC_GROUP_get0_order(group) else { fatalError("EC_GROUP_get0_order failed") }
        var bytes = [UInt8](repeating: 0, count: 32)
        precondition(BN_bn2binpad(n, &bytes, 32) == 32, "P-256 order is not 32 bytes")
        return bytes
    }()

    /// ⌊n/2⌋: the largest s a low-S signature may have.
    static let halfOrder: [UInt8] = {
        var half = [UInt8](repeating: 0, count: 32)
        var carry: UInt8 = 0
        for index in 0..<32 {
            half[index] = (order[index] >> 1) | carry
            carry = (order[index] & 1) << 7
        }
        return half
    }()

    /// Compares two 32-byte big-endian numbers: −1, 0 or 1.
    static func compare(_ lhs: UnsafeRawBufferPointer, _ rhs: [UInt8]) -> Int {
        for index in 0..<32 where lhs[index] != rhs[index] {
            return lhs[index] < rhs[index] ? -1 : 1
        }
        return 0
    }

    /// Whether a 32-byte big-endian value is in [1, n−1] (a valid private scalar, r or s).
    static func isValidScalar(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.contains(where: { $0 != 0 }) && compare(bytes, order) < 0
    }

    /// Whether a 32-byte s is above n/2 (the "high" twin that atproto rejects).
    static func isHighS(_ s: UnsafeRawBufferPointer) -> Bool {
        compare(s, halfOrder) > 0
    }

    /// Replaces a 32-byte big-endian s (< n) by n − s, the other valid signature for the same r.
    static func negateModOrder(_ s: UnsafeMutableRawBufferPointer) {
        var borrow = 0
        for index in stride(from: 31, through: 0, by: -1) {
            var difference = Int(order[index]) - Int(s[index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            s[index] = UInt8(difference)
        }
    }

    /// Encodes a point in SEC1 form, compressed (33 bytes) or uncompressed (65 bytes).
    static func encode(_ point: OpaquePointer, compressed: Bool) -> [UInt8] {
        let count = compressed ? 33 : 65
        let form = compressed ? POINT_CONVERSION_COMPRESSED : POINT_CONVERSION_UNCOMPRESSED
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let written = EC_POINT_point2oct(group, point, form, buffer.baseAddress, count, nil)
            precondition(written == count, "\(OpenSSLError("EC_POINT_point2oct"))")
            initialized = count
        }
    }

    /// Decodes a SEC1 point (OpenSSL checks that it is on the curve); the caller frees it.
    static func decodePoint(_ bytes: [UInt8]) -> OpaquePointer? {
        guard let point = EC_POINT_new(group) else { return nil }
        guard EC_POINT_oct2point(group, point, bytes, bytes.count, nil) == 1 else {
            EC_POINT_free(point)
            ERR_clear_error()
            return nil
        }
        return point
    }

    /// Builds an EVP_PKEY on P-256 from a public point (SEC1 bytes) and optionally the private
    /// scalar, through `EVP_PKEY_fromdata`.
    ///
    /// OSSL_PARAM_BLD keeps the key-name and value pointers until `OSSL_PARAM_BLD_to_param`
    /// (measured, docs/ARCHITECTURE.md), so names come from the `pds_param_*` static strings and every value
    /// stays pinned in the enclosing closures until the parameter array is built.
    static func makeKey(publicPoint: [UInt8], privateScalar: OpaquePointer?) throws(CryptoError) -> EVPKey {
        let result: Result<EVPKey, CryptoError> = groupName.withCString { name in
            publicPoint.withUnsafeBytes { point in
                guard let builder = OSSL_PARAM_BLD_new() else { return .failure(.openSSL(OpenSSLError("OSSL_PARAM_BLD_new"))) }
                defer { OSSL_PARAM_BLD_free(builder) }
                guard OSSL_PARAM_BLD_push_utf8_string(builder, pds_param_group_name(), name, 0) == 1,
                      OSSL_PARAM_BLD_push_octet_string(builder, pds_param_pub_key(), point.baseAddress, point.count) == 1,
                      privateScalar.map({ OSSL_PARAM_BLD_push_BN(builder, pds_param_priv_key(), $0) == 1 }) ?? true,
                      let params = OSSL_PARAM_BLD_to_param(builder)
                else { return .failure(.openSSL(OpenSSLError("OSSL_PARAM_BLD"))) }
                // The private scalar is in a secure BIGNUM, so to_param places it in the secure
                // block, which OSSL_PARAM_free wipes.
                defer { OSSL_PARAM_free(params) }
                guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
                    return .failure(.openSSL(OpenSSLError("EVP_PKEY_CTX_new_from_name(EC)")))
                }
                defer { EVP_PKEY_CTX_free(context) }
                var key: OpaquePointer?
                let selection = privateScalar == nil ? pds_EVP_PKEY_public_key() : pds_EVP_PKEY_keypair()
                guard EVP_PKEY_fromdata_init(context) == 1,
                      EVP_PKEY_fromdata(context, &key, selection, params) == 1, let key
                else { return .failure(.openSSL(OpenSSLError("EVP_PKEY_fromdata"))) }
                return .success(EVPKey(key))
            }
        }
        return try result.get()
    }
}

/// Owns an `EVP_PKEY` and frees it with the last reference.
///
/// @unchecked Sendable: OpenSSL 3.0 documents EVP_PKEY as safe for concurrent read-only use, and
/// each operation runs on an EVP_PKEY_CTX no other thread holds (`EVPKeyContextPool`); the key
/// is never modified after creation.
final class EVPKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }
}
