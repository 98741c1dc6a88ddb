import Foundation
import Hummingbird
import Logging
import NIOCore

/// Runs the application as the configuration says: plain HTTP (`PDS_TLS=off`, dev, or behind a
/// proxy) or HTTPS/WSS terminated here on the system OpenSSL, with ACME or certificate files. Returns when the server has shut down (SIGTERM/SIGINT: in-flight
/// requests finish, firehose connections close with 1001, then exit 0).
public enum PDSServing {
    public static func run(state: PDSServerState, logger: Logger) async throws {
        let tls: TLSServing?
        if state.config.tlsMode == .off {
            tls = nil
        } else {
            let config = state.config
            tls = try TLSSettings.load(file: config.values, environment: [:]).map {
                try TLSServing.configure(settings: $0, dataDirectory: config.dataDirectory, hostname: config.hostname,
                                         bindAddress: config.bindAddress, httpsPort: config.port, logger: logger)
            }
        }
        do {
            try await PDSApplication.make(server: state, logger: logger, tls: tls).runService()
        } catch let error as IOError {
            throw PDSConfig.Invalid(description: "cannot listen on \(state.config.bindAddress):\(state.config.port): \(String(cString: strerror(error.errnoCode)))")
        }
    }
}
