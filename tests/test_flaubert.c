/* test_flaubert.c — FlauBERT (XLM's architecture) against Hugging Face's own
 * outputs: the base model's last hidden state (batch, each row alone, the
 * single run, the batch without its mask), the hidden state after each layer
 * (the checkpoint re-run with fewer layers), the LM head's logits, padded
 * positions (HF zeroes their hidden states, so their logits are the bias),
 * the published flaubert_small_cased config, and bad checkpoints. Variants no
 * fixture covers (pre_norm, ReLU, sinusoidal positions) are compared with a
 * double-precision forward pass written here, which is itself first checked
 * against HF's outputs. Per-token outputs are compared where attention_mask is 1. */
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_test_flaubert_XXXXXX"
#include "fixture.h"
#include "formats/safetensors_write.h"

/* Each row alone, trimmed to its real length with no mask, must give what the batch gave. */
static void check_rows_alone(const fixture *f, slm_session *s, slm_encode_output what, int width,
                             const float *batch_out) {
    for (int r = 0; r < f->n_seqs; r++) {
        int len = 0;
        while (len < f->seq_len && f->mask[(size_t)r * f->seq_len + len]) len++;
        slm_batch one = {1, len, f->ids + (size_t)r * f->seq_len, NULL, NULL};
        float *out = encode(s, &one, what, (size_t)len * width, f->name);
        if (!out) continue;
        float worst = 0;
        for (size_t i = 0; i < (size_t)len * width; i++)
            worst = fmaxf(worst, fabsf(out[i] - batch_out[(size_t)r * f->seq_len * width + i]));
        CHECK(worst <= 1e-5f, "%s: output %d, row %d alone differs from the batch by %g", f->name, (int)what, r, worst);
        free(out);
    }
}

/* model/: hidden state (real and padded positions), rows alone, no mask, single run. */
static void check_base(const fixture *f) {
    slm_model *m = load_fixture_model(f, "model");
    slm_session *s = m ? open_session(m, 2) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    slm_model_info info = slm_model_get_info(m);
    CHECK(!strcmp(info.architecture, "flaubert") && slm_model_is_encoder(m) && slm_model_has_head(m, SLM_HEAD_BASE) &&
              !slm_model_has_head(m, SLM_HEAD_MLM) && info.d_ff == 4 * info.d_model,
          "%s: a flaubert encoder without LM head, ffn 4 x %d (%s, %d)", f->name, info.d_model, info.architecture,
          info.d_ff);
    size_t S = (size_t)f->n_seqs, T = (size_t)f->seq_len, H = (size_t)info.d_model;
    slm_batch b = fixture_batch(f);
    float *hidden = encode(s, &b, SLM_ENCODE_HIDDEN, S * T * H, f->name);
    if (hidden) {
        compare_output(f, "model.last_hidden_state", hidden, S * T, H, f->mask);
        /* HF multiplies the hidden states by the mask: padded positions are 0, here too. */
        const float *want = reference(f, "model.last_hidden_state", S * T * H);
        int zeros = 1;
        for (size_t i = 0; i < S * T * H && want; i++)
            if (!f->mask[i / H]) zeros = zeros && hidden[i] == 0.0f && want[i] == 0.0f;
        CHECK(zeros, "%s: padded positions are 0 in both", f->name);
        check_rows_alone(f, s, SLM_ENCODE_HIDDEN, (int)H, hidden);
    }
    free(hidden);
    /* Without attention_mask HF masks each row to its count of non-pad tokens: the padded batch still matches. */
    slm_batch unmasked = {f->n_seqs, f->seq_len, f->ids, NULL, NULL};
    hidden = encode(s, &unmasked, SLM_ENCODE_HIDDEN, S * T * H, f->name);
    if (hidden) compare_output(f, "model.last_hidden_state", hidden, S * T, H, NULL);
    free(hidden);
    slm_error err;
    float dummy[4];
    static const slm_encode_output absent[] = {SLM_ENCODE_MLM, SLM_ENCODE_POOLER, SLM_ENCODE_SEQCLS, SLM_ENCODE_QA};
    static const char *const absent_names[] = {"mlm", "pooler", "seqcls", "qa"};
    for (int i = 0; i < 4; i++) {
        slm_status st = slm_session_encode(s, &b, absent[i], dummy, &err);
        CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, absent_names[i]), "%s: no %s head: %s", f->name,
              absent_names[i], st ? err.message : "accepted");
    }
    int rows, cols;
    int32_t *single = int_tensor(f->inputs, "single.input_ids", &rows, &cols);
    CHECK(single != NULL, "%s: single.input_ids", f->name);
    if (single) {
        slm_batch one = {rows, cols, single, NULL, NULL};
        float *out = encode(s, &one, SLM_ENCODE_HIDDEN, (size_t)rows * cols * H, f->name);
        if (out) compare_output(f, "model.single.last_hidden_state", out, (size_t)rows * cols, H, NULL);
        free(out);
    }
    free(single);
    slm_session_free(s);
    slm_model_free(m);
}

