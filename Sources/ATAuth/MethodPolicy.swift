/// Which methods a credential may reach beyond its own session, as the reference server decides:
/// the protected methods are never proxied and never granted to service tokens, the privileged
/// ones need the account password or a privileged app password.
public enum MethodPolicy {
    /// Methods never proxied and never granted to service tokens.
    public static let protectedMethods: Set<String> = [
        "com.atproto.admin.sendEmail", "com.atproto.identity.requestPlcOperationSignature",
        "com.atproto.identity.signPlcOperation", "com.atproto.identity.updateHandle",
        "com.atproto.server.activateAccount", "com.atproto.server.confirmEmail",
        "com.atproto.server.createAppPassword", "com.atproto.server.deactivateAccount",
        "com.atproto.server.getAccountInviteCodes", "com.atproto.server.getSession",
        "com.atproto.server.listAppPasswords", "com.atproto.server.requestAccountDelete",
        "com.atproto.server.requestEmailConfirmation", "com.atproto.server.requestEmailUpdate",
        "com.atproto.server.revokeAppPassword", "com.atproto.server.updateEmail",
    ]

    /// Methods that need a full session or a privileged app password: DMs, and account creation
    /// elsewhere (migration). All of `chat.bsky.*` is treated so, including newer methods.
    public static func isPrivileged(_ nsid: String) -> Bool {
        nsid.hasPrefix("chat.bsky.") || nsid == "com.atproto.server.createAccount"
    }

    /// Whether `auth` may have `nsid` called on its behalf elsewhere (proxying, service tokens).
    public static func mayDelegate(_ nsid: String, auth: AccessAuth) -> Bool {
        !protectedMethods.contains(nsid) && (auth.isPrivileged || !isPrivileged(nsid))
    }
}
