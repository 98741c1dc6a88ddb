import ATAuth
import PDSNetwork
import PDSStore

/// `include:` permission sets in the flow (https://atproto.com/specs/permission, "Permission
/// Sets"). As the reference authorization server does, a session is granted the expanded scope:
/// each include replaced by the `repo:`/`rpc:` permissions its set gives, so the resource server
/// checks them like literal ones, and the token response's `scope` is that expanded scope. The
/// requested scope (with its includes) is kept beside it to show the owner and to expand again.
///
/// - PAR resolves every set; one that cannot be resolved refuses the request (`invalid_scope`).
///   The expansion is stored with the request, so the code exchange grants exactly what the
///   consent page was built from, even across a restart.
/// - A refresh re-resolves the sets (the spec: recompute permissions on refresh) and stores the
///   new expansion. If a set cannot be resolved then, the session keeps the expansion it had:
///   a failing authority neither widens nor silently drops what the owner approved.
extension OAuthService {
    /// The expanded scope for `scope`, or nil when it has no `include:` (then it is granted as is).
    func grantedScope(for scope: OAuthScopeSet, now: Int64) async throws(OAuthError) -> String? {
        let includes = scope.includes
        if includes.isEmpty { return nil }
        do {
            return scope.granted(with: try await permissionSets.permissionSets(includes.map(\.nsid), now: now))
        } catch {
            logger.info("oauth permission set not resolved", metadata: ["reason": "\(error)"])
            throw .invalidScope("a permission set in the scope cannot be resolved: \(error)")
        }
    }

    /// The sets of a pending request for the consent page (resolved at PAR, so normally cached).
    func includedSets(of scope: OAuthScopeSet, now: Int64) async throws(OAuthError) -> [IncludedPermissionSet] {
        var result: [IncludedPermissionSet] = []
        for include in scope.includes {
            do {
                let set = try await permissionSets.permissionSet(include.nsid, now: now)
                result.append(IncludedPermissionSet(set: set, audience: include.audience, permissions: set.expand(audience: include.audience)))
            } catch {
                throw .invalidScope("permission set \(include.nsid) cannot be resolved: \(error)")
            }
        }
        return result
    }

    /// After a refresh: the session's scope expanded again, stored if it changed; on failure the
    /// stored expansion stays.
    func regrant(_ session: OAuthSessionRow, now: Int64) async -> OAuthSessionRow {
        guard session.grantedScope != nil, let scope = try? OAuthScopeSet(parsing: session.scope) else { return session }
        let granted: String?
        do {
            granted = try await grantedScope(for: scope, now: now)
        } catch {
            logger.warning("oauth permission set not re-resolved at refresh: the session keeps its permissions",
                           metadata: ["client": "\(session.clientID)"])
            return session
        }
        guard let granted, granted != session.grantedScope else { return session }
        do {
            try store.updateGrantedScope(sessionID: session.id, granted)
        } catch {
            logger.warning("oauth granted scope not updated", metadata: ["error": "\(error)"])
            return session
        }
        var updated = session
        updated.grantedScope = granted
        return updated
    }
}
