import ATSyntax

/// One granular permission (https://atproto.com/specs/permission), parsed strictly: resource and
/// parameter names are case-sensitive, unknown parameters make the scope invalid, and a value may
/// be given positionally or as its named parameter, never both.
public enum OAuthPermission: Hashable, Sendable {
    /// `repo:<collection>[?action=…]`: record writes in the collections (`*` = any).
    case repo(collections: Set<String>, actions: Set<RepoAction>)
    /// `rpc:<lxm>?aud=<did#svc|*>`: proxied calls and service-auth tokens for those methods.
    case rpc(methods: Set<String>, audience: String)
    /// `blob:<mime pattern>`: blob uploads of matching types.
    case blob(accept: [String])
    /// `account:<email|repo>[?action=read|manage]`.
    case account(attribute: AccountAttribute, action: AccountAction)
    /// `identity:<handle|*>`.
    case identity(attribute: IdentityAttribute)
    /// `include:<permission-set NSID>[?aud=did#svc]`: a Lexicon permission set, resolved later.
    case include(nsid: String, audience: String?)

    public enum RepoAction: String, Hashable, Sendable, CaseIterable { case create, update, delete }
    public enum AccountAttribute: String, Hashable, Sendable { case email, repo }
    public enum AccountAction: String, Hashable, Sendable { case read, manage }
    public enum IdentityAttribute: String, Hashable, Sendable { case handle, all = "*" }

    /// Parses a permission scope token; nil when it is not a valid permission.
    public init?(_ scope: String) {
        guard let syntax = ScopeSyntax(scope) else { return nil }
        switch syntax.resource {
        case "repo": self.init(repo: syntax)
        case "rpc": self.init(rpc: syntax)
        case "blob": self.init(blob: syntax)
        case "account": self.init(account: syntax)
        case "identity": self.init(identity: syntax)
        case "include": self.init(include: syntax)
        default: return nil
        }
    }

    /// The values of the positional parameter `name`: the positional part or the named parameter,
    /// not both; nil when both are given or a parameter outside `allowed` appears.
    private static func main(_ syntax: ScopeSyntax, _ name: String, allowed: Set<String>) -> [String]? {
        guard syntax.params.allSatisfy({ allowed.contains($0.key) }) else { return nil }
        let named = syntax.values(name)
        if syntax.hasPositional && !syntax.positional.isEmpty {
            guard named.isEmpty else { return nil }
            return [syntax.positional]
        }
        return named
    }

    /// The single value of `key`, or nil when it appears more than once.
    private static func single(_ syntax: ScopeSyntax, _ key: String) -> String?? {
        let values = syntax.values(key)
        if values.isEmpty { return .some(nil) }
        return values.count == 1 ? .some(values[0]) : nil
    }

    private init?(repo syntax: ScopeSyntax) {
        guard let collections = Self.main(syntax, "collection", allowed: ["collection", "action"]),
              !collections.isEmpty,
              collections.allSatisfy({ $0 == "*" || (try? NSID($0)) != nil })
        else { return nil }
        let actionNames = syntax.values("action")
        var actions = Set<RepoAction>()
        for name in actionNames {
            guard let action = RepoAction(rawValue: name) else { return nil }
            actions.insert(action)
        }
        self = .repo(collections: Set(collections), actions: actions.isEmpty ? Set(RepoAction.allCases) : actions)
    }

    private init?(rpc syntax: ScopeSyntax) {
        guard let methods = Self.main(syntax, "lxm", allowed: ["lxm", "aud"]), !methods.isEmpty,
              methods.allSatisfy({ $0 == "*" || (try? NSID($0)) != nil }),
              let audienceValue = Self.single(syntax, "aud"), let audience = audienceValue,
              audience == "*" || Self.isServiceReference(audience),
              !(audience == "*" && methods.contains("*"))
        else { return nil }
        self = .rpc(methods: Set(methods), audience: audience)
    }

    private init?(blob syntax: ScopeSyntax) {
        guard let accept = Self.main(syntax, "accept", allowed: ["accept"]), !accept.isEmpty,
              accept.allSatisfy(Self.isMIMEPattern)
        else { return nil }
        self = .blob(accept: accept)
    }

    private init?(account syntax: ScopeSyntax) {
        guard let attributes = Self.main(syntax, "attr", allowed: ["attr", "action"]), attributes.count == 1,
              let attribute = AccountAttribute(rawValue: attributes[0]),
              let actionValue = Self.single(syntax, "action")
        else { return nil }
        guard let action = actionValue.map(AccountAction.init(rawValue:)) ?? .read else { return nil }
        self = .account(attribute: attribute, action: action)
    }

    private init?(identity syntax: ScopeSyntax) {
        guard let attributes = Self.main(syntax, "attr", allowed: ["attr"]), attributes.count == 1,
              let attribute = IdentityAttribute(rawValue: attributes[0])
        else { return nil }
        self = .identity(attribute: attribute)
    }

    private init?(include syntax: ScopeSyntax) {
        guard let names = Self.main(syntax, "nsid", allowed: ["nsid", "aud"]), names.count == 1,
              (try? NSID(names[0])) != nil,
              let audience = Self.single(syntax, "aud")
        else { return nil }
        if let audience, !Self.isServiceReference(audience) { return nil }
        self = .include(nsid: names[0], audience: audience)
    }

    /// `did#service_id`: a DID with a non-empty fragment naming one of its services.
    static func isServiceReference(_ value: String) -> Bool {
        guard let hash = value.firstIndex(of: "#") else { return false }
        let fragment = value[value.index(after: hash)...]
        return !fragment.isEmpty && !fragment.contains("#") && (try? DID(String(value[..<hash]))) != nil
    }

    /// `*/*`, `type/*` or `type/subtype` with RFC 6838 restricted-name characters.
    static func isMIMEPattern(_ value: String) -> Bool {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        if parts[0] == "*" { return parts[1] == "*" }
        return isMIMEName(parts[0]) && (parts[1] == "*" || isMIMEName(parts[1]))
    }

    private static func isMIMEName(_ name: Substring) -> Bool {
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (byte | 0x20) &- UInt8(ascii: "a") < 26 || byte &- UInt8(ascii: "0") < 10
        }
        guard let first = name.utf8.first, isAlphanumeric(first), name.utf8.count <= 127 else { return false }
        return name.utf8.allSatisfy { isAlphanumeric($0) || "!#$&-^_.+".utf8.contains($0) }
    }
}
