/* test_tokenizer.c — slm's tokenizers against what the reference implementations computed:
 * Hugging Face transformers/tokenizers (fast.json), llama.cpp's vocab tests (.inp/.out) and
 * SentencePiece (raw_sentencepiece.json). The expected values are theirs, copied into
 * tests/data/tokenizers/ (see PROVENANCE.md); none is computed here. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokenizer_fixture.h"
#include "tokenizers/tokenizer.h"

/* got (NUL-terminated, from slm_detokenize) equals expected[0..len)? A C string cannot carry a NUL,
 * so for an expected text with NUL bytes (text 48) only the part before the first NUL is comparable;
 * the pieces check in check_round_trip covers the rest. */
static int same_text(const char *got, const char *expected, size_t len) {
    const char *nul = memchr(expected, '\0', len);
    size_t n = nul ? (size_t)(nul - expected) : len;
    return got && strlen(got) == n && memcmp(got, expected, n) == 0;
}

/* ids of a JSON array equal to got[0..n)? Prints the first difference. */
static int same_ids(json_t *expected, const int32_t *got, size_t n, const char *what) {
    int same = json_array_size(expected) == n;
    for (size_t i = 0; same && i < n; i++) same = json_integer_value(json_array_get(expected, i)) == got[i];
    if (!same) {
        fprintf(stderr, "  %s\n    expected:", what);
        for (size_t i = 0; i < json_array_size(expected); i++)
            fprintf(stderr, " %lld", (long long)json_integer_value(json_array_get(expected, i)));
        fprintf(stderr, "\n    got:     ");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)got[i]);
        fprintf(stderr, "\n");
    }
    return same;
}

/* Encodes text and compares with expected ids; returns 1 when they match. */
static int check_encode(const slm_tokenizer *tok, const char *text, size_t len, int add_special, json_t *expected,
                        const char *what) {
    int32_t *ids = NULL;
    size_t n = 0;
    slm_error err = {0};
    slm_status st = slm_tokenize(tok, text, len, add_special, &ids, &n, &err);
    CHECK(st == SLM_OK, "%s: %s", what, err.message);
    int same = st == SLM_OK && same_ids(expected, ids, n, what);
    CHECK(same, "%s: ids differ from the reference", what);
    slm_free(ids);
    return same;
}

/* Decodes expected ids and compares with the reference's decode string. */
static void check_decode(const slm_tokenizer *tok, json_t *ids_json, int skip_special, json_t *expected,
                         const char *what) {
    size_t n = json_array_size(ids_json);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(ids_json, i));
    char *text = NULL;
    slm_error err = {0};
    slm_status st = slm_detokenize(tok, ids, n, skip_special, &text, &err);
    CHECK(st == SLM_OK, "%s: %s", what, err.message);
    int same = st == SLM_OK && same_text(text, json_string_value(expected), json_string_length(expected));
    CHECK(same, "%s (skip_special=%d): decode \"%s\" expected \"%s\"", what, skip_special, text ? text : "",
          json_string_value(expected));
    slm_free(text);
    free(ids);
}

/* A transformers fast.json fixture: ids with and without special tokens, and both decodes, for every text. */
static void check_fast_fixture(const slm_tokenizer *tok, const char *fixture, const char *name) {
    json_t *root = load_fixture(fixture);
    if (!root) return;
    json_t *single = json_object_get(root, "single");
    CHECK(json_array_size(single) == json_array_size(texts), "%s: %zu cases for %zu texts", name,
          json_array_size(single), json_array_size(texts));
    int matched = 0;
    size_t i;
    json_t *c;
    json_array_foreach(single, i, c) {
        json_t *text = json_array_get(texts, (size_t)json_integer_value(json_object_get(c, "i")));
        static const char *const kinds[2] = {"no_special", "with_special"};
        for (int add = 0; add < 2; add++) {
            json_t *enc = json_object_get(c, kinds[add]);
            char what[256];
            snprintf(what, sizeof what, "%s text %lld %s", name, (long long)json_integer_value(json_object_get(c, "i")),
                     kinds[add]);
            matched += check_encode(tok, json_string_value(text), json_string_length(text), add,
                                    json_object_get(enc, "ids"), what);
            check_decode(tok, json_object_get(enc, "ids"), 0, json_object_get(enc, "decode"), what);
            check_decode(tok, json_object_get(enc, "ids"), 1, json_object_get(enc, "decode_skip_special"), what);
        }
    }
    printf("%s: %d of %zu encodings match transformers\n", name, matched, 2 * json_array_size(single));
    json_decref(root);
}

