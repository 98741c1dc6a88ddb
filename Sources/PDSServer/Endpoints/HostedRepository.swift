import ATAuth
import ATRepo
import ATSyntax
import PDSCore
import PDSStore

/// The one account's repository as endpoint groups reach it: the account checks every method
/// makes (is this the hosted repo? may it be served? written by this caller?), the record index
/// and blocks, and the writer.
struct HostedRepository: Sendable {
    let accounts: AccountStore
    let store: RepositoryStore
    /// The repository writer (it exists once the account does).
    let writer: @Sendable () throws -> RepoWriter

    /// The hosted account if `repo` (DID or handle) names it.
    func account(_ repo: String) throws -> Account {
        guard (try? ATIdentifier(repo)) != nil else { throw XRPCError.invalidRequest("repo must be a valid did or handle") }
        guard let account = try accounts.account(), repo == account.did || repo.lowercased() == account.handle else {
            throw XRPCError.badRequest("RepoNotFound", "Could not find repo: \(repo)")
        }
        return account
    }

    /// The hosted account, checking that the caller may write to `repo` (the route has already
    /// checked that the account is active).
    func writableAccount(_ repo: String, auth: AccessAuth) throws -> Account {
        let account = try account(repo)
        guard account.did == auth.did else { throw XRPCError.forbidden("Cannot write to another account's repository") }
        return account
    }

    /// The hosted account if `did` names it and its repository may be served publicly.
    func servedAccount(did: String) throws -> Account {
        try Self.requireDID(did)
        guard let account = try accounts.account(), account.did == did else {
            throw XRPCError.badRequest("RepoNotFound", "Could not find repo for DID: \(did)")
        }
        if account.takedownRef != nil { throw XRPCError.badRequest("RepoTakendown", "Repo has been takendown: \(did)") }
        if account.deactivatedAt != nil { throw XRPCError.badRequest("RepoDeactivated", "Repo has been deactivated: \(did)") }
        return account
    }

    /// A `did` parameter must be a DID (Lexicon `format: did`): a malformed one is a bad request,
    /// as the reference's parameter validation answers, not an unknown repo.
    static func requireDID(_ did: String, name: String = "did") throws {
        guard DID.isValid(did) else { throw XRPCError.invalidRequest("\(name) must be a valid did") }
    }

    /// The current signed commit.
    func currentCommit() throws -> SignedCommit {
        guard let commit = try writer().currentCommit else { throw XRPCError.badRequest("RepoNotFound", "Could not find repo") }
        return commit
    }
}
