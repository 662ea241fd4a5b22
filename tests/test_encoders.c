/* test_encoders.c — every BERT and DistilBERT fixture against Hugging Face's
 * own outputs: last hidden state, pooler, masked-LM, sequence and token
 * classification, question answering, fp16/bf16 weights, the single-row run,
 * each row of the batch alone, checkpoint quirks (TinyBERT's config without
 * model_type, legacy LayerNorm.gamma/beta names, unused tensors), and bad
 * input. Expected values are read from the fixtures' outputs.safetensors,
 * written by transformers; per-token outputs are compared where attention_mask is 1. */
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_test_encoders_XXXXXX"
#include "fixture.h"
#include "formats/safetensors_write.h"

/* model/, model_fp16/, model_bf16/: hidden states and pooler, batch, rows alone, single. */
static void check_base(const fixture *f, const char *variant, const char *prefix, int pooler) {
    slm_model *m = load_fixture_variant(f, variant);
    if (!m) return;
    slm_model_info info = slm_model_get_info(m);
    slm_session *s = open_session(m, 2);
    slm_batch b = fixture_batch(f);
    char name[128];
    CHECK(slm_model_is_encoder(m) && slm_model_has_head(m, SLM_HEAD_BASE), "%s/%s: an encoder", f->name, variant);
    CHECK(slm_model_has_head(m, SLM_HEAD_MLM) == 0, "%s/%s: no MLM head", f->name, variant);
    float *hidden = s ? encode_output(s, m, &b, SLM_ENCODE_HIDDEN, f->name) : NULL;
    if (hidden) {
        snprintf(name, sizeof name, "%s.last_hidden_state", prefix);
        compare_output(f, name, hidden, (size_t)b.n_seqs * b.seq_len, info.d_model, f->mask);
        check_each_row_alone(f, s, m, SLM_ENCODE_HIDDEN, hidden);
    }
    free(hidden);
    if (pooler && s) {
        float *pooled = encode_output(s, m, &b, SLM_ENCODE_POOLER, f->name);
        if (pooled) {
            snprintf(name, sizeof name, "%s.pooler_output", prefix);
            compare_output(f, name, pooled, (size_t)b.n_seqs, info.d_model, NULL);
            check_each_row_alone(f, s, m, SLM_ENCODE_POOLER, pooled);
        }
        free(pooled);
    } else if (s) {
        check_missing_head(f, s, m, SLM_ENCODE_POOLER, "pooler");
    }
    if (s) check_missing_head(f, s, m, SLM_ENCODE_MLM, "mlm");
    /* single.*: row 1 alone, no mask, default token types (base model only). */
    int rows, cols;
    int32_t *single = strcmp(prefix, "model") ? NULL : int_tensor(f->inputs, "single.input_ids", &rows, &cols);
    if (single && s) {
        slm_batch one = {rows, cols, single, NULL, NULL};
        float *out = encode_output(s, m, &one, SLM_ENCODE_HIDDEN, f->name);
        if (out) compare_output(f, "model.single.last_hidden_state", out, (size_t)rows * cols, info.d_model, NULL);
        free(out);
        if (pooler) {
            out = encode_output(s, m, &one, SLM_ENCODE_POOLER, f->name);
            if (out) compare_output(f, "model.single.pooler_output", out, (size_t)rows, info.d_model, NULL);
            free(out);
        }
    }
    free(single);
    slm_session_free(s);
    slm_model_free(m);
}

