import ATIdentity
import ATSync
import Foundation
import PDSStore

extension AccountLifecycle {
    /// Activates the account once its identity points here (`documentProblem`), and sequences
    /// `#identity`, `#account` (active) and `#sync` (the current commit) in the same transaction,
    /// as the reference's activation does; the relays are then asked to crawl. Activating an
    /// active account changes nothing.
    public func activate(account: Account) async throws {
        guard !account.isActive else { return }
        guard account.takedownRef == nil else { throw AccountLifecycleError.invalid("A taken-down account cannot be activated") }
        if let problem = await documentProblem(did: account.did) {
            throw AccountLifecycleError.invalid("The DID document does not point to this server yet: \(problem)")
        }
        guard let commit = try repoWriter().currentCommit else {
            throw AccountLifecycleError.invalid("There is no repository yet: import it first (com.atproto.repo.importRepo)")
        }
        try await keepPLCHead(did: account.did)
        let time = AccountStore.timestamp()
        sequenced(try accounts.setActive(true, events: [
            .identity(.init(did: account.did, handle: account.handle, time: time)),
            .account(.init(did: account.did, active: true, status: nil, time: time)),
            .sync(.init(did: account.did, commit: commit, time: time)),
        ]))
        crawlNotifier.eventsSequenced(now: true)
        logger.notice("account activated", metadata: ["did": "\(account.did)"])
    }

    /// Records the directory's head operation of a did:plc that moved here, so the DID
    /// document this server reports and its later PLC changes start from it.
    func keepPLCHead(did: String) async throws {
        guard did.hasPrefix("did:plc:"), config.publishesIdentity else { return }
        let head = try await identity.currentPLCHead(did: did)
        if let stored = try accounts.latestPLCOperation(), (try? PLCOperation(jsonBytes: stored))?.cid == head.cid { return }
        try accounts.storePLCOperation(cid: head.cid.string, json: head.jsonBytes, published: true)
    }

    /// Deactivates the account (writes refused, public reads answer `RepoDeactivated`) and
    /// sequences `#account` (inactive, `deactivated`). `deleteAfter` is recorded as asked.
    public func deactivate(account: Account, deleteAfter: String?) throws {
        let time = AccountStore.timestamp()
        sequenced(try accounts.setActive(false, deleteAfter: deleteAfter, events: [
            .account(.init(did: account.did, active: false, status: "deactivated", time: time)),
        ]))
        logger.notice("account deactivated", metadata: ["did": "\(account.did)"])
    }

    // MARK: Deletion and passwords

    /// Stores a fresh one-time token for `purpose` and e-mails it to the account's address, or,
    /// without SMTP, leaves the owner to get one with `pds account token …` on the box
    /// (`AccountEmail.issueToken`). The request answers once the message is queued.
    @discardableResult
    public func requestToken(purpose: String) throws -> AccountEmail.Delivery {
        try email.issueToken(purpose: purpose)
    }

    /// Deletes the account after checking its password and the `delete_account` token: every
    /// row it owns, its blob files, its earlier firehose events; `#account` (deleted) goes out.
    public func delete(did: String, password: String, token: String) async throws {
        guard let account = try accounts.account(), account.did == did else {
            throw AccountLifecycleError.named("AccountNotFound", "Could not find account: \(did)")
        }
        let accounts = self.accounts
        let matches = try await SessionService.offEventLoop {
            guard let stored = try accounts.passwordHash() else { return false }
            return PasswordHash.verify(password, against: stored)
        }
        guard matches else { throw SessionError.invalidCredentials }
        try AccountLifecycleError.require(try accounts.redeemToken(token, purpose: Self.deleteTokenPurpose))
        try deleteNow(account: account)
    }

    /// Deletes the account without further checks (the box's owner, `pds account delete`).
    public func deleteNow(account: Account) throws {
        let event = RepoEvent.account(.init(did: account.did, active: false, status: "deleted", time: AccountStore.timestamp()))
        let (sequenceNumbers, blobCIDs) = try accounts.deleteAccount(event: event)
        forgetRepoWriter()
        for cid in blobCIDs { blobs.delete(cid) }
        sequenced(sequenceNumbers)
        logger.notice("account deleted", metadata: ["did": "\(account.did)"])
    }

    /// Issues a reset token when `email` is the account's; answers the same either way, so the
    /// call reveals nothing about the account.
    public func requestPasswordReset(email: String) throws {
        guard let account = try accounts.account(), let stored = account.email, stored.lowercased() == email.lowercased() else { return }
        try requestToken(purpose: Self.resetTokenPurpose)
    }

    /// Blobs the records reference that are not stored yet, a page after `cursor`
    /// (`listMissingBlobs`); the cursor of the next page when this one is full.
    public func missingBlobs(limit: Int, cursor: String?) throws -> (blobs: [(cid: String, recordURI: String)], cursor: String?) {
        guard let account = try accounts.account() else { return ([], nil) }
        let rows = try repository.missingBlobs(limit: limit, cursor: cursor)
        let blobs = rows.map { (cid: $0.cid, recordURI: "at://\(account.did)/\($0.collection)/\($0.rkey)") }
        return (blobs, rows.count == limit ? rows.last?.cid : nil)
    }

    /// Sets a new password with the `reset_password` token; every session is revoked.
    public func resetPassword(token: String, password: String) async throws {
        guard try accounts.account() != nil else { throw AccountLifecycleError.named("InvalidToken", "Token is invalid or expired") }
        guard !password.isEmpty, password.count <= 256 else {
            throw AccountLifecycleError.named("InvalidPassword", "Password must be 1 to 256 characters")
        }
        try AccountLifecycleError.require(try accounts.redeemToken(token, purpose: Self.resetTokenPurpose))
        try await setPassword(password)
    }

    /// Replaces the password and revokes every session.
    public func setPassword(_ password: String) async throws {
        let hash = try await SessionService.offEventLoop { try PasswordHash.make(password) }
        try accounts.replacePassword(hash: hash)
        logger.notice("password replaced; sessions revoked")
    }
}

extension PDSServices {
    /// The account's life cycle over this server's stores and network.
    public var lifecycle: AccountLifecycle {
        AccountLifecycle(
            config: config, keys: keys, accounts: accounts, repository: repository, blobs: blobs, directory: identityDirectory,
            identity: identity, sessions: sessions, repoWriter: { [self] in try repoWriter() },
            forgetRepoWriter: { [self] in forgetRepoWriter() }, sequenced: eventsSequenced, crawlNotifier: crawlNotifier,
            email: email, logger: logger)
    }
}
