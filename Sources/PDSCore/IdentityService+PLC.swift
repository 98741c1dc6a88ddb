import ATCrypto
import ATIdentity
import PDSNetwork

extension IdentityService {
    /// The submitted operation must keep this server in charge, as the reference checks.
    func checkSubmittedOperation(_ operation: PLCOperation, handle: String) throws {
        guard let state = operation.state else { throw IdentityServiceError.invalid("Refusing to submit a tombstone") }
        if let rotation = keys.rotationKey, !state.rotationKeys.contains(rotation.didKey) {
            throw IdentityServiceError.invalid("Rotation keys do not include server's rotation key")
        }
        guard state.services["atproto_pds"]?.type == PLCService.atprotoPDSType else {
            throw IdentityServiceError.invalid("Missing atproto_pds service")
        }
        guard state.pdsEndpoint == config.publicURL else {
            throw IdentityServiceError.invalid("Incorrect endpoint on atproto_pds service")
        }
        guard state.atprotoSigningKey == keys.signingKey.didKey else { throw IdentityServiceError.invalid("Incorrect signing key") }
        guard state.alsoKnownAs.first == "at://" + handle else { throw IdentityServiceError.invalid("Incorrect handle in alsoKnownAs") }
    }

    /// The head of the account's PLC log: the directory's (validated audit log) when this server
    /// publishes, else the local record.
    func currentPLCHead(did: String) async throws -> PLCOperation {
        if config.publishesIdentity {
            let entries: [PLCLogEntry]
            do { entries = try await plc.auditLog(did: did) } catch {
                throw IdentityServiceError.upstream("Could not read the PLC audit log: \(error)")
            }
            let result: PLCAuditLog.Result
            do { result = try PLCAuditLog.validate(entries) } catch {
                throw IdentityServiceError.upstream("The PLC directory's audit log for \(did) does not validate: \(error)")
            }
            guard !result.isTombstoned else { throw IdentityServiceError.invalid("Did is tombstoned") }
            return result.head.operation
        }
        guard let json = try accounts.latestPLCOperation(), let operation = try? PLCOperation(jsonBytes: json) else {
            throw IdentityServiceError.invalid("No PLC operation is recorded for \(did)")
        }
        return operation
    }

    /// Builds, signs, publishes and records an update of the account's PLC state.
    func applyPLCChange(did: String, _ change: (inout PLCState) -> Void) async throws -> PLCOperation {
        let previous = try await currentPLCHead(did: did)
        let operation: PLCOperation
        do {
            operation = try PLCOperation.update(after: previous, change).signed(with: try requireRotationKey(), chainedOn: previous)
        } catch let error as IdentityError {
            throw IdentityServiceError.invalid("Could not build the PLC operation: \(error)")
        }
        try await publish(operation, did: did)
        return operation
    }

    /// Sends an operation to the directory (when this server publishes) and records it.
    func publish(_ operation: PLCOperation, did: String) async throws {
        if config.publishesIdentity {
            do { try await plc.submit(operation, did: did) } catch let rejected as PLCDirectory.Rejected {
                throw IdentityServiceError.invalid(rejected.description)
            }
        }
        try accounts.storePLCOperation(cid: operation.cid.string, json: operation.jsonBytes, published: config.publishesIdentity)
    }

    func requireRotationKey() throws -> any SigningKey {
        guard let key = keys.rotationKey else { throw IdentityServiceError.invalid("This server holds no PLC rotation key") }
        return key
    }
}