/* llama.cpp's vocab tests for the vocab file STEM (tokenizer_fixture.h's reader). */
static void check_llamacpp(const slm_tokenizer *tok, const char *stem, const char *name) {
    check_llamacpp_vectors_with(slm_encode_plain, tok, stem, name);
}

/* decode(encode(text)) == text, and the pieces concatenate to the same text. */
static void check_round_trip(const slm_tokenizer *tok, const char *text, size_t len, const char *what) {
    int32_t *ids = NULL;
    size_t n = 0;
    char *back = NULL;
    slm_error err = {0};
    CHECK(slm_tokenize(tok, text, len, 0, &ids, &n, &err) == SLM_OK, "%s: %s", what, err.message);
    CHECK(slm_detokenize(tok, ids, n, 0, &back, &err) == SLM_OK, "%s: %s", what, err.message);
    CHECK(same_text(back, text, len), "%s: round trip gave \"%.200s\"", what, back ? back : "");
    char *joined = malloc(len + 1);
    size_t used = 0;
    int fits = 1;
    for (size_t i = 0; i < n && fits; i++) {
        size_t k;
        const char *piece = slm_tokenizer_piece(tok, i ? ids[i - 1] : -1, ids[i], &k);
        fits = piece && used + k <= len;
        if (fits) memcpy(joined + used, piece, k), used += k;
    }
    CHECK(fits && used == len && memcmp(joined, text, len) == 0, "%s: pieces do not concatenate to the text", what);
    free(joined);
    slm_free(back);
    slm_free(ids);
}

static void check_all_round_trips(const slm_tokenizer *tok, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(texts, i, t) {
        char what[128];
        snprintf(what, sizeof what, "%s round trip of text %zu", name, i);
        check_round_trip(tok, json_string_value(t), json_string_length(t), what);
    }
}

