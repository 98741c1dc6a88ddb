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
        let shape = try bytes.withUnsafeBufferPointer { buffer throws(DataError) in try Shape(prefixOf: buffer) }
        return (CID(validated: Array(bytes[bytes.startIndex..<(bytes.startIndex + shape.used)]), codec: shape.codec,
                    hashCode: shape.hashCode, digestOffset: shape.digestOffset), shape.used)
    }

    /// The fields of a binary CID, read and checked without copying it.
    struct Shape {
        let codec: UInt64
        let hashCode: UInt64
        let digestOffset: Int
        /// Bytes the CID spans.
        let used: Int

        /// The CID at the start of `bytes`.
        init(prefixOf bytes: UnsafeBufferPointer<UInt8>) throws(DataError) {
            var position = 0
            // `Varint.decode`'s rules (at most 9 bytes, minimal), on the buffer: the generic
            // decoder is not specialised across modules, and every JSON record link comes here.
            func varint() throws(DataError) -> UInt64 {
                var value: UInt64 = 0
                for length in 1...Varint.maxLength where position < bytes.count {
                    let byte = bytes[position]
                    position += 1
                    value |= UInt64(byte & 0x7f) << (7 * UInt64(length - 1))
                    if byte & 0x80 == 0 {
                        guard byte != 0 || length == 1 else { break }
                        return value
                    }
                }
                throw .invalidCID("bad varint")
            }
            if bytes.count >= 2 && bytes[0] == 0x12 && bytes[1] == 0x20 {
                throw .invalidCID("CIDv0 is not supported")
            }
            let version = try varint()
            guard version == 1 else { throw .invalidCID("version \(version), expected 1") }
            codec = try varint()
            hashCode = try varint()
            let length = try varint()
            digestOffset = position
            guard length <= UInt64(maxByteCount), bytes.count - position >= Int(length) else {
                throw .invalidCID("digest shorter than its declared length")
            }
            if hashCode == sha256Code && length != 32 { throw .invalidCID("sha2-256 digest must be 32 bytes") }
            used = digestOffset + Int(length)
            guard used <= maxByteCount else { throw .invalidCID("longer than \(maxByteCount) bytes") }
        }

        /// Checks that all of `bytes` is one CID, as `CID(bytes:)` does.
        static func check(_ bytes: UnsafeBufferPointer<UInt8>) throws(DataError) {
            let used = try Shape(prefixOf: bytes).used
            guard used == bytes.count else { throw .invalidCID("\(bytes.count - used) bytes after the digest") }
        }
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
    public var string: String {
        var utf8: [UInt8] = [UInt8(ascii: "b")]
        bytes.withUnsafeBufferPointer { Base32.append($0, to: &utf8) }
        return String(decoding: utf8, as: UTF8.self)
    }

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
