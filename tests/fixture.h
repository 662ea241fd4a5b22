/* fixture.h — what the fixture tests share: a case under tests/data/fixtures/<case>/
 * (case.json, inputs.safetensors, outputs.safetensors written by transformers),
 * its int64 inputs as int32, the tolerance and reference tensor of each output,
 * the masked |a - b| <= atol + rtol |b| comparison, loading a model variant,
 * opening a session, encoding (sized per output, each row alone against the
 * batch, a missing head's error), and scratch checkpoint folders (a variant's
 * weights re-run under an edited config).
 * Like check.h it is included by each test program; every helper is static
 * inline, so a program that does not use one is not warned about it.
 * A program may #define FIXTURE_TMP_TEMPLATE (a mkdtemp template) before
 * including this header to name its scratch folders. */
#ifndef SLM_TESTS_FIXTURE_H
#define SLM_TESTS_FIXTURE_H

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "formats/weights.h"
#include "slm.h"

#ifndef FIXTURE_TMP_TEMPLATE
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_test_XXXXXX"
#endif

typedef struct {
    const char *name;
    json_t *json;
    slm_weights *inputs, *outputs;
    int n_seqs, seq_len;
    int32_t *ids, *types, *mask; /* (n_seqs, seq_len); types NULL when the case has none */
} fixture;

static double worst_ratio; /* largest |a-b| / (atol + rtol|b|) seen by compare: the margin left */

/* A 2-D int64 tensor of w as int32 (rows, cols); NULL when absent or not such a tensor. */
static inline int32_t *int_tensor(const slm_weights *w, const char *name, int *rows, int *cols) {
    const slm_tensor_view *t = slm_weights_find(w, name);
    if (!t || t->dtype != SLM_DTYPE_I64 || t->ndim != 2) return NULL;
    *rows = (int)t->shape[0];
    *cols = (int)t->shape[1];
    size_t n = (size_t)slm_tensor_numel(t);
    int32_t *out = malloc(n * sizeof *out);
    const int64_t *src = t->data;
    for (size_t i = 0; i < n; i++) out[i] = (int32_t)src[i];
    return out;
}

/* Opens the case's three files (one CHECK); the inputs are not read. */
static inline int open_fixture_files(fixture *f, const char *name) {
    char path[512], rel[256];
    memset(f, 0, sizeof *f);
    f->name = name;
    snprintf(rel, sizeof rel, "fixtures/%s/case.json", name);
    f->json = json_load_file(test_path(path, sizeof path, rel), 0, NULL);
    snprintf(rel, sizeof rel, "fixtures/%s/inputs.safetensors", name);
    f->inputs = slm_safetensors_open(test_path(path, sizeof path, rel), NULL);
    snprintf(rel, sizeof rel, "fixtures/%s/outputs.safetensors", name);
    f->outputs = slm_safetensors_open(test_path(path, sizeof path, rel), NULL);
    CHECK(f->json && f->inputs && f->outputs, "%s: fixture files open", name);
    return f->json && f->inputs && f->outputs;
}

/* The files, then input_ids, attention_mask and token_type_ids (two CHECKs);
 * need_types: token_type_ids must be there too. */
static inline int open_fixture_inputs(fixture *f, const char *name, int need_types) {
    if (!open_fixture_files(f, name)) return 0;
    int r, c;
    f->ids = int_tensor(f->inputs, "input_ids", &f->n_seqs, &f->seq_len);
    f->mask = int_tensor(f->inputs, "attention_mask", &r, &c);
    f->types = int_tensor(f->inputs, "token_type_ids", &r, &c);
    if (need_types) {
        CHECK(f->ids && f->mask && f->types, "%s: input_ids, attention_mask, token_type_ids present", name);
        return f->ids && f->mask && f->types;
    }
    CHECK(f->ids && f->mask, "%s: input_ids and attention_mask present", name);
    return f->ids && f->mask;
}

/* A case whose token_type_ids are optional. */
static inline int open_fixture(fixture *f, const char *name) {
    return open_fixture_inputs(f, name, 0);
}

/* A case that must carry token_type_ids. */
static inline int open_fixture_with_types(fixture *f, const char *name) {
    return open_fixture_inputs(f, name, 1);
}

static inline void close_fixture(fixture *f) {
    json_decref(f->json);
    slm_weights_free(f->inputs);
    slm_weights_free(f->outputs);
    free(f->ids);
    free(f->mask);
    free(f->types);
}

/* The output's suggested_atol in case.json, or 1e-4. */
static inline double tolerance(const fixture *f, const char *output) {
    json_t *o = json_object_get(json_object_get(f->json, "outputs"), output);
    double atol = json_number_value(json_object_get(o, "suggested_atol"));
    return atol > 0 ? atol : 1e-4;
}

/* The named output's numel floats (a CHECK); NULL when absent or of another type or size. */
static inline const float *reference(const fixture *f, const char *output, size_t numel) {
    const slm_tensor_view *t = slm_weights_find(f->outputs, output);
    int ok = t && t->dtype == SLM_DTYPE_F32 && (size_t)slm_tensor_numel(t) == numel;
    CHECK(ok, "%s: output %s of %zu floats", f->name, output, numel);
    return ok ? t->data : NULL;
}

