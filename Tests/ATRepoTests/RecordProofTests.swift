import ATCrypto
import ATData
@testable import ATRepo
import Testing

/// `RecordProof`: a `sync.getRecord` CAR checked link by link (commit signature and DID, the MST
/// path, the record block), with the server's own proof builder (`MST.proofNodes`) making them.
@Suite struct RecordProofTests {
    static let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    static let path = "com.atproto.lexicon.schema/com.example.feed.authBasics"

    struct Repository {
        let key: K256PrivateKey
        var blocks = BlockMap()
        let tree: MST
        let commit: SignedCommit
        let record: (cid: CID, bytes: [UInt8])

        init(did: String = RecordProofTests.did) throws {
            record = { let bytes = DAGCBOR.encode(["$type": "com.atproto.lexicon.schema", "id": "com.example.feed.authBasics"]); return (CID.dagCBOR(hashing: bytes), bytes) }()
            var entries = [(RecordProofTests.path, record.cid)]
            for index in 0..<300 {
                let bytes = DAGCBOR.encode(["n": .integer(Int64(index))])
                blocks.set(CID.dagCBOR(hashing: bytes), bytes)
                entries.append(("com.example.other/\(String(100_000 + index * 7919))", CID.dagCBOR(hashing: bytes)))
            }
            var tree = try MST(entries: entries)
            let (root, nodes) = tree.finalize()
            blocks.merge(nodes)
            self.tree = tree
            let key = K256PrivateKey()
            self.key = key
            commit = SignedCommit.create(did: did, data: root, rev: "3l2cw3tbgs22k") { key.sign($0) }
        }

        /// A getRecord answer for `path` as the server builds it, with `edit` applied to its blocks.
        func car(for path: String = RecordProofTests.path, roots: [CID]? = nil, edit: (inout BlockMap) -> Void = { _ in }) throws -> [UInt8] {
            var proof = try tree.proofNodes(for: [path])
            proof.set(commit.cid, commit.bytes)
            if let cid = try tree.get(path) { proof.set(cid, cid == record.cid ? record.bytes : try blocks.requireBlock(cid)) }
            edit(&proof)
            return CARWriter.encode(roots: roots ?? [commit.cid], blocks: proof)
        }
    }

    @Test func provesPresenceAndAbsence() throws {
        let repository = try Repository()
        let proven = try #require(try RecordProof.verify(car: try repository.car(), did: Self.did, path: Self.path, key: repository.key.publicKey))
        #expect(proven.cid == repository.record.cid && proven.bytes == repository.record.bytes)
        #expect(proven.commit.cid == repository.commit.cid)
        let absent = "com.atproto.lexicon.schema/com.example.feed.authOther"
        #expect(try RecordProof.verify(car: try repository.car(for: absent), did: Self.did, path: absent, key: repository.key.publicKey) == nil)
    }

    @Test func refusesEveryBrokenLink() throws {
        let repository = try Repository()
        let key = repository.key.publicKey
        // Signed by someone else's key.
        #expect(throws: RepoError.badSignature) {
            try RecordProof.verify(car: try repository.car(), did: Self.did, path: Self.path, key: K256PrivateKey().publicKey)
        }
        // A commit of another repository.
        #expect(throws: RepoError.self) {
            try RecordProof.verify(car: try repository.car(), did: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", path: Self.path, key: key)
        }
        // The record's block left out; an MST node on the path left out.
        #expect(throws: RepoError.missingBlock(repository.record.cid)) {
            try RecordProof.verify(car: try repository.car { $0[repository.record.cid] = nil }, did: Self.did, path: Self.path, key: key)
        }
        #expect(throws: RepoError.missingBlock(repository.commit.commit.data)) {
            try RecordProof.verify(car: try repository.car { $0[repository.commit.commit.data] = nil }, did: Self.did, path: Self.path, key: key)
        }
        // Another record's bytes under the record's CID.
        #expect(throws: RepoError.self) {
            try RecordProof.verify(car: try repository.car { $0.set(repository.record.cid, DAGCBOR.encode(["id": "forged"])) },
                                   did: Self.did, path: Self.path, key: key)
        }
        // No root, or two.
        #expect(throws: RepoError.self) {
            try RecordProof.verify(car: try repository.car(roots: [repository.commit.cid, repository.record.cid]), did: Self.did, path: Self.path, key: key)
        }
        // The root is not the commit.
        #expect(throws: RepoError.self) {
            try RecordProof.verify(car: try repository.car(roots: [repository.record.cid]), did: Self.did, path: Self.path, key: key)
        }
    }
}
