/* test_gguf_model.c — decoder models through GGUF: each GPT-2, Llama and Phi
 * fixture is written as GGUF by slm_model_save_gguf, loaded back, and run
 * against Hugging Face's own outputs (fixtures' outputs.safetensors):
 *   f32: prompt logits at the case's tolerance and the greedy tokens;
 *   f16 / bf16: gpt2_tiny's fp16 / bf16 checkpoints (every parameter, norms
 *     and biases too, rounded by torch) written as f16 / bf16 GGUF, against
 *     transformers' outputs for those weights;
 *   q8_0 / q4_0: the logits stay near the f32 reference (bounds below).
 * BERT likewise (its last hidden state). Then GGUF files that must be refused: unknown architecture, missing
 * metadata, missing tensor, wrong shape, a tensor type slm does not run. */
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_gguf_model_XXXXXX"
#include "fixture.h"
#include "formats/gguf.h"
#include "slm_convert.h"
#include "slm_eval.h"

static char tmp_dir[64];

static const char *tmp_file(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    return buf;
}

static int32_t *input_ids(const fixture *f, const char *name, size_t *n) {
    const slm_tensor_view *t = slm_weights_find(f->inputs, name);
    if (!t) return NULL;
    *n = (size_t)slm_tensor_numel(t);
    int32_t *ids = malloc(*n * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)((const int64_t *)t->data)[i];
    return ids;
}

/* The source model written as GGUF of weight type `type` and loaded back. */
static slm_model *through_gguf(const slm_model *src, const char *type, const char *label) {
    char path[128];
    slm_error err;
    snprintf(path, sizeof path, "%s/model.gguf", tmp_dir);
    slm_status st = slm_model_save_gguf(src, path, type, &err);
    CHECK(st == SLM_OK, "%s: save %s: %s", label, type, err.message);
    if (st) return NULL;
    slm_model *m = slm_model_load(path, NULL, &err);
    CHECK(m != NULL, "%s: load %s GGUF: %s", label, type, err.message);
    unlink(path);
    return m;
}

