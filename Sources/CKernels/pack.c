// Panel packing for the GEMM: rows of a row-major matrix become the columns of a panel.
#include "ckernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

void ck_pack_transposed(const float *src, ptrdiff_t ld, int rows, int width, int depth, float alpha, float *dst) {
    int r0 = 0;
#if defined(__x86_64__)
    // Four rows × four columns at a time with SSE (baseline on x86-64): 4 loads, a 4 × 4 transpose, 4 stores.
    for (; r0 + 4 <= rows; r0 += 4) {
        const float *s0 = src + r0 * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
        __m128 scale = _mm_set1_ps(alpha);
        int k = 0;
        for (; k + 4 <= depth; k += 4) {
            __m128 a = _mm_loadu_ps(s0 + k), b = _mm_loadu_ps(s1 + k), c = _mm_loadu_ps(s2 + k), d = _mm_loadu_ps(s3 + k);
            _MM_TRANSPOSE4_PS(a, b, c, d);
            if (alpha != 1.0f) {
                a = _mm_mul_ps(a, scale);
                b = _mm_mul_ps(b, scale);
                c = _mm_mul_ps(c, scale);
                d = _mm_mul_ps(d, scale);
            }
            float *o = dst + k * width + r0;
            _mm_storeu_ps(o, a);
            _mm_storeu_ps(o + width, b);
            _mm_storeu_ps(o + 2 * width, c);
            _mm_storeu_ps(o + 3 * width, d);
        }
        for (; k < depth; k++) {
            float *o = dst + k * width + r0;
            o[0] = alpha * s0[k];
            o[1] = alpha * s1[k];
            o[2] = alpha * s2[k];
            o[3] = alpha * s3[k];
        }
    }
#endif
    for (int r = r0; r < rows; r++) {
        const float *s = src + r * ld;
        for (int k = 0; k < depth; k++) dst[k * width + r] = alpha * s[k];
    }
    if (rows < width)
        for (int k = 0; k < depth; k++) memset(dst + k * width + rows, 0, (size_t)(width - rows) * sizeof(float));
}

void ck_pack_strips(const float *src, ptrdiff_t ld, int cols, int width, int depth, float alpha, float *dst) {
    for (int k = 0; k < depth; k++) {
        const float *s = src + k * ld;
        float *d = dst + k * width;
        if (alpha == 1.0f) {
            memcpy(d, s, (size_t)cols * sizeof(float));
        } else {
            for (int c = 0; c < cols; c++) d[c] = alpha * s[c];
        }
        if (cols < width) memset(d + cols, 0, (size_t)(width - cols) * sizeof(float));
    }
}
