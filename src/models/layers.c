/* layers.c — shared layers: activations, rotary embeddings, KV cache, attention, norms. */
#include "models/layers.h"

#include <math.h>
#include <string.h>

typedef struct {
    const slm_norm *n;
    float *out;
    const float *x;
    int T, C;
} norm_job;

static void norm_task(void *ctx, int task, int n_tasks) {
    const norm_job *job = ctx;
    int t0 = (int)((long)job->T * task / n_tasks), t1 = (int)((long)job->T * (task + 1) / n_tasks);
    if (t1 > t0)
        slm_norm_forward(job->n, job->out + (size_t)t0 * job->C, job->x + (size_t)t0 * job->C, t1 - t0, job->C);
}

void slm_norm_rows(slm_thread_pool *pool, const slm_norm *n, float *out, const float *x, int T, int C) {
    norm_job job = {n, out, x, T, C};
    slm_thread_pool_run(T < 16 ? NULL : pool, norm_task, &job, T < 16 ? 1 : slm_attention_tasks(pool));
}

void slm_norm_forward(const slm_norm *n, float *out, const float *x, int T, int C) {
    if (n->bias)
        slm_layernorm(out, x, n->weight, n->bias, T, C, n->eps);
    else
        slm_rmsnorm(out, x, n->weight, T, C, n->eps);
}

static void activate_range(slm_activation act, float *x, size_t n) {
    switch (act) {
    case SLM_ACT_GELU_TANH: slm_gelu_tanh(x, n); break;
    case SLM_ACT_GELU_ERF: slm_gelu_erf(x, n); break;
    case SLM_ACT_RELU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case SLM_ACT_SILU:
        for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    }
}

typedef struct {
    slm_activation act;
    float *x;
    size_t n;
} activation_job;

static void activation_task(void *ctx, int task, int n_tasks) {
    const activation_job *job = ctx;
    /* Chunks on 16-float boundaries so vector kernels see whole lanes. */
    size_t per = (job->n / (size_t)n_tasks + 15) & ~(size_t)15;
    size_t begin = per * (size_t)task;
    if (begin >= job->n) return;
    size_t end = begin + per < job->n ? begin + per : job->n;
    activate_range(job->act, job->x + begin, end - begin);
}

/* For long inputs the activation costs as much as a matmul when run on one thread. */
void slm_activate(slm_thread_pool *pool, slm_activation act, float *x, size_t n) {
    activation_job job = {act, x, n};
    slm_thread_pool_run(pool, activation_task, &job, n < 4096 ? 1 : slm_attention_tasks(pool));
}

void slm_rope_apply(const slm_rope *rope, float *x, int T, int stride, int n_heads, int head_dim,
                    int pos0) {
    int half = rope->rot_dim / 2;
    for (int t = 0; t < T; t++) {
        int pos = pos0 + t;
        for (int i = 0; i < half; i++) {
            /* Computed as the reference does: inv_freq in float32, angle = pos * inv_freq in float32. */
            float inv_freq = (float)(1.0 / pow((double)rope->theta, (double)(2 * i) / rope->rot_dim));
            float angle = (float)pos * inv_freq;
            float c = cosf(angle), s = sinf(angle);
            for (int h = 0; h < n_heads; h++) {
                float *v = x + (size_t)t * stride + (size_t)h * head_dim;
                int a = rope->interleaved ? 2 * i : i;
                int b = rope->interleaved ? 2 * i + 1 : i + half;
                float x1 = v[a], x2 = v[b];
                v[a] = x1 * c - x2 * s;
                v[b] = x2 * c + x1 * s;
            }
        }
    }
}

void slm_kv_store(const slm_kv_layer *kv, int n_kv_heads, int head_dim, const float *k, const float *v, int stride,
                  int T, int pos0) {
    for (int h = 0; h < n_kv_heads; h++) {
        size_t at = ((size_t)h * (size_t)kv->n_ctx + (size_t)pos0) * (size_t)head_dim;
        for (int t = 0; t < T; t++, at += (size_t)head_dim) {
            const float *kt = k + (size_t)t * stride + (size_t)h * head_dim;
            const float *vt = v + (size_t)t * stride + (size_t)h * head_dim;
            if (kv->dtype == SLM_DTYPE_F16) {
                uint16_t *kd = (uint16_t *)kv->k + at, *vd = (uint16_t *)kv->v + at;
                for (int i = 0; i < head_dim; i++) kd[i] = slm_f32_to_f16(kt[i]), vd[i] = slm_f32_to_f16(vt[i]);
            } else {
                memcpy((float *)kv->k + at, kt, (size_t)head_dim * sizeof(float));
                memcpy((float *)kv->v + at, vt, (size_t)head_dim * sizeof(float));
            }
        }
    }
}

int slm_attention_tasks(const slm_thread_pool *pool) {
    return pool ? slm_thread_pool_size(pool) : 1;
}

typedef struct {
    const slm_attention_shape *shape;
    const slm_kv_layer *kv;
    const float *q;
    int q_stride, T, pos0, n_ctx;
    float *out, *scratch;
} attention_job;

/* One (token, head) pair: the query at position pos0 + t sees keys [0, pos0 + t]. */
static void attend_one(const attention_job *job, int t, int h, float *scores) {
    const slm_attention_shape *sh = job->shape;
    int hd = sh->head_dim;
    int kv_head = h / (sh->n_heads / sh->n_kv_heads);
    const float *q = job->q + (size_t)t * job->q_stride + (size_t)h * hd;
    float *out = job->out + (size_t)t * sh->n_heads * hd + (size_t)h * hd;
    const slm_kv_layer *kv = job->kv;
    size_t head = (size_t)kv_head * (size_t)kv->n_ctx * (size_t)hd * slm_dtype_size(kv->dtype);
    slm_attend(q, kv->dtype, (const char *)kv->k + head, (const char *)kv->v + head, job->pos0 + t + 1, (size_t)hd, hd,
               sh->scale, scores, out);
}

static void attention_task(void *ctx, int task, int n_tasks) {
    const attention_job *job = ctx;
    int n_pairs = job->T * job->shape->n_heads;
    float *scores = job->scratch + (size_t)task * job->n_ctx;
    if (job->T == 1) { /* decode: a contiguous run of heads, one stream through the cache */
        for (int h = n_pairs * task / n_tasks; h < n_pairs * (task + 1) / n_tasks; h++) attend_one(job, 0, h, scores);
        return;
    }
    /* Strided, not contiguous: later tokens see more keys, so this balances causal work. */
    for (int p = task; p < n_pairs; p += n_tasks)
        attend_one(job, p / job->shape->n_heads, p % job->shape->n_heads, scores);
}

void slm_attention(slm_thread_pool *pool, const slm_attention_shape *shape, const slm_kv_layer *kv,
                   const float *q, int q_stride, int T, int pos0, float *out, float *scratch,
                   int n_ctx) {
    attention_job job = {shape, kv, q, q_stride, T, pos0, n_ctx, out, scratch};
    slm_thread_pool_run(pool, attention_task, &job, slm_attention_tasks(pool));
}
