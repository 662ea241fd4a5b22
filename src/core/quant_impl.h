/* quant_impl.h — private to src/core/quant*.c: the layout of the quantized
 * activations (slm_quant_activations) and the per-ISA row kernels that read it.
 *
 * The activations are ours, not ggml's, so they are laid out for the
 * kernels: integers in the order the unpacked weight bytes come out of a
 * vector register, with per-lane corrections and scales precomputed, and one
 * record per 128 (Q4_0/Q8_0) or 256 (k-quant) inputs. Every record size is a
 * multiple of 64, so records keep the buffer's cache-line alignment. All three
 * ISAs (scalar, AVX2, AVX-512) read the same layout.
 *
 * Q4_0 record (4 weight blocks of 32, 192 bytes):
 *   int8  q[128]    q[16k + j] = element j of block k, q[64 + 16k + j] = element 16 + j
 *                   (the low nibbles of the 4 blocks, then the high nibbles)
 *   int32 corr[4]   corr[k] = -8 * (sum of block k's q): the nibbles are stored as
 *                   n = w + 8, so sum n x - 8 sum x = sum w x
 *   float dx[4]     the blocks' scales; then 32 bytes of zeros
 *   (compact like Q8_0's: with a per-lane record of 256 bytes, corr and dx repeated for
 *   each int32 lane of the AVX-512 kernel, Phi-1.5 Q4_0 decode ran ~10% slower)
 * Q8_0 record (4 blocks, 192 bytes):
 *   int8  q[128]    natural order
 *   int32 corr[4]   corr[k] = -128 * (sum of block k's q): weights enter as w + 128 (unsigned)
 *   float dx[4]     the blocks' scales; then 32 bytes of zeros
 *   (compact, unlike Q4_0's per-lane record: at n_in = 8192 a per-lane one no longer
 *   fits in L1 beside the weight stream, and the Q8_0 kernel ran at half speed)
 * Q4_K / Q6_K record (one 256-weight super-block, 320 bytes):
 *   int8  q[256]    Q6_K: natural order. Q4_K: each 128 as the 32-element
 *                   sub-blocks 0, 2, 1, 3 (low nibbles of 64 weight bytes, then high)
 *   int16 bsum[16]  Q6_K: sum of q over elements 16k..16k+15. Q4_K: bsum[s] = sum
 *                   over sub-block s (elements 32s..32s+31), s < 8; bsum[8..15] = 0
 *   float dx        the scale; then 28 bytes of zeros
 * Padding blocks past n_in (a Q4_0/Q8_0 record not filled) have q, corr, dx = 0.
 *
 * In every layout x[i] ~= dx * q[i] with q = round(x / dx), |q| <= 127,
 * dx = amax / 127 over the 32 (Q4_0, Q8_0) or 256 (k-quants) inputs. */
#ifndef SLM_CORE_QUANT_IMPL_H
#define SLM_CORE_QUANT_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/quant.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define QUANT_X86 1
#else
#define QUANT_X86 0
#endif

#define QK 32    /* Q4_0 / Q8_0 block */
#define QK_K 256 /* k-quant super-block */

enum {
    Q4_0_BYTES = 2 + QK / 2,                          /* f16 d, 16 bytes of nibbles */
    Q8_0_BYTES = 2 + QK,                              /* f16 d, int8 q[32] */
    Q4_K_BYTES = 2 + 2 + 12 + QK_K / 2,               /* f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes */
    Q6_K_BYTES = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, /* ql, qh, int8 scales[16], f16 d */

    ACT_GROUP_BLOCKS = 4, /* Q4_0 / Q8_0 blocks per activation record */
    ACT_Q4_0_RECORD = 192,
    ACT_Q4_0_CORR = 128,
    ACT_Q4_0_DX = 144,
    ACT_Q8_0_RECORD = 192,
    ACT_Q8_0_CORR = 128,
    ACT_Q8_0_DX = 144,
    ACT_K_RECORD = 320,
    ACT_K_BSUM = 256,
    ACT_K_DX = 288,
};

