/* quant_avx512.c — the row kernels with AVX-512 (F, BW, VL, VNNI, VBMI) and GFNI:
 * 64 weights per 512-bit register, integer dot products by VNNI (dpbusd for
 * u8 x s8 -> int32, dpwssd to weight int16 pair sums by the k-quants' scales),
 * one f32 FMA per 4 blocks (Q4_0/Q8_0) or per super-block (k-quants), against
 * the activation records of quant_impl.h (arranged so that the weight bytes,
 * once unpacked, line up with them).
 *
 * One row at a time, so the weights are read as one sequential stream, helped by
 * software prefetches 4 KiB ahead: decode is memory-bound, and interleaving 4 rows
 * (sharing the activation loads) halved the speed from DRAM here (the hardware
 * prefetcher follows one stream far better than four), while it gained only ~10%
 * with the weights in cache.
 *
 * For a prompt, a row is dotted with up to SLM_QUANT_MULTI_MAX activation rows
 * at once (job->n_act): each block is unpacked once into registers and then
 * dotted with every activation row, the same operations per row in the same
 * order, so each result is bit for bit the single-row one. The row functions
 * take n_act as an argument that is a constant where they are inlined, and the
 * loops over it carry `#pragma GCC unroll` (at -O2 GCC would not unroll them
 * fully, and the accumulator arrays then lived on the stack: prompts ran ~30%
 * slower), so the accumulators stay in registers.
 *
 * Q4_0/Q8_0 blocks (18/34 bytes) are gathered 4 at a time out of two or three
 * unaligned loads with a byte permute (vpermt2b); a row's last partial group
 * uses masked loads, which do not touch memory past the row. dpbusd needs its
 * weight operand unsigned: Q4_0 nibbles are w + 8 and Q8_0 bytes are taken as
 * w + 128 (xor 0x80); the activation record's corr (-8 or -128 times the sums
 * of x) starts each accumulator, so the sums come out exact. */
#include "core/quant_impl.h"

#if QUANT_X86
#include <immintrin.h>

#define ISA "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,gfni"
#define TARGET __attribute__((target(ISA)))
#define INLINE static inline __attribute__((always_inline, target(ISA)))

/* vpermt2b indices (0..63 from the first source, 64..127 from the second). Q4_0: the
 * sources are a group's bytes 0..63 and 8..71; qs of block k is bytes 18k+2..18k+17,
 * and d of block k is bytes 18k, 18k+1. */
static const uint8_t q4_0_qs_index[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,  15,  16,  17,  20,  21,  22,  23,  24, 25,
    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 38, 39, 40,  41,  42,  43,  44,  45,  46,  47,  48, 49,
    50, 51, 52, 53, 56, 57, 58, 59, 60, 61, 62, 63, 120, 121, 122, 123, 124, 125, 126, 127,
};
static const uint8_t q4_0_d_index[64] = {0, 1, 18, 19, 36, 37, 54, 55}; /* the 4 d; the rest unused */
/* Q8_0: qs of blocks 0-1 from bytes 0..127 (sources at 0 and 64), of blocks 2-3 from
 * bytes 64..135 (sources at 64 and 72); the four d. */
static const uint8_t q8_0_qs01_index[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67,
};
static const uint8_t q8_0_qs23_index[64] = {
    6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18,  19,  20,  21,  22,  23,  24,  25,  26, 27,
    28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 40, 41, 42,  43,  44,  45,  46,  47,  48,  49,  50, 51,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 120, 121, 122, 123, 124, 125, 126, 127,
};
static const uint8_t q8_0_d_index[64] = {0, 1, 34, 35, 68, 69, 102, 103}; /* the 4 d; the rest unused */

INLINE __m512i load512(const void *p) { return _mm512_loadu_si512(p); }
INLINE __m512i load_first(const uint8_t *p, int n) { /* bytes p[0..n) (n <= 64), zeros after */
    __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    return _mm512_maskz_loadu_epi8(m, p);
}
INLINE float f16_at(const uint8_t *p) { return _cvtsh_ss(quant_load_u16(p)); }

