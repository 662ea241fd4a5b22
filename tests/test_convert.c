/* test_convert.c — `slm convert` between Hugging Face folders, llama2.c files
 * and GGUF (slm_model_save_hf, slm_model_save_llama2c, slm_model_save_gguf):
 *   HF fixtures (gpt2, llama, phi, bert body) -> HF: every tensor equals, name,
 *     dtype, shape and bytes, the one transformers saved; the config agrees with
 *     transformers' on every key both have; the loaded model's prompt logits match
 *     the fixture's (Hugging Face's) at the case tolerance; f32 -> f16 / bf16
 *     equals transformers' own half-precision checkpoints of the same weights;
 *   HF -> GGUF -> HF: the same (the q/k reorder undone exactly), and from q8_0
 *     GGUF the logits stay within q8_0's bound;
 *   stories260K.bin -> GGUF -> llama2.c + tok512.bin: header and weights equal
 *     the original file byte for byte, its freq_cis tables within one ulp
 *     (torch's vectorised cos/sin are not correctly rounded, libm's are), the
 *     tokenizer equals tok512.bin, and the greedy story equals llama2.c's
 *     published one; stories260K.bin -> HF -> llama2.c gives the original too;
 *   llama fixtures (HF, rotate-half) -> llama2.c -> logits match the fixture;
 *   a folder's tokenizer files are copied byte for byte; a GGUF model's tokenizer
 *     (tiny_gpt2 -> GGUF -> HF) is written as tokenizer.json, and the folder's
 *     tokenizer encodes and decodes as the GGUF's and the original folder's do;
 *     stories260K -> HF writes tok512.bin as a Llama-style tokenizer.json that slm
 *     reads back to llama2.c's ids and decodes, and the greedy story through the
 *     HF folder is llama2.c's published one; that folder -> GGUF (its tokenizer.json
 *     as a "llama" vocabulary, scores derived from the merges) tokenizes the fixture
 *     texts to tok512.bin's ids and tells the published greedy story again, and
 *     -> llama2.c writes a tok512.bin that does too; a tokenizer.json without byte
 *     fallback is refused for GGUF by name;
 *   bad input: unsupported architectures, unwritable paths, wrong dtypes,
 *     overwriting the source, llamas llama2.c cannot express. */
#define FIXTURE_TMP_TEMPLATE "/tmp/slm_convert_XXXXXX"
#include <ftw.h>
#include <sys/stat.h>

#include "fixture.h"
#include "slm_convert.h"
#include "tokenizers/tokenizer.h"

static char tmp_dir[64];

static const char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int32_t *prompt_ids(const fixture *f, size_t *n) {
    const slm_tensor_view *t = slm_weights_find(f->inputs, "prompt.input_ids");
    if (!t) return NULL;
    *n = (size_t)slm_tensor_numel(t);
    int32_t *ids = malloc(*n * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)((const int64_t *)t->data)[i];
    return ids;
}