/* A head checkpoint: its logits, and its final hidden state (from the head model's own body). */
static void check_head(const fixture *f, const char *variant, slm_head head, slm_encode_output what,
                       const char *output) {
    slm_model *m = load_fixture_variant(f, variant);
    if (!m) return;
    slm_model_info info = slm_model_get_info(m);
    slm_session *s = open_session(m, 3);
    slm_batch b = fixture_batch(f);
    CHECK(slm_model_has_head(m, head), "%s/%s: has head %d", f->name, variant, (int)head);
    float *out = s ? encode_output(s, m, &b, what, f->name) : NULL;
    size_t S = (size_t)b.n_seqs, T = (size_t)b.seq_len;
    if (out) {
        if (what == SLM_ENCODE_MLM) {
            compare_output(f, output, out, S * T, info.n_vocab, f->mask);
        } else if (what == SLM_ENCODE_TOKCLS) {
            compare_output(f, output, out, S * T, slm_model_num_labels(m), f->mask);
        } else if (what == SLM_ENCODE_SEQCLS) {
            compare_output(f, output, out, S, slm_model_num_labels(m), NULL);
        } else if (what == SLM_ENCODE_QA) {
            const float *start = reference(f, "qa.start_logits", S * T), *end = reference(f, "qa.end_logits", S * T);
            for (size_t r = 0; r < S && start && end; r++) {
                compare(f, "qa.start_logits", out + r * 2 * T, start + r * T, T, 1, f->mask + r * T,
                        tolerance(f, "qa.start_logits"));
                compare(f, "qa.end_logits", out + r * 2 * T + T, end + r * T, T, 1, f->mask + r * T,
                        tolerance(f, "qa.end_logits"));
            }
        }
        check_each_row_alone(f, s, m, what, out);
    }
    free(out);
    if (what == SLM_ENCODE_SEQCLS || what == SLM_ENCODE_TOKCLS) {
        CHECK(slm_model_num_labels(m) >= 2, "%s/%s: %d labels", f->name, variant, slm_model_num_labels(m));
        const char *label = slm_model_label(m, 1);
        CHECK(label && !strcmp(label, "LABEL_1"), "%s/%s: label 1 is %s", f->name, variant, label ? label : "NULL");
        CHECK(slm_model_label(m, slm_model_num_labels(m)) == NULL, "%s/%s: label past the end", f->name, variant);
    }
    if (s && what != SLM_ENCODE_QA) check_missing_head(f, s, m, SLM_ENCODE_QA, "qa");
    if (s && what != SLM_ENCODE_MLM) check_missing_head(f, s, m, SLM_ENCODE_MLM, "mlm");
    slm_session_free(s);
    slm_model_free(m);
}

static void check_case(const char *name) {
    fixture f;
    worst_ratio = 0;
    int before = check_failed, passed = check_passed;
    if (open_fixture(&f, name)) {
        int bert = strncmp(name, "distil", 6) != 0;
        check_base(&f, "model", "model", bert);
        check_base(&f, "model_fp16", "model.fp16_weights_f32_compute", bert);
        check_base(&f, "model_bf16", "model.bf16_weights_f32_compute", bert);
        check_head(&f, "mlm", SLM_HEAD_MLM, SLM_ENCODE_MLM, "mlm.logits");
        check_head(&f, "mlm_fp16", SLM_HEAD_MLM, SLM_ENCODE_MLM, "mlm.fp16_weights_f32_compute.logits");
        check_head(&f, "mlm_bf16", SLM_HEAD_MLM, SLM_ENCODE_MLM, "mlm.bf16_weights_f32_compute.logits");
        check_head(&f, "seqcls", SLM_HEAD_SEQCLS, SLM_ENCODE_SEQCLS, "seqcls.logits");
        check_head(&f, "tokcls", SLM_HEAD_TOKCLS, SLM_ENCODE_TOKCLS, "tokcls.logits");
        check_head(&f, "qa", SLM_HEAD_QA, SLM_ENCODE_QA, "qa.start_logits");
    }
    close_fixture(&f);
    printf("%-20s %s, %d checks, worst error %.3f x tolerance\n", name, check_failed == before ? "ok" : "FAILED",
           check_passed - passed, worst_ratio);
}

/* sbert_minilm: the BertModel under hf/ and st_model/ gives manual.last_hidden_state. */
static void check_sbert(void) {
    fixture f;
    if (open_fixture(&f, "sbert_minilm")) {
        static const char *const dirs[] = {"hf", "st_model"};
        for (int i = 0; i < 2; i++) {
            slm_model *m = load_fixture_variant(&f, dirs[i]);
            slm_session *s = m ? open_session(m, 2) : NULL;
            slm_batch b = fixture_batch(&f);
            float *out = s ? encode_output(s, m, &b, SLM_ENCODE_HIDDEN, f.name) : NULL;
            if (out)
                compare_output(&f, "manual.last_hidden_state", out, (size_t)b.n_seqs * b.seq_len,
                               (size_t)slm_model_get_info(m).d_model, f.mask);
            free(out);
            slm_session_free(s);
            slm_model_free(m);
        }
    }
    close_fixture(&f);
}

