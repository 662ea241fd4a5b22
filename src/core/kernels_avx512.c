/* kernels_avx512.c — the AVX-512 (F, BW, VL, DQ) kernels behind slm_matmul.
 *
 * Compiled with plain flags: every function carries a target attribute and is
 * only called after kernels.c has checked the CPU. Weights are F32, F16
 * (vcvtph2ps) or BF16 (a 16-bit shift), always converted to f32 in registers;
 * all arithmetic is f32 FMA.
 *
 * Prefill tile: 6 rows of A x up to 64 columns of B = 24 zmm accumulators,
 * one broadcast of A and four loads of B per k. The dot tile (OUT_IN weights,
 * few rows) takes 4 rows of x against 4 rows of W along k and reduces at the
 * end. Decode streams rows of W with 16-wide vectors and handles tails with masks. */
#include "core/kernels_isa.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <math.h>

#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { MR = 6, NR = 64 };

TARGET_AVX512 ALWAYS_INLINE __mmask16 tail_mask(int n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n > 0 ? n : 0)) - 1u);
}

/* 16 weights starting at element i of W's data, as f32, lanes outside mask zero. */
TARGET_AVX512 ALWAYS_INLINE __m512 load_weights(const slm_dtype dtype, const void *data, size_t i, __mmask16 mask) {
    if (dtype == SLM_DTYPE_F32) return _mm512_maskz_loadu_ps(mask, (const float *)data + i);
    __m256i h = _mm256_maskz_loadu_epi16(mask, (const uint16_t *)data + i);
    if (dtype == SLM_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

TARGET_AVX512 ALWAYS_INLINE __m512 load_weights_full(const slm_dtype dtype, const void *data, size_t i) {
    if (dtype == SLM_DTYPE_F32) return _mm512_loadu_ps((const float *)data + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)data + i));
    if (dtype == SLM_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Decode reads W as a few sequential streams; a software prefetch a little
 * ahead in each keeps more misses in flight than the hardware prefetchers alone
 * and makes the speed independent of where the loop lands in the code (see
 * decode_out_in_streams). Prefetches never fault, so running past the end of W
 * is harmless. STREAM_PREFETCH: elements ahead along a stream (512 bytes of
 * 16-bit weights, 1 KiB of f32); ADJACENT_PREFETCH_ROWS: rows ahead where four
 * adjacent rows are read together (two groups on). */
enum { STREAM_PREFETCH = 256, ADJACENT_PREFETCH_ROWS = 8 };

TARGET_AVX512 ALWAYS_INLINE void prefetch_weights(const slm_dtype dtype, const void *data, size_t i) {
    _mm_prefetch((const char *)data + i * (dtype == SLM_DTYPE_F32 ? 4 : 2), _MM_HINT_T1);
}

/* ---- prefill tiles ------------------------------------------------------- */

/* acc[m][v] = sum over k of A[m][k] * B[k][16v .. 16v+15] for MR rows (rows past
 * mr_used repeat the last one and are not stored) and NV vectors of B. */
TARGET_AVX512 ALWAYS_INLINE void tile_product(const int NV, int mr_used, int kc, const float *A, size_t lda,
                                              const float *B, __m512 acc[MR][4]) {
    const float *a[MR];
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++) a[m] = A + (size_t)(m < mr_used ? m : mr_used - 1) * lda;
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[m][v] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(B + (size_t)k * NR + (size_t)(16 * v));
#pragma GCC unroll 6
        for (int m = 0; m < MR; m++) {
            __m512 am = _mm512_set1_ps(a[m][k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[m][v] = _mm512_fmadd_ps(am, b[v], acc[m][v]);
        }
    }
}

TARGET_AVX512 ALWAYS_INLINE void tile_store(const int NV, int mr_used, int ncols, float *C, size_t ldc,
                                            const float *bias, int accumulate, __m512 acc[MR][4]) {
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++) {
        if (m >= mr_used) break;
        float *c = C + (size_t)m * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __mmask16 mask = tail_mask(ncols - 16 * v);
            __m512 base = accumulate ? _mm512_maskz_loadu_ps(mask, c + 16 * v)
                          : bias     ? _mm512_maskz_loadu_ps(mask, bias + 16 * v)
                                     : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(c + 16 * v, mask, _mm512_add_ps(base, acc[m][v]));
        }
    }
}

TARGET_AVX512 ALWAYS_INLINE void tile_nv(const int NV, int mr_used, int ncols, int kc, const float *A, size_t lda,
                                         const float *B, float *C, size_t ldc, const float *bias, int accumulate) {
    __m512 acc[MR][4];
    tile_product(NV, mr_used, kc, A, lda, B, acc);
    tile_store(NV, mr_used, ncols, C, ldc, bias, accumulate, acc);
}

TARGET_AVX512 static void tile_dispatch(int mr_used, int ncols, int kc, const float *A, size_t lda, const float *B,
                                        float *C, size_t ldc, const float *bias, int accumulate) {
    switch ((ncols + 15) / 16) {
    case 1: tile_nv(1, mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate); break;
    case 2: tile_nv(2, mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate); break;
    case 3: tile_nv(3, mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate); break;
    default: tile_nv(4, mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate); break;
    }
}

TARGET_AVX512 static void avx512_tile(int mr_used, int ncols, int kc, const float *A, size_t lda, const float *B,
                                      float *C, size_t ldc, const float *bias, int accumulate) {
    tile_dispatch(mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate);
}

