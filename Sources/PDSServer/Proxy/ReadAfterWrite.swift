import ATAuth
import ATData
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PDSCore
import PDSNetwork
import PDSStore

/// Read-after-write (the reference PDS): the AppView indexes this account's writes a little
/// after they happen, so right after posting the author would not see the post. For the views
/// where that shows, the AppView's answer is amended with the account's records newer than the
/// rev it reports in `Atproto-Repo-Rev`.
///
/// Also here: `app.bsky.feed.getFeed`, whose service token must be addressed to the feed
/// generator (the AppView forwards it), not to the AppView.
struct AppViewEndpoints: Sendable {
    let proxy: ServiceProxy
    let accounts: AccountStore
    let repository: RepositoryStore
    var config: PDSConfig { proxy.config }

    static let postCollection = "app.bsky.feed.post"
    static let profileCollection = "app.bsky.actor.profile"

    func register(on router: inout XRPCRouter) {
        for nsid in ["app.bsky.feed.getTimeline", "app.bsky.feed.getAuthorFeed", "app.bsky.feed.getPostThread", "app.bsky.actor.getProfile"] {
            router.query(nsid) { request, context in
                guard proxy.isForDefaultAppView(request) else { return try await proxy.proxy(request, context: context, nsid: nsid) }
                return try await readAfterWrite(request, nsid: nsid)
            }
        }

        router.query("app.bsky.feed.getFeed") { request, context in
            guard proxy.isForDefaultAppView(request) else { return try await proxy.proxy(request, context: context, nsid: "app.bsky.feed.getFeed") }
            let feed = try request.params.requiredString("feed")
            guard let uri = try? ATURI(feed), let collection = uri.collection, let rkey = uri.recordKey else {
                throw XRPCError.invalidRequest("feed must be an at-uri")
            }
            let generator = try await feedGeneratorDID(repo: uri.authority.string, collection: collection.string, rkey: rkey.string)
            return try await proxy.proxy(request, context: context, nsid: "app.bsky.feed.getFeed",
                                   audience: generator, lxm: "app.bsky.feed.getFeedSkeleton")
        }
        registerOfflineProfiles(on: &router)
    }

    /// The generator DID from the feed record, looked up through the AppView.
    func feedGeneratorDID(repo: String, collection: String, rkey: String) async throws -> String {
        var components = URLComponents(string: config.appViewURL + "/xrpc/com.atproto.repo.getRecord")
        components?.queryItems = [.init(name: "repo", value: repo), .init(name: "collection", value: collection), .init(name: "rkey", value: rkey)]
        guard let url = components?.url else { throw XRPCError.invalidRequest("No service configured for app.bsky.feed.getFeed") }
        let response: OutboundResponse
        do { response = try await proxy.http.send(OutboundRequest(url: url), maxResponseBytes: 1 << 20) } catch {
            throw XRPCError(.badGateway, "UpstreamFailure", "Upstream service unreachable")
        }
        guard response.status == 200, let value = response.jsonObject?["value"] as? [String: Any],
              let did = value["did"] as? String, DID.isValid(did)
        else { throw XRPCError.badRequest("UnknownFeed", "could not resolve feed did") }
        return did
    }

