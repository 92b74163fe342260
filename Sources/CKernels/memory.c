// Process-wide allocator settings for long runs that allocate the same large buffers again and again.
#include "ckernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ck_keep_freed_memory(void) {
#if defined(__GLIBC__)
    // glibc serves blocks above a (dynamic) threshold with mmap and gives them back on free, so
    // every training step faults in and zero-fills its activations afresh. From the heap (up to
    // 1 GiB; a thread's own arena still maps blocks over its 64 MiB heaps), and without trimming,
    // freed blocks are reused.
    int ok = mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ok &= mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return ok;
#else
    return 0;
#endif
}
