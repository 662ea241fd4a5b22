/* encoder.c — the forward pass of a post-norm bidirectional encoder (BERT,
 * DistilBERT), shared by both families, and their heads (pooler, masked LM,
 * sequence and token classification, question answering).
 *
 * A batch is packed: the tokens of every sequence whose attention_mask is 1
 * become rows of one (N, d_model) matrix, so every linear layer is one matmul
 * over real tokens only, and attention of a row sees exactly the keys of its
 * own sequence. That is what Hugging Face computes (it adds a large negative
 * to masked keys, which gives them zero weight) without the work on padding.
 * Positions stay the column index in the padded row, as HF's position_ids do. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"

/* ---- loading helpers for bert.c, distilbert.c and albert.c ---- */

int slm_encoder_alloc_layers(slm_loader *ld) {
    slm_model *m = ld->model;
    if (ld->status) return 0;
    if (m->n_layers <= 0 || m->n_layers > 4096 || m->d_model <= 0 || m->n_vocab <= 0 || m->d_ff <= 0 ||
        m->n_ctx_train <= 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT,
                        "config: implausible sizes (layers %d, width %d, vocab %d, ff %d, positions %d)", m->n_layers,
                        m->d_model, m->n_vocab, m->d_ff, m->n_ctx_train);
        return 0;
    }
    if (m->n_heads <= 0 || m->d_model % m->n_heads != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %d attention heads do not divide the width %d", m->n_heads,
                        m->d_model);
        return 0;
    }
    m->n_kv_heads = m->n_heads;
    m->head_dim = m->d_model / m->n_heads;
    m->encoder.attn_scale = 1.0f / sqrtf((float)m->head_dim);
    m->encoder.layers = calloc((size_t)m->n_layers, sizeof *m->encoder.layers);
    if (!m->encoder.layers) slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "%d encoder layers", m->n_layers);
    return m->encoder.layers != NULL;
}

void slm_encoder_norm(slm_loader *ld, const char *base, float eps, slm_norm *out) {
    slm_encoder_norm_sized(ld, base, ld->model->d_model, eps, out);
}

void slm_encoder_norm_sized(slm_loader *ld, const char *base, int width, float eps, slm_norm *out) {
    char w[200], b[200];
    snprintf(w, sizeof w, "%s.weight", base);
    snprintf(b, sizeof b, "%s.bias", base);
    if (!slm_loader_has(ld, w)) { /* TF-era checkpoints: LayerNorm.gamma / LayerNorm.beta */
        char g[200];
        snprintf(g, sizeof g, "%s.gamma", base);
        if (slm_loader_has(ld, g)) {
            snprintf(w, sizeof w, "%s.gamma", base);
            snprintf(b, sizeof b, "%s.beta", base);
        }
    }
    out->weight = slm_loader_vector(ld, w, width, 0);
    out->bias = slm_loader_vector(ld, b, width, 0);
    out->eps = eps;
}

void slm_encoder_linear(slm_loader *ld, const char *base, int n_in, int n_out, int optional, slm_linear *out) {
    char name[200];
    snprintf(name, sizeof name, "%s.weight", base);
    if (optional && !slm_loader_has(ld, name)) return;
    slm_loader_matrix(ld, name, SLM_LAYOUT_OUT_IN, n_in, n_out, &out->w);
    snprintf(name, sizeof name, "%s.bias", base);
    out->bias = slm_loader_vector(ld, name, n_out, 0);
}

void slm_encoder_load_layer(slm_loader *ld, const char *prefix, const slm_encoder_layer_names *names, float eps,
                            slm_encoder_layer *L) {
    int d = ld->model->d_model, ff = ld->model->d_ff;
    char name[160];
#define LAYER_NAME(suffix) (snprintf(name, sizeof name, "%s%s", prefix, suffix), name)
    slm_encoder_linear(ld, LAYER_NAME(names->query), d, d, 0, &L->q);
    slm_encoder_linear(ld, LAYER_NAME(names->key), d, d, 0, &L->k);
    slm_encoder_linear(ld, LAYER_NAME(names->value), d, d, 0, &L->v);
    slm_encoder_linear(ld, LAYER_NAME(names->attn_output), d, d, 0, &L->o);
    slm_encoder_norm(ld, LAYER_NAME(names->attn_norm), eps, &L->attn_norm);
    slm_encoder_linear(ld, LAYER_NAME(names->up), d, ff, 0, &L->up);
    slm_encoder_linear(ld, LAYER_NAME(names->down), ff, d, 0, &L->down);
    slm_encoder_norm(ld, LAYER_NAME(names->mlp_norm), eps, &L->mlp_norm);
#undef LAYER_NAME
}