/* int16 lanes: 8 copies of v0 in the lowest 128 bits, then v1, v2, v3. */
INLINE __m512i lanes16(int v0, int v1, int v2, int v3) {
    long long r[4] = {v0, v1, v2, v3};
    for (int i = 0; i < 4; i++) r[i] *= 0x0001000100010001LL;
    return _mm512_set_epi64(r[3], r[3], r[2], r[2], r[1], r[1], r[0], r[0]);
}

/* Weights are read from a memory-mapped file one row after another. From mapped
 * file pages the hardware prefetchers alone kept a Q4_0 row stream at ~20 GB/s on
 * Zen 4; fetching 4 KiB ahead in software reached 23-24 (quant_bench, mapped). */
enum { PREFETCH_AHEAD = 4096 };

/* The lines of [p, p + bytes) + PREFETCH_AHEAD. Prefetches never fault, so going
 * past the end of the matrix is harmless. */
INLINE void prefetch_ahead(const uint8_t *p, int bytes) {
    for (int i = 0; i < bytes; i += 64) _mm_prefetch((const char *)p + PREFETCH_AHEAD + i, _MM_HINT_T0);
}

/* ---- activations ------------------------------------------------------------ */

/* As quant_block_8bit_scalar, 16 inputs a register: max(|x|, amax) keeps amax where x
 * is NaN, as the scalar compare does; rounding is truncation plus a step where the
 * fraction is at least one half, which is roundf's half away from zero. */
TARGET float quant_block_8bit_avx512(const float *x, int8_t *q, int n) {
    __m512 amax = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) amax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), amax);
    const float d = _mm512_reduce_max_ps(amax) / 127.0f, inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 scale = _mm512_set1_ps(inv_d), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 lim = _mm512_set1_ps(127.0f), neg_lim = _mm512_set1_ps(-127.0f);
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), scale);
        __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), frac = _mm512_sub_ps(v, t);
        t = _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(frac, half, _CMP_GE_OQ), t, one);
        t = _mm512_mask_sub_ps(t, _mm512_cmp_ps_mask(frac, _mm512_sub_ps(_mm512_setzero_ps(), half), _CMP_LE_OQ), t,
                               one);
        t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), _mm512_min_ps(_mm512_max_ps(t, neg_lim), lim));
        _mm_storeu_si128((__m128i *)(void *)(q + i), _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(t)));
    }
    return d;
}

/* ---- Q4_0 ------------------------------------------------------------------ */

typedef struct {
    __m512i qs_index, d_index, low4, high4;
    __m512i lanes; /* dword indices: block k for lanes 4k..4k+3 (its 16 bytes of nibbles) */
} q4_0_consts;

/* 4 blocks unpacked: low and high nibbles (record order) and the 4 d. */
typedef struct {
    __m512i lo, hi;
    __m128 dw;
} q4_0_weights;

/* The 4 blocks whose bytes 0..63 are a and 8..71 are b. The high nibbles are shifted
 * down by a GF(2) affine map (one instruction, not a shift and a mask): the matrix's
 * byte 7 - i selects input bit i + 4 for output bit i < 4, and bits 4-7 stay 0. */
INLINE q4_0_weights q4_0_unpack(const q4_0_consts *c, __m512i a, __m512i b) {
    __m512i qs = _mm512_permutex2var_epi8(a, c->qs_index, b);
    q4_0_weights w = {_mm512_and_si512(qs, c->low4), _mm512_gf2p8affine_epi64_epi8(qs, c->high4, 0),
                      _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi8(c->d_index, a)))};
    return w;
}

/* acc += the 4 blocks against one record. Block k's correction starts lane 4k of the
 * accumulator (only the block's sum of lanes is used); the scales d * dx are formed
 * once per block and spread over its 4 lanes. */
