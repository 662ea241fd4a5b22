/* gguf_export.c — writing a loaded decoder model as a GGUF file that
 * llama.cpp loads: its metadata keys, tensor names and layouts (see
 * gguf_model.c for the reverse). The tensors come from the model's own
 * fields, so any source (HF folder, llama2.c, pytorch_model.bin, GGUF)
 * converts the same way, and matrices are converted row by row to the
 * requested type (norms and biases stay f32, as llama.cpp keeps them). */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "core/threads.h"
#include "formats/gguf.h"
#include "models/export.h"
#include "models/family.h"
#include "slm_convert.h"
#include "slm_tasks.h"
#include "tokenizers/tokenizer.h"


typedef struct {
    const slm_model *m;
    slm_dtype type;        /* for matrices */
    slm_gguf_tensor *tensors;
    char **names;          /* owned, one per tensor */
    void **buffers;        /* owned converted data, NULL where a tensor points into the model */
    int n, cap;
    slm_status status;
    slm_error *err;
    slm_thread_pool *pool; /* converts a matrix's rows in parallel; NULL: on this thread */
} exporter;

static int grow(exporter *x) {
    if (x->n < x->cap) return 1;
    int cap = x->cap ? 2 * x->cap : 64;
    slm_gguf_tensor *t = realloc(x->tensors, (size_t)cap * sizeof *t);
    if (t) x->tensors = t;
    char **names = realloc(x->names, (size_t)cap * sizeof *names);
    if (names) x->names = names;
    void **buffers = realloc(x->buffers, (size_t)cap * sizeof *buffers);
    if (buffers) x->buffers = buffers;
    if (!t || !names || !buffers) {
        x->status = slm_fail(x->err, SLM_ERR_OUT_OF_MEMORY, "GGUF tensor list");
        return 0;
    }
    x->cap = cap;
    return 1;
}

/* Appends a tensor named fmt (with the layer) pointing at data; buffer, when
 * not NULL, is owned from now on. */
static void add(exporter *x, const char *name, slm_dtype dtype, int n_dims, uint64_t d0, uint64_t d1,
                const void *data, size_t nbytes, void *buffer) {
    if (x->status || !grow(x)) {
        free(buffer);
        return;
    }
    char *owned = strdup(name);
    if (!owned) {
        free(buffer);
        x->status = slm_fail(x->err, SLM_ERR_OUT_OF_MEMORY, "GGUF tensor name");
        return;
    }
    slm_gguf_tensor *t = &x->tensors[x->n];
    memset(t, 0, sizeof *t);
    t->name = owned;
    t->type = (slm_ggml_type)slm_dtype_ggml_type(dtype);
    t->n_dims = n_dims;
    t->dims[0] = d0;
    t->dims[1] = d1;
    t->dims[2] = t->dims[3] = 1;
    t->data = data;
    t->nbytes = nbytes;
    x->names[x->n] = owned;
    x->buffers[x->n] = buffer;
    x->n++;
}

static void add_vector(exporter *x, const char *name, const float *v, int n) {
    if (v) add(x, name, SLM_DTYPE_F32, 1, (uint64_t)n, 1, v, (size_t)n * sizeof(float), NULL);
}

/* The type a matrix with rows of n_in is written in: the requested one when
 * its rows fill whole blocks, else the nearest that fits (as llama.cpp does
 * for tensors a k-quant cannot cut). */
static slm_dtype matrix_type(slm_dtype want, int n_in) {
    if (!slm_dtype_is_quantized(want) || slm_dtype_row_bytes(want, (size_t)n_in)) return want;
    if (slm_dtype_row_bytes(SLM_DTYPE_Q8_0, (size_t)n_in)) return SLM_DTYPE_Q8_0;
    return SLM_DTYPE_F16;
}