/* bert_tiniest (BertLMHeadModel, is_decoder false): the logits at the stored top-64 indices. */
static void check_tiniest(void) {
    fixture f;
    if (open_fixture(&f, "hf_fixture__mozilla-ai__lm-buddy__bert_tiniest")) {
        char path[512];
        slm_model *m = load_model(test_path(path, sizeof path, "hf-fixtures/mozilla-ai__lm-buddy__bert_tiniest"));
        slm_session *s = m ? open_session(m, 2) : NULL;
        slm_batch b = fixture_batch(&f);
        float *out = s ? encode_output(s, m, &b, SLM_ENCODE_MLM, f.name) : NULL;
        const slm_tensor_view *values = slm_weights_find(f.outputs, "model.logits.topk_values");
        const slm_tensor_view *indices = slm_weights_find(f.outputs, "model.logits.topk_indices");
        CHECK(values && indices, "%s: top-k outputs present", f.name);
        if (out && values && indices) {
            int n_vocab = slm_model_get_info(m).n_vocab, k = (int)values->shape[2];
            size_t rows = (size_t)b.n_seqs * b.seq_len;
            float *picked = malloc(rows * k * sizeof(float));
            const int64_t *idx = indices->data;
            for (size_t r = 0; r < rows; r++)
                for (int j = 0; j < k; j++) picked[r * k + j] = out[r * n_vocab + idx[r * k + j]];
            compare(&f, "logits at the top-64 indices", picked, values->data, rows, (size_t)k, f.mask, 1e-4);
            free(picked);
        }
        free(out);
        slm_session_free(s);
        slm_model_free(m);
    }
    close_fixture(&f);
}

/* TinyBERT's published config has neither model_type nor architectures: BERT is told by the tensor names. */
static void check_no_model_type(void) {
    fixture f;
    if (open_fixture(&f, "tinybert_hubcfg")) {
        char path[512], dir[600], link[700];
        json_t *cfg = json_load_file(test_path(path, sizeof path, "fixtures/tinybert_hubcfg/model/config.json"), 0, NULL);
        json_object_del(cfg, "model_type");
        json_object_del(cfg, "architectures");
        if (cfg && make_folder(dir, sizeof dir, cfg)) {
            char *abs = realpath(test_path(path, sizeof path, "fixtures/tinybert_hubcfg/model/model.safetensors"), NULL);
            snprintf(link, sizeof link, "%s/model.safetensors", dir);
            CHECK(abs && symlink(abs, link) == 0, "symlink the TinyBERT weights");
            free(abs);
            slm_model *m = load_model(dir);
            slm_session *s = m ? open_session(m, 1) : NULL;
            slm_batch b = fixture_batch(&f);
            float *out = s ? encode_output(s, m, &b, SLM_ENCODE_HIDDEN, "tinybert without model_type") : NULL;
            if (out) {
                CHECK(!strcmp(slm_model_get_info(m).architecture, "bert"), "tinybert: architecture bert");
                compare_output(&f, "model.last_hidden_state", out, (size_t)b.n_seqs * b.seq_len,
                               (size_t)slm_model_get_info(m).d_model, f.mask);
            }
            free(out);
            slm_session_free(s);
            slm_model_free(m);
            remove_folder(dir);
        }
        json_decref(cfg);
    }
    close_fixture(&f);
}

/* bert_tiny's MLM checkpoint rewritten with TF-era LayerNorm.gamma/beta names,
 * no "bert." prefix on the body, and tensors no head uses (next-sentence
 * head, a position_ids buffer): same logits. */