static void check_invalid_utf8(const slm_tokenizer *tok, const char *name) {
    static const struct {
        const char *bytes;
        size_t len, offset;
    } bad[] = {
        {"abc\xff", 4, 3},          /* never valid */
        {"\xc3", 1, 0},             /* truncated */
        {"ok \xc0\xaf", 5, 3},      /* overlong '/' */
        {"\xed\xa0\x80", 3, 0},     /* surrogate */
        {"x\xf4\x90\x80\x80", 5, 1}, /* beyond U+10FFFF */
        {"\xe2\x82", 2, 0},         /* cut short */
        {"caf\xc3\xa9\x80", 6, 5},  /* stray continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        slm_error err = {0};
        slm_status st = slm_tokenize(tok, bad[i].bytes, bad[i].len, 1, &ids, &n, &err);
        char offset[64];
        snprintf(offset, sizeof offset, "offset %zu", bad[i].offset);
        CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, offset), "%s: invalid UTF-8 case %zu: %s (%s)",
              name, i, slm_status_name(st), err.message);
        slm_free(ids);
    }
}

static void check_empty(const slm_tokenizer *tok, int n_with_special, const char *name) {
    int32_t *ids = NULL;
    size_t n = 99;
    slm_error err = {0};
    CHECK(slm_tokenize(tok, "", 0, 0, &ids, &n, &err) == SLM_OK && n == 0, "%s: empty text gave %zu ids", name, n);
    slm_free(ids);
    CHECK(slm_tokenize(tok, NULL, 0, 1, &ids, &n, &err) == SLM_OK && n == (size_t)n_with_special,
          "%s: empty text with specials gave %zu ids", name, n);
    slm_free(ids);
}

/* A long text (about 1 MB, plus a 200 KB run without spaces) encodes quickly and round-trips. */
static void check_long_text(const slm_tokenizer *tok, const char *name) {
    size_t cap = 1 << 21, len = 0;
    char *text = malloc(cap);
    while (len < (1u << 20)) {
        size_t i;
        json_t *t;
        json_array_foreach(texts, i, t) {
            size_t n = json_string_length(t);
            if (len + n + 1 >= cap) break;
            memcpy(text + len, json_string_value(t), n);
            len += n;
            text[len++] = ' ';
        }
    }
    for (int i = 0; i < 200000 && len < cap; i++) text[len++] = "xy"[i % 3 == 0];
    clock_t start = clock();
    char what[128];
    snprintf(what, sizeof what, "%s long text (%zu bytes)", name, len);
    check_round_trip(tok, text, len, what);
    double seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    printf("%s: %.2f s\n", what, seconds);
    CHECK(seconds < 30, "%s: took %.1f s", what, seconds);
    free(text);
}

/* ---- bad files ---- */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void check_bad_files(void) {
    char path[1024], dir[64];
    snprintf(dir, sizeof dir, "/tmp/slm_test_tokenizer_%d", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/empty %s/bad_json %s/wordpiece %s/bad_merge", dir, dir, dir, dir);
    CHECK(system(cmd) == 0, "mkdir %s", dir);

    size_t size = 0;
    char *bin = read_file(test_path(path, sizeof path, "tokenizers/llama2c/tokenizer.bin"), &size);
    CHECK(bin != NULL, "cannot read tokenizer.bin");
    if (bin) {
        static const size_t cuts[] = {0, 2, 4, 7, 11, 1000, 433000};
        for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
            snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
            write_file(path, bin, cuts[i]);
            char what[64];
            snprintf(what, sizeof what, "tokenizer.bin cut at %zu bytes", cuts[i]);
            check_rejected(path, what);
        }
        int32_t huge = 1 << 30, negative = -5;
        memcpy(bin, &huge, 4);
        write_file(path, bin, size);
        check_rejected(path, "tokenizer.bin with a huge max_token_length");
        memcpy(bin, "\x1b\0\0\0", 4);
        memcpy(bin + 8, &negative, 4); /* the first token's length */
        write_file(path, bin, size);
        check_rejected(path, "tokenizer.bin with a negative token length");
        free(bin);
    }
    unsigned char garbage[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) x = x * 1103515245u + 12345u, garbage[i] = (unsigned char)(x >> 16);
    snprintf(path, sizeof path, "%s/tok_garbage.bin", dir);
    write_file(path, garbage, sizeof garbage);
    check_rejected(path, "garbage tok*.bin");

    snprintf(path, sizeof path, "%s/empty", dir);
    check_rejected(path, "a folder without tokenizer files");
    snprintf(path, sizeof path, "%s/missing.json", dir);
    check_rejected(path, "a missing tokenizer.json");

    static const struct {
        const char *json, *what;
    } bad_json[] = {
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [", "truncated JSON"},
        {"[1, 2, 3]", "not an object"},
        {"{\"version\": \"1.0\"}", "no model"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]},"
         " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"decoder\": {\"type\": \"ByteLevel\"}}",
         "a merge whose result is not in the vocabulary"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", "a negative id"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]},"
         " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"decoder\": {\"type\": \"ByteLevel\"}}",
         "a merge that is one token"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "a WordPiece model without BertPreTokenizer"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
         " \"added_tokens\": [{\"id\": 5}]}", "an added token without content"},
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        snprintf(path, sizeof path, "%s/bad_json/tokenizer.json", dir);
        write_file(path, bad_json[i].json, strlen(bad_json[i].json));
        check_rejected(path, bad_json[i].what);
    }
    /* a folder whose merges.txt names a token vocab.json lacks */
    snprintf(path, sizeof path, "%s/bad_merge/vocab.json", dir);
    write_file(path, "{\"a\": 0, \"b\": 1, \"ab\": 2}", 25);
    snprintf(path, sizeof path, "%s/bad_merge/merges.txt", dir);
    write_file(path, "#version: 0.2\na b\nab c\n", 23);
    slm_error err = {0};
    snprintf(path, sizeof path, "%s/bad_merge", dir);
    slm_tokenizer *tok = slm_tokenizer_load(path, &err);
    CHECK(!tok && err.status == SLM_ERR_FORMAT && strstr(err.message, "merges.txt"), "bad merges.txt: %s", err.message);
    slm_tokenizer_free(tok);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "rm %s", dir);
}

/* ---- the tokenizers ---- */

