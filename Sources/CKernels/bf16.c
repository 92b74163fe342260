// bfloat16 compute for the GEMM: operands rounded to bf16, products accumulated in float32.
#include "ckernels.h"
#include <string.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define CK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CK_CLONES
#endif

int ck_has_bf16_dot(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

/// 32-bit words that may alias the floats they are read from and written over (the panels are
/// float buffers; through a plain uint32_t pointer that would break strict aliasing, e.g. under LTO).
typedef uint32_t ck_word __attribute__((may_alias));

/// The bf16 bits of a float's bits, rounded to nearest even; NaN stays a quiet NaN, subnormals
/// are kept (as PyTorch rounds; vcvtneps2bf16 would flush them). Branch-free (a select), so loops
/// over it vectorize.
static inline uint32_t to_bf16(uint32_t bits) {
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    uint32_t quiet = (bits >> 16) | 0x40u;
    return (bits & 0x7fffffffu) > 0x7f800000u ? quiet : rounded;
}

CK_CLONES void ck_round_bf16(float *x, ptrdiff_t n) {
    ck_word *u = (ck_word *)x;
    for (ptrdiff_t i = 0; i < n; i++) u[i] = to_bf16(u[i]) << 16;
}

CK_CLONES void ck_pack_bf16_pairs(float *block, int panels, int width, int depth) {
    const int pairs = (depth + 1) / 2;
    ck_word *out = (ck_word *)block;
    const ck_word *in = (const ck_word *)block;
    // In place, panel by panel and pair by pair: pair kp of panel p is written at or before the
    // rows 2kp and 2kp+1 it reads, and each lane is read before it is overwritten.
    for (int p = 0; p < panels; p++) {
        const ck_word *src = in + (ptrdiff_t)p * depth * width;
        ck_word *dst = out + (ptrdiff_t)p * pairs * width;
        for (int kp = 0; kp < pairs; kp++) {
            const ck_word *even = src + (ptrdiff_t)(2 * kp) * width;
            ck_word *pair = dst + (ptrdiff_t)kp * width;
            if (2 * kp + 1 < depth) {
                const ck_word *odd = even + width;
                for (int w = 0; w < width; w++) pair[w] = to_bf16(even[w]) | to_bf16(odd[w]) << 16;
            } else {
                for (int w = 0; w < width; w++) pair[w] = to_bf16(even[w]);
            }
        }
    }
}