/* Prompt logits (n_ids * n_vocab) of m, or NULL. */
static float *prompt_logits(slm_model *m, const int32_t *ids, size_t n) {
    slm_model_info info = slm_model_get_info(m);
    slm_session *s = open_session(m, 2);
    float *out = malloc(n * (size_t)info.n_vocab * sizeof(float));
    slm_error err;
    int ok = s && out && slm_session_forward(s, ids, n, SLM_OUTPUT_LOGITS, out, &err) == SLM_OK;
    CHECK(ok, "forward through GGUF model");
    slm_session_free(s);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

struct piece_buffer {
    char *buf;
    size_t *used;
};

static int append_piece(const char *piece, size_t len, void *user_data) {
    struct piece_buffer *b = user_data;
    if (*b->used + len < 16383) {
        memcpy(b->buf + *b->used, piece, len);
        *b->used += len;
        b->buf[*b->used] = 0;
    }
    return 0;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy decoding from the prompt equals the reference tokens. */
static void check_greedy(const fixture *f, slm_model *m, const char *tokens_name, const char *label) {
    const slm_tensor_view *want = slm_weights_find(f->outputs, tokens_name);
    if (!want) return;
    slm_model_info info = slm_model_get_info(m);
    size_t n;
    int32_t *ids = input_ids(f, "prompt.input_ids", &n);
    slm_session *s = open_session(m, 2);
    float *all = malloc(n * (size_t)info.n_vocab * sizeof(float));
    slm_error err;
    int equal = s && ids && all && slm_session_forward(s, ids, n, SLM_OUTPUT_LOGITS, all, &err) == SLM_OK;
    const float *logits = all + (n - 1) * (size_t)info.n_vocab;
    for (int k = 0; equal && k < (int)want->shape[0]; k++) {
        int32_t next = argmax(logits, info.n_vocab);
        equal = next == (int32_t)((const int64_t *)want->data)[k];
        equal = equal && slm_session_forward(s, &next, 1, SLM_OUTPUT_LOGITS, all, &err) == SLM_OK;
        logits = all;
    }
    CHECK(equal, "%s: greedy tokens equal %s", label, tokens_name);
    free(all);
    free(ids);
    slm_session_free(s);
}

/* Exact-weights types: the reference logits at the case's tolerance, and greedy tokens. */
static void check_exact(const fixture *f, const slm_model *src, const char *type, const char *logits_name,
                        const char *tokens_name) {
    if (!slm_weights_find(f->outputs, logits_name)) return;
    char label[96];
    snprintf(label, sizeof label, "%s %s GGUF", f->name, type);
    slm_model *m = through_gguf(src, type, label);
    if (!m) return;
    size_t n;
    int32_t *ids = input_ids(f, "prompt.input_ids", &n);
    float *got = ids ? prompt_logits(m, ids, n) : NULL;
    if (got) compare_output(f, logits_name, got, n, (size_t)slm_model_get_info(m).n_vocab, NULL);
    check_greedy(f, m, tokens_name, label);
    free(got);
    free(ids);
    slm_model_free(m);
}

/* Quantized weights: the relative RMS error of the prompt logits against the
 * f32 reference stays under max_rel_rms. The bounds are loose on purpose:
 * the fixtures' random weights are as hard to quantize as weights get (no
 * outliers to spend the scale on, every block full-range), and the per-block
 * error bounds themselves are checked exactly in test_quant.c. A broken
 * layout or a transposed matrix gives errors near 1.4 (uncorrelated logits). */
static void check_quantized(const fixture *f, const slm_model *src, const char *type, double max_rel_rms) {
    char label[96];
    snprintf(label, sizeof label, "%s %s GGUF", f->name, type);
    slm_model *m = through_gguf(src, type, label);
    if (!m) return;
    size_t n;
    int32_t *ids = input_ids(f, "prompt.input_ids", &n);
    int vocab = slm_model_get_info(m).n_vocab;
    const float *want = reference(f, "prompt.logits", n * (size_t)vocab);
    float *got = ids ? prompt_logits(m, ids, n) : NULL;
    if (got && want) {
        double err2 = 0, ref2 = 0;
        for (size_t i = 0; i < n * (size_t)vocab; i++) {
            err2 += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
            ref2 += (double)want[i] * want[i];
        }
        double rel = sqrt(err2 / ref2);
        CHECK(rel <= max_rel_rms, "%s: relative RMS error of logits %.4f (bound %.2f)", label, rel, max_rel_rms);
    }
    free(got);
    free(ids);
    slm_model_free(m);
}

/* The case's half-precision checkpoint (variant), when it has one, as GGUF of that type. */
static void check_half(const fixture *f, const char *variant, const char *type, const char *logits_name,
                       const char *tokens_name) {
    if (!slm_weights_find(f->outputs, logits_name)) return;
    slm_model *src = load_fixture_model(f, variant);
    if (src) check_exact(f, src, type, logits_name, tokens_name);
    slm_model_free(src);
}

static void check_case(const char *name) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    slm_model *src = load_fixture_model(&f, "lm");
    if (src) {
        check_exact(&f, src, "f32", "prompt.logits", "gen.manual_cache.tokens");
        check_quantized(&f, src, "q8_0", 0.03);
        check_quantized(&f, src, "q4_0", 0.35);
        slm_model_free(src);
    }
    check_half(&f, "lm_fp16", "f16", "prompt.fp16_weights_f32_compute.logits", "gen.fp16_weights_f32_compute.tokens");
    check_half(&f, "lm_bf16", "bf16", "prompt.bf16_weights_f32_compute.logits", "gen.bf16_weights_f32_compute.tokens");
    close_fixture(&f);
}

/* phi2 GGUF files converted from phi-2's first layout fuse q, k and v into one
 * attn_qkv (rows q, k, v). The test makes one from phi_tiny's GGUF by stacking
 * the three matrices and biases, and checks the logits against the reference. */
static void check_fused_phi(void) {
    fixture f;
    if (!open_fixture_files(&f, "phi_tiny")) return;
    slm_model *src = load_fixture_model(&f, "lm");
    char separate[128], fused[128];
    slm_error err;
    tmp_file("phi_separate.gguf", separate, sizeof separate);
    tmp_file("phi_fused.gguf", fused, sizeof fused);
    slm_gguf *g = src && slm_model_save_gguf(src, separate, "f32", &err) == SLM_OK ? slm_gguf_open(separate, &err) : NULL;
    CHECK(g != NULL, "phi_tiny as GGUF: %s", g ? "" : err.message);
    slm_model_free(src);
    if (!g) {
        close_fixture(&f);
        return;
    }
    int64_t n = slm_gguf_tensor_count(g), out = 0;
    slm_gguf_tensor *tensors = calloc((size_t)n, sizeof *tensors);
    char (*names)[64] = calloc((size_t)n, sizeof *names);
    void **buffers = calloc((size_t)n, sizeof *buffers);
    for (int64_t i = 0; i < n; i++) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, i);
        int layer;
        char part[32], kind[16];
        if (sscanf(t->name, "blk.%d.attn_%31[a-z].%15s", &layer, part, kind) == 3 && !strcmp(part, "q")) {
            /* attn_q.X + attn_k.X + attn_v.X -> attn_qkv.X, stacked along the output rows. */
            const char *parts[3] = {"q", "k", "v"};
            size_t total = 0;
            const slm_gguf_tensor *pieces[3];
            for (int k = 0; k < 3; k++) {
                char name[64];
                snprintf(name, sizeof name, "blk.%d.attn_%s.%s", layer, parts[k], kind);
                pieces[k] = slm_gguf_find_tensor(g, name);
                total += pieces[k] ? pieces[k]->nbytes : 0;
            }
            if (!pieces[1] || !pieces[2]) continue;
            char *data = malloc(total);
            size_t at = 0;
            for (int k = 0; k < 3; k++) {
                memcpy(data + at, pieces[k]->data, pieces[k]->nbytes);
                at += pieces[k]->nbytes;
            }
            slm_gguf_tensor *x = &tensors[out];
            *x = *t;
            snprintf(names[out], sizeof names[out], "blk.%d.attn_qkv.%s", layer, kind);
            x->name = names[out];
            x->dims[t->n_dims - 1] = t->dims[t->n_dims - 1] + pieces[1]->dims[t->n_dims - 1] + pieces[2]->dims[t->n_dims - 1];
            x->data = data;
            x->nbytes = total;
            buffers[out++] = data;
        } else if (!(sscanf(t->name, "blk.%d.attn_%31[a-z].%15s", &layer, part, kind) == 3 &&
                     (!strcmp(part, "k") || !strcmp(part, "v")))) {
            tensors[out++] = *t;
        }
    }
    int64_t n_kv = slm_gguf_kv_count(g);
    CHECK(out == n - 2 * 2 * 2, "phi_tiny: 2 layers x (weight, bias) fused (%lld of %lld tensors)", (long long)out,
          (long long)n);
    /* The metadata goes across through the public reader: enough keys for phi2 and its tokenizer-less file. */
    slm_gguf_kv kvs[16];
    int k = 0;
    static const char *const keys[] = {"phi2.context_length", "phi2.embedding_length", "phi2.block_count",
                                       "phi2.feed_forward_length", "phi2.attention.head_count",
                                       "phi2.attention.head_count_kv", "phi2.rope.dimension_count"};
    kvs[k++] = (slm_gguf_kv){.key = "general.architecture", .type = SLM_GGUF_STRING, .string = "phi2"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        uint32_t v = 0;
        slm_gguf_get_u32(g, keys[i], &v, NULL);
        kvs[k++] = (slm_gguf_kv){.key = keys[i], .type = SLM_GGUF_UINT32, .u = v};
    }
    float eps = 0;
    slm_gguf_get_f32(g, "phi2.attention.layer_norm_epsilon", &eps, NULL);
    kvs[k++] = (slm_gguf_kv){.key = "phi2.attention.layer_norm_epsilon", .type = SLM_GGUF_FLOAT32, .f = eps};
    (void)n_kv;
    CHECK(slm_gguf_write(fused, kvs, k, tensors, out, &err) == SLM_OK, "fused phi GGUF written: %s", err.message);
    slm_model *m = slm_model_load(fused, NULL, &err);
    CHECK(m != NULL, "fused phi GGUF loads: %s", m ? "" : err.message);
    if (m) {
        size_t n_ids;
        int32_t *ids = input_ids(&f, "prompt.input_ids", &n_ids);
        float *got = prompt_logits(m, ids, n_ids);
        if (got) compare_output(&f, "prompt.logits", got, n_ids, (size_t)slm_model_get_info(m).n_vocab, NULL);
        free(got);
        free(ids);
    }
    slm_model_free(m);
    for (int64_t i = 0; i < out; i++) free(buffers[i]);
    free(buffers);
    free(names);
    free(tensors);
    slm_gguf_free(g);
    unlink(separate);
    unlink(fused);
    close_fixture(&f);
}

