/* test_gguf_tokenizer.c — tokenizers in GGUF metadata (src/tokenizers/gguf_vocab*.c).
 *   Reading: llama.cpp's vocab-only files (gpt-2, llama-spm, bert-bge in tests/data/gguf) tokenize
 *   llama.cpp's own test vectors exactly, and the Hugging Face / SentencePiece fixtures of the same
 *   vocabularies (ids and decodes).
 *   Writing: the GPT-2, Phi-1.5, llama2.c and WordPiece tokenizers written as tokenizer.ggml.* equal
 *   llama.cpp's conversion of the same vocabulary where the repository has one (token by token, type by
 *   type, merge by merge, score by score), and load back giving the original's ids on every fixture text.
 *   Llama 2's vocabulary as a Llama-style tokenizer.json (merge ranks, no scores) written as GGUF "llama"
 *   and as llama2.c's tokenizer.bin, with scores derived from the ranks: llama.cpp's tokens and types,
 *   llama2.c's own export's texts, and SentencePiece's ids and llama.cpp's vectors on reading back.
 *   Hostile metadata: an error naming the file and the key, never a crash.
 * Expected ids come from llama.cpp (.out), transformers / SentencePiece (fixtures) or hand derivation
 * for the three-token vocabularies built here. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "tokenizer_fixture.h"
#include "tokenizers/hf_tokenizer_write.h"
#include "tokenizers/tokenizer.h"

static char tmp_path[64];

/* ---- helpers ---- */

static slm_tokenizer *load_gguf(const char *rel) {
    char path[1024];
    slm_error err = {0};
    slm_tokenizer *tok = slm_tokenizer_load(test_path(path, sizeof path, rel), &err); /* dispatch on .gguf */
    CHECK(tok != NULL, "loading %s: %s", path, err.message);
    return tok;
}

static int tokenize(const slm_tokenizer *tok, const char *text, size_t len, int add_special, int32_t **ids, size_t *n) {
    slm_error err = {0};
    *ids = NULL;
    *n = 0;
    return slm_tokenize(tok, text, len, add_special, ids, n, &err) == SLM_OK;
}

/* ids equal the JSON array / the int list? */
static int ids_equal_json(json_t *expected, const int32_t *ids, size_t n) { return same_ints(expected, ids, n); }

/* llama.cpp's vocab vectors through slm's tokenizer (tokenizer_fixture.h). */
static int check_llamacpp_vectors(const slm_tokenizer *tok, const char *stem, const char *name) {
    return check_llamacpp_vectors_with(slm_encode_plain, tok, stem, name);
}

/* A decoded string equals expected[0..len)? (A C string stops at a NUL: only the part before it counts.) */
static int same_text(const char *got, const char *expected, size_t len) {
    const char *nul = memchr(expected, '\0', len);
    size_t n = nul ? (size_t)(nul - expected) : len;
    return got && strlen(got) == n && memcmp(got, expected, n) == 0;
}

static int decode_equals(const slm_tokenizer *tok, json_t *ids_json, int skip_special, json_t *expected) {
    size_t n = json_array_size(ids_json);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ids_json, i));
    char *text = NULL;
    int ok = slm_detokenize(tok, ids, n, skip_special, &text, NULL) == SLM_OK &&
             same_text(text, json_string_value(expected), json_string_length(expected));
    slm_free(text);
    free(ids);
    return ok;
}

/* A transformers fast.json fixture (ids with and without special tokens, both decodes) on tok. */
static void check_hf_fixture(const slm_tokenizer *tok, const char *fixture, const char *name) {
    json_t *root = load_fixture(fixture);
    size_t i;
    json_t *c;
    int matched = 0, total = 0;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        size_t len;
        const char *text = text_at((size_t)json_integer_value(json_object_get(c, "i")), &len);
        static const char *const kinds[2] = {"no_special", "with_special"};
        for (int add = 0; add < 2; add++) {
            json_t *enc = json_object_get(c, kinds[add]), *want = json_object_get(enc, "ids");
            int32_t *ids;
            size_t n;
            int ok = tokenize(tok, text, len, add, &ids, &n) && ids_equal_json(want, ids, n);
            CHECK(ok, "%s: text %zu %s: ids differ from transformers", name, i, kinds[add]);
            CHECK(decode_equals(tok, want, 0, json_object_get(enc, "decode")), "%s: text %zu %s: decode", name, i, kinds[add]);
            CHECK(decode_equals(tok, want, 1, json_object_get(enc, "decode_skip_special")), "%s: text %zu %s: decode "
                  "skipping specials", name, i, kinds[add]);
            matched += ok;
            total++;
            slm_free(ids);
        }
    }
    printf("%s: %d of %d encodings match transformers\n", name, matched, total);
    json_decref(root);
}

/* SentencePiece's own output for the Llama 2 tokenizer.model: ids, ids after BOS, decode. */
static void check_sentencepiece_fixture(const slm_tokenizer *tok, const char *name) {
    json_t *root = load_fixture("tokenizers/fixtures/llama2c_raw_sentencepiece.json");
    size_t i;
    json_t *c;
    int matched = 0, total = 0;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        size_t len;
        const char *text = text_at((size_t)json_integer_value(json_object_get(c, "i")), &len);
        json_t *want = json_object_get(c, "ids");
        int32_t *ids;
        size_t n;
        int ok = tokenize(tok, text, len, 0, &ids, &n) && ids_equal_json(want, ids, n);
        slm_free(ids);
        int ok_bos = tokenize(tok, text, len, 1, &ids, &n) && n >= 1 && ids[0] == 1 && ids_equal_json(want, ids + 1, n - 1);
        slm_free(ids);
        CHECK(ok && ok_bos, "%s: text %zu: ids differ from SentencePiece", name, i);
        CHECK(decode_equals(tok, want, 0, json_object_get(c, "decode")), "%s: text %zu: decode", name, i);
        matched += ok;
        total++;
    }
    printf("%s: %d of %d encodings match SentencePiece\n", name, matched, total);
    json_decref(root);
}

