import ATAuth
import ATData
import ATIdentity
import ATSyntax
import Foundation
import Hummingbird
import Logging
import PDSCore
import PDSStore

/// The account's life cycle over XRPC (https://atproto.com/specs/account, https://atproto.com/guides/account-migration):
/// an account moving here (`createAccount` with service auth, `importRepo`, `listMissingBlobs`,
/// `checkAccountStatus`, `activateAccount`), leaving or pausing (`deactivateAccount`), deletion,
/// and password resets. Everything a move needs works while the account is deactivated, as the
/// reference allows; the domain rules live in PDSCore's `AccountLifecycle`.
struct AccountEndpoints: Sendable {
    let lifecycle: AccountLifecycle
    let sessions: SessionService
    let didDocument: @Sendable () throws -> DIDDocument?
    let dataDirectory: String
    let logger: Logger

    /// Largest repository CAR `importRepo` takes (it is streamed to disk, never held in memory).
    static let maxImportSize = 4 * 1024 * 1024 * 1024

    func register(on router: inout XRPCRouter) {
        router.procedure("com.atproto.server.createAccount", rateLimit: .createSession) { request, context in
            let input = try await request.jsonObject(context: context)
            let move = AccountLifecycle.MoveIn(
                did: try input.optionalString("did") ?? "", handle: try input.requiredString("handle"),
                email: try input.optionalString("email"), password: try input.optionalString("password", maxLength: 512) ?? "",
                inviteCode: try input.optionalString("inviteCode"))
            guard !move.did.isEmpty else {
                throw XRPCError.invalidRequest("This server creates its account with `pds init`; createAccount only takes an existing DID moving here (with a service-auth token)")
            }
            let serviceToken = request.headers[.authorization].flatMap { AuthorizationHeader($0).bearerToken }
            let created = try await lifecycle.createMovedAccount(move, serviceToken: serviceToken)
            var output: JSONObject = [
                "accessJwt": .string(created.access), "refreshJwt": .string(created.refresh),
                "handle": .string(created.account.handle), "did": .string(created.account.did),
            ]
            if let document = try? didDocument() { output["didDoc"] = document.json }
            return jsonResponse(.object(output))
        }

        router.procedure("com.atproto.repo.importRepo", auth: .fullSession) { request, context, auth in
            let path = try await spool(request)
            defer { unlink(path) }
            let imported = try await lifecycle.importRepository(carPath: path, account: try sessions.account(auth.did))
            logger.info("importRepo", metadata: ["records": "\(imported.records)", "rev": "\(imported.commit.commit.rev ?? "")"])
            return Response(status: .ok)
        }

        router.query("com.atproto.repo.listMissingBlobs", auth: .session) { request, _, _ in
            let params = request.params
            let limit = try params.optionalInteger("limit", range: 1...1000) ?? 500
            let missing = try lifecycle.missingBlobs(limit: limit, cursor: params.optionalString("cursor"))
            var output: JSONObject = ["blobs": .array(missing.blobs.map { ["cid": .string($0.cid), "recordUri": .string($0.recordURI)] })]
            if let cursor = missing.cursor { output["cursor"] = .string(cursor) }
            return jsonResponse(.object(output))
        }

        router.query("com.atproto.server.checkAccountStatus", auth: .session) { _, _, auth in
            let status = try await lifecycle.status(account: try sessions.account(auth.did))
            var output: JSONObject = [
                "activated": .bool(status.activated), "validDid": .bool(status.validDid),
                "repoBlocks": .number(JSONNumber(status.counts.blocks)), "indexedRecords": .number(JSONNumber(status.counts.records)),
                "privateStateValues": .number(JSONNumber(0)), "expectedBlobs": .number(JSONNumber(status.counts.expectedBlobs)),
                "importedBlobs": .number(JSONNumber(status.counts.importedBlobs)),
            ]
            if let commit = status.commit {
                output["repoCommit"] = .string(commit.cid.string)
                output["repoRev"] = .string(commit.commit.rev ?? "")
            }
            return jsonResponse(.object(output))
        }

        router.procedure("com.atproto.server.activateAccount", auth: .fullSession) { _, _, auth in
            try await lifecycle.activate(account: try sessions.account(auth.did))
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.deactivateAccount", auth: .fullSession) { request, context, auth in
            let deleteAfter = try await optionalBody(request, context: context)?.optionalString("deleteAfter")
            if let deleteAfter, (try? Datetime(deleteAfter)) == nil { throw XRPCError.invalidRequest("deleteAfter must be a datetime") }
            try lifecycle.deactivate(account: try sessions.account(auth.did), deleteAfter: deleteAfter)
            return Response(status: .ok)
        }

        registerDeletionAndReset(on: &router)
    }

