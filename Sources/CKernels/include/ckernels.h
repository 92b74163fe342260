// SwiftLoRA's C micro-kernels. Vector code is enabled per function with target attributes and
// chosen at run time from CPUID, so a plain `swift build` (C at -O2, no -march) runs at full
// speed on AVX-512 machines and still runs anywhere else.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Micro-kernel paths.
enum { CK_PATH_SCALAR = 0, CK_PATH_AVX2 = 1, CK_PATH_AVX512 = 2 };

/// The best path this CPU supports.
int ck_best_path(void);

/// Register tile of the packed GEMM: MR rows × NR columns.
enum { CK_MR = 12, CK_NR = 32 };

/// C[MR×NR tile] (+)= Apanel · Bpanel over kc steps.
/// a: packed A, kc × MR (for each k, MR values); b: packed B, kc × NR (for each k, NR values).
/// Only the first `rows` × `cols` of the tile are written to c (row stride ldc).
/// accumulate = 0 overwrites c, 1 adds to it.
void ck_gemm_tile(int path, int kc, const float *a, const float *b, float *c, ptrdiff_t ldc, int rows, int cols,
                  int accumulate);

/// Dot product of n floats.
float ck_dot(int path, const float *a, const float *b, ptrdiff_t n);

/// out[i * ldo + j] = dot(x_i, w_j) over n floats, for nx ≤ 4 rows x_i (stride ldx) and nw ≤ 4
/// rows w_j (stride ldw); a 4 × 4 register block on AVX-512.
void ck_dots(int path, const float *w, ptrdiff_t ldw, int nw, const float *x, ptrdiff_t ldx, int nx, ptrdiff_t n,
             float *out, ptrdiff_t ldo);

/// Dequantizes n elements (a multiple of the block size) of a row in each GGML block format.
void ck_dequant_f16(const uint16_t *src, float *dst, ptrdiff_t n);
void ck_dequant_bf16(const uint16_t *src, float *dst, ptrdiff_t n);
void ck_dequant_q8_0(const uint8_t *src, float *dst, ptrdiff_t n);
void ck_dequant_q4_0(const uint8_t *src, float *dst, ptrdiff_t n);
void ck_dequant_q4_1(const uint8_t *src, float *dst, ptrdiff_t n);
void ck_dequant_q4_k(const uint8_t *src, float *dst, ptrdiff_t n);
void ck_dequant_q5_k(const uint8_t *src, float *dst, ptrdiff_t n);
void ck_dequant_q6_k(const uint8_t *src, float *dst, ptrdiff_t n);

/// Keeps freed memory in the allocator for reuse instead of returning it to the system (glibc:
/// one arena, blocks up to 1 GiB from the heap, no trimming). For processes that allocate the same large
/// buffers every step. Returns 1 where that took effect, 0 elsewhere (glibc before 2.35 gets a
/// 32 MiB threshold, other C libraries nothing).
int ck_keep_freed_memory(void);
/// Bytes the allocator holds in blocks mapped one by one (glibc 2.33 and later), else -1.
long long ck_mapped_bytes(void);

/// IEEE half → float, exact.
float ck_half_to_float(uint16_t h);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// y += alpha · x over n floats.
void ck_axpy(int path, ptrdiff_t n, float alpha, const float *x, float *y);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// Dot products of one quantized row with a float vector, without writing the row out
/// (decode reads every weight once per token), with the vector code of `path` where the CPU has
/// it (AVX-512 or AVX2; Q5_K has one AVX2 kernel for both), else plain C. n is a multiple of 32.
float ck_dot_q4_1(int path, const uint8_t *row, const float *x, ptrdiff_t n);
float ck_dot_q8_0(int path, const uint8_t *row, const float *x, ptrdiff_t n);
float ck_dot_q4_0(int path, const uint8_t *row, const float *x, ptrdiff_t n);
/// K-quants: n is a multiple of 256.
float ck_dot_q4_k(int path, const uint8_t *row, const float *x, ptrdiff_t n);
float ck_dot_q5_k(int path, const uint8_t *row, const float *x, ptrdiff_t n);
float ck_dot_q6_k(int path, const uint8_t *row, const float *x, ptrdiff_t n);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// A task of a parallel loop: called with the caller's context and an index.
typedef void (*ck_task_fn)(void *context, long index);
/// Runs fn(context, i) for i in 0..<count on up to `threads` threads (the caller is one of them).
/// Workers are persistent and spin briefly before sleeping, so a call costs microseconds.
void ck_pool_parallel(int threads, long count, ck_task_fn fn, void *context);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// One query row of one head attending to n keys (decode): out(d) = softmax(scale · q·K) · V,
/// skipping keys whose mask byte is 0 (mask may be NULL). K and V rows are `stride` floats apart.
/// scores is scratch of n floats. A query with no visible key gets zeros.
void ck_attention_row(int path, const float *q, const float *k, const float *v, ptrdiff_t stride, int n, int d,
                      float scale, const uint8_t *mask, float *scores, float *out);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// Packs `rows` rows of `depth` floats (row stride ld) transposed: dst[k * width + r] = alpha · src[r * ld + k]
