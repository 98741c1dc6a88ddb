import ATData
import ATRepo
import ATSync
import Foundation
import PDSStore

/// What the event window must be able to replay (issue 16, "measure the floor"): every stored
/// `#commit` frame is read back and split into its CAR slice and the rest, and the slices' blocks
/// are counted once each by CID and against the live repository (a block still live is stored
/// anyway). Whatever the storage layout, a replay of the window must produce these frames byte
/// for byte, so the distinct blocks no longer live plus the frames' other fields are a floor for
/// any design that keeps the bytes it replays (one that regenerates MST nodes by re-running the
/// commits from an older tree could go lower, at the cost of replaying the MST on every cursor).
extension StorageSuite {
    struct WindowFloor {
        var frames = 0
        var frameBytes = 0
        var sliceBytes = 0
        /// Block contents in the slices, every occurrence.
        var blockBytes = 0
        /// Block contents in the slices, each CID once.
        var distinctBlockBytes = 0
        /// Of those, blocks no longer in `repo_block` (a layout without slices would keep these).
        var retiredBlockBytes = 0
        var retiredBlocks = 0
        /// Blocks in the slices, every occurrence (a frame stored without its slice must name
        /// each of them to rebuild it: 36 bytes per CID).
        var blockOccurrences = 0
    }

    static func measureFloor(database: PDSDatabase, dump: String?) async throws -> WindowFloor {
        let log = EventLogStore(database: database)
        let store = RepositoryStore(database: database)
        let live = try store.storedBlockCIDs()
        var floor = WindowFloor()
        var seen = Set<CID>()
        var out: FileHandle?
        if let dump {
            FileManager.default.createFile(atPath: dump, contents: nil)
            out = FileHandle(forWritingAtPath: dump)
        }
        defer { try? out?.close() }
        var after: Int64 = 0
        while true {
            let page = try await log.events(after: after, limit: 1000, maxBytes: 8 << 20)
            guard let last = page.last else { break }
            after = last.seq
            for stored in page {
                guard case .commit(let event) = try RepoEvent.decode(stored.frame).event else { continue }
                floor.frames += 1
                floor.frameBytes += stored.frame.count
                floor.sliceBytes += event.blocks.count
                let (_, blocks) = try CARReader.read(event.blocks)
                for (cid, bytes) in blocks {
                    floor.blockBytes += bytes.count
                    floor.blockOccurrences += 1
                    guard seen.insert(cid).inserted else { continue }
                    floor.distinctBlockBytes += bytes.count
                    if !live.contains(cid) {
                        floor.retiredBlockBytes += bytes.count
                        floor.retiredBlocks += 1
                    }
                }
                // Length-prefixed frames (PDS_BENCH_DUMP_FRAMES), to try compressors on outside Swift.
                if let out {
                    var length = UInt32(stored.frame.count).bigEndian
                    out.write(Data(bytes: &length, count: 4))
                    out.write(Data(stored.frame))
                }
            }
        }
        return floor
    }

    static func printFloor(_ floor: WindowFloor, car: Int) {
        func part(_ bytes: Int) -> String { mb(Int64(bytes)) + " (" + Report.fixed(Double(bytes) / Double(car), 2) + "×)" }
        let rest = floor.frameBytes - floor.sliceBytes
        print("#commit frames: \(Report.grouped(Double(floor.frames))), \(part(floor.frameBytes)); CAR slices \(part(floor.sliceBytes)), "
              + "other fields \(part(rest))")
        print("slice blocks: \(part(floor.blockBytes)) in all, \(part(floor.distinctBlockBytes)) distinct, "
              + "\(part(floor.retiredBlockBytes)) of them no longer live (\(Report.grouped(Double(floor.retiredBlocks))) blocks)")
        // Frames kept without their slices: the other fields, the CIDs naming each slice's blocks,
        // and the blocks no longer live, once each.
        let floorBytes = rest + 36 * floor.blockOccurrences + floor.retiredBlockBytes
        print("floor for the window (frames without slices, naming their blocks, + retired blocks once): "
              + "\(part(floorBytes)) on top of the live repository")
    }
}
