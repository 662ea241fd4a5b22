/* test_albert.c — every ALBERT fixture against Hugging Face's own outputs:
 * last hidden state, pooler, masked-LM logits, each hidden state after a
 * layer (a checkpoint whose config runs fewer steps of its one shared group
 * yields exactly HF's hidden_states.i), the single-row run, each row of the
 * batch alone, fp16/bf16 weights when a case has them, the published
 * albert-base-v2 config (the hubcfg case's config_hubstyle, and the full-size
 * config on zero weights), layer sharing across groups and inner layers
 * (checkpoints rewritten from albert_tiny whose every layer is its one layer),
 * parameter counts that count a shared layer once, and bad configs. Expected
 * values are read from the fixtures' outputs.safetensors, written by
 * transformers; per-token outputs are compared where attention_mask is 1. */
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_test_albert_XXXXXX"
#include "fixture.h"
#include "formats/safetensors_write.h"

/* Parameters stored in a variant's model.safetensors, each tensor once. */
static int64_t stored_params(const char *fixture_name, const char *variant) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/%s/model.safetensors", fixture_name, variant);
    slm_weights *w = slm_safetensors_open(test_path(path, sizeof path, rel), NULL);
    int64_t n = 0;
    for (int i = 0; w && i < slm_weights_count(w); i++) n += slm_tensor_numel(slm_weights_at(w, i));
    slm_weights_free(w);
    return n;
}

/* The last hidden state of a model folder, compared with the named output. */
static void check_hidden_of(const fixture *f, const char *dir, const char *output, const char *label) {
    slm_model *m = load_model(dir);
    slm_session *s = m ? open_session(m, 2) : NULL;
    slm_batch b = fixture_batch(f);
    float *out = s ? encode_output(s, m, &b, SLM_ENCODE_HIDDEN, label) : NULL;
    if (out)
        compare_output(f, output, out, (size_t)b.n_seqs * b.seq_len, (size_t)slm_model_get_info(m).d_model, f->mask);
    free(out);
    slm_session_free(s);
    slm_model_free(m);
}

/* <prefix>.hidden_states.i for 1 <= i < n_layers: the variant's weights under a
 * config of i steps. With one group every step runs the same layer, so i steps
 * are HF's first i. (hidden_states.0, the projected embeddings, has no API.) */
static void check_hidden_states(const fixture *f, const char *variant, const char *prefix, int n_layers) {
    json_t *cfg = variant_config(f->name, variant);
    if (!cfg || json_integer_value(json_object_get(cfg, "num_hidden_groups")) != 1) {
        json_decref(cfg);
        return;
    }
    for (int i = 1; i < n_layers; i++) {
        char dir[600], output[96];
        json_object_set_new(cfg, "num_hidden_layers", json_integer(i));
        snprintf(output, sizeof output, "%s.hidden_states.%d", prefix, i);
        if (linked_folder(dir, sizeof dir, cfg, f->name, variant)) check_hidden_of(f, dir, output, output);
        remove_folder(dir);
    }
    json_decref(cfg);
}

