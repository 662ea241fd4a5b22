/* test_models.c — every GPT-2, Llama and Phi fixture against Hugging Face's own outputs:
 * logits and final hidden states at every position, the padded batch, greedy
 * generation with the KV cache (tokens and step logits), teacher-forced logits,
 * and the f16 / bf16 / hub-layout variants; a published config over a case's weights,
 * and configs that contradict the weights. Expected values are read from the
 * fixtures' outputs.safetensors, written by transformers. */
#include "fixture.h"

/* Token ids of an int64 input tensor, row r of length n (all of it when r < 0). */
static int32_t *input_ids(const fixture *f, const char *name, int r, size_t *n) {
    const slm_tensor_view *t = slm_weights_find(f->inputs, name);
    if (!t) return NULL;
    size_t cols = (size_t)t->shape[t->ndim - 1];
    size_t total = (size_t)slm_tensor_numel(t);
    size_t first = r < 0 ? 0 : (size_t)r * cols;
    *n = r < 0 ? total : cols;
    int32_t *ids = malloc(*n * sizeof *ids);
    const int64_t *src = t->data;
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)src[first + i];
    return ids;
}

/* Compares n floats at got against the reference tensor's elements [offset, offset+n):
 * |a - b| <= atol + rtol |b| with the case's tolerance. Returns the worst excess. */