/* ---- prefill: dot-product tiles for OUT_IN weights ------------------------ */

/* 4 rows of x against 4 rows of W: 16 accumulators, each a vector of 16 partial
 * sums along k, reduced at the end. Per 16 values of k: 8 loads, 16 FMAs. */
enum { DOT_MR = 4, DOT_NR = 4 };

/* Halves of a and b summed: [a lo + a hi | b lo + b hi], 8 partial sums each. */
TARGET_AVX512 ALWAYS_INLINE __m512 fold_halves(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
}

/* c = [a 8 | b 8], d = [e 8 | f 8] -> [a 4 | b 4 | e 4 | f 4]. */
TARGET_AVX512 ALWAYS_INLINE __m512 fold_quarters(__m512 c, __m512 d) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x88), _mm512_shuffle_f32x4(c, d, 0xDD));
}

/* The 16 sums of acc[0..15], transposed: lane 4Q + i = sum of acc[4i + Q].
 * After the two folds q[i] holds acc[4i + Q] in quarter Q; folding within
 * 128-bit lanes leaves in quarter Q, lane i, the sum of acc[4i + Q]. */
TARGET_AVX512 ALWAYS_INLINE __m512 reduce_16(const __m512 acc[16]) {
    __m512 h[8], q[4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) h[i] = fold_halves(acc[2 * i], acc[2 * i + 1]);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) q[i] = fold_quarters(h[2 * i], h[2 * i + 1]);
    __m512 u0 = _mm512_add_ps(_mm512_unpacklo_ps(q[0], q[1]), _mm512_unpackhi_ps(q[0], q[1]));
    __m512 u1 = _mm512_add_ps(_mm512_unpacklo_ps(q[2], q[3]), _mm512_unpackhi_ps(q[2], q[3]));
    return _mm512_add_ps(_mm512_shuffle_ps(u0, u1, 0x44), _mm512_shuffle_ps(u0, u1, 0xEE));
}

TARGET_AVX512 ALWAYS_INLINE void dot_step(const float *const x[DOT_MR], const float *const w[DOT_NR], int k,
                                          __mmask16 mask, __m512 acc[16]) {
    __m512 xv[DOT_MR], wv[DOT_NR];
#pragma GCC unroll 4
    for (int i = 0; i < DOT_MR; i++) xv[i] = _mm512_maskz_loadu_ps(mask, x[i] + k);
#pragma GCC unroll 4
    for (int j = 0; j < DOT_NR; j++) wv[j] = _mm512_maskz_loadu_ps(mask, w[j] + k);
#pragma GCC unroll 4
    for (int i = 0; i < DOT_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < DOT_NR; j++) acc[i * DOT_NR + j] = _mm512_fmadd_ps(xv[i], wv[j], acc[i * DOT_NR + j]);
}

/* Rows past rows_used and columns past ncols repeat the last one and are not stored. */
TARGET_AVX512 static void avx512_dot_tile(int rows_used, int ncols, int kc, const float *x, size_t ldx,
                                          const float *w, size_t ldw, float *y, size_t ldy, const float *bias,
                                          int accumulate) {
    const float *xr[DOT_MR], *wr[DOT_NR];
#pragma GCC unroll 4
    for (int i = 0; i < DOT_MR; i++) xr[i] = x + (size_t)(i < rows_used ? i : rows_used - 1) * ldx;
#pragma GCC unroll 4
    for (int j = 0; j < DOT_NR; j++) wr[j] = w + (size_t)(j < ncols ? j : ncols - 1) * ldw;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= kc; k += 16) dot_step(xr, wr, k, (__mmask16)0xffff, acc);
    if (k < kc) dot_step(xr, wr, k, tail_mask(kc - k), acc);
    __m512 sums = reduce_16(acc); /* lane 4j + i: row i, column j */
    const __mmask8 cols = (__mmask8)((1u << ncols) - 1u);
    const __m128 b = bias && !accumulate ? _mm_maskz_loadu_ps(cols, bias) : _mm_setzero_ps();
    for (int i = 0; i < rows_used; i++) {
        float *yr = y + (size_t)i * ldy;
        __m512i lanes = _mm512_add_epi32(_mm512_set1_epi32(i), _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                                 12, 8, 4, 0));
        __m128 row = _mm512_castps512_ps128(_mm512_permutexvar_ps(lanes, sums));
        __m128 base = accumulate ? _mm_maskz_loadu_ps(cols, yr) : b;
        _mm_mask_storeu_ps(yr, cols, _mm_add_ps(base, row));
    }
}

/* ---- decode: IN_OUT ------------------------------------------------------ */

/* Columns of y handled per sweep over k when a task holds part of the columns:
 * y stays in L1 while W streams past. */
enum { DECODE_COLUMN_BLOCK = 1024 };
/* Widest W whose rows a single task reads whole (y up to 16 KiB of f32 in L1). */
enum { DECODE_WHOLE_ROWS_MAX = 4096 };

/* y[t][nb..ne) += x[t][rows' k] . W[rows][nb..ne) for the four rows of W at
 * element offsets rows[] (xb: their x values, 0 for a row repeated as filler),
 * prefetching `ahead` elements past each. */
