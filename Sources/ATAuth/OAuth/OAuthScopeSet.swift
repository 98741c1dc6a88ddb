/// The scopes of an OAuth request or session and what they allow
/// (https://atproto.com/specs/oauth "Scopes", https://atproto.com/specs/permission).
///
/// `atproto` alone proves identity and allows nothing else; `transition:generic` is app-password
/// level (any record write, blobs, preferences, proxying except `chat.bsky.*`);
/// `transition:chat.bsky` adds DMs; `transition:email` the e-mail in `getSession`. Granular
/// permissions add exactly what they name. `include:` sets grant nothing by themselves: the server
/// resolves them and issues the scope `granted(with:)` gives, in which they are expanded.
public struct OAuthScopeSet: Equatable, Sendable {
    /// The scope tokens as requested, in order, without duplicates.
    public let tokens: [String]
    public let hasAtproto: Bool
    public let transitionGeneric: Bool
    public let transitionChat: Bool
    public let transitionEmail: Bool
    /// The granular permissions named directly.
    public let permissions: Set<OAuthPermission>

    public enum Failure: Error, Equatable {
        /// A token that is neither a known scope nor a valid permission.
        case invalidScope(String)
        /// `atproto` is missing.
        case missingAtproto
    }

    /// Parses a space-separated scope string. Every token must be understood: granting a
    /// partially understood permission could grant more than was meant.
    public init(parsing scope: String) throws(Failure) {
        var tokens: [String] = []
        var permissions = Set<OAuthPermission>()
        var atproto = false, generic = false, chat = false, email = false
        for token in scope.split(separator: " ").map(String.init) where !tokens.contains(token) {
            tokens.append(token)
            switch token {
            case "atproto": atproto = true
            case "transition:generic": generic = true
            case "transition:chat.bsky": chat = true
            case "transition:email": email = true
            default:
                guard let permission = OAuthPermission(token) else { throw .invalidScope(token) }
                permissions.insert(permission)
            }
        }
        guard atproto else { throw .missingAtproto }
        self.tokens = tokens
        self.hasAtproto = atproto
        self.transitionGeneric = generic
        self.transitionChat = chat
        self.transitionEmail = email
        self.permissions = permissions
    }

    /// The scope string as returned in token responses.
    public var string: String { tokens.joined(separator: " ") }

    /// Whether every token of `self` was also in `other` (a request's scope must be a subset of
    /// the client's declared scope).
    public func isSubset(of other: OAuthScopeSet) -> Bool {
        Set(tokens).isSubset(of: Set(other.tokens))
    }

    /// The `include:` sets to resolve.
    public var includes: [(nsid: String, audience: String?)] {
        permissions.compactMap {
            if case .include(let nsid, let audience) = $0 { return (nsid, audience) }
            return nil
        }.sorted { $0.nsid < $1.nsid }
    }

    /// The scope a session is granted once its permission sets are resolved: each `include:`
    /// token replaced, in place, by the permissions its set expands to (as the reference
    /// authorization server issues tokens), without duplicates. `sets` maps each included NSID to
    /// its set; an include whose set is missing grants nothing.
    public func granted(with sets: [String: PermissionSet]) -> String {
        var granted: [String] = []
        for token in tokens {
            guard case .include(let nsid, let audience)? = OAuthPermission(token) else {
                if !granted.contains(token) { granted.append(token) }
                continue
            }
            for permission in sets[nsid]?.expand(audience: audience) ?? [] where !granted.contains(permission.scope) {
                granted.append(permission.scope)
            }
        }
        return granted.joined(separator: " ")
    }
}

/// What a session's scopes allow. The scopes are the granted ones, `include:` sets already
/// replaced by their permissions when the session was granted (`OAuthScopeSet.granted(with:)`), so
/// a set's permissions are checked like literal ones. Each check is a pure function of the
/// permissions; the resource server calls one per request.
public struct OAuthGrant: Sendable, Equatable {
    public let scopes: OAuthScopeSet

    public init(scopes: OAuthScopeSet) {
        self.scopes = scopes
    }

    private var all: Set<OAuthPermission> { scopes.permissions }

    /// Record create/update/delete in `collection`.
    public func allowsRepo(collection: String, action: OAuthPermission.RepoAction) -> Bool {
        if scopes.transitionGeneric { return true }
        return all.contains {
            if case .repo(let collections, let actions) = $0 {
                return actions.contains(action) && (collections.contains("*") || collections.contains(collection))
            }
            return false
        }
    }

    /// Uploading a blob of `mimeType` (nil: type not yet known, any blob permission will do).
    public func allowsBlob(mimeType: String?) -> Bool {
        if scopes.transitionGeneric { return true }
        return all.contains {
            guard case .blob(let accept) = $0 else { return false }
            guard let mimeType else { return true }
            return accept.contains { Self.mime(mimeType, matches: $0) }
        }
    }

    /// A proxied call to, or a service-auth token for, method `lxm` at `audience` (`did#svc`).
    /// `chat.bsky.*` needs `transition:chat.bsky` under the transition scopes.
    public func allowsRPC(lxm: String, audience: String) -> Bool {
        if scopes.transitionGeneric {
            if !lxm.hasPrefix("chat.bsky.") { return true }
            if scopes.transitionChat { return true }
        }
        return all.contains {
            guard case .rpc(let methods, let allowedAudience) = $0 else { return false }
            return (methods.contains("*") || methods.contains(lxm)) && (allowedAudience == "*" || allowedAudience == audience)
        }
    }

    /// Reading (or, with `manage`, changing) the account's e-mail.
    public func allowsEmail(_ action: OAuthPermission.AccountAction) -> Bool {
        if action == .read && scopes.transitionEmail { return true }
        return all.contains {
            guard case .account(.email, let granted) = $0 else { return false }
            return granted == .manage || granted == action
        }
    }

    /// Importing a repository (`account:repo?action=manage`).
    public var allowsRepoImport: Bool { all.contains(.account(attribute: .repo, action: .manage)) }

    /// Changing the handle (`identity:handle` or `identity:*`).
    public var allowsHandleUpdate: Bool {
        all.contains(.identity(attribute: .handle)) || all.contains(.identity(attribute: .all))
    }

    /// Full control of the DID document (`identity:*`).
    public var allowsIdentityAll: Bool { all.contains(.identity(attribute: .all)) }

    /// App-password-level generic access (preferences, app.bsky proxying through the transition scope).
    public var isGeneric: Bool { scopes.transitionGeneric }

    /// MIME pattern matching: `*/*`, `type/*`, or an exact (case-insensitive) type.
    static func mime(_ type: String, matches pattern: String) -> Bool {
        if pattern == "*/*" { return true }
        let type = type.lowercased(), pattern = pattern.lowercased()
        if pattern.hasSuffix("/*") { return type.hasPrefix(pattern.dropLast()) }
        return type == pattern
    }
}
