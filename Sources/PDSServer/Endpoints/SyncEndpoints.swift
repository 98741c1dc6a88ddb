import ATData
import ATRepo
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PDSStore

/// `com.atproto.sync.*` reads (https://atproto.com/specs/sync). CAR responses stream: memory does
/// not grow with repository size.
struct SyncEndpoints: Sendable {
    let repo: HostedRepository
    /// getRepo and listBlobs of a deactivated repo are still served to its owner (an account
    /// moving away exports from here).
    let authenticator: Authenticator

    func register(on router: inout XRPCRouter) {
        registerStatus(on: &router)
        registerBlocks(on: &router)
        registerExports(on: &router)
    }

    /// getLatestCommit, getRepoStatus, listRepos.
    func registerStatus(on router: inout XRPCRouter) {
        router.query("com.atproto.sync.getLatestCommit") { request, _ in
            _ = try repo.servedAccount(did: try request.params.requiredString("did"))
            let commit = try repo.currentCommit()
            return jsonResponse(["cid": .string(commit.cid.string), "rev": .string(commit.commit.rev ?? "")])
        }

        router.query("com.atproto.sync.getRepoStatus") { request, _ in
            let did = try request.params.requiredString("did")
            try HostedRepository.requireDID(did)
            let account = try repo.account(did)
            var output: JSONObject = ["did": .string(account.did), "active": .bool(account.isActive)]
            if let status = account.status { output["status"] = .string(status) }
            if account.isActive, let commit = try repo.writer().currentCommit { output["rev"] = .string(commit.commit.rev ?? "") }
            return jsonResponse(.object(output))
        }

        router.query("com.atproto.sync.listRepos") { request, _ in
            _ = try request.params.optionalInteger("limit", range: 1...1000)
            guard let account = try repo.accounts.account(), request.params.optionalString("cursor") == nil,
                  let commit = try? repo.writer().currentCommit
            else { return jsonResponse(["repos": []]) }
            var repo: JSONObject = [
                "did": .string(account.did), "head": .string(commit.cid.string),
                "rev": .string(commit.commit.rev ?? ""), "active": .bool(account.isActive),
            ]
            if let status = account.status { repo["status"] = .string(status) }
            return jsonResponse(["repos": [.object(repo)]])
        }
    }

    /// getRecord (with its MST proof) and getBlocks.
    func registerBlocks(on router: inout XRPCRouter) {
        router.query("com.atproto.sync.getRecord") { request, _ in
            let params = request.params
            _ = try repo.servedAccount(did: try params.requiredString("did"))
            let collection = try params.requiredString("collection")
            guard (try? NSID(collection)) != nil else { throw XRPCError.invalidRequest("collection must be a valid nsid") }
            let rkey = try params.requiredString("rkey")
            let path = collection + "/" + rkey
            guard RepoPath.isValid(path) else { throw XRPCError.invalidRequest("Invalid collection or record key") }
            // The proof: commit, the MST nodes on the path (proving presence or absence), the
            // record, all read in one snapshot from the commit it holds. The writer's tree keeps
            // only its root in memory, so a proof reads its nodes from SQLite, and commits delete
            // the nodes they replace: reading them one by one beside a busy writer could miss one.
            return try repo.store.withHeadSnapshot { commit, source in
                guard let commit else { throw XRPCError.internalError }
                let tree = try MST(root: commit.commit.data, store: source, verifiesOnLoad: false)
                var blocks = try tree.proofNodes(for: [path])
                blocks.set(commit.cid, commit.bytes)
                guard let cid = try tree.get(path) else {
                    throw XRPCError.badRequest("RecordNotFound", "Could not find record: \(path)")
                }
                blocks.set(cid, try source.requireBlock(cid))
                return carResponse(CARWriter.encode(roots: [commit.cid], blocks: blocks))
            }
        }

        router.query("com.atproto.sync.getBlocks") { request, _ in
            _ = try repo.servedAccount(did: try request.params.requiredString("did"))
            guard let texts = request.params.values["cids"] else {
                throw XRPCError.invalidRequest("Params must have the property \"cids\"")
            }
            guard texts.count <= 1000 else { throw XRPCError.invalidRequest("Too many cids (max 1000)") }
            var cids: [CID] = []
            for text in texts {
                guard let cid = try? CID(string: text) else { throw XRPCError.invalidRequest("Invalid cid: \(text)") }
                cids.append(cid)
            }
            var blocks = BlockMap()
            var missing: [String] = []
            for cid in cids {
                if let bytes = try repo.store.block(cid) { blocks.set(cid, bytes) } else { missing.append(cid.string) }
            }
            guard missing.isEmpty else {
                throw XRPCError.badRequest("BlockNotFound", "Could not find cids: \(missing.joined(separator: ", "))")
            }
            return carResponse(CARWriter.encode(roots: [], blocks: blocks))
        }
    }

