import ATCrypto
import ATData
import ATRepo
import ATSyntax
import Foundation
import Logging
import PDSCore
import PDSStore

/// `storage` (issue 16): the database against the repository it serves. Through `RepoWriter` on
/// an on-disk database, one commit per write as `createRecord` makes them: N creates, N/10
/// updates, N/10 deletes (N = `PDS_BENCH_RECORDS`, default 100,000). Then the database's size,
/// measured on a checkpointed copy (the server itself never checkpoints beyond PASSIVE), against
/// the `getRepo` CAR, once with the event window full and once after the window has passed
/// (events pruned in batches; the longest batch and the longest commit made beside the prune are
/// printed). Write cost is CPU time per commit (user + system, this process).
enum StorageSuite {
    static func run(_ options: SuiteOptions) throws {
        try waitFor { try await measure() }
    }

    static func measure() async throws {
        let total = Int(ProcessInfo.processInfo.environment["PDS_BENCH_RECORDS"] ?? "") ?? 100_000
        let directory = NSTemporaryDirectory() + "pds-bench-storage-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try PDSDatabase(directory: directory)
        let blobs = try BlobStore(directory: directory + "/blobs")
        let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
        let writer = try RepoWriter(did: did, key: K256PrivateKey(), database: database, blobs: blobs, logger: Logger(label: "bench"))
        try await writer.createRepository(handle: "bench.test")
        let collection = "app.bsky.feed.post"
        var rkeys: [String] = []
        rkeys.reserveCapacity(total)
        func post(_ n: Int, _ text: String) -> DataValue {
            ["$type": "app.bsky.feed.post", "text": .string("\(text) \(n): the quick brown fox jumps over the lazy dog"),
             "createdAt": "2026-11-22T00:00:00.000Z", "langs": ["en"]]
        }

        Report.section("Writes through RepoWriter (one commit each, synchronous=FULL, on \(directory))")
        let clock = TIDClock.shared
        var creates = CPUMeter()
        var lastTenth = CPUMeter()
        for n in 0..<total {
            let rkey = clock.next().string
            rkeys.append(rkey)
            let inTail = n >= total - total / 10
            if inTail { lastTenth.start() }
            creates.start()
            _ = try await writer.apply([.create(collection: collection, rkey: rkey, record: post(n, "post"))])
            creates.stop()
            if inTail { lastTenth.stop() }
        }
        print(creates.line("create", count: total))
        print(lastTenth.line("create (last 10%)", count: total / 10))
        var rng = SplitMix(seed: 16)
        var updates = CPUMeter()
        for n in 0..<(total / 10) {
            let rkey = rkeys[Int(rng.next() % UInt64(rkeys.count))]
            updates.start()
            _ = try await writer.apply([.update(collection: collection, rkey: rkey, record: post(n, "edited"), swap: .any)])
            updates.stop()
        }
        print(updates.line("update", count: total / 10))
        var deletes = CPUMeter()
        for _ in 0..<(total / 10) {
            let index = Int(rng.next() % UInt64(rkeys.count))
            let rkey = rkeys.remove(at: index)
            deletes.start()
            _ = try await writer.apply([.delete(collection: collection, rkey: rkey, swap: .any)])
            deletes.stop()
        }
        print(deletes.line("delete", count: total / 10))
        // Writes only, for callgrind runs (docs/ARCHITECTURE.md, "Blocks").
        if ProcessInfo.processInfo.environment["PDS_BENCH_WRITES_ONLY"] == "1" { return }

        let car = try carSize(writer: writer, database: database)
        Report.section("Size: the event window full (\(total + total / 5 + 4) events)")
        try report(directory: directory, car: car)
        Report.section("The window's floor: what a replay must reproduce (StorageSuite+Floor)")
        printFloor(try await measureFloor(database: database, dump: ProcessInfo.processInfo.environment["PDS_BENCH_DUMP_FRAMES"]), car: car)

        Report.section("Size: after the retention window has passed (every event pruned, in batches)")
        let (prune, alone, beside) = try await pruneBesideWrites(database: database, writer: writer, collection: collection)
        func ms(_ d: Duration) -> String { Report.fixed(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000, 1) }
        print("pruned \(Report.grouped(Double(prune.removed))) events in \(prune.batches) batches; longest batch held the writer "
              + "\(ms(prune.longestBatch)) ms (commit included), longest deleting \(ms(prune.longestDeleting)) ms")
        print(latencyLine("commits without a prune", alone))
        print(latencyLine("commits beside the prune", beside))
        try report(directory: directory, car: try carSize(writer: writer, database: database))
    }

    /// The full `getRepo` CAR's size.
    static func carSize(writer: RepoWriter, database: PDSDatabase) throws -> Int {
        guard let commit = writer.currentCommit else { return 0 }
        var bytes = 0
        try RepositoryStore(database: database).blockSource().withSnapshot { source in
            try RepoExport.stream(commit: commit, store: source, deduplicateRecords: false) { bytes += $0.count }
        }
        return bytes
    }