static void test_gpt2(void) {
    slm_tokenizer *tok = load("tokenizers/gpt2"); /* vocab.json + merges.txt: no tokenizer.json there */
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 50257, "gpt2 vocab %d", slm_tokenizer_vocab_size(tok));
    CHECK(slm_tokenizer_bos(tok) == 50256 && slm_tokenizer_eos(tok) == 50256, "gpt2 bos %d eos %d",
          slm_tokenizer_bos(tok), slm_tokenizer_eos(tok));
    CHECK(slm_token_text(tok, 995) && strcmp(slm_token_text(tok, 995), "\xc4\xa0world") == 0, "gpt2 token 995");
    CHECK(slm_token_text(tok, 50257) == NULL && slm_token_text(tok, -1) == NULL, "gpt2 ids out of range");
    CHECK(slm_tokenizer_is_special(tok, 50256) && !slm_tokenizer_is_special(tok, 995), "gpt2 specials");
    size_t n;
    const char *piece = slm_tokenizer_piece(tok, -1, 995, &n);
    CHECK(piece && n == 6 && memcmp(piece, " world", 6) == 0, "gpt2 piece of 995");
    check_fast_fixture(tok, "tokenizers/fixtures/gpt2_fast.json", "gpt2");
    check_llamacpp(tok, "ggml-vocab-gpt-2.gguf", "gpt2 llama.cpp");
    check_all_round_trips(tok, "gpt2");
    check_invalid_utf8(tok, "gpt2");
    check_empty(tok, 0, "gpt2");
    check_long_text(tok, "gpt2");
    /* slm_encode offsets, as shared/fixtures/tokenizers/openai-community__gpt2/fast.json gives them for
     * text 22 ("family: 👨‍👩..."): byte-level tokens that split a character all cover it */
    static const char family[] = "family: \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9";
    static const int32_t family_ids[] = {17989, 25, 50169, 101, 447, 235, 41840, 102};
    static const int32_t family_offsets[] = {0, 6, 6, 7, 7, 9, 8, 9, 9, 10, 9, 10, 10, 11, 10, 11};
    slm_encoding *enc = NULL;
    CHECK(slm_encode(tok, family, sizeof family - 1, NULL, 0, NULL, &enc, NULL) == SLM_OK && enc && enc->n == 8 &&
              memcmp(enc->ids, family_ids, sizeof family_ids) == 0 &&
              memcmp(enc->offsets, family_offsets, sizeof family_offsets) == 0,
          "gpt2 slm_encode offsets");
    slm_encoding_free(enc);
    CHECK(slm_encode(tok, "Hello", 5, "Hi", 2, NULL, &enc, NULL) == SLM_OK && enc && enc->n == 2 &&
              enc->type_ids[0] == 0 && enc->type_ids[1] == 1 && enc->sequence_ids[1] == 1,
          "gpt2 pair: type ids 0 then 1");
    slm_encoding_free(enc);
    int32_t bad_id = 60000;
    char *text = NULL;
    slm_error err = {0};
    CHECK(slm_detokenize(tok, &bad_id, 1, 0, &text, &err) == SLM_ERR_INVALID_ARGUMENT, "gpt2 decode of id 60000");
    slm_tokenizer_free(tok);
}

static void test_phi(void) {
    slm_tokenizer *tok = load("tokenizers/phi-1_5");
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 50295, "phi vocab %d", slm_tokenizer_vocab_size(tok));
    CHECK(slm_tokenizer_bos(tok) == 50256 && slm_tokenizer_eos(tok) == 50256, "phi bos/eos");
    CHECK(slm_tokenizer_is_special(tok, 50256) && !slm_tokenizer_is_special(tok, 50257), "phi specials");
    CHECK(slm_token_text(tok, 50294) && strcmp(slm_token_text(tok, 50294), "\t\t") == 0, "phi added token 50294");
    check_fast_fixture(tok, "tokenizers/fixtures/phi-1_5_fast.json", "phi-1_5");
    check_llamacpp(tok, "ggml-vocab-phi-2.gguf", "phi-1_5 llama.cpp (phi-2 vocab)");
    check_all_round_trips(tok, "phi-1_5");
    check_invalid_utf8(tok, "phi-1_5");
    check_empty(tok, 0, "phi-1_5");
    check_long_text(tok, "phi-1_5");
    slm_tokenizer_free(tok);

    /* the same tokenizer named by its tokenizer.json file */
    tok = load("tokenizers/phi-1_5/tokenizer.json");
    if (tok) check_fast_fixture(tok, "tokenizers/fixtures/phi-1_5_fast.json", "phi-1_5 (file path)");
    slm_tokenizer_free(tok);
}

static void test_tiny_gpt2(void) {
    slm_tokenizer *tok = load("tokenizers/tiny_gpt2"); /* 21 tokens: most characters are unknown and dropped */
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 21, "tiny_gpt2 vocab %d", slm_tokenizer_vocab_size(tok));
    CHECK(slm_tokenizer_bos(tok) == 20 && slm_tokenizer_eos(tok) == 20, "tiny_gpt2 bos/eos");
    CHECK(slm_tokenizer_is_special(tok, 19) && slm_tokenizer_is_special(tok, 20), "tiny_gpt2 specials");
    check_fast_fixture(tok, "tokenizers/fixtures/tiny_gpt2_fast.json", "tiny_gpt2");
    slm_tokenizer_free(tok);
}

