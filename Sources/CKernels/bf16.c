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

#if defined(__x86_64__) && defined(__clang__)
/// Pair words of 32 consecutive floats (16 words), rounded as to_bf16.
__attribute__((target("avx512f"))) static inline __m512i pair_words_avx512(__m512i a, __m512i b) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512i ra = to_bf16_avx512(a), rb = to_bf16_avx512(b);
    __m512i lo = _mm512_permutex2var_epi32(ra, evens, rb);
    __m512i hi = _mm512_permutex2var_epi32(ra, odds, rb);
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

__attribute__((target("avx512f"))) static void pair_rows_avx512(float *rows, ptrdiff_t ld, int count, int depth) {
    const int pairs = (depth + 1) / 2;
    for (int r = 0; r < count; r++) {
        ck_word *x = (ck_word *)(rows + r * ld);
        for (int kp = 0; kp < pairs; kp += 16) {
            // Floats 2kp ..< 2kp+32 (zeros past depth) become words kp ..< kp+16: both halves are
            // loaded before the store, which lands at or before them.
            int left = depth - 2 * kp;
            __mmask16 ma = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 mb = left >= 32 ? (__mmask16)0xffff : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            __m512i a = _mm512_maskz_loadu_epi32(ma, x + 2 * kp);
            __m512i b = _mm512_maskz_loadu_epi32(mb, x + 2 * kp + 16);
            int words = pairs - kp >= 16 ? 16 : pairs - kp;
            _mm512_mask_storeu_epi32(x + kp, (__mmask16)((1u << words) - 1), pair_words_avx512(a, b));
        }
    }
}

__attribute__((target("avx512f"))) static void pair_strip_avx512(const float *even, const float *odd, int count,
                                                                  uint32_t *dst) {
    for (int c = 0; c < count; c += 16) {
        __mmask16 live = count - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (count - c)) - 1);
        __m512i lo = to_bf16_avx512(_mm512_maskz_loadu_epi32(live, (const ck_word *)even + c));
        __m512i hi = odd ? _mm512_slli_epi32(to_bf16_avx512(_mm512_maskz_loadu_epi32(live, (const ck_word *)odd + c)), 16)
                         : _mm512_setzero_si512();
        _mm512_mask_storeu_epi32(dst + c, live, _mm512_or_si512(lo, hi));
    }
}
#endif

void ck_bf16_pair_rows(int path, float *rows, ptrdiff_t ld, int count, int depth) {
#if defined(__x86_64__) && defined(__clang__)
    if (path == CK_PATH_AVX512) {
        pair_rows_avx512(rows, ld, count, depth);
        return;
    }
#else
    (void)path;
#endif
    const int pairs = (depth + 1) / 2;
    for (int r = 0; r < count; r++) {
        ck_word *x = (ck_word *)(rows + r * ld);
        // Word kp is written after the floats 2kp and 2kp+1 it reads, never past them.
        for (int kp = 0; kp < pairs; kp++) {
            uint32_t lo = to_bf16(x[2 * kp]);
            uint32_t hi = 2 * kp + 1 < depth ? to_bf16(x[2 * kp + 1]) : 0;
            x[kp] = lo | hi << 16;
        }
    }
}

void ck_bf16_pair_strip(int path, const float *even, const float *odd, int count, uint32_t *dst) {
#if defined(__x86_64__) && defined(__clang__)
    if (path == CK_PATH_AVX512) {
        pair_strip_avx512(even, odd, count, dst);
        return;
    }
#else
    (void)path;
#endif
    const ck_word *e = (const ck_word *)even, *o = (const ck_word *)odd;
    for (int c = 0; c < count; c++) dst[c] = to_bf16(e[c]) | (o ? to_bf16(o[c]) << 16 : 0);
}
