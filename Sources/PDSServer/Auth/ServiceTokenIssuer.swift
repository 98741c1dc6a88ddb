import ATAuth
import ATCrypto
import Foundation
import PDSCore
import PDSStore

/// Mints the account's inter-service tokens (https://atproto.com/specs/xrpc#inter-service-authentication-jwt):
/// ES256K JWTs signed with its repository signing key, for proxied requests and `getServiceAuth`.
struct ServiceTokenIssuer: Sendable {
    let accounts: AccountStore
    /// The account's keys (read at each token: a finished rotation switches them).
    let keys: ServerKeys

    /// `{iss: account DID, aud, exp, iat, lxm, jti}`, valid `lifetime` seconds.
    func token(audience: String, lxm: String?, lifetime: Int64 = 60, issuedAt: Int64? = nil) throws -> String {
        guard let account = try accounts.account() else { throw XRPCError.badRequest("AccountNotFound", "No account") }
        return try ServiceAuthToken.make(issuer: account.did, audience: audience, lxm: lxm,
                                         issuedAt: issuedAt ?? Int64(Date().timeIntervalSince1970), lifetime: lifetime,
                                         key: keys.signingKey)
    }
}