static void check_legacy_names(void) {
    fixture f;
    if (!open_fixture(&f, "bert_tiny")) {
        close_fixture(&f);
        return;
    }
    char path[512], dir[600];
    slm_weights *w = slm_safetensors_open(test_path(path, sizeof path, "fixtures/bert_tiny/mlm/model.safetensors"), NULL);
    json_t *cfg = json_load_file(test_path(path, sizeof path, "fixtures/bert_tiny/mlm/config.json"), 0, NULL);
    int n = w ? slm_weights_count(w) : 0;
    slm_tensor_view *views = calloc((size_t)n + 2, sizeof *views);
    char (*names)[160] = calloc((size_t)n, sizeof *names);
    static const float next_sentence[2 * 64] = {0};
    static const int64_t position_ids[64] = {0};
    for (int i = 0; i < n; i++) {
        views[i] = *slm_weights_at(w, i);
        const char *name = views[i].name;
        if (!strncmp(name, "bert.", 5)) name += 5;
        snprintf(names[i], sizeof names[i], "%s", name);
        char *ln = strstr(names[i], "LayerNorm.");
        if (ln && !strcmp(ln, "LayerNorm.weight")) strcpy(ln, "LayerNorm.gamma");
        if (ln && !strcmp(ln, "LayerNorm.bias")) strcpy(ln, "LayerNorm.beta");
        views[i].name = names[i];
    }
    views[n] = (slm_tensor_view){"cls.seq_relationship.weight", SLM_DTYPE_F32, 2, {2, 64}, next_sentence,
                                 sizeof next_sentence};
    views[n + 1] = (slm_tensor_view){"embeddings.position_ids", SLM_DTYPE_I64, 2, {1, 64}, position_ids,
                                     sizeof position_ids};
    if (w && cfg && make_folder(dir, sizeof dir, cfg)) {
        char file[700];
        snprintf(file, sizeof file, "%s/model.safetensors", dir);
        slm_error err;
        CHECK(slm_safetensors_write(file, views, n + 2, NULL, &err) == SLM_OK, "write legacy checkpoint: %s",
              err.message);
        slm_model *m = load_model(dir);
        slm_session *s = m ? open_session(m, 2) : NULL;
        slm_batch b = fixture_batch(&f);
        float *out = s ? encode_output(s, m, &b, SLM_ENCODE_MLM, "legacy names") : NULL;
        if (out)
            compare_output(&f, "mlm.logits", out, (size_t)b.n_seqs * b.seq_len,
                           (size_t)slm_model_get_info(m).n_vocab, f.mask);
        free(out);
        slm_session_free(s);
        slm_model_free(m);
        remove_folder(dir);
    }
    free(views);
    free(names);
    json_decref(cfg);
    slm_weights_free(w);
    close_fixture(&f);
}

static void expect_error(slm_session *s, const slm_batch *b, slm_encode_output what, float *out, const char *needle,
                         const char *what_text) {
    slm_error err;
    slm_status st = slm_session_encode(s, b, what, out, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, needle), "%s: %s", what_text,
          st ? err.message : "accepted");
}

