import Foundation
import Logging
import OpenSSLNIO

/// What to ask the ACME server for, and how.
public struct ACMEConfiguration: Sendable {
    /// Let's Encrypt's production directory.
    public static let letsEncrypt = URL(string: "https://acme-v02.api.letsencrypt.org/directory")!
    /// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
    public static let letsEncryptStaging = URL(string: "https://acme-staging-v02.api.letsencrypt.org/directory")!

    /// The ACME directory URL.
    public var directoryURL: URL
    /// The DNS names of the certificate (the hostname, and the handle when it is served here).
    public var names: [String]
    /// Account contacts (`mailto:` URLs).
    public var contact: [String]
    /// The challenge types to use, in order of preference. TLS-ALPN-01 needs the TLS listener
    /// on port 443, HTTP-01 the listener on port 80.
    public var challengeTypes: [ACMEChallengeType]
    /// Whether the operator agreed to the CA's terms of service (sent in newAccount).
    public var termsOfServiceAgreed: Bool
    /// Pause between polls of authorizations and orders.
    public var pollInterval: Duration = .seconds(1)
    /// Waits after failed attempts, in order; the last repeats (Let's Encrypt allows 5 failed
    /// validations per name per hour, so retries slow down quickly).
    public var retryDelays: [Duration] = [.seconds(60), .seconds(600), .seconds(3600), .seconds(6 * 3600)]

    public init(directoryURL: URL = ACMEConfiguration.letsEncrypt, names: [String], contact: [String] = [],
                challengeTypes: [ACMEChallengeType] = [.tlsALPN01, .http01], termsOfServiceAgreed: Bool) {
        self.directoryURL = directoryURL
        self.names = names.map { $0.lowercased() }
        self.contact = contact
        self.challengeTypes = challengeTypes
        self.termsOfServiceAgreed = termsOfServiceAgreed
    }
}

/// Obtains and renews the server's certificate: issues when there is none (or it no longer
/// covers the configured names, or its key does not match), renews once two thirds of its
/// lifetime have passed, answers HTTP-01 and TLS-ALPN-01 challenges through the shared stores,
/// and writes the results to `ACMEFiles`.
///
/// `run()` is the service loop: check, issue if due, sleep until the renewal time (re-checking
/// at least daily), with growing delays after failures.
public final class ACMECertificateManager: Sendable {
    public let configuration: ACMEConfiguration
    public let files: ACMEFiles
    /// HTTP-01 responses, served by the port-80 listener.
    public let http01: HTTP01ChallengeStore
    /// TLS-ALPN-01 certificates, presented by the TLS listener.
    public let tlsALPN01: TLSALPNChallengeStore
    private let transport: any ACMETransport
    private let onCertificate: @Sendable () -> Void
    private let logger: Logger

    /// Whether a certificate is needed now.
    public enum Status: Sendable, Equatable {
        /// The certificate on disk is good; renew at this time (seconds since 1970).
        case current(renewAt: Int64)
        /// A certificate must be obtained, and why.
        case needed(String)
    }

    /// - Parameters:
    ///   - configuration: names, directory, challenge preference.
    ///   - files: where the account key and certificate go.
    ///   - transport: HTTPS to the ACME server (e.g. `OpenSSLHTTPSClient(trustRoots:)`).
    ///   - http01: the HTTP-01 responses store the port-80 listener reads.
    ///   - tlsALPN01: the TLS-ALPN-01 certificate store the TLS listener reads.
    ///   - logger: progress and failures.
    ///   - onCertificate: called after new files are written (e.g. `store.reloadIfChanged()`).
    public init(configuration: ACMEConfiguration, files: ACMEFiles, transport: any ACMETransport,
                http01: HTTP01ChallengeStore, tlsALPN01: TLSALPNChallengeStore, logger: Logger,
                onCertificate: @escaping @Sendable () -> Void = {}) {
        self.configuration = configuration
        self.files = files
        self.transport = transport
        self.http01 = http01
        self.tlsALPN01 = tlsALPN01
        self.logger = logger
        self.onCertificate = onCertificate
    }