INLINE __m512 q4_0_dot(const q4_0_consts *c, const q4_0_weights *w, const uint8_t *rec, __m512 acc) {
    __m128 dx = _mm_loadu_ps((const float *)(const void *)(rec + ACT_Q4_0_DX));
    __m512 scale = _mm512_permutexvar_ps(c->lanes, _mm512_castps128_ps512(_mm_mul_ps(w->dw, dx)));
    __m512i corr = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(rec + ACT_Q4_0_CORR)));
    __m512i isum = _mm512_dpbusd_epi32(_mm512_maskz_permutexvar_epi32(0x1111, c->lanes, corr), w->lo, load512(rec));
    isum = _mm512_dpbusd_epi32(isum, w->hi, load512(rec + 64));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc);
}

/* Row r against activation rows 0..n-1 of the job. */
INLINE void row_q4_0(const quant_rows_job *job, const q4_0_consts *c, int r, int n) {
    const int nb = job->n_in / QK, full = nb / ACT_GROUP_BLOCKS, group_bytes = ACT_GROUP_BLOCKS * Q4_0_BYTES;
    const uint8_t *row = job->W + (size_t)r * job->row_bytes, *rec = job->act;
    __m512 acc[SLM_QUANT_MULTI_MAX];
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) acc[t] = _mm512_setzero_ps();
    for (int g = 0; g < full; g++, row += group_bytes, rec += ACT_Q4_0_RECORD) {
        prefetch_ahead(row, group_bytes);
        const q4_0_weights w = q4_0_unpack(c, load512(row), load512(row + 8));
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) acc[t] = q4_0_dot(c, &w, rec + t * job->act_stride, acc[t]);
    }
    if (nb % ACT_GROUP_BLOCKS) { /* 1..3 blocks, at most 54 bytes: all in the first source */
        const q4_0_weights w =
            q4_0_unpack(c, load_first(row, nb % ACT_GROUP_BLOCKS * Q4_0_BYTES), _mm512_setzero_si512());
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) acc[t] = q4_0_dot(c, &w, rec + t * job->act_stride, acc[t]);
    }
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = _mm512_reduce_add_ps(acc[t]);
}

/* ---- Q8_0 ------------------------------------------------------------------ */

typedef struct {
    __m512i qs01_index, qs23_index, d_index, bias;
    __m512i lanes01, lanes23; /* dword indices: block 0 (2) for lanes 0-7, block 1 (3) for lanes 8-15 */
} q8_0_consts;

/* 4 blocks unpacked: the bytes of blocks 0-1 and 2-3 as w + 128, and the 4 d. */
typedef struct {
    __m512i qs01, qs23;
    __m128 dw;
} q8_0_weights;

/* The 4 blocks whose bytes 0..63 are a, 64..127 b and 72..135 c. */
INLINE q8_0_weights q8_0_unpack(const q8_0_consts *k, __m512i a, __m512i b, __m512i c) {
    q8_0_weights w = {_mm512_xor_si512(_mm512_permutex2var_epi8(a, k->qs01_index, b), k->bias),
                      _mm512_xor_si512(_mm512_permutex2var_epi8(b, k->qs23_index, c), k->bias),
                      _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi8(a, k->d_index, b)))};
    return w;
}

/* acc += the 4 blocks against one record. The record's per-block corrections start
 * lanes 0 and 8 of each block pair's accumulator (a lane's share does not matter:
 * only the block's sum is used); the per-block scales d * dx are formed once and
 * spread over each block's 8 lanes. */
INLINE __m512 q8_0_dot(const q8_0_consts *k, const q8_0_weights *w, const uint8_t *rec, __m512 acc) {
    __m512 scale =
        _mm512_castps128_ps512(_mm_mul_ps(w->dw, _mm_loadu_ps((const float *)(const void *)(rec + ACT_Q8_0_DX))));
    __m512i corr = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)(rec + ACT_Q8_0_CORR)));
    __m512i s01 =
        _mm512_dpbusd_epi32(_mm512_maskz_permutexvar_epi32(0x0101, k->lanes01, corr), w->qs01, load512(rec));
    __m512i s23 =
        _mm512_dpbusd_epi32(_mm512_maskz_permutexvar_epi32(0x0101, k->lanes23, corr), w->qs23, load512(rec + 64));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s01), _mm512_permutexvar_ps(k->lanes01, scale), acc);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s23), _mm512_permutexvar_ps(k->lanes23, scale), acc);
}

