import ATData
import ATIdentity
import ATSyntax
import Hummingbird
import PDSCore
import PDSStore

/// `com.atproto.identity.*`: handle resolution and the account's handle and did:plc document.
struct IdentityEndpoints: Sendable {
    let identity: IdentityService
    let sessions: SessionService
    let email: AccountEmail

    func register(on router: inout XRPCRouter) {
        router.query("com.atproto.identity.resolveHandle") { request, _ in
            let text = try request.params.requiredString("handle")
            guard let handle = try? Handle(text) else { throw XRPCError.invalidRequest("handle must be a valid handle") }
            do {
                return jsonResponse(["did": .string(try await identity.resolveHandle(handle))])
            } catch {
                throw XRPCError.badRequest("HandleNotFound", "Unable to resolve handle")
            }
        }

        router.procedure("com.atproto.identity.updateHandle", auth: .session, rateLimit: .updateHandle) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            let text = try input.requiredString("handle")
            guard let handle = try? Handle(text.lowercased()) else { throw XRPCError.invalidRequest("Invalid handle: \(text)") }
            try await identity.updateHandle(handle, account: try sessions.account(auth.did))
            return Response(status: .ok)
        }

        router.query("com.atproto.identity.getRecommendedDidCredentials", auth: .session) { _, _, auth in
            jsonResponse(.object(identity.recommendedCredentials(handle: try sessions.account(auth.did).handle)))
        }

        router.procedure("com.atproto.identity.requestPlcOperationSignature", auth: .fullSession) { _, _, _ in
            try email.issueToken(purpose: IdentityService.plcTokenPurpose)
            return Response(status: .ok)
        }

        router.procedure("com.atproto.identity.signPlcOperation", auth: .fullSession) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            let token = try input.requiredString("token")
            var changes = IdentityService.PLCChanges()
            changes.rotationKeys = try input.value("rotationKeys").map { try Self.stringArray($0, "rotationKeys") }
            changes.alsoKnownAs = try input.value("alsoKnownAs").map { try Self.stringArray($0, "alsoKnownAs") }
            changes.verificationMethods = try input.value("verificationMethods").map { try Self.stringMap($0, "verificationMethods") }
            changes.services = try input.value("services").map { try Self.services($0) }
            let operation = try await identity.signPLCOperation(token: token, changes: changes, account: try sessions.account(auth.did))
            return jsonResponse(["operation": operation.json])
        }

        router.procedure("com.atproto.identity.submitPlcOperation", auth: .session) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            guard let json = input.object["operation"] else { throw XRPCError.invalidRequest("Input must have the property \"operation\"") }
            let operation: PLCOperation
            do { operation = try PLCOperation(jsonBytes: json.serialized()) } catch {
                throw XRPCError.invalidRequest("Invalid PLC operation: \(error)")
            }
            try await identity.submitPLCOperation(operation, account: try sessions.account(auth.did))
            return Response(status: .ok)
        }
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