static int close_to(const fixture *f, const char *output, size_t offset, const float *got, size_t n,
                    double atol, const char *what) {
    const slm_tensor_view *t = slm_weights_find(f->outputs, output);
    CHECK(t != NULL, "%s: output %s present", f->name, output);
    if (!t) return 0;
    CHECK(offset + n <= (size_t)slm_tensor_numel(t), "%s: %s has %zu values", f->name, output, offset + n);
    if (offset + n > (size_t)slm_tensor_numel(t)) return 0;
    const float *want = (const float *)t->data + offset;
    double rtol = 1e-4, worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double excess = fabs((double)got[i] - want[i]) - (atol + rtol * fabs(want[i]));
        if (!(excess <= worst)) {
            worst = isnan(excess) ? INFINITY : excess;
            worst_i = i;
        }
    }
    CHECK(worst <= 0, "%s: %s: %s[%zu] = %.7g, reference %.7g (atol %g)", f->name, what, output, offset + worst_i,
          got[worst_i], want[worst_i], atol);
    return worst <= 0;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* prompt.logits (or a variant's) and the final hidden state at every position. */
static void check_prompt(const fixture *f, slm_model *m, const char *logits_name, int check_hidden) {
    slm_model_info info = slm_model_get_info(m);
    size_t n;
    int32_t *ids = input_ids(f, "prompt.input_ids", -1, &n);
    slm_session *s = open_session(m, 2);
    float *out = malloc(n * info.n_vocab * sizeof(float));
    slm_error err;
    if (s && ids && out) {
        slm_status st = slm_session_forward(s, ids, n, SLM_OUTPUT_LOGITS, out, &err);
        CHECK(st == SLM_OK, "%s: forward: %s", f->name, err.message);
        close_to(f, logits_name, 0, out, n * info.n_vocab, tolerance(f, logits_name), "prompt logits");
        if (check_hidden) {
            char name[64];
            snprintf(name, sizeof name, "prompt.hidden_states.%d", info.n_layers);
            slm_session_reset(s);
            st = slm_session_forward(s, ids, n, SLM_OUTPUT_HIDDEN, out, &err);
            CHECK(st == SLM_OK, "%s: forward hidden: %s", f->name, err.message);
            close_to(f, name, 0, out, n * info.d_model, tolerance(f, name), "final hidden state");
        }
    }
    free(out);
    free(ids);
    slm_session_free(s);
}

/* Each row of the right-padded batch on its own, compared where attention_mask == 1. */
static void check_batch(const fixture *f, slm_model *m) {
    slm_model_info info = slm_model_get_info(m);
    const slm_tensor_view *mask = slm_weights_find(f->inputs, "batch.attention_mask");
    if (!mask) return;
    int rows = (int)mask->shape[0], cols = (int)mask->shape[1];
    slm_session *s = open_session(m, 2);
    float *out = malloc((size_t)cols * info.n_vocab * sizeof(float));
    for (int r = 0; s && out && r < rows; r++) {
        size_t n, valid = 0;
        int32_t *ids = input_ids(f, "batch.input_ids", r, &n);
        for (int c = 0; c < cols; c++) valid += ((const int64_t *)mask->data)[r * cols + c] != 0;
        slm_session_reset(s);
        slm_error err;
        CHECK(slm_session_forward(s, ids, valid, SLM_OUTPUT_LOGITS, out, &err) == SLM_OK, "%s", err.message);
        close_to(f, "batch.logits", (size_t)r * cols * info.n_vocab, out, valid * info.n_vocab, 1e-4, "batch row");
        free(ids);
    }
    free(out);
    slm_session_free(s);
}

/* Greedy decoding with the KV cache: each step's logits and the chosen tokens. */
static void check_generation(const fixture *f, slm_model *m, const char *tokens_name, const char *steps_name) {
    slm_model_info info = slm_model_get_info(m);
    const slm_tensor_view *want = slm_weights_find(f->outputs, tokens_name);
    CHECK(want != NULL, "%s: %s present", f->name, tokens_name);
    if (!want) return;
    int steps = (int)want->shape[0];
    size_t n;
    int32_t *ids = input_ids(f, "prompt.input_ids", -1, &n);
    slm_session *s = open_session(m, 2);
    float *logits = malloc(info.n_vocab * sizeof(float));
    float *all = malloc(n * info.n_vocab * sizeof(float));
    slm_error err;
    int tokens_equal = 1;
    if (s && logits && all && slm_session_forward(s, ids, n, SLM_OUTPUT_LOGITS, all, &err) == SLM_OK) {
        memcpy(logits, all + (n - 1) * info.n_vocab, info.n_vocab * sizeof(float));
        for (int k = 0; k < steps; k++) {
            close_to(f, steps_name, (size_t)k * info.n_vocab, logits, info.n_vocab, 1e-4, "generation step logits");
            int32_t next = argmax(logits, info.n_vocab);
            tokens_equal &= next == (int32_t)((const int64_t *)want->data)[k];
            if (slm_session_forward(s, &next, 1, SLM_OUTPUT_LOGITS, logits, &err) != SLM_OK) {
                tokens_equal = 0;
                break;
            }
        }
    }
    CHECK(tokens_equal, "%s: greedy tokens equal %s", f->name, tokens_name);
    free(all);
    free(logits);
    free(ids);
    slm_session_free(s);
}

/* The prompt plus generated tokens in one teacher-forced pass. */
static void check_full(const fixture *f, slm_model *m) {
    slm_model_info info = slm_model_get_info(m);
    size_t n;
    int32_t *ids = input_ids(f, "full.input_ids", -1, &n);
    if (!ids) return;
    slm_session *s = open_session(m, 2);
    float *out = malloc(n * info.n_vocab * sizeof(float));
    slm_error err;
    if (s && out) {
        CHECK(slm_session_forward(s, ids, n, SLM_OUTPUT_LOGITS, out, &err) == SLM_OK, "%s", err.message);
        close_to(f, "full.logits", 0, out, n * info.n_vocab, tolerance(f, "full.logits"), "teacher-forced logits");
    }
    free(out);
    free(ids);
    slm_session_free(s);
}

static slm_model *load_variant(const fixture *f, const char *variant) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/%s", f->name, variant);
    slm_error err;
    slm_model *m = slm_model_load(test_path(path, sizeof path, rel), NULL, &err);
    CHECK(m != NULL, "%s/%s loads: %s", f->name, variant, err.message);
    return m;
}

