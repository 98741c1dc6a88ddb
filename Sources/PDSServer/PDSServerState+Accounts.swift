import ATAuth
import Hummingbird
import PDSCore
import PDSStore

extension PDSServerState {
    /// The hosted account, checking that the token's subject is it.
    func requireAccount(_ did: String) throws -> Account {
        try sessions.account(did)
    }

    func verifyAccessOrServiceAuth(_ request: Request, lxm: String) throws -> AccessAuth {
        try authenticator.sessionOrServiceToken(request, lxm: lxm)
    }
}