    func readAfterWrite(_ request: Request, nsid: String) async throws -> Response {
        let upstream: OutboundStream
        do {
            upstream = try await proxy.proxyUpstream(request, nsid: nsid)
        } catch let error as XRPCError where nsid == "app.bsky.actor.getProfile" && config.isDevelopment && Self.isAppViewUnavailable(error) {
            let account = try ownProfileAccount(request, actors: request.params.optionalString("actor").map { [$0] } ?? [])
            return jsonResponse(bytes: try JSONSerialization.data(withJSONObject: ownProfileView(account)).map { $0 })
        }
        let auth = try proxy.authenticator.authenticate(request, .session, recordProof: false)  // proxyUpstream checked it; the DID is needed here
        guard upstream.status == 200 || (nsid == "app.bsky.feed.getPostThread" && upstream.status == 400),
              let rev = upstream.headers["atproto-repo-rev"], upstream.headers["content-type"]?.hasPrefix("application/json") == true,
              let account = try accounts.account(), account.did == auth.did
        else { return ServiceProxy.streamedResponse(upstream) }
        let local = try repository.records(after: rev, collections: [Self.postCollection, Self.profileCollection])
        guard !local.isEmpty else { return ServiceProxy.streamedResponse(upstream) }

        var bytes: [UInt8] = []
        for try await chunk in upstream.body {
            bytes += chunk
            guard bytes.count <= 10 << 20 else { throw XRPCError(.badGateway, "UpstreamFailure", "Upstream response too large") }
        }
        guard var body = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            return Self.bufferedResponse(upstream, bytes)
        }
        let profile = try localProfile(local)
        let author = authorView(account: account, profile: profile)
        let posts = try local.filter { $0.collection == Self.postCollection }.compactMap { try postView($0, author: author, did: account.did) }
        let params = request.params
        var status = upstream.status
        switch nsid {
        case "app.bsky.actor.getProfile":
            guard isSelf(params.optionalString("actor"), account), let profile, upstream.status == 200 else { return Self.bufferedResponse(upstream, bytes) }
            for key in ["displayName", "description", "pronouns", "website"] { body[key] = profile[key] }
            if let avatar = blobURL(profile["avatar"], did: account.did) { body["avatar"] = avatar }
            if let banner = blobURL(profile["banner"], did: account.did) { body["banner"] = banner }
        case "app.bsky.feed.getTimeline":
            body["feed"] = posts.reversed().map { ["post": $0] } + ((body["feed"] as? [Any]) ?? [])
        case "app.bsky.feed.getAuthorFeed":
            guard isSelf(params.optionalString("actor"), account) else { return Self.bufferedResponse(upstream, bytes) }
            body["feed"] = posts.reversed().map { ["post": $0] } + ((body["feed"] as? [Any]) ?? [])
        case "app.bsky.feed.getPostThread":
            let wanted = params.optionalString("uri")
            if upstream.status == 400 {
                // The AppView does not know the author's brand-new post yet: answer it from here.
                guard body["error"] as? String == "NotFound", let post = posts.first(where: { $0["uri"] as? String == wanted }) else {
                    return Self.bufferedResponse(upstream, bytes)
                }
                body = ["thread": ["$type": "app.bsky.feed.defs#threadViewPost", "post": post, "replies": [Any]()]]
                status = 200
            } else if var thread = body["thread"] as? [String: Any], let root = (thread["post"] as? [String: Any])?["uri"] as? String {
                let replies = posts.filter { post in
                    ((post["record"] as? [String: Any])?["reply"] as? [String: Any]).flatMap { ($0["parent"] as? [String: Any])?["uri"] as? String } == root
                }.map { ["$type": "app.bsky.feed.defs#threadViewPost", "post": $0, "replies": [Any]()] as [String: Any] }
                thread["replies"] = replies + ((thread["replies"] as? [Any]) ?? [])
                body["thread"] = thread
            }
        default:
            break
        }
        var headers = ServiceProxy.forwardedHeaders(upstream)
        if let oldest = local.first, let written = try? Datetime(oldest.indexedAt) {
            let lag = max(0, Int64(Date().timeIntervalSince1970 * 1000) - written.microsecondsSinceEpoch / 1000)
            headers[HTTPField.Name("atproto-upstream-lag")!] = String(lag)
        }
        headers[.contentType] = "application/json; charset=utf-8"
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes])) ?? Data(bytes)
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func bufferedResponse(_ upstream: OutboundStream, _ bytes: [UInt8]) -> Response {
        Response(status: HTTPResponse.Status(code: upstream.status), headers: ServiceProxy.forwardedHeaders(upstream),
                 body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func isSelf(_ actor: String?, _ account: Account) -> Bool {
        guard let actor else { return false }
        return actor == account.did || actor.lowercased() == account.handle
    }

    /// The profile record, if the local changes include it (else the stored one when posts need an author).
    func localProfile(_ local: [IndexedRecord]) throws -> [String: Any]? {
        let stored = try repository.recordCID(collection: Self.profileCollection, rkey: "self")
        let cid = local.last(where: { $0.collection == Self.profileCollection && $0.rkey == "self" })?.cid ?? stored
        guard let cid, let json = try? repository.recordJSON(cid) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(json.serialized()))) as? [String: Any]
    }

    func authorView(account: Account, profile: [String: Any]?) -> [String: Any] {
        var author: [String: Any] = ["did": account.did, "handle": account.handle, "labels": [Any]()]
        if let name = profile?["displayName"] as? String { author["displayName"] = name }
        if let avatar = blobURL(profile?["avatar"], did: account.did) { author["avatar"] = avatar }
        return author
    }

    /// A `postView` for a local post, its images pointing at this server's getBlob.
    func postView(_ record: IndexedRecord, author: [String: Any], did: String) throws -> [String: Any]? {
        guard let json = try? repository.recordJSON(record.cid),
              let value = (try? JSONSerialization.jsonObject(with: Data(json.serialized()))) as? [String: Any]
        else { return nil }
        var view: [String: Any] = [
            "uri": "at://\(did)/\(record.collection)/\(record.rkey)", "cid": record.cid.string, "author": author,
            "record": value, "replyCount": 0, "repostCount": 0, "likeCount": 0, "quoteCount": 0,
            "indexedAt": record.indexedAt, "labels": [Any](),
        ]
        if let embed = value["embed"] as? [String: Any], embed["$type"] as? String == "app.bsky.embed.images",
           let images = embed["images"] as? [[String: Any]] {
            view["embed"] = [
                "$type": "app.bsky.embed.images#view",
                "images": images.compactMap { image -> [String: Any]? in
                    guard let url = blobURL(image["image"], did: did) else { return nil }
                    var item: [String: Any] = ["thumb": url, "fullsize": url, "alt": image["alt"] as? String ?? ""]
                    if let ratio = image["aspectRatio"] { item["aspectRatio"] = ratio }
                    return item
                },
            ]
        }
        return view
    }

    /// This server's URL for a blob reference in a record.
    func blobURL(_ ref: Any?, did: String) -> String? {
        guard let blob = ref as? [String: Any], let link = (blob["ref"] as? [String: Any])?["$link"] as? String else { return nil }
        return "\(config.publicURL)/xrpc/com.atproto.sync.getBlob?did=\(did)&cid=\(link)"
    }
}
