import ATCrypto
import ATData
import ATRepo
import ATSyntax
import Synchronization

/// `pds-bench repo`: the repository costs of a PDS — building a 100,000-record MST, one commit on
/// it (the repo writer's hot path minus SQLite), and full-repository CAR export, import parsing
/// and verification.
///
/// Everything is generated from fixed seeds, so each run measures the same repository.
enum RepoSuite {
    /// Records in the benchmark repository: a heavy but real-world account size.
    static let recordCount = 100_000
    /// The aim for `recordCount` inserts plus `finalize()` in a release build.
    static let insertGoalSeconds = 2.0
    static let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    static let collection = "app.bsky.feed.post"

    static func run(_ options: SuiteOptions) throws {
        let rounds = options.rounds
        let fixture = Fixture(count: recordCount)
        print("")
        print("Repository: \(Report.grouped(Double(recordCount))) \(collection) records, "
            + "mean \(Report.fixed(Double(fixture.recordBytes) / Double(recordCount), 0)) B DAG-CBOR "
            + "(\(Report.fixed(Double(fixture.recordBytes) / 1e6, 1)) MB), rkeys from a TIDClock on a simulated "
            + "\(Report.fixed(fixture.spanDays / 365.25, 1))-year posting history")

        let tree = try measureTreeBuilds(fixture, rounds: rounds)
        let key = K256PrivateKey()
        try measureCommits(fixture, tree: tree, key: key, harness: options.harness)
        try measureCAR(fixture, tree: tree, key: key, rounds: rounds)
    }

    // MARK: MST builds

    /// Wall and CPU seconds of one whole build, split where the work splits.
    private struct BuildTiming {
        var build = 0.0, finalize = 0.0, cpu = 0.0
        var total: Double { build + finalize }
    }

    /// Builds the 100k-key tree `rounds` times each by inserting in TID order, by inserting in
    /// random order, and with the batch `MST(entries:)`; prints best and median and returns the
    /// finalized tree (all three must agree on the root, or the figures mean nothing).
    private static func measureTreeBuilds(_ fixture: Fixture, rounds: Int) throws -> (tree: MST, nodes: BlockMap) {
        let ordered = Array(zip(fixture.paths, fixture.cids))
        var generator = SeededGenerator(seed: 0x5EED_0002)
        let shuffled = ordered.shuffled(using: &generator)

        var roots: [String: CID] = [:]
        func insertAll(_ entries: [(String, CID)], label: String) throws -> BuildTiming {
            let clock = ContinuousClock()
            var tree = MST()
            let cpuStart = threadCPUSeconds()
            let start = clock.now
            for (path, cid) in entries { try tree.insert(path, cid) }
            let inserted = clock.now
            let (root, blocks) = tree.finalize()
            let end = clock.now
            let cpu = threadCPUSeconds() - cpuStart
            // Keep the tree and blocks alive past the clock read: freeing 100k nodes is not part
            // of the build, and ARC may otherwise release them right after their last use.
            withExtendedLifetime((tree, blocks)) {}
            roots[label] = root
            return BuildTiming(build: (inserted - start).seconds, finalize: (end - inserted).seconds, cpu: cpu)
        }

        var result: (tree: MST, nodes: BlockMap)?
        func batchBuild() throws -> BuildTiming {
            let clock = ContinuousClock()
            let cpuStart = threadCPUSeconds()
            let start = clock.now
            var tree = try MST(entries: shuffled)
            let built = clock.now
            let (root, blocks) = tree.finalize()
            let end = clock.now
            let cpu = threadCPUSeconds() - cpuStart
            roots["batch"] = root
            // The last batch-built tree is what the commit and CAR benchmarks use; assigning it
            // after the clock reads keeps the previous one's release out of the timing too.
            result = (tree, blocks)
            return BuildTiming(build: (built - start).seconds, finalize: (end - built).seconds, cpu: cpu)
        }

        let count = Double(fixture.paths.count)
        print("")
        print("== MST build: \(Report.grouped(count)) keys → record CIDs, \(rounds) runs each (wall clock; "
            + "build = inserts or batch construction, then finalize() hashes every node)")
        print(Report.pad("operation", Report.labelWidth) + Report.leftPad("best s", 9) + Report.leftPad("median s", 10)
            + Report.leftPad("best µs/key", 13) + Report.leftPad("median µs/key", 15)
            + Report.leftPad("finalize s", 12) + Report.leftPad("CPU s", 8))
        var bestSeconds: [String: Double] = [:]
        func report(_ label: String, _ timings: [BuildTiming]) {
            let sorted = timings.sorted { $0.total < $1.total }
            let best = sorted[0], median = sorted[sorted.count / 2]
            bestSeconds[label] = best.total
            print(Report.pad(label, Report.labelWidth)
                + Report.leftPad(Report.fixed(best.total, 3), 9) + Report.leftPad(Report.fixed(median.total, 3), 10)
                + Report.leftPad(Report.fixed(best.total / count * 1e6, 2), 13)
                + Report.leftPad(Report.fixed(median.total / count * 1e6, 2), 15)
                + Report.leftPad(Report.fixed(median.finalize, 3), 12) + Report.leftPad(Report.fixed(best.cpu, 3), 8))
        }
        let tidLabel = "insert, keys in TID order"
        let randomLabel = "insert, same keys in random order"
        report(tidLabel, try (0..<rounds).map { _ in try insertAll(ordered, label: "tid") })
        report(randomLabel, try (0..<rounds).map { _ in try insertAll(shuffled, label: "random") })
        report("MST(entries:), shuffled input", try (0..<rounds).map { _ in try batchBuild() })

        guard Set(roots.values).count == 1, let built = result else {
            throw ReferenceError("the three builds disagree on the root CID: \(roots)")
        }
        print("root \(built.tree.rootCID), \(Report.grouped(Double(built.nodes.count))) node blocks "
            + "(\(Report.fixed(Double(built.nodes.byteCount) / 1e6, 1)) MB); all builds agree")
        for (label, name) in [(tidLabel, "TID order"), (randomLabel, "random order")] {
            let best = bestSeconds[label]!
            print("goal: \(Report.grouped(count)) inserts + finalize under \(Report.fixed(insertGoalSeconds, 0)) s — "
                + "\(name): best \(Report.fixed(best, 2)) s, " + (best < insertGoalSeconds ? "goal met" : "GOAL MISSED"))
        }
        return built
    }