    /// getRepo (whole, or since a revision) and listBlobs.
    func registerExports(on router: inout XRPCRouter) {
        router.query("com.atproto.sync.getRepo", rateLimit: .getRepo) { request, _ in
            _ = try servedAccount(did: try request.params.requiredString("did"), request: request)
            _ = try repo.currentCommit()
            // 256 KiB chunks, at most 8 waiting (2 MiB): each hand-off between the walking thread
            // and the event loop is a thread wake-up, and on a loaded machine a wake-up can wait
            // milliseconds for a core; 64 KiB chunks and 4 slots held a 1M-record export to a few
            // MB/s while both threads sat mostly idle (docs/ARCHITECTURE.md, "Reads").
            let pipe = ChunkPipe(capacity: 8)
            if let since = request.params.optionalString("since") {
                guard (try? TID(since)) != nil else { throw XRPCError.invalidRequest("since must be a TID") }
                let store = repo.store
                pipe.startProducer { pipe in
                    try Self.streamDiff(since: since, repository: store, into: pipe)
                }
            } else {
                let store = repo.store
                pipe.startProducer { pipe in
                    // Storage order in one read snapshot (docs/ARCHITECTURE.md, "Reads").
                    guard try store.exportRepository(chunkSize: Self.exportChunkSize, sink: { try pipe.put($0) }) else {
                        throw XRPCError.internalError
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

        router.query("com.atproto.sync.listBlobs") { request, _ in
            let params = request.params
            _ = try servedAccount(did: try params.requiredString("did"), request: request)
            let limit = try params.optionalInteger("limit", range: 1...1000) ?? 500
            let since = params.optionalString("since")
            if let since, (try? TID(since)) == nil { throw XRPCError.invalidRequest("since must be a TID") }
            let cursor = params.optionalString("cursor") ?? ""
            let cids = try repo.store.blobCIDs(since: since, after: cursor, limit: limit)
            var output: JSONObject = ["cids": .array(cids.map(JSONValue.string))]
            if cids.count == limit, let last = cids.last { output["cursor"] = .string(last) }
            return jsonResponse(.object(output))
        }
    }

    func carResponse(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/vnd.ipld.car"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `getRepo?since=`: the commit plus every block added after `since`, paged out of SQLite
    /// (the reference server's behaviour: blocks with `repoRev > since`). The commit is the one of
    /// the export's own snapshot: blocks a later commit replaced are gone (docs/ARCHITECTURE.md, "Blocks").
    /// Bytes per chunk a CAR export hands to the response.
    static let exportChunkSize = 256 * 1024

    static func streamDiff(since: String, repository: RepositoryStore, into pipe: ChunkPipe) throws {
        var writer: CARWriter?
        try repository.blocks(since: since, commit: { commit in
            writer = CARWriter(roots: [commit.cid], chunkSize: exportChunkSize, sink: { try pipe.put($0) })
            try writer?.write(cid: commit.cid, bytes: commit.bytes)
        }) { cid, bytes in
            try writer?.write(cid: cid, bytes: bytes)
        }
        try writer?.finish()
    }
}
