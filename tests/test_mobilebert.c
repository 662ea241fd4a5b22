/* test_mobilebert.c — MobileBERT against Hugging Face's own outputs: the
 * base model's last hidden state and pooler (batch, each row alone, the
 * single run), the hidden state after each layer (the checkpoint re-run with
 * fewer layers), the masked-LM logits (tied embeddings plus the extra dense
 * columns), the published google/mobilebert-uncased config, classifier and
 * QA heads wired onto the reference hidden states, and bad checkpoints.
 * Expected values are read from the fixtures' outputs.safetensors, written by
 * transformers; per-token outputs are compared where attention_mask is 1. */
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_test_mobilebert_XXXXXX"
#include "fixture.h"
#include "formats/safetensors_write.h"

/* Each row as a batch of one, padded and masked as in the batch, must give
 * what the batch gave (a row is not trimmed: with trigram input the last real
 * token reads its padding neighbour's embedding, as HF does). */
static void check_rows_alone(const fixture *f, slm_session *s, slm_encode_output what, int width, int per_token,
                             const float *batch_out) {
    for (int r = 0; r < f->n_seqs; r++) {
        size_t at = (size_t)r * f->seq_len;
        slm_batch one = {1, f->seq_len, f->ids + at, f->types + at, f->mask + at};
        size_t n = (size_t)(per_token ? f->seq_len : 1) * width;
        float *out = encode(s, &one, what, n, f->name);
        if (!out) continue;
        float worst = 0;
        for (size_t i = 0; i < n; i++) {
            if (per_token && !f->mask[at + i / width]) continue;
            worst = fmaxf(worst, fabsf(out[i] - batch_out[(size_t)r * n + i]));
        }
        CHECK(worst <= 1e-5f, "%s: output %d, row %d alone differs from the batch by %g", f->name, (int)what, r, worst);
        free(out);
    }
}

/* model/: hidden state, pooler ([CLS] itself: classifier_activation false), rows alone, single. */
static void check_base(const fixture *f) {
    slm_model *m = load_fixture_model(f, "model");
    slm_session *s = m ? open_session(m, 2) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    slm_model_info info = slm_model_get_info(m);
    CHECK(!strcmp(info.architecture, "mobilebert") && slm_model_is_encoder(m) && slm_model_has_head(m, SLM_HEAD_BASE) &&
              !slm_model_has_head(m, SLM_HEAD_MLM),
          "%s: a mobilebert encoder without MLM head (%s)", f->name, info.architecture);
    size_t S = (size_t)f->n_seqs, T = (size_t)f->seq_len, H = (size_t)info.d_model;
    slm_batch b = fixture_batch(f);
    float *hidden = encode(s, &b, SLM_ENCODE_HIDDEN, S * T * H, f->name);
    if (hidden) {
        compare_output(f, "model.last_hidden_state", hidden, S * T, H, f->mask);
        check_rows_alone(f, s, SLM_ENCODE_HIDDEN, (int)H, 1, hidden);
    }
    free(hidden);
    float *pooled = encode(s, &b, SLM_ENCODE_POOLER, S * H, f->name);
    if (pooled) {
        compare_output(f, "model.pooler_output", pooled, S, H, NULL);
        check_rows_alone(f, s, SLM_ENCODE_POOLER, (int)H, 0, pooled);
    }
    free(pooled);
    slm_error err;
    float dummy[4];
    slm_status st = slm_session_encode(s, &b, SLM_ENCODE_MLM, dummy, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "mlm"), "%s: no mlm head: %s", f->name,
          st ? err.message : "accepted");
    int rows, cols;
    int32_t *single = int_tensor(f->inputs, "single.input_ids", &rows, &cols);
    CHECK(single != NULL, "%s: single.input_ids", f->name);
    if (single) {
        slm_batch one = {rows, cols, single, NULL, NULL};
        float *out = encode(s, &one, SLM_ENCODE_HIDDEN, (size_t)rows * cols * H, f->name);
        if (out) compare_output(f, "model.single.last_hidden_state", out, (size_t)rows * cols, H, NULL);
        free(out);
        out = encode(s, &one, SLM_ENCODE_POOLER, (size_t)rows * H, f->name);
        if (out) compare_output(f, "model.single.pooler_output", out, (size_t)rows, H, NULL);
        free(out);
    }
    free(single);
    slm_session_free(s);
    slm_model_free(m);
}

