import ACME
import ATCrypto
import ATIdentity
import Foundation
import Logging
import OpenSSLNIO
import PDSCore
import PDSNetwork
import PDSServer

/// `pds doctor`: checks what a self-hoster usually gets wrong (the reference PDS) and says how
/// to fix each problem: config, key unlock, DNS for the hostname and the handle, the TLS
/// certificate, the DID document, relay reachability. Read-only; safe next to a running server.
public enum Doctor {
    public struct Finding: Sendable {
        public let ok: Bool
        public let check: String
        public let detail: String
        /// What to do about a failure.
        public let fix: String?
    }

    /// Runs every check; `report` receives each finding as it is made.
    public static func run(configPath: String, environment: [String: String], http: (any OutboundHTTP)? = nil,
                           report: (Finding) -> Void) async -> [Finding] {
        var findings: [Finding] = []
        func note(_ finding: Finding) {
            findings.append(finding)
            report(finding)
        }
        func pass(_ check: String, _ detail: String) { note(Self.pass(check, detail)) }
        func fail(_ check: String, _ detail: String, fix: String) { note(Self.fail(check, detail, fix: fix)) }

        let config: PDSConfig
        do {
            config = try PDSConfig.load(path: configPath, environment: environment)
            pass("config", "\(configPath) is valid (hostname \(config.hostname))")
        } catch {
            fail("config", "\(error)", fix: "edit \(configPath); every key is described in pds.conf.example")
            return findings
        }

        var keys: ServerKeys?
        do {
            keys = try ServerKeys.unlock(config: config, environment: environment)
            pass("keys", "the signing and rotation keys open")
        } catch {
            fail("keys", "\(error)", fix: "check PDS_KEY_UNLOCK and the identity/passphrase source (systemd credential pds-unlock, PDS_KEY_IDENTITY_FILE or PDS_KEY_PASSPHRASE_FILE); key files must be age files with mode 0600")
        }

        let http = http ?? config.outbound.makeClient()
        let resolver = NetworkIdentityDirectory(http: http, remoteHTTP: http.guarded(by: config.outbound.makeGuard(logger: nil)),
                                                plcURL: config.plcURL, dnsResolver: config.dnsResolver,
                                                isDevelopment: config.isDevelopment, httpsFallback: config.handleHTTPSResolution)
        // The account, from the database (read-only use).
        var account: (did: String, handle: String)?
        if let state = try? PDSServices.open(config: config, keys: keys ?? ServerKeys(signingKey: K256PrivateKey(), rotationKey: nil),
                                                logger: Logger(label: "pds-doctor"), http: http),
           let row = try? state.accounts.account() {
            account = (row.did, row.handle)
            pass("account", "\(row.handle) (\(row.did))")
        } else {
            fail("account", "no account in \(config.dataDirectory)", fix: "run `pds init` (or point PDS_DATA_DIRECTORY at the initialised directory)")
        }

        // DNS: the hostname must resolve to this machine's public address.
        // Through the server's own resolver when one is configured (PDS_DNS_RESOLVER), else the system's.
        let addresses = config.dnsResolver != nil
            ? ((try? await DNSClient.configured(config.dnsResolver).addresses(config.hostname)) ?? [])
            : resolveAddresses(config.hostname)
        if addresses.isEmpty {
            fail("dns-hostname", "\(config.hostname) does not resolve",
                 fix: "add an A (and AAAA) record for \(config.hostname) pointing at this server's public IP")
        } else {
            pass("dns-hostname", "\(config.hostname) → \(addresses.joined(separator: ", "))")
        }

        if let account { await checkIdentity(account, config: config, keys: keys, resolver: resolver, note: note) }
        await checkTLS(config, http: http, note: note)
        await checkRelays(config, http: http, note: note)
        await checkEmail(config, note: note)
        return findings
    }

    /// With SMTP configured: connects, secures and signs in as the server will, sending nothing.
    static func checkEmail(_ config: PDSConfig, note: (Finding) -> Void) async {
        guard let settings = config.email else {
            note(pass("email", "off (no PDS_EMAIL_SMTP_URL): `pds account token <purpose>` prints each token"))
            return
        }
        do {
            try settings.requireUsable()
            try await SMTPClient(settings: settings, heloName: config.hostname).verify()
            note(pass("email", "\(settings): TLS and sign-in work"))
        } catch {
            note(fail("email", "\(settings): \(error)",
                      fix: "check PDS_EMAIL_SMTP_URL (smtps:// for port 465, smtp:// for 587 with STARTTLS), the user and PDS_EMAIL_SMTP_PASSWORD_FILE"))
        }
    }

    static func pass(_ check: String, _ detail: String) -> Finding { Finding(ok: true, check: check, detail: detail, fix: nil) }
    static func fail(_ check: String, _ detail: String, fix: String) -> Finding { Finding(ok: false, check: check, detail: detail, fix: fix) }

