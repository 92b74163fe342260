// Process-wide allocator settings for long runs that allocate the same large buffers again and again.
#include "ckernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ck_keep_freed_memory(void) {
#if defined(__GLIBC__)
    // glibc serves blocks above a (dynamic) threshold with mmap and gives them back on free, so
    // every training step faults in and zero-fills its activations afresh. From the heap, and
    // without trimming, freed blocks are reused. One arena: a thread's own arena would still map
    // blocks larger than its 64 MiB heaps and drop a heap that becomes empty (threads that have
    // allocated already keep theirs, hence "at the start").
    mallopt(M_ARENA_MAX, 1);
    if (mallopt(M_MMAP_THRESHOLD, 1 << 30)) {
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        return 1;
    }
    // glibc before 2.35 accepts at most 32 MiB (and a trim threshold alone would only stop the
    // threshold from adapting).
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20)) mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    return 0;
}

long long ck_mapped_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    return (long long)mallinfo2().hblkhd;
#else
    return -1;
#endif
}
