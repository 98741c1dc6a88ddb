import ATCrypto
import ATData
import ATIdentity
import ATSync
import ATSyntax
import Foundation
import Hummingbird
import PDSStore

/// `com.atproto.identity.*` (REFERENCE-PDS.md §1d, §6): the account's handle and did:plc document.
///
/// Every PLC change is chained on the directory's current head (its audit log, validated here,
/// so a directory that served a broken log is noticed), signed with the server's rotation key,
/// submitted, and recorded locally; then `#identity` is sequenced.
extension PDSServerState {
    static let plcTokenPurpose = "plc_operation"

    func registerIdentityMethods(on router: inout XRPCRouter) {
        router.procedure("com.atproto.identity.updateHandle") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            let account = try requireAccount(auth.did)
            let input = try await request.jsonObject(context: context)
            let text = try input.requiredString("handle")
            guard let handle = try? Handle(text.lowercased()) else { throw XRPCError.invalidRequest("Invalid handle: \(text)") }
            if handle.string != account.handle {
                // The new handle must already point here: DNS TXT or HTTPS well-known (ATPROTO.md §9).
                let resolved: String
                do { resolved = try await resolver.resolveHandle(handle.string, fresh: true) } catch {
                    throw XRPCError.invalidRequest("External handle did not resolve to DID: \(error)")
                }
                guard resolved == account.did else {
                    throw XRPCError.invalidRequest("External handle did not resolve to DID (it resolves to \(resolved))")
                }
            }
            if account.did.hasPrefix("did:plc:") {
                _ = try await applyPLCChange(did: account.did) { $0.setHandle(handle) }
            }
            // Re-running with the same handle re-emits #identity, as the reference does.
            let did = account.did, time = AccountStore.timestamp()
            let sequenceNumbers = try accounts.updateHandle(
                handle.string, event: RepoEvent.Identity(did: did, handle: handle.string, time: time))
            firehose.committed(sequenceNumbers)
            crawlNotifier.eventsSequenced()
            logger.info("handle updated", metadata: ["handle": "\(handle.string)"])
            return Response(status: .ok)
        }

        router.query("com.atproto.identity.getRecommendedDidCredentials") { [self] request, _ in
            let auth = try tokens.verifyAccess(request)
            let account = try requireAccount(auth.did)
            return jsonResponse(.object(recommendedCredentials(handle: account.handle)))
        }

        router.procedure("com.atproto.identity.requestPlcOperationSignature") { [self] request, _ in
            let auth = try tokens.verifyAccess(request)
            guard auth.isFull else { throw XRPCError.badTokenScope }
            _ = try requireAccount(auth.did)
            let token = Self.makeConfirmationToken()
            try accounts.storeToken(token, purpose: Self.plcTokenPurpose)
            // No e-mail is sent from here (single user, no SMTP client): the owner reads the token
            // with `pds account plc-token` on the box, which issues a fresh one.
            logger.notice("a PLC operation token was requested; run `pds account plc-token` on the server to get one")
            return Response(status: .ok)
        }

