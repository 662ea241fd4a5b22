/* loader.c — resolving a checkpoint's tensors and config values for the
 * family loaders, with shape checks and messages that name what is wrong. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"

void slm_loader_fail(slm_loader *ld, slm_status status, const char *fmt, ...) {
    if (ld->status) return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ld->status = slm_fail(ld->err, status, "%s: %s", ld->source, msg);
}

static const slm_tensor_view *find(slm_loader *ld, const char *name) {
    char full[256];
    if (ld->rename) return ld->rename(name, full, sizeof full) ? slm_weights_find(ld->weights, full) : NULL;
    for (int i = 0; i < 3; i++) {
        const char *prefix = ld->prefixes[i] ? ld->prefixes[i] : "";
        if (i > 0 && !ld->prefixes[i]) break;
        snprintf(full, sizeof full, "%s%s", prefix, name);
        const slm_tensor_view *t = slm_weights_find(ld->weights, full);
        if (t) return t;
    }
    return NULL;
}

int slm_loader_has(slm_loader *ld, const char *name) { return find(ld, name) != NULL; }

int slm_loader_rows(slm_loader *ld, const char *name) {
    const slm_tensor_view *t = find(ld, name);
    if (!t || t->ndim != 2 || t->shape[0] <= 0 || t->shape[0] > (1 << 30)) return 0;
    return (int)t->shape[0];
}

static void shape_text(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Finds name and checks dtype is a float type (or, for a matrix, a quantized
 * one) and the shape equals want (ndim entries). */
static const slm_tensor_view *require(slm_loader *ld, const char *name, const int64_t *want, int ndim) {
    if (ld->status) return NULL;
    const slm_tensor_view *t = find(ld, name);
    if (!t) {
        char stored[256];
        if (ld->rename && ld->rename(name, stored, sizeof stored))
            slm_loader_fail(ld, SLM_ERR_FORMAT, "missing tensor %s", stored);
        else
            slm_loader_fail(ld, SLM_ERR_FORMAT, "missing tensor %s%s", ld->prefixes[0] ? ld->prefixes[0] : "", name);
        return NULL;
    }
    int quantized_matrix = ndim == 2 && slm_dtype_is_quantized(t->dtype);
    if (t->dtype != SLM_DTYPE_F32 && t->dtype != SLM_DTYPE_F16 && t->dtype != SLM_DTYPE_BF16 && !quantized_matrix) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "tensor %s: dtype %s is not supported for %s (f32, f16, bf16%s)",
                        t->name, slm_dtype_name(t->dtype), ndim == 2 ? "weights" : "vectors",
                        ndim == 2 ? ", q4_0, q8_0, q4_k, q6_k" : "");
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == want[i];
    if (!same) {
        char got[96], expected[96];
        shape_text(got, sizeof got, t->shape, t->ndim);
        shape_text(expected, sizeof expected, want, ndim);
        slm_loader_fail(ld, SLM_ERR_FORMAT, "tensor %s: shape %s expected %s (from config.json)", t->name, got,
                        expected);
        return NULL;
    }
    return t;
}

static void count(slm_model *m, const slm_tensor_view *t) {
    m->n_params += slm_tensor_numel(t);
    m->weight_bytes += t->nbytes;
    const char *dt = slm_dtype_name(t->dtype);
    m->n_quantized += slm_dtype_is_quantized(t->dtype);
    if (!m->weight_dtype[0])
        snprintf(m->weight_dtype, sizeof m->weight_dtype, "%s", dt);
    else if (strcmp(m->weight_dtype, dt) != 0)
        snprintf(m->weight_dtype, sizeof m->weight_dtype, "mixed");
}