/* llama.cpp's own ids for the fixture texts (tokenizers/llamacpp/fixture_texts_llamacpp.json, computed by
 * node-llama-cpp 3.21.1 on the vocab-only files): ids, and for bert-bge its decode (whose leading space,
 * the first word's "▁", slm's WordPiece decoder does not emit). */
static void check_llamacpp_fixture(const slm_tokenizer *tok, const char *vocab, const char *name) {
    json_t *root = load_fixture("tokenizers/llamacpp/fixture_texts_llamacpp.json");
    json_t *ref = json_object_get(root, vocab), *all = json_object_get(ref, "ids");
    json_t *decodes = json_object_get(ref, "detokenize");
    CHECK(json_array_size(all) == json_array_size(texts), "%s: %zu llama.cpp cases", name, json_array_size(all));
    int matched = 0, decoded = 0;
    for (size_t i = 0; i < json_array_size(all) && i < json_array_size(texts); i++) {
        size_t len;
        const char *text = text_at(i, &len);
        int32_t *ids;
        size_t n;
        int ok = tokenize(tok, text, len, 0, &ids, &n) && ids_equal_json(json_array_get(all, i), ids, n);
        CHECK(ok, "%s: text %zu: ids differ from llama.cpp's", name, i);
        matched += ok;
        if (decodes) {
            const char *want = json_string_value(json_array_get(decodes, i));
            char *got = NULL;
            ok = slm_detokenize(tok, ids, n, 1, &got, NULL) == SLM_OK && want &&
                 strcmp(got, want[0] == ' ' ? want + 1 : want) == 0;
            CHECK(ok, "%s: text %zu: decode \"%s\", llama.cpp's \"%s\"", name, i, got ? got : "", want ? want : "");
            decoded += ok;
            slm_free(got);
        }
        slm_free(ids);
    }
    printf("%s: %d of %zu fixture texts tokenize as llama.cpp does", name, matched, json_array_size(all));
    if (decodes) printf(", %d decode alike", decoded);
    printf("\n");
    json_decref(root);
}

/* The copy gives the original's ids (with and without specials) and decodes on every fixture text. */
static void check_same_as(const slm_tokenizer *orig, const slm_tokenizer *copy, const char *name) {
    int same = 0, total = 0;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        size_t len;
        const char *text = text_at(i, &len);
        for (int add = 0; add < 2; add++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            int ok = tokenize(orig, text, len, add, &a, &na) && tokenize(copy, text, len, add, &b, &nb) && na == nb &&
                     (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
            char *da = NULL, *db = NULL;
            ok = ok && slm_detokenize(orig, a, na, 0, &da, NULL) == SLM_OK &&
                 slm_detokenize(copy, a, na, 0, &db, NULL) == SLM_OK && strcmp(da, db) == 0;
            CHECK(ok, "%s: text %zu (add_special %d) tokenizes or decodes differently after the GGUF round trip", name,
                  i, add);
            same += ok;
            total++;
            slm_free(a);
            slm_free(b);
            slm_free(da);
            slm_free(db);
        }
    }
    printf("%s: %d of %d fixture encodings identical after the GGUF round trip\n", name, same, total);
}

/* decode(encode(text)) == text for every fixture text (lossless tokenizers). */
static void check_lossless(const slm_tokenizer *tok, const char *name) {
    int ok_count = 0;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        size_t len;
        const char *text = text_at(i, &len);
        int32_t *ids;
        size_t n;
        char *back = NULL;
        int ok = tokenize(tok, text, len, 0, &ids, &n) && slm_detokenize(tok, ids, n, 0, &back, NULL) == SLM_OK &&
                 same_text(back, text, len);
        CHECK(ok, "%s: text %zu does not decode back to itself", name, i);
        ok_count += ok;
        slm_free(ids);
        slm_free(back);
    }
    printf("%s: %d of %zu texts decode back to themselves\n", name, ok_count, json_array_size(texts));
}

/* Writes tok's tokenizer.ggml.* metadata alone as a GGUF at path. */
static slm_status write_vocab(const slm_tokenizer *tok, const char *pre, const char *path, slm_error *err) {
    slm_gguf_kv *kvs = NULL;
    int64_t n = 0;
    void *storage = NULL;
    slm_status st = slm_tokenizer_gguf_metadata(tok, pre, &kvs, &n, &storage, err);
    if (st == SLM_OK) st = slm_gguf_write(path, kvs, n, NULL, 0, err);
    slm_tokenizer_gguf_metadata_free(storage);
    return st;
}

/* The array key of two GGUF files holds the same elements (strings, integers or floats)? */
static void compare_array(const slm_gguf *a, const slm_gguf *b, const char *key, const char *name) {
    slm_gguf_type ta, tb;
    uint64_t na = 0, nb = 0;
    int ok = slm_gguf_get_array(a, key, &ta, &na, NULL) == SLM_OK && slm_gguf_get_array(b, key, &tb, &nb, NULL) == SLM_OK &&
             na == nb && ta == tb;
    uint64_t differ = 0, first = 0;
    for (uint64_t i = 0; ok && i < na; i++) {
        int same;
        if (ta == SLM_GGUF_STRING) {
            const char *x, *y;
            size_t lx, ly;
            slm_gguf_array_string(a, key, i, &x, &lx, NULL);
            slm_gguf_array_string(b, key, i, &y, &ly, NULL);
            same = lx == ly && memcmp(x, y, lx) == 0;
        } else if (ta == SLM_GGUF_FLOAT32) {
            float x, y;
            slm_gguf_array_float(a, key, i, &x, NULL);
            slm_gguf_array_float(b, key, i, &y, NULL);
            same = x == y;
        } else {
            int64_t x, y;
            slm_gguf_array_int(a, key, i, &x, NULL);
            slm_gguf_array_int(b, key, i, &y, NULL);
            same = x == y;
        }
        if (!same && differ++ == 0) first = i;
    }
    CHECK(ok && differ == 0, "%s: %s: %llu vs %llu elements (%s vs %s), %llu differ (first at %llu)", name, key,
          (unsigned long long)na, (unsigned long long)nb, slm_gguf_type_name(ta), slm_gguf_type_name(tb),
          (unsigned long long)differ, (unsigned long long)first);
}