/* Row r against activation rows 0..n-1 of the job. */
INLINE void row_q8_0(const quant_rows_job *job, const q8_0_consts *c, int r, int n) {
    const int nb = job->n_in / QK, full = nb / ACT_GROUP_BLOCKS, group_bytes = ACT_GROUP_BLOCKS * Q8_0_BYTES;
    const uint8_t *row = job->W + (size_t)r * job->row_bytes, *rec = job->act;
    __m512 acc[SLM_QUANT_MULTI_MAX];
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) acc[t] = _mm512_setzero_ps();
    for (int g = 0; g < full; g++, row += group_bytes, rec += ACT_Q8_0_RECORD) {
        prefetch_ahead(row, group_bytes);
        const q8_0_weights w = q8_0_unpack(c, load512(row), load512(row + 64), load512(row + 72));
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) acc[t] = q8_0_dot(c, &w, rec + t * job->act_stride, acc[t]);
    }
    if (nb % ACT_GROUP_BLOCKS) { /* 1..3 blocks, at most 102 bytes: none from the third source */
        int bytes = nb % ACT_GROUP_BLOCKS * Q8_0_BYTES;
        __m512i b = bytes > 64 ? load_first(row + 64, bytes - 64) : _mm512_setzero_si512();
        const q8_0_weights w = q8_0_unpack(c, load_first(row, bytes), b, _mm512_setzero_si512());
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) acc[t] = q8_0_dot(c, &w, rec + t * job->act_stride, acc[t]);
    }
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = _mm512_reduce_add_ps(acc[t]);
}

/* ---- Q4_K ------------------------------------------------------------------ */

/* int16 lanes, zero-extended from bytes of a 128-bit lane: byte j0 in the low 256 bits, j1 in the high. */
INLINE __m512i pick_bytes16(int j0, int j1) {
    unsigned long long lo = 0, hi = 0;
    for (int i = 0; i < 4; i++) {
        lo |= (0x8000ull | (unsigned)j0) << (16 * i); /* byte j0, then a zero byte (index with bit 7 set) */
        hi |= (0x8000ull | (unsigned)j1) << (16 * i);
    }
    return _mm512_set_epi64((long long)hi, (long long)hi, (long long)hi, (long long)hi, (long long)lo, (long long)lo,
                            (long long)lo, (long long)lo);
}

/* One block against activation rows t < n (records rec + t * stride): isum[t] +=
 * sum_s sc_s sum_{i in s} q_i x_i and msum[t] = sum_s m_s bsum_s. Unpacked, qs[0..63]
 * gives sub-blocks 0 | 2 (low nibbles) and 1 | 3 (high), qs[64..127] 4 | 6 and 5 | 7,
 * one sub-block per 256-bit half, matching the record's order (quant_impl.h). Each
 * half is unpacked once and used for every t (no arrays of unpacked registers: GCC
 * then keeps them in memory). */
INLINE void q4_K_sums(const uint8_t *block, const uint8_t *rec, size_t stride, int n, __m512i *isum, __m128i *msum) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    uint8_t sm[16];
    quant_q4_K_scales_x86(block + 4, sm);
    __m128i sm128 = _mm_loadu_si128((const __m128i *)(const void *)sm);
    __m512i sm512 = _mm512_broadcast_i32x4(sm128);
    __m128i mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm128, sm128));
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++)
        msum[t] = _mm_madd_epi16(mins, _mm_loadu_si128((const __m128i *)(const void *)(rec + t * stride + ACT_K_BSUM)));
    for (int h = 0; h < 2; h++) {
        __m512i q = load512(block + 16 + 64 * h);
        __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
        __m512i sc_lo = _mm512_shuffle_epi8(sm512, h ? pick_bytes16(4, 6) : pick_bytes16(0, 2));
        __m512i sc_hi = _mm512_shuffle_epi8(sm512, h ? pick_bytes16(5, 7) : pick_bytes16(1, 3));
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) {
            const uint8_t *x = rec + t * stride + 128 * h;
            isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(lo, load512(x)), sc_lo);
            isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(hi, load512(x + 64)), sc_hi);
        }
    }
}