static void test_llama2c(void) {
    slm_tokenizer *tok = load("tokenizers/llama2c/tokenizer.bin");
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 32000, "llama2c vocab %d", slm_tokenizer_vocab_size(tok));
    CHECK(slm_tokenizer_bos(tok) == 1 && slm_tokenizer_eos(tok) == 2, "llama2c bos/eos");
    CHECK(slm_tokenizer_is_special(tok, 1) && slm_tokenizer_is_special(tok, 2) && !slm_tokenizer_is_special(tok, 13),
          "llama2c specials");
    size_t n;
    const char *p = slm_tokenizer_piece(tok, 100, 13, &n);
    CHECK(p && n == 1 && p[0] == '\n', "llama2c <0x0A> piece");
    p = slm_tokenizer_piece(tok, 1, 15043, &n); /* " Hello" after BOS loses its space */
    CHECK(p && n == 5 && memcmp(p, "Hello", 5) == 0, "llama2c piece after BOS");
    p = slm_tokenizer_piece(tok, 100, 15043, &n);
    CHECK(p && n == 6 && memcmp(p, " Hello", 6) == 0, "llama2c piece mid-text");

    json_t *root = load_fixture("tokenizers/fixtures/llama2c_raw_sentencepiece.json");
    int matched = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        json_t *text = json_array_get(texts, (size_t)json_integer_value(json_object_get(c, "i")));
        json_t *ids = json_object_get(c, "ids");
        char what[128];
        snprintf(what, sizeof what, "llama2c text %lld vs SentencePiece", (long long)json_integer_value(json_object_get(c, "i")));
        matched += check_encode(tok, json_string_value(text), json_string_length(text), 0, ids, what);
        json_t *with_bos = json_array();
        json_array_append_new(with_bos, json_integer(1));
        json_array_extend(with_bos, ids);
        check_encode(tok, json_string_value(text), json_string_length(text), 1, with_bos, what);
        check_decode(tok, ids, 0, json_object_get(c, "decode"), what);
        check_decode(tok, with_bos, 1, json_object_get(c, "decode"), what);
        json_decref(with_bos);
    }
    printf("llama2c: %d of %zu encodings match SentencePiece\n", matched, json_array_size(json_object_get(root, "single")));
    json_decref(root);
    check_llamacpp(tok, "ggml-vocab-llama-spm.gguf", "llama2c llama.cpp (llama-spm)");
    check_all_round_trips(tok, "llama2c");
    check_invalid_utf8(tok, "llama2c");
    check_empty(tok, 1, "llama2c");
    check_long_text(tok, "llama2c");
    slm_tokenizer_free(tok);
}

static void test_tok512(void) {
    char path[1024];
    slm_error err = {0};
    snprintf(path, sizeof path, "%s/../../models/stories260K/tok512.bin", test_data_dir());
    slm_tokenizer *tok = slm_tokenizer_load(path, &err);
    CHECK(tok != NULL, "%s: %s", path, err.message);
    if (!tok) return;
    CHECK(slm_tokenizer_vocab_size(tok) == 512, "tok512 vocab %d", slm_tokenizer_vocab_size(tok));
    check_all_round_trips(tok, "tok512");
    check_long_text(tok, "tok512");
    slm_tokenizer_free(tok);
    /* a llama2.c checkpoint finds its tokenizer beside it */
    snprintf(path, sizeof path, "%s/../../models/stories260K/stories260K.bin", test_data_dir());
    tok = slm_tokenizer_load(path, &err);
    CHECK(tok && slm_tokenizer_vocab_size(tok) == 512, "checkpoint path: %s", tok ? "wrong vocab" : err.message);
    slm_tokenizer_free(tok);
}

int main(void) {
    json_t *root = load_fixture("tokenizers/fixtures/texts.json");
    texts = json_object_get(root, "texts");
    CHECK(json_array_size(texts) == 68, "texts.json has %zu texts", json_array_size(texts));
    test_gpt2();
    test_phi();
    test_tiny_gpt2();
    test_llama2c();
    test_tok512();
    check_bad_files();
    json_decref(root);
    TEST_END();
}