/* lm/: logits at every position (padded ones are the bias), rows alone, the head model's hidden state. */
static void check_lm(const fixture *f) {
    char name[64];
    slm_model *m = load_fixture_model(f, "lm");
    slm_session *s = m ? open_session(m, 3) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    slm_model_info info = slm_model_get_info(m);
    CHECK(slm_model_has_head(m, SLM_HEAD_MLM) && !slm_model_has_head(m, SLM_HEAD_QA) &&
              !slm_model_has_head(m, SLM_HEAD_SEQCLS),
          "%s/lm: heads", f->name);
    size_t S = (size_t)f->n_seqs, T = (size_t)f->seq_len, V = (size_t)info.n_vocab, H = (size_t)info.d_model;
    slm_batch b = fixture_batch(f);
    float *logits = encode(s, &b, SLM_ENCODE_MLM, S * T * V, f->name);
    if (logits) {
        compare_output(f, "lm.logits", logits, S * T, V, NULL);
        check_rows_alone(f, s, SLM_ENCODE_MLM, (int)V, logits);
    }
    free(logits);
    float *hidden = encode(s, &b, SLM_ENCODE_HIDDEN, S * T * H, f->name);
    snprintf(name, sizeof name, "lm.hidden_states.%d", info.n_layers);
    if (hidden) compare_output(f, name, hidden, S * T, H, f->mask);
    free(hidden);
    slm_session_free(s);
    slm_model_free(m);
}

/* The hidden state after layer i is the last hidden state of the same weights with i layers. */
static void check_hidden_states(const fixture *f) {
    json_t *cfg = variant_config(f->name, "model");
    int n_layers = (int)json_integer_value(json_object_get(cfg, "n_layers"));
    for (int i = 1; cfg && i <= n_layers; i++) {
        char output[64];
        snprintf(output, sizeof output, "model.hidden_states.%d", i);
        json_object_set_new(cfg, "n_layers", json_integer(i));
        check_under(f, cfg, "model", SLM_ENCODE_HIDDEN, output);
    }
    json_decref(cfg);
}

/* The published config (case.json config_hubstyle: flaubert_small_cased with sizes shrunk) loads as is. */
static void check_hubstyle_config(const fixture *f) {
    json_t *cfg = json_object_get(f->json, "config_hubstyle");
    CHECK(json_is_object(cfg), "%s: config_hubstyle present", f->name);
    if (!json_is_object(cfg)) return;
    check_under(f, cfg, "lm", SLM_ENCODE_MLM, "lm.logits");
    check_under(f, cfg, "model", SLM_ENCODE_HIDDEN, "model.last_hidden_state");
}

/* ---- a double-precision forward pass, for the variants no fixture covers ---- */

typedef struct {
    int d, n_layers, n_heads, pre_norm, relu;
    double eps;
    const float *positions; /* (n_pos, d), or NULL for the checkpoint's table */
} xlm_config;