static void convert_row(slm_dtype type, const float *src, void *dst, int n) {
    switch (type) {
    case SLM_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case SLM_DTYPE_F16:
        for (int i = 0; i < n; i++) ((uint16_t *)dst)[i] = slm_f32_to_f16(src[i]);
        break;
    case SLM_DTYPE_BF16:
        for (int i = 0; i < n; i++) ((uint16_t *)dst)[i] = slm_f32_to_bf16(src[i]);
        break;
    default: slm_quantize_row((slm_quant_type)slm_dtype_ggml_type(type), src, dst, (size_t)n); break;
    }
}

/* Rows of w converted into out, a task's share of them: the k-quant fits are
 * scalar searches (Q4_K took 148 s for Phi-1.5 on one thread). */
typedef struct {
    const slm_matrix *w;
    slm_dtype type;
    size_t row_bytes;
    int permute_head_dim;
    char *out;
    atomic_int failed; /* a task could not get its row buffer */
} convert_job;

static void convert_task(void *ctx, int task, int n_tasks) {
    convert_job *job = ctx;
    const slm_matrix *w = job->w;
    int r0 = (int)((long long)w->n_out * task / n_tasks), r1 = (int)((long long)w->n_out * (task + 1) / n_tasks);
    if (r0 >= r1) return;
    float *row = malloc((size_t)w->n_in * sizeof(float));
    if (!row) {
        atomic_store(&job->failed, 1);
        return;
    }
    for (int r = r0; r < r1; r++) {
        slm_matrix_row(w, slm_interleaved_from_halves(r, job->permute_head_dim), row);
        convert_row(job->type, row, job->out + (size_t)r * job->row_bytes, w->n_in);
    }
    free(row);
}

static void add_matrix(exporter *x, const char *name, const slm_matrix *w, int permute_head_dim) {
    if (x->status || !w->data) return;
    slm_dtype type = matrix_type(x->type, w->n_in);
    size_t row_bytes = slm_dtype_row_bytes(type, (size_t)w->n_in);
    size_t nbytes = row_bytes * (size_t)w->n_out;
    if (w->dtype == type && w->layout == SLM_LAYOUT_OUT_IN && !permute_head_dim) {
        add(x, name, type, 2, (uint64_t)w->n_in, (uint64_t)w->n_out, w->data, nbytes, NULL);
        return;
    }
    char *out = malloc(nbytes ? nbytes : 1);
    convert_job job = {w, type, row_bytes, permute_head_dim, out, 0};
    if (out) slm_thread_pool_run(x->pool, convert_task, &job, x->pool ? slm_thread_pool_size(x->pool) : 1);
    if (!out || atomic_load(&job.failed)) {
        free(out);
        x->status = slm_fail(x->err, SLM_ERR_OUT_OF_MEMORY, "converting %s (%zu bytes)", name, nbytes);
        return;
    }
    add(x, name, type, 2, (uint64_t)w->n_in, (uint64_t)w->n_out, out, nbytes, out);
}

/* A bias of a permuted projection moves with its rows. */
static void add_bias(exporter *x, const char *name, const float *bias, int n, int permute_head_dim) {
    if (!bias || x->status) return;
    if (!permute_head_dim) {
        add_vector(x, name, bias, n);
        return;
    }
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) {
        x->status = slm_fail(x->err, SLM_ERR_OUT_OF_MEMORY, "converting %s", name);
        return;
    }
    for (int r = 0; r < n; r++) v[r] = bias[slm_interleaved_from_halves(r, permute_head_dim)];
    add(x, name, SLM_DTYPE_F32, 1, (uint64_t)n, 1, v, (size_t)n * sizeof(float), v);
}

static void add_linear(exporter *x, int layer, const char *part, const slm_linear *l, int permute_head_dim) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, part);
    add_matrix(x, name, &l->w, permute_head_dim);
    snprintf(name, sizeof name, "blk.%d.%s.bias", layer, part);
    add_bias(x, name, l->bias, l->w.n_out, permute_head_dim);
}

