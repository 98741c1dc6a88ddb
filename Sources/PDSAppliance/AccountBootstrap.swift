import ATIdentity
import ATSyntax
import Foundation
import PDSCore
import PDSServer
import PDSStore

/// Creates the one account: its identity (a did:plc genesis published to the directory, or a
/// did:web served here), the account row, and the repository with its first commit and the
/// account-creation events. Shared by `pds init` and `pds dev`.
public enum AccountBootstrap {
    /// Creates the account and returns its DID.
    public static func create(state: PDSServices, handle: String, password: String, email: String?, didWeb: Bool = false) async throws -> String {
        let handle = try Handle(handle)
        let did: String
        if didWeb {
            // did:web:<host>[%3A<port>]: the document is served by this server at /.well-known/did.json.
            did = state.config.webDID
            try state.accounts.createAccount(did: did, handle: handle.string, email: email, passwordHash: try PasswordHash.make(password))
        } else {
            guard let rotationKey = state.keys.rotationKey else {
                throw KeyFiles.Problem(description: "a did:plc account needs a rotation key")
            }
            // A genuine genesis operation, signed by the rotation key, so the DID is computed exactly
            // as the directory computes it. Published before anything is stored: if the directory
            // refuses it, nothing is created and the next start tries again.
            let genesis = try PLCOperation.signedGenesis(
                handle: handle, signingKey: state.keys.signingKey.publicKey.didKey,
                pdsEndpoint: state.config.publicURL, serverRotationKey: rotationKey, recoveryKey: state.config.recoveryDIDKey)
            if state.config.publishesIdentity {
                try await state.plcDirectory.submit(genesis.operation, did: genesis.did.string)
            }
            did = genesis.did.string
            try state.accounts.createAccount(did: did, handle: handle.string, email: email, passwordHash: try PasswordHash.make(password))
            try state.accounts.storePLCOperation(cid: genesis.operation.cid.string, json: genesis.operation.jsonBytes,
                                                 published: state.config.publishesIdentity)
        }
        try await state.repoWriter().createRepository(handle: handle.string)
        return did
    }
}