/* Row r against activation rows 0..n-1 of the job. */
INLINE void row_q4_K(const quant_rows_job *job, int r, int n) {
    const uint8_t *block = job->W + (size_t)r * job->row_bytes, *rec = job->act;
    __m512 acc[SLM_QUANT_MULTI_MAX];
    __m128 accm[SLM_QUANT_MULTI_MAX];
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) acc[t] = _mm512_setzero_ps(), accm[t] = _mm_setzero_ps();
    for (int b = 0; b < job->n_in / QK_K; b++, block += Q4_K_BYTES, rec += ACT_K_RECORD) {
        prefetch_ahead(block, Q4_K_BYTES);
        __m512i isum[SLM_QUANT_MULTI_MAX];
        __m128i msum[SLM_QUANT_MULTI_MAX];
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) isum[t] = _mm512_setzero_si512();
        q4_K_sums(block, rec, job->act_stride, n, isum, msum);
        const float d = f16_at(block), dmin = f16_at(block + 2);
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) {
            const float dx = quant_load_f32(rec + t * job->act_stride + ACT_K_DX);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d * dx), acc[t]);
            accm[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(msum[t]), _mm_set1_ps(dmin * dx), accm[t]);
        }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) {
        __m128 m = _mm_add_ps(accm[t], _mm_movehl_ps(accm[t], accm[t]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        job->y[t * job->y_stride + (size_t)r] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(m);
    }
}

/* ---- Q6_K ------------------------------------------------------------------ */

/* One block against activation rows t < n (records rec + t * stride): isum[t] =
 * sum_k sc_k sum_{i in k} (q_i - 32) x_i. Half h of the block: ql[64h..64h+63] low
 * nibbles are elements 0..63 of the half, high nibbles 64..127; qh[32h..32h+31],
 * repeated in both 256-bit halves, gives their top 2 bits at shifts 0, 2 (low) and
 * 4, 6 (high), moved to bits 4-5 by one variable shift. */
INLINE void q6_K_sums(const uint8_t *block, const uint8_t *rec, size_t stride, int n, __m512i *isum) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    const __m512i shift_lo = lanes16(4, 4, 2, 2), shift_hi = lanes16(0, 0, 2, 2);
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(block + 192)));
    __m512i scales = _mm512_castsi256_si512(sc16);
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) isum[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        __m512i ql = load512(block + 64 * h);
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(block + 128 + 32 * h)));
        __m512i lo = _mm512_and_si512(ql, low4), hi = _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
        /* (shifted qh & 0x30) | nibbles */
        lo = _mm512_ternarylogic_epi32(_mm512_sllv_epi16(qh, shift_lo), bits45, lo, 0xEA);
        hi = _mm512_ternarylogic_epi32(_mm512_srlv_epi16(qh, shift_hi), bits45, hi, 0xEA);
        __m512i sc_lo = _mm512_permutexvar_epi16(lanes16(8 * h, 8 * h + 1, 8 * h + 2, 8 * h + 3), scales);
        __m512i sc_hi = _mm512_permutexvar_epi16(lanes16(8 * h + 4, 8 * h + 5, 8 * h + 6, 8 * h + 7), scales);
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) {
            const uint8_t *x = rec + t * stride + 128 * h;
            isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(lo, load512(x)), sc_lo);
            isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(hi, load512(x + 64)), sc_hi);
        }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) { /* 32 sum_k sc_k bsum_k */
        const __m256i bsum = _mm256_loadu_si256((const __m256i *)(const void *)(rec + t * stride + ACT_K_BSUM));
        __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(sc16, bsum), 5);
        isum[t] = _mm512_sub_epi32(isum[t], _mm512_zextsi256_si512(corr));
    }
}