    // MARK: Commits

    /// One create on the 100k-record tree, as the repo writer does it: insert, finalize, sign the
    /// commit (K-256), diff against the previous tree, and build the firehose CAR slice.
    private static func measureCommits(_ fixture: Fixture, tree built: (tree: MST, nodes: BlockMap),
                                       key: K256PrivateKey, harness: Harness) throws {
        let base = built.tree
        // The same tree as the server holds it between writes: only the root decoded, the rest
        // read (and decoded) from the block store on the path each insert touches.
        let stored = try MST(root: base.rootCID, store: built.nodes, verifiesOnLoad: false)
        // New posts continue the simulated history, so their keys land at the right edge of the
        // tree like real new posts do.
        let wallClock = fixture.wallClock
        let tids = TIDClock(clockID: 7, now: { wallClock.advance() })
        var generator = SeededGenerator(seed: 0x5EED_0003)
        let record = DAGCBOR.encode(SampleData.feedPost(
            createdAt: fixture.wallClock.advance(), replyTo: nil, using: &generator))
        var newRecords = BlockMap()
        let recordCID = newRecords.add(dagCBOR: record)

        func commit(on base: MST) throws -> Int {
            var next = base
            try next.insert(collection + "/" + tids.next().string, recordCID)
            let root = next.finalize().root
            let signed = try SignedCommit.create(did: did, data: root, rev: tids.next().string, key: key)
            let diff = try RepoDiff(from: base, to: next)
            return try diff.sliceCAR(commit: signed, records: newRecords).count
        }

        // One commit done step by step, to check the figures measure what they claim to and to
        // have inputs for the per-step rows.
        var next = base
        try next.insert(collection + "/" + tids.next().string, recordCID)
        let root = next.finalize().root
        let signed = try SignedCommit.create(did: did, data: root, rev: tids.next().string, key: key)
        guard signed.commit.verifySignature(with: key.publicKey) else { throw ReferenceError("commit signature does not verify") }
        let diff = try RepoDiff(from: base, to: next)
        guard diff.ops.count == 1, diff.ops[0].action == .create, diff.previousRoot == base.rootCID else {
            throw ReferenceError("unexpected diff for one create: \(diff.ops)")
        }
        let slice = try diff.sliceCAR(commit: signed, records: newRecords)
        guard try commit(on: stored) > 0 else { throw ReferenceError("empty CAR slice") }

        Report.section("Commit on the \(Report.grouped(Double(recordCount)))-record tree: one create → "
            + "\(diff.newNodes.count) new nodes, \(diff.proofNodes.count) proof nodes, \(slice.count) B CAR slice")
        try harness.measure("commit, tree in memory") { blackHole(try commit(on: base)) }
        try harness.measure("commit, tree read from block store") { blackHole(try commit(on: stored)) }
        try harness.measure("  step: insert + finalize") {
            var next = base
            try next.insert(collection + "/" + tids.next().string, recordCID)
            blackHole(next.finalize())
        }
        try harness.measure("  step: SignedCommit.create (K-256)") {
            blackHole(try SignedCommit.create(did: did, data: root, rev: tids.next().string, key: key))
        }
        try harness.measure("  step: RepoDiff(from:to:)") { blackHole(try RepoDiff(from: base, to: next)) }
        try harness.measure("  step: sliceCAR", bytes: slice.count) {
            blackHole(try diff.sliceCAR(commit: signed, records: newRecords))
        }
    }