        router.procedure("com.atproto.identity.signPlcOperation") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            guard auth.isFull else { throw XRPCError.badTokenScope }
            let account = try requireAccount(auth.did)
            let input = try await request.jsonObject(context: context)
            let token = try input.requiredString("token")
            guard try accounts.consumeToken(token, purpose: Self.plcTokenPurpose) else {
                throw XRPCError.badRequest("InvalidToken", "Token is invalid")
            }
            guard account.did.hasPrefix("did:plc:") else { throw XRPCError.invalidRequest("Only did:plc identities have PLC operations") }
            let previous = try await currentPLCHead(did: account.did)
            let rotationKeys = try input.value("rotationKeys").map { try Self.stringArray($0, "rotationKeys") }
            let alsoKnownAs = try input.value("alsoKnownAs").map { try Self.stringArray($0, "alsoKnownAs") }
            let verificationMethods = try input.value("verificationMethods").map { try Self.stringMap($0, "verificationMethods") }
            let services = try input.value("services").map { try Self.services($0) }
            let operation: PLCOperation
            do {
                operation = try PLCOperation.update(after: previous) { state in
                    if let rotationKeys { state.rotationKeys = rotationKeys }
                    if let alsoKnownAs { state.alsoKnownAs = alsoKnownAs }
                    if let verificationMethods { state.verificationMethods = verificationMethods }
                    if let services { state.services = services }
                }.signed(with: try requireRotationKey(), chainedOn: previous)
            } catch let error as IdentityError {
                throw XRPCError.invalidRequest("\(error)")
            }
            return jsonResponse(["operation": operation.json])
        }

        router.procedure("com.atproto.identity.submitPlcOperation") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            let account = try requireAccount(auth.did)
            let input = try await request.jsonObject(context: context)
            guard let json = input.object["operation"] else { throw XRPCError.invalidRequest("Input must have the property \"operation\"") }
            let operation: PLCOperation
            do { operation = try PLCOperation(jsonBytes: json.serialized()) } catch {
                throw XRPCError.invalidRequest("Invalid PLC operation: \(error)")
            }
            try checkSubmittedOperation(operation, handle: account.handle)
            let previous = try await currentPLCHead(did: account.did)
            guard operation.prev == previous.cid.string else {
                throw XRPCError.invalidRequest("Operation is not chained on the current PLC head (\(previous.cid.string))")
            }
            guard let state = previous.state, (try? operation.signerIndex(among: state.rotationKeys)) != nil else {
                throw XRPCError.invalidRequest("Operation is not signed by a current rotation key")
            }
            try await publish(operation, did: account.did)
            let did = account.did, time = AccountStore.timestamp(), handle = account.handle
            firehose.committed(try EventLogStore(database: database).append([.identity(.init(did: did, handle: handle, time: time))]))
            return Response(status: .ok)
        }
    }

    /// What this server wants in the account's DID document.
    func recommendedCredentials(handle: String) -> JSONObject {
        var rotationKeys: [JSONValue] = []
        if let recovery = config.recoveryDIDKey { rotationKeys.append(.string(recovery)) }
        if let rotation = keys.rotationKey { rotationKeys.append(.string(rotation.didKey)) }
        return [
            "alsoKnownAs": [.string("at://" + handle)],
            "verificationMethods": ["atproto": .string(keys.signingKey.didKey)],
            "rotationKeys": .array(rotationKeys),
            "services": ["atproto_pds": ["type": .string(PLCService.atprotoPDSType), "endpoint": .string(config.publicURL)]],
        ]
    }

    /// The submitted operation must keep this server in charge (REFERENCE-PDS.md §1d submitPlcOperation).
    func checkSubmittedOperation(_ operation: PLCOperation, handle: String) throws {
        guard let state = operation.state else { throw XRPCError.invalidRequest("Refusing to submit a tombstone") }
        if let rotation = keys.rotationKey, !state.rotationKeys.contains(rotation.didKey) {
            throw XRPCError.invalidRequest("Rotation keys do not include server's rotation key")
        }
        guard state.services["atproto_pds"]?.type == PLCService.atprotoPDSType else {
            throw XRPCError.invalidRequest("Missing atproto_pds service")
        }
        guard state.pdsEndpoint == config.publicURL else {
            throw XRPCError.invalidRequest("Incorrect endpoint on atproto_pds service")
        }
        guard state.atprotoSigningKey == keys.signingKey.didKey else {
            throw XRPCError.invalidRequest("Incorrect signing key")
        }
        guard state.alsoKnownAs.first == "at://" + handle else { throw XRPCError.invalidRequest("Incorrect handle in alsoKnownAs") }
    }

    /// The head of the account's PLC log: the directory's (validated audit log) when this server
    /// publishes, else the local record.
    func currentPLCHead(did: String) async throws -> PLCOperation {
        if config.publishesIdentity {
            let entries: [PLCLogEntry]
            do { entries = try await plcDirectory.auditLog(did: did) } catch {
                throw XRPCError(.badGateway, "UpstreamFailure", "Could not read the PLC audit log: \(error)")
            }
            let result: PLCAuditLog.Result
            do { result = try PLCAuditLog.validate(entries) } catch {
                throw XRPCError(.badGateway, "UpstreamFailure", "The PLC directory's audit log for \(did) does not validate: \(error)")
            }
            guard !result.isTombstoned else { throw XRPCError.invalidRequest("Did is tombstoned") }
            return result.head.operation
        }
        guard let json = try accounts.latestPLCOperation(), let operation = try? PLCOperation(jsonBytes: json) else {
            throw XRPCError.invalidRequest("No PLC operation is recorded for \(did)")
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
            throw XRPCError.invalidRequest("Could not build the PLC operation: \(error)")
        }
        try await publish(operation, did: did)
        return operation
    }

    /// Sends an operation to the directory (when this server publishes) and records it.
    func publish(_ operation: PLCOperation, did: String) async throws {
        if config.publishesIdentity {
            do { try await plcDirectory.submit(operation, did: did) } catch let rejected as PLCDirectory.Rejected {
                throw XRPCError.invalidRequest(rejected.description)
            }
        }
        try accounts.storePLCOperation(cid: operation.cid.string, json: operation.jsonBytes, published: config.publishesIdentity)
    }

    func requireRotationKey() throws -> any SigningKey {
        guard let key = keys.rotationKey else { throw XRPCError.invalidRequest("This server holds no PLC rotation key") }
        return key
    }

    /// `XXXXX-XXXXX` from an unambiguous alphabet (the reference's e-mail token shape).
    static func makeConfirmationToken() -> String {
        let alphabet = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        let characters = SecureRandom.bytes(10).map { alphabet[Int($0) % alphabet.count] }
        return String(characters[0..<5]) + "-" + String(characters[5..<10])
    }

    static func stringArray(_ value: JSONValue, _ name: String) throws -> [String] {
        guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
            throw XRPCError.invalidRequest("\(name) must be an array of strings")
        }
        return array.compactMap(\.stringValue)
    }

    static func stringMap(_ value: JSONValue, _ name: String) throws -> [String: String] {
        guard let object = value.objectValue else { throw XRPCError.invalidRequest("\(name) must be an object") }
        var map: [String: String] = [:]
        for (key, entry) in object {
            guard let text = entry.stringValue else { throw XRPCError.invalidRequest("\(name)/\(key) must be a string") }
            map[key] = text
        }
        return map
    }

    static func services(_ value: JSONValue) throws -> [String: PLCService] {
        guard let object = value.objectValue else { throw XRPCError.invalidRequest("services must be an object") }
        var services: [String: PLCService] = [:]
        for (key, entry) in object {
            guard let type = entry.objectValue?["type"]?.stringValue, let endpoint = entry.objectValue?["endpoint"]?.stringValue else {
                throw XRPCError.invalidRequest("services/\(key) must have a type and an endpoint")
            }
            services[key] = PLCService(type: type, endpoint: endpoint)
        }
        return services
    }
}

/// Token issuing for the command line (it opens the database directly; SQLite's locking makes
/// that safe next to a running server).
public enum AccountTokens {
    /// A fresh `plc_operation` token, replacing any earlier one.
    public static func issuePLCToken(dataDirectory: String) throws -> String {
        let database = try PDSDatabase(directory: dataDirectory)
        let token = PDSServerState.makeConfirmationToken()
        try AccountStore(database: database).storeToken(token, purpose: PDSServerState.plcTokenPurpose)
        return token
    }
}
