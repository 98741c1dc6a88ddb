import Foundation
import Hummingbird
import Logging
import NIOCore
import PDSBackup
import PDSCore
import PDSServer

/// Runs the application as the configuration says: plain HTTP (`PDS_TLS=off`, dev, or behind a
/// proxy) or HTTPS/WSS terminated here on the system OpenSSL, with ACME or certificate files, and
/// the blob mirror when one is configured. Returns when the server has shut down (SIGTERM/SIGINT:
/// in-flight requests finish, firehose connections close with 1001, then exit 0).
public enum PDSServing {
    /// The port could not be bound (in use, or a privileged port without the capability).
    public struct ListenFailed: Error, CustomStringConvertible {
        public let description: String
    }

    /// `onServerRunning` is called once the port is bound (its channel's `localAddress` is the
    /// listening address): the moment to say that the server is up.
    public static func run(state: PDSServices, logger: Logger,
                           onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        let config = state.config
        try config.email?.requireUsable()
        // Held until the server has shut down: `pds compact` refuses while it is (and a second
        // server on the same directory does not start).
        let lock = try DataDirectoryLock(directory: config.dataDirectory)
        defer { withExtendedLifetime(lock) {} }
        let tls: TLSServing?
        if config.tlsMode == .off {
            tls = nil
        } else {
            tls = try TLSSettings.load(file: config.values, environment: [:]).map {
                try TLSServing.configure(settings: $0, dataDirectory: config.dataDirectory, hostname: config.hostname,
                                         bindAddress: config.bindAddress, httpsPort: config.port, logger: logger)
            }
        }
        let mirror = try config.blobMirror?.withSecret()
        let services = BlobMirrorService.services(config: mirror, database: state.database, blobs: state.blobs,
                                                  http: state.http, logger: logger)
            + MailerService.services(state.email, logger: logger) + [KeyRotationWatcher(state: state)]
        do {
            try await PDSApplication.make(server: state, logger: logger, tls: tls, services: services,
                                          onServerRunning: onServerRunning).runService()
        } catch let error as IOError {
            throw ListenFailed(description: "cannot listen on \(config.bindAddress):\(config.port): \(String(cString: strerror(error.errnoCode)))")
        }
    }
}
