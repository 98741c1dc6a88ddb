import Foundation

/// The process's malloc settings, applied once at start (glibc only; elsewhere nothing changes).
///
/// A login runs scrypt, whose 16 MiB work buffer comes from `malloc`. glibc serves an allocation
/// that large with its own `mmap` only until the first one is freed: it then raises its mmap
/// threshold to that size, so every later scrypt buffer is carved from the calling thread's
/// arena and stays resident when freed, one 16 MiB per event-loop or pool thread that ever ran a
/// login (measured: 42 MB at start, 91 MB after three logins on fresh connections). A fixed
/// threshold turns the dynamic adjustment off: allocations of 1 MiB and more are always mapped
/// and unmapped, so their memory goes back to the system when freed. The cost is a few page
/// faults per large allocation, small beside the scrypt itself (docs/ARCHITECTURE.md, "Memory").
public enum MemoryPolicy {
    /// Allocations at least this large get their own mapping.
    public static let mmapThreshold: Int32 = 1 << 20

    /// Applies the settings. Returns false when the C library has no `mallopt` (e.g. musl).
    @discardableResult
    public static func apply() -> Bool {
        // `mallopt` is declared in <malloc.h>, which Swift's Glibc module does not import; it is
        // looked up instead, which also keeps other C libraries working.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let M_MMAP_THRESHOLD: Int32 = -3  // glibc malloc.h
        return mallopt(M_MMAP_THRESHOLD, mmapThreshold) == 1
    }
}