/* Row r against activation rows 0..n-1 of the job. */
INLINE void row_q6_K(const quant_rows_job *job, int r, int n) {
    const uint8_t *block = job->W + (size_t)r * job->row_bytes, *rec = job->act;
    __m512 acc[SLM_QUANT_MULTI_MAX];
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < job->n_in / QK_K; b++, block += Q6_K_BYTES, rec += ACT_K_RECORD) {
        prefetch_ahead(block, Q6_K_BYTES);
        __m512i isum[SLM_QUANT_MULTI_MAX];
        q6_K_sums(block, rec, job->act_stride, n, isum);
        const float d = f16_at(block + 208);
        #pragma GCC unroll 8
        for (int t = 0; t < n; t++) {
            const float dx = quant_load_f32(rec + t * job->act_stride + ACT_K_DX);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d * dx), acc[t]);
        }
    }
    #pragma GCC unroll 8
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = _mm512_reduce_add_ps(acc[t]);
}

/* ---- dispatch ------------------------------------------------------------------
 * One instance of each row function per n_act, so n is a constant in each. */

INLINE void rows_q4_0(const quant_rows_job *job, int n) {
    const q4_0_consts c = {load512(q4_0_qs_index), load512(q4_0_d_index), _mm512_set1_epi8(0x0F),
                           _mm512_set1_epi64(0x1020408000000000LL),
                           _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0)};
    for (int r = job->r0; r < job->r1; r++) row_q4_0(job, &c, r, n);
}

INLINE void rows_q8_0(const quant_rows_job *job, int n) {
    const q8_0_consts c = {load512(q8_0_qs01_index),
                           load512(q8_0_qs23_index),
                           load512(q8_0_d_index),
                           _mm512_set1_epi8((char)0x80),
                           _mm512_set_epi64(0x100000001, 0x100000001, 0x100000001, 0x100000001, 0, 0, 0, 0),
                           _mm512_set_epi64(0x300000003, 0x300000003, 0x300000003, 0x300000003, 0x200000002,
                                            0x200000002, 0x200000002, 0x200000002)};
    for (int r = job->r0; r < job->r1; r++) row_q8_0(job, &c, r, n);
}

INLINE void rows_q4_K(const quant_rows_job *job, int n) {
    for (int r = job->r0; r < job->r1; r++) row_q4_K(job, r, n);
}

INLINE void rows_q6_K(const quant_rows_job *job, int n) {
    for (int r = job->r0; r < job->r1; r++) row_q6_K(job, r, n);
}

INLINE void rows_n(slm_quant_type type, const quant_rows_job *job, int n) {
    switch (type) {
    case SLM_QUANT_Q4_0: rows_q4_0(job, n); break;
    case SLM_QUANT_Q8_0: rows_q8_0(job, n); break;
    case SLM_QUANT_Q4_K: rows_q4_K(job, n); break;
    case SLM_QUANT_Q6_K: rows_q6_K(job, n); break;
    }
}

TARGET static void rows_1(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 1); }
TARGET static void rows_2(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 2); }
TARGET static void rows_3(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 3); }
TARGET static void rows_4(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 4); }
TARGET static void rows_5(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 5); }
TARGET static void rows_6(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 6); }
TARGET static void rows_7(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 7); }
TARGET static void rows_8(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 8); }

int quant_rows_avx512(slm_quant_type type, const quant_rows_job *job) {
    static void (*const by_n[])(slm_quant_type, const quant_rows_job *) = {rows_1, rows_2, rows_3, rows_4,
                                                                           rows_5, rows_6, rows_7, rows_8};
    if (type != SLM_QUANT_Q4_0 && type != SLM_QUANT_Q8_0 && type != SLM_QUANT_Q4_K && type != SLM_QUANT_Q6_K)
        return -1;
    by_n[job->n_act - 1](type, job);
    return 0;
}
#endif