    /// The handle resolves to the account, and the DID document points here with this key and handle.
    static func checkIdentity(_ account: (did: String, handle: String), config: PDSConfig, keys: ServerKeys?,
                              resolver: any IdentityDirectory, note: (Finding) -> Void) async {
        func pass(_ check: String, _ detail: String) { note(Self.pass(check, detail)) }
        func fail(_ check: String, _ detail: String, fix: String) { note(Self.fail(check, detail, fix: fix)) }
        do {
            let did = try await resolver.did(forHandle: account.handle, fresh: true)
            if did == account.did {
                pass("handle", "\(account.handle) resolves to \(did)")
            } else {
                fail("handle", "\(account.handle) resolves to \(did), not \(account.did)",
                     fix: "set the DNS TXT record _atproto.\(account.handle) to \"did=\(account.did)\"")
            }
        } catch {
            fail("handle", "\(error)", fix: "add the DNS TXT record _atproto.\(account.handle) with the value \"did=\(account.did)\"")
        }

        do {
            let document = try await resolver.document(account.did, fresh: true)
            var problems: [String] = []
            if document.pdsEndpoint != config.publicURL { problems.append("#atproto_pds is \(document.pdsEndpoint ?? "missing"), not \(config.publicURL)") }
            if let keys, document.atprotoSigningKey?.didKey != keys.signingKey.didKey { problems.append("#atproto is not this server's signing key") }
            if document.handle?.string != account.handle { problems.append("alsoKnownAs names \(document.handle?.string ?? "no handle"), not \(account.handle)") }
            if problems.isEmpty {
                pass("did-document", "\(account.did) points at \(config.publicURL) with this signing key and handle")
            } else {
                fail("did-document", problems.joined(separator: "; "),
                     fix: "update the DID document: `com.atproto.identity.updateHandle` for the handle, or sign a PLC operation with getRecommendedDidCredentials' values")
            }
        } catch {
            fail("did-document", "\(error)", fix: account.did.hasPrefix("did:plc:")
                 ? "check PDS_DID_PLC_URL and that the genesis operation was published (pds init publishes it)"
                 : "serve https://\(config.hostname)/.well-known/did.json (pds serve does) and check TLS")
        }
    }

    /// The certificate (files or ACME) names the hostname and is current, and HTTPS answers.
    static func checkTLS(_ config: PDSConfig, http: any OutboundHTTP, note: (Finding) -> Void) async {
        func pass(_ check: String, _ detail: String) { note(Self.pass(check, detail)) }
        func fail(_ check: String, _ detail: String, fix: String) { note(Self.fail(check, detail, fix: fix)) }
        switch config.tlsMode {
        case .off:
            pass("tls", "PDS_TLS=off: TLS is terminated in front of this server")
        case .files, .acme:
            let certificate: String
            switch (try? TLSSettings.load(file: config.values, environment: [:]))??.certificates {
            case .files(let chain, _): certificate = chain
            default: certificate = ACMEFiles(dataDirectory: config.dataDirectory).certificateChainPath
            }
            if let pem = try? Data(contentsOf: URL(fileURLWithPath: certificate)), let leaf = try? TLSCertificate.chain(pem: [UInt8](pem)).first {
                let days = Int((Double(leaf.notAfter) - Date().timeIntervalSince1970) / 86400)
                let names = leaf.dnsNames
                if days < 0 {
                    fail("tls", "\(certificate) expired \(-days) days ago", fix: config.tlsMode == .acme
                         ? "check that ports 80 and 443 reach this server so ACME can renew" : "install a renewed certificate at \(certificate)")
                } else if !names.contains(config.hostname) {
                    fail("tls", "\(certificate) names \(names.joined(separator: ", ")), not \(config.hostname)",
                         fix: "get a certificate for \(config.hostname) (PDS_TLS=acme does it)")
                } else {
                    pass("tls", "\(certificate) is valid for \(days) more days, names \(names.joined(separator: ", "))")
                }
            } else if config.tlsMode == .acme {
                fail("tls", "no certificate yet at \(certificate)",
                     fix: "start `pds serve` with ports 80 and 443 reachable from the internet; ACME obtains one")
            } else {
                fail("tls", "\(certificate) is missing or not PEM", fix: "set PDS_TLS_CERTIFICATE and PDS_TLS_PRIVATE_KEY to your chain and key")
            }
            if let url = URL(string: "https://\(config.hostname)/xrpc/_health") {
                do {
                    let response = try await http.send(OutboundRequest(url: url, timeout: 5), maxResponseBytes: 4096)
                    if response.status == 200 { pass("https", "https://\(config.hostname) answers with a certificate this machine trusts") }
                    else { fail("https", "https://\(config.hostname)/xrpc/_health answered \(response.status)", fix: "check that pds serve is running") }
                } catch {
                    fail("https", "https://\(config.hostname) is not reachable with a valid certificate: \(error)",
                         fix: "open port 443, check the certificate's names and expiry (`openssl s_client -connect \(config.hostname):443`)")
                }
            }
        }
    }

    /// Each relay of `PDS_CRAWLERS` answers; crawling switched off is said, not skipped.
    static func checkRelays(_ config: PDSConfig, http: any OutboundHTTP, note: (Finding) -> Void) async {
        func pass(_ check: String, _ detail: String) { note(Self.pass(check, detail)) }
        func fail(_ check: String, _ detail: String, fix: String) { note(Self.fail(check, detail, fix: fix)) }
        if config.crawlers.isEmpty {
            // Off on purpose (`PDS_CRAWLERS=`), so not a failure, but said: it is why posts would not show up.
            pass("relay", "crawling is off (PDS_CRAWLERS is empty): no relay is asked to crawl this server, so only direct subscribers see its posts")
        }
        for crawler in config.crawlers {
            guard let url = URL(string: crawler + "/xrpc/_health") else { continue }
            do {
                let response = try await http.send(OutboundRequest(url: url, timeout: 5), maxResponseBytes: 4096)
                if response.status < 500 { pass("relay", "\(crawler) is reachable (HTTP \(response.status))") }
                else { fail("relay", "\(crawler) answered \(response.status)", fix: "retry later; relays come and go") }
            } catch {
                fail("relay", "\(crawler) is not reachable: \(error)", fix: "check outbound HTTPS from this machine (firewall, DNS) and PDS_CRAWLERS")
            }
        }
    }

    /// The addresses `name` resolves to through the system resolver.
    static func resolveAddresses(_ name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor = result
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(cString: buffer)
                if !addresses.contains(text) { addresses.append(text) }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
