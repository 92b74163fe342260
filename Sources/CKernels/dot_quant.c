// Fused dequantize-and-dot for the common GGUF formats (decode's matrix-vector products).
// Per block, Σ (d·q + m)·x = d·Σ q·x + m·Σ x: one multiply per element instead of two.
#include "ckernels.h"
#include "kquant.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)
// Half → float with the F16C instruction (every AVX-512 CPU has it; AVX2 callers check for it).
__attribute__((target("f16c"))) static inline float h2f_fast(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8)));
}

// Expands 16 bytes of nibbles to 32 floats: low nibbles are elements 0..15, high 16..31.
__attribute__((target("avx512f,avx512bw"))) static inline void nibbles(const uint8_t *qs, __m512 *lo, __m512 *hi) {
    __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    __m512i wide = _mm512_cvtepu8_epi32(bytes);
    *lo = _mm512_cvtepi32_ps(_mm512_and_si512(wide, _mm512_set1_epi32(0xf)));
    *hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(wide, 4));
}

__attribute__((target("avx512f,avx512bw,fma,f16c"))) static float dot_q4_1_avx512(const uint8_t *row, const float *x, ptrdiff_t n) {
    // Two blocks per iteration into separate accumulators: four independent FMA chains.
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 accm0 = _mm512_setzero_ps(), accm1 = _mm512_setzero_ps();
    ptrdiff_t blocks = n / 32, b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *k0 = row + b * 20, *k1 = k0 + 20;
        const float *x0 = x + b * 32, *x1 = x0 + 32;
        __m512 lo0, hi0, lo1, hi1;
        nibbles(k0 + 4, &lo0, &hi0);
        nibbles(k1 + 4, &lo1, &hi1);
        __m512 a0 = _mm512_loadu_ps(x0), a1 = _mm512_loadu_ps(x0 + 16);
        __m512 c0 = _mm512_loadu_ps(x1), c1 = _mm512_loadu_ps(x1 + 16);
        __m512 qx0 = _mm512_fmadd_ps(hi0, a1, _mm512_mul_ps(lo0, a0));
        __m512 qx1 = _mm512_fmadd_ps(hi1, c1, _mm512_mul_ps(lo1, c0));
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(k0)), qx0, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(k1)), qx1, acc1);
        accm0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(k0 + 2)), _mm512_add_ps(a0, a1), accm0);
        accm1 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(k1 + 2)), _mm512_add_ps(c0, c1), accm1);
    }
    for (; b < blocks; b++) {
        const uint8_t *blk = row + b * 20;
        const float *xb = x + b * 32;
        __m512 lo, hi;
        nibbles(blk + 4, &lo, &hi);
        __m512 a0 = _mm512_loadu_ps(xb), a1 = _mm512_loadu_ps(xb + 16);
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(blk)), _mm512_fmadd_ps(hi, a1, _mm512_mul_ps(lo, a0)), acc0);
        accm0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(blk + 2)), _mm512_add_ps(a0, a1), accm0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(accm0, accm1)));
}

