/* kernels_avx2.c — the AVX2 + FMA + F16C kernels behind slm_matmul, for CPUs
 * without AVX-512.
 *
 * Same shapes as kernels_avx512.c at half the width: the prefill tile is 6
 * rows of A x 16 columns of B = 12 ymm accumulators; decode streams 8 columns
 * (or 8 values of k) at a time. AVX2 has no masked loads for 16-bit data, so
 * tails go through short scalar loops. */
#include "core/kernels_isa.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <math.h>

#define TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { MR = 6, NR = 16 };

/* 8 weights starting at element i of W's data, as f32. */
TARGET_AVX2 ALWAYS_INLINE __m256 load_weights(const slm_dtype dtype, const void *data, size_t i) {
    if (dtype == SLM_DTYPE_F32) return _mm256_loadu_ps((const float *)data + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)data + i));
    if (dtype == SLM_DTYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

ALWAYS_INLINE float weight_scalar(const slm_dtype dtype, const void *data, size_t i) {
    if (dtype == SLM_DTYPE_F32) return ((const float *)data)[i];
    if (dtype == SLM_DTYPE_F16) return slm_f16_to_f32(((const uint16_t *)data)[i]);
    return slm_bf16_to_f32(((const uint16_t *)data)[i]);
}

TARGET_AVX2 ALWAYS_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- prefill tiles ------------------------------------------------------- */

TARGET_AVX2 ALWAYS_INLINE void tile_nv(const int NV, int mr_used, int ncols, int kc, const float *A, size_t lda,
                                       const float *B, float *C, size_t ldc, const float *bias, int accumulate) {
    const float *a[MR];
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++) {
        a[m] = A + (size_t)(m < mr_used ? m : mr_used - 1) * lda;
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[m][v] = _mm256_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        __m256 b[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) b[v] = _mm256_load_ps(B + (size_t)k * NR + (size_t)(8 * v));
#pragma GCC unroll 6
        for (int m = 0; m < MR; m++) {
            __m256 am = _mm256_broadcast_ss(a[m] + k);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[m][v] = _mm256_fmadd_ps(am, b[v], acc[m][v]);
        }
    }
    float lanes[8];
#pragma GCC unroll 6
    for (int m = 0; m < MR; m++) {
        if (m >= mr_used) break;
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) {
            int nj = ncols - 8 * v < 8 ? ncols - 8 * v : 8;
            if (nj == 8) {
                float *c = C + (size_t)m * ldc + (size_t)(8 * v);
                __m256 base = accumulate ? _mm256_loadu_ps(c) : bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
                _mm256_storeu_ps(c, _mm256_add_ps(base, acc[m][v]));
                continue;
            }
            _mm256_storeu_ps(lanes, acc[m][v]);
            for (int j = 0; j < nj; j++) {
                float *c = C + (size_t)m * ldc + (size_t)(8 * v + j);
                *c = (accumulate ? *c : bias ? bias[8 * v + j] : 0.0f) + lanes[j];
            }
        }
    }
}

TARGET_AVX2 static void avx2_tile(int mr_used, int ncols, int kc, const float *A, size_t lda, const float *B,
                                  float *C, size_t ldc, const float *bias, int accumulate) {
    if (ncols > 8) tile_nv(2, mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate);
    else tile_nv(1, mr_used, ncols, kc, A, lda, B, C, ldc, bias, accumulate);
}

/* ---- decode -------------------------------------------------------------- */

enum { DECODE_COLUMN_BLOCK = 1024 };

/* Decode streams several short runs of W at once; prefetching the next rows
 * into L2 keeps more misses in flight than the hardware prefetchers do alone.
 * Prefetches never fault, so running past the end of W is harmless. */
enum { PREFETCH_ROWS = 8 };

TARGET_AVX2 ALWAYS_INLINE void prefetch_weights(const slm_dtype dtype, const void *data, size_t i) {
    _mm_prefetch((const char *)data + i * (dtype == SLM_DTYPE_F32 ? 4 : 2), _MM_HINT_T1);
}

