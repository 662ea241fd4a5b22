/* test_wordpiece.c — BERT's WordPiece tokenizer and the slm_encode API against the reference:
 * ids, token_type_ids, offsets and decode strings written by Hugging Face transformers 5.17 /
 * tokenizers 0.23.2 (tests/data/tokenizers/PROVENANCE.md), for every text and pair of the shared
 * fixture texts, loaded from tokenizer.json and from vocab.txt alone; llama.cpp's bert-bge vectors;
 * truncation, errors and edge cases. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tokenizer_fixture.h"
#include "tokenizers/tokenizer.h"

/* exact-match counters of one tokenizer, printed for the report */
typedef struct {
    int ids, type_ids, offsets, decode, total, decode_total;
} tally;

static slm_encoding *encode(const slm_tokenizer *tok, size_t a, long b, int add_special, int max_length) {
    size_t la, lb = 0;
    const char *ta = text_at(a, &la), *tb = b >= 0 ? text_at((size_t)b, &lb) : NULL;
    slm_encode_params p = slm_encode_default_params();
    p.add_special = add_special;
    p.max_length = max_length;
    slm_encoding *enc = NULL;
    slm_error err = {0};
    slm_status st = slm_encode(tok, ta, la, tb, lb, &p, &enc, &err);
    CHECK(st == SLM_OK && enc, "encode text %zu / %ld: %s", a, b, err.message);
    return enc;
}

/* expected: {ids, token_type_ids, offsets}; decodes: {decode, decode_skip_special} (may be NULL). */
static void check_one(const slm_tokenizer *tok, const slm_encoding *enc, json_t *expected, json_t *decodes,
                      const char *what, tally *t) {
    if (!enc) return;
    int ok_ids = same_ints(json_object_get(expected, "ids"), enc->ids, enc->n);
    int ok_types = same_ints(json_object_get(expected, "token_type_ids"), enc->type_ids, enc->n);
    int ok_offsets = same_offsets(json_object_get(expected, "offsets"), enc->offsets, enc->n);
    CHECK(ok_ids, "%s: ids differ (%zu tokens)", what, enc->n);
    t->total++;
    t->ids += ok_ids;
    if (json_object_get(expected, "token_type_ids")) {
        CHECK(ok_types, "%s: token_type_ids differ", what);
        t->type_ids += ok_types;
    }
    if (json_object_get(expected, "offsets")) {
        CHECK(ok_offsets, "%s: offsets differ", what);
        t->offsets += ok_offsets;
    }
    for (int skip = 0; decodes && skip <= 1; skip++) {
        json_t *want = json_object_get(decodes, skip ? "decode_skip_special" : "decode");
        if (!want) continue;
        char *text = NULL;
        slm_error err = {0};
        slm_status st = slm_detokenize(tok, enc->ids, enc->n, skip, &text, &err);
        int ok = st == SLM_OK && text && strcmp(text, json_string_value(want)) == 0;
        CHECK(ok, "%s: decode(skip_special=%d) = \"%s\", want \"%s\"", what, skip, text ? text : err.message,
              json_string_value(want));
        t->decode_total++;
        t->decode += ok;
        slm_free(text);
    }
}

/* Every text (with and without specials) and every pair of a fixture; ids_from: where ids,
 * type ids and offsets are; decodes_from: where the decode strings are (the same file, or the
 * slow tokenizer's decodes). */
