/* kernels_isa.h — private to src/core: the per-instruction-set pieces that
 * kernels.c drives.
 *
 * kernels.c owns the matmul strategy: the split of n_out across threads, the
 * loops over panels and k-blocks, and packing into per-call scratch. Each
 * instruction set (kernels_scalar in kernels.c, kernels_avx2.c,
 * kernels_avx512.c) supplies what needs its registers: the register-blocked
 * tiles of prefill (and optionally the dot tiles), the streaming kernels of
 * decode, dtype conversion and the vector helpers. Tests reach every table
 * through slm_kernels_find() so each path is checked against the reference on
 * any CPU that can run it. */
#ifndef SLM_CORE_KERNELS_ISA_H
#define SLM_CORE_KERNELS_ISA_H

#include <stddef.h>

#include "core/kernels.h"

/* A whole matmul as slm_matmul received it. */
typedef struct {
    float *y;        /* (T, n_out) */
    const float *x;  /* (T, n_in) */
    int T;
    const slm_matrix *W;
    const float *bias; /* (n_out) or NULL */
} slm_matmul_problem;

/* T up to this goes through the decode kernels (no packing, weights streamed once). */
#define SLM_DECODE_MAX_T 16

typedef struct {
    const char *name; /* "scalar", "avx2", "avx512" */
    int mr;           /* rows of A in one tile */
    int nr;           /* columns of B in one tile: the packed panel width, a multiple of the vector width */

    /* One tile of C (mr_used, ncols) with row stride ldc:
     *   C = (accumulate ? C : bias or 0) + A (mr_used, kc; row stride lda) @ B (kc, nr; packed, row stride nr)
     * B is 64-byte aligned and zero beyond ncols. bias (ncols) is indexed by column; may be NULL. */
    void (*tile)(int mr_used, int ncols, int kc, const float *A, size_t lda, const float *B, float *C,
                 size_t ldc, const float *bias, int accumulate);
    /* Output columns [n0, n1) of y for every row of x, reading each weight once:
     * for any T, best for T <= SLM_DECODE_MAX_T. */
    void (*decode_in_out)(const slm_matmul_problem *p, int n0, int n1);
    void (*decode_out_in)(const slm_matmul_problem *p, int n0, int n1);

    /* dst (n) = src (n) as f32; dtype F32, F16 or BF16. */
    void (*convert)(slm_dtype dtype, const void *src, float *dst, size_t n);
    float (*dot)(const float *a, const float *b, int n);
    void (*axpy)(float *y, float a, const float *x, int n);
    void (*add)(float *y, const float *x, size_t n);

    /* Optional: prefill of an OUT_IN W without transposing it. One tile of y (rows_used <= dot_mr,
     * ncols <= dot_nr; row stride ldy):
     *   y[i][j] = (accumulate ? y[i][j] : bias[j] or 0) + x[i] (kc; row stride ldx) . w[j] (kc; row stride ldw)
     * dot products of k-contiguous rows, so W's rows are only copied (and converted to f32), never
     * transposed. NULL: OUT_IN weights are packed into panels for the tile above. */
    int dot_mr, dot_nr;
    void (*dot_tile)(int rows_used, int ncols, int kc, const float *x, size_t ldx, const float *w, size_t ldw,
                     float *y, size_t ldy, const float *bias, int accumulate);

    /* Optional (NULL: kernels.c uses its scalar version). */
    /* packed (kc, nr) = rows [np, np + ncols) of an OUT_IN W, k in [kb, kb + kc), transposed
     * to f32; columns past ncols are zero. */
    void (*pack_transposed)(const slm_matrix *W, int kb, int kc, int np, int ncols, float *packed);
    /* In place softmax of n values (max-subtracted). */
    void (*softmax)(float *x, int n);
    /* In place, n values: gelu with erf (Abramowitz-Stegun 7.1.26). */
    void (*gelu_erf)(float *x, size_t n);
    /* In place, n values: GPT-2's gelu_new. */
    void (*gelu_tanh)(float *x, size_t n);
    /* out (T, C) = LayerNorm of x (T, C) * weight + bias (bias may be NULL); out may alias x.
     * The scalar table's is slm_layernorm's reference. */
    void (*layernorm)(float *out, const float *x, const float *weight, const float *bias, int T, int C, float eps);
    /* One query against n_keys cached keys/values (kv_dtype F32, F16 or BF16; rows of
     * `stride` elements, head_dim used): scores (n_keys) = softmax(q . k_j * scale);
     * out (head_dim) = sum_j scores_j v_j. */
    void (*attend)(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys, size_t stride,
                   int head_dim, float scale, float *scores, float *out);
} slm_kernels_table;

extern const slm_kernels_table slm_kernels_scalar;
extern const slm_kernels_table slm_kernels_avx2;
extern const slm_kernels_table slm_kernels_avx512;

/* The table called name ("scalar", "avx2", "avx512") if this CPU can run it, else NULL. */
const slm_kernels_table *slm_kernels_find(const char *name);

/* The table slm_matmul and the vector ops use: the best this CPU runs, or the
 * one named by the SLM_KERNELS environment variable, read once. */
const slm_kernels_table *slm_kernels_active(void);

/* slm_matmul with an explicit table (tests and benchmarks). */
void slm_matmul_with(const slm_kernels_table *kt, slm_thread_pool *pool, float *y, const float *x, int T,
                     const slm_matrix *W, const float *bias);

#endif
