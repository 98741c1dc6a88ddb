import ATCrypto
import Multiformats

/// A content identifier (CIDv1), stored in its binary form.
///
/// atproto "blesses" one shape (spec: data-model, "Link and CID Formats"): version 1, codec
/// `dag-cbor` (0x71) for data or `raw` (0x55) for blobs, multihash sha2-256 (0x12) with a 32-byte
/// digest — 36 bytes, spelled `b` + lowercase base32 (`bafyrei…` / `bafkrei…`). Other CIDv1 shapes
/// are parsed and kept byte-exact (MST leaves must retain the CID they were given) but never made.
public struct CID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Multicodec codes atproto uses.
    public enum Codec {
        /// DAG-CBOR / DRISL data.
        public static let dagCBOR: UInt64 = 0x71
        /// Raw bytes (blobs).
        public static let raw: UInt64 = 0x55
    }
    /// Multihash code for sha2-256.
    public static let sha256Code: UInt64 = 0x12
    /// Longest binary CID accepted (data-model guide: CIDs ≤ 100 bytes).
    public static let maxByteCount = 100

    /// The binary CID: `version ‖ codec ‖ multihash-code ‖ digest-length ‖ digest`, varints.
    public let bytes: [UInt8]
    /// The content-type codec (`Codec.dagCBOR` or `Codec.raw` for blessed CIDs).
    public let codec: UInt64
    /// The multihash function code.
    public let hashCode: UInt64
    /// Offset of the digest within `bytes`.
    private let digestOffset: Int

    /// Parses and validates a binary CIDv1.
    public init(bytes: [UInt8]) throws(DataError) {
        let (cid, used) = try CID.parsePrefix(bytes[...])
        guard used == bytes.count else { throw .invalidCID("\(bytes.count - used) bytes after the digest") }
        self = cid
    }

    /// Parses the CID at the start of `bytes` and returns it with the number of bytes it used
    /// (CAR sections hold a CID followed directly by the block).
    public static func parsePrefix(_ bytes: ArraySlice<UInt8>) throws(DataError) -> (CID, Int) {
        var position = bytes.startIndex
        func varint() throws(DataError) -> UInt64 {
            do {
                let (value, length) = try Varint.decode(bytes[position...])
                position += length
                return value
            } catch {
                throw .invalidCID("bad varint")
            }
        }
        if bytes.count >= 2 && bytes[position] == 0x12 && bytes[position + 1] == 0x20 {
            throw .invalidCID("CIDv0 is not supported")
        }
        let version = try varint()
        guard version == 1 else { throw .invalidCID("version \(version), expected 1") }
        let codec = try varint()
        let hashCode = try varint()
        let length = try varint()
        let digestOffset = position - bytes.startIndex
        guard length <= UInt64(maxByteCount), bytes.endIndex - position >= Int(length) else {
            throw .invalidCID("digest shorter than its declared length")
        }
        if hashCode == sha256Code && length != 32 { throw .invalidCID("sha2-256 digest must be 32 bytes") }
        let used = digestOffset + Int(length)
        guard used <= maxByteCount else { throw .invalidCID("longer than \(maxByteCount) bytes") }
        return (CID(validated: Array(bytes[bytes.startIndex..<(bytes.startIndex + used)]), codec: codec,
                    hashCode: hashCode, digestOffset: digestOffset), used)
    }

    private init(validated bytes: [UInt8], codec: UInt64, hashCode: UInt64, digestOffset: Int) {
        self.bytes = bytes
        self.codec = codec
        self.hashCode = hashCode
        self.digestOffset = digestOffset
    }

    /// A blessed CID for a SHA-256 `digest` with `codec`.
    public init(codec: UInt64, sha256Digest digest: [UInt8]) {
        precondition(digest.count == 32, "sha2-256 digests are 32 bytes")
        var bytes: [UInt8] = [0x01]
        bytes.reserveCapacity(36)
        Varint.encode(codec, into: &bytes)
        bytes.append(0x12)
        bytes.append(0x20)
        let offset = bytes.count
        bytes.append(contentsOf: digest)
        self.init(validated: bytes, codec: codec, hashCode: CID.sha256Code, digestOffset: offset)
    }

    /// The CID of DAG-CBOR `bytes` (a record, MST node or commit block).
    public static func dagCBOR(hashing bytes: [UInt8]) -> CID {
        CID(codec: Codec.dagCBOR, sha256Digest: SHA256.hash(bytes))
    }

    /// The CID of raw `bytes` (a blob).
    public static func raw(hashing bytes: [UInt8]) -> CID {
        CID(codec: Codec.raw, sha256Digest: SHA256.hash(bytes))
    }

    /// Parses a CID string. Only multibase base32 (`b…`) CIDv1 strings are decoded: that is the
    /// only spelling atproto writes (the looser Lexicon `cid` *format* check is in ATSyntax).
    public init(string: String) throws(DataError) {
        guard string.utf8.first == UInt8(ascii: "b") else { throw .invalidCID("expected a base32 CIDv1 string (b…)") }
        let decoded: [UInt8]
        do { decoded = try Base32.decode(string.dropFirst()) } catch { throw .invalidCID("bad base32") }
        try self.init(bytes: decoded)
    }

    /// The hash digest.
    public var digest: ArraySlice<UInt8> { bytes[digestOffset...] }

    /// True for the one shape atproto generates and requires for commit and MST links.
    public var isBlessed: Bool {
        hashCode == CID.sha256Code && bytes.count == 36 && (codec == Codec.dagCBOR || codec == Codec.raw)
    }

    /// The canonical string form: `b` + lowercase unpadded base32 of the binary CID.
    public var string: String { "b" + Base32.encode(bytes) }

    public var description: String { string }

    /// Orders by binary form (a stable, cheap order for sorted block lists).
    public static func < (lhs: CID, rhs: CID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public static func == (lhs: CID, rhs: CID) -> Bool { lhs.bytes == rhs.bytes }

    /// A sha2-256 CID hashes its digest's last 8 bytes, already uniformly random, in one word
    /// (hashing all 36 bytes was ~540 instructions per lookup, and a write makes ~75 lookups in
    /// block maps and sets); other shapes, whose digest may be chosen freely (identity hashes),
    /// hash their whole binary form. Equal CIDs hash equally either way.
    public func hash(into hasher: inout Hasher) {
        if hashCode == CID.sha256Code, bytes.count - digestOffset == 32 {
            hasher.combine(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: $0.count - 8, as: UInt64.self) })
        } else {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