/* mlm/: logits (batch and rows alone) and the head model's own final hidden state. */
static void check_mlm(const fixture *f) {
    char name[64];
    slm_model *m = load_fixture_model(f, "mlm");
    slm_session *s = m ? open_session(m, 3) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    slm_model_info info = slm_model_get_info(m);
    CHECK(slm_model_has_head(m, SLM_HEAD_MLM) && !slm_model_has_head(m, SLM_HEAD_QA), "%s/mlm: heads", f->name);
    size_t S = (size_t)f->n_seqs, T = (size_t)f->seq_len, V = (size_t)info.n_vocab, H = (size_t)info.d_model;
    slm_batch b = fixture_batch(f);
    float *logits = encode(s, &b, SLM_ENCODE_MLM, S * T * V, f->name);
    if (logits) {
        compare_output(f, "mlm.logits", logits, S * T, V, f->mask);
        check_rows_alone(f, s, SLM_ENCODE_MLM, (int)V, 1, logits);
    }
    free(logits);
    float *hidden = encode(s, &b, SLM_ENCODE_HIDDEN, S * T * H, f->name);
    snprintf(name, sizeof name, "mlm.hidden_states.%d", info.n_layers);
    if (hidden) compare_output(f, name, hidden, S * T, H, f->mask);
    free(hidden);
    slm_session_free(s);
    slm_model_free(m);
}

/* The hidden state after layer i is the last hidden state of the same weights with i layers. */
static void check_hidden_states(const fixture *f) {
    json_t *cfg = variant_config(f->name, "model");
    int n_layers = (int)json_integer_value(json_object_get(cfg, "num_hidden_layers"));
    for (int i = 1; cfg && i <= n_layers; i++) {
        char output[64];
        snprintf(output, sizeof output, "model.hidden_states.%d", i);
        json_object_set_new(cfg, "num_hidden_layers", json_integer(i));
        check_under(f, cfg, "model", SLM_ENCODE_HIDDEN, output);
    }
    json_decref(cfg);
}

/* The published config (case.json config_hubstyle: google/mobilebert-uncased with sizes shrunk) loads as is. */
static void check_hubstyle_config(const fixture *f) {
    json_t *cfg = json_object_get(f->json, "config_hubstyle");
    CHECK(json_is_object(cfg), "%s: config_hubstyle present", f->name);
    if (json_is_object(cfg)) check_under(f, cfg, "model", SLM_ENCODE_HIDDEN, "model.last_hidden_state");
}

/* ---- heads on the reference hidden states ---- */

static float *random_floats(size_t n, unsigned seed) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = ((float)(seed >> 8) / (float)(1u << 24) - 0.5f) * 0.5f;
    }
    return v;
}

/* y (n_out) = W (n_out, n_in) x + b, in double. */
static void affine(double *y, const float *W, const float *b, const double *x, int n_in, int n_out) {
    for (int o = 0; o < n_out; o++) {
        double acc = b[o];
        for (int i = 0; i < n_in; i++) acc += (double)W[(size_t)o * n_in + i] * x[i];
        y[o] = acc;
    }
}

/* The base checkpoint plus a token classifier and QA outputs, then plus a
 * pooler (classifier_activation true) and a sequence classifier: their logits
 * must be the heads applied to HF's reference hidden states. */
