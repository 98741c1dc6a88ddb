import ATAuth
import ATCrypto
import ATData
import Foundation
import Hummingbird
import NIOPosix
import PDSStore

extension PDSServerState {
    /// Password sessions and app passwords (`com.atproto.server.*`, REFERENCE-PDS.md §1a, §3).
    func registerSessionMethods(on router: inout XRPCRouter) {
        router.procedure("com.atproto.server.createSession") { [self] request, context in
            let input = try await request.jsonObject(context: context)
            let identifier = try input.requiredString("identifier").lowercased()
            let password = try input.requiredString("password", maxLength: 512)
            guard let account = try accounts.account(),
                  identifier == account.handle || identifier == account.did.lowercased()
                    || (identifier.contains("@") && identifier == account.email?.lowercased())
            else {
                // Spend the same time as a real check so failures do not reveal which part was wrong.
                _ = try await Self.offEventLoop { PasswordHash.verify(password, against: Self.decoyHash) }
                throw XRPCError.authenticationRequired("Invalid identifier or password")
            }
            let accounts = self.accounts, did = account.did
            let match: (scope: SessionScope, appPasswordName: String?)? = try await Self.offEventLoop {
                if let stored = try accounts.passwordHash(), PasswordHash.verify(password, against: stored) {
                    return (.access, nil)
                }
                if let appPassword = try accounts.appPassword(hash: Self.appPasswordHash(password, did: did)) {
                    return (appPassword.privileged ? .appPassPrivileged : .appPass, appPassword.name)
                }
                return nil
            }
            guard let (scope, appPasswordName) = match else {
                throw XRPCError.authenticationRequired("Invalid identifier or password")
            }
            let tokens = try tokens.issue(did: account.did, scope: scope, appPasswordName: appPasswordName)
            logger.info("session created", metadata: ["scope": "\(scope.rawValue)"])
            return jsonResponse(.object(sessionObject(account, access: tokens.access, refresh: tokens.refresh)))
        }

        router.query("com.atproto.server.getSession") { [self] request, _ in
            let auth = try tokens.verifyAccess(request)
            let account = try requireAccount(auth.did)
            return jsonResponse(.object(sessionObject(account, access: nil, refresh: nil)))
        }

        router.procedure("com.atproto.server.refreshSession") { [self] request, _ in
            let refresh = try tokens.verifyRefresh(request)
            let account = try requireAccount(refresh.did)
            let pair = try tokens.rotate(refresh)
            return jsonResponse(.object(sessionObject(account, access: pair.access, refresh: pair.refresh)))
        }

        router.procedure("com.atproto.server.deleteSession") { [self] request, _ in
            let refresh = try tokens.verifyRefresh(request, allowExpired: true)
            try accounts.deleteRefreshToken(jti: refresh.jti)
            return Response(status: .ok)
        }

        router.procedure("com.atproto.server.createAppPassword") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            try requireFull(auth)
            let input = try await request.jsonObject(context: context)
            let name = try input.requiredString("name", maxLength: 256).trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw XRPCError.invalidRequest("App password name must not be empty") }
            let privileged = try input.optionalBool("privileged") ?? false
            let password = Self.generateAppPassword()
            let did = auth.did
            let hash = try await Self.offEventLoop { try Self.appPasswordHash(password, did: did) }
            let info: AppPasswordInfo
            do {
                info = try accounts.createAppPassword(name: name, hash: hash, privileged: privileged)
            } catch StoreError.appPasswordNameTaken {
                throw XRPCError.invalidRequest("A app password with this name already exists.")
            }
            return jsonResponse([
                "name": .string(info.name), "password": .string(password),
                "createdAt": .string(info.createdAt), "privileged": .bool(info.privileged),
            ])
        }

        router.query("com.atproto.server.listAppPasswords") { [self] request, _ in
            _ = try tokens.verifyAccess(request)
            let passwords = try accounts.appPasswords().map { info -> JSONValue in
                ["name": .string(info.name), "createdAt": .string(info.createdAt), "privileged": .bool(info.privileged)]
            }
            return jsonResponse(["passwords": .array(passwords)])
        }

        router.procedure("com.atproto.server.revokeAppPassword") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            try requireFull(auth)
            let input = try await request.jsonObject(context: context)
            try accounts.revokeAppPassword(name: try input.requiredString("name"))
            return Response(status: .ok)
        }
    }

    /// App-password tokens may not manage the account or other app passwords.
    func requireFull(_ auth: AccessAuth) throws {
        guard auth.isFull else { throw XRPCError.badTokenScope }
    }

    /// The hosted account, checking that the token's subject is it.
    func requireAccount(_ did: String) throws -> Account {
        guard let account = try accounts.account(), account.did == did else {
            throw XRPCError.invalidToken("Account not found")
        }
        return account
    }

    /// The session output shared by createSession, getSession and refreshSession.
    func sessionObject(_ account: Account, access: String?, refresh: String?) -> JSONObject {
        var object: JSONObject = [:]
        if let access { object["accessJwt"] = .string(access) }
        if let refresh { object["refreshJwt"] = .string(refresh) }
        object["handle"] = .string(account.handle)
        object["did"] = .string(account.did)
        // The app sends later requests to the document's #atproto_pds endpoint (REFERENCE-PDS.md §4).
        if let document = try? didDocument() { object["didDoc"] = document.json }
        if let email = account.email {
            object["email"] = .string(email)
            object["emailConfirmed"] = .bool(account.emailConfirmedAt != nil)
        }
        object["active"] = .bool(account.isActive)
        if let status = account.status { object["status"] = .string(status) }
        return object
    }

    /// App passwords are hashed with a per-account salt so one scrypt finds the row.
    static func appPasswordHash(_ password: String, did: String) throws -> String {
        try PasswordHash.make(password, salt: Array(SHA256.hash(Array(did.utf8)).prefix(16)))
    }

    /// Runs CPU-heavy work (scrypt: tens of milliseconds, 16 MiB) on NIO's blocking-work pool.
    /// Request handlers run on the event loops (`pds` makes them Swift Concurrency's executor),
    /// and a login must not stall every other connection on its loop, firehose consumers included.
    static func offEventLoop<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    /// `xxxx-xxxx-xxxx-xxxx` from the base32 alphabet (80 bits of randomness).
    public static func generateAppPassword() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567")
        let random = SecureRandom.bytes(16)
        let characters = random.map { alphabet[Int($0 & 31)] }
        return stride(from: 0, to: 16, by: 4).map { String(characters[$0..<($0 + 4)]) }.joined(separator: "-")
    }

    /// A hash no password matches, checked on unknown identifiers to keep timing uniform.
    static let decoyHash: String = (try? PasswordHash.make(UUID().uuidString)) ?? ""
}