static void compare_scalar(const slm_gguf *a, const slm_gguf *b, const char *key, const char *name) {
    int64_t x = -1, y = -2;
    const char *s = NULL, *t = NULL;
    int ok, bx = -1, by = -2;
    slm_gguf_type type = slm_gguf_find_key(a, key) >= 0 ? slm_gguf_kv_type(a, slm_gguf_find_key(a, key)) : SLM_GGUF_TYPE_COUNT;
    if (type == SLM_GGUF_STRING)
        ok = slm_gguf_get_string(a, key, &s, NULL, NULL) == SLM_OK && slm_gguf_get_string(b, key, &t, NULL, NULL) == SLM_OK &&
             strcmp(s, t) == 0;
    else if (type == SLM_GGUF_BOOL)
        ok = slm_gguf_get_bool(a, key, &bx, NULL) == SLM_OK && slm_gguf_get_bool(b, key, &by, NULL) == SLM_OK && bx == by;
    else
        ok = slm_gguf_get_i64(a, key, &x, NULL) == SLM_OK && slm_gguf_get_i64(b, key, &y, NULL) == SLM_OK && x == y;
    CHECK(ok, "%s: %s differs (%s/%lld vs %s/%lld)", name, key, s ? s : "", (long long)x, t ? t : "", (long long)y);
}

/* The metadata slm wrote for tok at tmp_path against llama.cpp's conversion of the same vocabulary. */
static void compare_with_llamacpp(const char *reference, const char *const *keys, const char *name) {
    char path[1024];
    slm_error err = {0};
    slm_gguf *ref = slm_gguf_open(test_path(path, sizeof path, reference), &err);
    CHECK(ref != NULL, "%s: %s", name, err.message);
    slm_gguf *ours = slm_gguf_open(tmp_path, &err);
    CHECK(ours != NULL, "%s: %s", name, err.message);
    if (ref && ours) {
        compare_array(ref, ours, "tokenizer.ggml.tokens", name);
        compare_array(ref, ours, "tokenizer.ggml.token_type", name);
        for (int k = 0; keys[k]; k++) {
            if (strstr(keys[k], "merges") || strstr(keys[k], "scores")) compare_array(ref, ours, keys[k], name);
            else compare_scalar(ref, ours, keys[k], name);
        }
    }
    slm_gguf_free(ref);
    slm_gguf_free(ours);
}

/* Writes orig as GGUF metadata, reloads it and checks it tokenizes the same; returns the copy. */
static slm_tokenizer *round_trip(const slm_tokenizer *orig, const char *pre, int same_ids, const char *name) {
    slm_error err = {0};
    CHECK(write_vocab(orig, pre, tmp_path, &err) == SLM_OK, "%s: writing: %s", name, err.message);
    slm_tokenizer *copy = slm_tokenizer_load_gguf_file(tmp_path, &err);
    CHECK(copy != NULL, "%s: reloading: %s", name, err.message);
    if (copy) {
        CHECK(slm_tokenizer_vocab_size(copy) == slm_tokenizer_vocab_size(orig), "%s: vocab %d vs %d", name,
              slm_tokenizer_vocab_size(copy), slm_tokenizer_vocab_size(orig));
        if (same_ids) check_same_as(orig, copy, name);
    }
    return copy;
}

/* ---- llama.cpp's files, read ---- */

static void test_read_gpt2(void) {
    slm_tokenizer *tok = load_gguf("gguf/ggml-vocab-gpt-2.gguf");
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 50257 && slm_tokenizer_bos(tok) == 50256 && slm_tokenizer_eos(tok) == 50256,
          "gpt-2 gguf: vocab %d bos %d eos %d", slm_tokenizer_vocab_size(tok), slm_tokenizer_bos(tok), slm_tokenizer_eos(tok));
    CHECK(slm_tokenizer_is_special(tok, 50256) && !slm_tokenizer_is_special(tok, 995), "gpt-2 gguf: specials");
    size_t n;
    const char *piece = slm_tokenizer_piece(tok, -1, 995, &n); /* "Ġworld" decodes to " world" */
    CHECK(piece && n == 6 && memcmp(piece, " world", 6) == 0, "gpt-2 gguf: piece of 995");
    check_llamacpp_vectors(tok, "ggml-vocab-gpt-2.gguf", "gpt-2 gguf");
    check_llamacpp_fixture(tok, "gpt-2", "gpt-2 gguf");
    check_hf_fixture(tok, "tokenizers/fixtures/gpt2_fast.json", "gpt-2 gguf vs transformers gpt2");
    check_lossless(tok, "gpt-2 gguf");

    /* GGUF -> slm -> GGUF gives back llama.cpp's file */
    slm_error err = {0};
    CHECK(write_vocab(tok, NULL, tmp_path, &err) == SLM_OK, "gpt-2 gguf rewrite: %s", err.message);
    static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.merges",
                                       "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", NULL};
    compare_with_llamacpp("gguf/ggml-vocab-gpt-2.gguf", keys, "gpt-2 gguf rewritten");
    slm_tokenizer_free(tok);
}