/* model/ (and model_fp16/, model_bf16/ when present): hidden states, pooler, rows alone, single. */
static void check_base(const fixture *f, const char *variant, const char *prefix) {
    slm_model *m = load_fixture_variant(f, variant);
    if (!m) return;
    slm_model_info info = slm_model_get_info(m);
    slm_session *s = open_session(m, 2);
    slm_batch b = fixture_batch(f);
    char name[128];
    CHECK(!strcmp(info.architecture, "albert"), "%s/%s: architecture %s", f->name, variant, info.architecture);
    CHECK(info.n_params == stored_params(f->name, variant), "%s/%s: %lld parameters, the file stores %lld", f->name,
          variant, (long long)info.n_params, (long long)stored_params(f->name, variant));
    CHECK(slm_model_is_encoder(m) && slm_model_has_head(m, SLM_HEAD_BASE), "%s/%s: an encoder", f->name, variant);
    CHECK(!slm_model_has_head(m, SLM_HEAD_MLM), "%s/%s: no MLM head", f->name, variant);
    float *hidden = s ? encode_output(s, m, &b, SLM_ENCODE_HIDDEN, f->name) : NULL;
    if (hidden) {
        snprintf(name, sizeof name, "%s.last_hidden_state", prefix);
        compare_output(f, name, hidden, (size_t)b.n_seqs * b.seq_len, info.d_model, f->mask);
        snprintf(name, sizeof name, "%s.hidden_states.%d", prefix, info.n_layers);
        if (slm_weights_find(f->outputs, name))
            compare_output(f, name, hidden, (size_t)b.n_seqs * b.seq_len, info.d_model, f->mask);
        check_each_row_alone(f, s, m, SLM_ENCODE_HIDDEN, hidden);
    }
    free(hidden);
    float *pooled = s ? encode_output(s, m, &b, SLM_ENCODE_POOLER, f->name) : NULL;
    if (pooled) {
        snprintf(name, sizeof name, "%s.pooler_output", prefix);
        compare_output(f, name, pooled, (size_t)b.n_seqs, info.d_model, NULL);
        check_each_row_alone(f, s, m, SLM_ENCODE_POOLER, pooled);
    }
    free(pooled);
    if (s) check_missing_head(f, s, m, SLM_ENCODE_MLM, "mlm");
    if (s) check_missing_head(f, s, m, SLM_ENCODE_QA, "qa");
    /* single.*: row 1 alone, no mask, default token types (base model only). */
    int rows, cols;
    int32_t *single = strcmp(prefix, "model") ? NULL : int_tensor(f->inputs, "single.input_ids", &rows, &cols);
    if (single && s) {
        slm_batch one = {rows, cols, single, NULL, NULL};
        float *out = encode_output(s, m, &one, SLM_ENCODE_HIDDEN, f->name);
        if (out) compare_output(f, "model.single.last_hidden_state", out, (size_t)rows * cols, info.d_model, NULL);
        free(out);
        out = encode_output(s, m, &one, SLM_ENCODE_POOLER, f->name);
        if (out) compare_output(f, "model.single.pooler_output", out, (size_t)rows, info.d_model, NULL);
        free(out);
    }
    free(single);
    slm_session_free(s);
    slm_model_free(m);
    if (!strcmp(variant, "model")) check_hidden_states(f, variant, prefix, info.n_layers);
}

/* mlm/ (and mlm_fp16/, mlm_bf16/): logits, rows alone, and the head model's own hidden states. */
static void check_mlm(const fixture *f, const char *variant, const char *prefix) {
    slm_model *m = load_fixture_variant(f, variant);
    if (!m) return;
    slm_model_info info = slm_model_get_info(m);
    slm_session *s = open_session(m, 3);
    slm_batch b = fixture_batch(f);
    char name[128];
    CHECK(slm_model_has_head(m, SLM_HEAD_MLM), "%s/%s: has the MLM head", f->name, variant);
    /* The decoder is tied to the word embeddings: not stored, not counted. */
    CHECK(info.n_params == stored_params(f->name, variant), "%s/%s: %lld parameters, the file stores %lld", f->name,
          variant, (long long)info.n_params, (long long)stored_params(f->name, variant));
    float *out = s ? encode_output(s, m, &b, SLM_ENCODE_MLM, f->name) : NULL;
    if (out) {
        snprintf(name, sizeof name, "%s.logits", prefix);
        compare_output(f, name, out, (size_t)b.n_seqs * b.seq_len, info.n_vocab, f->mask);
        check_each_row_alone(f, s, m, SLM_ENCODE_MLM, out);
    }
    free(out);
    float *hidden = s ? encode_output(s, m, &b, SLM_ENCODE_HIDDEN, f->name) : NULL;
    snprintf(name, sizeof name, "%s.hidden_states.%d", prefix, info.n_layers);
    if (hidden && slm_weights_find(f->outputs, name))
        compare_output(f, name, hidden, (size_t)b.n_seqs * b.seq_len, info.d_model, f->mask);
    free(hidden);
    if (s) check_missing_head(f, s, m, SLM_ENCODE_POOLER, "pooler");
    if (s) check_missing_head(f, s, m, SLM_ENCODE_SEQCLS, "seqcls");
    slm_session_free(s);
    slm_model_free(m);
    if (!strcmp(variant, "mlm")) check_hidden_states(f, variant, prefix, info.n_layers);
}