__attribute__((target("avx512f,avx512bw,fma,f16c"))) static float dot_q4_0_avx512(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m512 acc = _mm512_setzero_ps();
    __m512 eight = _mm512_set1_ps(8.0f);
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 18;
        const float *xb = x + b * 32;
        __m512 lo, hi;
        nibbles(blk + 2, &lo, &hi);
        __m512 qx = _mm512_fmadd_ps(_mm512_sub_ps(hi, eight), _mm512_loadu_ps(xb + 16),
                                    _mm512_mul_ps(_mm512_sub_ps(lo, eight), _mm512_loadu_ps(xb)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(blk)), qx, acc);
    }
    return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx512f,avx512bw,fma,f16c"))) static float dot_q8_0_avx512(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    ptrdiff_t blocks = n / 32, b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *k0 = row + b * 34, *k1 = k0 + 34;
        const float *x0 = x + b * 32, *x1 = x0 + 32;
        __m512 p0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(k0 + 2))));
        __m512 p1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(k0 + 18))));
        __m512 r0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(k1 + 2))));
        __m512 r1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(k1 + 18))));
        __m512 qx0 = _mm512_fmadd_ps(p1, _mm512_loadu_ps(x0 + 16), _mm512_mul_ps(p0, _mm512_loadu_ps(x0)));
        __m512 qx1 = _mm512_fmadd_ps(r1, _mm512_loadu_ps(x1 + 16), _mm512_mul_ps(r0, _mm512_loadu_ps(x1)));
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(k0)), qx0, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(k1)), qx1, acc1);
    }
    for (; b < blocks; b++) {
        const uint8_t *blk = row + b * 34;
        const float *xb = x + b * 32;
        __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2))));
        __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18))));
        __m512 qx = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xb + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(xb)));
        acc0 = _mm512_fmadd_ps(_mm512_set1_ps(h2f_fast(blk)), qx, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// Q4_K: 8 sub-blocks of 32, x = d·sc·q − dmin·m; per sub-block Σ = d·sc·Σq·x − dmin·m·Σx.
__attribute__((target("avx512f,avx512bw,fma,f16c"))) static float dot_q4_k_avx512(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m512 acc = _mm512_setzero_ps();
    __m512 accm = _mm512_setzero_ps();
    __m512i mask = _mm512_set1_epi32(0xf);
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + b * 144;
        float d = h2f_fast(blk), dmin = h2f_fast(blk + 2);
        const uint8_t *scales = blk + 4;
        const uint8_t *q = blk + 16;
        const float *xb = x + b * 256;
        for (int c = 0; c < 4; c++) {
            for (int half = 0; half < 2; half++) {
                int j = 2 * c + half;
                uint8_t sc, m;
                scale_min_k4(j, scales, &sc, &m);
                const float *xs = xb + 64 * c + 32 * half;
                __m512i w0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 32 * c)));
                __m512i w1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + 32 * c + 16)));
                if (half) { w0 = _mm512_srli_epi32(w0, 4); w1 = _mm512_srli_epi32(w1, 4); }
                __m512 q0 = _mm512_cvtepi32_ps(_mm512_and_si512(w0, mask));
                __m512 q1 = _mm512_cvtepi32_ps(_mm512_and_si512(w1, mask));
                __m512 x0 = _mm512_loadu_ps(xs), x1 = _mm512_loadu_ps(xs + 16);
                __m512 qx = _mm512_fmadd_ps(q1, x1, _mm512_mul_ps(q0, x0));
                acc = _mm512_fmadd_ps(_mm512_set1_ps(d * sc), qx, acc);
                accm = _mm512_fmadd_ps(_mm512_set1_ps(dmin * m), _mm512_add_ps(x0, x1), accm);
            }
        }
    }
    return _mm512_reduce_add_ps(_mm512_sub_ps(acc, accm));
}

// Q6_K: as ck_dequant_q6_k's loop, multiplied into x instead of stored.
__attribute__((target("avx512f,avx512bw,fma,f16c"))) static float dot_q6_k_avx512(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m512 acc = _mm512_setzero_ps();
    __m512i mask4 = _mm512_set1_epi32(0xf), mask2 = _mm512_set1_epi32(3), bias = _mm512_set1_epi32(32);
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + b * 210;
        const uint8_t *ql = blk, *qh = blk + 128;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f_fast(blk + 208);
        const float *y = x + b * 256;
        for (int half = 0; half < 2; half++) {
            for (int g = 0; g < 4; g++) {
                const uint8_t *low = ql + (g & 1) * 32;
                int nibbleShift = (g >> 1) * 4, highShift = 2 * g;
                for (int sub = 0; sub < 2; sub++) {
                    __m512i lo = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(low + 16 * sub)));
                    __m512i hi = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + 16 * sub)));
                    lo = _mm512_and_si512(_mm512_srl_epi32(lo, _mm_cvtsi32_si128(nibbleShift)), mask4);
                    hi = _mm512_and_si512(_mm512_srl_epi32(hi, _mm_cvtsi32_si128(highShift)), mask2);
                    __m512i q = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), bias);
                    __m512 qx = _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_loadu_ps(y + 32 * g + 16 * sub));
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(d * (float)sc[2 * g + sub]), qx, acc);
                }
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
    return _mm512_reduce_add_ps(acc);
}

