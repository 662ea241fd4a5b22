/* llama2c.c — reading karpathy/llama2.c checkpoints (f32) and exposing their
 * tensors under Hugging Face Llama names, as views into the mapped file.
 *
 * Legacy header (run.c): 7 int32 {dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len}; a negative vocab_size means the classifier
 * is not shared with the embedding. Then f32 arrays in run.c's order:
 *   token_embedding (vocab, dim), rms_att (L, dim), wq (L, dim, dim),
 *   wk (L, kv_dim, dim), wv (L, kv_dim, dim), wo (L, dim, dim), rms_ffn (L, dim),
 *   w1 (L, hidden, dim), w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim),
 *   freq_cis_real (seq_len, head_size/2), freq_cis_imag (same), [wcls (vocab, dim)].
 * Version 1 header (export.py): u32 magic "ak42", i32 version, the 7 int32,
 * u8 shared_classifier, zero padding to 256 bytes. Then f32 in the order:
 *   rms_att (L, dim), rms_ffn (L, dim), rms_final (dim), token_embedding (vocab, dim),
 *   wq, wk, wv, wo, w1, w2, w3 (each stacked over L), [wcls (vocab, dim)].
 * Matrices are (out, in) row-major in both, as in PyTorch and Hugging Face. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/weights.h"

#define LLAMA2C_MAGIC 0x616b3432u /* "ak42" read as little-endian u32 */
#define V1_HEADER_BYTES 256
#define LEGACY_HEADER_BYTES 28

/* Generous ceilings that keep every size below computed in 64 bits without overflow. */
#define MAX_DIM (1 << 20)
#define MAX_LAYERS (1 << 12)
#define MAX_VOCAB (1 << 24)
#define MAX_SEQ (1 << 24)

static int32_t read_i32_le(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t s;
    memcpy(&s, &v, sizeof s);
    return s;
}

/* Reads the 7 parameters at p into cfg; vocab_size keeps its sign for the caller. */
static void read_params(const uint8_t *p, slm_llama2c_config *cfg) {
    cfg->dim = read_i32_le(p);
    cfg->hidden_dim = read_i32_le(p + 4);
    cfg->n_layers = read_i32_le(p + 8);
    cfg->n_heads = read_i32_le(p + 12);
    cfg->n_kv_heads = read_i32_le(p + 16);
    cfg->vocab_size = read_i32_le(p + 20);
    cfg->seq_len = read_i32_le(p + 24);
}

static slm_status check_range(const char *path, const char *what, int value, int max, slm_error *err) {
    if (value <= 0 || value > max)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: header %s = %d is not in [1, %d]: not a llama2.c checkpoint?", path, what,
                        value, max);
    return SLM_OK;
}

static slm_status check_config(const char *path, const slm_llama2c_config *c, slm_error *err) {
    slm_status st = check_range(path, "dim", c->dim, MAX_DIM, err);
    if (!st) st = check_range(path, "hidden_dim", c->hidden_dim, 4 * MAX_DIM, err);
    if (!st) st = check_range(path, "n_layers", c->n_layers, MAX_LAYERS, err);
    if (!st) st = check_range(path, "n_heads", c->n_heads, c->dim, err);
    if (!st) st = check_range(path, "n_kv_heads", c->n_kv_heads, c->n_heads, err);
    if (!st) st = check_range(path, "vocab_size", c->vocab_size, MAX_VOCAB, err);
    if (!st) st = check_range(path, "seq_len", c->seq_len, MAX_SEQ, err);
    if (st) return st;
    if (c->dim % c->n_heads)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: n_heads = %d does not divide dim = %d", path, c->n_heads, c->dim);
    if (c->n_heads % c->n_kv_heads)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: n_kv_heads = %d does not divide n_heads = %d", path, c->n_kv_heads,
                        c->n_heads);
    if ((c->dim / c->n_heads) % 2)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: head size %d is odd; rotary embeddings need pairs", path,
                        c->dim / c->n_heads);
    return SLM_OK;
}

/* Walks the stacked f32 arrays in file order. */
typedef struct {
    const uint8_t *base; /* first f32 after the header */
    uint64_t offset;     /* bytes consumed so far */
} cursor;

/* Returns the array of n floats at the cursor (NULL while only measuring) and advances past it. */
static const float *take(cursor *c, uint64_t n) {
    const float *p = c->base ? (const float *)(c->base + c->offset) : NULL;
    c->offset += n * sizeof(float);
    return p;
}