/* The published config's own keys (case.json config_hubstyle) over the case's weights. */
static void check_hubstyle(const fixture *f) {
    json_t *hub = json_object_get(f->json, "config_hubstyle");
    if (!json_is_object(hub)) return;
    char dir[600];
    if (linked_folder(dir, sizeof dir, hub, f->name, "model"))
        check_hidden_of(f, dir, "model.last_hidden_state", "config_hubstyle");
    remove_folder(dir);
    if (linked_folder(dir, sizeof dir, hub, f->name, "mlm")) {
        slm_model *m = load_model(dir);
        slm_session *s = m ? open_session(m, 2) : NULL;
        slm_batch b = fixture_batch(f);
        float *out = s ? encode_output(s, m, &b, SLM_ENCODE_MLM, "config_hubstyle mlm") : NULL;
        if (out)
            compare_output(f, "mlm.logits", out, (size_t)b.n_seqs * b.seq_len, (size_t)slm_model_get_info(m).n_vocab,
                           f->mask);
        free(out);
        slm_session_free(s);
        slm_model_free(m);
    }
    remove_folder(dir);
}

static void check_case(const char *name) {
    fixture f;
    worst_ratio = 0;
    int before = check_failed, passed = check_passed;
    if (open_fixture_with_types(&f, name)) {
        check_base(&f, "model", "model");
        check_base(&f, "model_fp16", "model.fp16_weights_f32_compute");
        check_base(&f, "model_bf16", "model.bf16_weights_f32_compute");
        check_mlm(&f, "mlm", "mlm");
        check_mlm(&f, "mlm_fp16", "mlm.fp16_weights_f32_compute");
        check_mlm(&f, "mlm_bf16", "mlm.bf16_weights_f32_compute");
        check_hubstyle(&f);
    }
    close_fixture(&f);
    printf("%-20s %s, %d checks, worst error %.3f x tolerance\n", name, check_failed == before ? "ok" : "FAILED",
           check_passed - passed, worst_ratio);
}

/* ---- checkpoints rewritten from albert_tiny ---- */

#define TINY_LAYER "encoder.albert_layer_groups.0.albert_layers.0."

/* Writes albert_tiny's model tensors to dir/model.safetensors with its one
 * layer stored as albert_layer_groups.g.albert_layers.j for every g < groups,
 * j < inner; `poison_group` (>= groups, or -1) adds one more group of NaNs. */
static int write_shared(const char *dir, int groups, int inner, int poison_group, int64_t *n_params) {
    char path[512];
    slm_weights *w = slm_safetensors_open(test_path(path, sizeof path, "fixtures/albert_tiny/model/model.safetensors"),
                                          NULL);
    CHECK(w != NULL, "open albert_tiny/model");
    if (!w) return 0;
    int n = slm_weights_count(w), cap = n * (groups * inner + 1);
    slm_tensor_view *views = calloc((size_t)cap, sizeof *views);
    char (*names)[160] = calloc((size_t)cap, sizeof *names);
    float *nan_data = NULL;
    size_t nan_floats = 0;
    int count = 0;
    *n_params = 0;
    for (int i = 0; i < n; i++) {
        const slm_tensor_view *t = slm_weights_at(w, i);
        if (strncmp(t->name, TINY_LAYER, strlen(TINY_LAYER)) != 0) {
            views[count++] = *t;
            *n_params += slm_tensor_numel(t);
            continue;
        }
        if ((size_t)slm_tensor_numel(t) > nan_floats) nan_floats = (size_t)slm_tensor_numel(t);
        for (int g = 0; g < groups; g++)
            for (int j = 0; j < inner; j++) {
                snprintf(names[count], sizeof names[count], "encoder.albert_layer_groups.%d.albert_layers.%d.%s", g,
                         j, t->name + strlen(TINY_LAYER));
                views[count] = *t;
                views[count].name = names[count];
                count++;
                *n_params += slm_tensor_numel(t);
            }
    }
    if (poison_group >= 0) {
        nan_data = malloc(nan_floats * sizeof(float));
        for (size_t k = 0; k < nan_floats; k++) nan_data[k] = NAN;
        for (int i = 0; i < n; i++) {
            const slm_tensor_view *t = slm_weights_at(w, i);
            if (strncmp(t->name, TINY_LAYER, strlen(TINY_LAYER)) != 0) continue;
            snprintf(names[count], sizeof names[count], "encoder.albert_layer_groups.%d.albert_layers.0.%s",
                     poison_group, t->name + strlen(TINY_LAYER));
            views[count] = *t;
            views[count].name = names[count];
            views[count].data = nan_data;
            count++;
        }
    }
    char file[700];
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    slm_error err;
    slm_status st = slm_safetensors_write(file, views, count, NULL, &err);
    CHECK(st == SLM_OK, "write %s: %s", file, st ? err.message : "");
    free(nan_data);
    free(views);
    free(names);
    slm_weights_free(w);
    return st == SLM_OK;
}

