import COpenSSL

extension TLSCertificate {
    /// The RFC 8737 `id-pe-acmeIdentifier` extension OID.
    public static let acmeIdentifierOID = "1.3.6.1.5.5.7.1.31"

    /// A self-signed certificate for `dnsNames` (the first is also the subject CN), signed with
    /// `key` (SHA-256), valid from `notBefore` for `lifetime` seconds.
    ///
    /// - Parameters:
    ///   - key: the certificate's key (also the signing key: the certificate is self-signed).
    ///   - dnsNames: subjectAltName DNS names; at least one.
    ///   - notBefore: start of validity in seconds since 1970 (UTC).
    ///   - lifetime: seconds of validity.
    ///   - acmeIdentifier: when set, the critical `id-pe-acmeIdentifier` extension holding this
    ///     32-byte SHA-256 of the key authorization (an RFC 8737 TLS-ALPN-01 challenge certificate).
    /// - Returns: the certificate.
    public static func selfSigned(key: TLSPrivateKey, dnsNames: [String], notBefore: Int64, lifetime: Int64,
                                  acmeIdentifier: [UInt8]? = nil) throws(TLSError) -> TLSCertificate {
        guard let first = dnsNames.first else { throw .invalidCertificate("a certificate needs at least one name") }
        if let acmeIdentifier, acmeIdentifier.count != 32 {
            throw .invalidCertificate("acmeIdentifier must be a 32-byte SHA-256")
        }
        ERR_clear_error()
        guard let x509 = X509_new_ex(nil, nil) else { throw .openSSL(OpenSSLFailure("X509_new_ex")) }
        let certificate = TLSCertificate(taking: x509)
        guard X509_set_version(x509, Int(X509_VERSION_3)) == 1 else { throw .openSSL(OpenSSLFailure("X509_set_version")) }

        // A random positive 127-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, positive).
        guard let serial = BN_new() else { throw .openSSL(OpenSSLFailure("BN_new")) }
        defer { BN_free(serial) }
        guard BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1,
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x509)) != nil
        else { throw .openSSL(OpenSSLFailure("serial number")) }

        guard ASN1_TIME_set(X509_getm_notBefore(x509), time_t(notBefore)) != nil,
              ASN1_TIME_set(X509_getm_notAfter(x509), time_t(notBefore + lifetime)) != nil
        else { throw .openSSL(OpenSSLFailure("ASN1_TIME_set")) }

        guard let name = X509_NAME_new() else { throw .openSSL(OpenSSLFailure("X509_NAME_new")) }
        defer { X509_NAME_free(name) }
        let cn = Array(first.utf8)
        guard X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, cn, Int32(cn.count), -1, 0) == 1,
              X509_set_subject_name(x509, name) == 1, X509_set_issuer_name(x509, name) == 1,
              X509_set_pubkey(x509, key.pointer) == 1
        else { throw .openSSL(OpenSSLFailure("X509 subject")) }

        let san = try subjectAltNameExtension(dnsNames)
        defer { X509_EXTENSION_free(san) }
        guard X509_add_ext(x509, san, -1) == 1 else { throw .openSSL(OpenSSLFailure("X509_add_ext(SAN)")) }

        if let acmeIdentifier {
            // extnValue = DER of `Authorization ::= OCTET STRING (SIZE (32))` (RFC 8737 §3).
            let ext = try rawExtension(oid: acmeIdentifierOID, critical: true, value: [0x04, 0x20] + acmeIdentifier)
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x509, ext, -1) == 1 else { throw .openSSL(OpenSSLFailure("X509_add_ext(acmeIdentifier)")) }
        }

        guard X509_sign(x509, key.pointer, EVP_sha256()) > 0 else { throw .openSSL(OpenSSLFailure("X509_sign")) }
        return certificate
    }

    /// A subjectAltName extension listing `dnsNames`.
    static func subjectAltNameExtension(_ dnsNames: [String]) throws(TLSError) -> OpaquePointer {
        guard let names = pds_sk_GENERAL_NAME_new_null() else { throw .openSSL(OpenSSLFailure("sk_GENERAL_NAME_new_null")) }
        defer { GENERAL_NAMES_free(names) }
        for dnsName in dnsNames {
            guard let string = ASN1_IA5STRING_new() else { throw .openSSL(OpenSSLFailure("ASN1_IA5STRING_new")) }
            let bytes = Array(dnsName.utf8)
            guard ASN1_STRING_set(string, bytes, Int32(bytes.count)) == 1, let general = GENERAL_NAME_new() else {
                ASN1_IA5STRING_free(string)
                throw .openSSL(OpenSSLFailure("GENERAL_NAME"))
            }
            GENERAL_NAME_set0_value(general, GEN_DNS, UnsafeMutableRawPointer(string))
            guard pds_sk_GENERAL_NAME_push(names, general) > 0 else {
                GENERAL_NAME_free(general)
                throw .openSSL(OpenSSLFailure("sk_GENERAL_NAME_push"))
            }
        }
        guard let ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, UnsafeMutableRawPointer(names)) else {
            throw .openSSL(OpenSSLFailure("X509V3_EXT_i2d(SAN)"))
        }
        return ext
    }

    /// An extension with a raw DER `value` as its extnValue content.
    static func rawExtension(oid: String, critical: Bool, value: [UInt8]) throws(TLSError) -> OpaquePointer {
        guard let object = OBJ_txt2obj(oid, 1) else { throw .openSSL(OpenSSLFailure("OBJ_txt2obj")) }
        defer { ASN1_OBJECT_free(object) }
        guard let octets = ASN1_OCTET_STRING_new() else { throw .openSSL(OpenSSLFailure("ASN1_OCTET_STRING_new")) }
        defer { ASN1_OCTET_STRING_free(octets) }
        guard ASN1_OCTET_STRING_set(octets, value, Int32(value.count)) == 1,
              let ext = X509_EXTENSION_create_by_OBJ(nil, object, critical ? 1 : 0, octets)
        else { throw .openSSL(OpenSSLFailure("X509_EXTENSION_create_by_OBJ")) }
        return ext
    }
}