TARGET_AVX512 ALWAYS_INLINE void accumulate_in_out_rows(const slm_dtype dtype, const int TN, const slm_matmul_problem *p,
                                                        int t0, int nb, int ne, const size_t rows[4],
                                                        __m512 xb[4][4], size_t ahead) {
    const slm_matrix *W = p->W;
    const size_t N = (size_t)W->n_out;
    int n = nb;
    for (; n + 16 <= ne; n += 16) {
        __m512 w[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            prefetch_weights(dtype, W->data, rows[j] + ahead + (size_t)n);
            w[j] = load_weights_full(dtype, W->data, rows[j] + (size_t)n);
        }
#pragma GCC unroll 4
        for (int t = 0; t < TN; t++) {
            float *y = p->y + (size_t)(t0 + t) * N + n;
            __m512 lo = _mm512_fmadd_ps(xb[t][1], w[1], _mm512_mul_ps(xb[t][0], w[0]));
            __m512 hi = _mm512_fmadd_ps(xb[t][3], w[3], _mm512_mul_ps(xb[t][2], w[2]));
            _mm512_storeu_ps(y, _mm512_add_ps(_mm512_loadu_ps(y), _mm512_add_ps(lo, hi)));
        }
    }
    if (n < ne) {
        __mmask16 mask = tail_mask(ne - n);
        __m512 w[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) w[j] = load_weights(dtype, W->data, rows[j] + (size_t)n, mask);
#pragma GCC unroll 4
        for (int t = 0; t < TN; t++) {
            float *y = p->y + (size_t)(t0 + t) * N + n;
            __m512 lo = _mm512_fmadd_ps(xb[t][1], w[1], _mm512_mul_ps(xb[t][0], w[0]));
            __m512 hi = _mm512_fmadd_ps(xb[t][3], w[3], _mm512_mul_ps(xb[t][2], w[2]));
            _mm512_mask_storeu_ps(y, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), _mm512_add_ps(lo, hi)));
        }
    }
}

/* y[t][nb..ne) = bias for rows t0 .. t0+TN-1 of y. */
TARGET_AVX512 ALWAYS_INLINE void in_out_start(const int TN, const slm_matmul_problem *p, int t0, int nb, int ne) {
    const size_t N = (size_t)p->W->n_out;
#pragma GCC unroll 4
    for (int t = 0; t < TN; t++) {
        float *y = p->y + (size_t)(t0 + t) * N;
        for (int n = nb; n < ne; n += 16) {
            __mmask16 mask = tail_mask(ne - n);
            __m512 b = p->bias ? _mm512_maskz_loadu_ps(mask, p->bias + n) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(y + n, mask, b);
        }
    }
}

/* Rows k0 .. K-1 of W into y[..][nb..ne), in groups of four adjacent rows, the
 * last group padded by repeating a row with x = 0. */
TARGET_AVX512 ALWAYS_INLINE void in_out_adjacent(const slm_dtype dtype, const int TN, const slm_matmul_problem *p,
                                                 int t0, int nb, int ne, size_t k0, size_t ahead) {
    const size_t K = (size_t)p->W->n_in, N = (size_t)p->W->n_out;
    for (size_t k = k0; k < K; k += 4) {
        size_t rows[4];
        __m512 xb[4][4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) rows[j] = (k + (size_t)j < K ? k + (size_t)j : k) * N;
#pragma GCC unroll 4
        for (int t = 0; t < TN; t++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                xb[t][j] = _mm512_set1_ps(k + (size_t)j < K ? p->x[(size_t)(t0 + t) * K + k + (size_t)j] : 0.0f);
        accumulate_in_out_rows(dtype, TN, p, t0, nb, ne, rows, xb, ahead);
    }
}

/* Rows t0 .. t0+TN-1 of y, columns [n0, n1), as y = bias + x W.
 *
 * A task that holds whole rows of W (one thread, N <= 4096) reads rows k, k + q,
 * k + 2q, k + 3q together (q = K / 4): four sequential streams far apart, which
 * the hardware prefetchers follow, where four adjacent rows are not (see
 * decode_out_in_streams), with a prefetch 512 bytes (16-bit) ahead in each.
 * GPT-2-small in the Hugging Face layout, one thread: f16 85 -> 89-98 tok/s,
 * f32 43 -> 53. Tasks with part of the columns (several threads) keep groups
 * of adjacent rows, blocks of 1024 columns and a prefetch two groups of rows
 * ahead: with far-apart rows each stream skips the other tasks' columns, and 2
 * threads fell from 100 to 75 tok/s. */
TARGET_AVX512 ALWAYS_INLINE void decode_in_out_rows(const slm_dtype dtype, const int TN, const slm_matmul_problem *p,
                                                    int t0, int n0, int n1) {
    const size_t K = (size_t)p->W->n_in, N = (size_t)p->W->n_out;
    if (n0 == 0 && (size_t)n1 == N && N <= DECODE_WHOLE_ROWS_MAX) {
        const size_t q = K / 4;
        in_out_start(TN, p, t0, n0, n1);
        for (size_t i = 0; i < q; i++) {
            size_t rows[4];
            __m512 xb[4][4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) rows[j] = (i + (size_t)j * q) * N;
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++)
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) xb[t][j] = _mm512_set1_ps(p->x[(size_t)(t0 + t) * K + i + (size_t)j * q]);
            accumulate_in_out_rows(dtype, TN, p, t0, n0, n1, rows, xb, STREAM_PREFETCH);
        }
        in_out_adjacent(dtype, TN, p, t0, n0, n1, 4 * q, STREAM_PREFETCH);
        return;
    }
    for (int nb = n0; nb < n1; nb += DECODE_COLUMN_BLOCK) {
        int ne = nb + DECODE_COLUMN_BLOCK < n1 ? nb + DECODE_COLUMN_BLOCK : n1;
        in_out_start(TN, p, t0, nb, ne);
        in_out_adjacent(dtype, TN, p, t0, nb, ne, 0, ADJACENT_PREFETCH_ROWS * N);
    }
}

