import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import OpenSSLNIO
import TestSupport
import Testing

@Suite struct TLSContextStoreTests {
    /// Replaces `path` with `source`'s content through a rename (as ACME and certbot write files).
    func install(_ source: String, at path: String) throws {
        let temporary = path + ".tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
        guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    @Test func reloadsChangedFilesAndKeepsTheOldContextsOnABadPair() throws {
        let ca = try TestCertificateAuthority()
        let first = try ca.issue("first", dnsNames: ["a.test"])
        let second = try ca.issue("second", dnsNames: ["b.test"], keyType: "rsa")
        let chainPath = ca.directory + "/live.chain.pem", keyPath = ca.directory + "/live.key"
        try FileManager.default.copyItem(atPath: first.chain, toPath: chainPath)
        try FileManager.default.copyItem(atPath: first.key, toPath: keyPath)

        let store = try TLSContextStore(files: [.init(certificateChainPath: chainPath, privateKeyPath: keyPath)])
        let before = store.current
        #expect(before.contexts.first?.certificateChain.first?.dnsNames == ["a.test"])
        #expect(before.contexts.first?.certificateChain.count == 2, "leaf and CA from the chain file")
        #expect(store.reloadIfChanged() == .unchanged)

        // A renewal writes the key first: the new key with the old certificate does not load,
        // and the old contexts stay in service.
        try install(second.key, at: keyPath)
        guard case .failed(let reason) = store.reloadIfChanged() else {
            Issue.record("a mismatched certificate and key must not load")
            return
        }
        #expect(reason.contains("does not match"), "\(reason)")
        #expect(store.current === before)
        #expect(store.lastError != nil)

        // Then the certificate: both load, new connections get them, old ones keep theirs.
        try install(second.chain, at: chainPath)
        #expect(store.reloadIfChanged() == .reloaded)
        #expect(store.current.contexts.first?.certificateChain.first?.dnsNames == ["b.test"])
        #expect(before.contexts.first?.certificateChain.first?.dnsNames == ["a.test"])
        #expect(store.lastError == nil)
        #expect(store.reloadIfChanged() == .unchanged)
    }

    @Test func missingFilesAreAnErrorUnlessCertificatesMayComeLater() throws {
        let ca = try TestCertificateAuthority()
        let files = TLSContextStore.CertificateFiles(certificateChainPath: ca.directory + "/acme.chain.pem",
                                                     privateKeyPath: ca.directory + "/acme.key")
        #expect(throws: TLSError.self) { try TLSContextStore(files: [files]) }

        // ACME's first start: nothing yet; the files appear and are picked up.
        let store = try TLSContextStore(files: [files], challenges: TLSALPNChallengeStore(), requireCertificates: false)
        #expect(store.current.contexts.isEmpty)
        #expect(store.current.challenges != nil)
        let issued = try ca.issue("issued", dnsNames: ["pds.test"])
        try FileManager.default.copyItem(atPath: issued.key, toPath: files.privateKeyPath)
        try FileManager.default.copyItem(atPath: issued.chain, toPath: files.certificateChainPath)
        #expect(store.reloadIfChanged() == .reloaded)
        #expect(store.current.contexts.first?.certificateChain.first?.covers("pds.test") == true)
    }

    @Test(.timeLimit(.minutes(1))) func runPollsUntilCancelled() async throws {
        let ca = try TestCertificateAuthority()
        let first = try ca.issue("first", dnsNames: ["a.test"])
        let second = try ca.issue("second", dnsNames: ["b.test"])
        let chainPath = ca.directory + "/live.chain.pem", keyPath = ca.directory + "/live.key"
        try FileManager.default.copyItem(atPath: first.chain, toPath: chainPath)
        try FileManager.default.copyItem(atPath: first.key, toPath: keyPath)
        let store = try TLSContextStore(files: [.init(certificateChainPath: chainPath, privateKeyPath: keyPath)])
        let (outcomes, continuation) = AsyncStream<TLSContextStore.ReloadOutcome>.makeStream()
        let poller = Task { await store.run(every: .milliseconds(20)) { continuation.yield($0) } }
        try install(second.key, at: keyPath)
        try install(second.chain, at: chainPath)
        // Whichever polls see the intermediate states, the last outcome is the new pair.
        var last: TLSContextStore.ReloadOutcome?
        for await outcome in outcomes {
            last = outcome
            if outcome == .reloaded { break }
        }
        poller.cancel()
        await poller.value
        #expect(last == .reloaded)
        #expect(store.current.contexts.first?.certificateChain.first?.dnsNames == ["b.test"])
    }
}

@Suite struct X509Tests {
    @Test func csrIsSignedAndNamesEveryDNSName() throws {
        let key = try TLSPrivateKey.generateP256()
        let der = try CertificateSigningRequest.der(key: key, dnsNames: ["pds.test", "alice.pds.test"])
        let ca = try TestCertificateAuthority()
        let path = ca.directory + "/req.der"
        try Data(der).write(to: URL(fileURLWithPath: path))
        let text = try TestCertificateAuthority.openssl(["req", "-inform", "DER", "-in", path, "-noout", "-text", "-verify"])
        #expect(text.contains("verify OK") || text.contains("Certificate request self-signature verify OK"), "\(text)")
        #expect(text.contains("DNS:pds.test, DNS:alice.pds.test"), "\(text)")
        #expect(text.contains("CN = pds.test"), "\(text)")
    }

