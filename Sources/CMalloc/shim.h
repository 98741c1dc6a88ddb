// glibc's malloc statistics for /metrics (no library to link: they are in libc).
#include <stdlib.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
/// Bytes malloc has handed out and not had back (small chunks plus separate mappings), and bytes
/// of free chunks it keeps in its arenas. Returns 0 when the C library has no mallinfo2.
static inline int pds_malloc_counters(size_t *in_use, size_t *kept_free) {
    struct mallinfo2 info = mallinfo2();
    *in_use = info.uordblks + info.hblkhd;
    *kept_free = info.fordblks;
    return 1;
}
#else
static inline int pds_malloc_counters(size_t *in_use, size_t *kept_free) {
    *in_use = 0;
    *kept_free = 0;
    return 0;
}
#endif