/* Rows [r0, r1) of W (row r at W + r * row_bytes, n_in weights) dotted with each of
 * n_act activation rows (row t at act + t * act_stride), into y[t * y_stride + r].
 * 1 <= n_act <= SLM_QUANT_MULTI_MAX: each unpacked weight block is reused n_act times. */
typedef struct {
    const uint8_t *W;
    size_t row_bytes;
    int n_in, r0, r1;
    const uint8_t *act;
    float *y;
    size_t act_stride, y_stride;
    int n_act;
} quant_rows_job;

/* Each returns 0, or -1 for a type it does not know. The caller has checked the shape.
 * For every t, y[t * y_stride + r] is bit for bit what n_act = 1 gives for row t alone. */
int quant_rows_scalar(slm_quant_type type, const quant_rows_job *job);
#if QUANT_X86
int quant_rows_avx2(slm_quant_type type, const quant_rows_job *job);
int quant_rows_avx512(slm_quant_type type, const quant_rows_job *job);
#endif

/* q (n, a multiple of 16) = x quantized to 8 bits: round(x / d) half away from zero,
 * d = amax / 127 returned (NaN inputs count as 0, q of a NaN is 0). Every ISA gives
 * the same bytes as the scalar one (test_quant checks it). */
typedef float (*quant_block_fn)(const float *x, int8_t *q, int n);
float quant_block_8bit_scalar(const float *x, int8_t *q, int n);
#if QUANT_X86
float quant_block_8bit_avx2(const float *x, int8_t *q, int n);
float quant_block_8bit_avx512(const float *x, int8_t *q, int n);
#endif

/* Unaligned little helpers: blocks are 18, 34, 144 or 210 bytes, rows mapped from a
 * file need not be aligned, so every multi-byte field is read through memcpy. */
static inline uint16_t quant_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint32_t quant_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline float quant_load_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The 6-bit scales and mins of a Q4_K block's 8 sub-blocks from its 12 packed bytes,
 * as ggml's get_scale_min_k4 reads them: bytes 0-3 hold scales 0-3 in their low 6
 * bits and bytes 4-7 mins 0-3; bytes 8-11 hold the low 4 bits of scales 4-7 (low
 * nibble) and of mins 4-7 (high nibble), whose top 2 bits are the top 2 bits of
 * bytes 0-3 (scales) and 4-7 (mins). out: sc[0..7] then m[0..7]. */
static inline void quant_q4_K_scales(const uint8_t *p, uint8_t out[16]) {
    for (int j = 0; j < 4; j++) {
        out[j] = p[j] & 63;
        out[8 + j] = p[j + 4] & 63;
        out[4 + j] = (uint8_t)((p[j + 8] & 0x0F) | (p[j] >> 6) << 4);
        out[12 + j] = (uint8_t)((p[j + 8] >> 4) | (p[j + 4] >> 6) << 4);
    }
}

#if QUANT_X86
/* The same four at a time in 32-bit words (x86 is little-endian), for the vector kernels. */
static inline void quant_q4_K_scales_x86(const uint8_t *p, uint8_t out[16]) {
    uint32_t a = quant_load_u32(p), b = quant_load_u32(p + 4), c = quant_load_u32(p + 8);
    uint32_t words[4] = {
        a & 0x3f3f3f3fu,
        (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4,
        b & 0x3f3f3f3fu,
        ((c >> 4) & 0x0f0f0f0fu) | ((b >> 6) & 0x03030303u) << 4,
    };
    memcpy(out, words, 16);
}
#endif

/* Where sub-block s (32 elements) of a Q4_K super-block sits in its activation record. */
static inline int quant_q4_K_act_offset(int s) {
    static const int slot[4] = {0, 2, 1, 3};
    return 128 * (s / 4) + 32 * slot[s % 4];
}

#endif
