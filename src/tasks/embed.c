/* embed.c — sentence embeddings as sentence-transformers computes them: the encoder's last
 * hidden state, pooled (Pooling module), then L2-normalised (Normalize module), with the
 * modules read from the checkpoint folder's modules.json. Also the helpers every encoder
 * task shares: checking the session's model, encoding text, running one sequence. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"
#include "tasks/encoder_tasks.h"
#include "tokenizers/tokenizer.h"

/* sentence-transformers encodes 32 texts per batch by default. */
#define EMBED_BATCH 32

/* ---- helpers shared by the encoder tasks ---- */

static const char *head_name(slm_head head) {
    switch (head) {
    case SLM_HEAD_MLM: return "masked-LM (e.g. BertForMaskedLM)";
    case SLM_HEAD_SEQCLS: return "sequence-classification (e.g. BertForSequenceClassification)";
    case SLM_HEAD_TOKCLS: return "token-classification (e.g. BertForTokenClassification)";
    case SLM_HEAD_QA: return "question-answering (e.g. BertForQuestionAnswering)";
    default: return "base";
    }
}

slm_status slm_task_prepare(slm_session *session, slm_head head, const char *task, const slm_model **model,
                            const slm_tokenizer **tok, slm_error *err) {
    if (!session) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: session is NULL", task);
    const slm_model *m = slm_session_model(session);
    if (!slm_model_is_encoder(m))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: %s is not an encoder model (%s); %s needs BERT-style models",
                        task, slm_model_dir(m), slm_model_get_info(m).architecture, task);
    if (head != SLM_HEAD_BASE && !slm_model_has_head(m, head))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: %s has no %s head", task, slm_model_dir(m),
                        head_name(head));
    const slm_tokenizer *t = slm_model_tokenizer(m);
    if (!t) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: %s has no tokenizer loaded", task, slm_model_dir(m));
    *model = m;
    if (tok) *tok = t;
    return SLM_OK;
}

slm_status slm_task_encode(const slm_tokenizer *tok, const char *text, const char *pair, int max_length,
                           slm_encoding **enc, slm_error *err) {
    if (!text) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "text is NULL");
    slm_encode_params p = slm_encode_default_params();
    p.add_special = 1;
    p.max_length = max_length;
    return slm_encode(tok, text, strlen(text), pair, pair ? strlen(pair) : 0, &p, enc, err);
}

slm_status slm_task_run(slm_session *session, const slm_encoding *enc, slm_encode_output what, size_t floats,
                        float **out, slm_error *err) {
    *out = NULL;
    int32_t *mask = malloc(enc->n * sizeof *mask);
    float *result = malloc((floats ? floats : 1) * sizeof *result);
    if (!mask || !result) {
        free(mask);
        free(result);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "encoder output of %zu floats", floats);
    }
    for (size_t i = 0; i < enc->n; i++) mask[i] = 1;
    slm_batch batch = {1, (int)enc->n, enc->ids, enc->type_ids, mask};
    slm_status st = slm_session_encode(session, &batch, what, result, err);
    free(mask);
    if (st) {
        free(result);
        return st;
    }
    *out = result;
    return SLM_OK;
}

size_t slm_task_cp_to_byte(const char *s, size_t len, int cp) {
    size_t i = 0;
    for (int seen = 0; i < len && seen < cp; seen++) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80) i++;
    }
    return i;
}

int slm_task_continues_word(const slm_tokenizer *tok, const slm_encoding *enc, size_t i, const char *text,
                            size_t len) {
    if (slm_tokenizer_has_subword_prefix(tok)) {
        const char *t = slm_token_text(tok, enc->ids[i]);
        return t && !strncmp(t, "##", 2) && enc->ids[i] != slm_tokenizer_special(tok, "unk");
    }
    int start = enc->offsets[2 * i];
    if (start <= 0) return 0;
    size_t before = slm_task_cp_to_byte(text, len, start - 1), at = slm_task_cp_to_byte(text, len, start);
    return at < len && text[before] != ' ' && text[at] != ' ';
}

char *slm_task_strndup(const char *s, size_t n) {
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

/* A JSON file of the model folder; NULL with *missing = 1 when it does not exist. */
static json_t *read_json(const char *dir, const char *rel, int *missing, slm_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    *missing = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) *missing = 1;
        else slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!root) slm_fail(err, SLM_ERR_FORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    return root;
}

void slm_task_problem_type(const slm_model *model, char *out, size_t cap) {
    out[0] = '\0';
    int missing;
    json_t *config = read_json(slm_model_dir(model), "config.json", &missing, NULL);
    const char *v = json_string_value(json_object_get(config, "problem_type"));
    if (v) snprintf(out, cap, "%s", v);
    json_decref(config);
}

