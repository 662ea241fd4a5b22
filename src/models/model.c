/* model.c — loading a checkpoint into an slm_model (format detection, config,
 * family dispatch, tokenizer) and running it in an slm_session (KV cache,
 * scratch, threads, logits head; for encoders, batch scratch grown on demand). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/gguf.h"
#include "models/family.h"
#include "models/gguf_model.h"
#include "tokenizers/tokenizer.h"

#define SLM_MAX_CHUNK 512 /* tokens per prefill step: big enough for efficient matmuls */

slm_model_params slm_model_default_params(void) {
    slm_model_params p = {1};
    return p;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The folder holding path (path itself when it is a folder). */
static void folder_of(const char *path, char *out, size_t cap) {
    if (is_dir(path)) {
        snprintf(out, cap, "%s", path);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, cap, ".");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

static json_t *load_json(const char *path, slm_error *err) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        slm_fail(err, is_file(path) ? SLM_ERR_FORMAT : SLM_ERR_IO, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        slm_fail(err, SLM_ERR_FORMAT, "%s: not a JSON object", path);
        return NULL;
    }
    return root;
}

/* model_type, or the family named by architectures[0] when a config omits it. */
static const char *family_name(const json_t *cfg) {
    const char *type = json_string_value(json_object_get(cfg, "model_type"));
    if (type) return type;
    const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
    if (arch && !strncmp(arch, "GPT2", 4)) return "gpt2";
    if (arch && !strncmp(arch, "Llama", 5)) return "llama";
    if (arch && !strncmp(arch, "PhiFor", 6)) return "phi";
    return slm_encoder_family_guess(cfg, NULL);
}

static slm_status load_hf_folder(slm_model *m, const char *dir, slm_error *err) {
    char path[4200]; /* a folder (up to 4096) plus a file name */
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = load_json(path, err);
    if (!cfg) return err ? err->status : SLM_ERR_FORMAT;
    const char *family = family_name(cfg);
    slm_status st = SLM_OK;
    if (family && strcmp(family, "gpt2") != 0 && strcmp(family, "llama") != 0 && strcmp(family, "phi") != 0 &&
        strcmp(family, "bert") != 0 &&
        strcmp(family, "distilbert") != 0 && strcmp(family, "mobilebert") != 0 && strcmp(family, "flaubert") != 0 &&
        strcmp(family, "xlm") != 0 && strcmp(family, "albert") != 0)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: unknown architecture \"%s\" (supported: gpt2, llama, phi, bert, distilbert, mobilebert, flaubert, xlm, albert)",
                      path, family);
    if (!st) {
        /* safetensors when the folder has it; else PyTorch's pytorch_model.bin (or its sharded index). */
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        int has_safetensors = is_file(path);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        has_safetensors |= is_file(path);
        snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
        int has_torch_bin = is_file(path);
        snprintf(path, sizeof path, "%s/pytorch_model.bin.index.json", dir);
        has_torch_bin |= is_file(path);
        snprintf(path, sizeof path, "%s/config.json", dir); /* later messages name the config */
        m->weights = !has_safetensors && has_torch_bin ? slm_torch_bin_open(dir, err) : slm_safetensors_open(dir, err);
        if (!m->weights) st = err ? err->status : SLM_ERR_FORMAT;
    }
    /* A config with neither model_type nor architectures (TinyBERT's): the tensor names tell. */
    if (!st && !family) {
        family = slm_encoder_family_guess(cfg, m->weights);
        if (!family)
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: no model_type or architectures: unknown architecture", path);
    }
    if (!st) {
        slm_loader ld = {.model = m, .weights = m->weights, .source = dir, .err = err};
        slm_config_special_tokens(m, cfg);
        if (!strcmp(family, "gpt2"))
            slm_gpt2_load(&ld, cfg);
        else if (!strcmp(family, "llama"))
            slm_llama_load(&ld, cfg);
        else if (!strcmp(family, "phi"))
            slm_phi_load(&ld, cfg);
        else if (!strcmp(family, "bert"))
            slm_bert_load(&ld, cfg);
        else if (!strcmp(family, "mobilebert"))
            slm_mobilebert_load(&ld, cfg);
        else if (!strcmp(family, "flaubert") || !strcmp(family, "xlm"))
            slm_flaubert_load(&ld, cfg, family);
        else if (!strcmp(family, "albert"))
            slm_albert_load(&ld, cfg);
        else
            slm_distilbert_load(&ld, cfg);
        st = ld.status;
    }
    json_decref(cfg);
    /* generation_config.json, when present, says which tokens end generation. */
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (!st && is_file(path)) {
        json_t *gen = load_json(path, err);
        if (!gen) return err ? err->status : SLM_ERR_FORMAT;
        slm_config_special_tokens(m, gen);
        json_decref(gen);
    }
    return st;
}