static void add_norm(exporter *x, int layer, const char *part, const slm_norm *n) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, part);
    add_vector(x, name, n->weight, x->m->d_model);
    snprintf(name, sizeof name, "blk.%d.%s.bias", layer, part);
    add_vector(x, name, n->bias, x->m->d_model);
}

static void add_block(exporter *x, int l, int permute) {
    const slm_model *m = x->m;
    const slm_block *b = &m->blocks[l];
    add_norm(x, l, "attn_norm", &b->attn_norm);
    if (b->qkv.w.data) {
        add_linear(x, l, "attn_qkv", &b->qkv, 0);
    } else {
        add_linear(x, l, "attn_q", &b->q, permute ? m->head_dim : 0);
        add_linear(x, l, "attn_k", &b->k, permute ? m->head_dim : 0);
        add_linear(x, l, "attn_v", &b->v, 0);
    }
    add_linear(x, l, "attn_output", &b->o, 0);
    if (b->mlp_norm.weight) add_norm(x, l, "ffn_norm", &b->mlp_norm);
    add_linear(x, l, "ffn_up", &b->up, 0);
    if (b->gate.w.data) add_linear(x, l, "ffn_gate", &b->gate, 0);
    add_linear(x, l, "ffn_down", &b->down, 0);
}

/* BERT as llama.cpp's "bert": the body only (llama.cpp runs no BERT heads). */
static void add_bert(exporter *x) {
    const slm_model *m = x->m;
    const slm_encoder *e = &m->encoder;
    add_matrix(x, "token_embd.weight", &m->tok_embed, 0);
    slm_dtype keep = x->type;
    x->type = SLM_DTYPE_F32; /* small tables read by row: kept exact, as llama.cpp's converter does */
    add_matrix(x, "position_embd.weight", &m->pos_embed, 0);
    add_matrix(x, "token_types.weight", &e->type_embed, 0);
    x->type = keep;
    add_vector(x, "token_embd_norm.weight", e->embed_norm.weight, m->d_model);
    add_vector(x, "token_embd_norm.bias", e->embed_norm.bias, m->d_model);
    for (int l = 0; l < m->n_layers && !x->status; l++) {
        const slm_encoder_layer *L = &e->layers[l];
        add_linear(x, l, "attn_q", &L->q, 0);
        add_linear(x, l, "attn_k", &L->k, 0);
        add_linear(x, l, "attn_v", &L->v, 0);
        add_linear(x, l, "attn_output", &L->o, 0);
        add_norm(x, l, "attn_output_norm", &L->attn_norm);
        add_linear(x, l, "ffn_up", &L->up, 0);
        add_linear(x, l, "ffn_down", &L->down, 0);
        add_norm(x, l, "layer_output_norm", &L->mlp_norm);
    }
}

static void add_tensors(exporter *x, const char *arch) {
    if (!strcmp(arch, "bert")) {
        add_bert(x);
        return;
    }
    const slm_model *m = x->m;
    /* HF Llama rotates halves; llama.cpp's llama rotates interleaved pairs. */
    int permute = !strcmp(arch, "llama") && !m->rope.interleaved;
    add_matrix(x, "token_embd.weight", &m->tok_embed, 0);
    if (m->pos_embed.data) {
        /* llama.cpp's quantizer leaves position embeddings f32 whatever the type. */
        slm_dtype keep = x->type;
        x->type = SLM_DTYPE_F32;
        add_matrix(x, "position_embd.weight", &m->pos_embed, 0);
        x->type = keep;
    }
    for (int l = 0; l < m->n_layers && !x->status; l++) add_block(x, l, permute);
    add_vector(x, "output_norm.weight", m->final_norm.weight, m->d_model);
    add_vector(x, "output_norm.bias", m->final_norm.bias, m->d_model);
    if (m->lm_head.w.data != m->tok_embed.data) add_matrix(x, "output.weight", &m->lm_head.w, 0);
    add_vector(x, "output.bias", m->lm_head.bias, m->n_vocab);
}

