/* decoder.c — the forward pass of a pre-norm decoder-only transformer, shared
 * by every family: embeddings -> blocks (norm, attention, residual, norm, MLP,
 * residual; or Phi's one norm feeding both in parallel) -> final norm.
 * The logits head is applied by the session (model.c). */
#include <stdlib.h>
#include <string.h>

#include "models/family.h"

static int q_dim(const slm_model *m) { return m->n_heads * m->head_dim; }
static int kv_dim(const slm_model *m) { return m->n_kv_heads * m->head_dim; }

slm_status slm_scratch_init(slm_scratch *s, const slm_model *m, int max_T, int n_ctx, int n_tasks,
                            slm_error *err) {
    memset(s, 0, sizeof *s);
    s->max_T = max_T;
    size_t T = (size_t)max_T;
    size_t width = m->d_model > q_dim(m) ? m->d_model : q_dim(m);
    s->x = malloc(T * m->d_model * sizeof(float));
    s->xn = malloc(T * width * sizeof(float));
    s->qkv = malloc(T * (q_dim(m) + 2 * kv_dim(m)) * sizeof(float));
    s->qkv_split = malloc(T * (q_dim(m) + 2 * kv_dim(m)) * sizeof(float));
    s->att = malloc(T * width * sizeof(float));
    s->hb = malloc(T * m->d_ff * sizeof(float));
    s->hb2 = malloc(T * m->d_ff * sizeof(float));
    s->att_scratch = malloc((size_t)n_tasks * n_ctx * sizeof(float));
    if (!s->x || !s->xn || !s->qkv || !s->qkv_split || !s->att || !s->hb || !s->hb2 || !s->att_scratch) {
        slm_scratch_free(s);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "scratch buffers for %d tokens", max_T);
    }
    return SLM_OK;
}

void slm_scratch_free(slm_scratch *s) {
    free(s->x);
    free(s->xn);
    free(s->qkv);
    free(s->qkv_split);
    free(s->att);
    free(s->hb);
    free(s->hb2);
    free(s->att_scratch);
    memset(s, 0, sizeof *s);
}

/* Where the rows of one pass sit. A prompt or a single decode step is one
 * sequence at positions pos0, pos0+1, ... with one cache; a batched decode
 * step (slm_decoder_forward_rows) has one row per sequence, row t at position
 * row_pos[t] of its own cache row_kv[t]. Only rotary embeddings, the KV store
 * and attention look at positions; everything else works on all rows at once. */
typedef struct {
    const slm_kv_layer *kv;            /* one sequence: its cache (n_layers entries) */
    int pos0;
    const slm_kv_layer *const *row_kv; /* per row: that sequence's cache, or NULL for one sequence */
    const int *row_pos;                /* per row: its position */
    int n_ctx;                         /* scores per attention task in s->att_scratch */
} rows_place;

static int row_position(const rows_place *p, int t) { return p->row_kv ? p->row_pos[t] : p->pos0 + t; }

static void embed(const slm_model *m, float *x, const int32_t *ids, int T, const rows_place *p) {
    int d = m->d_model;
    for (int t = 0; t < T; t++) {
        slm_matrix_row(&m->tok_embed, ids[t], x + (size_t)t * d);
        if (m->pos_embed.data) {
            float pos_row[d];
            slm_matrix_row(&m->pos_embed, row_position(p, t), pos_row);
            slm_add(x + (size_t)t * d, pos_row, d);
        }
    }
}

/* Projects xn into q, k, v: one fused matmul or three, into one row of stride qkv_width. */
static void project_qkv(const slm_model *m, const slm_block *b, slm_thread_pool *pool, float *qkv,
                        float *split, const float *xn, int T) {
    int qw = q_dim(m), kw = kv_dim(m), width = qw + 2 * kw;
    if (b->qkv.w.data) {
        slm_linear_forward(pool, &b->qkv, qkv, xn, T);
        return;
    }
    /* Separate projections land in separate row blocks, then interleave into rows. */
    float *q = split;
    float *k = q + (size_t)T * qw, *v = k + (size_t)T * kw;
    slm_linear_forward(pool, &b->q, q, xn, T);
    slm_linear_forward(pool, &b->k, k, xn, T);
    slm_linear_forward(pool, &b->v, v, xn, T);
    for (int t = 0; t < T; t++) {
        float *row = qkv + (size_t)t * width;
        memcpy(row, q + (size_t)t * qw, qw * sizeof(float));
        memcpy(row + qw, k + (size_t)t * kw, kw * sizeof(float));
        memcpy(row + qw + kw, v + (size_t)t * kw, kw * sizeof(float));
    }
}

/* Rotary embedding, KV store and attention of T rows of s->qkv that are one
 * sequence at pos0.. with cache kv; out (T, n_heads*head_dim). */
