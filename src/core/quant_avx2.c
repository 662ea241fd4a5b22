/* quant_avx2.c — the row kernels with AVX2 (+ FMA, F16C): 32 weights per
 * 256-bit register, unsigned x signed byte products through maddubs, integer
 * sums per block, then one f32 FMA per block, against the activation records
 * of quant_impl.h. One row at a time, so the weights stream sequentially (see
 * quant_avx512.c); each block, once unpacked, is dotted with the job's n_act
 * activation rows (a constant n where the row functions are inlined), with the
 * same operations per row as for one, so the results are bit for bit the same.
 *
 * maddubs adds two u8 x s8 products into an int16 with saturation; every
 * pairing here stays below 2^15: Q4_0 and Q4_K 2 * 15 * 127, Q6_K 2 * 63 * 127,
 * Q8_0 (through |w| and x with w's sign) 2 * 128 * 127 = 32512. */
#include "core/quant_impl.h"

#if QUANT_X86
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* At most AVX2_MULTI activation rows per pass: with more, the accumulators no longer
 * fit the 16 registers. */
enum { AVX2_MULTI = 4 };

INLINE float f16_at(const uint8_t *p) { return _cvtsh_ss(quant_load_u16(p)); }

INLINE __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
INLINE __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE float hsum128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- Q4_0: nibbles n = w + 8 against x, corrected by corr (-8 sum x) ---------- */

/* Row r against activation rows 0..n-1 of the job. */
/* As quant_block_8bit_scalar, 8 inputs a register (see quant_block_8bit_avx512). */
TARGET float quant_block_8bit_avx2(const float *x, int8_t *q, int n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) amax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), amax);
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.0f, inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 scale = _mm256_set1_ps(inv_d), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 neg_half = _mm256_set1_ps(-0.5f), lim = _mm256_set1_ps(127.0f), neg_lim = _mm256_set1_ps(-127.0f);
    for (int i = 0; i < n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), scale);
        __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC), frac = _mm256_sub_ps(v, t);
        t = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), one));
        t = _mm256_sub_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, neg_half, _CMP_LE_OQ), one));
        t = _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_ORD_Q), _mm256_min_ps(_mm256_max_ps(t, neg_lim), lim));
        __m256i i32 = _mm256_cvttps_epi32(t);
        __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
        _mm_storel_epi64((__m128i *)(void *)(q + i), _mm_packs_epi16(i16, i16));
    }
    return d;
}

INLINE void row_q4_0(const quant_rows_job *job, int r, int n) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const uint8_t *block = job->W + (size_t)r * job->row_bytes;
    __m256 acc[AVX2_MULTI];
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) acc[t] = _mm256_setzero_ps();
    const int nb = job->n_in / QK;
    const uint8_t *group = job->act;
    /* b counts blocks, k4 the block within its record (record pointers kept, not recomputed:
     * with 192-byte records the index arithmetic cost ~15% here) */
    for (int b = 0, k4 = 0; b < nb; b++, block += Q4_0_BYTES) {
        const uint8_t *rec = group;
        __m128i packed = load128(block + 2);
        __m256i w = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), low4), _mm_and_si128(packed, low4));
        float d = f16_at(block);
        #pragma GCC unroll 4
        for (int t = 0; t < n; t++, rec += job->act_stride) {
            __m256i x = _mm256_set_m128i(load128(rec + 64 + 16 * k4), load128(rec + 16 * k4));
            /* the block's correction in lane 0 (a load to a vector register, not through a GPR) */
            __m128 corr32 = _mm_load_ss((const float *)(const void *)(rec + ACT_Q4_0_CORR + 4 * k4));
            __m256i corr = _mm256_zextsi128_si256(_mm_castps_si128(corr32));
            __m256i sums = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones), corr);
            float scale = d * quant_load_f32(rec + ACT_Q4_0_DX + 4 * k4);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(scale), acc[t]);
        }
        if (++k4 == ACT_GROUP_BLOCKS) k4 = 0, group += ACT_Q4_0_RECORD;
    }
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = hsum256(acc[t]);
}

/* ---- Q8_0: signed x signed as |w| * (x with w's sign) ------------------------ */

INLINE void row_q8_0(const quant_rows_job *job, int r, int n) {
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *block = job->W + (size_t)r * job->row_bytes;
    __m256 acc[AVX2_MULTI];
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < job->n_in / QK; b++, block += Q8_0_BYTES) {
        const uint8_t *rec = job->act + (size_t)(b / ACT_GROUP_BLOCKS) * ACT_Q8_0_RECORD;
        int k4 = b % ACT_GROUP_BLOCKS;
        __m256i w = load256(block + 2), w_abs = _mm256_sign_epi8(w, w);
        float d = f16_at(block);
        #pragma GCC unroll 4
        for (int t = 0; t < n; t++, rec += job->act_stride) {
            __m256i pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(load256(rec + QK * k4), w));
            float scale = d * quant_load_f32(rec + ACT_Q8_0_DX + 4 * k4);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)), _mm256_set1_ps(scale), acc[t]);
        }
    }
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = hsum256(acc[t]);
}

/* ---- Q4_K: per 64 weights, low nibbles (sub-block 2c) and high (2c + 1) ------ */