/* ---- metadata ---- */

typedef struct {
    slm_gguf_kv kvs[40];
    char keys[40][80];
    int n;
} kv_list;

static slm_gguf_kv *kv_add(kv_list *l, const char *arch, const char *key, slm_gguf_type type) {
    slm_gguf_kv *kv = &l->kvs[l->n];
    memset(kv, 0, sizeof *kv);
    if (arch)
        snprintf(l->keys[l->n], sizeof l->keys[l->n], "%s.%s", arch, key);
    else
        snprintf(l->keys[l->n], sizeof l->keys[l->n], "%s", key);
    kv->key = l->keys[l->n++];
    kv->type = type;
    return kv;
}

static void kv_u32(kv_list *l, const char *arch, const char *key, uint64_t v) { kv_add(l, arch, key, SLM_GGUF_UINT32)->u = v; }
static void kv_f32(kv_list *l, const char *arch, const char *key, double v) { kv_add(l, arch, key, SLM_GGUF_FLOAT32)->f = v; }

/* llama.cpp's general.file_type for the matrices' type (llama_ftype). */
static uint64_t file_type(slm_dtype type) {
    switch (type) {
    case SLM_DTYPE_F16: return 1;
    case SLM_DTYPE_Q4_0: return 2;
    case SLM_DTYPE_Q8_0: return 7;
    case SLM_DTYPE_Q4_K: return 14; /* Q4_K_S: every matrix Q4_K */
    case SLM_DTYPE_Q6_K: return 18;
    case SLM_DTYPE_BF16: return 32;
    default: return 0;
    }
}

/* llama.cpp's pooling_type for the model's sentence-transformers pooling (1 mean, 2 cls, 3 last). */
static int pooling_type(const slm_model *m) {
    slm_pooling p;
    if (slm_pooling_from_model(m, &p, NULL) || p.n_modes != 1) return 1;
    if (p.modes[0] == SLM_POOL_CLS) return 2;
    if (p.modes[0] == SLM_POOL_LAST_TOKEN) return 3;
    return 1;
}

static void model_metadata(kv_list *l, const slm_model *m, const char *arch, const char *name, slm_dtype type) {
    kv_add(l, NULL, "general.architecture", SLM_GGUF_STRING)->string = arch;
    kv_add(l, NULL, "general.name", SLM_GGUF_STRING)->string = name;
    kv_u32(l, NULL, "general.file_type", file_type(type));
    kv_u32(l, NULL, "general.quantization_version", 2);
    kv_u32(l, arch, "context_length", (uint64_t)m->n_ctx_train);
    kv_u32(l, arch, "embedding_length", (uint64_t)m->d_model);
    kv_u32(l, arch, "block_count", (uint64_t)m->n_layers);
    kv_u32(l, arch, "feed_forward_length", (uint64_t)m->d_ff);
    kv_u32(l, arch, "attention.head_count", (uint64_t)m->n_heads);
    if (m->n_kv_heads > 0) kv_u32(l, arch, "attention.head_count_kv", (uint64_t)m->n_kv_heads);
    kv_u32(l, arch, "vocab_size", (uint64_t)m->n_vocab);
    if (!strcmp(arch, "bert")) {
        kv_f32(l, arch, "attention.layer_norm_epsilon", m->encoder.embed_norm.eps);
        kv_add(l, arch, "attention.causal", SLM_GGUF_BOOL)->u = 0;
        kv_u32(l, arch, "pooling_type", (uint64_t)pooling_type(m));
    } else if (!strcmp(arch, "llama")) {
        kv_f32(l, arch, "attention.layer_norm_rms_epsilon", m->final_norm.eps);
    } else {
        kv_f32(l, arch, "attention.layer_norm_epsilon", m->final_norm.eps);
    }
    if (m->use_rope) {
        kv_u32(l, arch, "rope.dimension_count", (uint64_t)m->rope.rot_dim);
        kv_f32(l, arch, "rope.freq_base", m->rope.theta);
    }
}