/* One layer shared by groups x inner positions, run for `steps` steps: when
 * steps * inner == 3 that is albert_tiny's three applications of its layer. */
static void check_sharing_case(const fixture *f, int steps, int groups, int inner, int poison_group) {
    json_t *cfg = variant_config("albert_tiny", "model");
    char dir[600], label[96];
    snprintf(label, sizeof label, "%d steps, %d groups of %d layers%s", steps, groups, inner,
             poison_group >= 0 ? ", an unused group of NaNs" : "");
    json_object_set_new(cfg, "num_hidden_layers", json_integer(steps));
    json_object_set_new(cfg, "num_hidden_groups", json_integer(groups));
    json_object_set_new(cfg, "inner_group_num", json_integer(inner));
    int64_t n_params = 0;
    if (cfg && make_folder(dir, sizeof dir, cfg) && write_shared(dir, groups, inner, poison_group, &n_params)) {
        slm_model *m = load_model(dir);
        if (m) {
            slm_model_info info = slm_model_get_info(m);
            CHECK(info.n_layers == steps * inner, "%s: %d layers run", label, info.n_layers);
            CHECK(info.n_params == n_params, "%s: %lld parameters, %lld used in the file", label,
                  (long long)info.n_params, (long long)n_params);
        }
        slm_model_free(m);
        check_hidden_of(f, dir, "model.last_hidden_state", label);
    }
    remove_folder(dir);
    json_decref(cfg);
}

static void check_sharing(void) {
    fixture f;
    worst_ratio = 0;
    if (open_fixture_with_types(&f, "albert_tiny")) {
        check_sharing_case(&f, 3, 3, 1, -1); /* a group per step */
        check_sharing_case(&f, 1, 1, 3, -1); /* one step through three inner layers */
        check_sharing_case(&f, 3, 1, 1, 1);  /* groups past num_hidden_groups are never read */
    }
    close_fixture(&f);
    printf("%-20s worst error %.3f x tolerance\n", "albert sharing", worst_ratio);
}

/* ---- task heads: albert_tiny's model plus a classifier or qa_outputs of known
 * weights; the expected logits are those weights applied to HF's own
 * pooler_output or last_hidden_state (the tolerance carried through them). ---- */