    // MARK: CAR

    /// Full-repository export into a sink that only counts bytes, then reading and verifying
    /// the same CAR as an import would.
    private static func measureCAR(_ fixture: Fixture, tree built: (tree: MST, nodes: BlockMap),
                                   key: K256PrivateKey, rounds: Int) throws {
        let tree = built.tree
        let wallClock = fixture.wallClock
        let tids = TIDClock(clockID: 8, now: { wallClock.advance() })
        let commit = try SignedCommit.create(did: did, data: tree.rootCID, rev: tids.next().string, key: key)
        // The server's view: commit and nodes in one store, records in another, read as one.
        var top = built.nodes
        top.set(commit.cid, commit.bytes)
        let store = LayeredBlockSource(top: top, base: fixture.records)

        var car: [UInt8] = []
        try RepoExport.stream(commit: commit, store: store) { car += $0 }
        var written: [UInt8] = []
        var writer = CARWriter(roots: [commit.cid]) { written += $0 }
        try RepoExport.write(commit: commit, tree: tree, records: fixture.records, to: &writer)
        try writer.finish()
        guard written == car else { throw ReferenceError("RepoExport.write and RepoExport.stream disagree") }
        let expectedBlocks = 1 + built.nodes.count + fixture.records.count
        var reader = try CARReader(bytes: car)
        var blockCount = 0
        while try reader.next() != nil { blockCount += 1 }
        guard blockCount == expectedBlocks else {
            throw ReferenceError("CAR has \(blockCount) blocks, expected \(expectedBlocks)")
        }

        let megabytes = Double(car.count) / 1e6
        print("")
        print("== Repository CAR: \(Report.grouped(Double(blockCount))) blocks (commit, "
            + "\(Report.grouped(Double(built.nodes.count))) nodes, \(Report.grouped(Double(fixture.records.count))) records), "
            + "\(Report.fixed(megabytes, 2)) MB; \(rounds) runs each, MB/s over the CAR's size")
        print(Report.pad("operation", Report.labelWidth) + Report.leftPad("best s", 9) + Report.leftPad("median s", 10)
            + Report.leftPad("best MB/s", 11) + Report.leftPad("median MB/s", 13) + Report.leftPad("CPU MB/s", 10))
        /// Runs `body` `rounds` times and prints best and median, in seconds and MB/s; CPU MB/s
        /// is for the run with the least CPU time (what the work costs without neighbours).
        func measure(_ label: String, _ body: () throws -> Void) rethrows {
            let clock = ContinuousClock()
            var walls: [Double] = [], cpus: [Double] = []
            for _ in 0..<rounds {
                let cpuStart = threadCPUSeconds()
                let start = clock.now
                try body()
                walls.append((clock.now - start).seconds)
                cpus.append(threadCPUSeconds() - cpuStart)
            }
            walls.sort()
            let best = walls[0], median = walls[walls.count / 2]
            print(Report.pad(label, Report.labelWidth)
                + Report.leftPad(Report.fixed(best, 3), 9) + Report.leftPad(Report.fixed(median, 3), 10)
                + Report.leftPad(Report.fixed(megabytes / best, 1), 11) + Report.leftPad(Report.fixed(megabytes / median, 1), 13)
                + Report.leftPad(Report.fixed(megabytes / cpus.min()!, 1), 10))
        }
        try measure("RepoExport.write, tree in memory") {
            var total = 0
            var writer = CARWriter(roots: [commit.cid]) { total += $0.count }
            try RepoExport.write(commit: commit, tree: tree, records: fixture.records, to: &writer)
            try writer.finish()
            blackHole(total)
        }
        try measure("RepoExport.stream, all from block store") {
            var total = 0
            try RepoExport.stream(commit: commit, store: store) { total += $0.count }
            blackHole(total)
        }
        try measure("CARReader, whole CAR (blocks hashed)") {
            var reader = try CARReader(bytes: car)
            while let block = try reader.next() { blackHole(block) }
        }
        let chunk = 64 * 1024
        try measure("CARReader, 64 KiB chunks (as received)") {
            var offset = 0
            var reader = try CARReader {
                guard offset < car.count else { return nil }
                defer { offset += chunk }
                return Array(car[offset..<min(offset + chunk, car.count)])
            }
            while let block = try reader.next() { blackHole(block) }
        }
        // The import path: CARReader.read into a BlockMap, then signature, every node verified
        // on load and every record re-hashed.
        try measure("RepoVerifier.verify, whole repo") {
            var visited = 0
            try RepoVerifier.verify(car: car, did: did, key: key.publicKey) { _, _, _ in visited += 1 }
            guard visited == recordCount else { throw ReferenceError("RepoVerifier visited \(visited) records") }
        }
    }
}