// AVX2 versions of the three 32-element formats (decode on CPUs without AVX-512). Decode streams
// every weight once per token; prefetching 640 bytes ahead (1.8 Q4_1 rows of 576 elements, about
// one Q8_0 row) hides memory latency the hardware prefetcher leaves: decode 31 → 40 tokens/s on a
// 2-core Zen 3. A prefetch past the end of the weights is a hint and never faults.
#define CK_PREFETCH_AHEAD 640
__attribute__((target("avx2,fma"))) static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// 16 bytes of nibbles as four groups of 8 floats: elements 0–7, 8–15 (low nibbles), 16–23, 24–31 (high).
__attribute__((target("avx2"))) static inline void nibbles_avx2(const uint8_t *qs, __m256 q[4]) {
    __m256i w0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)qs));
    __m256i w1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8)));
    __m256i mask = _mm256_set1_epi32(0xf);
    q[0] = _mm256_cvtepi32_ps(_mm256_and_si256(w0, mask));
    q[1] = _mm256_cvtepi32_ps(_mm256_and_si256(w1, mask));
    q[2] = _mm256_cvtepi32_ps(_mm256_srli_epi32(w0, 4));
    q[3] = _mm256_cvtepi32_ps(_mm256_srli_epi32(w1, 4));
}

// Σ q·x over one block of 32 (four FMA chains folded at the end).
__attribute__((target("avx2,fma"))) static inline __m256 block_dot_avx2(const __m256 q[4], const float *xb) {
    __m256 s01 = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(xb + 8), _mm256_mul_ps(q[0], _mm256_loadu_ps(xb)));
    __m256 s23 = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(xb + 24), _mm256_mul_ps(q[2], _mm256_loadu_ps(xb + 16)));
    return _mm256_add_ps(s01, s23);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q4_1_avx2(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 20;
        const float *xb = x + b * 32;
        _mm_prefetch((const char *)(blk + CK_PREFETCH_AHEAD), _MM_HINT_T0);
        __m256 q[4];
        nibbles_avx2(blk + 4, q);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk)), block_dot_avx2(q, xb), acc);
        __m256 sx = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8)),
                                  _mm256_add_ps(_mm256_loadu_ps(xb + 16), _mm256_loadu_ps(xb + 24)));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk + 2)), sx, accm);
    }
    return hsum_avx2(_mm256_add_ps(acc, accm));
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q4_0_avx2(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m256 acc = _mm256_setzero_ps();
    __m256 eight = _mm256_set1_ps(8.0f);
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 18;
        _mm_prefetch((const char *)(blk + CK_PREFETCH_AHEAD), _MM_HINT_T0);
        __m256 q[4];
        nibbles_avx2(blk + 2, q);
        for (int i = 0; i < 4; i++) q[i] = _mm256_sub_ps(q[i], eight);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk)), block_dot_avx2(q, x + b * 32), acc);
    }
    return hsum_avx2(acc);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_q8_0_avx2(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m256 acc = _mm256_setzero_ps();
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + b * 34;
        _mm_prefetch((const char *)(blk + CK_PREFETCH_AHEAD), _MM_HINT_T0);
        __m256 q[4];
        for (int i = 0; i < 4; i++)
            q[i] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk + 2 + 8 * i))));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f_fast(blk)), block_dot_avx2(q, x + b * 32), acc);
    }
    return hsum_avx2(acc);
}

// The 6-bit scales and mins of a K-quant block's 8 sub-blocks (Q4_K, Q5_K), times d and dmin.
static inline void k_scales(const uint8_t *blk, float d, float dmin, float dsc[8], float dm[8]) {
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        scale_min_k4(j, blk + 4, &sc, &m);
        dsc[j] = d * sc;
        dm[j] = dmin * m;
    }
}