void slm_encoder_mlm_head(slm_loader *ld, const json_t *cfg, const char *head, const char *transform, int width,
                          float eps) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    char name[200];
    snprintf(name, sizeof name, "%sdense", transform);
    slm_encoder_linear(ld, name, m->d_model, width, 0, &e->mlm_transform);
    e->mlm_activation = m->activation;
    snprintf(name, sizeof name, "%sLayerNorm", transform);
    slm_encoder_norm_sized(ld, name, width, eps, &e->mlm_norm);
    int tied = !json_is_false(json_object_get(cfg, "tie_word_embeddings"));
    snprintf(name, sizeof name, "%s.decoder.weight", head);
    if (!tied && slm_loader_has(ld, name))
        slm_loader_matrix(ld, name, SLM_LAYOUT_OUT_IN, width, m->n_vocab, &e->mlm_decoder.w);
    else
        e->mlm_decoder.w = m->tok_embed;
    snprintf(name, sizeof name, "%s.bias", head); /* decoder.bias is the same tensor */
    if (!slm_loader_has(ld, name)) snprintf(name, sizeof name, "%s.decoder.bias", head);
    e->mlm_decoder.bias = slm_loader_vector(ld, name, m->n_vocab, 0);
    e->heads |= 1 << SLM_HEAD_MLM;
}

void slm_encoder_task_heads(slm_loader *ld, const json_t *cfg, const char *pooler_name) {
    slm_encoder *e = &ld->model->encoder;
    int d = ld->model->d_model;
    int n_labels = slm_loader_rows(ld, "classifier.weight");
    if (n_labels) {
        const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
        int token_level = arch ? strstr(arch, "TokenClassification") != NULL : !e->pooler.w.data;
        if (!token_level && !e->pooler.w.data) {
            slm_loader_fail(ld, SLM_ERR_FORMAT, "tensor classifier.weight: sequence classification needs %s",
                            pooler_name);
            return;
        }
        slm_linear *head = token_level ? &e->tokcls : &e->seqcls;
        slm_encoder_linear(ld, "classifier", d, n_labels, 0, head);
        e->heads |= 1 << (token_level ? SLM_HEAD_TOKCLS : SLM_HEAD_SEQCLS);
    }
    if (slm_loader_has(ld, "qa_outputs.weight")) {
        slm_encoder_linear(ld, "qa_outputs", d, 2, 0, &e->qa);
        e->heads |= 1 << SLM_HEAD_QA;
    }
}

void slm_encoder_labels(slm_loader *ld, const json_t *cfg) {
    slm_encoder *e = &ld->model->encoder;
    if (ld->status) return;
    const json_t *id2label = json_object_get(cfg, "id2label");
    int n = 0;
    if (e->seqcls.w.data)
        n = e->seqcls.w.n_out;
    else if (e->tokcls.w.data)
        n = e->tokcls.w.n_out;
    else if (json_is_integer(json_object_get(cfg, "num_labels")))
        n = slm_config_int(ld, cfg, "num_labels", 0, 0);
    else if (json_is_object(id2label))
        n = (int)json_object_size(id2label);
    if (n > 1 << 20) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %d labels is implausible", n);
        return;
    }
    if (n == 0) return;
    e->labels = calloc((size_t)n, sizeof *e->labels);
    if (!e->labels) {
        slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "%d labels", n);
        return;
    }
    e->num_labels = n;
    for (int i = 0; i < n; i++) {
        char key[16], fallback[24];
        snprintf(key, sizeof key, "%d", i);
        snprintf(fallback, sizeof fallback, "LABEL_%d", i);
        const char *label = json_string_value(json_object_get(id2label, key));
        e->labels[i] = strdup(label ? label : fallback);
        if (!e->labels[i]) {
            slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "label %d", i);
            return;
        }
    }
}

