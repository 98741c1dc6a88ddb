import Synchronization

/// The server contexts one connection chooses from: the certificates loaded at one moment.
///
/// A connection takes the store's current value when it starts and keeps it to the end, so a
/// reload never changes a handshake under way.
public final class TLSServerContexts: Sendable {
    /// Contexts with a certificate, in configuration order; the first is the default.
    public let contexts: [SSLContext]
    /// Used when no certificate is loaded: it can only answer `acme-tls/1` challenges.
    let certificateless: SSLContext
    /// Challenge certificates for TLS-ALPN-01, if the server answers them.
    public let challenges: TLSALPNChallengeStore?

    /// - Parameters:
    ///   - contexts: server contexts with certificates; the first is used when no SNI name matches.
    ///   - challenges: where TLS-ALPN-01 challenge certificates are found.
    public init(contexts: [SSLContext], challenges: TLSALPNChallengeStore? = nil) throws(TLSError) {
        precondition(contexts.allSatisfy(\.isServer), "TLSServerContexts takes server contexts")
        self.contexts = contexts
        self.certificateless = try SSLContext.server()
        self.challenges = challenges
    }

    /// The context a new `SSL` starts on.
    var initialContext: SSLContext { contexts.first ?? certificateless }

    /// The context whose certificate covers `serverName`, else the default; nil when none has a
    /// certificate.
    func context(forServerName serverName: String?) -> SSLContext? {
        if let serverName, let match = contexts.first(where: { $0.certificateChain.first?.covers(serverName) == true }) {
            return match
        }
        return contexts.first
    }
}

/// Certificate and key files the server presents, reloaded when they change on disk.
///
/// `reloadIfChanged()` compares each file's inode, size and modification time with those of the
/// last load attempt and, when any differs, builds new contexts from all files. On success new
/// connections use them (connections already open keep theirs); on failure, e.g. a key written
/// before its certificate, the previous contexts stay in service and the next change is tried
/// again. `run(every:)` polls in a loop; an ACME client can call `reloadIfChanged()` directly
/// after writing new files.
public final class TLSContextStore: Sendable {
    /// One certificate: a PEM chain file (leaf first) and its PEM private key file.
    public struct CertificateFiles: Sendable, Hashable {
        public var certificateChainPath: String
        public var privateKeyPath: String

        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// What a reload attempt did.
    public enum ReloadOutcome: Sendable, Equatable {
        /// No file changed since the last attempt.
        case unchanged
        /// New contexts are in service.
        case reloaded
        /// Files changed but could not be loaded; the previous contexts stay in service.
        case failed(String)
    }

    private struct State {
        var current: TLSServerContexts
        var lastSignatures: [FileBytes.Signature?]
        var lastError: String?
    }

    /// The certificate files, in order of preference (the first is the default certificate).
    public let files: [CertificateFiles]
    /// Challenge certificates for TLS-ALPN-01, shared by every generation of contexts.
    public let challenges: TLSALPNChallengeStore?
    private let state: Mutex<State>

    /// Loads `files` now.
    ///
    /// - Parameters:
    ///   - files: certificate/key file pairs; the first is the default certificate.
    ///   - challenges: where TLS-ALPN-01 challenge certificates come from (ACME), if anywhere.
    ///   - requireCertificates: when true, a missing or unusable file is an error (a
    ///     user-provided certificate); when false, pairs that do not load yet are skipped and
    ///     picked up once they appear (ACME's first issuance).
    public init(files: [CertificateFiles], challenges: TLSALPNChallengeStore? = nil,
                requireCertificates: Bool = true) throws(TLSError) {
        self.files = files
        self.challenges = challenges
        let signatures = Self.signatures(files)
        let contexts = try Self.load(files, skippingUnusable: !requireCertificates)
        state = Mutex(State(current: try TLSServerContexts(contexts: contexts, challenges: challenges),
                            lastSignatures: signatures, lastError: nil))
    }

    /// The contexts new connections use.
    public var current: TLSServerContexts { state.withLock { $0.current } }

    /// The error of the last failed reload, nil after a successful one.
    public var lastError: String? { state.withLock { $0.lastError } }

    /// Reloads the files when any changed since the last attempt.
    @discardableResult
    public func reloadIfChanged() -> ReloadOutcome {
        let signatures = Self.signatures(files)
        guard state.withLock({ $0.lastSignatures != signatures }) else { return .unchanged }
        do {
            // Pairs that were never loadable stay skipped; pairs that were loadable must load.
            let contexts = try TLSServerContexts(contexts: Self.load(files, skippingUnusable: true), challenges: challenges)
            state.withLock {
                $0.current = contexts
                $0.lastSignatures = signatures
                $0.lastError = nil
            }
            return .reloaded
        } catch {
            let message = error.description
            state.withLock {
                $0.lastSignatures = signatures
                $0.lastError = message
            }
            return .failed(message)
        }
    }

    /// Polls the files every `interval` until the task is cancelled.
    /// - Parameter onReload: called with each outcome other than `.unchanged` (for logging).
    public func run(every interval: Duration, onReload: @Sendable (ReloadOutcome) -> Void = { _ in }) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            let outcome = reloadIfChanged()
            if outcome != .unchanged { onReload(outcome) }
        }
    }

    private static func signatures(_ files: [CertificateFiles]) -> [FileBytes.Signature?] {
        files.flatMap { [FileBytes.signature($0.certificateChainPath), FileBytes.signature($0.privateKeyPath)] }
    }

    /// Builds one context per pair. With `skippingUnusable`, a pair whose files are missing is
    /// left out; a pair whose files exist but do not load (e.g. certificate and key from
    /// different generations) is an error in both modes, so a half-written renewal is never
    /// mistaken for "no certificate".
    private static func load(_ files: [CertificateFiles], skippingUnusable: Bool) throws(TLSError) -> [SSLContext] {
        var contexts: [SSLContext] = []
        for pair in files {
            let chain = FileBytes.read(pair.certificateChainPath)
            let key = FileBytes.read(pair.privateKeyPath)
            guard let chain, let key else {
                if skippingUnusable { continue }
                let missing = chain == nil ? pair.certificateChainPath : pair.privateKeyPath
                throw .invalidCertificate("cannot read \(missing)")
            }
            do {
                contexts.append(try SSLContext.server(certificateChainPEM: chain, privateKeyPEM: key))
            } catch {
                throw .invalidCertificate("\(pair.certificateChainPath) / \(pair.privateKeyPath): \(error)")
            }
        }
        return contexts
    }
}