/// for r < rows, and 0 for rows ≤ r < width. The panel layout of the GEMM (width = CK_MR or CK_NR).
void ck_pack_transposed(const float *src, ptrdiff_t ld, int rows, int width, int depth, float alpha, float *dst);
/// Packs `depth` strips of `cols` contiguous floats (strip stride ld) as one panel:
/// dst[k * width + c] = alpha · src[k * ld + c] for c < cols, and 0 for cols ≤ c < width.
void ck_pack_strips(const float *src, ptrdiff_t ld, int cols, int width, int depth, float alpha, float *dst);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// out[i] = exp(x[i] − shift) (0 below float's normal range, so −inf gives 0); returns the sum of out.
/// out may alias x.
/// The vector paths use a degree-5 polynomial after range reduction (within 2 ulp of expf).
float ck_exp_shifted(int path, const float *x, float shift, float *out, ptrdiff_t n);
/// SwiGLU: out[i] = silu(gate[i]) · up[i]; out may alias gate or up.
void ck_silu_mul(int path, const float *gate, const float *up, float *out, ptrdiff_t n);
/// Its gradients: dgate = dout·up·σ(g)(1 + g(1−σ(g))), dup = dout·g·σ(g).
void ck_silu_mul_backward(int path, const float *dout, const float *gate, const float *up, float *dgate, float *dup,
                          ptrdiff_t n);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// Whether the CPU has AVX-512 BF16 dot products (vdpbf16ps).
int ck_has_bf16_dot(void);
/// Rounds each float to the nearest bfloat16 (ties to even; NaN stays NaN; subnormals kept, as
/// PyTorch rounds), kept as a float.
void ck_round_bf16(float *x, ptrdiff_t n);
/// Turns `panels` consecutive packed panels of layout [depth][width] floats, in place, into bf16
/// pair panels of layout [(depth+1)/2][width] uint32: element (kp, w) holds bf16(row 2kp) in its
/// low half and bf16(row 2kp+1) (0 past depth) in its high half; panel p then starts at
/// p·((depth+1)/2)·width. `path` CK_PATH_AVX512 (the CPU must have it) takes 16 lanes a step; the
/// others a C loop; both give the same bits.
void ck_pack_bf16_pairs(int path, float *block, int panels, int width, int depth);
/// Turns `count` rows of `depth` floats (row r at rows + r·ld), in place, into bf16 pair words at
/// each row's start: word kp = bf16(x[2kp]) | bf16(x[2kp+1]) << 16 (0 past depth), rounded as
/// ck_round_bf16. `path` as for ck_pack_bf16_pairs.
void ck_bf16_pair_rows(int path, float *rows, ptrdiff_t ld, int count, int depth);
/// dst[c] = bf16(even[c]) | bf16(odd[c]) << 16 for c < count (`odd` NULL: 0 in the high halves).
void ck_bf16_pair_strip(int path, const float *even, const float *odd, int count, uint32_t *dst);
/// C[MR×NR tile] (+)= A·B over `pairs` bf16 pair steps of pair panels (see ck_pack_bf16_pairs),
/// accumulating in float32: with vdpbf16ps when `hardware` (the CPU must have it), else in C in
/// the same order (each pair's odd product first). The C model keeps subnormals where vdpbf16ps
/// flushes them to zero (DAZ/FTZ); otherwise the two agree.
void ck_gemm_tile_bf16(int hardware, int pairs, const uint32_t *a, const uint32_t *b, float *c, ptrdiff_t ldc,
                       int rows, int cols, int accumulate);
#ifdef __cplusplus
}
#endif