void slm_encoder_free(slm_encoder *e) {
    for (int i = 0; i < e->num_labels; i++) free(e->labels[i]);
    free(e->labels);
    free(e->layers);
    slm_mobilebert_free(e->mobilebert);
    slm_flaubert_free(e->flaubert);
    memset(e, 0, sizeof *e);
}

/* ---- scratch ---- */

void slm_encoder_scratch_free(slm_encoder_scratch *s) {
    free(s->x);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->h);
    free(s->ff);
    free(s->scores);
    free(s->head_out);
    free(s->row_seq);
    free(s->row_pos);
    free(s->seq_first);
    free(s->seq_keys);
    free(s->seq_rows);
    memset(s, 0, sizeof *s);
}

static int grow(void *ptr, size_t n, size_t size) {
    void **p = ptr;
    void *q = realloc(*p, n ? n * size : 1);
    if (!q) return 0;
    *p = q;
    return 1;
}

/* Makes room for rows packed tokens, keys scores per task and seqs sequences. */
static slm_status scratch_reserve(const slm_model *m, slm_encoder_scratch *s, size_t rows, size_t keys,
                                  size_t seqs, size_t head_width, slm_error *err) {
    size_t d = (size_t)m->d_model, ff = (size_t)m->d_ff;
    int ok = 1;
    if (rows > s->cap_rows) {
        ok = grow(&s->x, rows * d, sizeof(float)) && grow(&s->q, rows * d, sizeof(float)) &&
             grow(&s->k, rows * d, sizeof(float)) && grow(&s->v, rows * d, sizeof(float)) &&
             grow(&s->att, rows * d, sizeof(float)) && grow(&s->h, rows * d, sizeof(float)) &&
             grow(&s->ff, rows * ff, sizeof(float)) && grow(&s->row_seq, rows, sizeof(int)) &&
             grow(&s->row_pos, rows, sizeof(int));
        if (ok) s->cap_rows = rows;
    }
    if (ok && keys > s->cap_keys) {
        ok = grow(&s->scores, keys, sizeof(float));
        if (ok) s->cap_keys = keys;
    }
    if (ok && seqs > s->cap_seqs) {
        ok = grow(&s->seq_first, seqs, sizeof(int)) && grow(&s->seq_keys, seqs, sizeof(int)) &&
             grow(&s->seq_rows, seqs, sizeof(int));
        if (ok) s->cap_seqs = seqs;
    }
    if (ok && rows * head_width > s->cap_out) {
        ok = grow(&s->head_out, rows * head_width, sizeof(float));
        if (ok) s->cap_out = rows * head_width;
    }
    if (!ok) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "encoder scratch for %zu tokens", rows);
    return SLM_OK;
}

/* ---- the batch ---- */

static const char *head_name(slm_encode_output what) {
    switch (what) {
    case SLM_ENCODE_HIDDEN: return "base";
    case SLM_ENCODE_POOLER: return "pooler";
    case SLM_ENCODE_MLM: return "masked-LM (mlm)";
    case SLM_ENCODE_SEQCLS: return "sequence-classification (seqcls)";
    case SLM_ENCODE_TOKCLS: return "token-classification (tokcls)";
    case SLM_ENCODE_QA: return "question-answering (qa)";
    }
    return "unknown";
}

static int has_output(const slm_model *m, slm_encode_output what) {
    const slm_encoder *e = &m->encoder;
    switch (what) {
    case SLM_ENCODE_HIDDEN: return 1;
    case SLM_ENCODE_POOLER: return e->pooler.w.data != NULL;
    case SLM_ENCODE_MLM: return e->mlm_transform.w.data != NULL;
    case SLM_ENCODE_SEQCLS: return e->seqcls.w.data != NULL;
    case SLM_ENCODE_TOKCLS: return e->tokcls.w.data != NULL;
    case SLM_ENCODE_QA: return e->qa.w.data != NULL;
    }
    return 0;
}