/* llama.cpp wants one token per embedding row. Phi-1.5's 51200 rows hold 50295
 * tokens; like llama.cpp's converter, the rest become "[PAD<id>]" tokens of type
 * unused (5). pad owns the grown arrays; kvs is edited in place. */
typedef struct {
    const char **tokens;
    char *names;
    int32_t *types;
    float *scores;
} vocab_padding;

static slm_status pad_vocab(slm_gguf_kv *kvs, int64_t n_kvs, int n_vocab, vocab_padding *pad, slm_error *err) {
    slm_gguf_kv *tokens = NULL, *types = NULL, *scores = NULL;
    for (int64_t i = 0; i < n_kvs; i++) {
        if (!strcmp(kvs[i].key, "tokenizer.ggml.tokens")) tokens = &kvs[i];
        if (!strcmp(kvs[i].key, "tokenizer.ggml.token_type")) types = &kvs[i];
        if (!strcmp(kvs[i].key, "tokenizer.ggml.scores")) scores = &kvs[i];
    }
    if (!tokens || tokens->array_count >= (uint64_t)n_vocab) return SLM_OK;
    size_t have = (size_t)tokens->array_count, n = (size_t)n_vocab;
    pad->tokens = malloc(n * sizeof *pad->tokens);
    enum { NAME_BYTES = 32 }; /* "[PAD" + up to 20 digits + "]" + NUL */
    pad->names = malloc((n - have) * NAME_BYTES);
    pad->types = calloc(n, sizeof *pad->types);
    pad->scores = calloc(n, sizeof *pad->scores);
    if (!pad->tokens || !pad->names || !pad->types || !pad->scores)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "padding the vocabulary to %d tokens", n_vocab);
    memcpy(pad->tokens, tokens->array, have * sizeof *pad->tokens);
    for (size_t i = have; i < n; i++) {
        char *name = pad->names + (i - have) * NAME_BYTES;
        snprintf(name, NAME_BYTES, "[PAD%zu]", i);
        pad->tokens[i] = name;
        pad->types[i] = 5;
    }
    tokens->array = pad->tokens;
    tokens->array_count = n;
    if (types && types->array_type == SLM_GGUF_INT32 && types->array_count == have) {
        memcpy(pad->types, types->array, have * sizeof *pad->types);
        types->array = pad->types;
        types->array_count = n;
    }
    if (scores && scores->array_type == SLM_GGUF_FLOAT32 && scores->array_count == have) {
        memcpy(pad->scores, scores->array, have * sizeof *pad->scores);
        scores->array = pad->scores;
        scores->array_count = n;
    }
    return SLM_OK;
}

static void vocab_padding_free(vocab_padding *pad) {
    free(pad->tokens);
    free(pad->names);
    free(pad->types);
    free(pad->scores);
}

/* "gpt2", "llama" or "phi2" (llama.cpp's names), or NULL. */
static const char *gguf_arch(const slm_model *m) {
    if (!strcmp(m->architecture, "gpt2")) return "gpt2";
    if (!strcmp(m->architecture, "llama")) return "llama";
    if (!strcmp(m->architecture, "phi")) return "phi2";
    if (!strcmp(m->architecture, "bert")) return "bert";
    return NULL;
}

static slm_status check_exportable(const slm_model *m, const char *arch, slm_error *err) {
    if (!arch)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: writing GGUF is supported for gpt2, llama, phi and bert, not %s",
                        m->dir, m->architecture);
    if (m->is_encoder) return SLM_OK;
    for (int l = 0; l < m->n_layers; l++) {
        float want = 1.0f / sqrtf((float)m->head_dim);
        if (m->blocks[l].attn_scale != want)
            return slm_fail(err, SLM_ERR_UNSUPPORTED,
                            "%s: layer %d scales attention by %g, not 1/sqrt(head_dim); llama.cpp cannot express it",
                            m->dir, l, m->blocks[l].attn_scale);
    }
    return SLM_OK;
}