TARGET_AVX512 ALWAYS_INLINE void decode_in_out_dtype(const slm_dtype dtype, const slm_matmul_problem *p, int n0,
                                                     int n1) {
    for (int t0 = 0; t0 < p->T; t0 += 4) {
        switch (p->T - t0) {
        case 1: decode_in_out_rows(dtype, 1, p, t0, n0, n1); break;
        case 2: decode_in_out_rows(dtype, 2, p, t0, n0, n1); break;
        case 3: decode_in_out_rows(dtype, 3, p, t0, n0, n1); break;
        default: decode_in_out_rows(dtype, 4, p, t0, n0, n1); break;
        }
    }
}

TARGET_AVX512 static void avx512_decode_in_out(const slm_matmul_problem *p, int n0, int n1) {
    switch (p->W->dtype) {
    case SLM_DTYPE_F16: decode_in_out_dtype(SLM_DTYPE_F16, p, n0, n1); break;
    case SLM_DTYPE_BF16: decode_in_out_dtype(SLM_DTYPE_BF16, p, n0, n1); break;
    default: decode_in_out_dtype(SLM_DTYPE_F32, p, n0, n1); break;
    }
}

/* ---- decode: OUT_IN ------------------------------------------------------ */

/* y[t0+t][n..n+RN-1] for TN rows of x: RN rows of W dotted with TN rows of x
 * at once, k vectorised, reduced at the end; RN * TN <= 16 accumulators. Rows
 * of W past n1 repeat n1-1. */
TARGET_AVX512 ALWAYS_INLINE void decode_out_in_rows(const slm_dtype dtype, const int TN, const slm_matmul_problem *p,
                                                    int t0, int n0, int n1) {
    const int RN = TN <= 2 ? 8 : 4;
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in, N = (size_t)W->n_out;
    const float *x = p->x + (size_t)t0 * K;
    for (int n = n0; n < n1; n += RN) {
        size_t row[8];
        __m512 acc[8][4];
#pragma GCC unroll 8
        for (int r = 0; r < RN; r++) {
            row[r] = (size_t)(n + r < n1 ? n + r : n1 - 1) * K;
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) acc[r][t] = _mm512_setzero_ps();
        }
        size_t k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) xv[t] = _mm512_loadu_ps(x + (size_t)t * K + k);
#pragma GCC unroll 8
            for (int r = 0; r < RN; r++) {
                prefetch_weights(dtype, W->data, row[r] + 2 * RN * K + k); /* two groups of rows ahead */
                __m512 w = load_weights_full(dtype, W->data, row[r] + k);
#pragma GCC unroll 4
                for (int t = 0; t < TN; t++) acc[r][t] = _mm512_fmadd_ps(w, xv[t], acc[r][t]);
            }
        }
        if (k < K) {
            __mmask16 mask = tail_mask((int)(K - k));
            __m512 xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) xv[t] = _mm512_maskz_loadu_ps(mask, x + (size_t)t * K + k);
#pragma GCC unroll 8
            for (int r = 0; r < RN; r++) {
                __m512 w = load_weights(dtype, W->data, row[r] + k, mask);
#pragma GCC unroll 4
                for (int t = 0; t < TN; t++) acc[r][t] = _mm512_fmadd_ps(w, xv[t], acc[r][t]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < RN; r++) {
            if (n + r >= n1) break;
            float b = p->bias ? p->bias[n + r] : 0.0f;
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) p->y[(size_t)(t0 + t) * N + (size_t)(n + r)] = _mm512_reduce_add_ps(acc[r][t]) + b;
        }
    }
}

/* Widest n_in for decode_out_in_streams: its f32 input (up to 16 KiB, half of
 * L1d) then stays in L1d beside the weight streams. Past it an 8-row kernel,
 * which loads the input once for 8 rows, is faster: Phi-1.5's fc2 (n_in 8192)
 * ran at 21-22 GB/s in streams, 26.5 in AVX2's 8-row kernel (see
 * decode_out_in_dtype), while GPT-2-small's (n_in 3072) gains from streams, 26
 * against 23.6 GB/s. */
#define STREAMS_MAX_IN 4096

/* y[n] for rows n, n + q, n + 2q, n + 3q of W (q a quarter of the range) and a
 * single row of x: four sequential weight streams, far apart, sharing each
 * load of x. On this CPU (Zen 4) one row at a time is held back by the f32
 * input's loads (for f16 weights, two bytes of x per byte of weights), and
 * streams in adjacent rows, as in the RN-row kernel, defeat the hardware
 * prefetchers; four streams a quarter of the matrix apart are each followed as
 * a plain sequential stream. One thread, decode tok/s: GPT-2-small f16 93.7
 * against 77 (RN-row) and 79 (one row at a time), GPT-2-small f32 52 against
 * 44.5; Phi-1.5 f16 level with one row at a time (9.1-9.4). The software
 * prefetch, one line per stream and step, keeps that independent of where the
 * code lands: without it, one row at a time ran Phi-1.5 at 8.3 or 10.2 tok/s
 * depending only on the loop's address (checked by padding the code before
 * it). The caller gives the rows past the last multiple of four to S = 1. */

