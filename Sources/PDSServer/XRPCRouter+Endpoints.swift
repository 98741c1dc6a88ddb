import PDSCore

extension XRPCRouter {
    /// The XRPC method table of a server: each endpoint group gets only the services it uses.
    static func endpoints(_ services: PDSServices) -> XRPCRouter {
        let authenticator = Authenticator(sessions: services.sessions, accounts: services.accounts,
                                          serviceDID: services.config.serviceDID,
                                          signingKey: { [keys = services.keys] in keys.signingKey.publicKey }, oauth: services.oauth)
        let limits = services.config.rateLimits
        var router = XRPCRouter(authenticator: authenticator, rateLimiter: limits.enabled ? TokenBucketLimiter(settings: limits) : nil)
        let serviceTokens = ServiceTokenIssuer(accounts: services.accounts, keys: services.keys)
        let proxy = ServiceProxy(config: services.config, http: services.http, remoteHTTP: services.remoteHTTP, identity: services.identityDirectory,
                                 serviceTokens: serviceTokens, authenticator: authenticator, logger: services.logger)
        let repo = HostedRepository(accounts: services.accounts, store: services.repository, writer: services.repoWriter)
        let identity = services.identity
        ServerEndpoints(config: services.config, serviceTokens: serviceTokens).register(on: &router)
        SessionEndpoints(sessions: services.sessions, didDocument: identity.didDocument, logger: services.logger).register(on: &router)
        RepoEndpoints(repo: repo, didDocument: identity.didDocument).register(on: &router)
        SyncEndpoints(repo: repo, authenticator: authenticator).register(on: &router)
        BlobEndpoints(blobs: services.blobs, blobIndex: services.blobIndex, accounts: services.accounts,
                      authenticator: authenticator, uploadLimit: services.config.blobUploadLimit,
                      logger: services.logger).register(on: &router)
        IdentityEndpoints(identity: identity, sessions: services.sessions, email: services.email).register(on: &router)
        EmailEndpoints(email: services.email, sessions: services.sessions).register(on: &router)
        PreferenceEndpoints(accounts: services.accounts, proxy: proxy).register(on: &router)
        AccountEndpoints(lifecycle: services.lifecycle, sessions: services.sessions, didDocument: identity.didDocument,
                         dataDirectory: services.config.dataDirectory, logger: services.logger).register(on: &router)
        AppViewEndpoints(proxy: proxy, accounts: services.accounts, repository: services.repository).register(on: &router)
        proxy.register(on: &router)
        return router
    }
}