/* Compares got against want element by element, rows of `width` floats, only
 * rows whose mask entry is 1 (mask NULL: every row): |a - b| <= atol + 1e-4 |b|.
 * One CHECK; updates worst_ratio. */
static inline int compare(const fixture *f, const char *what, const float *got, const float *want, size_t rows,
                          size_t width, const int32_t *mask, double atol) {
    double rtol = 1e-4, worst = -INFINITY;
    size_t worst_i = 0, compared = 0;
    for (size_t r = 0; r < rows; r++) {
        if (mask && !mask[r]) continue;
        for (size_t j = 0; j < width; j++) {
            size_t i = r * width + j;
            double ratio = fabs((double)got[i] - want[i]) / (atol + rtol * fabs(want[i]));
            if (isnan(ratio)) ratio = INFINITY;
            if (ratio > worst) {
                worst = ratio;
                worst_i = i;
            }
            compared++;
        }
    }
    if (worst > worst_ratio) worst_ratio = worst;
    CHECK(compared > 0 && worst <= 1.0, "%s: %s: [%zu] = %.7g, reference %.7g (atol %g, %.2f x tolerance)", f->name,
          what, worst_i, got[worst_i], want[worst_i], atol, worst);
    return worst <= 1.0;
}

/* Compares got with the named output (same layout) at the output's tolerance. */
static inline void compare_output(const fixture *f, const char *output, const float *got, size_t rows, size_t width,
                                  const int32_t *mask) {
    const float *want = reference(f, output, rows * width);
    if (want) compare(f, output, got, want, rows, width, mask, tolerance(f, output));
}

/* The whole batch of the case: ids, token types (NULL when none) and mask. */
static inline slm_batch fixture_batch(const fixture *f) {
    slm_batch b = {f->n_seqs, f->seq_len, f->ids, f->types, f->mask};
    return b;
}

/* A model folder without its tokenizer (a CHECK). */
static inline slm_model *load_model(const char *dir) {
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_error err;
    slm_model *m = slm_model_load(dir, &mp, &err);
    CHECK(m != NULL, "load %s: %s", dir, err.message);
    return m;
}

/* fixtures/<case>/<variant> by load_model: a folder that is missing fails its CHECK. */
static inline slm_model *load_fixture_model(const fixture *f, const char *variant) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/%s", f->name, variant);
    return load_model(test_path(path, sizeof path, rel));
}

/* fixtures/<case>/<variant> by load_model, or NULL without a CHECK when the case has no such variant. */
static inline slm_model *load_fixture_variant(const fixture *f, const char *variant) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/%s", f->name, variant);
    test_path(path, sizeof path, rel);
    if (access(path, F_OK) != 0) return NULL;
    return load_model(path);
}

static inline slm_session *open_session(const slm_model *m, int threads) {
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = threads;
    slm_error err;
    slm_session *s = slm_session_new(m, &sp, &err);
    CHECK(s != NULL, "session: %s", err.message);
    return s;
}

/* Runs one encode into a new buffer of n floats; NULL on error (a CHECK). */
static inline float *encode(slm_session *s, const slm_batch *b, slm_encode_output what, size_t n, const char *label) {
    float *out = malloc((n ? n : 1) * sizeof(float));
    slm_error err;
    slm_status st = slm_session_encode(s, b, what, out, &err);
    CHECK(st == SLM_OK, "%s: encode %d: %s", label, (int)what, err.message);
    if (st) {
        free(out);
        return NULL;
    }
    return out;
}

/* Floats that `what` writes for batch b: (S, T, d_model), (S, d_model), (S, T, n_vocab),
 * (S, num_labels), (S, T, num_labels) or (S, 2, T). */
static inline size_t output_size(const slm_model *m, const slm_batch *b, slm_encode_output what) {
    slm_model_info info = slm_model_get_info(m);
    size_t S = (size_t)b->n_seqs, T = (size_t)b->seq_len;
    switch (what) {
    case SLM_ENCODE_HIDDEN: return S * T * info.d_model;
    case SLM_ENCODE_POOLER: return S * info.d_model;
    case SLM_ENCODE_MLM: return S * T * info.n_vocab;
    case SLM_ENCODE_SEQCLS: return S * slm_model_num_labels(m);
    case SLM_ENCODE_TOKCLS: return S * T * slm_model_num_labels(m);
    case SLM_ENCODE_QA: return S * 2 * T;
    }
    return 0;
}

/* Runs one encode and returns the allocated output, sized for `what` (NULL on error, which is checked). */
static inline float *encode_output(slm_session *s, const slm_model *m, const slm_batch *b, slm_encode_output what,
                                   const char *label) {
    return encode(s, b, what, output_size(m, b, what), label);
}

/* Each row alone, trimmed to its real length with no mask, must give what the batch gave
 * (batch_out, laid out as output_size says). One CHECK a row. */