static slm_status check_batch(const slm_model *m, const slm_batch *b, slm_encode_output what, const float *out,
                              slm_error *err) {
    if (!b) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "batch is NULL");
    if (what < SLM_ENCODE_HIDDEN || what > SLM_ENCODE_QA)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "output: unknown kind %d", (int)what);
    if (!has_output(m, what))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: the model has no %s head", m->dir, head_name(what));
    if (b->n_seqs <= 0 || b->seq_len <= 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "batch of %d sequences of %d tokens: both must be positive",
                        b->n_seqs, b->seq_len);
    if (b->seq_len > m->n_ctx_train)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "seq_len %d exceeds the model's max_position_embeddings (%d)",
                        b->seq_len, m->n_ctx_train);
    if ((size_t)b->n_seqs * (size_t)b->seq_len > (size_t)INT_MAX / 4)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "batch of %d x %d tokens is too large", b->n_seqs, b->seq_len);
    if (!b->ids) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "batch ids is NULL");
    if (!out) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "out is NULL");
    int type_vocab = m->encoder.type_embed.data ? m->encoder.type_vocab_size : 0;
    for (int s = 0; s < b->n_seqs; s++) {
        int tokens = 0;
        for (int t = 0; t < b->seq_len; t++) {
            size_t i = (size_t)s * b->seq_len + t;
            if (b->ids[i] < 0 || b->ids[i] >= m->n_vocab)
                return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                                "token id %d at sequence %d position %d is outside the vocabulary (%d)", b->ids[i], s,
                                t, m->n_vocab);
            /* DistilBERT has no token types: type_ids are ignored, as its tokenizer emits none. */
            if (b->type_ids && type_vocab && (b->type_ids[i] < 0 || b->type_ids[i] >= type_vocab))
                return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                                "token type %d at sequence %d position %d is outside type_vocab_size (%d)",
                                b->type_ids[i], s, t, type_vocab);
            if (b->attention_mask && b->attention_mask[i] != 0 && b->attention_mask[i] != 1)
                return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                                "attention_mask %d at sequence %d position %d is not 0 or 1", b->attention_mask[i], s,
                                t);
            tokens += b->attention_mask ? b->attention_mask[i] : 1;
        }
        if (tokens == 0)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "sequence %d has no tokens (attention_mask is all 0)", s);
    }
    return SLM_OK;
}

/* Packs the batch into rows: per sequence, its unmasked tokens in order (the
 * keys, contiguous), then position 0 again as a query-only row when position 0
 * is masked, so the [CLS] outputs exist for any mask. Returns the row count. */
static int pack(const slm_batch *b, slm_encoder_scratch *s) {
    int n = 0;
    for (int q = 0; q < b->n_seqs; q++) {
        const int32_t *mask = b->attention_mask ? b->attention_mask + (size_t)q * b->seq_len : NULL;
        s->seq_first[q] = n;
        for (int t = 0; t < b->seq_len; t++) {
            if (mask && !mask[t]) continue;
            s->row_seq[n] = q;
            s->row_pos[n++] = t;
        }
        s->seq_keys[q] = n - s->seq_first[q];
        if (mask && !mask[0]) {
            s->row_seq[n] = q;
            s->row_pos[n++] = 0;
        }
        s->seq_rows[q] = n - s->seq_first[q];
    }
    return n;
}

static size_t count_rows(const slm_batch *b) {
    size_t n = 0;
    for (int q = 0; q < b->n_seqs; q++) {
        const int32_t *mask = b->attention_mask ? b->attention_mask + (size_t)q * b->seq_len : NULL;
        for (int t = 0; t < b->seq_len; t++) n += mask ? (size_t)mask[t] : 1;
        if (mask && !mask[0]) n++;
    }
    return n;
}

/* x (N, d) = LayerNorm(word + token type + position embeddings), d the
 * tables' width: d_model, or ALBERT's narrower embedding_size. */
static void embed(const slm_model *m, const slm_batch *b, const slm_encoder_scratch *s, int N) {
    const slm_encoder *e = &m->encoder;
    int d = m->tok_embed.n_in;
    float *row = s->h; /* one row of scratch for the added tables */
    for (int r = 0; r < N; r++) {
        size_t i = (size_t)s->row_seq[r] * b->seq_len + s->row_pos[r];
        float *x = s->x + (size_t)r * d;
        slm_matrix_row(&m->tok_embed, b->ids[i], x);
        if (e->type_embed.data) {
            slm_matrix_row(&e->type_embed, b->type_ids ? b->type_ids[i] : 0, row);
            slm_add(x, row, (size_t)d);
        }
        slm_matrix_row(&m->pos_embed, s->row_pos[r], row);
        slm_add(x, row, (size_t)d);
    }
    slm_norm_forward(&e->embed_norm, s->x, s->x, N, d);
}