/* Prompt logits of m, (n, n_vocab); NULL after a failed CHECK. */
static float *prompt_logits(slm_model *m, const int32_t *ids, size_t n) {
    slm_session *s = open_session(m, 2);
    float *out = malloc(n * (size_t)slm_model_get_info(m).n_vocab * sizeof(float));
    slm_error err;
    int ok = s && out && slm_session_forward(s, ids, n, SLM_OUTPUT_LOGITS, out, &err) == SLM_OK;
    CHECK(ok, "forward: %s", s && out ? err.message : "no session");
    slm_session_free(s);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* m's prompt logits against the fixture's output at the case tolerance (one CHECK). */
static void check_logits(const fixture *f, slm_model *m, const char *output) {
    size_t n = 0;
    int32_t *ids = prompt_ids(f, &n);
    float *got = ids ? prompt_logits(m, ids, n) : NULL;
    if (got) compare_output(f, output, got, n, (size_t)slm_model_get_info(m).n_vocab, NULL);
    free(got);
    free(ids);
}

static slm_model *load_path(const char *path, const char *label) {
    slm_error err;
    slm_model *m = slm_model_load(path, NULL, &err);
    CHECK(m != NULL, "%s: load %s: %s", label, path, m ? "" : err.message);
    return m;
}

static slm_model *save_and_load_hf(const slm_model *src, const char *dir, const char *dtype, const char *label) {
    slm_error err;
    slm_status st = slm_model_save_hf(src, dir, dtype, &err);
    CHECK(st == SLM_OK, "%s: save HF %s: %s", label, dtype, st ? err.message : "");
    return st ? NULL : load_path(dir, label);
}

static slm_model *save_and_load_gguf(const slm_model *src, const char *path, const char *type, const char *label) {
    slm_error err;
    slm_status st = slm_model_save_gguf(src, path, type, &err);
    CHECK(st == SLM_OK, "%s: save GGUF %s: %s", label, type, st ? err.message : "");
    return st ? NULL : load_path(path, label);
}

/* Every tensor of the reference folder's model.safetensors is in ours with the
 * same dtype, shape and bytes, and ours has no others (one CHECK). */
static void check_same_tensors(const char *ours_dir, const char *ref_dir, const char *label) {
    slm_error err;
    slm_weights *ours = slm_safetensors_open(ours_dir, &err);
    slm_weights *ref = slm_safetensors_open(ref_dir, &err);
    const char *bad = ours && ref ? NULL : "open";
    for (int i = 0; !bad && i < slm_weights_count(ref); i++) {
        const slm_tensor_view *r = slm_weights_at(ref, i), *o = slm_weights_find(ours, r->name);
        int same = o && o->dtype == r->dtype && o->ndim == r->ndim && o->nbytes == r->nbytes &&
                   !memcmp(o->shape, r->shape, sizeof r->shape) && !memcmp(o->data, r->data, r->nbytes);
        if (!same) bad = r->name;
    }
    if (!bad && slm_weights_count(ours) != slm_weights_count(ref)) bad = "tensor count";
    CHECK(!bad, "%s: tensors equal transformers' %s: differs at %s", label, ref_dir, bad ? bad : "");
    slm_weights_free(ours);
    slm_weights_free(ref);
}

/* Every key of our config.json that transformers' config also sets (not null)
 * has its value (one CHECK). */
static void check_config_agrees(const char *ours_dir, const char *ref_dir, const char *label) {
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", ours_dir);
    json_t *ours = json_load_file(path, 0, NULL);
    snprintf(path, sizeof path, "%s/config.json", ref_dir);
    json_t *ref = json_load_file(path, 0, NULL);
    const char *bad = ours && ref ? NULL : "config.json";
    int compared = 0;
    const char *key;
    json_t *value;
    json_object_foreach(ours, key, value) {
        json_t *want = json_object_get(ref, key);
        if (bad || !want || json_is_null(want)) continue;
        compared++;
        if (!json_equal(value, want)) bad = key;
    }
    CHECK(!bad && compared >= 8, "%s: config.json agrees with transformers' (%d keys compared): %s", label, compared,
          bad ? bad : "");
    json_decref(ours);
    json_decref(ref);
}

/* ---- Hugging Face -> Hugging Face, and through GGUF ---- */

static void check_hf_case(const char *name, const char *variant, const char *logits) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    char ref_dir[512], rel[256], dir[128], gguf[128], back[128], label[128];
    snprintf(rel, sizeof rel, "fixtures/%s/%s", name, variant);
    test_path(ref_dir, sizeof ref_dir, rel);
    slm_model *src = load_fixture_model(&f, variant);
    snprintf(label, sizeof label, "%s/%s -> HF", name, variant);
    tmp_path(dir, sizeof dir, "hf");
    slm_model *m = src ? save_and_load_hf(src, dir, "f32", label) : NULL;
    if (m) {
        check_same_tensors(dir, ref_dir, label);
        check_config_agrees(dir, ref_dir, label);
        check_logits(&f, m, logits);
    }
    slm_model_free(m);
    /* Through GGUF, where llama's q/k rows are interleaved: the way back undoes it. */
    snprintf(label, sizeof label, "%s/%s -> GGUF -> HF", name, variant);
    tmp_path(gguf, sizeof gguf, "model.gguf");
    tmp_path(back, sizeof back, "hf_back");
    slm_model *g = src ? save_and_load_gguf(src, gguf, "f32", label) : NULL;
    m = g ? save_and_load_hf(g, back, "f32", label) : NULL;
    if (m) {
        check_same_tensors(back, ref_dir, label);
        check_logits(&f, m, logits);
    }
    slm_model_free(m);
    slm_model_free(g);
    slm_model_free(src);
    remove_tree(dir);
    remove_tree(back);
    unlink(gguf);
    close_fixture(&f);
}

/* f32 weights written as f16 / bf16 equal transformers' own conversion of them
 * (gpt2_tiny's lm_fp16 / lm_bf16), and run as its half-precision reference. */
static void check_half_dtypes(void) {
    fixture f;
    if (!open_fixture_files(&f, "gpt2_tiny")) return;
    slm_model *src = load_fixture_model(&f, "lm");
    static const struct {
        const char *dtype, *variant, *logits;
    } cases[] = {{"f16", "lm_fp16", "prompt.fp16_weights_f32_compute.logits"},
                 {"bf16", "lm_bf16", "prompt.bf16_weights_f32_compute.logits"}};
    for (size_t i = 0; src && i < 2; i++) {
        char dir[128], ref_dir[512], rel[256], label[96];
        snprintf(label, sizeof label, "gpt2_tiny f32 -> HF %s", cases[i].dtype);
        snprintf(rel, sizeof rel, "fixtures/gpt2_tiny/%s", cases[i].variant);
        tmp_path(dir, sizeof dir, cases[i].dtype);
        slm_model *m = save_and_load_hf(src, dir, cases[i].dtype, label);
        if (m) {
            check_same_tensors(dir, test_path(ref_dir, sizeof ref_dir, rel), label);
            check_config_agrees(dir, ref_dir, label);
            check_logits(&f, m, cases[i].logits);
        }
        slm_model_free(m);
        remove_tree(dir);
    }
    slm_model_free(src);
    close_fixture(&f);
}