/* Rows t0 .. t0+TN-1 of y, columns [n0, n1), for an IN_OUT W: for each group of
 * 4 rows k of W, y[t][n] += x[t][k..k+3] . W[k..k+3][n], 8 columns at a time. */
TARGET_AVX2 ALWAYS_INLINE void decode_in_out_rows(const slm_dtype dtype, const int TN, const slm_matmul_problem *p,
                                                  int t0, int n0, int n1) {
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in, N = (size_t)W->n_out;
    for (int nb = n0; nb < n1; nb += DECODE_COLUMN_BLOCK) {
        int ne = nb + DECODE_COLUMN_BLOCK < n1 ? nb + DECODE_COLUMN_BLOCK : n1;
        for (int t = 0; t < TN; t++)
            for (int n = nb; n < ne; n++) p->y[(size_t)(t0 + t) * N + (size_t)n] = p->bias ? p->bias[n] : 0.0f;
        for (size_t k = 0; k < K; k += 4) {
            size_t rows[4];
            float xs[4][4];
            for (int j = 0; j < 4; j++) {
                rows[j] = (k + (size_t)j < K ? k + (size_t)j : k) * N;
                for (int t = 0; t < TN; t++)
                    xs[t][j] = k + (size_t)j < K ? p->x[(size_t)(t0 + t) * K + k + (size_t)j] : 0.0f;
            }
            int n = nb;
            for (; n + 8 <= ne; n += 8) {
                __m256 w[4];
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    prefetch_weights(dtype, W->data, rows[j] + PREFETCH_ROWS * N + (size_t)n);
                    w[j] = load_weights(dtype, W->data, rows[j] + (size_t)n);
                }
#pragma GCC unroll 4
                for (int t = 0; t < TN; t++) {
                    float *y = p->y + (size_t)(t0 + t) * N + n;
                    __m256 lo = _mm256_fmadd_ps(_mm256_broadcast_ss(&xs[t][1]), w[1],
                                                _mm256_mul_ps(_mm256_broadcast_ss(&xs[t][0]), w[0]));
                    __m256 hi = _mm256_fmadd_ps(_mm256_broadcast_ss(&xs[t][3]), w[3],
                                                _mm256_mul_ps(_mm256_broadcast_ss(&xs[t][2]), w[2]));
                    _mm256_storeu_ps(y, _mm256_add_ps(_mm256_loadu_ps(y), _mm256_add_ps(lo, hi)));
                }
            }
            for (; n < ne; n++) {
                float w[4];
                for (int j = 0; j < 4; j++) w[j] = weight_scalar(dtype, W->data, rows[j] + (size_t)n);
                for (int t = 0; t < TN; t++) {
                    float s = 0.0f;
                    for (int j = 0; j < 4; j++) s += xs[t][j] * w[j];
                    p->y[(size_t)(t0 + t) * N + (size_t)n] += s;
                }
            }
        }
    }
}

TARGET_AVX2 ALWAYS_INLINE void decode_in_out_dtype(const slm_dtype dtype, const slm_matmul_problem *p, int n0, int n1) {
    for (int t0 = 0; t0 < p->T; t0 += 4) {
        switch (p->T - t0) {
        case 1: decode_in_out_rows(dtype, 1, p, t0, n0, n1); break;
        case 2: decode_in_out_rows(dtype, 2, p, t0, n0, n1); break;
        case 3: decode_in_out_rows(dtype, 3, p, t0, n0, n1); break;
        default: decode_in_out_rows(dtype, 4, p, t0, n0, n1); break;
        }
    }
}

TARGET_AVX2 static void avx2_decode_in_out(const slm_matmul_problem *p, int n0, int n1) {
    switch (p->W->dtype) {
    case SLM_DTYPE_F16: decode_in_out_dtype(SLM_DTYPE_F16, p, n0, n1); break;
    case SLM_DTYPE_BF16: decode_in_out_dtype(SLM_DTYPE_BF16, p, n0, n1); break;
    default: decode_in_out_dtype(SLM_DTYPE_F32, p, n0, n1); break;
    }
}

