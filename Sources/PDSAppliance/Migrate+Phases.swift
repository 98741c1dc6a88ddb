import ATData
import Foundation
import PDSNetwork

extension Migrate {
    static let createAccount = "com.atproto.server.createAccount"

    /// The account here, from a service-auth token the old server signs for this server. A run
    /// that created it but stopped before recording so finds it by signing in.
    func createAccount(_ state: inout MigrateState, old: MigrateClient) async throws {
        if (try? await newSessionToken(state)) != nil { return }
        let here = MigrateClient(http: http, base: options.serverURL)
        let audience = try await here.query("com.atproto.server.describeServer")["did"]?.stringValue ?? ""
        let token = try await old.query("com.atproto.server.getServiceAuth", [
            ("aud", audience), ("lxm", Self.createAccount), ("exp", String(Int(Date().timeIntervalSince1970) + 60)),
        ])["token"]?.stringValue
        guard let token else { throw Failure(description: "the old server gave no service token") }
        let handle = try await old.query("com.atproto.server.getSession")["handle"]?.stringValue ?? state.handle
        state.handle = handle
        let invite = try AccountTokens.issue(.invite, dataDirectory: options.dataDirectory)
        try await here.procedure(Self.createAccount, [
            "did": .string(state.did), "handle": .string(handle), "inviteCode": .string(invite),
            "password": .string(options.newPassword ?? options.oldPassword),
        ], token: token)
    }

    /// The repository: exported by the old server, imported here (retry-safe: an import replaces).
    func moveRepository(_ state: inout MigrateState, old: MigrateClient, here: MigrateClient) async throws -> String {
        let car = try await old.queryBytes("com.atproto.sync.getRepo", [("did", state.did)])
        try await here.procedure("com.atproto.repo.importRepo", bytes: car, contentType: "application/vnd.ipld.car")
        let status = try await here.query("com.atproto.server.checkAccountStatus")
        state.repoBytes = car.count
        state.records = Int(status["indexedRecords"]?.int64Value ?? 0)
        return "\(state.records) records, \(car.count) bytes"
    }

