import ATAuth
import PDSStore

extension SessionService {
    /// Checks the account password (never an app password: an app password may not grant OAuth
    /// access or manage the account) for the server's own pages, through the same `LoginGuard`
    /// as `createSession`, with the same decoy work for an unknown identifier.
    public func signInOwner(identifier: String, password: String, authFactorToken: String? = nil) async throws -> Account {
        try await guardedSignIn(identifier: identifier, password: password) { match, outcome in
            // The pages take the account password only: app passwords are for apps, not for
            // authorising apps or managing the account.
            guard match.scope == .access else {
                outcome = .failed
                throw SessionError.invalidCredentials
            }
            try checkAuthFactor(match.account, code: authFactorToken, outcome: &outcome)
            outcome = .succeeded
            return match.account
        }
    }
}