/* BERT as llama.cpp's "bert" GGUF (the body; llama.cpp has no BERT heads): the
 * last hidden state of the padded batch against transformers', in f32 and
 * from the fp16 checkpoint in f16. */
static void check_bert_weights(const fixture *f, const char *variant, const char *type, const char *output) {
    slm_model *src = load_fixture_model(f, variant);
    char label[96];
    snprintf(label, sizeof label, "%s/%s %s GGUF", f->name, variant, type);
    slm_model *m = src ? through_gguf(src, type, label) : NULL;
    slm_session *s = m ? open_session(m, 2) : NULL;
    if (s) {
        slm_batch b = fixture_batch(f);
        float *hidden = encode_output(s, m, &b, SLM_ENCODE_HIDDEN, label);
        if (hidden) compare_output(f, output, hidden, (size_t)f->n_seqs * f->seq_len, slm_model_get_info(m).d_model, f->mask);
        free(hidden);
    }
    slm_session_free(s);
    slm_model_free(m);
    slm_model_free(src);
}

static void check_bert(void) {
    fixture f;
    if (!open_fixture(&f, "bert_tiny")) return;
    check_bert_weights(&f, "model", "f32", "model.last_hidden_state");
    check_bert_weights(&f, "model_fp16", "f16", "model.fp16_weights_f32_compute.last_hidden_state");
    close_fixture(&f);
}