    /// `[#####.....]`: `done` of `total` in 20 cells.
    static func bar(_ done: Int, of total: Int) -> String {
        let filled = total > 0 ? min(20, done * 20 / total) : 20
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled) + "]"
    }

    /// The blobs this server is missing, `concurrency` at a time; the state is saved after each
    /// batch. A blob the old server no longer has is reported, not retried forever.
    func moveBlobs(_ state: inout MigrateState, old: MigrateClient, here: MigrateClient) async throws -> String {
        var cursor: String?
        var unavailable: [String] = []
        // How many the records name and how many are here already (an earlier, interrupted run).
        let status = try await here.query("com.atproto.server.checkAccountStatus")
        let expected = Int(status["expectedBlobs"]?.int64Value ?? 0)
        var done = Int(status["importedBlobs"]?.int64Value ?? 0)
        repeat {
            var params = [("limit", "100")]
            if let cursor { params.append(("cursor", cursor)) }
            let page = try await here.query("com.atproto.repo.listMissingBlobs", params)
            let cids = (page["blobs"]?.arrayValue ?? []).compactMap { $0.objectValue?["cid"]?.stringValue }
            cursor = page["cursor"]?.stringValue
            for start in stride(from: 0, to: cids.count, by: max(1, options.concurrency)) {
                let batch = Array(cids[start..<min(cids.count, start + max(1, options.concurrency))])
                let moved = try await moveBatch(batch, did: state.did, old: old, here: here)
                for (cid, size) in moved {
                    if let size { state.blobs += 1; state.blobBytes += size; done += 1 } else { unavailable.append(cid) }
                }
                try state.save(dataDirectory: options.dataDirectory)
                progress("  blobs \(Self.bar(done, of: expected)) \(done)/\(expected), \(state.blobBytes) bytes moved")
            }
        } while cursor != nil
        if !unavailable.isEmpty { progress("  \(unavailable.count) blob(s) the old server does not have: \(unavailable.joined(separator: ", "))") }
        return "\(state.blobs) moved, \(state.blobBytes) bytes"
    }

    /// Copies one batch in parallel; the size of each blob moved (nil: the old server lacks it).
    func moveBatch(_ cids: [String], did: String, old: MigrateClient, here: MigrateClient) async throws -> [(String, Int?)] {
        try await withThrowingTaskGroup(of: (String, Int?).self) { group in
            for cid in cids {
                group.addTask {
                    let bytes: [UInt8]
                    do { bytes = try await old.queryBytes("com.atproto.sync.getBlob", [("did", did), ("cid", cid)]) } catch let error as RemoteXRPCError
                        where error.name == "BlobNotFound" || error.status == 404 {
                        return (cid, nil)
                    }
                    try await here.procedure("com.atproto.repo.uploadBlob", bytes: bytes, contentType: "application/octet-stream")
                    return (cid, bytes.count)
                }
            }
            var results: [(String, Int?)] = []
            for try await result in group { results.append(result) }
            return results
        }
    }

    /// The PLC operation, signed by the old server with this server's recommended credentials,
    /// saved before anything else happens with it.
    func signPLCOperation(_ state: inout MigrateState, old: MigrateClient, here: MigrateClient) async throws -> String {
        if state.signedOperation != nil { return "signed earlier" }
        let credentials = try await here.query("com.atproto.identity.getRecommendedDidCredentials")
        guard let token = options.plcToken else {
            try await old.procedure("com.atproto.identity.requestPlcOperationSignature")
            throw Pause.needsPLCToken
        }
        var body = credentials
        body["token"] = .string(token)
        let signed = try await old.procedure("com.atproto.identity.signPlcOperation", body)
        guard let operation = signed["operation"], operation.objectValue != nil else {
            throw Failure(description: "the old server returned no operation")
        }
        state.signedOperation = String(decoding: operation.serialized(), as: UTF8.self)
        try state.save(dataDirectory: options.dataDirectory)
        return "signed by \(state.oldPDS)"
    }

    /// Submits the saved operation (unless the directory already shows this server), then waits
    /// until this server sees its identity point here.
    func submitPLCOperation(_ state: MigrateState, here: MigrateClient) async throws -> String {
        guard let text = state.signedOperation, let operation = try? JSONValue.parse(text) else {
            throw Failure(description: "no signed PLC operation is saved")
        }
        if try await here.query("com.atproto.server.checkAccountStatus")["validDid"]?.boolValue != true {
            do {
                try await here.procedure("com.atproto.identity.submitPlcOperation", ["operation": operation])
            } catch let error as RemoteXRPCError {
                // Submitted by an earlier run that stopped before recording it: the check below decides.
                progress("  submitPlcOperation: \(error)")
            }
        }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if try await here.query("com.atproto.server.checkAccountStatus")["validDid"]?.boolValue == true {
                return "the PLC directory shows this server"
            }
            try await Task.sleep(for: .seconds(1))
        }
        throw Failure(description: "the PLC directory does not show this server yet; run again to check and continue")
    }

    /// Read-only checks up to the PLC step: nothing is created or changed on either server.
    func dryRun(_ state: MigrateState, old: MigrateClient) async throws -> MigrateState {
        let here = MigrateClient(http: http, base: options.serverURL)
        let described = try await here.query("com.atproto.server.describeServer")
        guard let audience = described["did"]?.stringValue else { throw Failure(description: "this server's describeServer has no did") }
        progress("[dry run] this server: \(options.serverURL) (\(audience))")
        _ = try await old.query("com.atproto.server.getServiceAuth", [
            ("aud", audience), ("lxm", Self.createAccount), ("exp", String(Int(Date().timeIntervalSince1970) + 60)),
        ])
        progress("[dry run] the old server (\(state.oldPDS)) signs a service token for createAccount")
        let car = try await old.queryBytes("com.atproto.sync.getRepo", [("did", state.did)])
        progress("[dry run] repository: \(car.count) bytes")
        var blobs = 0
        var cursor: String?
        repeat {
            var params = [("did", state.did), ("limit", "1000")]
            if let cursor { params.append(("cursor", cursor)) }
            let page = try await old.query("com.atproto.sync.listBlobs", params)
            blobs += page["cids"]?.arrayValue?.count ?? 0
            cursor = page["cursor"]?.stringValue
        } while cursor != nil
        let preferences = try await old.query("app.bsky.actor.getPreferences")["preferences"]?.arrayValue?.count ?? 0
        progress("[dry run] blobs: \(blobs); preferences: \(preferences); nothing was changed")
        var result = state
        result.repoBytes = car.count
        result.blobs = blobs
        return result
    }
}