INLINE void row_q4_K(const quant_rows_job *job, int r, int n) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const uint8_t *block = job->W + (size_t)r * job->row_bytes, *act = job->act;
    __m256 acc[AVX2_MULTI];
    __m128 accm[AVX2_MULTI];
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) acc[t] = _mm256_setzero_ps(), accm[t] = _mm_setzero_ps();
    for (int b = 0; b < job->n_in / QK_K; b++, block += Q4_K_BYTES, act += ACT_K_RECORD) {
        uint8_t sm[16];
        quant_q4_K_scales_x86(block + 4, sm);
        __m256i isum[AVX2_MULTI];
        #pragma GCC unroll 4
        for (int t = 0; t < n; t++) isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q = load256(block + 16 + 32 * c);
            __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            __m256i sc_lo = _mm256_set1_epi16(sm[2 * c]), sc_hi = _mm256_set1_epi16(sm[2 * c + 1]);
            #pragma GCC unroll 4
            for (int t = 0; t < n; t++) {
                const uint8_t *rec = act + t * job->act_stride;
                __m256i x_lo = load256(rec + quant_q4_K_act_offset(2 * c));
                __m256i x_hi = load256(rec + quant_q4_K_act_offset(2 * c + 1));
                __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), sc_lo);
                __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), sc_hi);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(plo, phi));
            }
        }
        __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(sm + 8)));
        float d = f16_at(block), dmin = f16_at(block + 2);
        #pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            const uint8_t *rec = act + t * job->act_stride;
            __m128i msum = _mm_madd_epi16(mins, load128(rec + ACT_K_BSUM));
            float dx = quant_load_f32(rec + ACT_K_DX);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d * dx), acc[t]);
            accm[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(msum), _mm_set1_ps(dmin * dx), accm[t]);
        }
    }
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = hsum256(acc[t]) - hsum128(accm[t]);
}

/* ---- Q6_K: 6-bit levels n = q + 32 from ql and qh, corrected by -32 sum sc bsum -- */

/* Shuffle controls picking int16 scale a in the low 128 bits and a + 1 in the high. */
INLINE __m256i q6_K_scale_pair(__m256i scales8, int a) {
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
                                          2, 3, 2, 3, 2, 3);
    return _mm256_shuffle_epi8(scales8, _mm256_add_epi8(pick, _mm256_set1_epi8((char)(2 * a))));
}

/* isum[t] += sum_k sc_k sum_{i in k} n_i x_i for activation rows t < n (records act + t * stride). */
INLINE void q6_K_sums(const uint8_t *block, const uint8_t *act, size_t stride, int n, __m256i *isum) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++) {
        /* int16 scales 8h..8h+7 in both 128-bit halves */
        __m256i sc = _mm256_broadcastsi128_si256(
            _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(block + 192 + 8 * h))));
        __m256i ql0 = load256(block + 64 * h), ql1 = load256(block + 64 * h + 32), qh = load256(block + 128 + 32 * h);
        __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
            _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
        };
        for (int j = 0; j < 4; j++) {
            __m256i scales = q6_K_scale_pair(sc, 2 * j);
            #pragma GCC unroll 4
            for (int t = 0; t < n; t++) {
                __m256i pairs = _mm256_maddubs_epi16(q[j], load256(act + t * stride + 128 * h + 32 * j));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pairs, scales));
            }
        }
    }
}

INLINE void row_q6_K(const quant_rows_job *job, int r, int n) {
    const uint8_t *block = job->W + (size_t)r * job->row_bytes, *act = job->act;
    __m256 acc[AVX2_MULTI];
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < job->n_in / QK_K; b++, block += Q6_K_BYTES, act += ACT_K_RECORD) {
        __m256i isum[AVX2_MULTI];
        #pragma GCC unroll 4
        for (int t = 0; t < n; t++) isum[t] = _mm256_setzero_si256();
        q6_K_sums(block, act, job->act_stride, n, isum);
        __m256i sc16 = _mm256_cvtepi8_epi16(load128(block + 192));
        float d = f16_at(block + 208);
        #pragma GCC unroll 4
        for (int t = 0; t < n; t++) {
            const uint8_t *rec = act + t * job->act_stride;
            __m256i corr = _mm256_madd_epi16(sc16, load256(rec + ACT_K_BSUM));
            __m256i sums = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(corr, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(d * quant_load_f32(rec + ACT_K_DX)),
                                     acc[t]);
        }
    }
    #pragma GCC unroll 4
    for (int t = 0; t < n; t++) job->y[t * job->y_stride + (size_t)r] = hsum256(acc[t]);
}

/* ---- dispatch: one instance of each row function per n_act, n a constant in each -- */

INLINE void rows_n(slm_quant_type type, const quant_rows_job *job, int n) {
    for (int r = job->r0; r < job->r1; r++) switch (type) {
        case SLM_QUANT_Q4_0: row_q4_0(job, r, n); break;
        case SLM_QUANT_Q8_0: row_q8_0(job, r, n); break;
        case SLM_QUANT_Q4_K: row_q4_K(job, r, n); break;
        case SLM_QUANT_Q6_K: row_q6_K(job, r, n); break;
        }
}

TARGET static void rows_1(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 1); }
TARGET static void rows_2(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 2); }
TARGET static void rows_3(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 3); }
TARGET static void rows_4(slm_quant_type type, const quant_rows_job *job) { rows_n(type, job, 4); }

int quant_rows_avx2(slm_quant_type type, const quant_rows_job *job) {
    static void (*const by_n[])(slm_quant_type, const quant_rows_job *) = {rows_1, rows_2, rows_3, rows_4};
    if (type != SLM_QUANT_Q4_0 && type != SLM_QUANT_Q8_0 && type != SLM_QUANT_Q4_K && type != SLM_QUANT_Q6_K)
        return -1;
    quant_rows_job part = *job;
    for (int t = 0; t < job->n_act; t += AVX2_MULTI) {
        part.act = job->act + (size_t)t * job->act_stride;
        part.y = job->y + (size_t)t * job->y_stride;
        part.n_act = job->n_act - t < AVX2_MULTI ? job->n_act - t : AVX2_MULTI;
        by_n[part.n_act - 1](type, &part);
    }
    return 0;
}
#endif