    /// Seconds since 1970, now.
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// When a certificate valid from `notBefore` to `notAfter` is renewed: after two thirds of
    /// its lifetime (Let's Encrypt's 90 days → day 60, leaving 30 days to retry).
    public static func renewalTime(notBefore: Int64, notAfter: Int64) -> Int64 {
        notBefore + (notAfter - notBefore) * 2 / 3
    }

    /// Whether the files on disk hold a usable certificate for the configured names at `now`.
    public func status(now: Int64) -> Status {
        guard let chainPEM = ACMEFiles.read(files.certificateChainPath), let keyPEM = ACMEFiles.read(files.privateKeyPath) else {
            return .needed("no certificate yet")
        }
        guard let leaf = try? TLSCertificate.chain(pem: chainPEM).first, let key = try? TLSPrivateKey(pem: keyPEM) else {
            return .needed("\(files.certificateChainPath) or its key is unreadable")
        }
        guard leaf.matches(key) else { return .needed("certificate and key do not match") }
        if let missing = configuration.names.first(where: { !leaf.covers($0) }) {
            return .needed("the certificate does not cover \(missing)")
        }
        let renewAt = Self.renewalTime(notBefore: leaf.notBefore, notAfter: leaf.notAfter)
        guard now < renewAt else { return .needed("two thirds of the certificate's lifetime have passed") }
        return .current(renewAt: renewAt)
    }

    /// Issues a certificate if `status(now:)` says so. Returns whether it issued and when the
    /// certificate in service is due for renewal.
    @discardableResult
    public func ensureCertificate(now: Int64) async throws -> (issued: Bool, renewAt: Int64) {
        switch status(now: now) {
        case .current(let renewAt):
            return (false, renewAt)
        case .needed(let reason):
            logger.info("requesting a certificate", metadata: ["reason": .string(reason), "names": .string(configuration.names.joined(separator: ","))])
            let leaf = try await issue()
            let renewAt = Self.renewalTime(notBefore: leaf.notBefore, notAfter: leaf.notAfter)
            logger.info("certificate issued", metadata: [
                "notAfter": .stringConvertible(leaf.notAfter), "renewAt": .stringConvertible(renewAt),
            ])
            return (true, renewAt)
        }
    }

    /// The service loop; returns when the task is cancelled.
    public func run() async {
        var failures = 0
        while !Task.isCancelled {
            let delay: Duration
            do {
                let now = Self.now()
                let (_, renewAt) = try await ensureCertificate(now: now)
                failures = 0
                delay = .seconds(max(60, min(renewAt - now, 86400)))
            } catch is CancellationError {
                return
            } catch {
                let delays = configuration.retryDelays.isEmpty ? [Duration.seconds(3600)] : configuration.retryDelays
                delay = delays[min(failures, delays.count - 1)]
                failures += 1
                logger.error("ACME certificate request failed", metadata: [
                    "error": .string(String(describing: error)), "retryIn": .string("\(delay)"),
                ])
            }
            do { try await Task.sleep(for: delay) } catch { return }
        }
    }

    /// The account key, created on first use.
    public func accountKey() throws -> TLSPrivateKey {
        try files.createDirectory()
        if let pem = ACMEFiles.read(files.accountKeyPath) {
            try ACMEFiles.checkPrivate(files.accountKeyPath)
            return try TLSPrivateKey(pem: pem)
        }
        let key = try TLSPrivateKey.generateP256()
        try ACMEFiles.write(key.pkcs8PEM(), to: files.accountKeyPath, mode: 0o600)
        return key
    }