static void check_task_head(const fixture *f, const char *arch, const char *head_name, int n_out,
                            slm_encode_output what) {
    enum { H = 64 };
    char path[512], dir[600], wname[64], bname[64];
    slm_weights *w = slm_safetensors_open(test_path(path, sizeof path, "fixtures/albert_tiny/model/model.safetensors"),
                                          NULL);
    json_t *cfg = variant_config("albert_tiny", "model");
    int n = w ? slm_weights_count(w) : 0;
    slm_tensor_view *views = calloc((size_t)n + 2, sizeof *views);
    float weight[4 * H], bias[4];
    double row_l1 = 0;
    for (int o = 0; o < n_out; o++) {
        double l1 = 0;
        for (int j = 0; j < H; j++) {
            weight[o * H + j] = 0.2f * sinf(0.37f * (float)(o * H + j) + 0.5f);
            l1 += fabs(weight[o * H + j]);
        }
        bias[o] = 0.05f * (float)(o + 1);
        if (l1 > row_l1) row_l1 = l1;
    }
    for (int i = 0; i < n; i++) views[i] = *slm_weights_at(w, i);
    snprintf(wname, sizeof wname, "%s.weight", head_name);
    snprintf(bname, sizeof bname, "%s.bias", head_name);
    views[n] = (slm_tensor_view){wname, SLM_DTYPE_F32, 2, {n_out, H}, weight, sizeof(float) * (size_t)n_out * H};
    views[n + 1] = (slm_tensor_view){bname, SLM_DTYPE_F32, 1, {n_out}, bias, sizeof(float) * (size_t)n_out};
    json_t *archs = json_array();
    json_array_append_new(archs, json_string(arch));
    if (cfg) json_object_set_new(cfg, "architectures", archs);
    else json_decref(archs);
    if (w && cfg && make_folder(dir, sizeof dir, cfg)) {
        char file[700];
        snprintf(file, sizeof file, "%s/model.safetensors", dir);
        slm_error err;
        CHECK(slm_safetensors_write(file, views, n + 2, NULL, &err) == SLM_OK, "write %s: %s", arch, err.message);
        slm_model *m = load_model(dir);
        slm_session *s = m ? open_session(m, 2) : NULL;
        slm_batch b = fixture_batch(f);
        size_t S = (size_t)b.n_seqs, T = (size_t)b.seq_len;
        int per_token = what != SLM_ENCODE_SEQCLS;
        const float *in = reference(f, per_token ? "model.last_hidden_state" : "model.pooler_output",
                                    (per_token ? S * T : S) * H);
        size_t rows = per_token ? S * T : S;
        float *out = s ? encode(s, &b, what, rows * n_out, arch) : NULL;
        if (out && in) {
            float *want = malloc(rows * n_out * sizeof(float)), *got = malloc(rows * n_out * sizeof(float));
            for (size_t r = 0; r < rows; r++)
                for (int o = 0; o < n_out; o++) {
                    double acc = bias[o];
                    for (int j = 0; j < H; j++) acc += (double)weight[o * H + j] * in[r * H + j];
                    want[r * n_out + o] = (float)acc;
                    /* QA's output is (S, 2, T): start logits then end logits. */
                    got[r * n_out + o] = what == SLM_ENCODE_QA ? out[(r / T) * 2 * T + o * T + r % T] : out[r * n_out + o];
                }
            compare(f, arch, got, want, rows, (size_t)n_out, per_token ? f->mask : NULL, 1e-4 * row_l1 + 1e-4);
            free(want);
            free(got);
        }
        if (m && what != SLM_ENCODE_QA) {
            CHECK(slm_model_num_labels(m) == n_out, "%s: %d labels", arch, slm_model_num_labels(m));
            const char *label = slm_model_label(m, 1);
            CHECK(label && !strcmp(label, "LABEL_1"), "%s: label 1 is %s", arch, label ? label : "NULL");
        }
        free(out);
        slm_session_free(s);
        slm_model_free(m);
        remove_folder(dir);
    }
    free(views);
    json_decref(cfg);
    slm_weights_free(w);
}

static void check_task_heads(void) {
    fixture f;
    worst_ratio = 0;
    if (open_fixture_with_types(&f, "albert_tiny")) {
        check_task_head(&f, "AlbertForSequenceClassification", "classifier", 3, SLM_ENCODE_SEQCLS);
        check_task_head(&f, "AlbertForTokenClassification", "classifier", 4, SLM_ENCODE_TOKCLS);
        check_task_head(&f, "AlbertForQuestionAnswering", "qa_outputs", 2, SLM_ENCODE_QA);
    }
    close_fixture(&f);
    printf("%-20s worst error %.3f x tolerance\n", "albert task heads", worst_ratio);
}