static void check_heads(const fixture *f) {
    char path[512], rel[256], dir[600], file[700];
    snprintf(rel, sizeof rel, "fixtures/%s/model/model.safetensors", f->name);
    slm_weights *w = slm_safetensors_open(test_path(path, sizeof path, rel), NULL);
    json_t *cfg = variant_config(f->name, "model");
    const float *ref = reference(f, "model.last_hidden_state", (size_t)f->n_seqs * f->seq_len *
                                                                   json_integer_value(json_object_get(cfg, "hidden_size")));
    if (!w || !cfg || !ref) {
        slm_weights_free(w);
        json_decref(cfg);
        return;
    }
    int H = (int)json_integer_value(json_object_get(cfg, "hidden_size")), L = 3;
    int n = slm_weights_count(w), S = f->n_seqs, T = f->seq_len;
    slm_tensor_view *views = calloc((size_t)n + 4, sizeof *views);
    for (int i = 0; i < n; i++) views[i] = *slm_weights_at(w, i);
    float *cls_w = random_floats((size_t)L * H, 1), *cls_b = random_floats((size_t)L, 2);
    float *qa_w = random_floats((size_t)2 * H, 3), *qa_b = random_floats(2, 4);
    float *pool_w = random_floats((size_t)H * H, 5), *pool_b = random_floats((size_t)H, 6);
    size_t f4 = sizeof(float);
    for (int pass = 0; pass < 2; pass++) {
        int seq = pass == 1, k = n;
        views[k++] = (slm_tensor_view){"classifier.weight", SLM_DTYPE_F32, 2, {L, H}, cls_w, (size_t)L * H * f4};
        views[k++] = (slm_tensor_view){"classifier.bias", SLM_DTYPE_F32, 1, {L}, cls_b, (size_t)L * f4};
        if (seq) {
            views[k++] = (slm_tensor_view){"pooler.dense.weight", SLM_DTYPE_F32, 2, {H, H}, pool_w, (size_t)H * H * f4};
            views[k++] = (slm_tensor_view){"pooler.dense.bias", SLM_DTYPE_F32, 1, {H}, pool_b, (size_t)H * f4};
        } else {
            views[k++] = (slm_tensor_view){"qa_outputs.weight", SLM_DTYPE_F32, 2, {2, H}, qa_w, (size_t)2 * H * f4};
            views[k++] = (slm_tensor_view){"qa_outputs.bias", SLM_DTYPE_F32, 1, {2}, qa_b, 2 * f4};
        }
        json_object_set_new(cfg, "classifier_activation", json_boolean(seq));
        json_t *arch = json_array();
        json_array_append_new(arch, json_string(seq ? "MobileBertForSequenceClassification"
                                                     : "MobileBertForTokenClassification"));
        json_object_set_new(cfg, "architectures", arch);
        if (!make_folder(dir, sizeof dir, cfg)) continue;
        snprintf(file, sizeof file, "%s/model.safetensors", dir);
        slm_error err;
        CHECK(slm_safetensors_write(file, views, k, NULL, &err) == SLM_OK, "write heads: %s", err.message);
        slm_model *m = load_model(dir);
        slm_session *s = m ? open_session(m, 2) : NULL;
        slm_batch b = fixture_batch(f);
        double *x = malloc((size_t)H * sizeof *x), *y = malloc((size_t)H * sizeof *y);
        float *want = malloc((size_t)S * T * (L > 2 ? L : 2) * 2 * f4 + (size_t)S * H * f4);
        if (s && seq) {
            CHECK(slm_model_has_head(m, SLM_HEAD_SEQCLS) && slm_model_num_labels(m) == L, "%s: seqcls head", f->name);
            for (int q = 0; q < S; q++) {
                for (int j = 0; j < H; j++) x[j] = ref[(size_t)q * T * H + j];
                affine(y, pool_w, pool_b, x, H, H);
                for (int j = 0; j < H; j++) y[j] = tanh(y[j]);
                affine(x, cls_w, cls_b, y, H, L);
                for (int j = 0; j < L; j++) want[q * L + j] = (float)x[j];
            }
            float *got = encode(s, &b, SLM_ENCODE_SEQCLS, (size_t)S * L, "seqcls");
            if (got) compare(f, "seqcls on the reference pooler", got, want, (size_t)S, (size_t)L, NULL, 2e-4);
            free(got);
        } else if (s) {
            CHECK(slm_model_has_head(m, SLM_HEAD_TOKCLS) && slm_model_has_head(m, SLM_HEAD_QA) &&
                      slm_model_num_labels(m) == L,
                  "%s: tokcls and qa heads", f->name);
            float *qa_want = want + (size_t)S * T * L;
            for (int r = 0; r < S * T; r++) {
                for (int j = 0; j < H; j++) x[j] = ref[(size_t)r * H + j];
                affine(y, cls_w, cls_b, x, H, L);
                for (int j = 0; j < L; j++) want[(size_t)r * L + j] = (float)y[j];
                affine(y, qa_w, qa_b, x, H, 2);
                qa_want[(size_t)(r / T) * 2 * T + r % T] = (float)y[0];
                qa_want[(size_t)(r / T) * 2 * T + T + r % T] = (float)y[1];
            }
            float *got = encode(s, &b, SLM_ENCODE_TOKCLS, (size_t)S * T * L, "tokcls");
            if (got) compare(f, "tokcls on the reference hidden state", got, want, (size_t)S * T, (size_t)L, f->mask, 2e-4);
            free(got);
            got = encode(s, &b, SLM_ENCODE_QA, (size_t)S * 2 * T, "qa");
            for (int q = 0; q < S && got; q++)
                for (int e = 0; e < 2; e++)
                    compare(f, "qa on the reference hidden state", got + (size_t)(q * 2 + e) * T,
                            qa_want + (size_t)(q * 2 + e) * T, (size_t)T, 1, f->mask + (size_t)q * T, 2e-4);
            free(got);
        }
        free(x);
        free(y);
        free(want);
        slm_session_free(s);
        slm_model_free(m);
        remove_folder(dir);
    }
    free(cls_w);
    free(cls_b);
    free(qa_w);
    free(qa_b);
    free(pool_w);
    free(pool_b);
    free(views);
    json_decref(cfg);
    slm_weights_free(w);
}

