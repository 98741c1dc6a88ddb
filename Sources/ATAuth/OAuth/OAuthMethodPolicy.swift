/// What an OAuth access token may call, by method, before the handler runs; handlers that
/// know more (the collection of a write, a blob's type, the audience of a service token) check
/// the rest through `OAuthGrant`. Follows the reference server: account management is refused
/// to OAuth credentials outright; identity and repository import need their granular permission;
/// everything else of app-password level needs `transition:generic`.
public enum OAuthMethodPolicy {
    public enum Refusal: Error, Equatable, Sendable {
        /// OAuth credentials never reach this method (403 `Forbidden`).
        case notForOAuth
        /// The session lacks the scope (403, the name `ScopeMissingError` as the reference).
        case missingScope(String)
    }

    /// Account management: app passwords, activation, deactivation, deletion, e-mail changes,
    /// invite codes, password resets, signup queue.
    static let refused: Set<String> = [
        "com.atproto.server.createAppPassword", "com.atproto.server.listAppPasswords", "com.atproto.server.revokeAppPassword",
        "com.atproto.server.activateAccount", "com.atproto.server.deactivateAccount", "com.atproto.server.deleteAccount",
        "com.atproto.server.requestAccountDelete", "com.atproto.server.requestEmailUpdate", "com.atproto.server.updateEmail",
        "com.atproto.server.getAccountInviteCodes", "com.atproto.server.createInviteCode", "com.atproto.server.createInviteCodes",
        "com.atproto.server.requestPasswordReset", "com.atproto.server.resetPassword", "com.atproto.temp.checkSignupQueue",
        "com.atproto.server.reserveSigningKey",
    ]

    /// Checks `nsid` for a session with `grant`.
    public static func check(_ nsid: String, grant: OAuthGrant) throws(Refusal) {
        if refused.contains(nsid) { throw .notForOAuth }
        switch nsid {
        case "com.atproto.server.getSession":
            return // identity only; the e-mail fields are stripped without an e-mail permission
        case "com.atproto.identity.updateHandle":
            guard grant.allowsHandleUpdate else { throw .missingScope("identity:handle") }
        case "com.atproto.identity.getRecommendedDidCredentials", "com.atproto.identity.requestPlcOperationSignature",
             "com.atproto.identity.signPlcOperation", "com.atproto.identity.submitPlcOperation":
            guard grant.allowsIdentityAll else { throw .missingScope("identity:*") }
        case "com.atproto.repo.importRepo":
            guard grant.allowsRepoImport else { throw .missingScope("account:repo?action=manage") }
        case "com.atproto.server.requestEmailConfirmation", "com.atproto.server.confirmEmail":
            guard grant.allowsEmail(.manage) else { throw .missingScope("account:email?action=manage") }
        case "com.atproto.repo.createRecord", "com.atproto.repo.putRecord", "com.atproto.repo.deleteRecord",
             "com.atproto.repo.applyWrites":
            // The collection is checked by the handler once the body is read.
            guard grant.isGeneric || grant.hasAnyRepoPermission else { throw .missingScope("repo") }
        case "com.atproto.repo.uploadBlob":
            guard grant.allowsBlob(mimeType: nil) else { throw .missingScope("blob") }
        case "com.atproto.server.getServiceAuth":
            guard grant.isGeneric || grant.hasAnyRPCPermission else { throw .missingScope("rpc") }
        default:
            // Preferences and everything else an app password may do.
            guard grant.isGeneric else { throw .missingScope("transition:generic") }
        }
    }
}

extension OAuthGrant {
    var hasAnyRepoPermission: Bool {
        scopes.permissions.contains { if case .repo = $0 { return true } else { return false } }
    }

    var hasAnyRPCPermission: Bool {
        scopes.permissions.contains { if case .rpc = $0 { return true } else { return false } }
    }
}