/* A q8_0 GGUF, dequantized into an HF folder: the logits stay within the bound
 * test_gguf_model.c holds q8_0 to (relative RMS error 0.03 against the f32 reference). */
static void check_quantized_source(void) {
    fixture f;
    if (!open_fixture_files(&f, "llama_stories_like")) return;
    slm_model *src = load_fixture_model(&f, "lm");
    char gguf[128], dir[128];
    slm_model *g = src ? save_and_load_gguf(src, tmp_path(gguf, sizeof gguf, "q8.gguf"), "q8_0", "q8_0 GGUF") : NULL;
    slm_model *m = g ? save_and_load_hf(g, tmp_path(dir, sizeof dir, "from_q8"), "f32", "q8_0 GGUF -> HF") : NULL;
    size_t n = 0;
    int32_t *ids = m ? prompt_ids(&f, &n) : NULL;
    float *got = ids ? prompt_logits(m, ids, n) : NULL;
    const float *want = got ? reference(&f, "prompt.logits", n * (size_t)slm_model_get_info(m).n_vocab) : NULL;
    if (want) {
        double err2 = 0, ref2 = 0;
        for (size_t i = 0; i < n * (size_t)slm_model_get_info(m).n_vocab; i++) {
            err2 += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
            ref2 += (double)want[i] * want[i];
        }
        CHECK(sqrt(err2 / ref2) <= 0.03, "q8_0 GGUF -> HF: relative RMS error of logits %.4f (bound 0.03)",
              sqrt(err2 / ref2));
    }
    free(got);
    free(ids);
    slm_model_free(m);
    slm_model_free(g);
    slm_model_free(src);
    remove_tree(dir);
    unlink(gguf);
    close_fixture(&f);
}

/* BertModel: the body's last hidden state of the padded batch against transformers'. */
static void check_bert_body(void) {
    fixture f;
    if (!open_fixture(&f, "bert_tiny")) return;
    char dir[128], ref_dir[512];
    slm_model *src = load_fixture_model(&f, "model");
    slm_model *m = src ? save_and_load_hf(src, tmp_path(dir, sizeof dir, "bert"), "f32", "bert_tiny -> HF") : NULL;
    slm_session *s = m ? open_session(m, 2) : NULL;
    if (s) {
        test_path(ref_dir, sizeof ref_dir, "fixtures/bert_tiny/model");
        check_same_tensors(dir, ref_dir, "bert_tiny -> HF");
        check_config_agrees(dir, ref_dir, "bert_tiny -> HF");
        slm_batch b = fixture_batch(&f);
        float *hidden = encode_output(s, m, &b, SLM_ENCODE_HIDDEN, "bert_tiny -> HF");
        if (hidden)
            compare_output(&f, "model.last_hidden_state", hidden, (size_t)f.n_seqs * f.seq_len,
                           slm_model_get_info(m).d_model, f.mask);
        free(hidden);
    }
    slm_session_free(s);
    slm_model_free(m);
    slm_model_free(src);
    remove_tree(dir);
    close_fixture(&f);
}

/* A folder's tokenizer files come along byte for byte, and the copy still runs
 * as transformers' GPT2Model did (hidden state of each row). */
