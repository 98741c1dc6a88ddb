import ATData

/// A client's metadata document, validated against the atproto OAuth client rules
/// (https://atproto.com/specs/oauth "Client ID Metadata Document"): the `client_id` is the HTTPS
/// URL the document was fetched from (or the loopback virtual client `http://localhost…`).
public struct OAuthClientMetadata: Sendable {
    public enum ApplicationType: String, Sendable { case web, native }
    public enum AuthMethod: String, Sendable { case none, privateKeyJWT = "private_key_jwt" }

    public let clientID: String
    public let applicationType: ApplicationType
    public let scope: OAuthScopeSet
    public let redirectURIs: [String]
    public let authMethod: AuthMethod
    public let allowsRefresh: Bool
    public let clientName: String?
    public let logoURI: String?
    public let clientURI: String?
    /// Inline keys (`jwks`) of a confidential client.
    public let jwks: [ECPublicJWK]
    /// Where a confidential client publishes its keys, re-fetched to notice a removed key.
    public let jwksURI: String?
    /// Whether this is the loopback virtual client (development; never shown with a name).
    public let isLoopback: Bool

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
        init(_ message: String) { self.message = message }
    }

    /// Validates a fetched document. `allowHTTPLoopbackIDs` (an explicit `pds dev` switch) admits
    /// `http://127.0.0.1:PORT/…` client ids so confidential clients can be tested on one machine.
    public init(document: JSONObject, clientID: String, allowHTTPLoopbackIDs: Bool = false) throws(Invalid) {
        try Self.checkClientID(clientID, allowHTTPLoopback: allowHTTPLoopbackIDs)
        guard document["client_id"]?.stringValue == clientID else { throw Invalid("client_id does not match the document URL") }
        let type = document["application_type"]?.stringValue ?? "web"
        guard let applicationType = ApplicationType(rawValue: type) else { throw Invalid("application_type must be web or native") }
        let grants = try Self.strings(document, "grant_types") ?? []
        guard grants.contains("authorization_code") else { throw Invalid("grant_types must include authorization_code") }
        guard grants.allSatisfy({ $0 == "authorization_code" || $0 == "refresh_token" }) else {
            throw Invalid("only the authorization_code and refresh_token grants are supported")
        }
        guard (try Self.strings(document, "response_types") ?? []).contains("code") else { throw Invalid("response_types must include code") }
        guard document["dpop_bound_access_tokens"]?.boolValue == true else { throw Invalid("dpop_bound_access_tokens must be true") }
        guard let scopeString = document["scope"]?.stringValue else { throw Invalid("scope is required") }
        let scope: OAuthScopeSet
        do { scope = try OAuthScopeSet(parsing: scopeString) } catch { throw Invalid("scope is invalid: \(error)") }
        guard let redirects = try Self.strings(document, "redirect_uris"), !redirects.isEmpty else { throw Invalid("redirect_uris is required") }
        let client = OAuthURL(clientID)!
        for redirect in redirects {
            try Self.checkRedirect(redirect, type: applicationType, client: client)
        }
        let method = document["token_endpoint_auth_method"]?.stringValue ?? "none"
        guard let authMethod = AuthMethod(rawValue: method) else { throw Invalid("token_endpoint_auth_method must be none or private_key_jwt") }
        var keys: [ECPublicJWK] = []
        let jwksURI = document["jwks_uri"]?.stringValue
        if authMethod == .privateKeyJWT {
            guard document["token_endpoint_auth_signing_alg"]?.stringValue == "ES256" else {
                throw Invalid("token_endpoint_auth_signing_alg must be ES256")
            }
            guard (document["jwks"] == nil) != (jwksURI == nil) else { throw Invalid("exactly one of jwks and jwks_uri is required") }
            if let jwks = document["jwks"] { keys = try Self.keys(jwks) }
            if let jwksURI {
                guard let url = OAuthURL(jwksURI), url.scheme == "https" || (allowHTTPLoopbackIDs && url.isLoopbackIP) else {
                    throw Invalid("jwks_uri must be https")
                }
            }
        }
        let clientURI = document["client_uri"]?.stringValue
        if let clientURI {
            guard let url = OAuthURL(clientURI), url.host == client.host, url.scheme == client.scheme else {
                throw Invalid("client_uri must be on the client_id's host")
            }
        }
        for field in ["logo_uri", "tos_uri", "policy_uri"] {
            if let value = document[field]?.stringValue, OAuthURL(value)?.scheme != "https" { throw Invalid("\(field) must be https") }
        }
        self.clientID = clientID
        self.applicationType = applicationType
        self.scope = scope
        self.redirectURIs = redirects
        self.authMethod = authMethod
        self.allowsRefresh = grants.contains("refresh_token")
        self.clientName = document["client_name"]?.stringValue
        self.logoURI = document["logo_uri"]?.stringValue
        self.clientURI = clientURI
        self.jwks = keys
        self.jwksURI = authMethod == .privateKeyJWT ? jwksURI : nil
        self.isLoopback = false
    }

    /// The loopback virtual client: `http://localhost[/]?redirect_uri=…&scope=…` (no port), a
    /// public native client whose redirect URIs default to `http://127.0.0.1/` and `http://[::1]/`.
    public init(loopbackClientID clientID: String) throws(Invalid) {
        guard let url = OAuthURL(clientID), url.scheme == "http", url.host == "localhost", url.port == nil,
              url.path == "" || url.path == "/", url.fragment == nil
        else { throw Invalid("not a loopback client id") }
        guard let query = ScopeSyntax("q?" + (url.query ?? "")) else { throw Invalid("the loopback client id's query is malformed") }
        guard query.params.allSatisfy({ $0.key == "redirect_uri" || $0.key == "scope" }) else {
            throw Invalid("the loopback client id allows only redirect_uri and scope")
        }
        let redirects = query.values("redirect_uri").isEmpty ? ["http://127.0.0.1/", "http://[::1]/"] : query.values("redirect_uri")
        for redirect in redirects {
            guard let target = OAuthURL(redirect), target.scheme == "http", target.isLoopbackIP, target.fragment == nil else {
                throw Invalid("loopback redirect_uri must be http://127.0.0.1 or http://[::1]")
            }
        }
        let scopes = query.values("scope")
        guard scopes.count <= 1 else { throw Invalid("scope may appear once") }
        do { scope = try OAuthScopeSet(parsing: scopes.first ?? "atproto") } catch { throw Invalid("scope is invalid: \(error)") }
        self.clientID = clientID
        applicationType = .native
        redirectURIs = redirects
        authMethod = .none
        allowsRefresh = true
        clientName = nil
        logoURI = nil
        clientURI = nil
        jwks = []
        jwksURI = nil
        isLoopback = true
    }

    /// Whether `clientID` names the loopback virtual client (its metadata is not fetched).
    public static func isLoopbackClientID(_ clientID: String) -> Bool {
        clientID == "http://localhost" || clientID.hasPrefix("http://localhost/") || clientID.hasPrefix("http://localhost?")
    }

    /// Whether `redirect` is one of the registered URIs. Exact string match, except that a
    /// loopback IP redirect of a native client matches on any port (RFC 8252 §7.3).
    public func allowsRedirect(_ redirect: String) -> Bool {
        if redirectURIs.contains(redirect) { return true }
        guard applicationType == .native, let target = OAuthURL(redirect), target.scheme == "http", target.isLoopbackIP else { return false }
        return redirectURIs.contains { registered in
            guard let url = OAuthURL(registered), url.scheme == "http", url.host == target.host else { return false }
            return (url.path.isEmpty ? "/" : url.path) == (target.path.isEmpty ? "/" : target.path) && url.query == target.query
        }
    }

    /// A document client id: HTTPS, a domain name, no explicit port, a path, no fragment.
    static func checkClientID(_ clientID: String, allowHTTPLoopback: Bool) throws(Invalid) {
        guard let url = OAuthURL(clientID), url.hasAuthority, url.fragment == nil else { throw Invalid("client_id is not a URL") }
        if allowHTTPLoopback, url.scheme == "http", url.isLoopbackIP { return }
        guard url.scheme == "https" else { throw Invalid("client_id must be an https URL") }
        guard url.port == nil else { throw Invalid("client_id must not have a port") }
        guard url.isDomainName else { throw Invalid("client_id must use a domain name") }
        guard url.path.count > 1 else { throw Invalid("client_id must have a path") }
    }

    /// Web clients redirect to HTTPS only; native clients to a private-use scheme that is the
    /// client_id host reversed (`com.example.app:/callback`, one slash: RFC 8252 §7.1), to HTTPS on
    /// the client's origin, or to a loopback IP over http.
    static func checkRedirect(_ redirect: String, type: ApplicationType, client: OAuthURL) throws(Invalid) {
        guard let url = OAuthURL(redirect), url.fragment == nil else { throw Invalid("redirect_uri \(redirect) is not a URL") }
        switch type {
        case .web:
            guard url.scheme == "https" || (client.scheme == "http" && client.isLoopbackIP && url.scheme == "http" && url.isLoopbackIP) else {
                throw Invalid("web clients must use https redirect URIs")
            }
            guard url.scheme == "http" || url.isDomainName else { throw Invalid("web redirect URIs must use a domain name") }
        case .native:
            if url.scheme == "https" {
                guard url.origin == client.origin else { throw Invalid("a native https redirect must be on the client's origin") }
            } else if url.scheme == "http" {
                guard url.isLoopbackIP else { throw Invalid("native http redirect URIs must use a loopback IP") }
            } else {
                let reversed = client.host.split(separator: ".").reversed().joined(separator: ".")
                guard url.scheme == reversed, !url.hasAuthority, url.path.hasPrefix("/"), !url.path.hasPrefix("//") else {
                    throw Invalid("a native redirect scheme must be the client_id host reversed, with a single-slash path")
                }
            }
        }
    }

    static func strings(_ document: JSONObject, _ field: String) throws(Invalid) -> [String]? {
        guard let value = document[field] else { return nil }
        guard let array = value.arrayValue else { throw Invalid("\(field) must be an array of strings") }
        var strings: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw Invalid("\(field) must be an array of strings") }
            strings.append(string)
        }
        return strings
    }

    /// The ES256 keys of a JWKS document (`{"keys":[…]}`); other key types are skipped, and at
    /// least one usable key is required.
    public static func keys(_ jwks: JSONValue) throws(Invalid) -> [ECPublicJWK] {
        guard let keys = jwks["keys"]?.arrayValue else { throw Invalid("jwks must have a keys array") }
        let usable = keys.compactMap { $0.objectValue.flatMap { try? ECPublicJWK($0) } }
        guard !usable.isEmpty else { throw Invalid("jwks has no ES256 P-256 key") }
        return usable
    }
}
