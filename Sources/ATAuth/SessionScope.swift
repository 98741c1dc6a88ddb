/// Token scopes of legacy (password) sessions, as the reference server names them.
public enum SessionScope: String, Sendable {
    /// The account password: everything.
    case access = "com.atproto.access"
    /// An app password: repository and app use, no account management, no DMs.
    case appPass = "com.atproto.appPass"
    /// A privileged app password: as `appPass`, plus DMs (chat.bsky.*).
    case appPassPrivileged = "com.atproto.appPassPrivileged"
    /// A refresh token.
    case refresh = "com.atproto.refresh"
}

/// Who made an authenticated request.
public struct AccessAuth: Sendable, Equatable {
    /// The account DID (`sub`, or `iss` of a service token).
    public let did: String
    /// The session's scope (for OAuth: `appPass`, or `appPassPrivileged` with `transition:chat.bsky`).
    public let scope: SessionScope
    /// What an OAuth access token grants; nil for password sessions and service tokens.
    public let oauth: OAuthGrant?

    public init(did: String, scope: SessionScope, oauth: OAuthGrant? = nil) {
        self.did = did
        self.scope = scope
        self.oauth = oauth
    }

    /// True for the account password (may manage the account and app passwords).
    public var isFull: Bool { scope == .access }
    /// True where DMs are allowed.
    public var isPrivileged: Bool { scope == .access || scope == .appPassPrivileged }
}
