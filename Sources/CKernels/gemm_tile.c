// GEMM micro-kernels over packed panels (see ckernels.h for the layout).
#include "ckernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <string.h>

int ck_best_path(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return CK_PATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CK_PATH_AVX2;
#endif
    return CK_PATH_SCALAR;
}

static void store_tile(const float *t, float *c, ptrdiff_t ldc, int rows, int cols, int accumulate) {
    for (int i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        const float *ti = t + i * CK_NR;
        if (accumulate) {
            for (int j = 0; j < cols; j++) ci[j] += ti[j];
        } else {
            for (int j = 0; j < cols; j++) ci[j] = ti[j];
        }
    }
}

static void tile_scalar(int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int rows, int cols,
                        int accumulate) {
    float t[CK_MR * CK_NR];
    memset(t, 0, sizeof t);
    for (int k = 0; k < kc; k++) {
        const float *ak = a + k * CK_MR;
        const float *bk = b + k * CK_NR;
        for (int i = 0; i < CK_MR; i++) {
            float ai = ak[i];
            for (int j = 0; j < CK_NR; j++) t[i * CK_NR + j] += ai * bk[j];
        }
    }
    store_tile(t, c, ldc, rows, cols, accumulate);
}

#if defined(__x86_64__)
/// One 6 × 16 quarter of the tile: 12 accumulators, 2 B loads and a broadcast fit the 16 ymm
/// registers (a 3 × 32 strip needs 17 and spills). a and b point into the 12 × 32 panels.
__attribute__((target("avx2,fma"))) static inline void quarter_avx2(int kc, const float *a, const float *b, float *c,
                                                                   ptrdiff_t ldc, int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 ai;
#define CK_ROW(r, x0, x1)                                                                                              \
    ai = _mm256_broadcast_ss(a + r);                                                                                   \
    x0 = _mm256_fmadd_ps(ai, b0, x0);                                                                                  \
    x1 = _mm256_fmadd_ps(ai, b1, x1);
        CK_ROW(0, c00, c01) CK_ROW(1, c10, c11) CK_ROW(2, c20, c21) CK_ROW(3, c30, c31) CK_ROW(4, c40, c41)
        CK_ROW(5, c50, c51)
#undef CK_ROW
        a += CK_MR;
        b += CK_NR;
    }
    __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < 6; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < 2; j++) {
            __m256 v = acc[i][j];
            if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(ci + 8 * j));
            _mm256_storeu_ps(ci + 8 * j, v);
        }
    }
}

__attribute__((target("avx2,fma"))) static void tile_avx2(int kc, const float *a, const float *b, float *c,
                                                            ptrdiff_t ldc, int rows, int cols, int accumulate) {
    if (rows == CK_MR && cols == CK_NR) {
        quarter_avx2(kc, a, b, c, ldc, accumulate);
        quarter_avx2(kc, a + 6, b, c + 6 * ldc, ldc, accumulate);
        quarter_avx2(kc, a, b + 16, c + 16, ldc, accumulate);
        quarter_avx2(kc, a + 6, b + 16, c + 6 * ldc + 16, ldc, accumulate);
        return;
    }
    // An edge tile: the quarters that hold live cells, through a buffer.
    float t[CK_MR * CK_NR] __attribute__((aligned(32)));
    for (int i0 = 0; i0 < rows; i0 += 6)
        for (int j0 = 0; j0 < cols; j0 += 16) quarter_avx2(kc, a + i0, b + j0, t + i0 * CK_NR + j0, CK_NR, 0);
    store_tile(t, c, ldc, rows, cols, accumulate);
}

__attribute__((target("avx512f"))) static inline void store_tile_avx512(__m512 acc[CK_MR][2], float *c, ptrdiff_t ldc,
                                                                        int rows, int cols, int accumulate);