static void test_read_llama(void) {
    slm_tokenizer *tok = load_gguf("gguf/ggml-vocab-llama-spm.gguf");
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 32000 && slm_tokenizer_bos(tok) == 1 && slm_tokenizer_eos(tok) == 2,
          "llama-spm gguf: vocab/bos/eos");
    CHECK(slm_tokenizer_is_special(tok, 1) && slm_tokenizer_is_special(tok, 2) && !slm_tokenizer_is_special(tok, 13),
          "llama-spm gguf: specials");
    size_t n;
    const char *p = slm_tokenizer_piece(tok, 100, 13, &n); /* <0x0A> */
    CHECK(p && n == 1 && p[0] == '\n', "llama-spm gguf: <0x0A> piece");
    p = slm_tokenizer_piece(tok, 100, 15043, &n); /* "▁Hello" */
    CHECK(p && n == 6 && memcmp(p, " Hello", 6) == 0, "llama-spm gguf: piece of 15043");
    check_llamacpp_vectors(tok, "ggml-vocab-llama-spm.gguf", "llama-spm gguf");
    check_sentencepiece_fixture(tok, "llama-spm gguf vs SentencePiece");
    check_llamacpp_fixture(tok, "llama-spm", "llama-spm gguf");
    slm_error err = {0};
    CHECK(write_vocab(tok, NULL, tmp_path, &err) == SLM_OK, "llama-spm gguf rewrite: %s", err.message);
    static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.scores",
                                       "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                       "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token",
                                       "tokenizer.ggml.add_eos_token", NULL};
    compare_with_llamacpp("gguf/ggml-vocab-llama-spm.gguf", keys, "llama-spm gguf rewritten");
    slm_tokenizer_free(tok);
}

static void test_read_bert(void) {
    slm_tokenizer *tok = load_gguf("gguf/ggml-vocab-bert-bge.gguf");
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 30522, "bert-bge gguf: vocab %d", slm_tokenizer_vocab_size(tok));
    CHECK(slm_tokenizer_special(tok, "cls") == 101 && slm_tokenizer_special(tok, "sep") == 102 &&
              slm_tokenizer_special(tok, "unk") == 100 && slm_tokenizer_special(tok, "pad") == 0 &&
              slm_tokenizer_special(tok, "mask") == 103,
          "bert-bge gguf: cls %d sep %d unk %d pad %d mask %d", slm_tokenizer_special(tok, "cls"),
          slm_tokenizer_special(tok, "sep"), slm_tokenizer_special(tok, "unk"), slm_tokenizer_special(tok, "pad"),
          slm_tokenizer_special(tok, "mask"));
    /* llama.cpp's "▁the" / "ing" are Hugging Face's "the" / "##ing" */
    CHECK(slm_token_text(tok, 1996) && strcmp(slm_token_text(tok, 1996), "the") == 0, "bert-bge gguf: token 1996 \"%s\"",
          slm_token_text(tok, 1996));
    CHECK(slm_token_text(tok, 2075) && strcmp(slm_token_text(tok, 2075), "##ing") == 0, "bert-bge gguf: token 2075 \"%s\"",
          slm_token_text(tok, 2075));
    check_llamacpp_vectors(tok, "ggml-vocab-bert-bge.gguf", "bert-bge gguf");
    /* llama.cpp's WPM, unlike transformers, has no 100-character word limit (texts 46 and 47), and its decode
     * cleans up spaces as transformers' slow BertTokenizer does: llama.cpp's own output is the reference */
    check_llamacpp_fixture(tok, "bert-bge", "bert-bge gguf");
    slm_error err = {0};
    CHECK(write_vocab(tok, NULL, tmp_path, &err) == SLM_OK, "bert-bge gguf rewrite: %s", err.message);
    static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.cls_token_id",
                                       "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.unknown_token_id",
                                       "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id", NULL};
    compare_with_llamacpp("gguf/ggml-vocab-bert-bge.gguf", keys, "bert-bge gguf rewritten");
    slm_tokenizer_free(tok);
}

/* The other tokenizer.ggml.pre families slm runs: llama.cpp's gpt-2 vocabulary with pre replaced, against
 * llama.cpp's ids for the texts each splits differently from gpt-2 (tokenizers/llamacpp/pre_families_llamacpp.json). */
static void test_pre_families(void) {
    slm_tokenizer *gpt2 = load_gguf("gguf/ggml-vocab-gpt-2.gguf");
    json_t *root = load_fixture("tokenizers/llamacpp/pre_families_llamacpp.json");
    json_t *cases = json_object_get(root, "texts"), *by_pre = json_object_get(root, "ids");
    const char *pre;
    json_t *all;
    json_object_foreach(by_pre, pre, all) {
        slm_gguf_kv *kvs = NULL;
        int64_t n = 0;
        void *storage = NULL;
        slm_error err = {0};
        slm_status st = gpt2 ? slm_tokenizer_gguf_metadata(gpt2, NULL, &kvs, &n, &storage, &err) : SLM_ERR_IO;
        for (int64_t k = 0; st == SLM_OK && k < n; k++)
            if (strcmp(kvs[k].key, "tokenizer.ggml.pre") == 0) kvs[k].string = pre;
        if (st == SLM_OK) st = slm_gguf_write(tmp_path, kvs, n, NULL, 0, &err);
        slm_tokenizer_gguf_metadata_free(storage);
        slm_tokenizer *tok = st == SLM_OK ? slm_tokenizer_load_gguf_file(tmp_path, &err) : NULL;
        CHECK(tok != NULL, "pre %s: %s", pre, err.message);
        int matched = 0;
        for (size_t i = 0; tok && i < json_array_size(cases); i++) {
            json_t *text = json_array_get(cases, i);
            int32_t *ids;
            size_t n_ids;
            int ok = tokenize(tok, json_string_value(text), json_string_length(text), 0, &ids, &n_ids) &&
                     ids_equal_json(json_array_get(all, i), ids, n_ids);
            CHECK(ok, "pre %s: \"%.40s\" splits differently from llama.cpp", pre, json_string_value(text));
            matched += ok;
            slm_free(ids);
        }
        printf("pre %s: %d of %zu texts tokenize as llama.cpp does\n", pre, matched, json_array_size(cases));
        slm_tokenizer_free(tok);
    }
    json_decref(root);
    slm_tokenizer_free(gpt2);
}

