import ATCrypto
import ATData
import ATSyntax
import Multiformats

/// Signing, signature checks and DID derivation (https://atproto.com/specs/did).
extension PLCOperation {
    /// A copy signed by `key`: ECDSA-SHA256 over the DAG-CBOR of the operation without `sig`,
    /// 64-byte low-S r‖s, base64url without padding.
    ///
    /// Whether `key` has authority (is a rotation key of the right operation) is the caller's
    /// business: the builders check it, and `PLCAuditLog` checks it when replaying.
    /// Throws `operationTooLarge` when the signed operation would exceed `maxSize`.
    public func signed(with key: some SigningKey) throws(IdentityError) -> PLCOperation {
        var copy = self
        copy.sig = nil
        let signature: [UInt8]
        do { signature = try key.sign(copy.unsignedBytes) } catch { throw .signingFailed(error.description) }
        copy.sig = Base64.encode(signature, alphabet: .urlSafe, padded: false)
        let size = copy.encoded.count
        guard size <= PLCOperation.maxSize else { throw .operationTooLarge(size: size) }
        return copy
    }

    /// The decoded signature bytes.
    ///
    /// Decoding is strict, as the spec requires: URL-safe alphabet only, no `=` padding, no
    /// whitespace, and zero trailing bits (log_invalid_sig_b64_* vectors; lenient decoders
    /// accept those, so each would give an operation a second valid spelling and CID).
    public func signatureBytes() throws(IdentityError) -> [UInt8] {
        guard let sig else { throw .unsigned }
        do {
            return try Base64.decode(sig, alphabet: .urlSafe, padding: .forbidden)
        } catch {
            throw .invalidSignatureEncoding("\(error)")
        }
    }

    /// The index of the first key in `keys` (`did:key` strings) whose public key verifies this
    /// operation's signature, or `nil` if none does. Keys that do not parse are skipped.
    ///
    /// A DER or high-S signature never verifies: `VerifyingKey.verify` only takes 64-byte low-S.
    public func signerIndex(among keys: [String]) throws(IdentityError) -> Int? {
        let signature = try signatureBytes()
        let message = unsignedBytes
        for (index, didKey) in keys.enumerated() {
            guard let key = try? parseDIDKey(didKey) else { continue }
            if key.verify(signature: signature, message: message) { return index }
        }
        return nil
    }

    /// Whether the signature is by the key `didKey`.
    public func isSigned(by didKey: String) -> Bool {
        (try? signerIndex(among: [didKey])) == 0
    }

    /// The did:plc this genesis operation creates: `did:plc:` + the first 24 characters of
    /// base32(sha256(DAG-CBOR of the signed operation)).
    public func did() throws(IdentityError) -> DID {
        guard isGenesis else { throw .invalidRequest("only a genesis operation (prev: null) determines a DID") }
        guard sig != nil else { throw .unsigned }
        return PLCOperation.plcDID(forSignedGenesis: encoded)
    }

    /// The did:plc for the DAG-CBOR of a signed genesis operation.
    public static func plcDID(forSignedGenesis bytes: [UInt8]) -> DID {
        let identifier = Base32.encode(SHA256.hash(bytes)).prefix(24)
        // 24 characters of a-z2-7 always form a valid DID.
        return try! DID("did:plc:" + identifier)
    }
}