__attribute__((target("avx512f,fma"))) static void tile_avx512(int kc, const float *a, const float *b, float *c,
                                                                 ptrdiff_t ldc, int rows, int cols, int accumulate) {
    // 12 rows × 2 zmm = 24 accumulators, 2 B loads, 1 broadcast: 27 of 32 registers.
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 ai;
#define CK_ROW(r, x0, x1)                                                                                              \
    ai = _mm512_set1_ps(a[r]);                                                                                         \
    x0 = _mm512_fmadd_ps(ai, b0, x0);                                                                                  \
    x1 = _mm512_fmadd_ps(ai, b1, x1);
        CK_ROW(0, c00, c01) CK_ROW(1, c10, c11) CK_ROW(2, c20, c21) CK_ROW(3, c30, c31)
        CK_ROW(4, c40, c41) CK_ROW(5, c50, c51) CK_ROW(6, c60, c61) CK_ROW(7, c70, c71)
        CK_ROW(8, c80, c81) CK_ROW(9, c90, c91) CK_ROW(10, ca0, ca1) CK_ROW(11, cb0, cb1)
#undef CK_ROW
        a += CK_MR;
        b += CK_NR;
    }
    __m512 acc[CK_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                            {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
    store_tile_avx512(acc, c, ldc, rows, cols, accumulate);
}

/// Writes a 12 × 32 tile of zmm accumulators to c (through a buffer at the edges).
__attribute__((target("avx512f"))) static inline void store_tile_avx512(__m512 acc[CK_MR][2], float *c, ptrdiff_t ldc,
                                                                        int rows, int cols, int accumulate) {
    if (rows == CK_MR && cols == CK_NR) {
        for (int i = 0; i < CK_MR; i++) {
            float *ci = c + i * ldc;
            if (accumulate) {
                _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc[i][0]));
                _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc[i][1]));
            } else {
                _mm512_storeu_ps(ci, acc[i][0]);
                _mm512_storeu_ps(ci + 16, acc[i][1]);
            }
        }
        return;
    }
    float t[CK_MR * CK_NR] __attribute__((aligned(64)));
    for (int i = 0; i < CK_MR; i++) {
        _mm512_store_ps(t + i * CK_NR, acc[i][0]);
        _mm512_store_ps(t + i * CK_NR + 16, acc[i][1]);
    }
    store_tile(t, c, ldc, rows, cols, accumulate);
}

/// The bf16 pair tile: per step, one pair of k values of 12 rows against 32 columns, each
/// vdpbf16ps adding two products per lane into float32.
__attribute__((target("avx512f,avx512bf16"))) static void tile_bf16_avx512(int pairs, const uint32_t *a,
                                                                         const uint32_t *b, float *c, ptrdiff_t ldc,
                                                                         int rows, int cols, int accumulate) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
    for (int k = 0; k < pairs; k++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
        __m512bh ai;
#define CK_ROW(r, x0, x1)                                                                                              \
    ai = (__m512bh)_mm512_set1_epi32((int)a[r]);                                                                       \
    x0 = _mm512_dpbf16_ps(x0, ai, b0);                                                                                 \
    x1 = _mm512_dpbf16_ps(x1, ai, b1);
        CK_ROW(0, c00, c01) CK_ROW(1, c10, c11) CK_ROW(2, c20, c21) CK_ROW(3, c30, c31)
        CK_ROW(4, c40, c41) CK_ROW(5, c50, c51) CK_ROW(6, c60, c61) CK_ROW(7, c70, c71)
        CK_ROW(8, c80, c81) CK_ROW(9, c90, c91) CK_ROW(10, ca0, ca1) CK_ROW(11, cb0, cb1)
#undef CK_ROW
        a += CK_MR;
        b += CK_NR;
    }
    __m512 acc[CK_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                            {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
    store_tile_avx512(acc, c, ldc, rows, cols, accumulate);
}

__attribute__((target("avx512f,fma"))) static float dot_avx512(const float *a, const float *b, ptrdiff_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, ptrdiff_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(s0, s1));
    float s = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/// 4 × 4 dots: one load of each operand vector feeds four FMAs.
__attribute__((target("avx512f,fma"))) static void dots4x4_avx512(const float *w, ptrdiff_t ldw, const float *x,
                                                                 ptrdiff_t ldx, ptrdiff_t n, float *out,
                                                                 ptrdiff_t ldo) {
    __m512 acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    ptrdiff_t p = 0;
    for (; p + 16 <= n; p += 16) {
        __m512 wv[4];
        for (int j = 0; j < 4; j++) wv[j] = _mm512_loadu_ps(w + j * ldw + p);
        for (int i = 0; i < 4; i++) {
            __m512 xv = _mm512_loadu_ps(x + i * ldx + p);
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            float s = _mm512_reduce_add_ps(acc[i][j]);
            for (ptrdiff_t q = p; q < n; q++) s += x[i * ldx + q] * w[j * ldw + q];
            out[i * ldo + j] = s;
        }
}
#endif

void ck_dots(int path, const float *w, ptrdiff_t ldw, int nw, const float *x, ptrdiff_t ldx, int nx, ptrdiff_t n,
             float *out, ptrdiff_t ldo) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512 && nw == 4 && nx == 4) {
        dots4x4_avx512(w, ldw, x, ldx, n, out, ldo);
        return;
    }
#endif
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < nw; j++) out[i * ldo + j] = ck_dot(path, x + i * ldx, w + j * ldw, n);
}