/* y[t0+t][n..n+RN-1] for TN rows of x: RN rows of an OUT_IN W dotted with TN
 * rows of x at once (8 accumulators), k vectorised; rows past n1 repeat n1-1. */
TARGET_AVX2 ALWAYS_INLINE void decode_out_in_rows(const slm_dtype dtype, const int TN, const slm_matmul_problem *p,
                                                  int t0, int n0, int n1) {
    const int RN = TN <= 2 ? 8 / TN : 2;
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in, N = (size_t)W->n_out;
    const float *x = p->x + (size_t)t0 * K;
    for (int n = n0; n < n1; n += RN) {
        size_t row[8];
        __m256 acc[8][4];
#pragma GCC unroll 8
        for (int r = 0; r < RN; r++) {
            row[r] = (size_t)(n + r < n1 ? n + r : n1 - 1) * K;
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) acc[r][t] = _mm256_setzero_ps();
        }
        size_t k = 0;
        for (; k + 8 <= K; k += 8) {
            __m256 xv[4];
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) xv[t] = _mm256_loadu_ps(x + (size_t)t * K + k);
#pragma GCC unroll 8
            for (int r = 0; r < RN; r++) {
                prefetch_weights(dtype, W->data, row[r] + 2 * (size_t)RN * K + k); /* two groups of rows ahead */
                __m256 w = load_weights(dtype, W->data, row[r] + k);
#pragma GCC unroll 4
                for (int t = 0; t < TN; t++) acc[r][t] = _mm256_fmadd_ps(w, xv[t], acc[r][t]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < RN; r++) {
            if (n + r >= n1) break;
            float b = p->bias ? p->bias[n + r] : 0.0f;
#pragma GCC unroll 4
            for (int t = 0; t < TN; t++) {
                float s = hsum(acc[r][t]);
                for (size_t kk = k; kk < K; kk++) s += x[(size_t)t * K + kk] * weight_scalar(dtype, W->data, row[r] + kk);
                p->y[(size_t)(t0 + t) * N + (size_t)(n + r)] = s + b;
            }
        }
    }
}

/* Widest n_in for decode_out_in_streams (as in kernels_avx512.c): the f32 input
 * stays in L1d beside the weight streams. */
#define STREAMS_MAX_IN 4096
/* Elements ahead of each stream for its software prefetch (1 KiB of f32). */
enum { STREAM_PREFETCH = 256 };

/* y[n] for rows n, n + q, n + 2q, n + 3q of W (q = (n1 - n0) / S) and a single
 * row of x: S sequential weight streams far apart sharing each load of x, with
 * a software prefetch 1 KiB ahead in each; the AVX-512 version says why. Used
 * for f32 weights only: on the Zen 4 here, running this table
 * (SLM_KERNELS=avx2), GPT-2-small f32 decode went from 46-47 to 54 tok/s at one
 * thread, while f16 went from 98-104 down to 90-93 (the 8-row kernel below,
 * with 16-byte steps per row, keeps f16 ahead on AVX2). */
TARGET_AVX2 ALWAYS_INLINE void decode_out_in_streams(const slm_dtype dtype, const int S, const slm_matmul_problem *p,
                                                     int n0, int n1) {
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in;
    const float *x = p->x;
    const int q = (n1 - n0) / S;
    for (int i = 0; i < q; i++) {
        size_t row[4];
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            row[s] = (size_t)(n0 + s * q + i) * K;
            a[s][0] = a[s][1] = _mm256_setzero_ps();
        }
        size_t k = 0;
        for (; k + 16 <= K; k += 16) {
            __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
#pragma GCC unroll 4
            for (int s = 0; s < S; s++) {
                prefetch_weights(dtype, W->data, row[s] + k + STREAM_PREFETCH);
                a[s][0] = _mm256_fmadd_ps(load_weights(dtype, W->data, row[s] + k), x0, a[s][0]);
                a[s][1] = _mm256_fmadd_ps(load_weights(dtype, W->data, row[s] + k + 8), x1, a[s][1]);
            }
        }
        const size_t k_tail = k;
#pragma GCC unroll 4
        for (int s = 0; s < S; s++) {
            int n = n0 + s * q + i;
            float sum = hsum(_mm256_add_ps(a[s][0], a[s][1]));
            for (k = k_tail; k < K; k++) sum += x[k] * weight_scalar(dtype, W->data, row[s] + k);
            p->y[n] = sum + (p->bias ? p->bias[n] : 0.0f);
        }
    }
}

