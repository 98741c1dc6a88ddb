import Multiformats

/// A public key that checks atproto signatures, and its multikey / did:key spellings.
///
/// Keys are equal when they are on the same curve and are the same point, whichever SEC1 form
/// they were imported from.
public protocol VerifyingKey: Sendable, Hashable, CustomStringConvertible {
    /// Which curve this key is on.
    var algorithm: SignatureAlgorithm { get }

    /// The 33-byte SEC1 compressed point (0x02/0x03 ‖ x), the form multikey uses.
    var compressedBytes: [UInt8] { get }

    /// The 65-byte SEC1 uncompressed point (0x04 ‖ x ‖ y), the form legacy DID documents used.
    var uncompressedBytes: [UInt8] { get }

    /// Whether `signature` is a valid 64-byte low-S r‖s ECDSA signature of SHA-256(`message`).
    ///
    /// Anything else is `false`: other lengths (so DER never passes), s > n/2 (https://atproto.com/specs/cryptography
    /// makes low-S mandatory on both curves), r or s out of range.
    func verify(signature: [UInt8], message: [UInt8]) -> Bool
}

extension VerifyingKey {
    /// The multikey: `z` + base58btc(multicodec varint ‖ compressed point) (https://atproto.com/specs/cryptography).
    /// K-256 keys start `zQ3s`, P-256 keys `zDna`.
    public var multikey: String {
        var bytes = Varint.encode(algorithm.multicodec)
        bytes.append(contentsOf: compressedBytes)
        return Multibase.encode(bytes, base: .base58btc)
    }

    /// `did:key:` followed by the multikey.
    public var didKey: String { DIDKey.prefix + multikey }

    /// The did:key, so that keys print readably in logs and test failures.
    public var description: String { didKey }

    /// Whether `other` is the same curve and point, for comparing keys behind `any VerifyingKey`.
    public func isSameKey(as other: any VerifyingKey) -> Bool {
        algorithm == other.algorithm && compressedBytes == other.compressedBytes
    }
}
