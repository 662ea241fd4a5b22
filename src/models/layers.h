/* layers.h — the building blocks every decoder family composes: linear
 * projections, norms, rotary embeddings, causal attention over the session's
 * KV cache, and the two MLP shapes (GELU and SwiGLU). Written once, shared. */
#ifndef SLM_MODELS_LAYERS_H
#define SLM_MODELS_LAYERS_H

#include "core/kernels.h"
#include "core/threads.h"

/* Element-wise activations, by the names configs use (hidden_act, activation). */
typedef enum { SLM_ACT_GELU_TANH, SLM_ACT_GELU_ERF, SLM_ACT_RELU, SLM_ACT_SILU } slm_activation;

/* In place over n values, split across the pool when large enough to matter. */
void slm_activate(slm_thread_pool *pool, slm_activation act, float *x, size_t n);

/* A projection y = x W^T + b. The matrix points into mapped weights; the bias
 * (n_out floats) is an f32 copy owned by the model, or NULL. */
typedef struct {
    slm_matrix w;
    const float *bias;
} slm_linear;

/* LayerNorm (weight and bias) or RMSNorm (bias NULL): f32 copies owned by the model. */
typedef struct {
    const float *weight;
    const float *bias;
    float eps;
} slm_norm;

/* y (T, n_out) = x (T, n_in) W^T + b. */
static inline void slm_linear_forward(slm_thread_pool *pool, const slm_linear *l, float *y,
                                      const float *x, int T) {
    slm_matmul(pool, y, x, T, &l->w, l->bias);
}

/* Rotary position embedding applied in place to T rows of n_heads heads of
 * head_dim values (row stride `stride` floats) at positions pos0 .. pos0+T-1.
 * Only the first rot_dim values of each head rotate (partial rotary).
 * interleaved: pairs (2i, 2i+1) as Meta / llama2.c; otherwise (i, i + rot_dim/2) as HF. */
typedef struct {
    int rot_dim;
    float theta;
    int interleaved;
} slm_rope;

void slm_rope_apply(const slm_rope *rope, float *x, int T, int stride, int n_heads, int head_dim,
                    int pos0);

/* The KV cache of one layer: keys and values, head-major, (n_kv_heads, n_ctx,
 * head_dim) each, so that attention reads a head's keys and values as one
 * contiguous stream. Position-major rows (n_ctx, kv_dim) put each key of a head
 * kv_dim floats after the last, on a new page for Phi-1.5 (8 KiB), where the
 * prefetchers do not follow: attention was ~16% of a Phi-1.5 Q4_0 decode step.
 * Elements are f32, or f16 for a model with quantized weights (kv_dtype_for in
 * model.c): as llama.cpp keeps them, half the bytes for attention to read. */
typedef struct {
    void *k;
    void *v;
    int n_ctx;       /* positions each head has room for */
    slm_dtype dtype; /* SLM_DTYPE_F32 or SLM_DTYPE_F16 */
} slm_kv_layer;

/* Causal attention of T new queries at positions pos0.. against the cache,
 * which already holds keys/values for positions [0, pos0 + T).
 * q (T, q_stride) holds n_heads heads; out (T, n_heads*head_dim).
 * scratch: n_tasks * n_ctx floats, n_tasks = slm_attention_tasks(pool). */
typedef struct {
    int n_heads, n_kv_heads, head_dim;
    float scale;
} slm_attention_shape;

int slm_attention_tasks(const slm_thread_pool *pool);
void slm_attention(slm_thread_pool *pool, const slm_attention_shape *shape, const slm_kv_layer *kv,
                   const float *q, int q_stride, int T, int pos0, float *out, float *scratch,
                   int n_ctx);

/* Writes T rows of keys and values (n_kv_heads heads of head_dim each; row
 * strides given) into the cache at pos0. */
void slm_kv_store(const slm_kv_layer *kv, int n_kv_heads, int head_dim, const float *k, const float *v, int stride,
                  int T, int pos0);

/* x (T, C) normalised into out with the norm's kind (layer or RMS). */
void slm_norm_forward(const slm_norm *n, float *out, const float *x, int T, int C);
/* The same, rows split across the pool (long prompts and batches). */
void slm_norm_rows(slm_thread_pool *pool, const slm_norm *n, float *out, const float *x, int T, int C);

#endif