TARGET_AVX2 ALWAYS_INLINE void decode_out_in_dtype(const slm_dtype dtype, const slm_matmul_problem *p, int n0, int n1) {
    if (p->T == 1 && dtype == SLM_DTYPE_F32 && p->W->n_in <= STREAMS_MAX_IN) {
        int rest = n0 + (n1 - n0) / 4 * 4;
        decode_out_in_streams(dtype, 4, p, n0, rest);
        decode_out_in_streams(dtype, 1, p, rest, n1);
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

TARGET_AVX2 static void avx2_decode_out_in(const slm_matmul_problem *p, int n0, int n1) {
    switch (p->W->dtype) {
    case SLM_DTYPE_F16: decode_out_in_dtype(SLM_DTYPE_F16, p, n0, n1); break;
    case SLM_DTYPE_BF16: decode_out_in_dtype(SLM_DTYPE_BF16, p, n0, n1); break;
    default: decode_out_in_dtype(SLM_DTYPE_F32, p, n0, n1); break;
    }
}

/* ---- conversion and vector helpers --------------------------------------- */

TARGET_AVX2 ALWAYS_INLINE void convert_dtype(const slm_dtype dtype, const void *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_weights(dtype, src, i));
    for (; i < n; i++) dst[i] = weight_scalar(dtype, src, i);
}

TARGET_AVX2 static void avx2_convert(slm_dtype dtype, const void *src, float *dst, size_t n) {
    switch (dtype) {
    case SLM_DTYPE_F16: convert_dtype(SLM_DTYPE_F16, src, dst, n); break;
    case SLM_DTYPE_BF16: convert_dtype(SLM_DTYPE_BF16, src, dst, n); break;
    default: convert_dtype(SLM_DTYPE_F32, src, dst, n); break;
    }
}

TARGET_AVX2 static float avx2_dot(const float *a, const float *b, int n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

TARGET_AVX2 static void avx2_axpy(float *y, float a, const float *x, int n) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

TARGET_AVX2 static void avx2_add(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] += x[i];
}

TARGET_AVX2 ALWAYS_INLINE double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* LayerNorm as the scalar reference computes it (statistics in double, two
 * passes; (x - mean) * rstd in double, then * weight + bias in float), 8
 * values at a time and the tail of each row in scalar code. */
TARGET_AVX2 static void avx2_layernorm(float *out, const float *x, const float *weight, const float *bias, int T,
                                       int C, float eps) {
    const int C8 = C & ~7;
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * (size_t)C;
        float *o = out + (size_t)t * (size_t)C;
        __m256d s0 = _mm256_setzero_pd(), s1 = s0;
        for (int c = 0; c < C8; c += 8) {
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(xr + c)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(xr + c + 4)));
        }
        double sum = hsum_pd(_mm256_add_pd(s0, s1));
        for (int c = C8; c < C; c++) sum += xr[c];
        const double mean = sum / C;
        const __m256d mv = _mm256_set1_pd(mean);
        __m256d q0 = _mm256_setzero_pd(), q1 = q0;
        for (int c = 0; c < C8; c += 8) {
            __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(xr + c)), mv);
            __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(xr + c + 4)), mv);
            q0 = _mm256_fmadd_pd(d0, d0, q0);
            q1 = _mm256_fmadd_pd(d1, d1, q1);
        }
        double var = hsum_pd(_mm256_add_pd(q0, q1));
        for (int c = C8; c < C; c++) var += (xr[c] - mean) * (xr[c] - mean);
        const double rstd = 1.0 / sqrt(var / C + (double)eps);
        const __m256d rv = _mm256_set1_pd(rstd);
        for (int c = 0; c < C8; c += 8) {
            __m128 n0 = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(xr + c)), mv), rv));
            __m128 n1 =
                _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(xr + c + 4)), mv), rv));
            __m256 normed = _mm256_insertf128_ps(_mm256_castps128_ps256(n0), n1, 1);
            __m256 b = bias ? _mm256_loadu_ps(bias + c) : _mm256_setzero_ps();
            _mm256_storeu_ps(o + c, _mm256_add_ps(_mm256_mul_ps(normed, _mm256_loadu_ps(weight + c)), b));
        }
        for (int c = C8; c < C; c++) {
            float normed = (float)((xr[c] - mean) * rstd);
            o[c] = normed * weight[c] + (bias ? bias[c] : 0.0f);
        }
    }
}

