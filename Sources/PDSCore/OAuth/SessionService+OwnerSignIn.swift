import PDSStore

extension SessionService {
    /// Checks the account password (never an app password: an app password may not grant OAuth
    /// access or manage the account) for the server's own pages, through the same `LoginGuard`
    /// as `createSession`, with the same decoy work for an unknown identifier.
    public func signInOwner(identifier: String, password: String) async throws -> Account {
        let delay = try loginGuard.admit(now: now())
        var outcome = LoginGuard.Outcome.abandoned
        defer { _ = try? loginGuard.finish(outcome, now: now()) }
        if delay > .zero { try await loginGuard.sleep(delay) }
        let identifier = identifier.lowercased()
        let accounts = self.accounts
        guard let account = try accounts.account(),
              identifier == account.handle || identifier == account.did.lowercased()
                || (identifier.contains("@") && identifier == account.email?.lowercased())
        else {
            _ = try await Self.offEventLoop { PasswordHash.verify(password, against: Self.decoyHash) }
            outcome = .failed
            throw SessionError.invalidCredentials
        }
        let matches = try await Self.offEventLoop { () throws -> Bool in
            guard let stored = try accounts.passwordHash() else { return false }
            return PasswordHash.verify(password, against: stored)
        }
        guard matches else {
            outcome = .failed
            throw SessionError.invalidCredentials
        }
        outcome = .succeeded
        return account
    }
}
