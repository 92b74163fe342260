// Exponentials for softmax, cross-entropy and SwiGLU, eight at a time on AVX2.
#include "ckernels.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)
/// e^x: x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in two for an exact product), e^r by a degree-5
/// polynomial (Cephes' expf coefficients), 2^n put into the exponent bits. Below −87.33 (e^x not a
/// normal float) the result is 0; above 88.72 it is +inf.
__attribute__((target("avx2,fma"))) static inline __m256 exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
    __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 overflow = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // n is in [-126, 128]: build 2^n in two halves so n = 128 does not overflow the exponent field.
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i half = _mm256_srai_epi32(ni, 1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    y = _mm256_andnot_ps(underflow, y);
    return _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), overflow);
}

__attribute__((target("avx2,fma"))) static float exp_shifted_avx2(const float *x, float shift, float *out,
                                                                 ptrdiff_t n) {
    __m256 s = _mm256_set1_ps(shift), acc = _mm256_setzero_ps();
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
        _mm256_storeu_ps(out + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; i < n; i++) {
        out[i] = expf(x[i] - shift);
        sum += out[i];
    }
    return sum;
}

__attribute__((target("avx2,fma"))) static void silu_mul_avx2(const float *gate, const float *up, float *out,
                                                             ptrdiff_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 sigma = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, sigma), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

__attribute__((target("avx2,fma"))) static void silu_mul_backward_avx2(const float *dout, const float *gate,
                                                                      const float *up, float *dgate, float *dup,
                                                                      ptrdiff_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dout + i);
        __m256 sigma = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(d, g), sigma));
        __m256 slope = _mm256_fmadd_ps(g, _mm256_sub_ps(one, sigma), one);
        _mm256_storeu_ps(dgate + i,
                         _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), sigma), slope));
    }
    for (; i < n; i++) {
        float g = gate[i], sigma = 1.0f / (1.0f + expf(-g));
        dup[i] = dout[i] * g * sigma;
        dgate[i] = dout[i] * up[i] * sigma * (1.0f + g * (1.0f - sigma));
    }
}
#endif

float ck_exp_shifted(int path, const float *x, float shift, float *out, ptrdiff_t n) {
#if defined(__x86_64__)
    if (path >= CK_PATH_AVX2) return exp_shifted_avx2(x, shift, out, n);
#endif
    float sum = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        out[i] = expf(x[i] - shift);
        sum += out[i];
    }
    return sum;
}

void ck_silu_mul(int path, const float *gate, const float *up, float *out, ptrdiff_t n) {
#if defined(__x86_64__)
    if (path >= CK_PATH_AVX2) {
        silu_mul_avx2(gate, up, out, n);
        return;
    }
#endif
    for (ptrdiff_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void ck_silu_mul_backward(int path, const float *dout, const float *gate, const float *up, float *dgate, float *dup,
                          ptrdiff_t n) {
#if defined(__x86_64__)
    if (path >= CK_PATH_AVX2) {
        silu_mul_backward_avx2(dout, gate, up, dgate, dup, n);
        return;
    }
#endif
    for (ptrdiff_t i = 0; i < n; i++) {
        float g = gate[i], sigma = 1.0f / (1.0f + expf(-g));
        dup[i] = dout[i] * g * sigma;
        dgate[i] = dout[i] * up[i] * sigma * (1.0f + g * (1.0f - sigma));
    }
}
