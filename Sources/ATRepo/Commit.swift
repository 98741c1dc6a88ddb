import ATCrypto
import ATData
import ATSyntax

/// A repository commit (https://atproto.com/specs/repository): the signed object naming the MST root of one revision.
///
/// Version 3 is `{did, version: 3, data, rev, prev, sig}` with `prev` present and normally null.
/// Version 2 commits (no `rev`, `prev` a real link) decode and verify too, for imports of old
/// repositories; only v3 is ever created.
public struct Commit: Sendable, Hashable {
    /// The account DID.
    public var did: String
    /// Repository format version: 3 (or 2 for legacy commits read from elsewhere).
    public var version: Int
    /// The MST root CID.
    public var data: CID
    /// The revision TID; nil only for v2 commits that predate it.
    public var rev: String?
    /// The previous commit's CID: always written (null in v3).
    public var prev: CID?
    /// The 64-byte compact ECDSA signature; empty before signing.
    public var sig: [UInt8]

    /// An unsigned v3 commit.
    public init(did: String, data: CID, rev: String, prev: CID? = nil) {
        self.did = did
        self.version = 3
        self.data = data
        self.rev = rev
        self.prev = prev
        self.sig = []
    }

    init(did: String, version: Int, data: CID, rev: String?, prev: CID?, sig: [UInt8]) {
        self.did = did
        self.version = version
        self.data = data
        self.rev = rev
        self.prev = prev
        self.sig = sig
    }

    /// The bytes that are signed: the canonical DAG-CBOR of the commit without `sig`.
    public var unsignedBytes: [UInt8] { encode(includingSignature: false) }

    /// The canonical DAG-CBOR of the signed commit (the commit block).
    public var signedBytes: [UInt8] { encode(includingSignature: true) }

    /// The commit block's CID, computed over the signed bytes (https://atproto.com/specs/data-model "Commit CID").
    public var cid: CID { CID.dagCBOR(hashing: signedBytes) }

    /// Signs with `sign`, which must return a 64-byte low-S r‖s ECDSA signature over
    /// SHA-256(message) — exactly what `SigningKey.sign(_:)` does (https://atproto.com/specs/repository "Signing").
    public mutating func sign(with sign: (_ message: [UInt8]) throws -> [UInt8]) rethrows {
        sig = try sign(unsignedBytes)
    }

    /// Checks the signature with `verify(message, signature)` (for example
    /// `VerifyingKey.verify(signature:message:)`). Never compares signature bytes.
    public func verifySignature(_ verify: (_ message: [UInt8], _ signature: [UInt8]) -> Bool) -> Bool {
        guard sig.count == 64 else { return false }
        return verify(unsignedBytes, sig)
    }

    private func encode(includingSignature: Bool) -> [UInt8] {
        // Canonical order: did, rev, sig (3 bytes), data, prev (4), version (7).
        var writer = CBORWriter(capacity: 200)
        let fields = 4 + (rev == nil ? 0 : 1) + (includingSignature ? 1 : 0)
        writer.writeMapHead(count: fields)
        writer.write(text: "did")
        writer.write(text: did)
        if let rev {
            writer.write(text: "rev")
            writer.write(text: rev)
        }
        if includingSignature {
            writer.write(text: "sig")
            writer.write(bytes: sig)
        }
        writer.write(text: "data")
        writer.write(link: data)
        writer.write(text: "prev")
        if let prev { writer.write(link: prev) } else { writer.writeNull() }
        writer.write(text: "version")
        writer.write(integer: Int64(version))
        return writer.bytes
    }