typedef struct {
    const slm_model *m;
    const slm_encoder_scratch *s;
    int n_seqs, buffer_stride;
    int width; /* floats per row of q, k, v and att: d_model, or MobileBERT's narrower true_hidden_size */
} attention_job;

/* Floats one attention task needs for a sequence of up to L tokens: the
 * head's queries, keys, values and output gathered contiguous, and the scores. */
static size_t attention_buffer(size_t L, size_t head_dim) { return L * L + 4 * L * head_dim; }

/* Gathers a head's columns (rows of hd floats, `stride` apart) into a dense (n, hd) block,
 * times scale. Row by row with the vector helpers: a plain loop is not vectorised at -O2
 * and cost a quarter of the attention at head_dim 64. */
static void gather_head(float *dst, const float *src, int n, int hd, int stride, float scale) {
    for (int r = 0; r < n; r++) {
        float *d = dst + (size_t)r * hd;
        const float *row = src + (size_t)r * stride;
        if (scale == 1.0f) {
            memcpy(d, row, (size_t)hd * sizeof(float));
        } else {
            memset(d, 0, (size_t)hd * sizeof(float));
            slm_axpy(d, scale, row, hd);
        }
    }
}

/* One (sequence, head): S = (Q scale) K^T, softmax by row, O = S V, all with the
 * matmul kernels (a sequence attends only to its own real tokens, so no mask is needed). */
static void attention_task(void *ctx, int task, int n_tasks) {
    const attention_job *job = ctx;
    const slm_model *m = job->m;
    const slm_encoder_scratch *s = job->s;
    int d = job->width, hd = m->head_dim, n_heads = m->n_heads;
    float *buf = s->scores + (size_t)task * job->buffer_stride;
    /* Contiguous runs of (sequence, head): the matmuls before split q, k and v by
     * columns in the same order, so a task's heads are mostly in its core's cache. */
    int pairs = job->n_seqs * n_heads;
    int p1 = (int)((long long)pairs * (task + 1) / n_tasks);
    for (int p = (int)((long long)pairs * task / n_tasks); p < p1; p++) {
        int seq = p / n_heads, h = p % n_heads;
        int rows = s->seq_rows[seq], keys = s->seq_keys[seq];
        size_t first = (size_t)s->seq_first[seq] * d + (size_t)h * hd;
        float *q = buf, *k = q + (size_t)rows * hd, *v = k + (size_t)keys * hd, *o = v + (size_t)keys * hd;
        float *scores = o + (size_t)rows * hd;
        gather_head(q, s->q + first, rows, hd, d, m->encoder.attn_scale);
        gather_head(k, s->k + first, keys, hd, d, 1.0f);
        gather_head(v, s->v + first, keys, hd, d, 1.0f);
        slm_matrix keys_as_weights = {SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, hd, keys, k};
        slm_matmul(NULL, scores, q, rows, &keys_as_weights, NULL);
        for (int r = 0; r < rows; r++) slm_softmax(scores + (size_t)r * keys, keys);
        slm_matrix values_as_weights = {SLM_DTYPE_F32, SLM_LAYOUT_IN_OUT, keys, hd, v};
        slm_matmul(NULL, o, scores, rows, &values_as_weights, NULL);
        for (int r = 0; r < rows; r++)
            memcpy(s->att + first + (size_t)r * d, o + (size_t)r * hd, (size_t)hd * sizeof(float));
    }
}

typedef struct {
    const slm_norm *norm;
    float *x;       /* (N, d): the residual in, the normed sum out */
    float *h;       /* (N, d): the sublayer's output, overwritten by the sum */
    int N, d;
} residual_norm_job;

static void residual_norm_task(void *ctx, int task, int n_tasks) {
    const residual_norm_job *job = ctx;
    int r0 = (int)((long long)job->N * task / n_tasks), r1 = (int)((long long)job->N * (task + 1) / n_tasks);
    if (r1 <= r0) return;
    float *h = job->h + (size_t)r0 * job->d, *x = job->x + (size_t)r0 * job->d;
    slm_add(h, x, (size_t)(r1 - r0) * job->d);
    slm_norm_forward(job->norm, x, h, r1 - r0, job->d);
}

/* x = norm(h + x), post-norm's residual step, in one pass over rows split
 * across the pool (each thread adds and normalises the same rows). */
