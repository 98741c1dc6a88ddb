import ATAuth

/// The checks a handler makes once it knows what an OAuth session is about to do. Password
/// sessions and service tokens pass (they are checked by their scope elsewhere).
extension AccessAuth {
    func requireRepo(_ collection: String, _ action: OAuthPermission.RepoAction) throws {
        guard let oauth, !oauth.allowsRepo(collection: collection, action: action) else { return }
        throw XRPCError(.forbidden, "ScopeMissingError", "Missing required scope: repo:\(collection)?action=\(action.rawValue)")
    }

    func requireBlob(_ mimeType: String?) throws {
        guard let oauth, !oauth.allowsBlob(mimeType: mimeType) else { return }
        throw XRPCError(.forbidden, "ScopeMissingError", "Missing required scope: blob:\(mimeType ?? "*/*")")
    }

    func requireRPC(_ lxm: String, audience: String) throws {
        guard let oauth, !oauth.allowsRPC(lxm: lxm, audience: audience) else { return }
        throw XRPCError(.forbidden, "ScopeMissingError", "Missing required scope: rpc:\(lxm)?aud=\(audience)")
    }

    /// Whether the e-mail may be shown (`getSession`): always for password sessions.
    var mayReadEmail: Bool { oauth?.allowsEmail(.read) ?? true }
}
