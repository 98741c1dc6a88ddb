import ATData
import ATRepo
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PDSStore

extension PDSServerState {
    /// `com.atproto.sync.*` reads (ATPROTO.md §14, REFERENCE-PDS.md §1c). CAR responses stream:
    /// memory does not grow with repository size.
    func registerSyncMethods(on router: inout XRPCRouter) {
        router.query("com.atproto.sync.getLatestCommit") { [self] request, _ in
            _ = try requireServedRepo(try request.params.requiredString("did"))
            let commit = try currentCommit()
            return jsonResponse(["cid": .string(commit.cid.string), "rev": .string(commit.commit.rev ?? "")])
        }

        router.query("com.atproto.sync.getRepoStatus") { [self] request, _ in
            let account = try requireHostedRepo(try request.params.requiredString("did"))
            var output: JSONObject = ["did": .string(account.did), "active": .bool(account.isActive)]
            if let status = account.status { output["status"] = .string(status) }
            if account.isActive, let commit = try repoWriter().currentCommit { output["rev"] = .string(commit.commit.rev ?? "") }
            return jsonResponse(.object(output))
        }

        router.query("com.atproto.sync.listRepos") { [self] request, _ in
            _ = try request.params.optionalInteger("limit", range: 1...1000)
            guard let account = try accounts.account(), request.params.optionalString("cursor") == nil,
                  let commit = try? repoWriter().currentCommit
            else { return jsonResponse(["repos": []]) }
            var repo: JSONObject = [
                "did": .string(account.did), "head": .string(commit.cid.string),
                "rev": .string(commit.commit.rev ?? ""), "active": .bool(account.isActive),
            ]
            if let status = account.status { repo["status"] = .string(status) }
            return jsonResponse(["repos": [.object(repo)]])
        }

        router.query("com.atproto.sync.getRecord") { [self] request, _ in
            let params = request.params
            _ = try requireServedRepo(try params.requiredString("did"))
            let collection = try params.requiredString("collection")
            let rkey = try params.requiredString("rkey")
            let path = collection + "/" + rkey
            guard RepoPath.isValid(path) else { throw XRPCError.invalidRequest("Invalid collection or record key") }
            let writer = try repoWriter()
            guard let commit = writer.currentCommit, let tree = writer.currentTree else { throw XRPCError.internalError }
            // The proof: commit, the MST nodes on the path (proving presence or absence), the record.
            var blocks = try tree.proofNodes(for: [path])
            blocks.set(commit.cid, commit.bytes)
            if let cid = try tree.get(path) {
                guard let bytes = try repository.block(cid) else { throw XRPCError.internalError }
                blocks.set(cid, bytes)
            } else {
                throw XRPCError.badRequest("RecordNotFound", "Could not find record: \(path)")
            }
            return carResponse(CARWriter.encode(roots: [commit.cid], blocks: blocks))
        }

        router.query("com.atproto.sync.getBlocks") { [self] request, _ in
            _ = try requireServedRepo(try request.params.requiredString("did"))
            let texts = request.params.values["cids"] ?? []
            guard texts.count <= 1000 else { throw XRPCError.invalidRequest("Too many cids (max 1000)") }
            var cids: [CID] = []
            for text in texts {
                guard let cid = try? CID(string: text) else { throw XRPCError.invalidRequest("Invalid cid: \(text)") }
                cids.append(cid)
            }
            var blocks = BlockMap()
            var missing: [String] = []
            for cid in cids {
                if let bytes = try repository.block(cid) { blocks.set(cid, bytes) } else { missing.append(cid.string) }
            }
            guard missing.isEmpty else {
                throw XRPCError.badRequest("BlockNotFound", "Could not find cids: \(missing.joined(separator: ", "))")
            }
            return carResponse(CARWriter.encode(roots: [], blocks: blocks))
        }

        router.query("com.atproto.sync.getRepo") { [self] request, _ in
            _ = try requireServedRepo(try request.params.requiredString("did"))
            let commit = try currentCommit()
            let source = try repository.blockSource()
            let pipe = ChunkPipe()
            if let since = request.params.optionalString("since") {
                guard (try? TID(since)) != nil else { throw XRPCError.invalidRequest("since must be a TID") }
                let repository = self.repository
                pipe.startProducer { pipe in
                    try Self.streamDiff(since: since, commit: commit, repository: repository, into: pipe)
                }
            } else {
                pipe.startProducer { pipe in
                    // One read transaction for the whole walk; no dedup set, so memory stays flat
                    // however many records there are.
                    try source.withSnapshot { snapshot in
                        try RepoExport.stream(commit: commit, store: snapshot, deduplicateRecords: false) { chunk in
                            try pipe.put(chunk)
                        }
                    }
                }
            }
            let body = ResponseBody { writer in
                do {
                    while let chunk = try await pipe.next() {
                        try await writer.write(ByteBuffer(bytes: chunk))
                    }
                    try await writer.finish(nil)
                } catch {
                    pipe.cancel()
                    throw error
                }
            }
            return Response(status: .ok, headers: [.contentType: "application/vnd.ipld.car"], body: body)
        }

        router.query("com.atproto.sync.listBlobs") { [self] request, _ in
            let params = request.params
            _ = try requireServedRepo(try params.requiredString("did"))
            let limit = try params.optionalInteger("limit", range: 1...1000) ?? 500
            let since = params.optionalString("since")
            if let since, (try? TID(since)) == nil { throw XRPCError.invalidRequest("since must be a TID") }
            let cursor = params.optionalString("cursor") ?? ""
            let cids = try repository.blobCIDs(since: since, after: cursor, limit: limit)
            var output: JSONObject = ["cids": .array(cids.map(JSONValue.string))]
            if cids.count == limit, let last = cids.last { output["cursor"] = .string(last) }
            return jsonResponse(.object(output))
        }
    }

    /// The hosted account if `did` names it and its repository may be served publicly.
    func requireServedRepo(_ did: String) throws -> Account {
        guard let account = try accounts.account(), account.did == did else {
            throw XRPCError.badRequest("RepoNotFound", "Could not find repo for DID: \(did)")
        }
        if account.takedownRef != nil { throw XRPCError.badRequest("RepoTakendown", "Repo has been takendown: \(did)") }
        if account.deactivatedAt != nil { throw XRPCError.badRequest("RepoDeactivated", "Repo has been deactivated: \(did)") }
        return account
    }

    func currentCommit() throws -> SignedCommit {
        guard let commit = try repoWriter().currentCommit else {
            throw XRPCError.badRequest("RepoNotFound", "Could not find repo")
        }
        return commit
    }

    func carResponse(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/vnd.ipld.car"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `getRepo?since=`: the commit plus every block added after `since`, paged out of SQLite
    /// (the reference server's behaviour: blocks with `repoRev > since`).
    static func streamDiff(since: String, commit: SignedCommit, repository: RepositoryStore, into pipe: ChunkPipe) throws {
        var writer = CARWriter(roots: [commit.cid], sink: { try pipe.put($0) })
        try writer.write(cid: commit.cid, bytes: commit.bytes)
        try repository.blocks(since: since) { cid, bytes in
            if cid == commit.cid { return }
            try writer.write(cid: cid, bytes: bytes)
        }
        try writer.finish()
    }
}