/* ---- bad checkpoints ---- */

/* The odd base checkpoint under a config edited by `key` = value must fail with status and a message holding needle. */
static void expect_load_error(const char *key, json_t *value, const char *drop, slm_status status, const char *needle) {
    json_t *cfg = variant_config("mobilebert_odd", "model");
    char dir[600];
    if (!cfg) {
        json_decref(value);
        return;
    }
    json_object_set_new(cfg, key, value);
    if (drop) json_object_del(cfg, drop);
    if (linked_folder(dir, sizeof dir, cfg, "mobilebert_odd", "model")) {
        slm_model_params mp = slm_model_default_params();
        mp.load_tokenizer = 0;
        slm_error err;
        slm_model *m = slm_model_load(dir, &mp, &err);
        CHECK(!m && err.status == status && strstr(err.message, needle), "%s: expected an error with \"%s\": %s", key,
              needle, m ? "loaded" : err.message);
        slm_model_free(m);
    }
    remove_folder(dir);
    json_decref(cfg);
}

static void check_bad_checkpoints(void) {
    /* A bottleneck narrower than the tensors: the first tensor that disagrees is named. */
    expect_load_error("intra_bottleneck_size", json_integer(12), "true_hidden_size", SLM_ERR_FORMAT,
                      "encoder.layer.0.bottleneck.input.dense.weight: shape [24, 72] expected [12, 72]");
    expect_load_error("intra_bottleneck_size", json_integer(12), NULL, SLM_ERR_FORMAT, "true_hidden_size");
    expect_load_error("embedding_size", json_integer(20), NULL, SLM_ERR_FORMAT, "embeddings.word_embeddings.weight");
    expect_load_error("num_feedforward_networks", json_integer(5), NULL, SLM_ERR_FORMAT,
                      "missing tensor encoder.layer.0.ffn.3.intermediate.dense.weight");
    expect_load_error("trigram_input", json_false(), NULL, SLM_ERR_FORMAT, "embeddings.embedding_transformation.weight");
    expect_load_error("normalization_type", json_string("batch_norm"), NULL, SLM_ERR_UNSUPPORTED,
                      "normalization_type \"batch_norm\"");
    expect_load_error("num_attention_heads", json_integer(5), NULL, SLM_ERR_FORMAT, "do not divide");
    expect_load_error("use_bottleneck", json_string("yes"), NULL, SLM_ERR_FORMAT, "use_bottleneck");
}

int main(void) {
    static const char *const cases[] = {"mobilebert_odd", "mobilebert_hubcfg"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fixture f;
        worst_ratio = 0;
        int before = check_failed, passed = check_passed;
        if (open_fixture_with_types(&f, cases[i])) {
            check_base(&f);
            check_mlm(&f);
            check_hidden_states(&f);
            if (json_object_get(f.json, "config_hubstyle")) check_hubstyle_config(&f);
            check_heads(&f);
        }
        close_fixture(&f);
        printf("%-20s %s, %d checks, worst error %.3f x tolerance\n", cases[i], check_failed == before ? "ok" : "FAILED",
               check_passed - passed, worst_ratio);
    }
    check_bad_checkpoints();
    TEST_END();
}