/* ---- exp, gelu_new, softmax, attention ------------------------------------ */

/* e^x as kernels_avx512.c's exp_ps computes it (same reduction and polynomial),
 * with 2^n built in the exponent bits: x is clamped to [-87, 88.7], so n stays
 * within the normal range (e^-87 ~ 1.6e-38, below which results are ~0 anyway). */
TARGET_AVX2 ALWAYS_INLINE __m256 exp_ps(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.7f)), _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.4426950408889634f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

/* gelu_new(x) = x / (1 + e^{-2u}), as avx512_gelu_tanh; the tail through the reference. */
TARGET_AVX2 static void avx2_gelu_tanh(float *x, size_t n) {
    const __m256 c = _mm256_set1_ps(2.0f * 0.7978845608028654f), k = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u2 = _mm256_mul_ps(c, _mm256_fmadd_ps(_mm256_mul_ps(k, v), _mm256_mul_ps(v, v), v));
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), u2));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(e, one)));
    }
    if (i < n) slm_gelu_tanh_reference(x + i, n - i);
}

TARGET_AVX2 ALWAYS_INLINE float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TARGET_AVX2 static void avx2_softmax(float *x, int n) {
    if (n <= 0) return;
    const int n8 = n & ~7;
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < n8; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    float m = hmax(mx);
    for (int i = n8; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256 maxv = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    for (int i = 0; i < n8; i += 8) {
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), maxv));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float total = hsum(sum);
    for (int i = n8; i < n; i++) total += x[i] = expf(x[i] - m);
    const float inv = 1.0f / total;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* The four sums of a0..a3 (lanes 0..3). */