/* The stacked arrays, each (L, rows, cols) unless noted. */
typedef struct {
    const float *embed;     /* (vocab, dim) */
    const float *rms_att;   /* (L, dim) */
    const float *rms_ffn;   /* (L, dim) */
    const float *rms_final; /* (dim) */
    const float *wq;        /* (L, dim, dim) */
    const float *wk, *wv;   /* (L, kv_dim, dim) */
    const float *wo;        /* (L, dim, dim) */
    const float *w1, *w3;   /* (L, hidden, dim): gate, up */
    const float *w2;        /* (L, dim, hidden): down */
    const float *wcls;      /* (vocab, dim) or NULL when shared */
} stacked;

/* Lays out the arrays from base in the version's order; returns the f32 bytes they need.
 * base NULL only measures (no pointer is formed before the size is known to fit). */
static uint64_t layout(const slm_llama2c_config *c, const uint8_t *base, stacked *s) {
    uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t vocab = (uint64_t)c->vocab_size, kv_dim = dim * (uint64_t)c->n_kv_heads / (uint64_t)c->n_heads;
    uint64_t head_size = dim / (uint64_t)c->n_heads;
    cursor cur = {base, 0};
    if (c->version == 0) {
        s->embed = take(&cur, vocab * dim);
        s->rms_att = take(&cur, L * dim);
    } else {
        s->rms_att = take(&cur, L * dim);
        s->rms_ffn = take(&cur, L * dim);
        s->rms_final = take(&cur, dim);
        s->embed = take(&cur, vocab * dim);
    }
    s->wq = take(&cur, L * dim * dim);
    s->wk = take(&cur, L * kv_dim * dim);
    s->wv = take(&cur, L * kv_dim * dim);
    s->wo = take(&cur, L * dim * dim);
    if (c->version == 0) s->rms_ffn = take(&cur, L * dim);
    s->w1 = take(&cur, L * hidden * dim);
    s->w2 = take(&cur, L * dim * hidden);
    s->w3 = take(&cur, L * hidden * dim);
    if (c->version == 0) {
        s->rms_final = take(&cur, dim);
        take(&cur, (uint64_t)c->seq_len * head_size / 2); /* freq_cis_real: recomputed, not used */
        take(&cur, (uint64_t)c->seq_len * head_size / 2); /* freq_cis_imag */
    }
    s->wcls = c->shared_classifier ? NULL : take(&cur, vocab * dim);
    return cur.offset;
}

/* Adds a view named printf(fmt, layer) of shape (rows[, cols]) at data. */
static slm_status add(slm_weights *w, const float *data, int64_t rows, int64_t cols, slm_error *err, const char *fmt,
                      int layer) {
    char name[128];
    snprintf(name, sizeof name, fmt, layer);
    slm_tensor_view t = {.name = name, .dtype = SLM_DTYPE_F32, .ndim = cols ? 2 : 1, .data = data};
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.nbytes = (size_t)(rows * (cols ? cols : 1)) * sizeof(float);
    return slm_weights_add(w, 0, &t, err);
}

static slm_status add_tensors(slm_weights *w, const slm_llama2c_config *c, const stacked *s, slm_error *err) {
    int64_t dim = c->dim, hidden = c->hidden_dim, vocab = c->vocab_size;
    int64_t kv_dim = dim * c->n_kv_heads / c->n_heads;
    slm_status st = add(w, s->embed, vocab, dim, err, "model.embed_tokens.weight", 0);
    for (int l = 0; l < c->n_layers && !st; l++) {
        st = add(w, s->rms_att + l * dim, dim, 0, err, "model.layers.%d.input_layernorm.weight", l);
        if (!st) st = add(w, s->wq + l * dim * dim, dim, dim, err, "model.layers.%d.self_attn.q_proj.weight", l);
        if (!st) st = add(w, s->wk + l * kv_dim * dim, kv_dim, dim, err, "model.layers.%d.self_attn.k_proj.weight", l);
        if (!st) st = add(w, s->wv + l * kv_dim * dim, kv_dim, dim, err, "model.layers.%d.self_attn.v_proj.weight", l);
        if (!st) st = add(w, s->wo + l * dim * dim, dim, dim, err, "model.layers.%d.self_attn.o_proj.weight", l);
        if (!st) st = add(w, s->rms_ffn + l * dim, dim, 0, err, "model.layers.%d.post_attention_layernorm.weight", l);
        if (!st) st = add(w, s->w1 + l * hidden * dim, hidden, dim, err, "model.layers.%d.mlp.gate_proj.weight", l);
        if (!st) st = add(w, s->w2 + l * dim * hidden, dim, hidden, err, "model.layers.%d.mlp.down_proj.weight", l);
        if (!st) st = add(w, s->w3 + l * hidden * dim, hidden, dim, err, "model.layers.%d.mlp.up_proj.weight", l);
    }
    if (!st) st = add(w, s->rms_final, dim, 0, err, "model.norm.weight", 0);
    if (!st && s->wcls) st = add(w, s->wcls, vocab, dim, err, "lm_head.weight", 0);
    return st;
}