/* ---- slm's tokenizers, written ---- */

static void test_write_gpt2(void) {
    slm_tokenizer *tok = load("tokenizers/gpt2"); /* vocab.json + merges.txt */
    if (!tok) return;
    slm_tokenizer *copy = round_trip(tok, NULL, 1, "gpt2 -> gguf");
    /* llama.cpp converted the same vocabulary: same tokens, types and merges, in the same order */
    static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.merges",
                                       "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", NULL};
    compare_with_llamacpp("gguf/ggml-vocab-gpt-2.gguf", keys, "gpt2 -> gguf vs llama.cpp's");
    if (copy) {
        check_llamacpp_vectors(copy, "ggml-vocab-gpt-2.gguf", "gpt2 -> gguf");
        check_llamacpp_fixture(copy, "gpt-2", "gpt2 -> gguf");
    }
    slm_tokenizer_free(copy);
    slm_tokenizer_free(tok);
}

static void test_write_phi(void) {
    slm_tokenizer *tok = load("tokenizers/phi-1_5"); /* tokenizer.json with 38 added whitespace tokens */
    if (!tok) return;
    slm_tokenizer *copy = round_trip(tok, "phi-2", 1, "phi-1_5 -> gguf");
    slm_error err = {0};
    slm_gguf *g = slm_gguf_open(tmp_path, &err);
    CHECK(g != NULL, "phi-1_5 gguf: %s", err.message);
    const char *pre = NULL;
    int64_t t_eot = -1, t_spaces = -1, t_word = -1;
    if (g) {
        slm_gguf_get_string(g, "tokenizer.ggml.pre", &pre, NULL, NULL);
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 50256, &t_eot, NULL);
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 50294, &t_spaces, NULL);
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 995, &t_word, NULL);
    }
    /* <|endoftext|> is special (control, 3); the whitespace runs are added, not special (user-defined, 4) */
    CHECK(pre && strcmp(pre, "phi-2") == 0 && t_eot == 3 && t_spaces == 4 && t_word == 1,
          "phi-1_5 gguf: pre %s, types %lld %lld %lld", pre ? pre : "(none)", (long long)t_eot, (long long)t_spaces,
          (long long)t_word);
    slm_gguf_free(g);
    if (copy) {
        check_llamacpp_vectors(copy, "ggml-vocab-phi-2.gguf", "phi-1_5 -> gguf");
        check_hf_fixture(copy, "tokenizers/fixtures/phi-1_5_fast.json", "phi-1_5 -> gguf vs transformers");
    }
    slm_tokenizer_free(copy);
    /* a name for another pre-tokenizer is refused, not written */
    void *storage = NULL;
    slm_gguf_kv *kvs = NULL;
    int64_t n = 0;
    CHECK(slm_tokenizer_gguf_metadata(tok, "llama3", &kvs, &n, &storage, &err) == SLM_ERR_UNSUPPORTED && !kvs &&
              !storage,
          "phi-1_5 with pre llama3: %s", err.message);
    slm_tokenizer_free(tok);
}

static void test_write_llama2c(void) {
    /* llama2.c's export of the Llama 2 tokenizer.model, which llama.cpp converted to ggml-vocab-llama-spm */
    slm_tokenizer *tok = load("tokenizers/llama2c/tokenizer.bin");
    if (tok) {
        slm_tokenizer *copy = round_trip(tok, NULL, 1, "llama2c tokenizer.bin -> gguf");
        static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.scores",
                                           "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                           "tokenizer.ggml.unknown_token_id", NULL};
        compare_with_llamacpp("gguf/ggml-vocab-llama-spm.gguf", keys, "llama2c -> gguf vs llama.cpp's llama-spm");
        if (copy) {
            check_llamacpp_vectors(copy, "ggml-vocab-llama-spm.gguf", "llama2c -> gguf");
            check_sentencepiece_fixture(copy, "llama2c -> gguf vs SentencePiece");
            check_llamacpp_fixture(copy, "llama-spm", "llama2c -> gguf");
        }
        slm_tokenizer_free(copy);
    }
    slm_tokenizer_free(tok);

    char path[1024];
    slm_error err = {0};
    snprintf(path, sizeof path, "%s/../../models/stories260K/tok512.bin", test_data_dir());
    tok = slm_tokenizer_load(path, &err);
    CHECK(tok != NULL, "%s: %s", path, err.message);
    if (!tok) return;
    slm_tokenizer *copy = round_trip(tok, NULL, 1, "tok512 -> gguf");
    if (copy) check_lossless(copy, "tok512 -> gguf");
    slm_gguf *g = slm_gguf_open(tmp_path, &err);
    int64_t type_unk = -1, type_bos = -1, type_byte = -1, type_word = -1, bos = -1, eos = -1;
    const char *word = NULL;
    if (g) {
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 0, &type_unk, NULL);
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 1, &type_bos, NULL);
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 3 + 'a', &type_byte, NULL); /* <0x61> */
        slm_gguf_array_int(g, "tokenizer.ggml.token_type", 259, &type_word, NULL);
        slm_gguf_array_string(g, "tokenizer.ggml.tokens", 259, &word, NULL, NULL);
        slm_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &bos, NULL);
        slm_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &eos, NULL);
    }
    /* tok512.bin's entry 259 is " t": SentencePiece's "▁t" */
    CHECK(type_unk == 2 && type_bos == 3 && type_byte == 6 && type_word == 1 && bos == 1 && eos == 2 && word &&
              strncmp(word, "\xE2\x96\x81t", 4) == 0,
          "tok512 gguf: types %lld %lld %lld %lld, bos %lld eos %lld", (long long)type_unk, (long long)type_bos,
          (long long)type_byte, (long long)type_word, (long long)bos, (long long)eos);
    slm_gguf_free(g);
    slm_tokenizer_free(copy);
    slm_tokenizer_free(tok);
}

