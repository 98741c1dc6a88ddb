import Foundation
import Logging
import PDSCore
import ServiceLifecycle

/// Runs with the server: while a signing key rotation waits for the DID document
/// (`ServerKeys.nextSigningKey`), checks the directory every `interval` and finishes the switch
/// in the running server as soon as the document shows the new key (`KeyRotation`). Until then
/// the old key signs, which is what the published document still says.
public struct KeyRotationWatcher: Service {
    let state: PDSServices
    let interval: Duration

    /// `PDS_KEY_ROTATION_CHECK_SECONDS` (default 60) sets how often the directory is asked.
    public init(state: PDSServices) {
        self.state = state
        let seconds = state.config.values["PDS_KEY_ROTATION_CHECK_SECONDS"].flatMap { Int($0) } ?? 60
        interval = .seconds(max(seconds, 1))
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: interval)
                    if state.keys.nextSigningKey != nil { await KeyRotation.finishPending(state: state) }
                }
            }
        } catch is CancellationError {
            return
        }
    }
}
