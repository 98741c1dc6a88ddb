import ATCrypto
import ATData
@testable import ATRepo
import Foundation
import TestSupport
import Testing

@Suite struct RepoFixtureTests {
    /// greenground.repo.car: a tiny v3 repo. Walk its whole MST with verification, check every
    /// record block, and check the commit signature with the key in its DID document.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func greengroundRepo() throws {
        let car = try Fixtures.bytes("extra/repos/greenground.repo.car")
        let (roots, blocks) = try CARReader.read(car)
        #expect(roots.count == 1)
        let commit = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
        #expect(commit.commit.version == 3)
        // The commit names did:plc:kzcqyc3unb33eh5sxzsfs25z while the bundled DID document is
        // for did:plc:wqgdnqlv2mwiio6pfchwtrff (upstream fixture pairing); the key is what counts.
        #expect(commit.commit.did == "did:plc:kzcqyc3unb33eh5sxzsfs25z")
        #expect(commit.commit.prev != nil)
        let key = try RepoKeys.atprotoKey(didDoc: "extra/repos/greenground.didDoc.json")
        #expect(commit.commit.verifySignature(with: key))
        var records: [(String, CID)] = []
        let verified = try RepoVerifier.verify(car: car, did: "did:plc:kzcqyc3unb33eh5sxzsfs25z", key: key) { path, cid, bytes in
            #expect(CID.dagCBOR(hashing: bytes) == cid)
            _ = try DAGCBOR.decode(bytes)
            records.append((path, cid))
        }
        #expect(verified.cid == roots[0])
        // The CAR holds four blocks: the commit, one MST node and two follow records.
        #expect(records.map(\.0) == ["app.bsky.graph.follow/3k5rgfiifs42u", "app.bsky.graph.follow/3k5vze25v5a26"])
        #expect(blocks.count == 4)
        // A corrupted signature fails.
        var forged = commit.commit
        forged.sig[5] ^= 1
        #expect(!forged.verifySignature(with: key))
        // And the key of another fixture does not verify it.
        let other = try RepoKeys.atprotoKey(didDoc: "extra/repos/fakermaker.didDoc.json")
        #expect(!commit.commit.verifySignature(with: other))
    }

    /// v2 repositories (no rev, prev a link) still decode and walk.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"),
          arguments: ["extra/repos/fakermaker.repo.car", "extra/repos/paul_staging.repo.car",
                      "extra/repos/bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car"])
    func legacyRepositoriesWalk(path: String) throws {
        let (roots, blocks) = try CARReader.read(try Fixtures.bytes(path))
        let commit = try SignedCommit(bytes: try blocks.requireBlock(roots[0]))
        let tree = try MST(root: commit.commit.data, store: blocks, verifiesOnLoad: true)
        var count = 0
        try tree.forEach { _, cid in
            if let bytes = try blocks.block(cid) { #expect(CID.dagCBOR(hashing: bytes) == cid) }
            count += 1
            return true
        }
        #expect(count > 0)
    }

    /// v2 commits verify against their DID documents' keys too (signature over the commit
    /// without `sig`, `prev` included).
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func legacySignature() throws {
        let bytes = try Fixtures.bytes("extra/repos/paul_staging.repo.car")
        let key = try RepoKeys.atprotoKey(didDoc: "extra/repos/paul_staging.didDoc.json")
        var count = 0
        let commit = try RepoVerifier.verify(car: bytes, key: key) { _, _, _ in count += 1 }
        #expect(commit.commit.version == 2)
        #expect(commit.commit.rev == nil)
        #expect(count == 185)
    }

    /// fakermaker's head commit carries a high-S P-256 signature (checked independently: 70 of
    /// its 143 historical commits are high-S). Spec §7 makes low-S mandatory, so it must fail.
    @Test(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
    func highSSignatureIsRejected() throws {
        let bytes = try Fixtures.bytes("extra/repos/fakermaker.repo.car")
        let key = try RepoKeys.atprotoKey(didDoc: "extra/repos/fakermaker.didDoc.json")
        #expect(throws: RepoError.badSignature) { try RepoVerifier.verify(car: bytes, key: key) { _, _, _ in } }
    }

    /// Export in streamable order and re-verify: commit first, then nodes pre-order with records.
    @Test func exportRoundTrip() throws {
        var store = BlockMap()
        var tree = MST()
        var generator = SeededGenerator(seed: 5)
        for (index, path) in Fixtures.randomPaths(count: 300, using: &generator).enumerated() {
            let record = Fixtures.record(index % 250)  // some records shared by two paths
            store.set(record.cid, record.bytes)
            try tree.insert(path, record.cid)
        }
        let (root, nodes) = tree.finalize()
        store.merge(nodes)
        let commit = SignedCommit.create(did: "did:plc:test", data: root, rev: "3kaaaaaaaaaaa") { _ in [UInt8](repeating: 7, count: 64) }
        store.set(commit.cid, commit.bytes)
        var chunks: [[UInt8]] = []
        try RepoExport.stream(commit: commit, store: store, chunkSize: 4096) { chunks.append($0) }
        let car = chunks.flatMap { $0 }
        var reader = try CARReader(bytes: car)
        #expect(reader.roots == [commit.cid])
        #expect(try reader.next()?.cid == commit.cid)
        #expect(try reader.next()?.cid == root)
        var count = 0
        try RepoVerifier.verify(car: car, verifySignature: { _, signature in signature == [UInt8](repeating: 7, count: 64) }) { _, _, _ in count += 1 }
        #expect(count == 300)
        #expect(throws: RepoError.badSignature) {
            try RepoVerifier.verify(car: car, verifySignature: { _, _ in false }) { _, _, _ in }
        }
        #expect(throws: RepoError.self) {
            try RepoVerifier.verify(car: car, did: "did:plc:other", verifySignature: { _, _ in true }) { _, _, _ in }
        }
    }

    @Test func signAndVerifyWithBothCurves() throws {
        let keys: [any SigningKey] = [K256PrivateKey(), try P256PrivateKey()]
        for key in keys {
            let commit = try SignedCommit.create(did: "did:plc:abc", data: MST.emptyRootCID, rev: "3kaaaaaaaaaaa", key: key)
            #expect(commit.commit.sig.count == 64)
            let decoded = try SignedCommit(bytes: commit.bytes)
            #expect(decoded.commit.verifySignature(with: key.publicKey))
            var tampered = decoded.commit
            tampered.rev = "3kaaaaaaaaaab"
            #expect(!tampered.verifySignature(with: key.publicKey))
            let car = CARWriter.encode(roots: [commit.cid], blocks: [(commit.cid, commit.bytes), (MST.emptyRootCID, MST.emptyNodeBytes)])
            var count = 0
            try RepoVerifier.verify(car: car, did: "did:plc:abc", key: key.publicKey) { _, _, _ in count += 1 }
            #expect(count == 0)
        }
    }

    @Test func commitEncodingAndValidation() throws {
        let data = MST.emptyRootCID
        var commit = Commit(did: "did:plc:abc", data: data, rev: "3kaaaaaaaaaaa")
        commit.sign { message in
            #expect(try! DAGCBOR.decode(message) == ["did": "did:plc:abc", "version": 3, "data": .link(data), "rev": "3kaaaaaaaaaaa", "prev": nil])
            return [UInt8](repeating: 9, count: 64)
        }
        let signed = SignedCommit(commit)
        #expect(try DAGCBOR.decode(signed.bytes) == ["did": "did:plc:abc", "version": 3, "data": .link(data),
                                                   "rev": "3kaaaaaaaaaaa", "prev": nil, "sig": .bytes([UInt8](repeating: 9, count: 64))])
        #expect(try SignedCommit(bytes: signed.bytes) == signed)
        let bad: [DataValue] = [
            ["did": "did:plc:abc", "version": 3, "data": .link(data), "rev": "3kaaaaaaaaaaa", "sig": .bytes([1])],  // no prev
            ["did": "did:plc:abc", "version": 3, "data": .link(data), "prev": nil, "sig": .bytes([1])],  // no rev
            ["did": "did:plc:abc", "version": 4, "data": .link(data), "rev": "3kaaaaaaaaaaa", "prev": nil, "sig": .bytes([1])],
            ["did": "did:plc:abc", "version": 3, "data": .link(CID.raw(hashing: [])), "rev": "3kaaaaaaaaaaa", "prev": nil, "sig": .bytes([1])],
            ["did": "did:plc:abc", "version": 3, "data": .link(data), "rev": "nope", "prev": nil, "sig": .bytes([1])],
            ["did": "did:plc:abc", "version": 3, "data": .link(data), "rev": "3kaaaaaaaaaaa", "prev": nil, "sig": .bytes([1]), "x": 1],
            ["did": "did:plc:abc", "version": 3, "data": .link(data), "rev": "3kaaaaaaaaaaa", "prev": nil],  // no sig
        ]
        for value in bad { #expect(throws: RepoError.self) { try Commit(decoding: DAGCBOR.encode(value)) } }
    }
}