/* ---- pooling configuration ---- */

static const char *const pooling_names[] = {"cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean",
                                            "lasttoken"};
/* The legacy booleans, in the order sentence-transformers concatenates them. */
static const char *const pooling_legacy_keys[] = {"pooling_mode_cls_token",           "pooling_mode_max_tokens",
                                                  "pooling_mode_mean_tokens",         "pooling_mode_mean_sqrt_len_tokens",
                                                  "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};

static slm_status add_mode(slm_pooling *p, const char *name, const char *file, slm_error *err) {
    for (int m = 0; m < SLM_POOLING_MAX_MODES; m++) {
        if (name && !strcmp(name, pooling_names[m])) {
            if (p->n_modes == SLM_POOLING_MAX_MODES)
                return slm_fail(err, SLM_ERR_FORMAT, "%s: more than %d pooling modes", file, SLM_POOLING_MAX_MODES);
            p->modes[p->n_modes++] = (slm_pooling_mode)m;
            return SLM_OK;
        }
    }
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: pooling_mode \"%s\" is not one of cls, max, mean, "
                    "mean_sqrt_len_tokens, weightedmean, lasttoken", file, name ? name : "(not a string)");
}

static slm_status read_pooling_config(const char *dir, const char *module_path, slm_pooling *p, slm_error *err) {
    char rel[1024];
    snprintf(rel, sizeof rel, "%s%sconfig.json", module_path, module_path[0] ? "/" : "");
    int missing;
    json_t *config = read_json(dir, rel, &missing, err);
    if (!config) return missing ? slm_fail(err, SLM_ERR_FORMAT, "%s/%s: missing (named by modules.json)", dir, rel)
                                : err ? err->status : SLM_ERR_FORMAT;
    slm_status st = SLM_OK;
    p->n_modes = 0;
    json_t *mode = json_object_get(config, "pooling_mode");
    if (json_is_string(mode)) {
        st = add_mode(p, json_string_value(mode), rel, err);
    } else if (json_is_array(mode)) {
        size_t i;
        json_t *item;
        json_array_foreach(mode, i, item) {
            if (st == SLM_OK) st = add_mode(p, json_string_value(item), rel, err);
        }
    } else {
        for (int m = 0; m < SLM_POOLING_MAX_MODES; m++)
            if (json_is_true(json_object_get(config, pooling_legacy_keys[m]))) p->modes[p->n_modes++] = (slm_pooling_mode)m;
    }
    if (st == SLM_OK && p->n_modes == 0) { /* no mode named: sentence-transformers' default */
        p->modes[0] = SLM_POOL_MEAN;
        p->n_modes = 1;
    }
    json_decref(config);
    return st;
}

/* The last dotted component of a module type: "sentence_transformers.models.Pooling" -> "Pooling". */
static const char *type_basename(const char *type) {
    const char *dot = strrchr(type, '.');
    return dot ? dot + 1 : type;
}

slm_status slm_pooling_from_model(const slm_model *model, slm_pooling *p, slm_error *err) {
    memset(p, 0, sizeof *p);
    p->n_modes = 1;
    p->modes[0] = SLM_POOL_MEAN;
    if (!model) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "model is NULL");
    /* A GGUF file says its pooling itself; llama.cpp then normalizes the vectors. */
    static const slm_pooling_mode gguf_modes[] = {SLM_POOL_MEAN, SLM_POOL_MEAN, SLM_POOL_CLS, SLM_POOL_LAST_TOKEN};
    int gguf = slm_model_gguf_pooling(model);
    if (gguf > 0 && gguf < 4) {
        p->modes[0] = gguf_modes[gguf];
        p->normalize = 1;
        return SLM_OK;
    }
    const char *dir = slm_model_dir(model);
    int missing;
    json_t *modules = read_json(dir, "modules.json", &missing, err);
    if (!modules) return missing ? SLM_OK : err ? err->status : SLM_ERR_FORMAT;
    slm_status st = SLM_OK;
    int have_pooling = 0;
    if (!json_is_array(modules)) st = slm_fail(err, SLM_ERR_FORMAT, "%s/modules.json: not a list", dir);
    size_t i;
    json_t *module;
    json_array_foreach(modules, i, module) {
        if (st) break;
        const char *type = json_string_value(json_object_get(module, "type"));
        const char *path = json_string_value(json_object_get(module, "path"));
        if (!type) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s/modules.json: module %zu has no type", dir, i);
        } else if (!strcmp(type_basename(type), "Transformer")) {
            continue;
        } else if (!strcmp(type_basename(type), "Pooling")) {
            st = read_pooling_config(dir, path ? path : "", p, err);
            have_pooling = 1;
        } else if (!strcmp(type_basename(type), "Normalize")) {
            p->normalize = 1;
        } else {
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s/modules.json: module %zu (%s) is not supported", dir, i, type);
        }
    }
    json_decref(modules);
    if (st == SLM_OK && !have_pooling)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s/modules.json: no Pooling module", dir);
    if (st) return st;

    json_t *sbert = read_json(dir, "sentence_bert_config.json", &missing, NULL);
    json_t *max_seq = json_object_get(sbert, "max_seq_length");
    if (json_is_integer(max_seq) && json_integer_value(max_seq) > 0 && json_integer_value(max_seq) < (1 << 30))
        p->max_length = (int)json_integer_value(max_seq);
    json_decref(sbert);
    return SLM_OK;
}