static void check_fixture(const slm_tokenizer *tok, json_t *ids_from, json_t *decodes_from, const char *name) {
    tally t = {0};
    json_t *singles = json_object_get(ids_from, "single"), *dsingles = json_object_get(decodes_from, "single");
    for (size_t k = 0; k < json_array_size(singles); k++) {
        json_t *entry = json_array_get(singles, k), *dentry = json_array_get(dsingles, k);
        size_t i = (size_t)json_integer_value(json_object_get(entry, "i"));
        CHECK(json_integer_value(json_object_get(dentry, "i")) == (json_int_t)i, "%s: fixtures out of step", name);
        for (int add = 1; add >= 0; add--) {
            const char *key = add ? "with_special" : "no_special";
            char what[128];
            snprintf(what, sizeof what, "%s text %zu %s", name, i, key);
            slm_encoding *enc = encode(tok, i, -1, add, 0);
            check_one(tok, enc, json_object_get(entry, key), json_object_get(dentry, key), what, &t);
            /* slm_tokenize gives the same ids */
            int32_t *ids = NULL;
            size_t n = 0, len;
            const char *text = text_at(i, &len);
            slm_status st = slm_tokenize(tok, text, len, add, &ids, &n, NULL);
            CHECK(st == SLM_OK && enc && n == enc->n && (n == 0 || memcmp(ids, enc->ids, n * sizeof *ids) == 0),
                  "%s: slm_tokenize differs from slm_encode", what);
            slm_free(ids);
            slm_encoding_free(enc);
        }
    }
    json_t *pairs = json_object_get(ids_from, "pairs"), *dpairs = json_object_get(decodes_from, "pairs");
    for (size_t k = 0; k < json_array_size(pairs); k++) {
        json_t *entry = json_array_get(pairs, k), *dentry = json_array_get(dpairs, k);
        size_t a = (size_t)json_integer_value(json_object_get(entry, "a"));
        long b = (long)json_integer_value(json_object_get(entry, "b"));
        char what[128];
        snprintf(what, sizeof what, "%s pair (%zu, %ld)", name, a, b);
        slm_encoding *enc = encode(tok, a, b, 1, 0);
        json_t *dec = json_object_get(dentry, "enc") ? json_object_get(dentry, "enc") : dentry;
        check_one(tok, enc, json_object_get(entry, "enc"), dec, what, &t);
        if (enc) {
            int seq_ok = 1;
            for (size_t j = 0; j < enc->n; j++) {
                int special = enc->sequence_ids[j] < 0;
                seq_ok &= special == (enc->offsets[2 * j] == 0 && enc->offsets[2 * j + 1] == 0 &&
                                      (enc->ids[j] == 101 || enc->ids[j] == 102));
            }
            CHECK(seq_ok, "%s: sequence_ids", what);
        }
        slm_encoding_free(enc);
    }
    printf("%s: exact matches: ids %d/%d, type_ids %d/%d, offsets %d/%d, decode %d/%d\n", name, t.ids, t.total,
           t.type_ids, t.total, t.offsets, t.total, t.decode, t.decode_total);
}

/* The padded batch of fast.json: right padding with [PAD] to the longest, attention mask. */
static void check_batch(const slm_tokenizer *tok, json_t *fixture) {
    json_t *batch = json_object_get(fixture, "batch"), *which = json_object_get(batch, "texts");
    json_t *want_ids = json_object_get(batch, "input_ids"), *want_mask = json_object_get(batch, "attention_mask");
    size_t n = json_array_size(which), longest = 0;
    slm_encoding *enc[8] = {0};
    for (size_t k = 0; k < n && k < 8; k++) {
        enc[k] = encode(tok, (size_t)json_integer_value(json_array_get(which, k)), -1, 1, 0);
        if (enc[k] && enc[k]->n > longest) longest = enc[k]->n;
    }
    int32_t pad = slm_tokenizer_special(tok, "pad");
    for (size_t k = 0; k < n && k < 8; k++) {
        int32_t row[512], mask[512];
        for (size_t j = 0; j < longest && j < 512; j++) {
            int real = enc[k] && j < enc[k]->n;
            row[j] = real ? enc[k]->ids[j] : pad;
            mask[j] = real;
        }
        CHECK(same_ints(json_array_get(want_ids, k), row, longest), "batch row %zu input_ids", k);
        CHECK(same_ints(json_array_get(want_mask, k), mask, longest), "batch row %zu attention_mask", k);
        slm_encoding_free(enc[k]);
    }
}