// K-quant blocks span 3–4 cache lines: each block prefetches the lines of the block ~640 bytes ahead.
static inline void prefetch_block(const uint8_t *blk, int bytes) {
    for (int line = 0; line < bytes; line += 64) _mm_prefetch((const char *)blk + CK_PREFETCH_AHEAD + line, _MM_HINT_T0);
}

// Σ q·x and Σ x over a sub-block of 32 given as four groups of 8 integer weights.
__attribute__((target("avx2,fma"))) static inline void sub_block_avx2(const __m256i w[4], const float *xs, __m256 *qx,
                                                                     __m256 *sx) {
    __m256 x0 = _mm256_loadu_ps(xs), x1 = _mm256_loadu_ps(xs + 8);
    __m256 x2 = _mm256_loadu_ps(xs + 16), x3 = _mm256_loadu_ps(xs + 24);
    __m256 s01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(w[1]), x1, _mm256_mul_ps(_mm256_cvtepi32_ps(w[0]), x0));
    __m256 s23 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(w[3]), x3, _mm256_mul_ps(_mm256_cvtepi32_ps(w[2]), x2));
    *qx = _mm256_add_ps(s01, s23);
    *sx = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
}

// Two sub-blocks of Q4_K or Q5_K (64 values from xs, scales dsc[0..1], mins dm[0..1]) into the
// accumulators: acc[0], acc[1] the scaled Σ q·x, acc[2] the minimum terms (subtracted at the end).
__attribute__((target("avx2,fma"))) static inline void sub_block_pair_avx2(const __m256i lo[4], const __m256i hi[4],
                                                                          const float *xs, const float *dsc,
                                                                          const float *dm, __m256 acc[3]) {
    __m256 qlo, slo, qhi, shi;
    sub_block_avx2(lo, xs, &qlo, &slo);
    sub_block_avx2(hi, xs + 32, &qhi, &shi);
    acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(dsc[0]), qlo, acc[0]);
    acc[1] = _mm256_fmadd_ps(_mm256_set1_ps(dsc[1]), qhi, acc[1]);
    acc[2] = _mm256_fmadd_ps(_mm256_set1_ps(dm[0]), slo, acc[2]);
    acc[2] = _mm256_fmadd_ps(_mm256_set1_ps(dm[1]), shi, acc[2]);
}

// Q4_K on AVX2: per 64 values, 32 bytes whose low nibbles are one sub-block and high nibbles the next.
__attribute__((target("avx2,fma,f16c"))) static float dot_q4_k_avx2(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m256 acc[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256i mask = _mm256_set1_epi32(0xf);
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + b * 144;
        prefetch_block(blk, 144);
        float dsc[8], dm[8];
        k_scales(blk, h2f_fast(blk), h2f_fast(blk + 2), dsc, dm);
        const uint8_t *q = blk + 16;
        const float *xb = x + b * 256;
        for (int c = 0; c < 4; c++) {
            __m256i w[4], lo[4], hi[4];
            for (int i = 0; i < 4; i++) {
                w[i] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + 32 * c + 8 * i)));
                lo[i] = _mm256_and_si256(w[i], mask);
                hi[i] = _mm256_srli_epi32(w[i], 4);
            }
            sub_block_pair_avx2(lo, hi, xb + 64 * c, dsc + 2 * c, dm + 2 * c, acc);
        }
    }
    return hsum_avx2(_mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), acc[2]));
}

// Bit `from` of each byte of `h` moved to bit 4 (the other bits are garbage, masked by the caller).
__attribute__((target("avx2"))) static inline __m128i bit_to_4(__m128i h, int from) {
    return from < 4 ? _mm_sll_epi16(h, _mm_cvtsi32_si128(4 - from)) : _mm_srl_epi16(h, _mm_cvtsi32_si128(from - 4));
}