/* The records of two llama2.c tokenizer.bin files hold the same texts (scores aside)? Returns how many
 * records differ, or -1 when a file cannot be read or their record counts differ. */
static long llama2c_texts_differ(const char *a_path, const char *b_path) {
    size_t na = 0, nb = 0;
    char *a = read_file(a_path, &na), *b = read_file(b_path, &nb);
    long differ = a && b && na == nb && na >= 4 && !memcmp(a, b, 4) ? 0 : -1; /* max_token_length too */
    for (size_t at = 4; differ >= 0 && at + 8 <= na;) {
        int32_t la, lb;
        memcpy(&la, a + at + 4, 4);
        memcpy(&lb, b + at + 4, 4);
        if (la != lb || la < 0 || at + 8 + (size_t)la > na) {
            differ = -1;
            break;
        }
        differ += memcmp(a + at + 8, b + at + 8, (size_t)la) != 0;
        at += 8 + (size_t)la;
    }
    free(a);
    free(b);
    return differ;
}

/* Llama 2's tokenizer.bin -> tokenizer.json (hf_tokenizer_write.c; merges in transformers' order, no
 * scores) -> slm's Hugging Face BPE -> GGUF "llama" and llama2.c tokenizer.bin with scores derived from
 * the merge ranks. The expectations are llama.cpp's (its llama-spm conversion of the same vocabulary:
 * tokens and types; its test vectors and fixture ids), SentencePiece's ids on tokenizer.model, and
 * llama2.c's own export (the texts of every record). Every text is compared, "<s>" included: neither
 * reader cuts control tokens out of the text, as SentencePiece does not. */
static void test_write_llama_json(void) {
    slm_tokenizer *bin = load("tokenizers/llama2c/tokenizer.bin");
    char dir[96], path[128], file[128], original[1024];
    snprintf(dir, sizeof dir, "%s.hf", tmp_path);
    mkdir(dir, 0700);
    slm_error err = {0};
    slm_status st = bin ? slm_tokenizer_save_hf(bin, dir, &err) : SLM_ERR_IO;
    CHECK(st == SLM_OK, "llama2 -> tokenizer.json: %s", err.message);
    slm_tokenizer *hf = st == SLM_OK ? slm_tokenizer_load(dir, &err) : NULL;
    CHECK(hf && !slm_tokenizer_is_llama2c(hf) && slm_tokenizer_has_llama2c_form(hf),
          "llama2 tokenizer.json loads as a Hugging Face BPE that has a llama2.c form: %s", hf ? "" : err.message);
    if (hf) {
        slm_tokenizer *copy = round_trip(hf, NULL, 0, "llama2 tokenizer.json -> gguf");
        static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                                           "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                                           "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token", NULL};
        compare_with_llamacpp("gguf/ggml-vocab-llama-spm.gguf", keys, "llama2 tokenizer.json -> gguf vs llama-spm");
        if (copy) {
            check_llamacpp_vectors(copy, "ggml-vocab-llama-spm.gguf", "llama2 tokenizer.json -> gguf");
            check_sentencepiece_fixture(copy, "llama2 tokenizer.json -> gguf vs SentencePiece");
            check_llamacpp_fixture(copy, "llama-spm", "llama2 tokenizer.json -> gguf");
        }
        slm_tokenizer_free(copy);

        snprintf(file, sizeof file, "%s.bin", tmp_path);
        st = slm_tokenizer_save_llama2c(hf, 0, file, &err);
        CHECK(st == SLM_OK, "llama2 tokenizer.json -> tokenizer.bin: %s", err.message);
        long differ = llama2c_texts_differ(file, test_path(original, sizeof original, "tokenizers/llama2c/tokenizer.bin"));
        CHECK(differ == 0, "llama2 tokenizer.json -> tokenizer.bin: %ld records' texts differ from llama2.c's export",
              differ);
        slm_tokenizer *back = st == SLM_OK ? slm_tokenizer_load_llama2c(file, &err) : NULL;
        CHECK(back != NULL, "llama2 tokenizer.json -> tokenizer.bin: reading it back: %s", err.message);
        if (back) {
            check_llamacpp_vectors(back, "ggml-vocab-llama-spm.gguf", "llama2 tokenizer.json -> tokenizer.bin");
            check_sentencepiece_fixture(back, "llama2 tokenizer.json -> tokenizer.bin vs SentencePiece");
            check_llamacpp_fixture(back, "llama-spm", "llama2 tokenizer.json -> tokenizer.bin");
        }
        slm_tokenizer_free(back);
        unlink(file);
    }
    slm_tokenizer_free(hf);
    slm_tokenizer_free(bin);
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_write_wordpiece(void) {
    slm_tokenizer *tok = load("tokenizers/bert-base-uncased/vocab.txt"); /* the bge vocabulary */
    if (!tok) return;
    /* the written file runs as llama.cpp's WPM: no 100-character word limit, so llama.cpp's ids are the reference */
    slm_tokenizer *copy = round_trip(tok, NULL, 0, "bert vocab.txt -> gguf");
    static const char *const keys[] = {"tokenizer.ggml.model", "tokenizer.ggml.cls_token_id",
                                       "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.unknown_token_id",
                                       "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id", NULL};
    compare_with_llamacpp("gguf/ggml-vocab-bert-bge.gguf", keys, "bert vocab.txt -> gguf vs llama.cpp's bert-bge");
    if (copy) {
        check_llamacpp_vectors(copy, "ggml-vocab-bert-bge.gguf", "bert vocab.txt -> gguf");
        check_llamacpp_fixture(copy, "bert-bge", "bert vocab.txt -> gguf");
    }
    slm_tokenizer_free(copy);
    slm_tokenizer_free(tok);

    tok = load("tokenizers/bert-base-uncased/tokenizer.json");
    if (tok) {
        copy = round_trip(tok, NULL, 0, "bert tokenizer.json -> gguf");
        if (copy) check_llamacpp_fixture(copy, "bert-bge", "bert tokenizer.json -> gguf");
        slm_tokenizer_free(copy);
    }
    slm_tokenizer_free(tok);
}

static void test_write_unsupported(void) {
    slm_tokenizer *tok = load("tokenizers/albert"); /* SentencePiece Unigram: no GGUF form slm writes */
    slm_gguf_kv *kvs = NULL;
    int64_t n = 0;
    void *storage = NULL;
    slm_error err = {0};
    CHECK(tok && slm_tokenizer_gguf_metadata(tok, NULL, &kvs, &n, &storage, &err) == SLM_ERR_UNSUPPORTED && !kvs && !storage &&
              n == 0,
          "albert: %s", err.message);
    slm_tokenizer_free(tok);
}

/* ---- hostile metadata ---- */

static const char *const TINY_TOKENS[] = {"a", "b", "ab"};
static const char *const TINY_MERGES[] = {"a b"};

/* A three-token gpt2 vocabulary ("a" "b" "ab", merge "a b"), with one entry replaced or added. */
typedef struct {
    slm_gguf_kv kvs[12];
    int n;
} kv_set;

static kv_set tiny_vocab(const char *model) {
    kv_set s = {.n = 0};
    s.kvs[s.n++] = (slm_gguf_kv){.key = "tokenizer.ggml.model", .type = SLM_GGUF_STRING, .string = model};
    s.kvs[s.n++] = (slm_gguf_kv){.key = "tokenizer.ggml.pre", .type = SLM_GGUF_STRING, .string = "gpt-2"};
    s.kvs[s.n++] = (slm_gguf_kv){.key = "tokenizer.ggml.tokens", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                                 .array_count = 3, .array = TINY_TOKENS};
    s.kvs[s.n++] = (slm_gguf_kv){.key = "tokenizer.ggml.merges", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                                 .array_count = 1, .array = TINY_MERGES};
    s.kvs[s.n++] = (slm_gguf_kv){.key = "tokenizer.ggml.bos_token_id", .type = SLM_GGUF_UINT32, .u = 2};
    s.kvs[s.n++] = (slm_gguf_kv){.key = "tokenizer.ggml.eos_token_id", .type = SLM_GGUF_UINT32, .u = 2};
    return s;
}

static void set_kv(kv_set *s, slm_gguf_kv kv) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->kvs[i].key, kv.key) == 0) {
            s->kvs[i] = kv;
            return;
        }
    s->kvs[s->n++] = kv;
}