static void check_decoder_case(const char *name) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    slm_model *m = load_variant(&f, "lm");
    if (m) {
        check_prompt(&f, m, "prompt.logits", 1);
        check_batch(&f, m);
        check_generation(&f, m, "gen.manual_cache.tokens", "gen.manual_cache.step_logits");
        check_full(&f, m);
        slm_model_free(m);
    }
    static const struct {
        const char *variant, *logits, *tokens, *steps;
    } variants[] = {
        {"lm_fp16", "prompt.fp16_weights_f32_compute.logits", "gen.fp16_weights_f32_compute.tokens",
         "gen.fp16_weights_f32_compute.step_logits"},
        {"lm_bf16", "prompt.bf16_weights_f32_compute.logits", "gen.bf16_weights_f32_compute.tokens",
         "gen.bf16_weights_f32_compute.step_logits"},
        {"lm_hub_layout", "prompt.logits", "gen.manual_cache.tokens", "gen.manual_cache.step_logits"},
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        if (!json_object_get(json_object_get(f.json, "models"), "lm")) continue;
        char path[512], rel[256];
        snprintf(rel, sizeof rel, "fixtures/%s/%s/config.json", name, variants[i].variant);
        FILE *probe = fopen(test_path(path, sizeof path, rel), "r");
        if (!probe) continue; /* this case has no such variant */
        fclose(probe);
        m = load_variant(&f, variants[i].variant);
        if (!m) continue;
        check_prompt(&f, m, variants[i].logits, 0);
        check_generation(&f, m, variants[i].tokens, variants[i].steps);
        slm_model_free(m);
    }
    close_fixture(&f);
}

/* The HF-saved test checkpoints: hidden states in full, logits as their top-64. */
static void check_hf_fixture(const char *name, const char *dir) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    char path[512];
    slm_error err;
    slm_model *m = slm_model_load(test_path(path, sizeof path, dir), NULL, &err);
    CHECK(m != NULL, "%s loads: %s", name, err.message);
    if (!m) {
        close_fixture(&f);
        return;
    }
    slm_model_info info = slm_model_get_info(m);
    const slm_tensor_view *mask = slm_weights_find(f.inputs, "attention_mask");
    int rows = (int)mask->shape[0], cols = (int)mask->shape[1];
    slm_session *s = open_session(m, 2);
    float *hidden = malloc((size_t)cols * info.d_model * sizeof(float));
    float *logits = malloc((size_t)cols * info.n_vocab * sizeof(float));
    char hidden_name[64];
    snprintf(hidden_name, sizeof hidden_name, "model.hidden_states.%d", info.n_layers);
    const slm_tensor_view *top_values = slm_weights_find(f.outputs, "model.logits.topk_values");
    const slm_tensor_view *top_index = slm_weights_find(f.outputs, "model.logits.topk_indices");
    for (int r = 0; s && r < rows; r++) {
        size_t n, valid = 0;
        int32_t *ids = input_ids(&f, "input_ids", r, &n);
        for (int c = 0; c < cols; c++) valid += ((const int64_t *)mask->data)[r * cols + c] != 0;
        slm_session_reset(s);
        CHECK(slm_session_forward(s, ids, valid, SLM_OUTPUT_HIDDEN, hidden, &err) == SLM_OK, "%s", err.message);
        close_to(&f, hidden_name, (size_t)r * cols * info.d_model, hidden, valid * info.d_model, 1e-4, "hidden");
        if (top_values && top_index) {
            slm_session_reset(s);
            CHECK(slm_session_forward(s, ids, valid, SLM_OUTPUT_LOGITS, logits, &err) == SLM_OK, "%s", err.message);
            int k = (int)top_values->shape[2], ok = 1;
            for (size_t t = 0; t < valid; t++)
                for (int j = 0; j < k; j++) {
                    size_t at = ((size_t)r * cols + t) * k + j;
                    int64_t id = ((const int64_t *)top_index->data)[at];
                    float want = ((const float *)top_values->data)[at];
                    float got = logits[t * info.n_vocab + id];
                    if (fabsf(got - want) > 1e-4f + 1e-4f * fabsf(want)) ok = 0;
                }
            CHECK(ok, "%s: row %d top-%d logits match", name, r, k);
        }
        free(ids);
    }
    free(hidden);
    free(logits);
    slm_session_free(s);
    slm_model_free(m);
    close_fixture(&f);
}