TARGET_AVX512 ALWAYS_INLINE void decode_out_in_streams(const slm_dtype dtype, const int S, const slm_matmul_problem *p,
                                                       int n0, int n1) {
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in;
    const float *x = p->x;
    const int q = (n1 - n0) / S;
    for (int i = 0; i < q; i++) {
        size_t row[4];
        __m512 a[4][2];
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            row[s] = (size_t)(n0 + s * q + i) * K;
            a[s][0] = a[s][1] = _mm512_setzero_ps();
        }
        size_t k = 0;
        for (; k + 32 <= K; k += 32) {
            __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                prefetch_weights(dtype, W->data, row[s] + k + STREAM_PREFETCH);
                a[s][0] = _mm512_fmadd_ps(load_weights_full(dtype, W->data, row[s] + k), x0, a[s][0]);
                a[s][1] = _mm512_fmadd_ps(load_weights_full(dtype, W->data, row[s] + k + 16), x1, a[s][1]);
            }
        }
        for (; k < K; k += 16) {
            __mmask16 mask = tail_mask((int)(K - k < 16 ? K - k : 16));
            __m512 xv = _mm512_maskz_loadu_ps(mask, x + k);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) a[s][0] = _mm512_fmadd_ps(load_weights(dtype, W->data, row[s] + k, mask), xv, a[s][0]);
        }
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            int n = n0 + s * q + i;
            p->y[n] = _mm512_reduce_add_ps(_mm512_add_ps(a[s][0], a[s][1])) + (p->bias ? p->bias[n] : 0.0f);
        }
    }
}

TARGET_AVX512 ALWAYS_INLINE void decode_out_in_dtype(const slm_dtype dtype, const slm_matmul_problem *p, int n0,
                                                     int n1) {
    if (p->T == 1 && p->W->n_in <= STREAMS_MAX_IN) {
        int rest = n0 + (n1 - n0) / 4 * 4;
        decode_out_in_streams(dtype, 4, p, n0, rest);
        decode_out_in_streams(dtype, 1, p, rest, n1);
        return;
    }
    if (p->T == 1) {
        /* Wider rows: AVX2's 8-row kernel, whose 16-byte steps per row the
         * prefetchers follow better than this file's 64-byte ones (Phi-1.5's fc2,
         * n_in 8192, f16: 27 against 21 GB/s). Every AVX-512 CPU runs AVX2. */
        slm_kernels_avx2.decode_out_in(p, n0, n1);
        return;
    }
    for (int t0 = 0; t0 < p->T; t0 += 4) {
        switch (p->T - t0) {
        case 1: decode_out_in_rows(dtype, 1, p, t0, n0, n1); break;
        case 2: decode_out_in_rows(dtype, 2, p, t0, n0, n1); break;
        case 3: decode_out_in_rows(dtype, 3, p, t0, n0, n1); break;
        default: decode_out_in_rows(dtype, 4, p, t0, n0, n1); break;
        }
    }
}

TARGET_AVX512 static void avx512_decode_out_in(const slm_matmul_problem *p, int n0, int n1) {
    switch (p->W->dtype) {
    case SLM_DTYPE_F16: decode_out_in_dtype(SLM_DTYPE_F16, p, n0, n1); break;
    case SLM_DTYPE_BF16: decode_out_in_dtype(SLM_DTYPE_BF16, p, n0, n1); break;
    default: decode_out_in_dtype(SLM_DTYPE_F32, p, n0, n1); break;
    }
}

/* ---- conversion and vector helpers --------------------------------------- */

TARGET_AVX512 ALWAYS_INLINE void convert_dtype(const slm_dtype dtype, const void *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, load_weights_full(dtype, src, i));
    if (i < n) {
        __mmask16 mask = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(dst + i, mask, load_weights(dtype, src, i, mask));
    }
}

TARGET_AVX512 static void avx512_convert(slm_dtype dtype, const void *src, float *dst, size_t n) {
    switch (dtype) {
    case SLM_DTYPE_F16: convert_dtype(SLM_DTYPE_F16, src, dst, n); break;
    case SLM_DTYPE_BF16: convert_dtype(SLM_DTYPE_BF16, src, dst, n); break;
    default: convert_dtype(SLM_DTYPE_F32, src, dst, n); break;
    }
}

TARGET_AVX512 static float avx512_dot(const float *a, const float *b, int n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 mask = tail_mask(n - i);
        acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

TARGET_AVX512 static void avx512_axpy(float *y, float a, const float *x, int n) {
    __m512 av = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 mask = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, mask,
                              _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mask, x + i), _mm512_maskz_loadu_ps(mask, y + i)));
    }
}

TARGET_AVX512 static void avx512_add(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 mask = tail_mask((int)(n - i));
        _mm512_mask_storeu_ps(y + i, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y + i), _mm512_maskz_loadu_ps(mask, x + i)));
    }
}

/* ---- packing an OUT_IN W transposed ------------------------------------- */

/* r[i] = row i of a 16x16 block; afterwards r[j] = column j. Unpack within
 * 128-bit lanes, shuffle pairs of lanes, then exchange whole lanes twice. */
