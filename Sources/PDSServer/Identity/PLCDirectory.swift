import ATIdentity
import Foundation
import Logging

/// The did:plc directory's HTTP API as the PDS uses it (REFERENCE-PDS.md §6.3): submit an
/// operation, read the latest one and the audit log.
public struct PLCDirectory: Sendable {
    let http: any OutboundHTTP
    let baseURL: String
    let logger: Logger
    /// Attempts for a submission that failed for a transient reason (network, 5xx, 429).
    var attempts = 4

    struct Rejected: Error, CustomStringConvertible {
        let description: String
    }

    /// POSTs `operation` for `did`. A 2xx is success, and so is 409 for an operation the directory
    /// already has (a retry after a lost response); 400 is the directory refusing the operation,
    /// reported with its message. Transient failures are retried with backoff.
    public func submit(_ operation: PLCOperation, did: String) async throws {
        guard let url = URL(string: "\(baseURL)/\(did)") else { throw Rejected(description: "bad PLC directory URL \(baseURL)") }
        var lastProblem = ""
        for attempt in 1...attempts {
            do {
                let response = try await http.send(OutboundRequest(
                    method: "POST", url: url, headers: [("Content-Type", "application/json")],
                    body: operation.jsonBytes, timeout: 10), maxResponseBytes: 64 << 10)
                switch response.status {
                case 200..<300:
                    return
                case 409:
                    // Either our own earlier attempt landed, or the log moved on without us.
                    if let latest = try? await lastOperation(did: did), latest == operation { return }
                    throw Rejected(description: "the PLC directory refused the operation for \(did) (409): \(Self.message(response))")
                case 400..<500 where response.status != 429:
                    throw Rejected(description: "the PLC directory refused the operation for \(did) (\(response.status)): \(Self.message(response))")
                default:
                    lastProblem = "HTTP \(response.status)"
                }
            } catch let rejected as Rejected {
                throw rejected
            } catch {
                lastProblem = "\(error)"
            }
            logger.warning("PLC directory submission failed, will retry", metadata: ["attempt": "\(attempt)", "problem": "\(lastProblem)"])
            if attempt < attempts { try await Task.sleep(for: .milliseconds(250 << attempt)) }
        }
        throw Rejected(description: "the PLC directory at \(baseURL) is unreachable: \(lastProblem)")
    }

    /// The latest operation of `did` (`GET /{did}/log/last`).
    func lastOperation(did: String) async throws -> PLCOperation {
        let body = try await get("\(did)/log/last")
        return try PLCOperation(jsonBytes: body)
    }

    /// The audit log of `did` (`GET /{did}/log/audit`).
    func auditLog(did: String) async throws -> [PLCLogEntry] {
        try PLCAuditLog.parse(try await get("\(did)/log/audit"))
    }

    private func get(_ path: String) async throws -> [UInt8] {
        guard let url = URL(string: "\(baseURL)/\(path)") else { throw Rejected(description: "bad PLC directory URL \(baseURL)") }
        let response = try await http.send(OutboundRequest(url: url, timeout: 10), maxResponseBytes: 4 << 20)
        guard response.status == 200 else {
            throw Rejected(description: "the PLC directory answered \(response.status) for /\(path): \(Self.message(response))")
        }
        return response.body
    }

    static func message(_ response: OutboundResponse) -> String {
        if let message = response.jsonObject?["message"] as? String { return message }
        return String(decoding: response.body.prefix(200), as: UTF8.self)
    }
}