/* Reads and validates the header; *header_bytes: where the f32 data starts. */
static slm_status read_header(const slm_mapped_file *f, slm_llama2c_config *c, uint64_t *header_bytes, slm_error *err) {
    memset(c, 0, sizeof *c);
    if (f->size < 8) return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: %zu bytes is too short for a llama2.c header", f->path, f->size);
    if ((uint32_t)read_i32_le(f->data) == LLAMA2C_MAGIC) {
        int version = read_i32_le(f->data + 4);
        if (version == 2)
            return slm_fail(err, SLM_ERR_UNSUPPORTED,
                            "%s: llama2.c version 2 checkpoints (int8 Q8_0 groups) are not supported; export version 1 (f32)",
                            f->path);
        if (version != 1)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: unknown llama2.c checkpoint version %d (supported: legacy, 1)",
                            f->path, version);
        if (f->size < V1_HEADER_BYTES)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: %zu bytes, less than the %d-byte version 1 header", f->path,
                            f->size, V1_HEADER_BYTES);
        read_params(f->data + 8, c);
        c->version = 1;
        uint8_t shared = f->data[8 + LEGACY_HEADER_BYTES];
        if (shared > 1)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: shared_classifier flag is %u, not 0 or 1", f->path, shared);
        c->shared_classifier = shared;
        *header_bytes = V1_HEADER_BYTES;
    } else {
        if (f->size < LEGACY_HEADER_BYTES)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: %zu bytes, less than the %d-byte header", f->path, f->size,
                            LEGACY_HEADER_BYTES);
        read_params(f->data, c);
        c->version = 0;
        /* The legacy format flags an unshared classifier with a negative vocab_size. */
        c->shared_classifier = c->vocab_size > 0;
        if (c->vocab_size < 0 && c->vocab_size != INT32_MIN) c->vocab_size = -c->vocab_size;
        *header_bytes = LEGACY_HEADER_BYTES;
    }
    return check_config(f->path, c, err);
}

slm_weights *slm_llama2c_open(const char *path, slm_llama2c_config *config, slm_error *err) {
    slm_llama2c_config c;
    memset(&c, 0, sizeof c);
    if (config) memset(config, 0, sizeof *config);
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_llama2c_open: path is NULL");
        return NULL;
    }
    slm_mapped_file file;
    if (slm_mapped_file_open(&file, path, err)) return NULL;
    slm_weights *w = slm_weights_new(err);
    if (!w) {
        slm_mapped_file_close(&file);
        return NULL;
    }
    if (slm_weights_adopt_file(w, &file, err) < 0) {
        slm_mapped_file_close(&file);
        slm_weights_free(w);
        return NULL;
    }
    const slm_mapped_file *f = slm_weights_file(w, 0);
    uint64_t header_bytes = 0;
    slm_status st = read_header(f, &c, &header_bytes, err);
    if (!st) {
        stacked s;
        uint64_t need = header_bytes + layout(&c, NULL, &s);
        /* run.c reads exactly this much; a different size means the header does not describe the file. */
        if (f->size < need)
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: %zu bytes, but the header implies %llu", path, f->size,
                          (unsigned long long)need);
        else if (f->size > need)
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: %zu bytes, but the header implies %llu: %llu unexplained trailing bytes",
                          path, f->size, (unsigned long long)need, (unsigned long long)(f->size - need));
        if (!st) layout(&c, f->data + header_bytes, &s);
        if (!st) st = add_tensors(w, &c, &s, err);
        if (!st) st = slm_weights_index(w, err);
    }
    if (st) {
        slm_weights_free(w);
        return NULL;
    }
    if (config) *config = c;
    return w;
}