/* llama2.c's real stories260K through GGUF: f32 gives exactly the original
 * checkpoint's perplexity and greedy story (llama2.c's published output);
 * q8_0 stays within 1% of it (the bound), q4_0 within 15%. Rows of
 * 172 weights (ffn_down's input) do not fill 32-blocks and are f16 there. */
static double perplexity_of(slm_model *m, const char *text, size_t len) {
    slm_session *s = open_session(m, 1);
    slm_perplexity_result r = {0};
    slm_error err;
    int ok = s && slm_perplexity(s, text, len, 512, 256, &r, &err) == SLM_OK;
    CHECK(ok, "perplexity: %s", ok ? "" : err.message);
    slm_session_free(s);
    return ok ? r.perplexity : NAN;
}

static void check_stories(void) {
    char path[512];
    slm_error err;
    slm_model *src = slm_model_load("models/stories260K/stories260K.bin", NULL, &err);
    CHECK(src != NULL, "stories260K loads: %s", src ? "" : err.message);
    size_t len = 0;
    char *text = slm_read_file(test_path(path, sizeof path, "corpora/tinystories_head.txt"), &len, &err);
    CHECK(text != NULL, "corpus: %s", text ? "" : err.message);
    if (!src || !text) {
        slm_model_free(src);
        free(text);
        return;
    }
    double base = perplexity_of(src, text, len);
    static const struct {
        const char *type;
        double max_rel;
    } types[] = {{"f32", 1e-6}, {"q8_0", 0.01}, {"q4_0", 0.15}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        slm_model *m = through_gguf(src, types[i].type, "stories260K");
        if (!m) continue;
        double ppl = perplexity_of(m, text, len);
        double rel = fabs(ppl - base) / base;
        CHECK(rel <= types[i].max_rel, "stories260K %s GGUF: perplexity %.4f vs %.4f in f32 (%.2f%%, bound %.2f%%)",
              types[i].type, ppl, base, 100 * rel, 100 * types[i].max_rel);
        if (!strcmp(types[i].type, "f32")) {
            /* The tokenizer went through GGUF too: the published greedy story, byte for byte. */
            char *want = slm_read_file(test_path(path, sizeof path, "stories260K_greedy.txt"), NULL, &err);
            slm_session *s = open_session(m, 1);
            char got[16384] = "";
            size_t used = 0;
            slm_generate_params gp = slm_generate_default_params();
            gp.temperature = 0;
            gp.max_tokens = 256; /* run.c's 256 steps, one token each */
            struct piece_buffer b = {got, &used};
            int ok = s && want && slm_generate(s, "", &gp, append_piece, &b, NULL, &err) == SLM_OK;
            size_t want_len = want ? strlen(want) : 0;
            while (want_len && want[want_len - 1] == '\n') want_len--; /* the published text ends with a newline */
            CHECK(ok && used == want_len && !memcmp(want, got, want_len),
                  "stories260K f32 GGUF: greedy story equals llama2.c's:\n%s", got);
            slm_session_free(s);
            free(want);
        }
        slm_model_free(m);
    }
    free(text);
    slm_model_free(src);
}