static const float *weight(const slm_weights *w, const char *fmt, int l) {
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const slm_tensor_view *t = slm_weights_find(w, name);
    if (!t || t->dtype != SLM_DTYPE_F32) CHECK(0, "reference forward: tensor %s", name);
    return t && t->dtype == SLM_DTYPE_F32 ? t->data : NULL;
}

/* y (n_out) = W (n_out, n_in) x + b */
static void affine(double *y, const float *W, const float *b, const double *x, int n_in, int n_out) {
    for (int o = 0; o < n_out; o++) {
        double acc = b[o];
        for (int i = 0; i < n_in; i++) acc += (double)W[(size_t)o * n_in + i] * x[i];
        y[o] = acc;
    }
}

static void layer_norm(double *y, const double *x, const float *g, const float *b, int d, double eps) {
    double mean = 0, var = 0;
    for (int i = 0; i < d; i++) mean += x[i];
    mean /= d;
    for (int i = 0; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= d;
    for (int i = 0; i < d; i++) y[i] = (x[i] - mean) / sqrt(var + eps) * g[i] + b[i];
}

/* out (L, d) += attention(in) through layer l's projections. */
static void attention_add(const slm_weights *w, const xlm_config *c, int l, const double *in, int L, double *out) {
    int d = c->d, hd = d / c->n_heads;
    double *q = malloc(sizeof(double) * L * d), *k = malloc(sizeof(double) * L * d), *v = malloc(sizeof(double) * L * d);
    double *ctx = calloc((size_t)L * d, sizeof(double)), *o = malloc(sizeof(double) * d), p[64];
    for (int t = 0; t < L; t++) {
        affine(q + t * d, weight(w, "attentions.%d.q_lin.weight", l), weight(w, "attentions.%d.q_lin.bias", l), in + t * d, d, d);
        affine(k + t * d, weight(w, "attentions.%d.k_lin.weight", l), weight(w, "attentions.%d.k_lin.bias", l), in + t * d, d, d);
        affine(v + t * d, weight(w, "attentions.%d.v_lin.weight", l), weight(w, "attentions.%d.v_lin.bias", l), in + t * d, d, d);
    }
    for (int h = 0; h < c->n_heads; h++)
        for (int i = 0; i < L; i++) {
            double top = -INFINITY, sum = 0;
            for (int j = 0; j < L; j++) {
                double dot = 0;
                for (int e = 0; e < hd; e++) dot += q[i * d + h * hd + e] * k[j * d + h * hd + e];
                p[j] = dot / sqrt((double)hd);
                top = fmax(top, p[j]);
            }
            for (int j = 0; j < L; j++) sum += p[j] = exp(p[j] - top);
            for (int j = 0; j < L; j++)
                for (int e = 0; e < hd; e++) ctx[i * d + h * hd + e] += p[j] / sum * v[j * d + h * hd + e];
        }
    for (int t = 0; t < L; t++) {
        affine(o, weight(w, "attentions.%d.out_lin.weight", l), weight(w, "attentions.%d.out_lin.bias", l), ctx + t * d, d, d);
        for (int i = 0; i < d; i++) out[t * d + i] += o[i];
    }
    free(q), free(k), free(v), free(ctx), free(o);
}

/* out (d) += lin2(act(lin1(in))) of layer l. */
static void ffn_add(const slm_weights *w, const xlm_config *c, int l, const double *in, double *out) {
    int d = c->d, ff = 4 * d;
    double *hidden = malloc(sizeof(double) * ff), *o = malloc(sizeof(double) * d);
    affine(hidden, weight(w, "ffns.%d.lin1.weight", l), weight(w, "ffns.%d.lin1.bias", l), in, d, ff);
    for (int i = 0; i < ff; i++)
        hidden[i] = c->relu ? fmax(hidden[i], 0.0) : 0.5 * hidden[i] * (1.0 + erf(hidden[i] / sqrt(2.0)));
    affine(o, weight(w, "ffns.%d.lin2.weight", l), weight(w, "ffns.%d.lin2.bias", l), hidden, ff, d);
    for (int i = 0; i < d; i++) out[i] += o[i];
    free(hidden), free(o);
}

/* The last hidden state (L, d) of one unpadded sequence through a bare model's weights. */
static float *reference_forward(const slm_weights *w, const xlm_config *c, const int32_t *ids, int L) {
    int d = c->d;
    double *x = malloc(sizeof(double) * L * d), *normed = malloc(sizeof(double) * L * d);
    const float *E = weight(w, "embeddings.weight", 0);
    const float *P = c->positions ? c->positions : weight(w, "position_embeddings.weight", 0);
    float *out = malloc(sizeof(float) * L * d);
    if (!E || !P) {
        free(x), free(normed), free(out);
        return NULL;
    }
    for (int t = 0; t < L; t++) {
        for (int i = 0; i < d; i++) normed[t * d + i] = (double)E[(size_t)ids[t] * d + i] + P[(size_t)t * d + i];
        layer_norm(x + t * d, normed + t * d, weight(w, "layer_norm_emb.weight", 0), weight(w, "layer_norm_emb.bias", 0),
                   d, c->eps);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const float *g1 = weight(w, "layer_norm1.%d.weight", l), *b1 = weight(w, "layer_norm1.%d.bias", l);
        const float *g2 = weight(w, "layer_norm2.%d.weight", l), *b2 = weight(w, "layer_norm2.%d.bias", l);
        if (c->pre_norm) {
            for (int t = 0; t < L; t++) layer_norm(normed + t * d, x + t * d, g1, b1, d, c->eps);
            attention_add(w, c, l, normed, L, x);
            for (int t = 0; t < L; t++) {
                layer_norm(normed + t * d, x + t * d, g2, b2, d, c->eps);
                ffn_add(w, c, l, normed + t * d, x + t * d);
            }
        } else {
            attention_add(w, c, l, x, L, x);
            for (int t = 0; t < L; t++) {
                layer_norm(x + t * d, x + t * d, g1, b1, d, c->eps);
                memcpy(normed + t * d, x + t * d, sizeof(double) * d);
                ffn_add(w, c, l, x + t * d, normed + t * d);
                layer_norm(x + t * d, normed + t * d, g2, b2, d, c->eps);
            }
        }
    }
    for (size_t i = 0; i < (size_t)L * d; i++) out[i] = (float)x[i];
    free(x), free(normed);
    return out;
}

/* slm under cfg (written beside the given safetensors) against the reference forward, for the single input. */
static void check_against_reference(const fixture *f, json_t *cfg, const char *weights_file, const slm_weights *w,
                                    const xlm_config *c, const char *label) {
    int rows, cols;
    int32_t *single = int_tensor(f->inputs, "single.input_ids", &rows, &cols);
    float *want = single ? reference_forward(w, c, single, cols) : NULL;
    char dir[600], link[700];
    if (want && make_folder(dir, sizeof dir, cfg)) {
        snprintf(link, sizeof link, "%s/model.safetensors", dir);
        CHECK(symlink(weights_file, link) == 0, "%s: link weights", label);
        slm_model *m = load_model(dir);
        slm_session *s = m ? open_session(m, 2) : NULL;
        slm_batch one = {1, cols, single, NULL, NULL};
        float *got = s ? encode(s, &one, SLM_ENCODE_HIDDEN, (size_t)cols * c->d, label) : NULL;
        if (got) compare(f, label, got, want, (size_t)cols, (size_t)c->d, NULL, 1e-4);
        free(got);
        slm_session_free(s);
        slm_model_free(m);
        remove_folder(dir);
    }
    free(want);
    free(single);
}

/* The sinusoidal table written independently of slm's: sin / cos of pos * 10000^(-2 floor(j/2) / dim). */
static float *sinusoid(int n_pos, int d) {
    float *table = malloc(sizeof(float) * n_pos * d);
    for (int pos = 0; pos < n_pos; pos++)
        for (int j = 0; j < d; j++) {
            double angle = pos * exp(-log(10000.0) * (j - j % 2) / d);
            table[pos * d + j] = (float)(j % 2 ? cos(angle) : sin(angle));
        }
    return table;
}

/* Post-norm GELU (checks the reference against HF), pre-norm, ReLU, and sinusoidal positions. */
static void check_variants(const fixture *f) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/model/model.safetensors", f->name);
    char *file = realpath(test_path(path, sizeof path, rel), NULL);
    slm_weights *w = file ? slm_safetensors_open(file, NULL) : NULL;
    json_t *cfg = variant_config(f->name, "model");
    CHECK(w && cfg, "%s: base weights and config", f->name);
    if (w && cfg) {
        xlm_config c = {(int)json_integer_value(json_object_get(cfg, "emb_dim")),
                        (int)json_integer_value(json_object_get(cfg, "n_layers")),
                        (int)json_integer_value(json_object_get(cfg, "n_heads")),
                        0, 0, json_number_value(json_object_get(cfg, "layer_norm_eps")), NULL};
        int rows, cols;
        int32_t *single = int_tensor(f->inputs, "single.input_ids", &rows, &cols);
        float *mine = single ? reference_forward(w, &c, single, cols) : NULL;
        if (mine) compare_output(f, "model.single.last_hidden_state", mine, (size_t)cols, (size_t)c.d, NULL);
        free(mine);
        free(single);

        c.pre_norm = 1;
        json_object_set_new(cfg, "pre_norm", json_true());
        check_against_reference(f, cfg, file, w, &c, "pre_norm");
        c.relu = 1;
        json_object_set_new(cfg, "gelu_activation", json_false());
        check_against_reference(f, cfg, file, w, &c, "pre_norm relu");

        /* Sinusoidal positions: the checkpoint without its table, the table computed by the loader. */
        int n_pos = (int)json_integer_value(json_object_get(cfg, "max_position_embeddings"));
        float *table = sinusoid(n_pos, c.d);
        c.positions = table;
        c.pre_norm = c.relu = 0;
        json_object_set_new(cfg, "pre_norm", json_false());
        json_object_set_new(cfg, "gelu_activation", json_true());
        json_object_set_new(cfg, "sinusoidal_embeddings", json_true());
        int n = slm_weights_count(w), kept = 0;
        slm_tensor_view *views = calloc((size_t)n, sizeof *views);
        for (int i = 0; i < n; i++)
            if (strcmp(slm_weights_at(w, i)->name, "position_embeddings.weight") != 0) views[kept++] = *slm_weights_at(w, i);
        char scratch[] = "/tmp/slm_test_flaubert_sinusoidal_XXXXXX";
        int fd = mkstemp(scratch);
        slm_error err;
        CHECK(fd >= 0 && slm_safetensors_write(scratch, views, kept, NULL, &err) == SLM_OK,
              "write a checkpoint without position_embeddings");
        if (fd >= 0) {
            close(fd);
            check_against_reference(f, cfg, scratch, w, &c, "sinusoidal_embeddings");
            unlink(scratch);
        }
        free(views);
        free(table);
    }
    json_decref(cfg);
    slm_weights_free(w);
    free(file);
}

