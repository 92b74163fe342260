// Dequantization of GGML block formats (layouts as in ggml-common.h). Plain loops that the
// compiler vectorizes; on x86-64 Linux each is compiled for AVX-512, AVX2 and baseline and the
// loader picks one (target_clones). No contraction: a*b+c stays two roundings, as numpy does.
#include "ckernels.h"
#include "kquant.h"
#include <string.h>

#pragma clang fp contract(off)

#if defined(__x86_64__) && defined(__linux__) && defined(__clang__)
#define CK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CK_CLONES
#endif

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000 | (mant << 13);  // inf / nan
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        // Subnormal half: value = mant × 2^-24, exact in float.
        float f = (float)mant * 5.9604644775390625e-8f;
        uint32_t fb;
        memcpy(&fb, &f, 4);
        bits = sign | fb;
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

float ck_half_to_float(uint16_t h) { return half_to_float(h); }

static inline uint16_t read_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

CK_CLONES void ck_dequant_f16(const uint16_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
}

CK_CLONES void ck_dequant_bf16(const uint16_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}

// block_q8_0: f16 d; int8 qs[32]
CK_CLONES void ck_dequant_q8_0(const uint8_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = src + b * 34;
        float d = half_to_float(read_u16(blk));
        const int8_t *qs = (const int8_t *)(blk + 2);
        float *y = dst + b * 32;
        for (int j = 0; j < 32; j++) y[j] = d * (float)qs[j];
    }
}

// block_q4_0: f16 d; uint8 qs[16] — low nibbles are elements 0..15, high nibbles 16..31, offset 8.
CK_CLONES void ck_dequant_q4_0(const uint8_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = src + b * 18;
        float d = half_to_float(read_u16(blk));
        const uint8_t *qs = blk + 2;
        float *y = dst + b * 32;
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((int)(qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((int)(qs[j] >> 4) - 8) * d;
        }
    }
}

// block_q4_1: f16 d; f16 m; uint8 qs[16] — x = q·d + m.
CK_CLONES void ck_dequant_q4_1(const uint8_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t b = 0; b < n / 32; b++) {
        const uint8_t *blk = src + b * 20;
        float d = half_to_float(read_u16(blk));
        float m = half_to_float(read_u16(blk + 2));
        const uint8_t *qs = blk + 4;
        float *y = dst + b * 32;
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(qs[j] >> 4) * d + m;
        }
    }
}

// block_q4_K: f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128] — 8 sub-blocks of 32.
CK_CLONES void ck_dequant_q4_k(const uint8_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = src + b * 144;
        float d = half_to_float(read_u16(blk));
        float dmin = half_to_float(read_u16(blk + 2));
        const uint8_t *scales = blk + 4;
        const uint8_t *q = blk + 16;
        float *y = dst + b * 256;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) y[j + l] = d1 * (float)(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++) y[j + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
            q += 32;
        }
    }
}

// block_q5_K: f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128].
CK_CLONES void ck_dequant_q5_k(const uint8_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = src + b * 176;
        float d = half_to_float(read_u16(blk));
        float dmin = half_to_float(read_u16(blk + 2));
        const uint8_t *scales = blk + 4;
        const uint8_t *qh = blk + 16;
        const uint8_t *ql = blk + 48;
        float *y = dst + b * 256;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) y[j + l] = d1 * (float)((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) y[j + 32 + l] = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            u1 <<= 2;
            u2 <<= 2;
        }
    }
}

// block_q6_K: uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d.
CK_CLONES void ck_dequant_q6_k(const uint8_t *src, float *dst, ptrdiff_t n) {
    for (ptrdiff_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = src + b * 210;
        const uint8_t *ql = blk;
        const uint8_t *qh = blk + 128;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = half_to_float(read_u16(blk + 208));
        float *y = dst + b * 256;
        for (int half = 0; half < 2; half++) {
            // Output group g (32 values) takes its low 4 bits from ql (bytes 0..31 or 32..63, low or
            // high nibble) and 2 high bits from qh; each 16 values share one int8 scale. Loops with
            // a fixed scale and shift vectorize.
            for (int g = 0; g < 4; g++) {
                const uint8_t *low = ql + (g & 1) * 32;
                int nibbleShift = (g >> 1) * 4;
                int highShift = 2 * g;
                for (int sub = 0; sub < 2; sub++) {
                    float scale = d * (float)sc[2 * g + sub];
                    for (int l = sub * 16; l < sub * 16 + 16; l++) {
                        int q = (int)(((low[l] >> nibbleShift) & 0xf) | (((qh[l] >> highShift) & 3) << 4)) - 32;
                        y[32 * g + l] = scale * (float)q;
                    }
                }
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}
