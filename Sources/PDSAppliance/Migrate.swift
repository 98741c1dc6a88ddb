import ATData
import Foundation
import PDSNetwork

/// `pds migrate`: moves an existing account from its current PDS to this server, in the order of
/// the official guide and `goat account migrate` (https://atproto.com/guides/account-migration):
/// the account (service auth), the repository, the blobs (several in flight), the preferences,
/// the PLC operation (signed by the old server, with this server's recovery and rotation keys
/// first, as getRecommendedDidCredentials lists them), a check that the directory shows it,
/// activation here and deactivation there. Both servers are spoken to over XRPC, this one too:
/// the running server does the checks, as for any other client.
///
/// Every step is recorded in `MigrateState` before the next begins, so running the command again
/// continues where a run stopped; the signed PLC operation is saved before it is submitted and
/// reused, never signed twice. `dryRun` checks everything up to the PLC step and changes nothing.
public struct Migrate: Sendable {
    public struct Options: Sendable {
        /// The account on the old server: handle or DID.
        public var identifier: String
        public var oldPassword: String
        /// The new server's password (default: the old one).
        public var newPassword: String?
        /// The e-mail code an old server asks for at login (`AuthFactorTokenRequired`).
        public var authFactorToken: String?
        /// The e-mail token for `signPlcOperation`.
        public var plcToken: String?
        /// The old server's URL, instead of resolving it from the DID document.
        public var oldPDS: String?
        public var dryRun = false
        public var dataDirectory: String
        /// This server's URL.
        public var serverURL: String
        /// Blobs in flight at once.
        public var concurrency = 4

        public init(identifier: String, oldPassword: String, dataDirectory: String, serverURL: String) {
            self.identifier = identifier
            self.oldPassword = oldPassword
            self.dataDirectory = dataDirectory
            self.serverURL = serverURL
        }
    }

    /// Why a run stopped before the end without failing: what the user must supply to continue.
    public enum Pause: Error, CustomStringConvertible {
        case needsAuthFactorToken
        case needsPLCToken