static void check_tokenizer_files(void) {
    static const char *const files[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"};
    fixture f;
    if (!open_fixture(&f, "hf_fixture__mozilla-ai__lm-buddy__tiny_gpt2")) return;
    char src_dir[512], dir[128];
    test_path(src_dir, sizeof src_dir, "hf-fixtures/mozilla-ai__lm-buddy__tiny_gpt2");
    slm_model *src = load_path(src_dir, "tiny_gpt2");
    slm_model *m = src ? save_and_load_hf(src, tmp_path(dir, sizeof dir, "tiny_gpt2"), "f32", "tiny_gpt2 -> HF") : NULL;
    for (size_t i = 0; m && i < sizeof files / sizeof *files; i++) {
        char a[600], b[700];
        snprintf(a, sizeof a, "%s/%s", src_dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        size_t na = 0, nb = 0;
        char *da = slm_read_file(a, &na, NULL), *db = slm_read_file(b, &nb, NULL);
        CHECK(da && db && na == nb && !memcmp(da, db, na), "tiny_gpt2 -> HF: %s copied byte for byte", files[i]);
        free(da);
        free(db);
    }
    CHECK(!m || slm_model_tokenizer(m) != NULL, "tiny_gpt2 -> HF: the copied tokenizer loads");
    slm_session *s = m ? open_session(m, 1) : NULL;
    if (s) {
        slm_model_info info = slm_model_get_info(m);
        char output[64];
        snprintf(output, sizeof output, "model.hidden_states.%d", info.n_layers);
        const float *want = reference(&f, output, (size_t)f.n_seqs * f.seq_len * info.d_model);
        for (int r = 0; want && r < f.n_seqs; r++) {
            int len = 0;
            while (len < f.seq_len && f.mask[(size_t)r * f.seq_len + len]) len++;
            float *hidden = malloc((size_t)len * info.d_model * sizeof(float));
            slm_error err;
            slm_session_reset(s);
            int ok = slm_session_forward(s, f.ids + (size_t)r * f.seq_len, (size_t)len, SLM_OUTPUT_HIDDEN, hidden,
                                         &err) == SLM_OK;
            CHECK(ok, "tiny_gpt2 -> HF: forward: %s", ok ? "" : err.message);
            if (ok)
                compare(&f, output, hidden, want + (size_t)r * f.seq_len * info.d_model, (size_t)len,
                        (size_t)info.d_model, NULL, 1e-4);
            free(hidden);
        }
    }
    slm_session_free(s);
    slm_model_free(m);
    slm_model_free(src);
    remove_tree(dir);
    close_fixture(&f);
}

/* A GGUF model's tokenizer (from its tokenizer.ggml.* metadata) is written into the
 * HF folder as tokenizer.json: loaded back with the model, it gives the ids and
 * decodes of the GGUF's tokenizer and of the original folder's. */
static void check_gguf_tokenizer_written(void) {
    static const char *const texts[] = {"Hello, world!", "The quick brown fox", "", " leading space",
                                        "line1\nline2\t tab", "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC", "<|endoftext|>x"};
    char src_dir[512], gguf[128], dir[128], path[300];
    test_path(src_dir, sizeof src_dir, "hf-fixtures/mozilla-ai__lm-buddy__tiny_gpt2");
    slm_model *src = load_path(src_dir, "tiny_gpt2");
    slm_model *g = src ? save_and_load_gguf(src, tmp_path(gguf, sizeof gguf, "tok.gguf"), "f32", "tiny_gpt2 -> GGUF") : NULL;
    CHECK(!g || slm_model_tokenizer(g) != NULL, "tiny_gpt2 -> GGUF: the GGUF carries the tokenizer");
    slm_model *m = g ? save_and_load_hf(g, tmp_path(dir, sizeof dir, "gguf_tok"), "f32", "tiny_gpt2 -> GGUF -> HF") : NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(!m || access(path, F_OK) == 0, "tiny_gpt2 -> GGUF -> HF: tokenizer.json written");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    CHECK(!m || access(path, F_OK) == 0, "tiny_gpt2 -> GGUF -> HF: tokenizer_config.json written");
    const slm_tokenizer *tok[3] = {src ? slm_model_tokenizer(src) : NULL, g ? slm_model_tokenizer(g) : NULL,
                                   m ? slm_model_tokenizer(m) : NULL};
    CHECK(!m || tok[2], "tiny_gpt2 -> GGUF -> HF: the written tokenizer loads with the model");
    for (size_t i = 0; tok[0] && tok[1] && tok[2] && i < sizeof texts / sizeof *texts; i++) {
        int32_t *ids[3] = {NULL, NULL, NULL};
        size_t n[3] = {0, 0, 0};
        char *text[3] = {NULL, NULL, NULL};
        int ok = 1;
        for (int k = 0; k < 3; k++) {
            ok = ok && slm_tokenize(tok[k], texts[i], strlen(texts[i]), 1, &ids[k], &n[k], NULL) == SLM_OK &&
                 slm_detokenize(tok[k], ids[k], n[k], 0, &text[k], NULL) == SLM_OK;
            ok = ok && n[k] == n[0] && !memcmp(ids[k], ids[0], n[0] * sizeof *ids[0]) && !strcmp(text[k], text[0]);
        }
        CHECK(ok, "tiny_gpt2 -> GGUF -> HF: \"%s\" encodes or decodes differently from the GGUF's / original tokenizer",
              texts[i]);
        for (int k = 0; k < 3; k++) {
            slm_free(ids[k]);
            slm_free(text[k]);
        }
    }
    CHECK(!m || (slm_tokenizer_bos(tok[2]) == slm_tokenizer_bos(tok[1]) && slm_tokenizer_eos(tok[2]) == slm_tokenizer_eos(tok[1])),
          "tiny_gpt2 -> GGUF -> HF: bos/eos as the GGUF's");
    slm_model_free(m);
    slm_model_free(g);
    slm_model_free(src);
    remove_tree(dir);
    unlink(gguf);
}

/* ---- llama2.c ---- */

/* The llama2.c file at path against the original: header and weights byte for
 * byte, freq_cis within one ulp (two CHECKs). weights_end: where freq_cis begins. */
static void check_llama2c_bytes(const char *path, const char *original, size_t weights_end, const char *label) {
    size_t na = 0, nb = 0;
    char *a = slm_read_file(path, &na, NULL), *b = slm_read_file(original, &nb, NULL);
    CHECK(a && b && na == nb && !memcmp(a, b, weights_end),
          "%s: header and weights equal %s byte for byte (%zu vs %zu bytes)", label, original, na, nb);
    long worst = a && b && na == nb ? 0 : -1;
    for (size_t at = weights_end; worst >= 0 && at + 4 <= na; at += 4) {
        int32_t x, y;
        memcpy(&x, a + at, 4);
        memcpy(&y, b + at, 4);
        long ulps = labs((long)x - (long)y);
        if (ulps > worst) worst = ulps;
    }
    CHECK(worst >= 0 && worst <= 1, "%s: freq_cis tables within 1 ulp of the original's (worst %ld)", label, worst);
    free(a);
    free(b);
}

/* Greedy generation from BOS equals llama2.c's published story (as test_generate.c checks it). */
struct text_sink {
    char text[16384];
    size_t len;
};

static int append_piece(const char *piece, size_t len, void *user_data) {
    struct text_sink *s = user_data;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    return 0;
}

static void check_greedy_story(slm_model *m, const char *label) {
    char path[512];
    char *want = slm_read_file(test_path(path, sizeof path, "stories260K_greedy.txt"), NULL, NULL);
    slm_session *s = open_session(m, 1);
    slm_generate_params p = slm_generate_default_params();
    p.temperature = 0;
    p.max_tokens = 256; /* run.c's 256 steps, one token each */
    static struct text_sink out;
    memset(&out, 0, sizeof out);
    slm_error err;
    int ok = s && want && slm_generate(s, "", &p, append_piece, &out, NULL, &err) == SLM_OK;
    size_t want_len = want ? strlen(want) : 0;
    while (want_len && want[want_len - 1] == '\n') want_len--; /* the published text ends with a newline */
    CHECK(ok && out.len == want_len && !memcmp(out.text, want, want_len), "%s: greedy story equals llama2.c's:\n%s",
          label, out.text);
    slm_session_free(s);
    free(want);
}

/* The HF folder written from stories260K carries tok512.bin as a Llama-style tokenizer.json: read back by
 * slm's Hugging Face loader, it encodes the fixture texts (with BOS) to llama2.c's tokenizer's ids and
 * decodes them to the same text. A text spelling "<s>", "</s>" or "<unk>" is left out: Hugging Face cuts
 * those out as added tokens (checked on "<s>" here), llama2.c's encoder spells them out. */
static void check_stories_tokenizer(const slm_model *src, const slm_model *h, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(access(path, F_OK) == 0, "stories260K -> HF: tokenizer.json written");
    const slm_tokenizer *want = slm_model_tokenizer(src), *got = slm_model_tokenizer(h);
    CHECK(got != NULL && !slm_tokenizer_is_llama2c(got), "stories260K -> HF: the folder loads with its (Hugging Face) tokenizer");
    json_t *root = json_load_file(test_path(path, sizeof path, "tokenizers/fixtures/texts.json"), JSON_ALLOW_NUL, NULL);
    json_t *texts = json_object_get(root, "texts");
    int same = 0, compared = 0;
    for (size_t i = 0; want && got && i < json_array_size(texts); i++) {
        const char *text = json_string_value(json_array_get(texts, i));
        size_t len = json_string_length(json_array_get(texts, i));
        if (strstr(text, "<s>") || strstr(text, "</s>") || strstr(text, "<unk>")) continue;
        int32_t *ids[2] = {NULL, NULL};
        size_t n[2] = {0, 0};
        char *back[2] = {NULL, NULL};
        int ok = 1;
        for (int k = 0; k < 2; k++)
            ok = ok && slm_tokenize(k ? got : want, text, len, 1, &ids[k], &n[k], NULL) == SLM_OK &&
                 slm_detokenize(k ? got : want, ids[k], n[k], 1, &back[k], NULL) == SLM_OK;
        ok = ok && n[0] == n[1] && !memcmp(ids[0], ids[1], n[0] * sizeof *ids[0]) && !strcmp(back[0], back[1]);
        CHECK(ok, "stories260K -> HF: text %zu encodes or decodes differently from tok512.bin", i);
        same += ok;
        compared++;
        for (int k = 0; k < 2; k++) {
            slm_free(ids[k]);
            slm_free(back[k]);
        }
    }
    CHECK(compared == 67, "stories260K -> HF: %d texts compared", compared);
    printf("stories260K -> HF: %d of %d texts as tok512.bin\n", same, compared);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(got && slm_tokenize(got, "<s>", 3, 0, &ids, &n, NULL) == SLM_OK && n == 1 && ids[0] == 1,
          "stories260K -> HF: \"<s>\" in the text is the BOS token, as Hugging Face cuts it out");
    slm_free(ids);
    json_decref(root);
}

/* tok encodes every fixture text (with BOS) to want's ids, "<s>" texts included: neither llama2.c's
 * encoder nor a GGUF "llama" vocabulary cuts control tokens out of the text. */
static void check_llama2c_ids(const slm_tokenizer *want, const slm_tokenizer *got, const char *label) {
    char path[512];
    json_t *root = json_load_file(test_path(path, sizeof path, "tokenizers/fixtures/texts.json"), JSON_ALLOW_NUL, NULL);
    json_t *texts = json_object_get(root, "texts");
    int same = 0;
    for (size_t i = 0; want && got && i < json_array_size(texts); i++) {
        const char *text = json_string_value(json_array_get(texts, i));
        size_t len = json_string_length(json_array_get(texts, i));
        int32_t *ids[2] = {NULL, NULL};
        size_t n[2] = {0, 0};
        int ok = slm_tokenize(want, text, len, 1, &ids[0], &n[0], NULL) == SLM_OK &&
                 slm_tokenize(got, text, len, 1, &ids[1], &n[1], NULL) == SLM_OK && n[0] == n[1] &&
                 !memcmp(ids[0], ids[1], n[0] * sizeof *ids[0]);
        CHECK(ok, "%s: text %zu encodes differently from tok512.bin", label, i);
        same += ok;
        slm_free(ids[0]);
        slm_free(ids[1]);
    }
    CHECK(json_array_size(texts) == 68 && want && got, "%s: %zu texts compared", label, json_array_size(texts));
    printf("%s: %d of %zu texts as tok512.bin\n", label, same, json_array_size(texts));
    json_decref(root);
}

/* The HF folder's tokenizer.json with byte_fallback off has no score-based form: GGUF refused by name,
 * nothing written. */
static void check_no_byte_fallback_refused(const char *hf) {
    char path[300], gguf[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", hf);
    json_t *root = json_load_file(path, 0, NULL);
    json_object_set_new(json_object_get(root, "model"), "byte_fallback", json_false());
    CHECK(root && json_dump_file(root, path, JSON_COMPACT) == 0, "editing %s", path);
    json_decref(root);
    slm_model *m = load_path(hf, "stories260K HF without byte fallback");
    slm_error err;
    slm_status st = m ? slm_model_save_gguf(m, tmp_path(gguf, sizeof gguf, "no_fallback.gguf"), "f32", &err) : SLM_OK;
    CHECK(m && st == SLM_ERR_UNSUPPORTED && strstr(err.message, "byte_fallback") && access(gguf, F_OK) != 0,
          "stories260K -> HF without byte fallback -> GGUF: %s", st ? err.message : "written");
    slm_model_free(m);
    unlink(gguf);
}

/* stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq 512, shared classifier. */
static size_t stories_weights_end(void) {
    size_t dim = 64, hidden = 172, L = 5, kv = 32, vocab = 512;
    size_t floats = vocab * dim + L * dim + L * dim * dim + 2 * L * kv * dim + L * dim * dim + L * dim +
                    3 * L * hidden * dim + dim;
    return 28 + 4 * floats;
}

static void check_stories(void) {
    const char *original = "models/stories260K/stories260K.bin";
    slm_model *src = load_path(original, "stories260K");
    char gguf[128], bin[128], tok[128], hf[128], bin2[128], tok_path[256];
    slm_error err;
    slm_model *g = src ? save_and_load_gguf(src, tmp_path(gguf, sizeof gguf, "stories.gguf"), "f32", "stories GGUF") : NULL;
    tmp_path(bin, sizeof bin, "stories_back.bin");
    slm_status st = g ? slm_model_save_llama2c(g, bin, &err) : SLM_ERR_INVALID_ARGUMENT;
    CHECK(st == SLM_OK, "stories260K GGUF -> llama2.c: %s", st ? err.message : "");
    int has_tok = g && slm_model_llama2c_tokenizer_path(g, bin, tok_path, sizeof tok_path);
    CHECK(has_tok && !strcmp(tok_path, tmp_path(tok, sizeof tok, "tok512.bin")),
          "the GGUF llama vocabulary is written as %s", has_tok ? tok_path : "(none)");
    if (!st) {
        check_llama2c_bytes(bin, original, stories_weights_end(), "stories260K -> GGUF -> llama2.c");
        size_t na = 0, nb = 0;
        char *a = slm_read_file(tok, &na, NULL), *b = slm_read_file("models/stories260K/tok512.bin", &nb, NULL);
        CHECK(a && b && na == nb && !memcmp(a, b, na), "tok512.bin through GGUF equals the original byte for byte");
        free(a);
        free(b);
        slm_model *back = load_path(bin, "stories260K llama2.c");
        if (back) check_greedy_story(back, "stories260K -> GGUF -> llama2.c");
        slm_model_free(back);
    }
    /* Through a Hugging Face folder, where q/k rotate halves: the way back interleaves them again. */
    slm_model *h = src ? save_and_load_hf(src, tmp_path(hf, sizeof hf, "stories_hf"), "f32", "stories -> HF") : NULL;
    if (h) {
        check_stories_tokenizer(src, h, hf);
        check_greedy_story(h, "stories260K -> HF"); /* the text streamed through the tokenizer.json's pieces */
        /* its tokenizer.json (a Llama-style Hugging Face BPE) as a GGUF "llama" vocabulary */
        char from_hf[128];
        slm_model *hg = save_and_load_gguf(h, tmp_path(from_hf, sizeof from_hf, "from_hf.gguf"), "f32",
                                           "stories260K -> HF -> GGUF");
        if (hg) {
            check_llama2c_ids(slm_model_tokenizer(src), slm_model_tokenizer(hg), "stories260K -> HF -> GGUF");
            check_greedy_story(hg, "stories260K -> HF -> GGUF");
        }
        slm_model_free(hg);
        unlink(from_hf);
    }
    CHECK(!h || slm_model_llama2c_tokenizer_path(h, "x.bin", tok_path, sizeof tok_path),
          "an HF folder's Llama-style tokenizer.json has a llama2.c form");
    tmp_path(bin2, sizeof bin2, "from_hf/stories.bin");
    mkdir(tmp_path(tok, sizeof tok, "from_hf"), 0700);
    st = h ? slm_model_save_llama2c(h, bin2, &err) : SLM_ERR_INVALID_ARGUMENT;
    CHECK(st == SLM_OK, "stories260K -> HF -> llama2.c: %s", st ? err.message : "");
    if (!st) {
        check_llama2c_bytes(bin2, original, stories_weights_end(), "stories260K -> HF -> llama2.c");
        char tok2[128];
        slm_tokenizer *written = slm_tokenizer_load_llama2c(tmp_path(tok2, sizeof tok2, "from_hf/tok512.bin"), &err);
        CHECK(written != NULL, "stories260K -> HF -> llama2.c writes tok512.bin: %s", written ? "" : err.message);
        if (written) check_llama2c_ids(slm_model_tokenizer(src), written, "stories260K -> HF -> tok512.bin");
        slm_tokenizer_free(written);
        slm_model *back = load_path(bin2, "stories260K -> HF -> llama2.c");
        if (back) check_greedy_story(back, "stories260K -> HF -> llama2.c");
        slm_model_free(back);
    }
    slm_model_free(h);
    if (h) check_no_byte_fallback_refused(hf);
    slm_model_free(g);
    slm_model_free(src);
    remove_tree(hf);
    remove_tree(tok);
    unlink(gguf);
    unlink(bin);
    unlink(tmp_path(tok, sizeof tok, "tok512.bin"));
}

/* An HF llama (rotate-half) as llama2.c, loaded back, against transformers' logits;
 * and back to HF, where the tensors equal the fixture's again. */
static void check_llama_to_llama2c(const char *name, int shared) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    slm_model *src = load_fixture_model(&f, "lm");
    char bin[128], dir[128], ref_dir[512], rel[256], label[96];
    snprintf(label, sizeof label, "%s -> llama2.c", name);
    tmp_path(bin, sizeof bin, "llama.bin");
    slm_error err;
    slm_status st = src ? slm_model_save_llama2c(src, bin, &err) : SLM_ERR_INVALID_ARGUMENT;
    CHECK(st == SLM_OK, "%s: %s", label, st ? err.message : "");
    slm_model *m = st ? NULL : load_path(bin, label);
    if (m) {
        check_logits(&f, m, "prompt.logits");
        FILE *fp = fopen(bin, "rb");
        int32_t header[7] = {0};
        CHECK(fp && fread(header, 4, 7, fp) == 7 && (header[5] > 0) == shared,
              "%s: vocab_size %d in the header (negative: unshared classifier)", label, header[5]);
        if (fp) fclose(fp);
        snprintf(rel, sizeof rel, "fixtures/%s/lm", name);
        slm_model *h = save_and_load_hf(m, tmp_path(dir, sizeof dir, "llama_hf"), "f32", label);
        if (h) check_same_tensors(dir, test_path(ref_dir, sizeof ref_dir, rel), label);
        slm_model_free(h);
        remove_tree(dir);
    }
    slm_model_free(m);
    slm_model_free(src);
    unlink(bin);
    close_fixture(&f);
}

/* ---- bad input ---- */

static void check_refused(slm_status got, slm_status want, const slm_error *err, const char *needle, const char *what) {
    CHECK(got == want && strstr(err->message, needle), "%s: status %d (want %d): %s", what, (int)got, (int)want,
          err->message);
}

static void check_bad_input(void) {
    char path[512], dir[128], file[128];
    slm_error err;
    slm_model *distil = load_model(test_path(path, sizeof path, "fixtures/distilbert_tiny/model"));
    slm_model *gpt2 = load_model(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"));
    slm_model *phi = load_model(test_path(path, sizeof path, "fixtures/phi_tiny/lm"));
    slm_model *llama = load_model(test_path(path, sizeof path, "fixtures/llama_stories_like/lm"));
    if (!distil || !gpt2 || !phi || !llama) goto done;
    tmp_path(dir, sizeof dir, "bad");
    tmp_path(file, sizeof file, "bad.bin");
    check_refused(slm_model_save_hf(distil, dir, "f32", &err), SLM_ERR_UNSUPPORTED, &err, "distilbert",
                  "distilbert as HF");
    check_refused(slm_model_save_llama2c(gpt2, file, &err), SLM_ERR_UNSUPPORTED, &err, "gpt2", "gpt2 as llama2.c");
    check_refused(slm_model_save_llama2c(phi, file, &err), SLM_ERR_UNSUPPORTED, &err, "phi", "phi as llama2.c");
    CHECK(access(file, F_OK) != 0, "nothing written for a refused llama2.c file");
    check_refused(slm_model_save_hf(gpt2, dir, "q8_0", &err), SLM_ERR_INVALID_ARGUMENT, &err, "q8_0", "dtype q8_0");
    check_refused(slm_model_save_hf(gpt2, dir, "fp32", &err), SLM_ERR_INVALID_ARGUMENT, &err, "fp32", "dtype fp32");
    check_refused(slm_model_save_hf(gpt2, dir, NULL, &err), SLM_ERR_INVALID_ARGUMENT, &err, "(null)", "dtype NULL");
    CHECK(access(dir, F_OK) != 0, "nothing created for a wrong dtype");
    check_refused(slm_model_save_hf(NULL, dir, "f32", &err), SLM_ERR_INVALID_ARGUMENT, &err, "NULL", "NULL model");
    /* Unwritable: a folder that does not exist, and a folder inside a regular file. */
    check_refused(slm_model_save_llama2c(llama, "/nonexistent-slm-dir/x.bin", &err), SLM_ERR_IO, &err,
                  "/nonexistent-slm-dir/x.bin", "llama2.c into a missing folder");
    FILE *fp = fopen(file, "wb");
    if (fp) fclose(fp);
    char inside[200];
    snprintf(inside, sizeof inside, "%s/hf", file);
    check_refused(slm_model_save_hf(gpt2, inside, "f32", &err), SLM_ERR_IO, &err, inside, "HF folder inside a file");
    unlink(file);
    /* The source itself is never overwritten while mapped. */
    check_refused(slm_model_save_hf(gpt2, test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"), "f32", &err),
                  SLM_ERR_INVALID_ARGUMENT, &err, "loaded from this folder", "HF over its source folder");
    slm_model *stories = load_path("models/stories260K/stories260K.bin", "stories260K");
    if (stories)
        check_refused(slm_model_save_llama2c(stories, "models/stories260K/stories260K.bin", &err),
                      SLM_ERR_INVALID_ARGUMENT, &err, "loaded from this file", "llama2.c over its source file");
    slm_model_free(stories);
    /* A llama llama2.c cannot express: rope theta 500000 (same weights, edited config). */
    json_t *cfg = variant_config("llama_stories_like", "lm");
    json_object_set_new(json_object_get(cfg, "rope_parameters"), "rope_theta", json_real(500000.0));
    char linked[600];
    if (cfg && linked_folder(linked, sizeof linked, cfg, "llama_stories_like", "lm")) {
        slm_model *theta = load_model(linked);
        if (theta)
            check_refused(slm_model_save_llama2c(theta, file, &err), SLM_ERR_UNSUPPORTED, &err, "theta",
                          "theta 500000 as llama2.c");
        slm_model_free(theta);
    }
    remove_folder(linked);
    json_decref(cfg);
done:
    slm_model_free(distil);
    slm_model_free(gpt2);
    slm_model_free(phi);
    slm_model_free(llama);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_convert_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        CHECK(0, "mkdtemp");
        TEST_END();
    }
    check_hf_case("gpt2_tiny", "lm", "prompt.logits");
    check_hf_case("llama_stories_like", "lm", "prompt.logits");
    check_hf_case("llama_untied_gqa_odd", "lm", "prompt.logits");
    check_hf_case("phi_tiny", "lm", "prompt.logits");
    check_half_dtypes();
    check_quantized_source();
    check_bert_body();
    check_tokenizer_files();
    check_gguf_tokenizer_written();
    check_stories();
    check_llama_to_llama2c("llama_stories_like", 0);
    check_llama_to_llama2c("llama_untied_gqa_odd", 0);
    check_bad_input();
    remove_tree(tmp_dir);
    TEST_END();
}