// 16 bytes as two groups of 8 integers (32-bit).
__attribute__((target("avx2"))) static inline void widen16(__m128i v, __m256i *lo, __m256i *hi) {
    *lo = _mm256_cvtepu8_epi32(v);
    *hi = _mm256_cvtepu8_epi32(_mm_srli_si128(v, 8));
}

// Q5_K on AVX2: Q4_K's nibbles plus a fifth bit from qh (bit 2c for the low sub-block, 2c + 1 for
// the high), put together 16 bytes at a time.
__attribute__((target("avx2,fma,f16c"))) static float dot_q5_k_avx2(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m256 acc[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128i m4 = _mm_set1_epi8(0x0f), m10 = _mm_set1_epi8(0x10);
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + b * 176;
        prefetch_block(blk, 176);
        float dsc[8], dm[8];
        k_scales(blk, h2f_fast(blk), h2f_fast(blk + 2), dsc, dm);
        const uint8_t *qh = blk + 16, *ql = blk + 48;
        const float *xb = x + b * 256;
        __m128i h[2] = {_mm_loadu_si128((const __m128i *)qh), _mm_loadu_si128((const __m128i *)(qh + 16))};
        for (int c = 0; c < 4; c++) {
            __m256i lo[4], hi[4];
            for (int i = 0; i < 2; i++) {
                __m128i l = _mm_loadu_si128((const __m128i *)(ql + 32 * c + 16 * i));
                __m128i low = _mm_or_si128(_mm_and_si128(l, m4), _mm_and_si128(bit_to_4(h[i], 2 * c), m10));
                __m128i high = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l, 4), m4),
                                            _mm_and_si128(bit_to_4(h[i], 2 * c + 1), m10));
                widen16(low, &lo[2 * i], &lo[2 * i + 1]);
                widen16(high, &hi[2 * i], &hi[2 * i + 1]);
            }
            sub_block_pair_avx2(lo, hi, xb + 64 * c, dsc + 2 * c, dm + 2 * c, acc);
        }
    }
    return hsum_avx2(_mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), acc[2]));
}

// Q6_K on AVX2. Each half block (128 values) is four groups of 32: group g takes its low 4 bits from
// ql[0..31] (g = 0, 2) or ql[32..63] (g = 1, 3), low nibble for g < 2, high for g ≥ 2, and 2 high bits
// from qh bits 2g, 2g + 1; 16 values share a scale. The bits are put together 16 bytes at a time,
// then widened to floats.
__attribute__((target("avx2,fma,f16c"))) static float dot_q6_k_avx2(const uint8_t *row, const float *x, ptrdiff_t n) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128i m4 = _mm_set1_epi8(0x0f), m30 = _mm_set1_epi8(0x30), bias = _mm_set1_epi8(32);
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = row + b * 210;
        prefetch_block(blk, 210);
        const uint8_t *ql = blk, *qh = blk + 128;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = h2f_fast(blk + 208);
        const float *y = x + b * 256;
        for (int half = 0; half < 2; half++) {
            for (int sub = 0; sub < 2; sub++) {
                __m128i h = _mm_loadu_si128((const __m128i *)(qh + 16 * sub));
                __m128i l0 = _mm_loadu_si128((const __m128i *)(ql + 16 * sub));
                __m128i l1 = _mm_loadu_si128((const __m128i *)(ql + 32 + 16 * sub));
                __m128i q[4] = {
                    _mm_or_si128(_mm_and_si128(l0, m4), _mm_and_si128(_mm_slli_epi16(h, 4), m30)),
                    _mm_or_si128(_mm_and_si128(l1, m4), _mm_and_si128(_mm_slli_epi16(h, 2), m30)),
                    _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l0, 4), m4), _mm_and_si128(h, m30)),
                    _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l1, 4), m4), _mm_and_si128(_mm_srli_epi16(h, 2), m30)),
                };
                for (int g = 0; g < 4; g++) {
                    __m128i v = _mm_sub_epi8(q[g], bias);
                    __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
                    __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)));
                    const float *xs = y + 32 * g + 16 * sub;
                    __m256 s = _mm256_fmadd_ps(hi, _mm256_loadu_ps(xs + 8), _mm256_mul_ps(lo, _mm256_loadu_ps(xs)));
                    acc[g] = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc[2 * g + sub]), s, acc[g]);
                }
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
    return hsum_avx2(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

/// The fused kernels' vector level on this CPU (AVX-512 needs BW, AVX2 needs F16C), cached.
static int fused_level(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        int fma = __builtin_cpu_supports("fma");
        if (fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) cached = CK_PATH_AVX512;
        else if (fma && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) cached = CK_PATH_AVX2;
        else cached = CK_PATH_SCALAR;
    }
    return cached;
}