TARGET_AVX512 ALWAYS_INLINE void transpose_16x16(__m512 r[16]) {
    __m512 t[16], u[16], v[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* u[4i + c] = lane-relative column c of rows 4i .. 4i+3 */
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        v[c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);      /* columns c, 8+c of rows 0-7 */
        v[4 + c] = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);  /* columns 4+c, 12+c of rows 0-7 */
        v[8 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        v[12 + c] = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(v[c], v[8 + c], 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(v[c], v[8 + c], 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(v[4 + c], v[12 + c], 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v[4 + c], v[12 + c], 0xDD);
    }
}

TARGET_AVX512 ALWAYS_INLINE void pack_transposed_dtype(const slm_dtype dtype, const slm_matrix *W, int kb, int kc,
                                                       int np, int ncols, float *packed) {
    const size_t K = (size_t)W->n_in;
    for (int j0 = 0; j0 < NR; j0 += 16) {
        for (int k0 = 0; k0 < kc; k0 += 16) {
            __mmask16 kmask = tail_mask(kc - k0);
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = j0 + i < ncols ? load_weights(dtype, W->data, (size_t)(np + j0 + i) * K + (size_t)(kb + k0), kmask)
                                      : _mm512_setzero_ps();
            transpose_16x16(r);
            int rows = kc - k0 < 16 ? kc - k0 : 16;
            for (int i = 0; i < rows; i++) _mm512_store_ps(packed + (size_t)(k0 + i) * NR + (size_t)j0, r[i]);
        }
    }
}

TARGET_AVX512 static void avx512_pack_transposed(const slm_matrix *W, int kb, int kc, int np, int ncols,
                                                 float *packed) {
    switch (W->dtype) {
    case SLM_DTYPE_F16: pack_transposed_dtype(SLM_DTYPE_F16, W, kb, kc, np, ncols, packed); break;
    case SLM_DTYPE_BF16: pack_transposed_dtype(SLM_DTYPE_BF16, W, kb, kc, np, ncols, packed); break;
    default: pack_transposed_dtype(SLM_DTYPE_F32, W, kb, kc, np, ncols, packed); break;
    }
}

/* ---- transcendental helpers -------------------------------------------- */

/* e^x to about 2 ulp: x = n ln2 + r with |r| <= ln2/2, a degree-7 Taylor
 * polynomial for e^r, then scalef (which saturates to 0 and inf correctly).
 * NaN and -inf inputs become 0 (the lower clamp), as masked scores need. */
TARGET_AVX512 ALWAYS_INLINE __m512 exp_ps(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-120.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* gelu_new(x) = 0.5 x (1 + tanh(u)) = x sigmoid(2u) = x / (1 + e^{-2u}): one exp and
 * no cancellation, so the negative tail is more exact than forming 1 + tanh. */
TARGET_AVX512 static void avx512_gelu_tanh(float *x, size_t n) {
    const __m512 c = _mm512_set1_ps(2.0f * 0.7978845608028654f), k = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mask = tail_mask((int)(n - i < 16 ? n - i : 16));
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        __m512 u2 = _mm512_mul_ps(c, _mm512_fmadd_ps(_mm512_mul_ps(k, v), _mm512_mul_ps(v, v), v));
        __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), u2));
        __m512 g = _mm512_div_ps(v, _mm512_add_ps(e, one));
        _mm512_mask_storeu_ps(x + i, mask, g);
    }
}

TARGET_AVX512 static void avx512_softmax(float *x, int n) {
    if (n <= 0) return;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - i), x + i));
    __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 mask = tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(mask, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), maxv)));
        _mm512_mask_storeu_ps(x + i, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 mask = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + i), inv));
    }
}

/* gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), erf by Abramowitz-Stegun 7.1.26:
 * erf(z) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^{-z^2}, t = 1 / (1 + p z), z >= 0. */
TARGET_AVX512 static void avx512_gelu_erf(float *x, size_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 sign_bit = _mm512_set1_ps(-0.0f);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mask = tail_mask((int)(n - i < 16 ? n - i : 16));
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        __m512 z = _mm512_mul_ps(_mm512_andnot_ps(sign_bit, v), _mm512_set1_ps(0.7071067811865476f));
        __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), z, one));
        __m512 poly = _mm512_set1_ps(1.061405429f);
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-1.453152027f));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
        poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
        poly = _mm512_mul_ps(poly, t);
        __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z)));
        __m512 erf_abs = _mm512_fnmadd_ps(poly, e, one);
        __m512 erf = _mm512_or_ps(erf_abs, _mm512_and_ps(sign_bit, v)); /* erf is odd */
        _mm512_mask_storeu_ps(x + i, mask, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, erf)));
    }
}

/* LayerNorm of T rows of C, as the scalar reference computes it: mean and
 * biased variance summed in double (two passes), (x - mean) * rstd in double
 * rounded to float, then * weight + bias in float. Only the order of the
 * double sums differs, far below float rounding. */