static void residual_norm(slm_thread_pool *pool, const slm_norm *norm, float *x, float *h, int N, int d) {
    residual_norm_job job = {norm, x, h, N, d};
    int tasks = N < 16 ? 1 : slm_attention_tasks(pool);
    slm_thread_pool_run(tasks > 1 ? pool : NULL, residual_norm_task, &job, tasks);
}

static void layer_forward(const slm_model *m, const slm_encoder_layer *L, slm_thread_pool *pool,
                          const slm_encoder_scratch *s, int N, int n_seqs, int buffer_stride) {
    int d = m->d_model;
    slm_linear_forward(pool, &L->q, s->q, s->x, N);
    slm_linear_forward(pool, &L->k, s->k, s->x, N);
    slm_linear_forward(pool, &L->v, s->v, s->x, N);
    attention_job job = {m, s, n_seqs, buffer_stride, d};
    slm_thread_pool_run(pool, attention_task, &job, slm_attention_tasks(pool));
    slm_linear_forward(pool, &L->o, s->h, s->att, N);
    residual_norm(pool, &L->attn_norm, s->x, s->h, N, d);
    slm_linear_forward(pool, &L->up, s->ff, s->x, N);
    slm_activate(pool, m->activation, s->ff, (size_t)N * m->d_ff);
    slm_linear_forward(pool, &L->down, s->h, s->ff, N);
    residual_norm(pool, &L->mlp_norm, s->x, s->h, N, d);
}

/* Per-token output: rows of in (N, lin's n_in; d_model when lin is NULL) through lin
 * (NULL = copied) into out (n_seqs, seq_len, width), one matmul per run of consecutive positions. */
static void per_token(const slm_model *m, slm_thread_pool *pool, const slm_encoder_scratch *s,
                      const slm_batch *b, const slm_linear *lin, const float *in, int N, int width, float *out) {
    int d = lin ? lin->w.n_in : m->d_model;
    memset(out, 0, (size_t)b->n_seqs * b->seq_len * width * sizeof(float));
    for (int r = 0; r < N;) {
        int len = 1;
        while (r + len < N && s->row_seq[r + len] == s->row_seq[r] && s->row_pos[r + len] == s->row_pos[r] + len)
            len++;
        float *dst = out + ((size_t)s->row_seq[r] * b->seq_len + s->row_pos[r]) * width;
        if (lin)
            slm_linear_forward(pool, lin, dst, in + (size_t)r * d, len);
        else
            memcpy(dst, in + (size_t)r * d, (size_t)len * d * sizeof(float));
        r += len;
    }
}

/* The row holding position 0 ([CLS]) of sequence q. */
static int cls_row(const slm_encoder_scratch *s, const slm_batch *b, int q) {
    const int32_t *mask = b->attention_mask ? b->attention_mask + (size_t)q * b->seq_len : NULL;
    return s->seq_first[q] + (mask && !mask[0] ? s->seq_keys[q] : 0);
}