        public var description: String {
            switch self {
            case .needsAuthFactorToken:
                "the old server sent a sign-in code by e-mail: run again with --auth-factor-token <code>"
            case .needsPLCToken:
                "the old server sent a PLC confirmation token by e-mail: run again with --plc-token <token> (the move continues where it stopped)"
            }
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    let options: Options
    /// For this server (a URL the operator gave).
    let http: any OutboundHTTP
    /// For the old server (a URL a DID document names): behind the outbound guard.
    let remoteHTTP: any OutboundHTTP
    let directory: any IdentityDirectory
    let progress: @Sendable (String) -> Void

    public init(options: Options, http: any OutboundHTTP, remoteHTTP: any OutboundHTTP, directory: any IdentityDirectory,
                progress: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.http = http
        self.remoteHTTP = remoteHTTP
        self.directory = directory
        self.progress = progress
    }

    /// Runs (or resumes) the move; returns the final state.
    public func run() async throws -> MigrateState {
        var state = try await startingState()
        if state.done.count == MigrateState.Phase.allCases.count {
            progress("this move is already complete (\(MigrateState.path(dataDirectory: options.dataDirectory)))")
            return state
        }
        let old = try await oldSession(state)
        var here = MigrateClient(http: http, base: options.serverURL)
        if options.dryRun { return try await dryRun(state, old: old) }
        try await phase(.account, &state) { state in
            try await createAccount(&state, old: old)
            return "created on \(options.serverURL) (deactivated until the end)"
        }
        here.token = try await newSessionToken(state)
        try await phase(.repo, &state) { state in try await moveRepository(&state, old: old, here: here) }
        try await phase(.blobs, &state) { state in try await moveBlobs(&state, old: old, here: here) }
        try await phase(.preferences, &state) { state in
            let preferences = try await old.query("app.bsky.actor.getPreferences")["preferences"] ?? .array([])
            try await here.procedure("app.bsky.actor.putPreferences", ["preferences": preferences])
            return "\(preferences.arrayValue?.count ?? 0) moved"
        }
        try await phase(.sign, &state) { state in try await signPLCOperation(&state, old: old, here: here) }
        try await phase(.submit, &state) { state in try await submitPLCOperation(state, here: here) }
        try await phase(.activate, &state) { _ in
            try await here.procedure("com.atproto.server.activateAccount")
            return "active here"
        }
        try await phase(.deactivateOld, &state) { state in
            try await old.procedure("com.atproto.server.deactivateAccount", [:])
            return "deactivated on \(state.oldPDS)"
        }
        return state
    }

    /// Runs `body` unless `phase` is already done, then records it (and stops the process there
    /// when `PDS_MIGRATE_CRASH_AFTER` names it: the resume tests' `kill -9`).
    func phase(_ phase: MigrateState.Phase, _ state: inout MigrateState,
               _ body: (inout MigrateState) async throws -> String) async throws {
        let label = "[\(phase.number)/\(MigrateState.Phase.allCases.count)] \(phase.rawValue)"
        if state.isDone(phase) {
            progress("\(label): done earlier")
            return
        }
        progress("\(label): …")
        let note = try await body(&state)
        state.done.append(phase)
        try state.save(dataDirectory: options.dataDirectory)
        progress("\(label): \(note)")
        if ProcessInfo.processInfo.environment["PDS_MIGRATE_CRASH_AFTER"] == phase.rawValue { kill(getpid(), SIGKILL) }
    }

    /// The saved state of this move, or a new one for the account `identifier` names.
    func startingState() async throws -> MigrateState {
        if let saved = try MigrateState.load(dataDirectory: options.dataDirectory) {
            if options.identifier.hasPrefix("did:") ? options.identifier != saved.did : options.identifier.lowercased() != saved.handle {
                throw Failure(description: "a move of \(saved.did) (\(saved.handle)) was started here; finish it, or remove \(MigrateState.path(dataDirectory: options.dataDirectory))")
            }
            progress("resuming the move of \(saved.did) from \(saved.oldPDS)")
            return saved
        }
        let did: String
        do {
            did = options.identifier.hasPrefix("did:") ? options.identifier : try await directory.verifiedDID(forHandle: options.identifier.lowercased())
        } catch { throw Failure(description: "cannot resolve \(options.identifier): \(error)") }
        var oldPDS = options.oldPDS
        if oldPDS == nil {
            do { oldPDS = try await directory.document(did, fresh: true).pdsEndpoint } catch {
                throw Failure(description: "cannot resolve the DID document of \(did): \(error)")
            }
        }
        guard let oldPDS else { throw Failure(description: "the DID document of \(did) names no PDS") }
        return MigrateState(did: did, oldPDS: oldPDS, handle: options.identifier.hasPrefix("did:") ? "" : options.identifier.lowercased())
    }

    /// A session on the old server (asks for the e-mail code when it wants one).
    func oldSession(_ state: MigrateState) async throws -> MigrateClient {
        var client = MigrateClient(http: remoteHTTP, base: state.oldPDS)
        var body: JSONObject = ["identifier": .string(state.did), "password": .string(options.oldPassword)]
        if let code = options.authFactorToken { body["authFactorToken"] = .string(code) }
        do {
            let session = try await client.procedure("com.atproto.server.createSession", body)
            guard session["did"]?.stringValue == state.did else { throw Failure(description: "the old server signed in another account") }
            client.token = session["accessJwt"]?.stringValue
        } catch let error as RemoteXRPCError where error.name == "AuthFactorTokenRequired" {
            throw Pause.needsAuthFactorToken
        }
        return client
    }

    /// An access token for the account on this server.
    func newSessionToken(_ state: MigrateState) async throws -> String {
        let here = MigrateClient(http: http, base: options.serverURL)
        let session = try await here.procedure("com.atproto.server.createSession", [
            "identifier": .string(state.did), "password": .string(options.newPassword ?? options.oldPassword),
        ])
        guard let token = session["accessJwt"]?.stringValue else { throw Failure(description: "this server gave no session") }
        return token
    }
}