/* ---- bad checkpoints ---- */

/* The tiny variant under a config edited by `key` = value must fail with status and a message holding needle. */
static void expect_load_error(const char *variant, const char *key, json_t *value, slm_status status,
                              const char *needle) {
    json_t *cfg = variant_config("flaubert_tiny", variant);
    char dir[600];
    if (!cfg) {
        json_decref(value);
        return;
    }
    json_object_set_new(cfg, key, value);
    if (linked_folder(dir, sizeof dir, cfg, "flaubert_tiny", variant)) {
        slm_model_params mp = slm_model_default_params();
        mp.load_tokenizer = 0;
        slm_error err;
        slm_model *m = slm_model_load(dir, &mp, &err);
        CHECK(!m && err.status == status && strstr(err.message, needle), "%s %s: expected an error with \"%s\": %s",
              variant, key, needle, m ? "loaded" : err.message);
        slm_model_free(m);
    }
    remove_folder(dir);
    json_decref(cfg);
}

static void check_bad_checkpoints(void) {
    expect_load_error("lm", "asm", json_true(), SLM_ERR_UNSUPPORTED, "asm");
    expect_load_error("model", "vocab_size", json_integer(499), SLM_ERR_FORMAT,
                      "embeddings.weight: shape [500, 64] expected [499, 64]");
    expect_load_error("lm", "emb_dim", json_integer(32), SLM_ERR_FORMAT, "transformer.embeddings.weight");
    expect_load_error("model", "max_position_embeddings", json_integer(80), SLM_ERR_FORMAT,
                      "position_embeddings.weight: shape [64, 64] expected [80, 64]");
    expect_load_error("model", "n_layers", json_integer(3), SLM_ERR_FORMAT, "missing tensor attentions.2.q_lin.weight");
    expect_load_error("model", "n_langs", json_integer(2), SLM_ERR_FORMAT, "missing tensor lang_embeddings.weight");
    expect_load_error("model", "n_heads", json_integer(5), SLM_ERR_FORMAT, "do not divide");
    expect_load_error("model", "causal", json_true(), SLM_ERR_UNSUPPORTED, "causal");
    expect_load_error("model", "pre_norm", json_string("yes"), SLM_ERR_FORMAT, "pre_norm");

    /* asm concerns only the prediction layer: a bare model with asm true loads. */
    json_t *cfg = variant_config("flaubert_tiny", "model");
    char dir[600];
    json_object_set_new(cfg, "asm", json_true());
    json_object_set_new(cfg, "n_langs", json_integer(2));
    json_object_set_new(cfg, "use_lang_emb", json_false());
    if (cfg && linked_folder(dir, sizeof dir, cfg, "flaubert_tiny", "model")) {
        slm_model *m = load_model(dir);
        slm_model_free(m);
    }
    remove_folder(dir);
    json_decref(cfg);
}