TARGET_AVX512 static void avx512_layernorm(float *out, const float *x, const float *weight, const float *bias, int T,
                                           int C, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * (size_t)C;
        float *o = out + (size_t)t * (size_t)C;
        __m512d s0 = _mm512_setzero_pd(), s1 = s0;
        for (int c = 0; c < C; c += 16) {
            __m512 v = _mm512_maskz_loadu_ps(tail_mask(C - c), xr + c); /* lanes past C are 0 */
            s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
        }
        double mean = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / C;
        const __m512d mv = _mm512_set1_pd(mean);
        __m512d q0 = _mm512_setzero_pd(), q1 = q0;
        for (int c = 0; c < C; c += 16) {
            __mmask16 mask = tail_mask(C - c);
            __m512 v = _mm512_maskz_loadu_ps(mask, xr + c);
            __m512d d0 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), mv);
            __m512d d1 = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), mv);
            q0 = _mm512_mask3_fmadd_pd(d0, d0, q0, (__mmask8)mask);
            q1 = _mm512_mask3_fmadd_pd(d1, d1, q1, (__mmask8)(mask >> 8));
        }
        double var = _mm512_reduce_add_pd(_mm512_add_pd(q0, q1)) / C;
        const __m512d rstd = _mm512_set1_pd(1.0 / sqrt(var + (double)eps));
        for (int c = 0; c < C; c += 16) {
            __mmask16 mask = tail_mask(C - c);
            __m512 v = _mm512_maskz_loadu_ps(mask, xr + c);
            __m256 n0 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), mv), rstd));
            __m256 n1 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), mv), rstd));
            __m512 normed = _mm512_insertf32x8(_mm512_castps256_ps512(n0), n1, 1);
            __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + c) : _mm512_setzero_ps();
            __m512 y = _mm512_add_ps(_mm512_mul_ps(normed, _mm512_maskz_loadu_ps(mask, weight + c)), b);
            _mm512_mask_storeu_ps(o + c, mask, y);
        }
    }
}

/* out[16 c0 .. 16 (c0 + CN)) = sum over keys of scores[j] v[j], CN vectors kept in
 * registers (a constant per instance: with a variable count GCC kept them on the
 * stack, a store-to-load chain per key), even and odd keys into separate
 * accumulators so that consecutive FMAs do not wait on each other. v holds
 * elements of dtype; row j starts at element j * stride. */
