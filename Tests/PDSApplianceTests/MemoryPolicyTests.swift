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

    /// Run in a child process (`fork`: one thread, nothing else allocating). In this test
    /// process other tests' scrypt buffers, freed before the policy was applied, may sit in the
    /// arenas' free lists, and the next buffers are carved from them whatever the policy (in
    /// `pds` it is applied before anything is allocated). So the child keeps its buffers until
    /// that free space is used up: the later ones show where new memory comes from.
    @Test func largeBuffersAreUnmappedWhenFreed() throws {
        let pid = fork()
        if pid == 0 {
            // The child: exit status 0 when the last buffers have their own mappings.
            guard MemoryPolicy.apply() else { _exit(2) }
            // scrypt's size (N = 2^14, r = 8: 16 MiB and a little). Without the policy, glibc
            // raises its mmap threshold once such a mapped buffer is freed, and later ones come
            // from the heap, which keeps them resident after `free`. A chunk glibc mapped for
            // itself has IS_MMAPPED (0x2) in the size word before it, and `free` unmaps it.
            let size = 16 * 1024 * 1024 + 1024
            guard let first = malloc(size) else { _exit(3) }
            free(first)
            var kept: [UnsafeMutableRawPointer] = []
            kept.reserveCapacity(24)
            for _ in 0..<24 {
                guard let buffer = malloc(size) else { _exit(3) }
                kept.append(buffer)
            }
            for buffer in kept.suffix(4) where (buffer - MemoryLayout<UInt>.size).load(as: UInt.self) & 2 == 0 { _exit(1) }
            _exit(0)
        }
        #expect(pid > 0, "fork failed")
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status == 0, "exit status \(status >> 8): 1 = a 16 MiB buffer came from the heap, not a mapping of its own")
    }
}