TARGET_AVX2 ALWAYS_INLINE __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* out[8 c0 .. 8 (c0 + CN)) = sum over keys of scores[j] v[j], CN <= 8 vectors in registers. */
TARGET_AVX2 ALWAYS_INLINE void weighted_values(const slm_dtype dtype, const int CN, int c0, const float *scores,
                                               const void *v, int n_keys, size_t stride, float *out) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < CN; c++) acc[c] = _mm256_setzero_ps();
    size_t at = 8 * (size_t)c0;
    for (int j = 0; j < n_keys; j++, at += stride) {
        __m256 w = _mm256_set1_ps(scores[j]);
#pragma GCC unroll 8
        for (int c = 0; c < CN; c++) acc[c] = _mm256_fmadd_ps(w, load_weights(dtype, v, at + 8 * c), acc[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < CN; c++) _mm256_storeu_ps(out + 8 * (c0 + c), acc[c]);
}

/* As avx512_attend, 4 keys at a time, for head_dim a multiple of 8 (others, which
 * no supported decoder has, go through the reference). */
TARGET_AVX2 ALWAYS_INLINE void attend_dtype(const slm_dtype dtype, const float *q, const void *k, const void *v,
                                            int n_keys, size_t stride, int head_dim, float scale, float *scores,
                                            float *out) {
    const int nv = head_dim / 8;
    const size_t esz = dtype == SLM_DTYPE_F32 ? 4 : 2;
    int j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        for (int m = 0; m < 4; m++) /* the keys after these: a head's rows are a short stream */
            for (size_t c = 0; c < (size_t)head_dim * esz; c += 64)
                _mm_prefetch((const char *)k + (size_t)(j + 8 + m) * stride * esz + c, _MM_HINT_T0);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const size_t k0 = (size_t)j * stride;
        for (int c = 0; c < nv; c++) {
            __m256 qv = _mm256_loadu_ps(q + 8 * c);
            a0 = _mm256_fmadd_ps(qv, load_weights(dtype, k, k0 + 8 * c), a0);
            a1 = _mm256_fmadd_ps(qv, load_weights(dtype, k, k0 + stride + 8 * c), a1);
            a2 = _mm256_fmadd_ps(qv, load_weights(dtype, k, k0 + 2 * stride + 8 * c), a2);
            a3 = _mm256_fmadd_ps(qv, load_weights(dtype, k, k0 + 3 * stride + 8 * c), a3);
        }
        _mm_storeu_ps(scores + j, _mm_mul_ps(hsum4(a0, a1, a2, a3), _mm_set1_ps(scale)));
    }
    for (; j < n_keys; j++) {
        __m256 a0 = _mm256_setzero_ps();
        for (int c = 0; c < nv; c++)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), load_weights(dtype, k, (size_t)j * stride + 8 * c), a0);
        scores[j] = hsum(a0) * scale;
    }
    avx2_softmax(scores, n_keys);
    for (int c0 = 0; c0 < nv; c0 += 8) {
        switch (nv - c0) {
        case 1: weighted_values(dtype, 1, c0, scores, v, n_keys, stride, out); break;
        case 2: weighted_values(dtype, 2, c0, scores, v, n_keys, stride, out); break;
        case 3: weighted_values(dtype, 3, c0, scores, v, n_keys, stride, out); break;
        case 4: weighted_values(dtype, 4, c0, scores, v, n_keys, stride, out); break;
        case 5: weighted_values(dtype, 5, c0, scores, v, n_keys, stride, out); break;
        case 6: weighted_values(dtype, 6, c0, scores, v, n_keys, stride, out); break;
        case 7: weighted_values(dtype, 7, c0, scores, v, n_keys, stride, out); break;
        default: weighted_values(dtype, 8, c0, scores, v, n_keys, stride, out); break;
        }
    }
}

TARGET_AVX2 static void avx2_attend(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys,
                                    size_t stride, int head_dim, float scale, float *scores, float *out) {
    if (head_dim % 8 != 0) {
        slm_attend_reference(q, kv_dtype, k, v, n_keys, stride, head_dim, scale, scores, out);
        return;
    }
    switch (kv_dtype) {
    case SLM_DTYPE_F16: attend_dtype(SLM_DTYPE_F16, q, k, v, n_keys, stride, head_dim, scale, scores, out); break;
    case SLM_DTYPE_BF16: attend_dtype(SLM_DTYPE_BF16, q, k, v, n_keys, stride, head_dim, scale, scores, out); break;
    default: attend_dtype(SLM_DTYPE_F32, q, k, v, n_keys, stride, head_dim, scale, scores, out); break;
    }
}

const slm_kernels_table slm_kernels_avx2 = {
    .name = "avx2",
    .gelu_tanh = avx2_gelu_tanh,
    .softmax = avx2_softmax,
    .attend = avx2_attend,
    .layernorm = avx2_layernorm,
    .mr = MR,
    .nr = NR,
    .tile = avx2_tile,
    .decode_in_out = avx2_decode_in_out,
    .decode_out_in = avx2_decode_out_in,
    .convert = avx2_convert,
    .dot = avx2_dot,
    .axpy = avx2_axpy,
    .add = avx2_add,
};

#else /* not x86-64: the table exists so kernels.c links; slm_kernels_find never returns it */

const slm_kernels_table slm_kernels_avx2 = {.name = "avx2"};

#endif