static void apply_tanh(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

/* pooled (n_seqs, d) = the [CLS] rows through the pooler (BERT) or pre_classifier (DistilBERT). */
static void pool_cls(const slm_model *m, slm_thread_pool *pool, const slm_encoder_scratch *s, const slm_batch *b,
                     const slm_linear *lin, int relu, float *pooled) {
    int d = m->d_model;
    for (int q = 0; q < b->n_seqs; q++)
        memcpy(s->att + (size_t)q * d, s->x + (size_t)cls_row(s, b, q) * d, (size_t)d * sizeof(float));
    slm_linear_forward(pool, lin, pooled, s->att, b->n_seqs);
    size_t n = (size_t)b->n_seqs * d;
    if (relu)
        slm_activate(pool, SLM_ACT_RELU, pooled, n);
    else
        apply_tanh(pooled, n);
}

slm_status slm_encoder_run(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s,
                           const slm_batch *b, slm_encode_output what, float *out, slm_error *err) {
    if (m->encoder.mobilebert) return slm_mobilebert_run(m, pool, s, b, what, out, err);
    if (m->encoder.flaubert) return slm_flaubert_run(m, pool, s, b, what, out, err);
    slm_status st = check_batch(m, b, what, out, err);
    if (st) return st;
    const slm_encoder *e = &m->encoder;
    size_t rows = count_rows(b);
    size_t tasks = (size_t)slm_attention_tasks(pool);
    /* A left-padded row adds one query beyond seq_len keys, hence seq_len + 1. */
    size_t buffer = attention_buffer((size_t)b->seq_len + 1, (size_t)m->head_dim);
    st = scratch_reserve(m, s, rows, tasks * buffer, (size_t)b->n_seqs, 2, err);
    if (st) return st;
    int N = pack(b, s), d = m->d_model;
    embed(m, b, s, N);
    if (e->embed_project.w.data) { /* ALBERT: (N, embedding_size) up to (N, d_model) */
        slm_linear_forward(pool, &e->embed_project, s->h, s->x, N);
        memcpy(s->x, s->h, (size_t)N * d * sizeof(float));
    }
    for (int l = 0; l < m->n_layers; l++) layer_forward(m, &e->layers[l], pool, s, N, b->n_seqs, (int)buffer);

    switch (what) {
    case SLM_ENCODE_HIDDEN: per_token(m, pool, s, b, NULL, s->x, N, d, out); break;
    case SLM_ENCODE_POOLER: pool_cls(m, pool, s, b, &e->pooler, 0, out); break;
    case SLM_ENCODE_SEQCLS:
        if (e->seqcls_pre.w.data)
            pool_cls(m, pool, s, b, &e->seqcls_pre, 1, s->h);
        else
            pool_cls(m, pool, s, b, &e->pooler, 0, s->h);
        slm_linear_forward(pool, &e->seqcls, out, s->h, b->n_seqs);
        break;
    case SLM_ENCODE_TOKCLS: per_token(m, pool, s, b, &e->tokcls, s->x, N, e->tokcls.w.n_out, out); break;
    case SLM_ENCODE_MLM: /* the transform's width: d_model, or ALBERT's embedding_size */
        slm_linear_forward(pool, &e->mlm_transform, s->h, s->x, N);
        slm_activate(pool, e->mlm_activation, s->h, (size_t)N * e->mlm_transform.w.n_out);
        slm_norm_forward(&e->mlm_norm, s->h, s->h, N, e->mlm_transform.w.n_out);
        per_token(m, pool, s, b, &e->mlm_decoder, s->h, N, m->n_vocab, out);
        break;
    case SLM_ENCODE_QA: {
        slm_linear_forward(pool, &e->qa, s->head_out, s->x, N);
        memset(out, 0, (size_t)b->n_seqs * 2 * b->seq_len * sizeof(float));
        for (int r = 0; r < N; r++) {
            float *start = out + (size_t)s->row_seq[r] * 2 * b->seq_len;
            start[s->row_pos[r]] = s->head_out[2 * r];
            start[b->seq_len + s->row_pos[r]] = s->head_out[2 * r + 1];
        }
        break;
    }
    }
    return SLM_OK;
}

/* ---- the batch machinery, for a family with its own layer (mobilebert.c) ---- */

slm_status slm_encoder_prepare(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s, const slm_batch *b,
                               slm_encode_output what, const float *out, size_t extra, int *n_rows,
                               int *buffer_stride, slm_error *err) {
    slm_status st = check_batch(m, b, what, out, err);
    if (st) return st;
    size_t buffer = attention_buffer((size_t)b->seq_len + 1, (size_t)m->head_dim);
    st = scratch_reserve(m, s, count_rows(b), (size_t)slm_attention_tasks(pool) * buffer, (size_t)b->n_seqs,
                         extra > 2 ? extra : 2, err);
    if (st) return st;
    *n_rows = pack(b, s);
    *buffer_stride = (int)buffer;
    return SLM_OK;
}

void slm_encoder_attention(const slm_model *m, slm_thread_pool *pool, const slm_encoder_scratch *s, int n_seqs,
                           int buffer_stride, int width) {
    attention_job job = {m, s, n_seqs, buffer_stride, width};
    slm_thread_pool_run(pool, attention_task, &job, slm_attention_tasks(pool));
}

void slm_encoder_per_token(const slm_model *m, slm_thread_pool *pool, const slm_encoder_scratch *s,
                           const slm_batch *b, const slm_linear *lin, const float *in, int N, int width, float *out) {
    per_token(m, pool, s, b, lin, in, N, width, out);
}