void slm_loader_matrix(slm_loader *ld, const char *name, slm_layout layout, int n_in, int n_out,
                       slm_matrix *out) {
    if (ld->out_in_only) layout = SLM_LAYOUT_OUT_IN;
    int64_t want[2] = {layout == SLM_LAYOUT_OUT_IN ? n_out : n_in, layout == SLM_LAYOUT_OUT_IN ? n_in : n_out};
    const slm_tensor_view *t = require(ld, name, want, 2);
    if (!t) return;
    out->dtype = t->dtype;
    out->layout = layout;
    out->n_in = n_in;
    out->n_out = n_out;
    out->data = t->data;
    count(ld->model, t);
}

static float *own(slm_loader *ld, size_t n) {
    slm_model *m = ld->model;
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        float **grown = realloc(m->owned, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        m->owned = grown;
        m->cap_owned = cap;
    }
    float *p = malloc(n * sizeof(float));
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

const float *slm_loader_vector(slm_loader *ld, const char *name, int n, int optional) {
    if (ld->status) return NULL;
    if (optional && !find(ld, name)) return NULL;
    int64_t want[1] = {n};
    const slm_tensor_view *t = require(ld, name, want, 1);
    if (!t) return NULL;
    float *v = own(ld, (size_t)n);
    if (!v) {
        slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "copying tensor %s", t->name);
        return NULL;
    }
    slm_convert_to_f32(t->dtype, t->data, v, (size_t)n);
    count(ld->model, t);
    return v;
}

int slm_config_int(slm_loader *ld, const json_t *cfg, const char *key, int fallback, int required) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        if (required) slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: missing %s", key);
        return fallback;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1 << 30)) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %s must be a non-negative integer", key);
        return fallback;
    }
    return (int)json_integer_value(v);
}

double slm_config_number(slm_loader *ld, const json_t *cfg, const char *key, double fallback) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return fallback;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %s must be a number", key);
        return fallback;
    }
    return json_number_value(v);
}

slm_activation slm_config_activation(slm_loader *ld, const json_t *cfg, const char *key, const char *fallback) {
    const char *name = json_string_value(json_object_get(cfg, key));
    if (!name) name = fallback;
    if (!strcmp(name, "gelu_new") || !strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_fast"))
        return SLM_ACT_GELU_TANH;
    if (!strcmp(name, "gelu")) return SLM_ACT_GELU_ERF;
    if (!strcmp(name, "relu")) return SLM_ACT_RELU;
    if (!strcmp(name, "silu") || !strcmp(name, "swish")) return SLM_ACT_SILU;
    slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: %s \"%s\" is not supported", key, name);
    return SLM_ACT_GELU_TANH;
}

void slm_config_special_tokens(slm_model *m, const json_t *cfg) {
    const json_t *bos = json_object_get(cfg, "bos_token_id");
    if (json_is_integer(bos)) m->bos = (int32_t)json_integer_value(bos);
    const json_t *eos = json_object_get(cfg, "eos_token_id");
    if (json_is_integer(eos)) {
        m->n_end_tokens = 1;
        m->end_tokens[0] = (int32_t)json_integer_value(eos);
    } else if (json_is_array(eos)) {
        m->n_end_tokens = 0;
        size_t i;
        const json_t *id;
        json_array_foreach(eos, i, id) {
            if (json_is_integer(id) && m->n_end_tokens < SLM_MAX_END_TOKENS)
                m->end_tokens[m->n_end_tokens++] = (int32_t)json_integer_value(id);
        }
    }
}

int slm_loader_blocks(slm_loader *ld) {
    slm_model *m = ld->model;
    if (ld->status) return 0;
    if (m->n_layers <= 0 || m->n_layers > 4096 || m->d_model <= 0 || m->n_vocab <= 0 || m->d_ff <= 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config: implausible sizes (layers %d, width %d, vocab %d, ff %d)",
                        m->n_layers, m->d_model, m->n_vocab, m->d_ff);
        return 0;
    }
    m->blocks = calloc((size_t)m->n_layers, sizeof *m->blocks);
    if (!m->blocks) slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "%d blocks", m->n_layers);
    return m->blocks != NULL;
}