static inline void check_each_row_alone(const fixture *f, slm_session *s, const slm_model *m, slm_encode_output what,
                                        const float *batch_out) {
    slm_model_info info = slm_model_get_info(m);
    int width = what == SLM_ENCODE_HIDDEN ? info.d_model : what == SLM_ENCODE_MLM ? info.n_vocab
                : what == SLM_ENCODE_TOKCLS ? slm_model_num_labels(m) : 0;
    for (int r = 0; r < f->n_seqs; r++) {
        int len = 0;
        while (len < f->seq_len && f->mask[(size_t)r * f->seq_len + len]) len++;
        slm_batch one = {1, len, f->ids + (size_t)r * f->seq_len, f->types ? f->types + (size_t)r * f->seq_len : NULL,
                         NULL};
        float *out = encode_output(s, m, &one, what, f->name);
        if (!out) continue;
        float worst = 0;
        if (what == SLM_ENCODE_POOLER || what == SLM_ENCODE_SEQCLS) {
            int w = what == SLM_ENCODE_POOLER ? info.d_model : slm_model_num_labels(m);
            for (int j = 0; j < w; j++) worst = fmaxf(worst, fabsf(out[j] - batch_out[(size_t)r * w + j]));
        } else if (what == SLM_ENCODE_QA) {
            for (int k = 0; k < 2; k++)
                for (int t = 0; t < len; t++)
                    worst = fmaxf(worst, fabsf(out[k * len + t] - batch_out[((size_t)r * 2 + k) * f->seq_len + t]));
        } else {
            for (size_t j = 0; j < (size_t)len * width; j++)
                worst = fmaxf(worst, fabsf(out[j] - batch_out[(size_t)r * f->seq_len * width + j]));
        }
        /* A short row alone and the batch run different matmul kernels (streaming for up to
         * SLM_DECODE_MAX_T rows, packed tiles for more), so sums differ in order: 1e-4 allows
         * that rounding; padding leaking into a row would be orders of magnitude more. */
        CHECK(worst <= 1e-4f, "%s: output %d, row %d alone differs from the batch by %g", f->name, (int)what, r,
              worst);
        free(out);
    }
}

/* A head the model lacks is an SLM_ERR_INVALID_ARGUMENT whose message names it (a CHECK). */
static inline void check_missing_head(const fixture *f, slm_session *s, const slm_model *m, slm_encode_output what,
                                      const char *name) {
    slm_batch b = fixture_batch(f);
    size_t n = output_size(m, &b, what);
    float *out = malloc((n ? n : 1) * sizeof(float) + 64 * sizeof(float) * (size_t)f->seq_len * 2);
    slm_error err;
    slm_status st = slm_session_encode(s, &b, what, out, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, name), "%s: missing %s head: %s", f->name, name,
          st ? err.message : "accepted");
    free(out);
}

/* ---- checkpoints written for a test: a config.json plus a linked or written safetensors ---- */

/* A scratch folder holding a config.json written from cfg; 0 on failure. */
static inline int make_folder(char *dir, size_t cap, json_t *cfg) {
    snprintf(dir, cap, FIXTURE_TMP_TEMPLATE);
    if (!mkdtemp(dir)) return 0;
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return json_dump_file(cfg, path, JSON_INDENT(2)) == 0;
}

static inline void remove_folder(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

/* A folder holding cfg and a link to the fixture variant's weights; 0 on failure. */
static inline int linked_folder(char *dir, size_t cap, json_t *cfg, const char *fixture_name, const char *variant) {
    char path[512], rel[256], link[700];
    if (!make_folder(dir, cap, cfg)) return 0;
    snprintf(rel, sizeof rel, "fixtures/%s/%s/model.safetensors", fixture_name, variant);
    char *abs = realpath(test_path(path, sizeof path, rel), NULL);
    snprintf(link, sizeof link, "%s/model.safetensors", dir);
    int ok = abs && symlink(abs, link) == 0;
    CHECK(ok, "link %s", rel);
    free(abs);
    return ok;
}

/* The variant's config.json (a CHECK). */
static inline json_t *variant_config(const char *fixture_name, const char *variant) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/%s/config.json", fixture_name, variant);
    json_t *cfg = json_load_file(test_path(path, sizeof path, rel), 0, NULL);
    CHECK(cfg != NULL, "read %s", rel);
    return cfg;
}

/* Runs the variant's weights under cfg and compares `what` with `output` where the mask is 1. */
static inline void check_under(const fixture *f, json_t *cfg, const char *variant, slm_encode_output what,
                               const char *output) {
    char dir[600];
    if (linked_folder(dir, sizeof dir, cfg, f->name, variant)) {
        slm_model *m = load_model(dir);
        slm_session *s = m ? open_session(m, 1) : NULL;
        if (s) {
            slm_model_info info = slm_model_get_info(m);
            size_t rows = (size_t)f->n_seqs * f->seq_len;
            size_t width = (size_t)(what == SLM_ENCODE_MLM ? info.n_vocab : info.d_model);
            slm_batch b = fixture_batch(f);
            float *out = encode(s, &b, what, rows * width, output);
            if (out) compare_output(f, output, out, rows, width, f->mask);
            free(out);
        }
        slm_session_free(s);
        slm_model_free(m);
    }
    remove_folder(dir);
}

#endif