/* ---- the published albert-base-v2 config, full size, on zero weights ---- */

static slm_status fill_zero(int index, void *buf, size_t nbytes, void *user_data, slm_error *err) {
    (void)index, (void)user_data, (void)err;
    memset(buf, 0, nbytes);
    return SLM_OK;
}

static void check_albert_base_config(void) {
    char path[512], dir[600], file[700];
    json_t *cfg = json_load_file(test_path(path, sizeof path, "fixtures/albert_hubcfg/albert-base-v2.config.json"), 0,
                                 NULL);
    CHECK(cfg != NULL, "read albert-base-v2.config.json");
    if (!cfg || !make_folder(dir, sizeof dir, cfg)) {
        json_decref(cfg);
        return;
    }
    enum { V = 30000, E = 128, H = 768, I = 3072, P = 512 };
    static const char *const suffix[] = {"attention.query", "attention.key", "attention.value", "attention.dense",
                                         "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"};
    static const int64_t rows[] = {H, H, H, H, 0, I, H, 0}, cols[] = {H, H, H, H, H, H, I, H};
    slm_tensor_view views[48];
    char names[48][96];
    int n = 0;
    int64_t params = 0;
#define ADD(nm, r, c)                                                                                   \
    do {                                                                                                \
        snprintf(names[n], sizeof names[n], "%s", nm);                                                  \
        views[n] = (slm_tensor_view){names[n], SLM_DTYPE_F32, (r) ? 2 : 1, {(r) ? (r) : (c), (r) ? (c) : 0}, \
                                     NULL, (size_t)((r) ? (r) : 1) * (c) * sizeof(float)};             \
        params += ((r) ? (r) : 1) * (int64_t)(c);                                                       \
        n++;                                                                                            \
    } while (0)
    ADD("albert.embeddings.word_embeddings.weight", V, E);
    ADD("albert.embeddings.position_embeddings.weight", P, E);
    ADD("albert.embeddings.token_type_embeddings.weight", 2, E);
    ADD("albert.embeddings.LayerNorm.weight", 0, E);
    ADD("albert.embeddings.LayerNorm.bias", 0, E);
    ADD("albert.encoder.embedding_hidden_mapping_in.weight", H, E);
    ADD("albert.encoder.embedding_hidden_mapping_in.bias", 0, H);
    for (int i = 0; i < 8; i++) {
        char name[96];
        snprintf(name, sizeof name, "albert.encoder.albert_layer_groups.0.albert_layers.0.%s.weight", suffix[i]);
        ADD(name, rows[i], cols[i]);
        snprintf(name, sizeof name, "albert.encoder.albert_layer_groups.0.albert_layers.0.%s.bias", suffix[i]);
        ADD(name, 0, rows[i] ? rows[i] : cols[i]);
    }
    ADD("predictions.dense.weight", E, H);
    ADD("predictions.dense.bias", 0, E);
    ADD("predictions.LayerNorm.weight", 0, E);
    ADD("predictions.LayerNorm.bias", 0, E);
    ADD("predictions.bias", 0, V);
#undef ADD
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    slm_error err;
    slm_status st = slm_safetensors_write_with(file, views, n, NULL, fill_zero, NULL, &err);
    CHECK(st == SLM_OK, "write albert-base-v2 zeros: %s", st ? err.message : "");
    slm_model *m = st ? NULL : load_model(dir);
    if (m) {
        slm_model_info info = slm_model_get_info(m);
        CHECK(!strcmp(info.architecture, "albert") && info.n_layers == 12 && info.d_model == H && info.n_heads == 12 &&
                  info.d_ff == I && info.n_vocab == V && info.n_ctx_train == P,
              "albert-base-v2: %s, %d layers, width %d, %d heads, ff %d, vocab %d, %d positions", info.architecture,
              info.n_layers, info.d_model, info.n_heads, info.d_ff, info.n_vocab, info.n_ctx_train);
        CHECK(info.n_params == params, "albert-base-v2: %lld parameters, %lld stored", (long long)info.n_params,
              (long long)params);
        CHECK(slm_model_has_head(m, SLM_HEAD_MLM) && !slm_model_has_head(m, SLM_HEAD_SEQCLS), "albert-base-v2: heads");
        slm_session *s = open_session(m, 2);
        int32_t ids[4] = {2, 10, 11, 3};
        slm_batch b = {1, 4, ids, NULL, NULL};
        float *out = s ? encode(s, &b, SLM_ENCODE_MLM, (size_t)4 * V, "albert-base-v2") : NULL;
        int finite = out != NULL;
        for (size_t i = 0; out && i < (size_t)4 * V; i++) finite &= isfinite(out[i]) != 0;
        CHECK(finite, "albert-base-v2: finite logits");
        free(out);
        slm_session_free(s);
    }
    slm_model_free(m);
    remove_folder(dir);
    json_decref(cfg);
}

