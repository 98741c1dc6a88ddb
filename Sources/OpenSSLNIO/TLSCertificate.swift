import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An X.509 certificate held by OpenSSL (`X509`), with the facts the server and ACME need.
public final class TLSCertificate: @unchecked Sendable {
    /// The `X509*`, owned by this object. Never mutated after init.
    let pointer: OpaquePointer

    init(taking pointer: OpaquePointer) { self.pointer = pointer }

    deinit { X509_free(pointer) }

    /// Every certificate in `pem`, in file order (a chain file: leaf first, then issuers).
    /// Throws when there is none.
    public static func chain(pem: [UInt8]) throws(TLSError) -> [TLSCertificate] {
        ERR_clear_error()
        var certificates: [TLSCertificate] = []
        pem.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(TLSCertificate(taking: certificate))
            }
        }
        // The loop ends on "no start line" at the end of the input: that is not an error.
        ERR_clear_error()
        guard !certificates.isEmpty else { throw .invalidCertificate("no certificate in PEM") }
        return certificates
    }

    /// The certificate in DER.
    public var der: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(pointer, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`).
    public var pem: [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { return [] }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, pointer) == 1 else { return [] }
        return BIOBytes.drain(bio)
    }

    /// Start of validity, in seconds since 1970 (UTC).
    public var notBefore: Int64 { Self.epochSeconds(X509_get0_notBefore(pointer)) }
    /// End of validity, in seconds since 1970 (UTC).
    public var notAfter: Int64 { Self.epochSeconds(X509_get0_notAfter(pointer)) }

    static func epochSeconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return Int64(timegm(&parts))
    }

    /// The DNS names of the subjectAltName extension, lowercased, in certificate order.
    public var dnsNames: [String] {
        guard let raw = X509_get_ext_d2i(pointer, NID_subject_alt_name, nil, nil) else { return [] }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for index in 0..<pds_sk_GENERAL_NAME_num(names) {
            guard let name = pds_sk_GENERAL_NAME_value(names, index) else { continue }
            var type: Int32 = 0
            guard let value = GENERAL_NAME_get0_value(name, &type), type == GEN_DNS else { continue }
            let string = value.assumingMemoryBound(to: ASN1_STRING.self)
            guard let data = ASN1_STRING_get0_data(string) else { continue }
            let bytes = UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string)))
            result.append(String(decoding: bytes, as: UTF8.self).lowercased())
        }
        return result
    }

    /// The subject's common name, if any.
    public var commonName: String? {
        guard let subject = X509_get_subject_name(pointer) else { return nil }
        let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
              let data = X509_NAME_ENTRY_get_data(entry), let bytes = ASN1_STRING_get0_data(data)
        else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data))), as: UTF8.self)
    }

    /// The raw value (the extnValue OCTET STRING's content) and criticality of the extension with
    /// the dotted `oid`, or nil when the certificate has none.
    public func extensionValue(oid: String) -> (critical: Bool, value: [UInt8])? {
        guard let object = OBJ_txt2obj(oid, 1) else { return nil }
        defer { ASN1_OBJECT_free(object) }
        let index = X509_get_ext_by_OBJ(pointer, object, -1)
        guard index >= 0, let ext = X509_get_ext(pointer, index), let data = X509_EXTENSION_get_data(ext),
              let bytes = ASN1_STRING_get0_data(data)
        else { return nil }
        return (X509_EXTENSION_get_critical(ext) == 1,
                Array(UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data)))))
    }

    /// Whether `key` is the private key for this certificate's public key.
    public func matches(_ key: TLSPrivateKey) -> Bool {
        defer { ERR_clear_error() }
        return X509_check_private_key(pointer, key.pointer) == 1
    }

    /// Whether the certificate covers `name` (exact DNS name, or a `*.` wildcard one label deep).
    public func covers(_ name: String) -> Bool {
        let names = dnsNames
        return names.contains { Self.name($0, matches: name) }
    }

    /// RFC 6125 §6.4.3 in its common form: `*.example.com` matches `a.example.com`, not
    /// `example.com` or `a.b.example.com`. Comparison ignores case.
    static func name(_ pattern: String, matches name: String) -> Bool {
        let pattern = pattern.lowercased(), name = name.lowercased()
        if pattern == name { return true }
        guard pattern.hasPrefix("*."), let dot = name.firstIndex(of: ".") else { return false }
        return name[name.index(after: dot)...] == pattern.dropFirst(2) && dot != name.startIndex
    }
}
