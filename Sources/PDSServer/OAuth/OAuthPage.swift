import ATAuth
import Foundation
import PDSStore
import PDSCore

/// The server-rendered pages a person sees: sign-in, consent, the account page and errors.
/// Plain HTML forms and one stylesheet, no script; every interpolated value goes through
/// `escape` (HTML text and attribute context, OWASP rule #1/#2).
enum OAuthPage {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func document(title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title><link rel="stylesheet" href="/oauth/style.css"></head>
        <body><main>\(body)</main></body></html>
        """
    }

    static func hidden(_ fields: [(String, String)]) -> String {
        fields.map { "<input type=\"hidden\" name=\"\(escape($0.0))\" value=\"\(escape($0.1))\">" }.joined()
    }

    static func signIn(action: String, fields: [(String, String)], identifier: String?, error: String?, heading: String,
                       askCode: Bool = false) -> String {
        let code = askCode ? """
            <label for="code">Sign-in code from your e-mail</label>
            <input id="code" name="code" autocomplete="one-time-code" required>
            """ : ""
        return document(title: "Sign in", """
            <h1>\(escape(heading))</h1>
            \(error.map { "<p class=\"error\" role=\"alert\">\(escape($0))</p>" } ?? "")
            <form method="post" action="\(escape(action))">
            \(hidden(fields + [("action", "signin")]))
            <label for="identifier">Handle or e-mail</label>
            <input id="identifier" name="identifier" autocomplete="username" required value="\(escape(identifier ?? ""))">
            <label for="password">Password</label>
            <input id="password" name="password" type="password" autocomplete="current-password" required>
            \(code)<button id="sign-in" type="submit">Sign in</button>
            </form>
            """)
    }

    static func consent(clientID: String, clientName: String?, handle: String, permissions: [String], fields: [(String, String)]) -> String {
        let items = permissions.map { "<li>\(escape($0))</li>" }.joined()
        let name = clientName.map { "<p class=\"name\">It calls itself “\(escape($0))”.</p>" } ?? ""
        return document(title: "Authorize", """
            <h1>Allow this app to use your account?</h1>
            <p>Signed in as <strong>\(escape(handle))</strong>.</p>
            <p>The application at</p><p class="client"><code id="client-id">\(escape(clientID))</code></p>\(name)
            <p>asks to:</p><ul id="permissions">\(items)</ul>
            <form method="post" action="/oauth/authorize">
            \(hidden(fields))
            <label class="check"><input type="checkbox" name="remember" value="1" checked> Remember this decision</label>
            <button id="allow" type="submit" name="action" value="allow">Allow</button>
            <button id="deny" type="submit" name="action" value="deny" class="secondary">Deny</button>
            </form>
            """)
    }

    static func error(_ title: String, _ message: String) -> String {
        document(title: title, "<h1>\(escape(title))</h1><p id=\"error\">\(escape(message))</p>")
    }

    /// Each permission in plain words (https://atproto.com/specs/permission); each `include:`
    /// set by its own title and detail (in the first of `languages` it has), then what it allows.
    static func describe(_ scopes: OAuthScopeSet, sets: [IncludedPermissionSet] = [], languages: [String] = []) -> [String] {
        var lines = ["Know who you are (your handle and DID)"]
        if scopes.transitionGeneric {
            lines.append("Create, change and delete any of your records (posts, likes, follows, …), upload files, "
                         + "read and change your preferences, and use other services as you (except direct messages)")
        }
        if scopes.transitionChat { lines.append("Read and send your direct messages") }
        if scopes.transitionEmail { lines.append("See your e-mail address") }
        for permission in scopes.permissions.filter({ if case .include = $0 { false } else { true } }).map(describe).sorted() {
            lines.append(permission)
        }
        for included in sets { lines.append(describe(included, languages: languages)) }
        return lines
    }

    static func describe(_ permission: OAuthPermission) -> String {
        switch permission {
        case .repo(let collections, let actions):
            let verbs = OAuthPermission.RepoAction.allCases.filter(actions.contains).map(\.rawValue).joined(separator: ", ")
            let what = collections.contains("*") ? "any kind of record" : "records of type " + collections.sorted().joined(separator: ", ")
            return "\(verbs.capitalizedFirst) \(what)"
        case .rpc(let methods, let audience):
            let what = methods.contains("*") ? "any method" : methods.sorted().joined(separator: ", ")
            return "Call \(what) at \(audience == "*" ? "any service" : audience) as you"
        case .blob(let accept): return "Upload files of type " + accept.joined(separator: ", ")
        case .account(.email, .read): return "See your e-mail address"
        case .account(.email, .manage): return "See and change your e-mail address"
        case .account(.repo, _): return "Import a repository into your account"
        case .identity(.handle): return "Change your handle"
        case .identity(.all): return "Control your identity (your DID document and handle)"
        case .include(let nsid, _): return "Use the permission set \(nsid)"
        }
    }

    /// "<title>: <detail> (permission set <nsid>), which allows: …".
    static func describe(_ included: IncludedPermissionSet, languages: [String]) -> String {
        let set = included.set
        var text = set.title(preferring: languages) ?? set.nsid
        if let detail = set.detail(preferring: languages) { text += ": " + detail }
        text += " (permission set \(set.nsid)"
        if let audience = included.audience { text += " for \(audience)" }
        let allowed = included.permissions.map(describe).sorted()
        text += allowed.isEmpty ? "), which allows nothing on this server" : "), which allows: " + allowed.joined(separator: "; ")
        return text
    }

    /// The language tags of an `Accept-Language` header, most preferred first (`*` and q=0 left out).
    static func languages(_ header: String?) -> [String] {
        guard let header else { return [] }
        var ranked: [(tag: String, q: Double, index: Int)] = []
        for (index, item) in header.split(separator: ",").enumerated() {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = parts.first, !tag.isEmpty, tag != "*" else { continue }
            let q = parts.dropFirst().first(where: { $0.hasPrefix("q=") }).flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { ranked.append((tag, q, index)) }
        }
        return ranked.sorted { $0.q != $1.q ? $0.q > $1.q : $0.index < $1.index }.map(\.tag)
    }

    static let stylesheet = """
        body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1b1d21}
        main{max-width:32rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px}
        h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
        label{display:block;margin-top:1rem}input{font-size:1rem;width:100%;box-sizing:border-box;padding:.6rem;margin-top:.3rem}
        label.check input{width:auto}
        button{font-size:1rem;padding:.7rem 1.2rem;margin-top:1rem;border:0;border-radius:8px;background:#1560d4;color:#fff}
        button.secondary{background:#e2e5ea;color:#1b1d21}
        code{word-break:break-all}.client{font-size:1.05rem}.error{color:#b00020}
        table{width:100%;border-collapse:collapse}td{padding:.4rem 0;border-bottom:1px solid #e2e5ea;vertical-align:top}
        td form button{margin:0;padding:.4rem .8rem}
        """
}

extension String {
    fileprivate var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