/* ---- files that must be refused ---- */

typedef struct {
    slm_gguf_kv kvs[12];
    int n_kv;
    slm_gguf_tensor tensors[16];
    int n_tensors;
    float data[4096];
} tiny_file;

static void put_u32(tiny_file *t, const char *key, uint64_t v) {
    t->kvs[t->n_kv++] = (slm_gguf_kv){.key = key, .type = SLM_GGUF_UINT32, .u = v};
}

static void put_tensor(tiny_file *t, const char *name, slm_ggml_type type, uint64_t d0, uint64_t d1, size_t nbytes) {
    slm_gguf_tensor *x = &t->tensors[t->n_tensors++];
    memset(x, 0, sizeof *x);
    x->name = name;
    x->type = type;
    x->n_dims = d1 > 1 ? 2 : 1;
    x->dims[0] = d0;
    x->dims[1] = d1;
    x->dims[2] = x->dims[3] = 1;
    x->data = t->data;
    x->nbytes = nbytes;
}

/* A one-layer llama of width 32 (2 heads), ff 32, vocab 16: every tensor f32. */
static void tiny_llama(tiny_file *t) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 4096; i++) t->data[i] = (float)((i * 37) % 11 - 5) * 0.01f;
    t->kvs[t->n_kv++] = (slm_gguf_kv){.key = "general.architecture", .type = SLM_GGUF_STRING, .string = "llama"};
    put_u32(t, "llama.context_length", 64);
    put_u32(t, "llama.embedding_length", 32);
    put_u32(t, "llama.block_count", 1);
    put_u32(t, "llama.feed_forward_length", 32);
    put_u32(t, "llama.attention.head_count", 2);
    put_tensor(t, "token_embd.weight", SLM_GGML_F32, 32, 16, 32 * 16 * 4);
    put_tensor(t, "blk.0.attn_norm.weight", SLM_GGML_F32, 32, 1, 32 * 4);
    static const char *const mats[] = {"blk.0.attn_q.weight",   "blk.0.attn_k.weight",  "blk.0.attn_v.weight",
                                       "blk.0.attn_output.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
                                       "blk.0.ffn_down.weight"};
    for (int i = 0; i < 7; i++) put_tensor(t, mats[i], SLM_GGML_F32, 32, 32, 32 * 32 * 4);
    put_tensor(t, "blk.0.ffn_norm.weight", SLM_GGML_F32, 32, 1, 32 * 4);
    put_tensor(t, "output_norm.weight", SLM_GGML_F32, 32, 1, 32 * 4);
}

static slm_gguf_tensor *tensor_named(tiny_file *t, const char *name) {
    for (int i = 0; i < t->n_tensors; i++)
        if (!strcmp(t->tensors[i].name, name)) return &t->tensors[i];
    return NULL;
}

