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

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
/// to_bf16 on 16 lanes.
__attribute__((target("avx512f"))) static inline __m512i to_bf16_avx512(__m512i bits) {
    const __m512i one = _mm512_set1_epi32(1);
    __m512i rounded = _mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff));
    rounded = _mm512_srli_epi32(_mm512_add_epi32(rounded, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one)), 16);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_blend_epi32(nan, rounded, quiet);
}

/// ck_pack_bf16_pairs with explicit 16-lane steps (the C loop below reads and writes one buffer,
/// which the compiler's overlap check sends down its scalar loop). Each step loads both rows of
/// a pair before storing it, which keeps the in-place order of the C loop.
__attribute__((target("avx512f"))) static void pack_bf16_pairs_avx512(float *block, int panels, int width, int depth) {
    const int pairs = (depth + 1) / 2;
    ck_word *words = (ck_word *)block;
    for (int p = 0; p < panels; p++) {
        const ck_word *src = words + (ptrdiff_t)p * depth * width;
        ck_word *dst = words + (ptrdiff_t)p * pairs * width;
        for (int kp = 0; kp < pairs; kp++) {
            const ck_word *even = src + (ptrdiff_t)(2 * kp) * width;
            const int hasOdd = 2 * kp + 1 < depth;
            ck_word *pair = dst + (ptrdiff_t)kp * width;
            for (int w = 0; w < width; w += 16) {
                __mmask16 live = width - w >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (width - w)) - 1);
                __m512i lo = to_bf16_avx512(_mm512_maskz_loadu_epi32(live, even + w));
                __m512i hi = hasOdd ? _mm512_slli_epi32(to_bf16_avx512(_mm512_maskz_loadu_epi32(live, even + width + w)), 16)
                                    : _mm512_setzero_si512();
                _mm512_mask_storeu_epi32(pair + w, live, _mm512_or_si512(lo, hi));
            }
        }
    }
}
#endif

CK_CLONES void ck_pack_bf16_pairs(int path, float *block, int panels, int width, int depth) {
#if defined(__x86_64__) && defined(__clang__)
    if (path == CK_PATH_AVX512) {
        pack_bf16_pairs_avx512(block, panels, width, depth);
        return;
    }
#else
    (void)path;
#endif
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