TARGET_AVX512 ALWAYS_INLINE void weighted_values(const slm_dtype dtype, const int CN, int c0, const float *scores,
                                                 const void *v, int n_keys, size_t stride, int head_dim, float *out) {
    __m512 even[8], odd[8];
    __mmask16 mask[8];
#pragma GCC unroll 8
    for (int c = 0; c < CN; c++) {
        even[c] = odd[c] = _mm512_setzero_ps();
        mask[c] = tail_mask(head_dim - 16 * (c0 + c));
    }
    size_t at = 16 * (size_t)c0;
    int j = 0;
    for (; j + 2 <= n_keys; j += 2, at += 2 * stride) {
        __m512 w0 = _mm512_set1_ps(scores[j]), w1 = _mm512_set1_ps(scores[j + 1]);
#pragma GCC unroll 8
        for (int c = 0; c < CN; c++) {
            even[c] = _mm512_fmadd_ps(w0, load_weights(dtype, v, at + 16 * c, mask[c]), even[c]);
            odd[c] = _mm512_fmadd_ps(w1, load_weights(dtype, v, at + stride + 16 * c, mask[c]), odd[c]);
        }
    }
    if (j < n_keys) {
        __m512 w0 = _mm512_set1_ps(scores[j]);
#pragma GCC unroll 8
        for (int c = 0; c < CN; c++) even[c] = _mm512_fmadd_ps(w0, load_weights(dtype, v, at + 16 * c, mask[c]), even[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < CN; c++) _mm512_mask_storeu_ps(out + 16 * (c0 + c), mask[c], _mm512_add_ps(even[c], odd[c]));
}

/* Prefetch of the lines of n rows of a cache (head_dim elements of dtype, rows
 * stride elements apart) starting at row `first`. */
TARGET_AVX512 ALWAYS_INLINE void prefetch_rows(const slm_dtype dtype, const void *base, int first, int n, size_t stride,
                                               int head_dim, int hint_t0) {
    const size_t esz = dtype == SLM_DTYPE_F32 ? 4 : 2;
    for (int m = 0; m < n; m++) {
        const char *row = (const char *)base + (size_t)(first + m) * stride * esz;
        for (size_t c = 0; c < (size_t)head_dim * esz; c += 64) {
            if (hint_t0) _mm_prefetch(row + c, _MM_HINT_T0);
            else _mm_prefetch(row + c, _MM_HINT_T1);
        }
    }
}

/* One query: scores by dot products (16 keys at a time, reduced together by
 * reduce_16: reducing each key's vector alone cost more than its FMAs at
 * head_dim 64; then 4 and 1 at a time), a vectorised softmax, then the weighted
 * sum of value rows kept in registers 128 floats at a time. */
TARGET_AVX512 ALWAYS_INLINE void attend_dtype(const slm_dtype dtype, const float *q, const void *k, const void *v,
                                              int n_keys, size_t stride, int head_dim, float scale, float *scores,
                                              float *out) {
    int nv = (head_dim + 15) / 16;
    int j = 0;
    /* reduce_16 leaves key m's sum in lane 4 (m % 4) + m / 4. */
    const __m512i key_order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    for (; j + 16 <= n_keys; j += 16) {
        /* The next 16 keys, and these keys' values (read after the softmax): a head's
         * rows are a short stream, over before the hardware prefetchers ramp up. */
        prefetch_rows(dtype, k, j + 16, 16, stride, head_dim, 1);
        prefetch_rows(dtype, v, j, 16, stride, head_dim, 0);
        __m512 acc[16];
#pragma GCC unroll 16
        for (int m = 0; m < 16; m++) acc[m] = _mm512_setzero_ps();
        for (int c = 0; c < nv; c++) {
            __mmask16 mask = tail_mask(head_dim - 16 * c);
            __m512 qv = _mm512_maskz_loadu_ps(mask, q + 16 * c);
            size_t at = (size_t)j * stride + 16 * (size_t)c; /* stepped, not 16 offsets (they spilled) */
#pragma GCC unroll 16
            for (int m = 0; m < 16; m++, at += stride)
                acc[m] = _mm512_fmadd_ps(qv, load_weights(dtype, k, at, mask), acc[m]);
        }
        __m512 sums = _mm512_permutexvar_ps(key_order, reduce_16(acc));
        _mm512_storeu_ps(scores + j, _mm512_mul_ps(sums, _mm512_set1_ps(scale)));
    }
    for (; j + 4 <= n_keys; j += 4) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const size_t k0 = (size_t)j * stride;
        for (int c = 0; c < nv; c++) {
            __mmask16 mask = tail_mask(head_dim - 16 * c);
            __m512 qv = _mm512_maskz_loadu_ps(mask, q + 16 * c);
            a0 = _mm512_fmadd_ps(qv, load_weights(dtype, k, k0 + 16 * c, mask), a0);
            a1 = _mm512_fmadd_ps(qv, load_weights(dtype, k, k0 + stride + 16 * c, mask), a1);
            a2 = _mm512_fmadd_ps(qv, load_weights(dtype, k, k0 + 2 * stride + 16 * c, mask), a2);
            a3 = _mm512_fmadd_ps(qv, load_weights(dtype, k, k0 + 3 * stride + 16 * c, mask), a3);
        }
        scores[j] = _mm512_reduce_add_ps(a0) * scale;
        scores[j + 1] = _mm512_reduce_add_ps(a1) * scale;
        scores[j + 2] = _mm512_reduce_add_ps(a2) * scale;
        scores[j + 3] = _mm512_reduce_add_ps(a3) * scale;
    }
    for (; j < n_keys; j++) {
        __m512 a0 = _mm512_setzero_ps();
        for (int c = 0; c < nv; c++) {
            __mmask16 mask = tail_mask(head_dim - 16 * c);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, q + 16 * c),
                                 load_weights(dtype, k, (size_t)j * stride + 16 * c, mask), a0);
        }
        scores[j] = _mm512_reduce_add_ps(a0) * scale;
    }
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n_keys; i += 16)
        mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n_keys - i), scores + i));
    __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n_keys; i += 16) {
        __mmask16 mask = tail_mask(n_keys - i);
        __m512 e = _mm512_maskz_mov_ps(mask, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, scores + i), maxv)));
        _mm512_mask_storeu_ps(scores + i, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n_keys; i += 16) {
        __mmask16 mask = tail_mask(n_keys - i);
        _mm512_mask_storeu_ps(scores + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, scores + i), inv));
    }
    for (int c0 = 0; c0 < nv; c0 += 8) {
        switch (nv - c0) {
        case 1: weighted_values(dtype, 1, c0, scores, v, n_keys, stride, head_dim, out); break;
        case 2: weighted_values(dtype, 2, c0, scores, v, n_keys, stride, head_dim, out); break;
        case 3: weighted_values(dtype, 3, c0, scores, v, n_keys, stride, head_dim, out); break;
        case 4: weighted_values(dtype, 4, c0, scores, v, n_keys, stride, head_dim, out); break;
        case 5: weighted_values(dtype, 5, c0, scores, v, n_keys, stride, head_dim, out); break;
        case 6: weighted_values(dtype, 6, c0, scores, v, n_keys, stride, head_dim, out); break;
        case 7: weighted_values(dtype, 7, c0, scores, v, n_keys, stride, head_dim, out); break;
        default: weighted_values(dtype, 8, c0, scores, v, n_keys, stride, head_dim, out); break;
        }
    }
}

TARGET_AVX512 static void avx512_attend(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys,
                                        size_t stride, int head_dim, float scale, float *scores, float *out) {
    switch (kv_dtype) {
    case SLM_DTYPE_F16: attend_dtype(SLM_DTYPE_F16, q, k, v, n_keys, stride, head_dim, scale, scores, out); break;
    case SLM_DTYPE_BF16: attend_dtype(SLM_DTYPE_BF16, q, k, v, n_keys, stride, head_dim, scale, scores, out); break;
    default: attend_dtype(SLM_DTYPE_F32, q, k, v, n_keys, stride, head_dim, scale, scores, out); break;
    }
}

const slm_kernels_table slm_kernels_avx512 = {
    .name = "avx512",
    .gelu_tanh = avx512_gelu_tanh,
    .pack_transposed = avx512_pack_transposed,
    .gelu_erf = avx512_gelu_erf,
    .softmax = avx512_softmax,
    .attend = avx512_attend,
    .layernorm = avx512_layernorm,
    .mr = MR,
    .nr = NR,
    .tile = avx512_tile,
    .dot_mr = DOT_MR,
    .dot_nr = DOT_NR,
    .dot_tile = avx512_dot_tile,
    .decode_in_out = avx512_decode_in_out,
    .decode_out_in = avx512_decode_out_in,
    .convert = avx512_convert,
    .dot = avx512_dot,
    .axpy = avx512_axpy,
    .add = avx512_add,
};

#else /* not x86-64: the table exists so kernels.c links; slm_kernels_find never returns it */

const slm_kernels_table slm_kernels_avx512 = {.name = "avx512"};

#endif