/* llama.cpp's test vectors: the .out lines hold the ids without [CLS]/[SEP]. */
static void check_llamacpp_bge(const slm_tokenizer *tok) {
    char path[1024];
    char *inp = read_file(test_path(path, sizeof path, "tokenizers/llamacpp/ggml-vocab-bert-bge.gguf.inp"), NULL);
    char *out = read_file(test_path(path, sizeof path, "tokenizers/llamacpp/ggml-vocab-bert-bge.gguf.out"), NULL);
    CHECK(inp && out, "cannot read the bert-bge vectors");
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *text = inp, *line = out;
    int n_cases = 0, matched = 0;
    while (inp && out) {
        char *end = strstr(text, sep);
        if (!end) break;
        char *eol = strchr(line, '\n');
        if (!eol) break;
        *eol = '\0';
        int32_t want[1024];
        size_t n_want = 0;
        for (char *p = line, *q; *p && n_want < 1024; p = q) {
            long v = strtol(p, &q, 10);
            if (q == p) break;
            want[n_want++] = (int32_t)v;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        slm_status st = slm_tokenize(tok, text, (size_t)(end - text), 0, &ids, &n, NULL);
        int ok = st == SLM_OK && n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        CHECK(ok, "bert-bge case %d (\"%.*s\")", n_cases, (int)(end - text > 40 ? 40 : end - text), text);
        matched += ok;
        slm_free(ids);
        n_cases++;
        text = end + sizeof sep - 1;
        line = eol + 1;
    }
    CHECK(n_cases > 40, "only %d bert-bge cases read", n_cases);
    printf("llama.cpp bert-bge: %d of %d cases match\n", matched, n_cases);
    free(inp);
    free(out);
}

/* Truncation, with expected values derived from the untruncated reference ids of fast.json:
 *   text 1 with specials is [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102]
 *   (12 tokens); max_length 6 keeps [CLS] + the first 4 words + [SEP], 6 tokens overflow.
 *   pair (0, 1): A = hello , world ! (4 tokens: 7592 1010 2088 999), B = text 1's 10 tokens.
 *   max_length 10 leaves room 7 after [CLS] [SEP] [SEP]; Hugging Face's longest_first gives the
 *   shorter A room/2 = 3 and the longer B 3 + 1 = 4 (both exceed half the room), so the ids are
 *   [101, 7592 1010 2088, 102, 1996 4248 2829 4419, 102] and 14 - 7 = 7 tokens overflow.
 *   max_length 13 (room 10): A keeps its 4, B gets the other 6. */
static void check_truncation(const slm_tokenizer *tok) {
    slm_encoding *e = encode(tok, 1, -1, 1, 6);
    static const int32_t single6[] = {101, 1996, 4248, 2829, 4419, 102};
    CHECK(e && e->n == 6 && memcmp(e->ids, single6, sizeof single6) == 0 && e->n_overflow_tokens == 6,
          "single truncated to 6");
    slm_encoding_free(e);
    e = encode(tok, 1, -1, 1, 512);
    CHECK(e && e->n == 12 && e->n_overflow_tokens == 0, "no truncation below max_length");
    slm_encoding_free(e);
    e = encode(tok, 1, -1, 0, 3);
    static const int32_t nospecial3[] = {1996, 4248, 2829};
    CHECK(e && e->n == 3 && memcmp(e->ids, nospecial3, sizeof nospecial3) == 0 && e->n_overflow_tokens == 7,
          "no specials, truncated to 3");
    slm_encoding_free(e);
    e = encode(tok, 0, 1, 1, 10);
    static const int32_t pair10[] = {101, 7592, 1010, 2088, 102, 1996, 4248, 2829, 4419, 102};
    static const int32_t types10[] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    CHECK(e && e->n == 10 && memcmp(e->ids, pair10, sizeof pair10) == 0 &&
              memcmp(e->type_ids, types10, sizeof types10) == 0 && e->n_overflow_tokens == 7,
          "pair truncated to 10 (longest_first)");
    slm_encoding_free(e);
    e = encode(tok, 0, 1, 1, 13);
    static const int32_t pair13[] = {101, 7592, 1010, 2088, 999, 102, 1996, 4248, 2829, 4419, 14523, 2058, 102};
    CHECK(e && e->n == 13 && memcmp(e->ids, pair13, sizeof pair13) == 0 && e->n_overflow_tokens == 4,
          "pair truncated to 13: only the longer loses tokens");
    slm_encoding_free(e);
    slm_encode_params p = slm_encode_default_params();
    p.max_length = 2;
    slm_error err = {0};
    CHECK(slm_encode(tok, "a", 1, "b", 1, &p, &e, &err) == SLM_ERR_INVALID_ARGUMENT && e == NULL,
          "max_length below the specials of a pair is rejected");
}

static void check_edges(const slm_tokenizer *tok) {
    slm_encoding *e = NULL;
    slm_error err = {0};
    CHECK(slm_encode(tok, "ab\xC3", 3, NULL, 0, NULL, &e, &err) == SLM_ERR_INVALID_ARGUMENT && !e,
          "truncated UTF-8 rejected");
    CHECK(slm_encode(tok, "ok", 2, "\xED\xA0\x80", 3, NULL, &e, &err) == SLM_ERR_INVALID_ARGUMENT && !e,
          "surrogate in the pair rejected");
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(slm_tokenize(tok, "\xFF", 1, 1, &ids, &n, &err) == SLM_ERR_INVALID_ARGUMENT, "slm_tokenize rejects 0xFF");
    CHECK(slm_encode(tok, "", 0, NULL, 0, NULL, &e, &err) == SLM_OK && e && e->n == 2 && e->ids[0] == 101 &&
              e->ids[1] == 102,
          "empty text is [CLS] [SEP]");
    slm_encoding_free(e);
    CHECK(slm_encode(tok, " \t\n\r\xE3\x80\x80 ", 8, NULL, 0, NULL, &e, &err) == SLM_OK && e && e->n == 2,
          "whitespace-only text is [CLS] [SEP]");
    slm_encoding_free(e);
    /* a word of 101 characters (max_input_chars_per_word is 100) is one [UNK] spanning it */
    char word[128];
    memset(word, 'b', 101);
    memcpy(word + 101, " ok", 3);
    CHECK(slm_encode(tok, word, 104, NULL, 0, NULL, &e, &err) == SLM_OK && e && e->n == 4 && e->ids[1] == 100 &&
              e->offsets[2] == 0 && e->offsets[3] == 101 && e->offsets[4] == 102 && e->offsets[5] == 104,
          "a 101-character word is [UNK]");
    slm_encoding_free(e);
    /* 100 KB of prose in well under a second */
    size_t big = 100 * 1024;
    char *text = malloc(big + 1);
    static const char phrase[] = "The caf\xC3\xA9 served na\xC3\xAFve r\xC3\xA9sum\xC3\xA9s, didn't it? ";
    for (size_t i = 0; i < big;) {
        size_t k = sizeof phrase - 1 < big - i ? sizeof phrase - 1 : big - i;
        memcpy(text + i, phrase, k);
        i += k;
    }
    size_t len = big;
    while (len > 0 && ((unsigned char)text[len - 1] & 0xC0) == 0x80) len--; /* never cut a character */
    if (len > 0 && (unsigned char)text[len - 1] >= 0xC0) len--;
    clock_t t0 = clock();
    slm_status st = slm_encode(tok, text, len, NULL, 0, NULL, &e, &err);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(st == SLM_OK && e && e->n > 20000, "100 KB text: %s", err.message);
    CHECK(secs < 1.0, "100 KB text took %.2f s", secs);
    slm_encoding_free(e);
    free(text);
    /* roles, token texts, streaming pieces */
    CHECK(slm_tokenizer_special(tok, "cls") == 101 && slm_tokenizer_special(tok, "sep") == 102 &&
              slm_tokenizer_special(tok, "pad") == 0 && slm_tokenizer_special(tok, "mask") == 103 &&
              slm_tokenizer_special(tok, "unk") == 100 && slm_tokenizer_special(tok, "bos") == -1,
          "special roles");
    CHECK(slm_token_text(tok, 2075) && strcmp(slm_token_text(tok, 2075), "##ing") == 0, "token text of ##ing is %s",
          slm_token_text(tok, 2075) ? slm_token_text(tok, 2075) : "NULL");
    CHECK(slm_tokenizer_model_max_length(tok) == 512, "model_max_length %d", slm_tokenizer_model_max_length(tok));
    CHECK(slm_tokenizer_is_special(tok, 101) && !slm_tokenizer_is_special(tok, 7592), "is_special");
}

static void write_file(const char *path, const char *data) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(data, f);
        fclose(f);
    }
}

