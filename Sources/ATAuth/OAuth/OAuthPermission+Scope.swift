extension OAuthPermission {
    /// The permission as a scope token that parses back to itself (`OAuthPermission(_:)`): the
    /// positional form for one value, named parameters for several, values sorted and
    /// percent-encoded, defaults left out (`action` when all three actions are granted).
    public var scope: String {
        switch self {
        case .repo(let collections, let actions):
            var params: [(String, String)] = []
            if actions != Set(RepoAction.allCases) {
                params = RepoAction.allCases.filter(actions.contains).map { ("action", $0.rawValue) }
            }
            return Self.format("repo", main: "collection", collections.sorted(), params)
        case .rpc(let methods, let audience):
            return Self.format("rpc", main: "lxm", methods.sorted(), [("aud", audience)])
        case .blob(let accept):
            return Self.format("blob", main: "accept", accept, [])
        case .account(let attribute, let action):
            return Self.format("account", main: "attr", [attribute.rawValue], action == .read ? [] : [("action", action.rawValue)])
        case .identity(let attribute):
            return Self.format("identity", main: "attr", [attribute.rawValue], [])
        case .include(let nsid, let audience):
            return Self.format("include", main: "nsid", [nsid], audience.map { [("aud", $0)] } ?? [])
        }
    }

    private static func format(_ resource: String, main: String, _ values: [String], _ params: [(String, String)]) -> String {
        var text = resource
        var all = params
        if values.count == 1 {
            text += ":" + ScopeSyntax.encode(values[0])
        } else {
            all = values.map { (main, $0) } + params
        }
        if !all.isEmpty { text += "?" + all.map { ScopeSyntax.encode($0.0) + "=" + ScopeSyntax.encode($0.1) }.joined(separator: "&") }
        return text
    }
}
