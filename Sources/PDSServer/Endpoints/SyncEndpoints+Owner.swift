import Hummingbird
import PDSStore

extension SyncEndpoints {
    /// The hosted account if its repository may be served to this caller: to anyone while it is
    /// active; while deactivated, to the account's own session too (the reference serves a
    /// deactivated repo's exports to its owner, which is how an account moving away gets its
    /// data). Others get `RepoDeactivated` / `RepoTakendown`, and `RepoNotFound` for any other DID.
    func servedAccount(did: String, request: Request) throws -> Account {
        do {
            return try repo.servedAccount(did: did)
        } catch let error as XRPCError where error.name == "RepoDeactivated" {
            guard request.headers[.authorization] != nil, let auth = try? authenticator.authenticate(request, .session),
                  auth.did == did, let account = try repo.accounts.account()
            else { throw error }
            return account
        }
    }
}
