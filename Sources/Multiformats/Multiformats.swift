// Multiformats: the byte-text encodings the AT Protocol builds on.
//
// What it is: strict, allocation-light codecs for RFC 4648 base32 (lowercase, unpadded, as used by
// CID strings and did:plc), base58btc (did:key / multikey), base64 in the standard and URL-safe
// alphabets (atproto JSON `$bytes`, JWTs, age), unsigned LEB128 varints (CIDs, CAR files) and the
// multibase prefixes that select among them.
//
// What it is not: CIDs or CBOR (see ATData), key handling (see ATCrypto). It does no I/O.
//
// Strictness: every decoder rejects non-canonical input (bits left over after the last full byte
// that are not zero, over-long varints, characters outside the alphabet), because atproto hashes and
// signs encoded forms and two spellings of one value would break that (e.g. the did:plc
// `log_invalid_sig_b64_padding_bits` vector).

/// A decoding failure in one of the Multiformats codecs.
public enum MultiformatsError: Error, Equatable, Sendable {
    /// A character is not in the codec's alphabet (its offset in the input).
    case invalidCharacter(offset: Int)
    /// The input length cannot come from the encoder (e.g. one stray base32 or base64 character).
    case invalidLength
    /// Bits after the last whole byte are not zero, so the text is not the canonical spelling.
    case nonCanonical
    /// A varint is longer than allowed, not minimally encoded, or the input ended inside it.
    case invalidVarint
    /// A multibase prefix this library does not decode.
    case unsupportedMultibase(Character)
    /// Empty multibase string.
    case empty
}