static void exporter_free(exporter *x) {
    for (int i = 0; i < x->n; i++) {
        free(x->names[i]);
        free(x->buffers[i]);
    }
    free(x->tensors);
    free(x->names);
    free(x->buffers);
}

/* The dtype named by weight_type, or -1. */
static int weight_dtype(const char *weight_type) {
    static const slm_dtype types[] = {SLM_DTYPE_F32,  SLM_DTYPE_F16,  SLM_DTYPE_BF16, SLM_DTYPE_Q8_0,
                                      SLM_DTYPE_Q4_0, SLM_DTYPE_Q4_K, SLM_DTYPE_Q6_K};
    for (size_t i = 0; weight_type && i < sizeof types / sizeof *types; i++)
        if (!strcmp(weight_type, slm_dtype_name(types[i]))) return (int)types[i];
    return -1;
}

slm_status slm_model_save_gguf(const slm_model *m, const char *path, const char *weight_type, slm_error *err) {
    slm_error_clear(err);
    if (!m || !path) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "model or path is NULL");
    int type_id = weight_dtype(weight_type);
    if (type_id < 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "weight type \"%s\": expected f32, f16, bf16, q8_0, q4_0, q4_k or q6_k",
                        weight_type ? weight_type : "(null)");
    slm_dtype type = (slm_dtype)type_id;
    const char *arch = gguf_arch(m);
    slm_status st = check_exportable(m, arch, err);
    if (st) return st;
    exporter x = {.m = m, .type = type, .err = err};
    x.pool = slm_thread_pool_new(slm_physical_cores(), NULL); /* NULL (no threads to be had): one thread */
    add_tensors(&x, arch);
    slm_thread_pool_free(x.pool);
    x.pool = NULL;
    if (x.status) {
        exporter_free(&x);
        return x.status;
    }
    kv_list *meta = calloc(1, sizeof *meta);
    slm_gguf_kv *tok_kvs = NULL;
    int64_t n_tok = 0;
    void *tok_storage = NULL;
    slm_gguf_kv *all = NULL;
    if (!meta) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "GGUF metadata");
    const char *slash = strrchr(m->dir, '/');
    if (!st) {
        model_metadata(meta, m, arch, slash ? slash + 1 : m->dir, type);
        /* Without a tokenizer the file is complete for slm, though llama.cpp wants one. */
        /* Phi-1.5 uses phi-2's tokenizer; llama.cpp splits it by that name. */
        const char *pre = !strcmp(arch, "phi2") ? "phi-2" : NULL;
        if (m->tokenizer) st = slm_tokenizer_gguf_metadata(m->tokenizer, pre, &tok_kvs, &n_tok, &tok_storage, err);
    }
    vocab_padding pad = {0};
    if (!st && m->tokenizer) st = pad_vocab(tok_kvs, n_tok, m->n_vocab, &pad, err);
    if (!st) {
        all = malloc((size_t)(meta->n + n_tok) * sizeof *all);
        if (!all) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "GGUF metadata");
    }
    if (!st) {
        memcpy(all, meta->kvs, (size_t)meta->n * sizeof *all);
        if (n_tok) memcpy(all + meta->n, tok_kvs, (size_t)n_tok * sizeof *all);
        st = slm_gguf_write(path, all, meta->n + n_tok, x.tensors, x.n, err);
    }
    free(all);
    vocab_padding_free(&pad);
    slm_tokenizer_gguf_metadata_free(tok_storage); /* owns tok_kvs too */
    free(meta);
    exporter_free(&x);
    return st;
}
