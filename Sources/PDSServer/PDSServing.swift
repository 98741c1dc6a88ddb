import Foundation
import Hummingbird
import Logging
import NIOCore

/// Runs the application as the configuration says: plain HTTP (`PDS_TLS=off`, dev, or behind a
/// proxy) or TLS terminated here. Returns when the server has shut down (SIGTERM/SIGINT: in-flight
/// requests finish, firehose connections close with 1001, then exit 0).
public enum PDSServing {
    public static func run(state: PDSServerState, logger: Logger) async throws {
        switch state.config.tlsMode {
        case .off:
            do {
                try await PDSApplication.make(server: state, logger: logger).runService()
            } catch let error as IOError {
                throw PDSConfig.Invalid(description: "cannot listen on \(state.config.bindAddress):\(state.config.port): \(String(cString: strerror(error.errnoCode)))")
            }
        case .acme, .files:
            throw PDSConfig.Invalid(description: "PDS_TLS=\(state.config.tlsMode.rawValue) is not available in this build; set PDS_TLS=off and terminate TLS in front of the server")
        }
    }
}
