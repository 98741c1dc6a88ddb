import ATAuth
import ATSyntax
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PDSStore

/// Profiles without an AppView, in development only: `pds dev` runs on machines with no internet,
/// and clients (the Python SDK's `login`, the Bluesky app) fetch the signed-in account's profile
/// right after `createSession`. When the AppView is not configured or does not answer, the
/// account's own profile is built here from its `app.bsky.actor.profile/self` record (counts are
/// zero: nothing here indexes the network). Other actors still get the AppView's error.
extension AppViewEndpoints {
    func registerOfflineProfiles(on router: inout XRPCRouter) {
        router.query("app.bsky.actor.getProfiles") { request, context in
            guard config.isDevelopment, proxy.isForDefaultAppView(request) else {
                return try await proxy.proxy(request, context: context, nsid: "app.bsky.actor.getProfiles")
            }
            do {
                return try await proxy.proxy(request, context: context, nsid: "app.bsky.actor.getProfiles")
            } catch let error as XRPCError where Self.isAppViewUnavailable(error) {
                let account = try ownProfileAccount(request, actors: request.params.values["actors"] ?? [])
                return jsonResponse(bytes: try JSONSerialization.data(withJSONObject: ["profiles": [ownProfileView(account)]]).map { $0 })
            }
        }
    }

    /// An upstream failure, or no AppView configured at all.
    static func isAppViewUnavailable(_ error: XRPCError) -> Bool {
        error.name == "UpstreamFailure" || error.name == "MethodNotImplemented"
    }

    /// The account, when the request is authenticated as it and every actor named is it.
    func ownProfileAccount(_ request: Request, actors: [String]) throws -> Account {
        let auth = try proxy.authenticator.authenticate(request, .session, recordProof: false)
        guard let account = try accounts.account(), account.did == auth.did,
              !actors.isEmpty, actors.allSatisfy({ isSelf($0, account) })
        else {
            throw XRPCError(.badGateway, "UpstreamFailure", "Upstream service unreachable")
        }
        return account
    }

    /// An `app.bsky.actor.defs#profileViewDetailed` of the account from its own records.
    func ownProfileView(_ account: Account) throws -> [String: Any] {
        let profile = try localProfile([])
        var view: [String: Any] = [
            "did": account.did, "handle": account.handle, "labels": [Any](),
            "followersCount": 0, "followsCount": 0, "postsCount": 0,
            "indexedAt": Datetime.now().string,
        ]
        for key in ["displayName", "description", "pronouns", "website", "createdAt"] { view[key] = profile?[key] }
        if let avatar = blobURL(profile?["avatar"], did: account.did) { view["avatar"] = avatar }
        if let banner = blobURL(profile?["banner"], did: account.did) { view["banner"] = banner }
        return view
    }
}