static slm_status load_llama2c(slm_model *m, const char *file, slm_error *err) {
    slm_llama2c_config cfg;
    m->weights = slm_llama2c_open(file, &cfg, err);
    if (!m->weights) return err ? err->status : SLM_ERR_FORMAT;
    slm_loader ld = {.model = m, .weights = m->weights, .source = file, .err = err};
    slm_llama2c_load(&ld, &cfg);
    return ld.status;
}

/* Tokenizer files beside the weights: an HF folder's, or llama2.c's tok<vocab>.bin / tokenizer.bin. */
static slm_status load_tokenizer(slm_model *m, const char *dir, int llama2c, slm_error *err) {
    char path[4200]; /* a folder (up to 4096) plus a file name */
    if (llama2c) {
        snprintf(path, sizeof path, "%s/tok%d.bin", dir, m->n_vocab);
        if (!is_file(path)) snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
        if (!is_file(path)) return SLM_OK;
        m->tokenizer = slm_tokenizer_load_llama2c(path, err);
    } else {
        static const char *markers[] = {"tokenizer.json", "vocab.json", "vocab.txt"};
        int present = 0;
        for (int i = 0; i < 3 && !present; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, markers[i]);
            present = is_file(path);
        }
        if (!present) return SLM_OK;
        m->tokenizer = slm_tokenizer_load(dir, err);
    }
    if (!m->tokenizer) return err ? err->status : SLM_ERR_FORMAT;
    if (slm_tokenizer_vocab_size(m->tokenizer) > m->n_vocab)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tokenizer has %d tokens but the model's vocabulary is %d", dir,
                        slm_tokenizer_vocab_size(m->tokenizer), m->n_vocab);
    return SLM_OK;
}

/* The tokenizer a GGUF file carries in its tokenizer.ggml.* metadata, when it has one. */
static slm_status load_gguf_tokenizer(slm_model *m, slm_error *err) {
    if (slm_gguf_find_key(m->gguf, "tokenizer.ggml.model") < 0) return SLM_OK;
    m->tokenizer = slm_tokenizer_load_gguf(m->gguf, err);
    if (!m->tokenizer) return err ? err->status : SLM_ERR_FORMAT;
    if (slm_tokenizer_vocab_size(m->tokenizer) > m->n_vocab)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tokenizer has %d tokens but the model's vocabulary is %d",
                        slm_gguf_path(m->gguf), slm_tokenizer_vocab_size(m->tokenizer), m->n_vocab);
    return SLM_OK;
}

slm_model *slm_model_load(const char *path, const slm_model_params *params, slm_error *err) {
    slm_error_clear(err);
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "model path is NULL");
        return NULL;
    }
    slm_model_params defaults = slm_model_default_params();
    if (!params) params = &defaults;
    if (!is_dir(path) && !is_file(path)) {
        slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    slm_model *m = calloc(1, sizeof *m);
    if (!m) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: model struct", path);
        return NULL;
    }
    m->bos = -1;
    char *dir = m->dir;
    folder_of(path, dir, sizeof m->dir);
    int hf = is_dir(path) || ends_with(path, ".safetensors") || ends_with(path, ".json") ||
             !strncmp(strrchr(path, '/') ? strrchr(path, '/') + 1 : path, "pytorch_model", 13); /* torch, not llama2.c */
    slm_status st;
    if (ends_with(path, ".gguf")) {
        st = slm_gguf_model_load(m, path, err);
        if (!st && params->load_tokenizer) st = load_gguf_tokenizer(m, err);
    } else {
        st = hf ? load_hf_folder(m, dir, err) : load_llama2c(m, path, err);
        if (!st && params->load_tokenizer) st = load_tokenizer(m, dir, !hf, err);
    }
    if (st) {
        slm_model_free(m);
        return NULL;
    }
    return m;
}

void slm_model_free(slm_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->blocks);
    slm_encoder_free(&m->encoder);
    slm_tokenizer_free(m->tokenizer);
    slm_weights_free(m->weights);
    slm_gguf_free(m->gguf); /* after the weights, which point into it */
    free(m);
}

/* The KV cache's element type: f16 for a model with quantized weights, whose own
 * rounding is far larger than f16's (llama.cpp's default cache type too), halving
 * the bytes attention reads per step; f32 otherwise, as transformers computes
 * f32, f16 and bf16 checkpoints alike (f16/bf16 weights, f32 activations). */