    @Test func privateKeyPEMRoundTripsAndMatchesItsCertificate() throws {
        let key = try TLSPrivateKey.generateP256()
        let pem = try key.pkcs8PEM()
        #expect(String(decoding: pem, as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let again = try TLSPrivateKey(pem: pem)
        #expect(try again.publicKeyDER() == key.publicKeyDER())
        #expect(try again.ecCoordinates().x == key.ecCoordinates().x)
        let other = try TLSPrivateKey.generateP256()
        let certificate = try TLSCertificate.selfSigned(key: key, dnsNames: ["pds.test"], notBefore: 1_700_000_000, lifetime: 86400)
        #expect(certificate.matches(key))
        #expect(!certificate.matches(other))
        #expect(certificate.notBefore == 1_700_000_000)
        #expect(certificate.notAfter == 1_700_086_400)
        #expect(certificate.commonName == "pds.test")
        #expect(try TLSCertificate.chain(pem: certificate.pem).first?.der == certificate.der)
    }

    @Test func es256SignaturesVerifyWithOpenSSL() throws {
        let key = try TLSPrivateKey.generateP256()
        let message = Array("eyJhbGciOiJFUzI1NiJ9.e30".utf8)
        let signature = try key.signES256(message)
        #expect(signature.count == 64)
        // openssl dgst wants DER: SEQUENCE { INTEGER r, INTEGER s }.
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop(while: { $0 == 0 }))
            if value.isEmpty || value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02, UInt8(value.count)] + value
        }
        let body = integer(signature[0..<32]) + integer(signature[32..<64])
        let der = [0x30, UInt8(body.count)] + body
        let ca = try TestCertificateAuthority()
        let certificate = try TLSCertificate.selfSigned(key: key, dnsNames: ["pds.test"], notBefore: 1_700_000_000, lifetime: 86400)
        try Data(certificate.pem).write(to: URL(fileURLWithPath: ca.directory + "/c.pem"))
        try TestCertificateAuthority.openssl(["x509", "-in", ca.directory + "/c.pem", "-pubkey", "-noout", "-out", ca.directory + "/pub.pem"])
        try Data(message).write(to: URL(fileURLWithPath: ca.directory + "/m"))
        try Data(der).write(to: URL(fileURLWithPath: ca.directory + "/sig"))
        let good = try TestCertificateAuthority.openssl(["dgst", "-sha256", "-verify", ca.directory + "/pub.pem",
                                                         "-signature", ca.directory + "/sig", ca.directory + "/m"])
        #expect(good.contains("Verified OK"))
        try Data(message + [0x21]).write(to: URL(fileURLWithPath: ca.directory + "/m"))
        let (status, _) = try TestCertificateAuthority.runAllowingFailure(
            "openssl", ["dgst", "-sha256", "-verify", ca.directory + "/pub.pem", "-signature", ca.directory + "/sig", ca.directory + "/m"])
        #expect(status != 0)
    }

    @Test func clientHelloParsersRejectBadLengths() {
        func serverName(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBufferPointer { ClientHello.serverName($0) } }
        func alpn(_ bytes: [UInt8]) -> [String]? { bytes.withUnsafeBufferPointer { ClientHello.alpnProtocols($0) } }
        let name = Array("Pds.Test".utf8)
        #expect(serverName([0, UInt8(name.count + 3), 0, 0, UInt8(name.count)] + name) == "pds.test")
        #expect(serverName([0, UInt8(name.count + 3), 0, 0, UInt8(name.count + 1)] + name) == nil)
        #expect(serverName([0, 9, 0, 0, UInt8(name.count)] + name) == nil)
        #expect(serverName([]) == nil)
        let wire = ClientHello.wireFormat(["h2", "http/1.1"])
        #expect(alpn([0, UInt8(wire.count)] + wire) == ["h2", "http/1.1"])
        #expect(alpn([0, UInt8(wire.count + 1)] + wire) == nil)
        #expect(alpn([0, 3, 5, 0x61, 0x62]) == nil)
        #expect(alpn([0, 1, 0]) == nil, "empty protocol names are invalid (RFC 7301)")
        #expect(TLSCertificate.name("*.pds.test", matches: "alice.pds.test"))
        #expect(!TLSCertificate.name("*.pds.test", matches: "pds.test"))
        #expect(!TLSCertificate.name("*.pds.test", matches: "a.b.pds.test"))
        #expect(TLSCertificate.name("PDS.test", matches: "pds.TEST"))
    }
}