static void attend_sequence(const slm_model *m, const slm_block *b, slm_thread_pool *pool, slm_scratch *s,
                            const slm_kv_layer *kv, int n_ctx, float *qkv, float *out, int T, int pos0) {
    int qw = q_dim(m), kw = kv_dim(m), width = qw + 2 * kw;
    if (m->use_rope) {
        slm_rope_apply(&m->rope, qkv, T, width, m->n_heads, m->head_dim, pos0);
        slm_rope_apply(&m->rope, qkv + qw, T, width, m->n_kv_heads, m->head_dim, pos0);
    }
    slm_kv_store(kv, m->n_kv_heads, m->head_dim, qkv + qw, qkv + qw + kw, width, T, pos0);
    slm_attention_shape shape = {m->n_heads, m->n_kv_heads, m->head_dim, b->attn_scale};
    slm_attention(pool, &shape, kv, qkv, width, T, pos0, out, s->att_scratch, n_ctx);
}

/* Attention of the normed rows s->xn (T, d_model) into s->att (T, n_heads*head_dim), storing K/V.
 * The projections run on all rows together; a batched step then attends row by row, each
 * row against its own sequence's cache of layer l. */
static void attend(const slm_model *m, const slm_block *b, int l, slm_thread_pool *pool, slm_scratch *s,
                   const rows_place *p, int T) {
    int qw = q_dim(m), width = qw + 2 * kv_dim(m);
    project_qkv(m, b, pool, s->qkv, s->qkv_split, s->xn, T);
    if (!p->row_kv) {
        attend_sequence(m, b, pool, s, &p->kv[l], p->n_ctx, s->qkv, s->att, T, p->pos0);
        return;
    }
    for (int t = 0; t < T; t++)
        attend_sequence(m, b, pool, s, &p->row_kv[t][l], p->n_ctx, s->qkv + (size_t)t * width,
                        s->att + (size_t)t * qw, 1, p->row_pos[t]);
}

/* The MLP's activated hidden rows (T, d_ff) from s->xn: act(up) or silu(gate) * up. */
static const float *mlp_hidden(const slm_model *m, const slm_block *b, slm_thread_pool *pool, slm_scratch *s,
                               int T) {
    size_t n = (size_t)T * m->d_ff;
    slm_linear_forward(pool, &b->up, s->hb, s->xn, T);
    if (b->gate.w.data) {
        slm_linear_forward(pool, &b->gate, s->hb2, s->xn, T);
        slm_silu_mul(s->hb2, s->hb, n);
        return s->hb2;
    }
    slm_activate(pool, m->activation, s->hb, n);
    return s->hb;
}

/* The residual update x += out(in) (T rows), through s->xn. */
static void add_projection(const slm_model *m, const slm_linear *out, slm_thread_pool *pool, slm_scratch *s,
                           const float *in, int T) {
    slm_linear_forward(pool, out, s->xn, in, T);
    slm_add(s->x, s->xn, (size_t)T * m->d_model);
}

/* Sequential: x += o(attention(attn_norm(x))); x += down(mlp(mlp_norm(x))).
 * Parallel (Phi): both branches read attn_norm(x) and add to the same x. */
static void block_forward(const slm_model *m, int l, slm_thread_pool *pool, slm_scratch *s, const rows_place *p,
                          int T) {
    const slm_block *b = &m->blocks[l];
    int d = m->d_model;
    slm_norm_rows(pool, &b->attn_norm, s->xn, s->x, T, d);
    attend(m, b, l, pool, s, p, T);
    if (m->parallel_blocks) {
        const float *h = mlp_hidden(m, b, pool, s, T); /* before add_projection reuses s->xn */
        add_projection(m, &b->o, pool, s, s->att, T);
        add_projection(m, &b->down, pool, s, h, T);
        return;
    }
    add_projection(m, &b->o, pool, s, s->att, T);
    slm_norm_rows(pool, &b->mlp_norm, s->xn, s->x, T, d);
    const float *h = mlp_hidden(m, b, pool, s, T);
    add_projection(m, &b->down, pool, s, h, T);
}

static void forward_rows(const slm_model *m, slm_thread_pool *pool, slm_scratch *s, const rows_place *p,
                         const int32_t *ids, int T) {
    embed(m, s->x, ids, T, p);
    for (int l = 0; l < m->n_layers; l++) block_forward(m, l, pool, s, p, T);
    slm_norm_forward(&m->final_norm, s->xn, s->x, T, m->d_model);
}

void slm_decoder_forward(const slm_model *m, slm_thread_pool *pool, slm_scratch *s,
                         const slm_kv_layer *kv, int n_ctx, const int32_t *ids, int T, int pos0) {
    rows_place p = {kv, pos0, NULL, NULL, n_ctx};
    forward_rows(m, pool, s, &p, ids, T);
}

void slm_decoder_forward_rows(const slm_model *m, slm_thread_pool *pool, slm_scratch *s,
                              const slm_kv_layer *const *kv, int max_ctx, const int32_t *ids, const int *pos,
                              int n) {
    rows_place p = {NULL, 0, kv, pos, max_ctx};
    forward_rows(m, pool, s, &p, ids, n);
}
