import ACME
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import OpenSSLNIO
import PDSCore
import ServiceLifecycle

/// HTTPS (and WSS) served by the process itself on the system OpenSSL, with certificates from
/// files or from ACME, and the port-80 listener (HTTP-01 answers + redirect to HTTPS).
///
/// `configure` checks everything before anything listens (a bad path, key or option is one
/// clear error); the result gives `PDSApplication.make` its server builder and services:
///
/// ```swift
/// let tls = try TLSServing.configure(settings: settings, dataDirectory: config.dataDirectory,
///                                    hostname: config.hostname, bindAddress: config.bindAddress,
///                                    httpsPort: config.port, logger: logger)
/// let app = PDSApplication.make(server: state, logger: logger, tls: tls)
/// ```
public struct TLSServing: Sendable {
    /// The certificates new connections get (reloaded when the files change).
    public let contexts: TLSContextStore
    /// HTTP-01 responses served on port 80.
    public let http01: HTTP01ChallengeStore
    /// The ACME manager, when certificates come from ACME.
    public let acme: ACMECertificateManager?
    /// What runs beside the HTTPS server: file polling, ACME renewals, the port-80 listener.
    public let services: [any Service]
    /// Handshake timeout and buffer limits.
    public let handlerConfiguration: OpenSSLHandlerConfiguration

    /// HTTP/1.1 + WebSocket upgrade over TLS, for `Application(server:)`.
    public func serverBuilder<WSResponderBuilder: HTTPResponderBuilder>(webSocketRouter: WSResponderBuilder) -> HTTPServerBuilder
        where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        .http1WebSocketUpgradeOverOpenSSL(webSocketRouter: webSocketRouter, contexts: contexts, tls: handlerConfiguration)
    }

    /// Builds the TLS setup from `settings`.
    ///
    /// - Parameters:
    ///   - settings: certificate files or ACME options (`TLSSettings.load`).
    ///   - dataDirectory: the data directory (ACME state goes to `tls/` in it).
    ///   - hostname: the server's public hostname (always on the certificate).
    ///   - bindAddress: the listen address of the port-80 listener.
    ///   - httpsPort: the HTTPS port (used in redirects).
    ///   - logger: the logger.
    ///   - onPortEightyRunning: receives the port-80 listening channel (tests read its port).
    /// - Throws: `PDSConfig.Invalid` with one line naming the problem.
    public static func configure(
        settings: TLSSettings, dataDirectory: String, hostname: String, bindAddress: String, httpsPort: Int,
        logger: Logger, onPortEightyRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> TLSServing {
        let http01 = HTTP01ChallengeStore()
        let names = ([hostname] + settings.additionalNames).map { $0.lowercased() }
        var services: [any Service] = []
        let contexts: TLSContextStore
        var manager: ACMECertificateManager?

        switch settings.certificates {
        case .files(let chain, let key):
            do {
                contexts = try TLSContextStore(files: [.init(certificateChainPath: chain, privateKeyPath: key)])
            } catch {
                throw PDSConfig.Invalid(description: "PDS_TLS_CERTIFICATE/PDS_TLS_PRIVATE_KEY: \(error)")
            }
        case .acme(let options):
            if options.challengeTypes.contains(.http01) && settings.httpPort == nil {
                throw PDSConfig.Invalid(description: "ACME HTTP-01 needs the port-80 listener (PDS_HTTP_PORT)")
            }
            guard options.termsOfServiceAgreed else {
                throw PDSConfig.Invalid(description: "PDS_ACME_AGREE_TOS=true is required: ACME needs the CA's terms of service accepted")
            }
            let files = ACMEFiles(dataDirectory: dataDirectory)
            let challenges = TLSALPNChallengeStore()
            do {
                try files.createDirectory()
                contexts = try TLSContextStore(
                    files: [.init(certificateChainPath: files.certificateChainPath, privateKeyPath: files.privateKeyPath)],
                    challenges: challenges, requireCertificates: false)
            } catch {
                throw PDSConfig.Invalid(description: "\(files.directory): \(error)")
            }
            let transport: any ACMETransport
            do {
                transport = try OpenSSLHTTPSClient(trustRoots: options.directoryCAFile.map { .pemFile($0) } ?? .system)
            } catch {
                throw PDSConfig.Invalid(description: "PDS_ACME_CA_FILE: \(error)")
            }
            var configuration = ACMEConfiguration(directoryURL: options.directoryURL, names: names,
                                                  contact: options.email.map { ["mailto:" + $0] } ?? [],
                                                  challengeTypes: options.challengeTypes,
                                                  termsOfServiceAgreed: options.termsOfServiceAgreed)
            configuration.pollInterval = options.pollInterval
            let store = contexts
            let acme = ACMECertificateManager(configuration: configuration, files: files, transport: transport,
                                              http01: http01, tlsALPN01: challenges, logger: logger,
                                              onCertificate: { store.reloadIfChanged() })
            manager = acme
            services.append(ACMEService(manager: acme))
        }
        services.append(TLSReloadService(store: contexts, interval: settings.reloadInterval, logger: logger))
        if let httpPort = settings.httpPort {
            services.append(PortEightyApp.make(http01: http01, hostname: hostname, knownHosts: names, httpsPort: httpsPort,
                                               bindAddress: bindAddress, port: httpPort, logger: logger,
                                               onServerRunning: onPortEightyRunning))
        }
        return TLSServing(contexts: contexts, http01: http01, acme: manager, services: services,
                          handlerConfiguration: settings.handler)
    }
}

/// Polls the certificate files and logs reloads (certbot, a manual copy, or our ACME manager).
struct TLSReloadService: Service {
    let store: TLSContextStore
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await store.run(every: interval) { outcome in
                switch outcome {
                case .reloaded: logger.info("TLS certificate reloaded")
                case .failed(let reason): logger.error("TLS certificate reload failed; keeping the previous one", metadata: ["error": .string(reason)])
                case .unchanged: break
                }
            }
        }
    }
}

/// Runs the ACME manager's loop until shutdown.
struct ACMEService: Service {
    let manager: ACMECertificateManager

    func run() async throws {
        await cancelWhenGracefulShutdown { await manager.run() }
    }
}