/* A published config.json kept beside a case (its size fields shrunk by the case's
 * config_overrides) over the case's lm weights: it loads and gives the same outputs. */
static void check_hub_config(const char *name, const char *config_file) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    char path[512], rel[256], dir[600];
    snprintf(rel, sizeof rel, "fixtures/%s/%s", name, config_file);
    json_t *cfg = json_load_file(test_path(path, sizeof path, rel), 0, NULL);
    const json_t *overrides = json_object_get(f.json, "config_overrides");
    CHECK(cfg && json_is_object(overrides), "%s: %s and config_overrides read", name, config_file);
    if (cfg && json_is_object(overrides) && json_object_update(cfg, (json_t *)overrides) == 0) {
        if (linked_folder(dir, sizeof dir, cfg, name, "lm")) {
            slm_model *m = load_model(dir);
            if (m) {
                check_prompt(&f, m, "prompt.logits", 1);
                check_generation(&f, m, "gen.manual_cache.tokens", "gen.manual_cache.step_logits");
            }
            slm_model_free(m);
        }
        remove_folder(dir);
    }
    json_decref(cfg);
    close_fixture(&f);
}

/* A config that contradicts itself or the weights fails to load with a message naming the field or tensor. */
static void check_config_error(const char *name, const char *key, json_t *value, slm_status status,
                               const char *needle) {
    json_t *cfg = variant_config(name, "lm");
    char dir[600];
    if (cfg) {
        /* transformers 5 repeats rope settings in rope_parameters; edit both places. */
        json_t *rope = json_object_get(cfg, "rope_parameters");
        if (json_is_object(rope) && json_object_get(rope, key)) json_object_set(rope, key, value);
        json_object_set(cfg, key, value);
        if (linked_folder(dir, sizeof dir, cfg, name, "lm")) {
            slm_error err = {0};
            slm_model *m = slm_model_load(dir, NULL, &err);
            CHECK(m == NULL && err.status == status && strstr(err.message, needle) != NULL,
                  "%s with %s edited: fails with %s naming \"%s\": %s", name, key, slm_status_name(status), needle,
                  m ? "(loaded)" : err.message);
            slm_model_free(m);
        }
        remove_folder(dir);
    }
    json_decref(value);
    json_decref(cfg);
}

int main(void) {
    static const char *cases[] = {"gpt2_tiny",          "gpt2_odd",       "gpt2_hubcfg",
                                  "llama_stories_like", "llama_tied_mha", "llama_untied_gqa_odd",
                                  "phi_tiny",           "phi_odd",        "phi_hubcfg"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_decoder_case(cases[i]);
    check_hub_config("phi_hubcfg", "phi-1_5.config.json");
    /* phi_tiny: head_dim 16, so a factor of 0.3125 rotates 5 dims, which cannot pair up. */
    check_config_error("phi_tiny", "partial_rotary_factor", json_real(0.3125), SLM_ERR_FORMAT,
                       "partial_rotary_factor");
    check_config_error("phi_tiny", "intermediate_size", json_integer(200), SLM_ERR_FORMAT,
                       "model.layers.0.mlp.fc1.weight: shape [256, 64] expected [200, 64]");
    check_config_error("phi_tiny", "num_key_value_heads", json_integer(2), SLM_ERR_FORMAT,
                       "model.layers.0.self_attn.k_proj.weight: shape [64, 64] expected [32, 64]");
    check_config_error("phi_tiny", "qk_layernorm", json_true(), SLM_ERR_UNSUPPORTED, "qk_layernorm");
    check_hf_fixture("hf_fixture__mozilla-ai__lm-buddy__fake_gpt2", "hf-fixtures/mozilla-ai__lm-buddy__fake_gpt2");
    check_hf_fixture("hf_fixture__mozilla-ai__lm-buddy__tiny_gpt2", "hf-fixtures/mozilla-ai__lm-buddy__tiny_gpt2");
    TEST_END();
}