    /// Runs one complete issuance (RFC 8555 §7): account, order, challenges, finalize with a
    /// CSR for a fresh P-256 key, download, write the files. Returns the new leaf certificate.
    public func issue() async throws -> TLSCertificate {
        let names = configuration.names
        guard !names.isEmpty else { throw ACMEError("no names to request a certificate for") }
        let client = ACMEClient(directoryURL: configuration.directoryURL, accountKey: try accountKey(),
                                transport: transport, pollInterval: configuration.pollInterval)
        let directory = try await client.directory()
        if directory.meta?.externalAccountRequired == true {
            throw ACMEError("\(configuration.directoryURL) requires external account binding, which is not supported")
        }
        try await client.registerAccount(contact: configuration.contact, termsOfServiceAgreed: configuration.termsOfServiceAgreed)
        let (orderURL, order) = try await client.newOrder(names: names)

        for url in order.authorizations {
            try await authorize(url, client: client)
        }

        var current = try await client.waitForOrder(orderURL, whileStatusIn: ["pending"])
        guard current.status == "ready" else {
            throw current.error ?? ACMEError("order is \(current.status) after its authorizations")
        }
        let key = try TLSPrivateKey.generateP256()
        current = try await client.finalize(current, csr: CertificateSigningRequest.der(key: key, dnsNames: names))
        if current.status != "valid" {
            current = try await client.waitForOrder(orderURL, whileStatusIn: ["ready", "processing"])
        }
        guard current.status == "valid", let certificateURL = current.certificate else {
            throw current.error ?? ACMEError("order is \(current.status) after finalize")
        }
        let pem = try await client.downloadCertificate(certificateURL)
        let chain = try TLSCertificate.chain(pem: pem)
        guard chain[0].matches(key) else { throw ACMEError("the issued certificate is not for our key") }
        if let missing = names.first(where: { !chain[0].covers($0) }) {
            throw ACMEError("the issued certificate does not cover \(missing)")
        }

        try files.createDirectory()
        try ACMEFiles.write(key.pkcs8PEM(), to: files.privateKeyPath, mode: 0o600)
        try ACMEFiles.write(pem, to: files.certificateChainPath, mode: 0o644)
        let retries = await client.badNonceRetries
        if retries > 0 { logger.debug("ACME badNonce retries", metadata: ["count": .stringConvertible(retries)]) }
        onCertificate()
        return chain[0]
    }

    /// Completes one authorization with the first configured challenge type it offers.
    private func authorize(_ url: URL, client: ACMEClient) async throws {
        let authorization = try await client.authorization(url)
        if authorization.status == "valid" { return }
        guard authorization.status == "pending" else {
            throw ACMEError("authorization for \(authorization.identifier.value) is \(authorization.status)")
        }
        let name = authorization.identifier.value
        guard let (type, challenge) = configuration.challengeTypes.lazy.compactMap({ type in
            authorization.challenges.first { $0.type == type.rawValue }.map { (type, $0) }
        }).first, let token = challenge.token else {
            throw ACMEError("no usable challenge for \(name): offered \(authorization.challenges.map(\.type)), configured \(configuration.challengeTypes.map(\.rawValue))")
        }
        let keyAuthorization = try await client.keyAuthorization(token: token)
        switch type {
        case .http01:
            http01.set(token: token, keyAuthorization: keyAuthorization)
        case .tlsALPN01:
            try tlsALPN01.set(name: name, keyAuthorizationDigest: SHA256Digest.hash(Array(keyAuthorization.utf8)), now: Self.now())
        }
        defer {
            switch type {
            case .http01: http01.remove(token: token)
            case .tlsALPN01: tlsALPN01.remove(name: name)
            }
        }
        logger.debug("answering ACME challenge", metadata: ["name": .string(name), "type": .string(type.rawValue)])
        try await client.respond(to: challenge)
        let result = try await client.waitForAuthorization(url)
        guard result.status == "valid" else {
            let problem = result.challenges.first { $0.url == challenge.url }?.error
            throw problem ?? ACMEError("authorization for \(name) is \(result.status)")
        }
    }
}