/// The level a call runs at: the path asked for, at most what the CPU has.
static int fused_path(int path) {
    int level = fused_level();
    return path < level ? path : level;
}
#endif

// Plain C: each block of `block` values (32 or 256) dequantized, then dotted.
static float dot_generic(void (*dequant)(const uint8_t *, float *, ptrdiff_t), int block, int block_bytes,
                         const uint8_t *row, const float *x, ptrdiff_t n) {
    float tmp[256];
    float s = 0;
    for (ptrdiff_t b = 0; b < n / block; b++) {
        dequant(row + b * block_bytes, tmp, block);
        for (int j = 0; j < block; j++) s += tmp[j] * x[b * block + j];
    }
    return s;
}

float ck_dot_q4_1(int path, const uint8_t *row, const float *x, ptrdiff_t n) {
#if defined(__x86_64__)
    path = fused_path(path);
    if (path == CK_PATH_AVX512) return dot_q4_1_avx512(row, x, n);
    if (path == CK_PATH_AVX2) return dot_q4_1_avx2(row, x, n);
#endif
    return dot_generic(ck_dequant_q4_1, 32, 20, row, x, n);
}

float ck_dot_q4_0(int path, const uint8_t *row, const float *x, ptrdiff_t n) {
#if defined(__x86_64__)
    path = fused_path(path);
    if (path == CK_PATH_AVX512) return dot_q4_0_avx512(row, x, n);
    if (path == CK_PATH_AVX2) return dot_q4_0_avx2(row, x, n);
#endif
    return dot_generic(ck_dequant_q4_0, 32, 18, row, x, n);
}

float ck_dot_q8_0(int path, const uint8_t *row, const float *x, ptrdiff_t n) {
#if defined(__x86_64__)
    path = fused_path(path);
    if (path == CK_PATH_AVX512) return dot_q8_0_avx512(row, x, n);
    if (path == CK_PATH_AVX2) return dot_q8_0_avx2(row, x, n);
#endif
    return dot_generic(ck_dequant_q8_0, 32, 34, row, x, n);
}

float ck_dot_q4_k(int path, const uint8_t *row, const float *x, ptrdiff_t n) {
#if defined(__x86_64__)
    path = fused_path(path);
    if (path == CK_PATH_AVX512) return dot_q4_k_avx512(row, x, n);
    if (path == CK_PATH_AVX2) return dot_q4_k_avx2(row, x, n);
#endif
    return dot_generic(ck_dequant_q4_k, 256, 144, row, x, n);
}

float ck_dot_q6_k(int path, const uint8_t *row, const float *x, ptrdiff_t n) {
#if defined(__x86_64__)
    path = fused_path(path);
    if (path == CK_PATH_AVX512) return dot_q6_k_avx512(row, x, n);
    if (path == CK_PATH_AVX2) return dot_q6_k_avx2(row, x, n);
#endif
    return dot_generic(ck_dequant_q6_k, 256, 210, row, x, n);
}

float ck_dot_q5_k(int path, const uint8_t *row, const float *x, ptrdiff_t n) {
#if defined(__x86_64__)
    // One AVX2 kernel for both vector paths (every AVX-512 CPU has AVX2).
    if (fused_path(path) >= CK_PATH_AVX2) return dot_q5_k_avx2(row, x, n);
#endif
    return dot_generic(ck_dequant_q5_k, 256, 176, row, x, n);
}
