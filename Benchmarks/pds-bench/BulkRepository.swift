import ATCrypto
import ATData
import ATRepo
import ATSync
import ATSyntax
import Foundation
import PDSAppliance
import PDSStore

/// `pds-bench bulk-repo --data DIR --records N`: fills the empty repository of a stopped `pds dev`
/// data directory with N like records in one signed commit, so the server benchmark can measure a
/// repository of a million records without a million requests. Benchmark-only: the server has no
/// bulk path.
///
/// The tree is built in one pass (`MST(entries:)`), signed with the account's dev signing key and
/// stored through the ordinary `RepositoryStore` commit (blocks with their reference counts, the
/// record index, the root), with a `#sync` event announcing the new state
/// (https://atproto.com/specs/sync), as an import would.
enum BulkRepository {
    static func run(_ arguments: [String]) throws {
        var data: String?
        var total = 1_000_000
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--data": data = rest.popFirst()
            case "--records": total = rest.popFirst().flatMap { Int($0) } ?? -1
            default: throw Problem("unknown option \(flag)")
            }
        }
        guard let data, total > 0 else { throw Problem("usage: pds-bench bulk-repo --data DIR [--records N]") }
        let started = Date()
        let keys = try DevBootstrap.loadKeys(dataDirectory: data)
        let database = try PDSDatabase(directory: data)
        guard let account = try AccountStore(database: database).account() else { throw Problem("no account in \(data): start `pds dev` once first") }
        let store = RepositoryStore(database: database)
        let source = try store.blockSource()
        guard let head = try store.head() else { throw Problem("no repository in \(data)") }
        let previous = try SignedCommit(bytes: try source.requireBlock(head.cid))
        let oldTree = try MST(root: previous.commit.data, store: source, verifiesOnLoad: false)
        guard oldTree.isEmpty else { throw Problem("the repository is not empty: bulk-repo fills a fresh one") }

        // Records: distinct likes under TID keys, as a real account's likes are.
        var blocks = BlockMap()
        var entries: [(String, CID)] = []
        entries.reserveCapacity(total)
        var changes: [RecordChange] = []
        changes.reserveCapacity(total)
        var references: [CID: Int] = [:]
        references.reserveCapacity(total)
        let clock = TIDClock.shared
        let subjectCID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
        for n in 0..<total {
            let rkey = clock.next().string
            let record: DataValue = [
                "$type": "app.bsky.feed.like", "createdAt": "2026-11-22T00:00:00.000Z",
                "subject": ["uri": .string("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/\(n)"), "cid": .string(subjectCID)],
            ]
            let bytes = DAGCBOR.encode(record)
            let cid = CID.dagCBOR(hashing: bytes)
            blocks.set(cid, bytes)
            entries.append(("app.bsky.feed.like/" + rkey, cid))
            changes.append(RecordChange(collection: "app.bsky.feed.like", rkey: rkey, cid: cid, blobs: [], replacesRecord: false))
            references[cid, default: 0] += 1
        }
        var tree = try MST(entries: entries, store: source)
        let (root, nodes) = tree.finalize()
        blocks.merge(nodes)
        let rev = clock.next(after: previous.commit.rev.flatMap { try? TID($0) }).string
        let commit = try SignedCommit.create(did: account.did, data: root, rev: rev, key: keys.signingKey)
        blocks.set(commit.cid, commit.bytes)
        let write = CommitWrite(commit: commit, blocks: blocks, records: changes,
                                events: [.sync(.init(did: account.did, commit: commit, time: AccountStore.timestamp()))],
                                removedBlocks: [previous.cid, previous.commit.data], recordReferences: references)
        print("bulk-repo: \(total) records, \(nodes.count) MST nodes built in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; storing")
        _ = try store.withWriter { writer in try writer.store(write, did: account.did) }
        // Closing checkpoints the WAL the one large transaction left: without it the server's
        // first start would replay hundreds of MB of WAL, which is not what start-up costs.
        try database.close()
        print("bulk-repo: stored in \(String(format: "%.1f", Date().timeIntervalSince(started))) s total; root \(root), commit \(commit.cid)")
    }

    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