static slm_dtype kv_dtype_for(const slm_model *m) { return m->n_quantized > 0 ? SLM_DTYPE_F16 : SLM_DTYPE_F32; }

slm_model_info slm_model_get_info(const slm_model *m) {
    slm_model_info info = {m->architecture,
                           m->weight_dtype,
                           m->n_params,
                           (int64_t)m->weight_bytes,
                           m->n_vocab,
                           m->n_ctx_train,
                           m->n_layers,
                           m->d_model,
                           m->n_heads,
                           m->n_kv_heads,
                           m->d_ff,
                           (int)slm_dtype_size(kv_dtype_for(m))};
    return info;
}

const slm_tokenizer *slm_model_tokenizer(const slm_model *m) { return m->tokenizer; }
int slm_model_is_encoder(const slm_model *m) { return m && m->is_encoder; }

int slm_model_has_head(const slm_model *m, slm_head head) {
    if (!m || !m->is_encoder || head < SLM_HEAD_BASE || head > SLM_HEAD_QA) return 0;
    return (m->encoder.heads >> head) & 1;
}

int slm_model_num_labels(const slm_model *m) { return m && m->is_encoder ? m->encoder.num_labels : 0; }

const char *slm_model_label(const slm_model *m, int index) {
    if (!m || !m->is_encoder || index < 0 || index >= m->encoder.num_labels) return NULL;
    return m->encoder.labels[index];
}

int slm_model_max_length(const slm_model *m) { return m ? m->n_ctx_train : 0; }
const char *slm_model_dir(const slm_model *m) { return m->dir; }
int slm_model_gguf_pooling(const slm_model *m) { return m->gguf_pooling; }
int slm_model_n_vocab(const slm_model *m) { return m->n_vocab; }
int32_t slm_model_bos(const slm_model *m) {
    if (m->bos >= 0) return m->bos;
    return m->tokenizer ? slm_tokenizer_bos(m->tokenizer) : -1;
}

int slm_model_is_end_token(const slm_model *m, int32_t id) {
    for (int i = 0; i < m->n_end_tokens; i++)
        if (m->end_tokens[i] == id) return 1;
    if (m->n_end_tokens == 0 && m->tokenizer) return id == slm_tokenizer_eos(m->tokenizer);
    return 0;
}

/* ---- sessions ---- */

struct slm_session {
    const slm_model *model;
    int n_ctx, n_past;
    slm_thread_pool *pool;
    void *kv_data;    /* (n_layers, 2, n_kv_heads, n_ctx, head_dim) of the KV dtype */
    slm_kv_layer *kv; /* n_layers views into kv_data */
    slm_scratch scratch;
    slm_encoder_scratch encoder; /* encoders only: no KV cache, scratch sized per batch */
    /* Batched decode steps led by this session (slm_session_forward_batch), grown on demand:
     * scratch for batch_rows rows and batch_ctx attention scores per task, per-row views. */
    slm_scratch batch;
    int batch_rows, batch_ctx;
    const slm_kv_layer **batch_kv; /* (batch_rows) */
    int *batch_pos;                /* (batch_rows) */
};

slm_session_params slm_session_default_params(void) {
    slm_session_params p = {0, 0};
    return p;
}