    func registerDeletionAndReset(on router: inout XRPCRouter) {
        router.procedure("com.atproto.server.requestAccountDelete", auth: .fullSession, rateLimit: .emailRequest) { _, _, _ in
            try lifecycle.requestToken(purpose: AccountLifecycle.deleteTokenPurpose)
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.deleteAccount", rateLimit: .createSession) { request, context in
            let input = try await request.jsonObject(context: context)
            try await lifecycle.delete(did: try input.requiredString("did"), password: try input.requiredString("password", maxLength: 512),
                                       token: try input.requiredString("token"))
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.requestPasswordReset", rateLimit: .createSession) { request, context in
            let input = try await request.jsonObject(context: context)
            let email = try input.requiredString("email")
            try lifecycle.requestPasswordReset(email: email)
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.resetPassword", rateLimit: .createSession) { request, context in
            let input = try await request.jsonObject(context: context)
            try await lifecycle.resetPassword(token: try input.requiredString("token"), password: try input.requiredString("password", maxLength: 512))
            return Response(status: .ok)
        }
    }

    /// A JSON body if one was sent (deactivateAccount's input is optional).
    func optionalBody(_ request: Request, context: PDSRequestContext) async throws -> XRPCInput? {
        if request.headers[.contentType] == nil, request.headers[.contentLength].flatMap(Int.init) ?? 0 == 0 { return nil }
        return try await request.jsonObject(context: context)
    }

    /// Streams the request body to a private file in the data directory (the CAR may be far
    /// larger than memory), refusing it past `maxImportSize`; returns the file's path.
    func spool(_ request: Request) async throws -> String {
        try request.requireContentType("application/vnd.ipld.car")
        try request.requireIdentityEncoding()
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maxImportSize { throw XRPCError.payloadTooLarge() }
        let path = dataDirectory + "/import-\(UUID().uuidString).car.part"
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let file = FileHandle(forWritingAtPath: path)
        else { throw XRPCError(.internalServerError, "InternalServerError", "Could not stage the upload") }
        defer { try? file.close() }
        var size = 0
        do {
            for try await chunk in request.body {
                size += chunk.readableBytes
                guard size <= Self.maxImportSize else { throw XRPCError.payloadTooLarge() }
                try file.write(contentsOf: chunk.readableBytesView)
            }
        } catch {
            unlink(path)
            throw error
        }
        return path
    }
}

extension AccountLifecycleError: XRPCErrorConvertible {
    public var xrpcError: XRPCError {
        switch self {
        case .invalid(let message): .invalidRequest(message)
        case .named(let name, let message): .badRequest(name, message)
        case .authenticationRequired(let message): .authenticationRequired(message)
        }
    }
}

extension RepositoryImportError: XRPCErrorConvertible {
    /// A refused import is the client's input: 400 `InvalidRequest` naming what was wrong.
    public var xrpcError: XRPCError {
        switch self {
        case .invalidCAR(let reason): .invalidRequest("Invalid repository CAR: \(reason)")
        case .wrongRepository(let reason): .invalidRequest("The repository is not this account's: \(reason)")
        case .badSignature: .invalidRequest("The commit signature does not verify with the DID document's #atproto key")
        case .invalidTree(let reason): .invalidRequest("Invalid repository: \(reason)")
        }
    }
}