    /// Decodes and validates a commit block (v3, or v2 for legacy data).
    ///
    /// Unknown fields are rejected: the signature is checked over our re-encoding, so a field we
    /// dropped would make a valid commit fail, and a field we kept would be unvalidated.
    public init(decoding bytes: [UInt8]) throws {
        let value: DataValue
        do { value = try DAGCBOR.decode(bytes) } catch { throw RepoError.data(error) }
        guard let map = value.mapValue else { throw RepoError.invalidCommit("not a map") }
        guard let version = map["version"]?.integerValue else { throw RepoError.invalidCommit("missing version") }
        guard version == 3 || version == 2 else { throw RepoError.invalidCommit("unsupported version \(version)") }
        let known: Set<String> = ["did", "version", "data", "rev", "prev", "sig"]
        if let unknown = map.keys.first(where: { !known.contains($0) }) { throw RepoError.invalidCommit("unexpected field \(unknown)") }
        guard let did = map["did"]?.stringValue, did.hasPrefix("did:") else { throw RepoError.invalidCommit("missing or malformed did") }
        guard let data = map["data"]?.linkValue else { throw RepoError.invalidCommit("missing data link") }
        guard data.isBlessed, data.codec == CID.Codec.dagCBOR else { throw RepoError.invalidCommit("data is not a dag-cbor sha2-256 CID") }
        guard let sig = map["sig"]?.bytesValue else { throw RepoError.invalidCommit("missing sig") }
        var rev: String?
        if let revValue = map["rev"] {
            guard let text = revValue.stringValue, Commit.isTID(text) else { throw RepoError.invalidCommit("rev is not a TID") }
            rev = text
        } else if version == 3 {
            throw RepoError.invalidCommit("v3 commit without rev")
        }
        var prev: CID?
        switch map["prev"] {
        case .link(let cid)?:
            guard cid.isBlessed, cid.codec == CID.Codec.dagCBOR else { throw RepoError.invalidCommit("prev is not a dag-cbor sha2-256 CID") }
            prev = cid
        case .null?: prev = nil
        case nil:
            // `prev` must be present (null when there is none) in v2 and v3 alike.
            throw RepoError.invalidCommit("commit without prev")
        default: throw RepoError.invalidCommit("prev must be a link or null")
        }
        self.init(did: did, version: Int(version), data: data, rev: rev, prev: prev, sig: sig)
    }

    /// TID syntax (https://atproto.com/specs/tid), per ATSyntax.
    static func isTID(_ text: String) -> Bool { (try? TID(text)) != nil }
}

/// A commit together with its block bytes and CID, as stored and as sent.
public struct SignedCommit: Sendable, Hashable {
    /// The commit.
    public let commit: Commit
    /// The canonical block bytes (signed).
    public let bytes: [UInt8]
    /// The block CID.
    public let cid: CID

    /// Wraps a signed commit.
    public init(_ commit: Commit) {
        self.commit = commit
        bytes = commit.signedBytes
        cid = CID.dagCBOR(hashing: bytes)
    }

    /// Decodes a commit block, checking that the bytes are its canonical encoding.
    public init(bytes: [UInt8]) throws {
        let commit = try Commit(decoding: bytes)
        guard commit.signedBytes == bytes else { throw RepoError.invalidCommit("not canonically encoded") }
        self.commit = commit
        self.bytes = bytes
        cid = CID.dagCBOR(hashing: bytes)
    }

    /// Creates and signs a v3 commit (https://atproto.com/specs/repository). `sign` is typically `SigningKey.sign`.
    public static func create(did: String, data: CID, rev: String,
                              sign: (_ message: [UInt8]) throws -> [UInt8]) rethrows -> SignedCommit {
        var commit = Commit(did: did, data: data, rev: rev)
        try commit.sign(with: sign)
        return SignedCommit(commit)
    }
}

extension Commit {
    /// Signs with the account's `#atproto` signing key (https://atproto.com/specs/repository).
    public mutating func sign(with key: some SigningKey) throws {
        sig = try key.sign(unsignedBytes)
    }

    /// Whether the signature verifies under `key` (from the DID document's `#atproto` method).
    public func verifySignature(with key: any VerifyingKey) -> Bool {
        verifySignature { message, signature in key.verify(signature: signature, message: message) }
    }
}

extension SignedCommit {
    /// Creates and signs a v3 commit with `key`.
    public static func create(did: String, data: CID, rev: String, key: some SigningKey) throws -> SignedCommit {
        var commit = Commit(did: did, data: data, rev: rev)
        try commit.sign(with: key)
        return SignedCommit(commit)
    }
}
