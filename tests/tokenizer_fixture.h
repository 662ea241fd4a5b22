/* tokenizer_fixture.h — what the tokenizer tests (test_tokenizer.c,
 * test_wordpiece.c, test_unigram.c) share: reading the reference's JSON
 * fixtures and files under tests/data, loading a tokenizer (a CHECK), the
 * shared fixture texts, comparing ids and offsets with the expected JSON
 * arrays, and a load that must fail naming its file.
 * Like check.h it is included by each test program; every helper is static
 * inline, so a program that does not use one is not warned about it. */
#ifndef SLM_TESTS_TOKENIZER_FIXTURE_H
#define SLM_TESTS_TOKENIZER_FIXTURE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slm.h"

static json_t *texts; /* fixtures/texts.json "texts", set by main */

/* A JSON file under tests/data (NUL bytes allowed in strings); a CHECK. */
static inline json_t *load_fixture(const char *rel) {
    char path[1024];
    json_error_t jerr;
    json_t *root = json_load_file(test_path(path, sizeof path, rel), JSON_ALLOW_NUL, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    return root;
}

/* A tokenizer file or folder under tests/data; a CHECK. */
static inline slm_tokenizer *load(const char *rel) {
    char path[1024];
    slm_error err = {0};
    slm_tokenizer *tok = slm_tokenizer_load(test_path(path, sizeof path, rel), &err);
    CHECK(tok != NULL, "loading %s: %s", path, err.message);
    return tok;
}

/* Text i of the fixture texts and its length in bytes (it may hold NULs). */
static inline const char *text_at(size_t i, size_t *len) {
    json_t *t = json_array_get(texts, i);
    *len = json_string_length(t);
    return json_string_value(t);
}

/* expected is a JSON array of exactly these n integers. */
static inline int same_ints(json_t *expected, const int32_t *got, size_t n) {
    if (!json_is_array(expected) || json_array_size(expected) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(expected, i)) != got[i]) return 0;
    return 1;
}

/* expected is a JSON array of n [start, end] pairs equal to got (n, 2). */
static inline int same_offsets(json_t *expected, const int32_t *got, size_t n) {
    if (!json_is_array(expected) || json_array_size(expected) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(expected, i);
        if (json_integer_value(json_array_get(pair, 0)) != got[2 * i] ||
            json_integer_value(json_array_get(pair, 1)) != got[2 * i + 1])
            return 0;
    }
    return 1;
}

/* The whole file, NUL-terminated, and its size when size is not NULL; NULL when it cannot be read. */
static inline char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    if (data) data[n] = '\0';
    fclose(f);
    if (size) *size = (size_t)n;
    return data;
}

/* Loading path fails with a non-OK status and a message naming the file; a CHECK. */
/* Encodes text without special tokens into *ids (release with free()); 1 on success. */
typedef int (*encode_fn)(const void *ctx, const char *text, size_t len, int32_t **ids, size_t *n);

/* slm's own tokenizer (ctx) behind encode_fn. */
static inline int slm_encode_plain(const void *ctx, const char *text, size_t len, int32_t **ids, size_t *n) {
    int32_t *got = NULL;
    *n = 0;
    int ok = slm_tokenize(ctx, text, len, 0, &got, n, NULL) == SLM_OK;
    *ids = NULL;
    if (ok) {
        *ids = malloc((*n ? *n : 1) * sizeof **ids);
        if (*ids) memcpy(*ids, got, *n * sizeof **ids);
        ok = *ids != NULL;
    }
    slm_free(got);
    return ok;
}

/* llama.cpp's vocab tests (tests/data/tokenizers/llamacpp/STEM.inp/.out): texts separated by
 * "\n__ggml_vocab_test__\n", one line of ids per text (no BOS/CLS/SEP). Every case is a
 * CHECK; returns how many matched. */
static inline int check_llamacpp_vectors_with(encode_fn encode, const void *ctx, const char *stem, const char *name) {
    char path[1024], rel[256];
    snprintf(rel, sizeof rel, "tokenizers/llamacpp/%s.inp", stem);
    char *inp = read_file(test_path(path, sizeof path, rel), NULL);
    snprintf(rel, sizeof rel, "tokenizers/llamacpp/%s.out", stem);
    char *out = read_file(test_path(path, sizeof path, rel), NULL);
    CHECK(inp && out, "%s: cannot read the vectors of %s", name, stem);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *text = inp, *line = out;
    int n_cases = 0, matched = 0;
    while (inp && out) {
        char *end = strstr(text, sep);
        if (!end) break; /* every case, the last included, ends with the separator */
        char *eol = strchr(line, '\n');
        if (!eol) {
            CHECK(0, "%s: fewer id lines than texts", name);
            break;
        }
        *eol = '\0';
        int32_t want[1024];
        size_t n_want = 0;
        for (char *p = line, *q; n_want < 1024; p = q) {
            long v = strtol(p, &q, 10);
            if (q == p) break;
            want[n_want++] = (int32_t)v;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        int ok = encode(ctx, text, (size_t)(end - text), &ids, &n) && n == n_want &&
                 (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        CHECK(ok, "%s: llama.cpp case %d (\"%.40s\") differs", name, n_cases, text);
        matched += ok;
        free(ids);
        n_cases++;
        text = end + sizeof sep - 1;
        line = eol + 1;
    }
    CHECK(n_cases > 40, "%s: only %d llama.cpp cases read", name, n_cases);
    printf("%s: %d of %d llama.cpp cases match\n", name, matched, n_cases);
    free(inp);
    free(out);
    return matched;
}

static inline void check_rejected(const char *path, const char *what) {
    slm_error err = {0};
    slm_tokenizer *tok = slm_tokenizer_load(path, &err);
    CHECK(tok == NULL && err.status != SLM_OK && strstr(err.message, path), "%s: %s", what,
          tok ? "loaded" : err.message);
    slm_tokenizer_free(tok);
}

#endif