/* Writes t, loads it, and checks the outcome: status want and a message containing needle. */
static void expect_load(tiny_file *t, slm_status want, const char *needle, const char *what) {
    char path[128];
    slm_error err;
    tmp_file("bad.gguf", path, sizeof path);
    CHECK(slm_gguf_write(path, t->kvs, t->n_kv, t->tensors, t->n_tensors, &err) == SLM_OK, "%s: write: %s", what,
          err.message);
    slm_model *m = slm_model_load(path, NULL, &err);
    if (want == SLM_OK) {
        CHECK(m != NULL, "%s: loads: %s", what, m ? "" : err.message);
    } else {
        CHECK(m == NULL && err.status == want && strstr(err.message, needle), "%s: %s (got %s: %s)", what,
              slm_status_name(want), slm_status_name(err.status), m ? "loaded" : err.message);
    }
    slm_model_free(m);
    unlink(path);
}

static void check_refusals(void) {
    tiny_file *t = malloc(sizeof *t);
    tiny_llama(t);
    expect_load(t, SLM_OK, "", "the tiny llama itself");

    tiny_llama(t);
    t->kvs[0].string = "mamba";
    expect_load(t, SLM_ERR_UNSUPPORTED, "mamba", "unknown architecture");

    tiny_llama(t);
    t->n_kv--; /* drops llama.attention.head_count */
    expect_load(t, SLM_ERR_FORMAT, "llama.attention.head_count", "missing metadata");

    tiny_llama(t);
    t->n_tensors--; /* drops output_norm.weight */
    expect_load(t, SLM_ERR_FORMAT, "output_norm.weight", "missing tensor");

    tiny_llama(t);
    slm_gguf_tensor *up = tensor_named(t, "blk.0.ffn_up.weight");
    up->dims[1] = 16;
    up->nbytes = 32 * 16 * 4;
    expect_load(t, SLM_ERR_FORMAT, "blk.0.ffn_up.weight", "wrong shape");

    tiny_llama(t);
    up = tensor_named(t, "blk.0.ffn_up.weight");
    up->type = SLM_GGML_Q5_0; /* a real ggml type slm does not run */
    up->nbytes = 32 * 32 / 32 * 22;
    expect_load(t, SLM_ERR_UNSUPPORTED, "Q5_0", "unsupported tensor type");

    tiny_llama(t);
    slm_gguf_tensor *norm = tensor_named(t, "blk.0.attn_norm.weight");
    norm->type = SLM_GGML_Q8_0; /* norms must be float */
    norm->nbytes = 34;
    expect_load(t, SLM_ERR_UNSUPPORTED, "blk.0.attn_norm.weight", "quantized norm");
    free(t);
}

static void check_export_errors(void) {
    char path[128];
    slm_error err;
    tmp_file("x.gguf", path, sizeof path);
    fixture f;
    if (!open_fixture_files(&f, "gpt2_tiny")) return;
    slm_model *m = load_fixture_model(&f, "lm");
    if (m) {
        CHECK(slm_model_save_gguf(m, path, "q3_k", &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "q3_k"),
              "unknown weight type refused: %s", err.message);
        CHECK(slm_model_save_gguf(m, "/nonexistent-dir/x.gguf", "f32", &err) == SLM_ERR_IO,
              "unwritable path: %s", err.message);
    }
    slm_model_free(m);
    close_fixture(&f);
    if (!open_fixture_files(&f, "distilbert_tiny")) return;
    m = load_fixture_model(&f, "model");
    if (m) {
        CHECK(slm_model_save_gguf(m, path, "f32", &err) == SLM_ERR_UNSUPPORTED && strstr(err.message, "distilbert"),
              "an architecture llama.cpp's GGUF has no name for is refused: %s", err.message);
    }
    slm_model_free(m);
    close_fixture(&f);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_gguf_model_XXXXXX");
    if (!mkdtemp(tmp_dir)) return 1;
    static const char *const cases[] = {"gpt2_tiny", "gpt2_odd",       "llama_stories_like", "llama_tied_mha",
                                        "llama_untied_gqa_odd", "phi_tiny", "phi_odd"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(cases[i]);
    check_bert();
    check_fused_phi();
    check_stories();
    check_refusals();
    check_export_errors();
    rmdir(tmp_dir);
    TEST_END();
}
