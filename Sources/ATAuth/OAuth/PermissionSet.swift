import ATData
import ATSyntax

/// A Lexicon permission set (https://atproto.com/specs/permission, "Permission Sets"): the `main`
/// definition of a schema of type `permission-set`, named by an `include:<nsid>[?aud=…]` scope.
///
/// Expansion follows the spec and the reference authorization server:
/// - only `repo` and `rpc` permissions count; `blob`, `account`, `identity` and anything unknown
///   are ignored, and so is any permission with a parameter this server does not know (a new
///   parameter might narrow it: never grant a partially understood permission);
/// - every collection and method must lie in the set's own namespace: the NSID's group (all but
///   its name) or below it; `*` is never allowed. A permission naming anything else is dropped
///   whole, not trimmed;
/// - an `rpc` permission must say `aud: "*"` or `inheritAud: true`; with `inheritAud` it takes the
///   include scope's `aud`, and is dropped when the include has none or when it also names `aud`.
public struct PermissionSet: Sendable, Equatable {
    public let nsid: String
    public let title: String?
    public let titleLanguages: [String: String]
    public let detail: String?
    public let detailLanguages: [String: String]
    /// The `permissions` entries as published (expanded per include, since `aud` may be inherited).
    public let entries: [JSONObject]

    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads the `main` definition of the schema `nsid` (already checked to be that schema's record).
    public init(nsid: String, main: JSONObject) throws(Invalid) {
        guard main["type"]?.stringValue == "permission-set" else { throw Invalid("\(nsid) is not a permission set") }
        guard let permissions = main["permissions"]?.arrayValue else { throw Invalid("\(nsid) has no permissions list") }
        self.nsid = nsid
        title = main["title"]?.stringValue
        detail = main["detail"]?.stringValue
        titleLanguages = Self.languageMap(main["title:lang"])
        detailLanguages = Self.languageMap(main["detail:lang"])
        entries = permissions.compactMap(\.objectValue)
    }

    private static func languageMap(_ value: JSONValue?) -> [String: String] {
        var map: [String: String] = [:]
        for (key, value) in value?.objectValue ?? [:] {
            if let text = value.stringValue { map[key.lowercased()] = text }
        }
        return map
    }

    /// The title in the first of `languages` (BCP 47 tags, most preferred first) that has one,
    /// matching a tag exactly or by its primary language; else the default title.
    public func title(preferring languages: [String]) -> String? { Self.pick(title, titleLanguages, languages) }

    /// The detail text, chosen like `title(preferring:)`.
    public func detail(preferring languages: [String]) -> String? { Self.pick(detail, detailLanguages, languages) }

    private static func pick(_ fallback: String?, _ map: [String: String], _ languages: [String]) -> String? {
        for language in languages.map({ $0.lowercased() }) {
            if let text = map[language] { return text }
            let primary = language.split(separator: "-").first.map(String.init) ?? language
            if let text = map[primary] ?? map.first(where: { $0.key.hasPrefix(primary + "-") })?.value { return text }
        }
        return fallback
    }

    /// The permissions this set grants through `include:<nsid>` with `audience` (the include's `aud`).
    public func expand(audience: String?) -> [OAuthPermission] {
        var result: [OAuthPermission] = []
        for entry in entries {
            guard let permission = permission(entry, audience: audience), !result.contains(permission) else { continue }
            result.append(permission)
        }
        return result
    }

    /// One entry as a permission, or nil when it must be ignored.
    func permission(_ entry: JSONObject, audience: String?) -> OAuthPermission? {
        guard entry["type"]?.stringValue == "permission" else { return nil }
        var entry = entry
        switch entry["resource"]?.stringValue {
        case "repo":
            break
        case "rpc":
            let inherit = entry["inheritAud"]
            if let inherit {
                // inheritAud together with aud, or without an aud to inherit, is ignored.
                guard inherit.boolValue == true, entry["aud"] == nil, let audience else { return nil }
                entry["aud"] = .string(audience)
                entry["inheritAud"] = nil
            } else if entry["aud"]?.stringValue != "*" {
                return nil  // a fixed audience is not allowed in a set
            }
        default:
            return nil
        }
        guard let scope = Self.scopeString(entry), let permission = OAuthPermission(scope) else { return nil }
        return isInNamespace(permission) ? permission : nil
    }

    /// Whether every collection or method of `permission` is under this set's group.
    func isInNamespace(_ permission: OAuthPermission) -> Bool {
        switch permission {
        case .repo(let collections, _): return collections.allSatisfy(isInNamespace)
        case .rpc(let methods, _): return methods.allSatisfy(isInNamespace)
        default: return false
        }
    }

    /// `app.example.feed.authX` covers `app.example.feed.*` and below, never `*` or a sibling group.
    public func isInNamespace(_ name: String) -> Bool {
        guard name != "*", let set = try? NSID(nsid), let other = try? NSID(name) else { return false }
        return other.string.hasPrefix(set.authority + ".")
    }

    /// The entry as a scope string in named-parameter form, so that the same strict parser that
    /// reads literal scopes decides what it means (`type` and `resource` are not parameters).
    static func scopeString(_ entry: JSONObject) -> String? {
        guard let resource = entry["resource"]?.stringValue else { return nil }
        var pairs: [String] = []
        for (key, value) in entry where key != "type" && key != "resource" {
            let values: [String]
            switch value {
            case .string(let text): values = [text]
            case .array(let items):
                let texts = items.compactMap(\.stringValue)
                guard texts.count == items.count, !texts.isEmpty else { return nil }
                values = texts
            default: return nil
            }
            pairs += values.map { ScopeSyntax.encode(key) + "=" + ScopeSyntax.encode($0) }
        }
        return pairs.isEmpty ? resource : resource + "?" + pairs.joined(separator: "&")
    }
}