static void drop_kv(kv_set *s, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->kvs[i].key, key) == 0) s->kvs[i] = s->kvs[--s->n];
}

static slm_tokenizer *load_set(const kv_set *s, slm_error *err) {
    if (slm_gguf_write(tmp_path, s->kvs, s->n, NULL, 0, err) != SLM_OK) return NULL;
    return slm_tokenizer_load_gguf_file(tmp_path, err);
}

/* Loading s fails with status, and the message names the file and what (the key or value at fault). */
static void check_refused(const kv_set *s, slm_status status, const char *what, const char *label) {
    slm_error err = {0};
    slm_tokenizer *tok = load_set(s, &err);
    CHECK(!tok && err.status == status && strstr(err.message, tmp_path) && strstr(err.message, what),
          "%s: expected %s naming \"%s\", got %s: %s", label, slm_status_name(status), what,
          tok ? "a tokenizer" : slm_status_name(err.status), err.message);
    slm_tokenizer_free(tok);
}

static void test_tiny_and_hostile(void) {
    /* the valid tiny vocabulary: "ab" merges to token 2, "ba" stays b a (no merge "b a") */
    kv_set s = tiny_vocab("gpt2");
    slm_error err = {0};
    slm_tokenizer *tok = load_set(&s, &err);
    CHECK(tok != NULL, "tiny gpt2: %s", err.message);
    int32_t *ids;
    size_t n;
    CHECK(tok && tokenize(tok, "ab", 2, 0, &ids, &n) && n == 1 && ids[0] == 2, "tiny gpt2: \"ab\"");
    if (tok) slm_free(ids);
    CHECK(tok && tokenize(tok, "ba", 2, 0, &ids, &n) && n == 2 && ids[0] == 1 && ids[1] == 0, "tiny gpt2: \"ba\"");
    if (tok) slm_free(ids);
    slm_tokenizer_free(tok);

    static const char *const short_tokens[] = {"a"}, *const bad_merge[] = {"a c"}, *const no_space[] = {"ab"};
    static const int32_t two_types[] = {1, 1}, bad_type[] = {1, 9, 1};
    static const int64_t int_merges[] = {7};
    static const float nan_scores[] = {0.0f, NAN, 0.0f};
    static const char *const three_strings[] = {"x", "y", "z"};

    s = tiny_vocab("t5");
    check_refused(&s, SLM_ERR_UNSUPPORTED, "t5", "model t5");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.pre", .type = SLM_GGUF_STRING, .string = "no-such-pre"});
    check_refused(&s, SLM_ERR_UNSUPPORTED, "no-such-pre", "unknown pre");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.model", .type = SLM_GGUF_UINT32, .u = 2});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.model", "model as a number");
    s = tiny_vocab("gpt2");
    drop_kv(&s, "tokenizer.ggml.tokens");
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.tokens", "no tokens");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.tokens", .type = SLM_GGUF_STRING, .string = "ab"});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.tokens", "tokens as a string");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.tokens", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 0, .array = short_tokens});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.tokens", "empty tokens");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.token_type", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT32,
                             .array_count = 2, .array = two_types});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.token_type", "too few token types");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.token_type", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT32,
                             .array_count = 3, .array = bad_type});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.token_type", "token type 9");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.token_type", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 3, .array = three_strings});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.token_type", "token types as strings");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.bos_token_id", .type = SLM_GGUF_UINT32, .u = 3});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.bos_token_id", "bos outside the vocabulary");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.eos_token_id", .type = SLM_GGUF_INT32, .i = -1});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.eos_token_id", "negative eos");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.padding_token_id", .type = SLM_GGUF_UINT32, .u = 70000});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.padding_token_id", "padding id outside the vocabulary");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.unknown_token_id", .type = SLM_GGUF_STRING, .string = "1"});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.unknown_token_id", "unknown id as a string");
    s = tiny_vocab("gpt2");
    drop_kv(&s, "tokenizer.ggml.bos_token_id");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.add_bos_token", .type = SLM_GGUF_BOOL, .u = 1});
    check_refused(&s, SLM_ERR_FORMAT, "add_bos_token", "add_bos without a bos (default 11 is outside)");
    s = tiny_vocab("gpt2");
    drop_kv(&s, "tokenizer.ggml.merges");
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.merges", "gpt2 without merges");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.merges", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 1, .array = bad_merge});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.merges[0]", "merge of an unknown token");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.merges", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 1, .array = no_space});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.merges[0]", "merge without a space");
    s = tiny_vocab("gpt2");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.merges", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT64,
                             .array_count = 1, .array = int_merges});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.merges", "merges as numbers");

    /* llama: scores, byte tokens, what llama2c_vocab.c's encoder cannot do */
    static const char *const spm_tokens[] = {"<unk>", "<s>", "zz"};
    static const int32_t spm_types[] = {2, 3, 6};
    s = tiny_vocab("llama");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.tokens", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 3, .array = spm_tokens});
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.token_type", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT32,
                             .array_count = 3, .array = spm_types});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.tokens[2]", "byte token that is not <0xXX>");
    s = tiny_vocab("llama");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.scores", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_FLOAT32,
                             .array_count = 3, .array = nan_scores});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.scores[1]", "NaN score");
    s = tiny_vocab("llama");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.scores", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 3, .array = three_strings});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.scores", "scores as strings");
    s = tiny_vocab("llama");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.add_eos_token", .type = SLM_GGUF_BOOL, .u = 1});
    check_refused(&s, SLM_ERR_UNSUPPORTED, "add_eos_token 1", "llama with add_eos");
    s = tiny_vocab("llama");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.add_bos_token", .type = SLM_GGUF_UINT8, .u = 1});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.add_bos_token", "add_bos as a number");

    /* bert: CLS and SEP must exist (the defaults 101/102 are outside three tokens) */
    s = tiny_vocab("bert");
    check_refused(&s, SLM_ERR_FORMAT, "seperator_token_id", "bert without SEP");
    s = tiny_vocab("bert");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.seperator_token_id", .type = SLM_GGUF_UINT32, .u = 1000000});
    check_refused(&s, SLM_ERR_FORMAT, "tokenizer.ggml.seperator_token_id", "bert SEP outside");

    /* a tiny bert: "▁ab" is the word "ab", "b" the continuation "##b" */
    static const char *const wpm_tokens[] = {"[CLS]", "[SEP]", ("\xE2\x96\x81" "a"), "b", "[UNK]"};
    static const int32_t wpm_types[] = {3, 3, 1, 1, 3};
    s = tiny_vocab("bert");
    drop_kv(&s, "tokenizer.ggml.merges");
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.tokens", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                             .array_count = 5, .array = wpm_tokens});
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.token_type", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT32,
                             .array_count = 5, .array = wpm_types});
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.bos_token_id", .type = SLM_GGUF_UINT32, .u = 0});
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.seperator_token_id", .type = SLM_GGUF_UINT32, .u = 1});
    set_kv(&s, (slm_gguf_kv){.key = "tokenizer.ggml.unknown_token_id", .type = SLM_GGUF_UINT32, .u = 4});
    tok = load_set(&s, &err);
    CHECK(tok != NULL, "tiny bert: %s", err.message);
    /* "AB b" lowercases to "ab b": [CLS] a ##b [UNK] [SEP] ("b" cannot start a word) */
    static const int32_t want[] = {0, 2, 3, 4, 1};
    CHECK(tok && tokenize(tok, "AB b", 4, 1, &ids, &n) && n == 5 && memcmp(ids, want, sizeof want) == 0, "tiny bert ids");
    if (tok) slm_free(ids);
    slm_tokenizer_free(tok);
}

int main(void) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/slm_test_gguf_tok_XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    json_t *root = load_fixture("tokenizers/fixtures/texts.json");
    texts = json_object_get(root, "texts");
    test_read_gpt2();
    test_read_llama();
    test_read_bert();
    test_pre_families();
    test_write_gpt2();
    test_write_phi();
    test_write_llama2c();
    test_write_llama_json();
    test_write_wordpiece();
    test_write_unsupported();
    test_tiny_and_hostile();
    json_decref(root);
    remove(tmp_path);
    TEST_END();
}
