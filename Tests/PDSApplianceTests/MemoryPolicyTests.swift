import Foundation
import PDSAppliance
import Testing

/// The malloc policy `pds` applies at start: a large buffer, freed, goes back to the system every
/// time, not only the first time (glibc's dynamic mmap threshold would keep the later ones in an
/// arena: the memory scrypt left behind after logins).
@Suite struct MemoryPolicyTests {
    /// Whether any mapping of this process contains `address` (/proc/self/maps).
    static func isMapped(_ address: UInt) throws -> Bool {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        for line in maps.split(separator: "\n") {
            let range = line.split(separator: " ")[0].split(separator: "-")
            guard range.count == 2, let low = UInt(range[0], radix: 16), let high = UInt(range[1], radix: 16) else { continue }
            if low <= address && address < high { return true }
        }
        return false
    }

    @Test func largeBuffersAreUnmappedWhenFreed() throws {
        #expect(MemoryPolicy.apply())
        // scrypt's size (N = 2^14, r = 8: 16 MiB and a little), several times over: without the
        // policy, glibc raises its mmap threshold after the first such buffer is freed and the
        // later ones come from an arena that stays mapped. A chunk glibc mapped for itself has
        // IS_MMAPPED (0x2) in the size word before it, and `free` unmaps it. (Checking the
        // address after `free` instead races with other tests' threads, which may be given the
        // same address range at once.)
        for _ in 0..<4 {
            let size = 16 * 1024 * 1024 + 1024
            guard let buffer = malloc(size) else { Issue.record("malloc failed"); return }
            memset(buffer, 0x5a, size)
            #expect(try Self.isMapped(UInt(bitPattern: buffer)))
            let sizeWord = (buffer - MemoryLayout<UInt>.size).load(as: UInt.self)
            #expect(sizeWord & 2 != 0, "a 16 MiB buffer came from an arena, not a mapping of its own")
            free(buffer)
        }
    }
}