/* Token types index the word embeddings (HF adds embeddings(token_type_ids)); ids past the vocabulary fail. */
static void check_inputs(void) {
    char path[512];
    slm_model *m = load_model(test_path(path, sizeof path, "fixtures/flaubert_tiny/model"));
    slm_session *s = m ? open_session(m, 1) : NULL;
    if (!s) {
        slm_model_free(m);
        return;
    }
    int32_t ids[4] = {0, 40, 41, 1}, types[4] = {0, 0, 0, 0}, all_pad[4] = {2, 2, 2, 2};
    static float plain[4 * 64], typed[4 * 64];
    slm_batch b = {1, 4, ids, NULL, NULL};
    slm_error err;
    CHECK(slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, plain, &err) == SLM_OK, "no types: %s", err.message);
    b.type_ids = types;
    CHECK(slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, typed, &err) == SLM_OK, "types: %s", err.message);
    CHECK(memcmp(plain, typed, sizeof plain) != 0, "type_ids 0 add the embedding of token 0 (HF's token_type_ids)");
    types[2] = 500;
    slm_status st = slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, typed, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "token type 500"), "type past the vocabulary: %s",
          st ? err.message : "accepted");
    slm_batch pads = {1, 4, all_pad, NULL, NULL};
    st = slm_session_encode(s, &pads, SLM_ENCODE_HIDDEN, typed, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "all padding"), "all-pad row without mask: %s",
          st ? err.message : "accepted");
    slm_session_free(s);
    slm_model_free(m);
}

int main(void) {
    static const char *const cases[] = {"flaubert_tiny", "flaubert_odd", "flaubert_hubcfg"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fixture f;
        worst_ratio = 0;
        int before = check_failed, passed = check_passed;
        if (open_fixture(&f, cases[i])) {
            check_base(&f);
            check_lm(&f);
            check_hidden_states(&f);
            if (json_object_get(f.json, "config_hubstyle")) check_hubstyle_config(&f);
            check_variants(&f);
        }
        close_fixture(&f);
        printf("%-20s %s, %d checks, worst error %.3f x tolerance\n", cases[i], check_failed == before ? "ok" : "FAILED",
               check_passed - passed, worst_ratio);
    }
    check_bad_checkpoints();
    check_inputs();
    TEST_END();
}
