/* kernels.h — the math every model family shares.
 * Each optimised kernel (AVX2, AVX-512, chosen at run time from CPU features)
 * keeps a plain scalar reference beside it; tests/test_kernels.c compares them. */
#ifndef SLM_CORE_KERNELS_H
#define SLM_CORE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "core/threads.h"

/* How a weight matrix is laid out in its file. nn.Linear stores (n_out, n_in);
 * GPT-2's Conv1D stores (n_in, n_out). Kernels read both in place, so mapped
 * weights are never transposed or copied. */
typedef enum { SLM_LAYOUT_OUT_IN = 0, SLM_LAYOUT_IN_OUT } slm_layout;

typedef struct {
    slm_dtype dtype; /* F32, F16, BF16, or a quantized type (then layout is OUT_IN) */
    slm_layout layout;
    int n_in, n_out;
    const void *data;
} slm_matrix;

/* y (T, n_out) = x (T, n_in) @ W^T + bias (n_out, may be NULL).
 * y must not alias x. Work is split across the pool (NULL = this thread). */
void slm_matmul(slm_thread_pool *pool, float *y, const float *x, int T, const slm_matrix *W,
                const float *bias);

/* The scalar reference of slm_matmul, single-threaded. */
void slm_matmul_reference(float *y, const float *x, int T, const slm_matrix *W, const float *bias);

/* Copies row r of an OUT_IN matrix (an embedding table: n_out rows of n_in) to out (n_in) as f32. */
void slm_matrix_row(const slm_matrix *W, int r, float *out);

/* Which implementation slm_matmul uses on this CPU: "avx512", "avx2" or "scalar". */
const char *slm_kernels_isa(void);

/* ---- element-wise and row-wise operations (x is (T, C) unless said) ---- */

/* out = (x - mean) / sqrt(var + eps) * weight + bias; bias may be NULL. out may alias x. */
void slm_layernorm(float *out, const float *x, const float *weight, const float *bias, int T, int C,
                   float eps);
/* out = x / sqrt(mean(x^2) + eps) * weight. out may alias x. */
void slm_rmsnorm(float *out, const float *x, const float *weight, int T, int C, float eps);
/* In place, n elements: gelu with the tanh approximation (GPT-2's gelu_new). */
void slm_gelu_tanh(float *x, size_t n);
/* The scalar reference of slm_gelu_tanh (libm tanhf, PyTorch's formula). */
void slm_gelu_tanh_reference(float *x, size_t n);
/* In place, n elements: gelu with erf (BERT's "gelu"). The vector path uses the
 * Abramowitz-Stegun 7.1.26 erf (|error| <= 1.5e-7), the approximation PyTorch's
 * own vectorised CPU erf uses; the reference uses libm's erff. */
void slm_gelu_erf(float *x, size_t n);
void slm_gelu_erf_reference(float *x, size_t n);
/* gate (n) = silu(gate) * up (n). */
void slm_silu_mul(float *gate, const float *up, size_t n);
/* In place softmax over n values (max-subtracted). */
void slm_softmax(float *x, int n);
void slm_softmax_reference(float *x, int n);
/* Attention of one query (head_dim) over n_keys keys and values of kv_dtype (F32,
 * F16 or BF16), rows `stride` elements apart: scores (n_keys) = softmax(q . k_j *
 * scale), out (head_dim) = sum_j scores_j v_j. */
void slm_attend(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys, size_t stride,
                int head_dim, float scale, float *scores, float *out);
void slm_attend_reference(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys, size_t stride,
                          int head_dim, float scale, float *scores, float *out);
/* y (n) += x (n). */
void slm_add(float *y, const float *x, size_t n);
/* dot product of two f32 vectors of length n. */
float slm_dot(const float *a, const float *b, int n);
/* y (n) += a * x (n). */
void slm_axpy(float *y, float a, const float *x, int n);

#endif