slm_session *slm_session_new(const slm_model *m, const slm_session_params *params, slm_error *err) {
    slm_error_clear(err);
    if (!m) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "model is NULL");
        return NULL;
    }
    slm_session_params defaults = slm_session_default_params();
    if (!params) params = &defaults;
    if (params->n_ctx < 0 || params->n_ctx > m->n_ctx_train) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "n_ctx: %d is outside [1, %d] (the model's trained context)",
                 params->n_ctx, m->n_ctx_train);
        return NULL;
    }
    if (params->n_threads < 0 || params->n_threads > 1024) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "n_threads: %d is outside [0, 1024]", params->n_threads);
        return NULL;
    }
    slm_session *s = calloc(1, sizeof *s);
    if (!s) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "session struct");
        return NULL;
    }
    s->model = m;
    s->n_ctx = params->n_ctx ? params->n_ctx : m->n_ctx_train;
    int threads = params->n_threads ? params->n_threads : slm_physical_cores();
    if (m->is_encoder) {
        s->pool = slm_thread_pool_new(threads, err);
        if (!s->pool) {
            slm_session_free(s);
            return NULL;
        }
        return s;
    }
    size_t kv_dim = (size_t)m->n_kv_heads * m->head_dim;
    s->pool = slm_thread_pool_new(threads, err);
    const slm_dtype kv_dtype = kv_dtype_for(m);
    const size_t layer_bytes = (size_t)s->n_ctx * kv_dim * slm_dtype_size(kv_dtype); /* keys or values */
    s->kv_data = malloc((size_t)m->n_layers * 2 * layer_bytes);
    s->kv = calloc((size_t)m->n_layers, sizeof *s->kv);
    if (!s->pool || !s->kv_data || !s->kv) {
        if (s->pool) slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "KV cache of %d positions", s->n_ctx);
        slm_session_free(s);
        return NULL;
    }
    for (int l = 0; l < m->n_layers; l++) {
        s->kv[l].k = (char *)s->kv_data + (size_t)l * 2 * layer_bytes;
        s->kv[l].v = (char *)s->kv[l].k + layer_bytes;
        s->kv[l].n_ctx = s->n_ctx;
        s->kv[l].dtype = kv_dtype;
    }
    int max_T = s->n_ctx < SLM_MAX_CHUNK ? s->n_ctx : SLM_MAX_CHUNK;
    if (slm_scratch_init(&s->scratch, m, max_T, s->n_ctx, slm_attention_tasks(s->pool), err)) {
        slm_session_free(s);
        return NULL;
    }
    return s;
}

void slm_session_free(slm_session *s) {
    if (!s) return;
    slm_scratch_free(&s->scratch);
    slm_scratch_free(&s->batch);
    free(s->batch_kv);
    free(s->batch_pos);
    slm_encoder_scratch_free(&s->encoder);
    free(s->kv);
    free(s->kv_data);
    slm_thread_pool_free(s->pool);
    free(s);
}

void slm_session_reset(slm_session *s) { s->n_past = 0; }
int slm_session_n_past(const slm_session *s) { return s->n_past; }
int slm_session_n_ctx(const slm_session *s) { return s->n_ctx; }
const slm_model *slm_session_model(const slm_session *s) { return s->model; }

static slm_status check_ids(const slm_session *s, const int32_t *ids, size_t n, slm_error *err) {
    if (s->model->is_encoder)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "%s is an encoder (%s): it has no next-token logits; use slm_session_encode",
                        s->model->dir, s->model->architecture);
    if (!ids && n) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "ids is NULL");
    if (n > (size_t)(s->n_ctx - s->n_past))
        return slm_fail(err, SLM_ERR_CONTEXT_FULL, "%zu tokens after %d do not fit in the context of %d", n,
                        s->n_past, s->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->model->n_vocab)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "token id %d at position %zu is outside the vocabulary (%d)",
                            ids[i], i, s->model->n_vocab);
    return SLM_OK;
}

/* Runs ids in chunks; for each chunk, emit(rows of final hidden state) decides what to keep. */
typedef void (*chunk_fn)(slm_session *s, int first, int T, int last_chunk, void *ctx);

static void run_chunks(slm_session *s, const int32_t *ids, size_t n, chunk_fn emit, void *ctx) {
    const slm_model *m = s->model;
    for (size_t done = 0; done < n;) {
        int T = (int)(n - done < (size_t)s->scratch.max_T ? n - done : (size_t)s->scratch.max_T);
        slm_decoder_forward(m, s->pool, &s->scratch, s->kv, s->n_ctx, ids + done, T, s->n_past);
        s->n_past += T;
        emit(s, (int)done, T, done + (size_t)T == n, ctx);
        done += (size_t)T;
    }
}

typedef struct {
    slm_output output;
    float *out;
} all_positions;

static void emit_all(slm_session *s, int first, int T, int last_chunk, void *ctx) {
    (void)last_chunk;
    const all_positions *a = ctx;
    const slm_model *m = s->model;
    if (!a->out) return;
    if (a->output == SLM_OUTPUT_HIDDEN)
        memcpy(a->out + (size_t)first * m->d_model, s->scratch.xn, (size_t)T * m->d_model * sizeof(float));
    else
        slm_linear_forward(s->pool, &m->lm_head, a->out + (size_t)first * m->n_vocab, s->scratch.xn, T);
}

slm_status slm_session_forward(slm_session *s, const int32_t *ids, size_t n, slm_output output, float *out,
                               slm_error *err) {
    if (!s) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "session is NULL");
    if (output != SLM_OUTPUT_LOGITS && output != SLM_OUTPUT_HIDDEN)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "output: unknown kind %d", (int)output);
    slm_status st = check_ids(s, ids, n, err);
    if (st) return st;
    all_positions a = {output, out};
    run_chunks(s, ids, n, emit_all, &a);
    return SLM_OK;
}