/// The benchmark repository's content: paths, records and their CIDs, in creation order.
private struct Fixture {
    /// `app.bsky.feed.post/<TID>`, oldest first (so also in key order).
    var paths: [String] = []
    /// The record CID for each path.
    var cids: [CID] = []
    /// Every record block.
    var records = BlockMap()
    /// Sum of the record sizes.
    var recordBytes = 0
    /// Days between the first and the last post.
    var spanDays = 0.0
    /// The simulated wall clock the rkeys came from; later TIDs continue from where it stopped.
    let wallClock = SimulatedWallClock(startMicros: 1_640_995_200_000_000)  // 2022-01-01T00:00:00Z

    /// `count` posts written over a few simulated years, their rkeys from a TIDClock as the
    /// server would make them.
    init(count: Int) {
        let clock = wallClock
        let tids = TIDClock(clockID: 5, now: { clock.advance() })
        var generator = SeededGenerator(seed: 0x5EED_0001)
        var parent: (uri: String, cid: CID)?
        var first: UInt64?
        paths.reserveCapacity(count)
        cids.reserveCapacity(count)
        for _ in 0..<count {
            let tid = tids.next()
            first = first ?? tid.timestamp
            let record = DAGCBOR.encode(SampleData.feedPost(createdAt: tid.timestamp, replyTo: parent, using: &generator))
            let path = RepoSuite.collection + "/" + tid.string
            let cid = records.add(dagCBOR: record)
            paths.append(path)
            cids.append(cid)
            recordBytes += record.count
            parent = ("at://\(RepoSuite.did)/\(path)", cid)
            spanDays = Double(tid.timestamp - first!) / 86_400e6
        }
    }
}

/// A wall clock for TIDClock that moves by realistic gaps between posts: mostly seconds to
/// minutes (bursts, threads), sometimes hours. Deterministic, so the keys are the same each run.
private final class SimulatedWallClock: Sendable {
    private let state: Mutex<(micros: UInt64, generator: SeededGenerator)>

    init(startMicros: UInt64) {
        state = Mutex((startMicros, SeededGenerator(seed: 0x5EED_0000)))
    }

    /// Moves the clock on by one gap and returns the new time in microseconds.
    func advance() -> UInt64 {
        state.withLock { state in
            let long = UInt64.random(in: 0..<10, using: &state.generator) == 0
            let gap = long
                ? UInt64.random(in: 300_000_000...21_600_000_000, using: &state.generator)  // 5 min – 6 h
                : UInt64.random(in: 2_000_000...300_000_000, using: &state.generator)  // 2 s – 5 min
            state.micros += gap
            return state.micros
        }
    }
}