int slm_pooling_dim(const slm_pooling *p, int d_model) { return p->n_modes * d_model; }

/* ---- pooling ---- */

/* One sequence: h (T, d), mask (T) -> out (d) for one mode. */
static void pool_one(slm_pooling_mode mode, const float *h, const int32_t *mask, int T, int d, float *out) {
#define ON(t) (mask ? mask[t] != 0 : 1)
    switch (mode) {
    case SLM_POOL_CLS: {
        int first = 0; /* argmax of the mask: the first attended token, 0 when none */
        while (first < T && !ON(first)) first++;
        if (first == T) first = 0;
        memcpy(out, h + (size_t)first * d, (size_t)d * sizeof *out);
        break;
    }
    case SLM_POOL_MAX:
        for (int j = 0; j < d; j++) {
            float best = -INFINITY;
            for (int t = 0; t < T; t++)
                if (ON(t) && h[(size_t)t * d + j] > best) best = h[(size_t)t * d + j];
            out[j] = best;
        }
        break;
    case SLM_POOL_MEAN:
    case SLM_POOL_MEAN_SQRT_LEN:
    case SLM_POOL_WEIGHTED_MEAN: {
        double weight_sum = 0;
        for (int t = 0; t < T; t++)
            if (ON(t)) weight_sum += mode == SLM_POOL_WEIGHTED_MEAN ? t + 1 : 1;
        double divisor = weight_sum < 1e-9 ? 1e-9 : weight_sum;
        if (mode == SLM_POOL_MEAN_SQRT_LEN) divisor = sqrt(divisor);
        for (int j = 0; j < d; j++) {
            double sum = 0;
            for (int t = 0; t < T; t++)
                if (ON(t)) sum += (mode == SLM_POOL_WEIGHTED_MEAN ? t + 1 : 1) * (double)h[(size_t)t * d + j];
            out[j] = (float)(sum / divisor);
        }
        break;
    }
    case SLM_POOL_LAST_TOKEN: {
        int last = T - 1; /* the last attended token; T - 1 (zeroed by the mask) when none */
        while (last >= 0 && !ON(last)) last--;
        if (last < 0) {
            memset(out, 0, (size_t)d * sizeof *out);
        } else {
            memcpy(out, h + (size_t)last * d, (size_t)d * sizeof *out);
        }
        break;
    }
    }
#undef ON
}

void slm_pool(const slm_pooling *p, const float *hidden, const int32_t *mask, int n_seqs, int seq_len, int d,
              float *out) {
    int width = slm_pooling_dim(p, d);
    for (int s = 0; s < n_seqs; s++) {
        const float *h = hidden + (size_t)s * seq_len * d;
        const int32_t *m = mask ? mask + (size_t)s * seq_len : NULL;
        for (int k = 0; k < p->n_modes; k++) pool_one(p->modes[k], h, m, seq_len, d, out + (size_t)s * width + (size_t)k * d);
    }
}

/* torch.nn.functional.normalize(p=2, eps=1e-12): x / max(||x||, eps). */
static void l2_normalize(float *x, int n) {
    double sq = 0;
    for (int i = 0; i < n; i++) sq += (double)x[i] * x[i];
    double norm = sqrt(sq);
    if (norm < 1e-12) norm = 1e-12;
    for (int i = 0; i < n; i++) x[i] = (float)(x[i] / norm);
}

static slm_status pool_batch(slm_session *session, const slm_pooling *p, const slm_batch *batch, float *out,
                             slm_error *err) {
    int d = slm_model_get_info(slm_session_model(session)).d_model;
    size_t n_hidden = (size_t)batch->n_seqs * (size_t)batch->seq_len * (size_t)d;
    float *hidden = malloc((n_hidden ? n_hidden : 1) * sizeof *hidden);
    if (!hidden) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "hidden states of %zu floats", n_hidden);
    slm_status st = slm_session_encode(session, batch, SLM_ENCODE_HIDDEN, hidden, err);
    if (st == SLM_OK) {
        slm_pool(p, hidden, batch->attention_mask, batch->n_seqs, batch->seq_len, d, out);
        int width = slm_pooling_dim(p, d);
        if (p->normalize)
            for (int s = 0; s < batch->n_seqs; s++) l2_normalize(out + (size_t)s * width, width);
    }
    free(hidden);
    return st;
}