    /// Copies the database and its WAL, checkpoints the copy (TRUNCATE) and prints its size, the
    /// pages in use, the largest tables, and what `VACUUM INTO` (what `pds compact` does) gives.
    static func report(directory: String, car: Int) throws {
        let copy = directory + "-copy"
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: "\(directory)/pds.sqlite\(suffix)") {
            try FileManager.default.copyItem(atPath: "\(directory)/pds.sqlite\(suffix)", toPath: "\(copy)/pds.sqlite\(suffix)")
        }
        let database = try PDSDatabase(directory: copy)
        _ = try database.checkpointTruncatingOffline()
        let space = try database.space()
        try database.vacuum(into: copy + "/vacuumed.sqlite")
        let inspection = try database.inspect()
        try database.close()
        let file = fileSize(copy + "/pds.sqlite")
        let vacuumed = fileSize(copy + "/vacuumed.sqlite")
        func ratio(_ bytes: Int64) -> String { Report.fixed(Double(bytes) / Double(car), 2) + "×" }
        print("getRepo CAR: \(mb(Int64(car)))   (\(inspection.records) records, \(inspection.blocks) stored blocks, \(inspection.reachableBlocks) reachable)")
        print("pds.sqlite after checkpoint: \(mb(file)) = \(ratio(file)) the CAR;  pages in use \(mb(space.usedBytes)) = \(ratio(space.usedBytes))"
              + "  (\(mb(space.freePages * space.pageSize)) free, reused by later writes)")
        print("VACUUM INTO (pds compact): \(mb(vacuumed)) = \(ratio(vacuumed)) the CAR")
        // Per table and index: pages, and how full they are (payload / pages).
        let largest = space.objects.sorted { $0.value > $1.value }.prefix(8)
        print("largest: " + largest.map { name, bytes in
            let fill = Double(space.payload[name] ?? 0) / Double(max(bytes, 1)) * 100
            return "\(name) \(mb(bytes)) (\(ratio(bytes)), \(Report.fixed(fill, 0))% payload)"
        }.joined(separator: ", "))
    }

    /// Commit latencies (seconds): `n` creates one after another, 5 ms apart, or as many as fit
    /// while `until` is false.
    static func timedCreates(writer: RepoWriter, collection: String, count n: Int? = nil, until done: Flag? = nil) async throws -> [Double] {
        let clock = TIDClock.shared
        var latencies: [Double] = []
        while n.map({ latencies.count < $0 }) ?? !(done?.isSet ?? true) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try await writer.apply([.create(collection: collection, rkey: clock.next().string,
                                                record: ["$type": "app.bsky.feed.post", "text": "beside the prune",
                                                         "createdAt": "2026-11-22T00:00:00.000Z"])])
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            try await Task.sleep(for: .milliseconds(5))
        }
        return latencies
    }

    /// Prunes every event while another task commits creates, timing each commit; and, before,
    /// the same commits without a prune, for comparison (a shared machine's disk is noisy).
    static func pruneBesideWrites(database: PDSDatabase, writer: RepoWriter, collection: String) async throws
        -> (EventLogStore.PruneReport, [Double], [Double]) {
        let alone = try await timedCreates(writer: writer, collection: collection, count: 300)
        let done = Flag()
        let writes = Task.detached { try await timedCreates(writer: writer, collection: collection, until: done) }
        let report = try await EventLogStore(database: database).prune(before: Date().addingTimeInterval(1))
        done.set()
        return (report, alone, try await writes.value)
    }

    /// p50, p99, max and the count over 50 ms, in milliseconds.
    static func latencyLine(_ name: String, _ latencies: [Double]) -> String {
        let sorted = latencies.sorted()
        guard !sorted.isEmpty else { return name + ": none" }
        func ms(_ q: Double) -> String { Report.fixed(sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] * 1000, 1) }
        let over = sorted.filter { $0 > 0.05 }.count
        return "\(name): \(sorted.count) commits, p50 \(ms(0.5)) ms, p99 \(ms(0.99)) ms, max \(Report.fixed(sorted.last! * 1000, 1)) ms, \(over) over 50 ms"
    }

    static func fileSize(_ path: String) -> Int64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
    }

    static func mb(_ bytes: Int64) -> String { Report.fixed(Double(bytes) / 1e6, 1) + " MB" }

    /// Runs async work from the synchronous suite entry point (the main thread waits; the work
    /// runs on the concurrency pool).
    static func waitFor(_ body: @escaping @Sendable () async throws -> Void) throws {
        let box = ErrorBox()
        let semaphore = DispatchSemaphore(value: 0)
        Task.detached {
            do { try await body() } catch { box.error = error }
            semaphore.signal()
        }
        semaphore.wait()
        if let error = box.error { throw error }
    }
}

/// CPU time (user + system) and wall time over the measured stretches.
struct CPUMeter {
    var cpu = 0.0, wall = 0.0
    var cpuStart = 0.0, wallStart: UInt64 = 0

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    mutating func start() {
        cpuStart = Self.cpuSeconds()
        wallStart = DispatchTime.now().uptimeNanoseconds
    }

    mutating func stop() {
        cpu += Self.cpuSeconds() - cpuStart
        wall += Double(DispatchTime.now().uptimeNanoseconds - wallStart) / 1e9
    }

    /// Called once after each phase: never inlined, so a callgrind run can dump its counts there
    /// (`--dump-after='*CPUMeterV4line*'`).
    @inline(never)
    func line(_ name: String, count: Int) -> String {
        Report.pad(name, 20) + "\(Report.grouped(Double(count))) commits: CPU \(Report.fixed(cpu / Double(count) * 1e6, 1)) µs/commit, "
            + "wall \(Report.fixed(wall / Double(count) * 1e6, 1)) µs/commit"
    }
}

/// A small deterministic generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class ErrorBox: @unchecked Sendable {
    // @unchecked: written before the semaphore is signalled, read after.
    var error: (any Error)?
}

final class Flag: @unchecked Sendable {
    // @unchecked: a lock guards the value.
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
