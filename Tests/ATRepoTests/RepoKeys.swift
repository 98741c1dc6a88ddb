import ATCrypto
import Foundation
import TestSupport

/// Keys for the repository fixtures, taken from their DID documents.
enum RepoKeys {
    /// The `#atproto` verification method of a fixture DID document.
    static func atprotoKey(didDoc relativePath: String) throws -> any VerifyingKey {
        let document = try SharedVectors.json(relativePath) as! [String: Any]
        let methods = document["verificationMethod"] as! [[String: Any]]
        let method = methods.first { ($0["id"] as! String).hasSuffix("#atproto") }!
        return try parseLegacyMultibase(method["publicKeyMultibase"] as! String, type: method["type"] as! String)
    }
}