/// A PKCS#10 certificate signing request (what ACME's `finalize` takes).
public enum CertificateSigningRequest {
    /// The DER CSR for `dnsNames` (subjectAltName; the first is also the subject CN), signed by `key`.
    public static func der(key: TLSPrivateKey, dnsNames: [String]) throws(TLSError) -> [UInt8] {
        guard let first = dnsNames.first else { throw .invalidCertificate("a CSR needs at least one name") }
        ERR_clear_error()
        guard let request = X509_REQ_new_ex(nil, nil) else { throw .openSSL(OpenSSLFailure("X509_REQ_new_ex")) }
        defer { X509_REQ_free(request) }
        guard let name = X509_NAME_new() else { throw .openSSL(OpenSSLFailure("X509_NAME_new")) }
        defer { X509_NAME_free(name) }
        let cn = Array(first.utf8)
        guard X509_REQ_set_version(request, 0) == 1,
              X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, cn, Int32(cn.count), -1, 0) == 1,
              X509_REQ_set_subject_name(request, name) == 1,
              X509_REQ_set_pubkey(request, key.pointer) == 1
        else { throw .openSSL(OpenSSLFailure("X509_REQ subject")) }

        guard let extensions = pds_sk_X509_EXTENSION_new_null() else { throw .openSSL(OpenSSLFailure("sk_X509_EXTENSION_new_null")) }
        defer { pds_sk_X509_EXTENSION_pop_free(extensions) }
        let san = try TLSCertificate.subjectAltNameExtension(dnsNames)
        guard pds_sk_X509_EXTENSION_push(extensions, san) > 0 else {
            X509_EXTENSION_free(san)
            throw .openSSL(OpenSSLFailure("sk_X509_EXTENSION_push"))
        }
        guard X509_REQ_add_extensions(request, extensions) == 1 else { throw .openSSL(OpenSSLFailure("X509_REQ_add_extensions")) }
        guard X509_REQ_sign(request, key.pointer, EVP_sha256()) > 0 else { throw .openSSL(OpenSSLFailure("X509_REQ_sign")) }

        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_REQ(request, &out)
        guard length > 0, let out else { throw .openSSL(OpenSSLFailure("i2d_X509_REQ")) }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