static void check_bad_input(void) {
    char path[512];
    slm_model *m = load_model(test_path(path, sizeof path, "fixtures/bert_tiny/model"));
    slm_session *s = m ? open_session(m, 2) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    CHECK(slm_model_max_length(m) == 64, "max_length %d", slm_model_max_length(m));
    CHECK(slm_model_get_info(m).n_ctx_train == 64 && !strcmp(slm_model_get_info(m).architecture, "bert"), "info");
    static float out[2 * 80 * 64];
    int32_t ids[80] = {2, 5, 3}, types[80] = {0, 1, 2}, mask[80] = {1, 1, 1};
    slm_batch b = {1, 3, ids, NULL, NULL};
    b.ids = NULL;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "ids is NULL", "NULL ids");
    b.ids = ids;
    b.n_seqs = 0;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "must be positive", "no sequences");
    b.n_seqs = -1;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "must be positive", "negative sequences");
    b.n_seqs = 1;
    b.seq_len = -3;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "must be positive", "negative length");
    b.seq_len = 65;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "max_position_embeddings", "too long");
    b.seq_len = 3;
    ids[1] = 512;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "outside the vocabulary", "id past the vocabulary");
    ids[1] = -1;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "outside the vocabulary", "negative id");
    ids[1] = 5;
    b.type_ids = types;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "type_vocab_size", "token type 2");
    types[2] = 1;
    mask[0] = mask[1] = mask[2] = 0;
    b.attention_mask = mask;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "no tokens", "all-masked row");
    mask[0] = 2;
    expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "not 0 or 1", "mask value 2");
    mask[0] = mask[1] = mask[2] = 1;
    expect_error(s, &b, SLM_ENCODE_SEQCLS, out, "seqcls", "no classifier");
    expect_error(s, &b, SLM_ENCODE_TOKCLS, out, "tokcls", "no token classifier");
    expect_error(s, &b, (slm_encode_output)42, out, "unknown", "unknown output");
    expect_error(s, NULL, SLM_ENCODE_HIDDEN, out, "batch is NULL", "NULL batch");
    expect_error(s, &b, SLM_ENCODE_HIDDEN, NULL, "out is NULL", "NULL out");
    slm_error err;
    CHECK(slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, out, &err) == SLM_OK, "valid after errors: %s", err.message);
    /* Decoder entry points refuse an encoder, naming what to use instead. */
    slm_status st = slm_session_forward(s, ids, 3, SLM_OUTPUT_LOGITS, out, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "slm_session_encode"), "forward on an encoder: %s",
          st ? err.message : "accepted");
    slm_generate_params gp = slm_generate_default_params();
    st = slm_generate(s, "hello", &gp, NULL, NULL, NULL, &err);
    CHECK(st != SLM_OK, "generate on an encoder fails: %s", err.message);
    slm_session_free(s);
    slm_model_free(m);

    /* A decoder refuses slm_session_encode and has no encoder heads. */
    m = load_model(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"));
    s = m ? open_session(m, 1) : NULL;
    if (s) {
        CHECK(!slm_model_is_encoder(m) && !slm_model_has_head(m, SLM_HEAD_MLM), "gpt2 is no encoder");
        expect_error(s, &b, SLM_ENCODE_HIDDEN, out, "slm_session_forward", "encode on a decoder");
    }
    slm_session_free(s);
    slm_model_free(m);
}

/* A left-padded row and a row with a hole give, at the real tokens, what the
 * same tokens give alone at the same positions (masked keys get zero weight). */
static void check_mask_shapes(void) {
    char path[512];
    slm_model *m = load_model(test_path(path, sizeof path, "fixtures/bert_tiny/seqcls"));
    slm_session *s = m ? open_session(m, 4) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    enum { T = 6, D = 64 };
    int32_t ids[2 * T] = {2, 40, 41, 42, 43, 3, 2, 40, 41, 42, 43, 3};
    int32_t mask[2 * T] = {1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    static float a[2 * T * D], c[2 * T * D];
    slm_batch b = {2, T, ids, NULL, mask};
    slm_error err;
    CHECK(slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, a, &err) == SLM_OK, "hole: %s", err.message);
    /* Changing the masked token must not change anything. */
    ids[2] = 77;
    CHECK(slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, c, &err) == SLM_OK, "hole: %s", err.message);
    float worst = 0;
    for (int t = 0; t < T; t++)
        if (mask[t])
            for (int j = 0; j < D; j++) worst = fmaxf(worst, fabsf(a[t * D + j] - c[t * D + j]));
    CHECK(worst == 0.0f, "a masked token changed the others by %g", worst);
    slm_session_free(s);
    slm_model_free(m);
}

int main(void) {
    static const char *const cases[] = {"bert_tiny",       "bert_odd",       "bert_hubcfg",      "tinybert_hubcfg",
                                        "distilbert_tiny", "distilbert_odd", "distilbert_hubcfg"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(cases[i]);
    worst_ratio = 0;
    check_sbert();
    printf("%-20s worst error %.3f x tolerance\n", "sbert_minilm", worst_ratio);
    worst_ratio = 0;
    check_tiniest();
    printf("%-20s worst error %.3f x tolerance\n", "bert_tiniest", worst_ratio);
    check_no_model_type();
    check_legacy_names();
    check_bad_input();
    check_mask_shapes();
    TEST_END();
}