slm_status slm_embed_batch(slm_session *session, const slm_batch *batch, float *out, int *dim, slm_error *err) {
    const slm_model *model;
    if (!session) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "embed: session is NULL");
    model = slm_session_model(session);
    if (!slm_model_is_encoder(model))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "embed: %s is not an encoder model", slm_model_dir(model));
    slm_pooling p;
    slm_status st = slm_pooling_from_model(model, &p, err);
    if (st) return st;
    int d = slm_model_get_info(model).d_model;
    if (dim) *dim = slm_pooling_dim(&p, d);
    if (!out) return SLM_OK;
    if (!batch) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "embed: batch is NULL");
    return pool_batch(session, &p, batch, out, err);
}

/* The number of tokens a text may have: the model's limit, the tokenizer's
 * model_max_length and sentence-transformers' max_seq_length, whichever is smallest. */
static int embed_max_length(const slm_model *model, const slm_tokenizer *tok, const slm_pooling *p) {
    int limit = slm_model_max_length(model);
    int tok_limit = slm_tokenizer_model_max_length(tok);
    if (tok_limit > 0 && (limit <= 0 || tok_limit < limit)) limit = tok_limit;
    if (p->max_length > 0 && (limit <= 0 || p->max_length < limit)) limit = p->max_length;
    return limit;
}

slm_status slm_embed(slm_session *session, const char *const *texts, int n, float **vectors, int *dim,
                     slm_error *err) {
    if (vectors) *vectors = NULL;
    const slm_model *model;
    const slm_tokenizer *tok;
    slm_status st = slm_task_prepare(session, SLM_HEAD_BASE, "embed", &model, &tok, err);
    if (st) return st;
    if (n < 0 || (n > 0 && !texts) || !vectors)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "embed: %d texts at %p", n, (const void *)texts);
    slm_pooling p;
    st = slm_pooling_from_model(model, &p, err);
    if (st) return st;
    int width = slm_pooling_dim(&p, slm_model_get_info(model).d_model);
    if (dim) *dim = width;
    if (n == 0) return SLM_OK;
    int max_length = embed_max_length(model, tok, &p);
    int32_t pad = slm_tokenizer_special(tok, "pad");
    if (pad < 0) pad = 0;

    float *out = malloc((size_t)n * (size_t)width * sizeof *out);
    slm_encoding *encs[EMBED_BATCH] = {0};
    int32_t *ids = NULL, *types = NULL, *mask = NULL;
    if (!out) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "embed: %d vectors of %d floats", n, width);
    for (int first = 0; first < n && st == SLM_OK; first += EMBED_BATCH) {
        int count = n - first < EMBED_BATCH ? n - first : EMBED_BATCH;
        size_t seq_len = 0;
        for (int i = 0; i < count && st == SLM_OK; i++) {
            st = slm_task_encode(tok, texts[first + i], NULL, max_length, &encs[i], err);
            if (st == SLM_OK && encs[i]->n > seq_len) seq_len = encs[i]->n;
            if (st) slm_error_prefix(err, "embed");
        }
        if (st == SLM_OK) {
            size_t cells = (size_t)count * seq_len;
            free(ids), free(types), free(mask);
            ids = malloc(cells * sizeof *ids);
            types = malloc(cells * sizeof *types);
            mask = malloc(cells * sizeof *mask);
            if (!ids || !types || !mask) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "embed: batch of %zu tokens", cells);
        }
        if (st == SLM_OK) {
            for (int i = 0; i < count; i++) {
                for (size_t t = 0; t < seq_len; t++) {
                    size_t at = (size_t)i * seq_len + t;
                    int real = t < encs[i]->n;
                    ids[at] = real ? encs[i]->ids[t] : pad;
                    types[at] = real ? encs[i]->type_ids[t] : 0;
                    mask[at] = real;
                }
            }
            slm_batch batch = {count, (int)seq_len, ids, types, mask};
            st = pool_batch(session, &p, &batch, out + (size_t)first * width, err);
        }
        for (int i = 0; i < count; i++) {
            slm_encoding_free(encs[i]);
            encs[i] = NULL;
        }
    }
    free(ids), free(types), free(mask);
    if (st) {
        free(out);
        return st;
    }
    *vectors = out;
    return SLM_OK;
}
