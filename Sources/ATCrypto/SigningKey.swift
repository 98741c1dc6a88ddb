/// A private key that signs atproto data (repo commits, service-auth JWTs, PLC operations).
///
/// Signatures follow https://atproto.com/specs/cryptography: ECDSA over SHA-256(message), returned as 64 bytes r‖s with
/// s ≤ n/2 ("low-S"), never DER. Implementations are safe to use from many tasks at once.
public protocol SigningKey: Sendable {
    /// The public half's concrete type.
    associatedtype PublicKey: VerifyingKey

    /// Which curve this key is on.
    var algorithm: SignatureAlgorithm { get }

    /// The matching public key.
    var publicKey: PublicKey { get }

    /// The 32-byte big-endian private scalar, for encrypted storage. Handle with care: this is the
    /// only place the secret leaves the key object.
    var privateKeyBytes: [UInt8] { get }

    /// Signs SHA-256(`message`), returning a 64-byte low-S r‖s signature.
    func sign(_ message: [UInt8]) throws(CryptoError) -> [UInt8]
}

extension SigningKey {
    /// The public key's `did:key` (shortcut for `publicKey.didKey`).
    public var didKey: String { publicKey.didKey }
}