static void check_bad_files(void) {
    char dir[64], path[256], cmd[512];
    snprintf(dir, sizeof dir, "/tmp/slm_test_wordpiece_%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s/nosep %s/badutf8 %s/empty %s/badjson %s/badunk %s/tiny", dir, dir, dir, dir,
             dir, dir);
    CHECK(system(cmd) == 0, "mkdir %s", dir);
    snprintf(path, sizeof path, "%s/nosep/vocab.txt", dir);
    write_file(path, "[PAD]\n[UNK]\n[CLS]\nhello\n");
    snprintf(path, sizeof path, "%s/nosep", dir);
    check_rejected(path, "vocab.txt without [SEP]");
    snprintf(path, sizeof path, "%s/badutf8/vocab.txt", dir);
    write_file(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhel\xC3lo\n");
    snprintf(path, sizeof path, "%s/badutf8", dir);
    check_rejected(path, "vocab.txt with invalid UTF-8");
    snprintf(path, sizeof path, "%s/empty/vocab.txt", dir);
    write_file(path, "");
    snprintf(path, sizeof path, "%s/empty", dir);
    check_rejected(path, "empty vocab.txt");
    snprintf(path, sizeof path, "%s/badjson/tokenizer.json", dir);
    write_file(path, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}");
    check_rejected(path, "truncated tokenizer.json");
    snprintf(path, sizeof path, "%s/badunk/tokenizer.json", dir);
    write_file(path, "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"a\": 0}},"
                     " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}");
    check_rejected(path, "unk_token missing from the vocabulary");
    /* a minimal valid tokenizer.json: typed model, BertProcessing, no normalizer (case kept) */
    snprintf(path, sizeof path, "%s/tiny/tokenizer.json", dir);
    write_file(path, "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\","
                     " \"max_input_chars_per_word\": 5, \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"Hi\": 3,"
                     " \"##s\": 4, \"!\": 5}}, \"added_tokens\": [{\"id\": 1, \"content\": \"[CLS]\", \"special\": true},"
                     " {\"id\": 2, \"content\": \"[SEP]\", \"special\": true}], \"normalizer\": null,"
                     " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": {\"type\": \"BertProcessing\","
                     " \"cls\": [\"[CLS]\", 1], \"sep\": [\"[SEP]\", 2]}, \"decoder\": {\"type\": \"WordPiece\"}}");
    slm_error err = {0};
    slm_tokenizer *tok = slm_tokenizer_load(path, &err);
    CHECK(tok != NULL, "tiny tokenizer.json: %s", err.message);
    if (tok) {
        slm_encoding *e = NULL;
        /* His ##s ! | hi: no lowercasing, not in the vocabulary | Hissss: 6 characters > 5 */
        static const int32_t want[] = {1, 3, 4, 5, 0, 0, 2, 3, 2};
        CHECK(slm_encode(tok, "His! hi Hissss", 14, "Hi", 2, NULL, &e, &err) == SLM_OK && e && e->n == 9 &&
                  memcmp(e->ids, want, sizeof want) == 0,
              "tiny tokenizer: ids");
        char *text = NULL;
        if (e && slm_detokenize(tok, e->ids, e->n, 1, &text, &err) == SLM_OK)
            CHECK(strcmp(text, "His! [UNK] [UNK] Hi") == 0, "tiny decode \"%s\"", text);
        slm_free(text);
        slm_encoding_free(e);
        slm_tokenizer_free(tok);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "rm %s", dir);
}

int main(void) {
    json_t *texts_root = load_fixture("tokenizers/fixtures/texts.json");
    texts = json_object_get(texts_root, "texts");
    json_t *fast = load_fixture("tokenizers/fixtures/bert_fast.json");
    json_t *slow = load_fixture("tokenizers/fixtures/bert_slow.json");
    CHECK(json_array_size(texts) == 68, "68 texts");

    /* bert-base-uncased (= distilbert-base-uncased = all-MiniLM-L6-v2's fast.json, byte for byte) */
    slm_tokenizer *json_tok = load("tokenizers/bert-base-uncased/tokenizer.json");
    if (json_tok) {
        check_fixture(json_tok, fast, fast, "bert-base-uncased tokenizer.json");
        check_batch(json_tok, fast);
        check_llamacpp_bge(json_tok);
        check_truncation(json_tok);
        check_edges(json_tok);
    }
    /* vocab.txt alone: the slow BertTokenizer, whose decode cleans up spaces (slow.json) */
    slm_tokenizer *txt_tok = load("tokenizers/bert-base-uncased/vocab.txt");
    if (txt_tok) {
        check_fixture(txt_tok, fast, slow, "bert-base-uncased vocab.txt");
        check_truncation(txt_tok);
        check_edges(txt_tok);
    }
    /* bert_tiniest: the same tokenizer.json with clean_up_tokenization_spaces true in its config;
     * its fast decodes equal slow.json's */
    slm_tokenizer *tiny_tok = load("tokenizers/bert_tiniest");
    if (tiny_tok) {
        check_fixture(tiny_tok, fast, slow, "bert_tiniest");
        CHECK(slm_tokenizer_model_max_length(tiny_tok) == 0, "1e30 model_max_length reads as 0");
    }
    /* distilbert-base-uncased-finetuned-sst-2-english ships vocab.txt and this tokenizer_config.json */
    char dir[64], cmd[1200], path[256];
    snprintf(dir, sizeof dir, "/tmp/slm_test_sst2_%d", (int)getpid());
    char vocab[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/", dir,
             test_path(vocab, sizeof vocab, "tokenizers/bert-base-uncased/vocab.txt"), dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"model_max_length\": 512, \"do_lower_case\": true}");
    slm_error err = {0};
    slm_tokenizer *sst2 = slm_tokenizer_load(dir, &err);
    CHECK(sst2 != NULL, "sst2 folder: %s", err.message);
    if (sst2) {
        json_t *singles = json_object_get(fast, "single");
        int same = 0;
        for (size_t k = 0; k < json_array_size(singles); k++) {
            slm_encoding *e = encode(sst2, k, -1, 1, 0);
            same += e && same_ints(json_object_get(json_object_get(json_array_get(singles, k), "with_special"), "ids"),
                                   e->ids, e->n);
            slm_encoding_free(e);
        }
        CHECK(same == 68, "sst2 ids match bert-base-uncased on %d of 68 texts", same);
        slm_tokenizer_free(sst2);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    /* the real sst2 folder, where the workplace data is present */
    slm_tokenizer *real = slm_tokenizer_load("/work/shared/assets/hf/distilbert__distilbert-base-uncased-finetuned-sst-2-english", NULL);
    if (real) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(slm_tokenize(real, "Hello, world!", 13, 1, &ids, &n, NULL) == SLM_OK && n == 6 && ids[1] == 7592,
              "shared sst2 folder");
        slm_free(ids);
        slm_tokenizer_free(real);
    }
    check_bad_files();

    slm_tokenizer_free(json_tok);
    slm_tokenizer_free(txt_tok);
    slm_tokenizer_free(tiny_tok);
    json_decref(fast);
    json_decref(slow);
    json_decref(texts_root);
    TEST_END();
}