/* ---- bad configs: a clear error naming the field or tensor ---- */

static void expect_load_error(json_t *cfg, const char *needle, const char *what) {
    char dir[600];
    if (linked_folder(dir, sizeof dir, cfg, "albert_tiny", "model")) {
        slm_model_params mp = slm_model_default_params();
        mp.load_tokenizer = 0;
        slm_error err;
        slm_model *m = slm_model_load(dir, &mp, &err);
        CHECK(!m && strstr(err.message, needle), "%s: %s", what, m ? "loaded" : err.message);
        slm_model_free(m);
    }
    remove_folder(dir);
}

static void check_bad_configs(void) {
    static const struct {
        const char *key;
        int value; /* -1: remove the key */
        const char *needle;
    } cases[] = {
        {"num_hidden_groups", 2, "num_hidden_groups 2 does not divide num_hidden_layers 3"},
        {"num_hidden_groups", 0, "num_hidden_groups 0"},
        {"num_hidden_groups", 3, "albert_layer_groups.1.albert_layers.0.attention.query.weight"},
        {"inner_group_num", 0, "inner_group_num 0"},
        {"inner_group_num", 2, "albert_layer_groups.0.albert_layers.1.attention.query.weight"},
        {"embedding_size", 16, "embeddings.word_embeddings.weight: shape [500, 32] expected [500, 16]"},
        {"embedding_size", 100, "embedding_size 100"},
        {"hidden_size", 48, "embedding_hidden_mapping_in.weight: shape [64, 32] expected [48, 32]"},
        {"intermediate_size", 100, "albert_layers.0.ffn.weight: shape [128, 64] expected [100, 64]"},
        {"num_attention_heads", 5, "attention heads"},
        {"num_hidden_layers", -1, "missing num_hidden_layers"},
        {"num_hidden_layers", 0, "num_hidden_layers must be positive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *cfg = variant_config("albert_tiny", "model");
        if (!cfg) continue;
        if (cases[i].value < 0)
            json_object_del(cfg, cases[i].key);
        else
            json_object_set_new(cfg, cases[i].key, json_integer(cases[i].value));
        char what[96];
        snprintf(what, sizeof what, "%s %d", cases[i].key, cases[i].value);
        expect_load_error(cfg, cases[i].needle, what);
        json_decref(cfg);
    }
    json_t *cfg = variant_config("albert_tiny", "model");
    if (cfg) {
        json_object_set_new(cfg, "hidden_act", json_string("quick_gelu_typo"));
        expect_load_error(cfg, "hidden_act", "unknown hidden_act");
        json_object_set_new(cfg, "hidden_act", json_string("gelu_new"));
        json_object_set_new(cfg, "position_embedding_type", json_string("relative_key"));
        expect_load_error(cfg, "position_embedding_type", "relative positions");
    }
    json_decref(cfg);
}

int main(void) {
    static const char *const cases[] = {"albert_tiny", "albert_odd", "albert_hubcfg"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(cases[i]);
    check_sharing();
    check_task_heads();
    check_albert_base_config();
    check_bad_configs();
    TEST_END();
}