static void emit_last(slm_session *s, int first, int T, int last_chunk, void *ctx) {
    (void)first;
    if (!last_chunk) return;
    const slm_model *m = s->model;
    slm_linear_forward(s->pool, &m->lm_head, ctx, s->scratch.xn + (size_t)(T - 1) * m->d_model, 1);
}

slm_status slm_session_forward_last(slm_session *s, const int32_t *ids, size_t n, float *logits_last,
                                    slm_error *err) {
    if (!s) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "session is NULL");
    if (n == 0) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "no tokens to run");
    slm_status st = check_ids(s, ids, n, err);
    if (st) return st;
    run_chunks(s, ids, n, emit_last, logits_last);
    return SLM_OK;
}

/* The checks of a batched step: n distinct decoder sessions of one model, each with room for a
 * token, and every id in the vocabulary. */
static slm_status check_batch(slm_session *const *sessions, const int32_t *ids, int n, const float *logits,
                              slm_error *err) {
    if (!sessions || !ids || !logits) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "sessions, ids or logits is NULL");
    if (n < 1) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "n: %d sessions (at least 1)", n);
    for (int i = 0; i < n; i++) {
        const slm_session *s = sessions[i];
        if (!s) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "sessions[%d] is NULL", i);
        if (s->model != sessions[0]->model)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "sessions[%d] runs another model than sessions[0]", i);
        for (int j = 0; j < i; j++)
            if (sessions[j] == s)
                return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "sessions[%d] is sessions[%d] again", i, j);
        slm_status st = check_ids(s, ids + i, 1, err);
        if (st) {
            char where[32];
            snprintf(where, sizeof where, "sessions[%d]", i);
            return slm_error_prefix(err, where);
        }
    }
    return SLM_OK;
}

/* Grows the leader's batch scratch to n rows and max_ctx scores per attention task. */
static slm_status grow_batch(slm_session *lead, int n, int max_ctx, slm_error *err) {
    if (n <= lead->batch_rows && max_ctx <= lead->batch_ctx) return SLM_OK;
    int rows = n > lead->batch_rows ? n : lead->batch_rows;
    int ctx = max_ctx > lead->batch_ctx ? max_ctx : lead->batch_ctx;
    slm_scratch_free(&lead->batch);
    free(lead->batch_kv);
    free(lead->batch_pos);
    lead->batch_rows = lead->batch_ctx = 0;
    lead->batch_kv = malloc((size_t)rows * sizeof *lead->batch_kv);
    lead->batch_pos = malloc((size_t)rows * sizeof *lead->batch_pos);
    if (!lead->batch_kv || !lead->batch_pos)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "batch of %d sessions", n);
    slm_status st = slm_scratch_init(&lead->batch, lead->model, rows, ctx, slm_attention_tasks(lead->pool), err);
    if (st) return st;
    lead->batch_rows = rows;
    lead->batch_ctx = ctx;
    return SLM_OK;
}

slm_status slm_session_forward_batch(slm_session *const *sessions, const int32_t *ids, int n, float *logits,
                                     slm_error *err) {
    slm_status st = check_batch(sessions, ids, n, logits, err);
    if (st) return st;
    slm_session *lead = sessions[0];
    int max_ctx = 0;
    for (int i = 0; i < n; i++) max_ctx = sessions[i]->n_ctx > max_ctx ? sessions[i]->n_ctx : max_ctx;
    st = grow_batch(lead, n, max_ctx, err);
    if (st) return st;
    for (int i = 0; i < n; i++) {
        lead->batch_kv[i] = sessions[i]->kv;
        lead->batch_pos[i] = sessions[i]->n_past;
    }
    const slm_model *m = lead->model;
    slm_decoder_forward_rows(m, lead->pool, &lead->batch, lead->batch_kv, max_ctx, ids, lead->batch_pos, n);
    slm_linear_forward(lead->pool, &m->lm_head, logits, lead->batch.xn, n);
    for (int i = 0; i < n; i++) sessions[i]->n_past++;
    return SLM_OK;
}

slm_status slm_session_encode(slm_session *s, const slm_batch *batch, slm_encode_output what, float *out,
                              slm_error *err) {
    if (!s) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "session is NULL");
    if (!s->model->is_encoder)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s is a decoder (%s): use slm_session_forward",
                        s->model->dir, s->model->architecture);
    return slm_encoder_run(s->model, s->pool, &s->encoder, batch, what, out, err);
}
