import ArgumentParser
import Foundation

/// A refusal worded for the operator: one line on standard error, exit status 1, and no usage
/// text (ArgumentParser's `ValidationError` appends usage, which is right only for bad flags).
struct CommandFailure: Error {
    let message: String

    init(_ message: String) { self.message = message }
    init(_ error: any Error) { message = "\(error)" }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning a `CommandFailure` (or any other error) into one line and exit 1.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch let failure as CommandFailure {
            try? FileHandle.standardError.write(contentsOf: Data("pds: \(failure.message)\n".utf8))
            throw ExitCode.failure
        } catch {
            try? FileHandle.standardError.write(contentsOf: Data("pds: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