void ck_gemm_tile(int path, int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int rows, int cols,
                  int accumulate) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { tile_avx512(kc, a, b, c, ldc, rows, cols, accumulate); return; }
    if (path == CK_PATH_AVX2) { tile_avx2(kc, a, b, c, ldc, rows, cols, accumulate); return; }
#endif
    tile_scalar(kc, a, b, c, ldc, rows, cols, accumulate);
}

static inline float bf16_low(uint32_t pair) {
    uint32_t bits = pair << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static inline float bf16_high(uint32_t pair) {
    uint32_t bits = pair & 0xffff0000u;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/// The pair tile in plain C, in vdpbf16ps's order (the odd element's product first).
static void tile_bf16_scalar(int pairs, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc, int rows,
                             int cols, int accumulate) {
    float t[CK_MR * CK_NR];
    memset(t, 0, sizeof t);
    for (int k = 0; k < pairs; k++) {
        const uint32_t *ak = a + k * CK_MR;
        const uint32_t *bk = b + k * CK_NR;
        for (int i = 0; i < CK_MR; i++)
            for (int j = 0; j < CK_NR; j++) {
                float *s = t + i * CK_NR + j;
                *s += bf16_high(ak[i]) * bf16_high(bk[j]);
                *s += bf16_low(ak[i]) * bf16_low(bk[j]);
            }
    }
    store_tile(t, c, ldc, rows, cols, accumulate);
}

void ck_gemm_tile_bf16(int hardware, int pairs, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc,
                       int rows, int cols, int accumulate) {
#if defined(__x86_64__)
    if (hardware) { tile_bf16_avx512(pairs, a, b, c, ldc, rows, cols, accumulate); return; }
#endif
    tile_bf16_scalar(pairs, a, b, c, ldc, rows, cols, accumulate);
}

float ck_dot(int path, const float *a, const float *b, ptrdiff_t n) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) return dot_avx512(a, b, n);
    if (path == CK_PATH_AVX2) return dot_avx2(a, b, n);
#endif
    float s = 0;
    for (ptrdiff_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) static void axpy_avx512(ptrdiff_t n, float alpha, const float *x, float *y) {
    __m512 a = _mm512_set1_ps(alpha);
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(a, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}

__attribute__((target("avx2,fma"))) static void axpy_avx2(ptrdiff_t n, float alpha, const float *x, float *y) {
    __m256 a = _mm256_set1_ps(alpha);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}
#endif

void ck_axpy(int path, ptrdiff_t n, float alpha, const float *x, float *y) {
#if defined(__x86_64__)
    if (path == CK_PATH_AVX512) { axpy_avx512(n, alpha, x, y); return; }
    if (path == CK_PATH_AVX2) { axpy_avx2(n, alpha, x, y); return; }
#endif
    for (ptrdiff_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

#include <math.h>

void ck_attention_row(int path, const float *q, const float *k, const float *v, ptrdiff_t stride, int n, int d,
                      float scale, const uint8_t *mask, float *scores, float *out) {
    float top = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (mask && !mask[j]) {
            scores[j] = -INFINITY;
            continue;
        }
        scores[j] = ck_dot(path, q, k + j * stride, d) * scale;
        if (scores[j] > top) top = scores[j];
    }
    for (int i = 0; i < d; i++) out[i] = 0;
    if (top == -INFINITY) return;
    float sum = 0;
    for (int j = 0; j < n; j++) {
        float e = scores[j] == -INFINITY ? 0.0f : expf(scores[j] - top);
        scores[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) {
        if (scores[j] != 0) ck_axpy(path, d, scores[j] * inv, v + j * stride, out);
    }
}
