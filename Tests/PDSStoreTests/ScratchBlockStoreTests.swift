import ATData
import Foundation
@testable import PDSStore
import Testing

@Suite struct ScratchBlockStoreTests {
    @Test func blocksAddedAreReadBackAndTheFileGoesWithTheStore() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var blocks: [(CID, [UInt8])] = []
        for index in 0..<2_000 {
            let bytes = DAGCBOR.encode(.map(["n": .integer(Int64(index))]))
            blocks.append((CID.dagCBOR(hashing: bytes), bytes))
        }
        do {
            let store = try ScratchBlockStore(directory: directory)
            for (cid, bytes) in blocks { try store.add(cid, bytes) }
            try store.add(blocks[0].0, blocks[0].1)
            #expect(store.count == 2_001)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 1)
            for (cid, bytes) in blocks.shuffled() { #expect(try store.block(cid) == bytes) }
            let absent = CID.dagCBOR(hashing: DAGCBOR.encode(.string("absent")))
            #expect(try store.block(absent) == nil)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "the scratch file outlived its store")
    }

    /// A check that fails while the CAR is still streaming ends the store with its adding
    /// transaction open: the connection must still close (it once could not, its statement
    /// alive, and crashed later in a freed SQLite hook), and the file must go.
    @Test func aStoreEndedMidAddClosesAndGoes() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try ScratchBlockStore(directory: directory)
        for index in 0..<50 {
            let bytes = DAGCBOR.encode(.map(["n": .integer(Int64(index))]))
            try store.add(CID.dagCBOR(hashing: bytes), bytes)
        }
        #expect(store.count == 50)
        try store.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "the scratch file outlived its store")
    }
}
