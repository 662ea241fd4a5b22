/* test_hf_spm_bpe.c — Llama-style (SentencePiece BPE) tokenizer.json files read by slm's Hugging Face
 * loader (hf_load.c, bpe.c, hf_decoder.c), against expectations that never come from slm:
 *   Llama 2's vocabulary: llama2.c's tokenizer.bin written as tokenizer.json (hf_tokenizer_write.c,
 *     merges ordered by piece score as transformers 4's LlamaConverter orders them), then
 *     - laid out as transformers 5.17 lays out a bare tokenizer.model (SpmConverter's
 *       build_tokenizer_from_spm_proto: normalizer Replace(" ", "▁") alone, no pre-tokenizer, no
 *       post-processor, decoder Replace + ByteFallback + Fuse; the same merges in 5.17's order, by
 *       merged piece id, rebuilt here from the vocabulary): ids with and without special tokens,
 *       offsets and both decodes of the 68 fixture texts equal transformers' (llama2c_fast.json);
 *     - as written (LlamaTokenizerFast's legacy layout: Prepend + Replace, BOS template, Strip): ids
 *       equal SentencePiece's on tokenizer.model (llama2c_raw_sentencepiece.json), BOS first with
 *       special tokens, and decoding them gives SentencePiece's text; text 53, which spells "<s>",
 *       "</s>" and "<unk>", is left out of the SentencePiece comparison: Hugging Face cuts those out
 *       as added tokens, SentencePiece does not (its fast.json ids above cover that text);
 *   llama_tiny/tokenizer.json, written by hand for this test (26 tokens, 12 merges, 3 byte tokens):
 *     the legacy layout and Metaspace pre-tokenizers (prepend_scheme first / always / never, split),
 *     byte fallback, a character whose bytes are not all in the vocabulary, fuse_unk, the decoders;
 *     the expected ids are worked out by hand in the comments from tokenizers' rules;
 *   llama_tiny written as a score-based vocabulary (GGUF "llama", llama2.c tokenizer.bin; scores derived
 *     from the merge ranks, worked out by hand below) and read back: the hand-derived ids of the legacy
 *     layout where the score rule and the rank rule agree, the score rule's own hand-derived ids where
 *     they legitimately differ (listed below), and refusals for what has no such form;
 *   bad input: a Regex Replace, unknown normalizer and decoder types, merges naming pieces not in
 *     the vocabulary, an unknown prepend_scheme, a Strip the streaming pieces cannot follow, no
 *     decoder: each a clear error naming the part. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer_fixture.h"
#include "tokenizers/hashmap.h"
#include "tokenizers/hf_tokenizer_write.h"
#include "tokenizers/tokenizer.h"

static char tmp_dir[64];

/* ---- helpers ---- */

static const char *tmp_folder(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    mkdir(buf, 0700);
    return buf;
}

static void remove_folder(const char *dir) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json"};
    char path[512];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int write_json(json_t *root, const char *dir, const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int ok = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0;
    CHECK(ok, "cannot write %s", path);
    return ok;
}

static json_t *read_json(const char *dir, const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, NULL);
    CHECK(root != NULL, "%s does not parse", path);
    return root;
}

/* tok encodes text (add_special as given) to exactly want[0..n); a CHECK. */
static void check_ids(const slm_tokenizer *tok, const char *text, int add_special, const int32_t *want, size_t n,
                      const char *what) {
    int32_t *ids = NULL;
    size_t got = 0;
    slm_error err = {0};
    slm_status st = slm_tokenize(tok, text, strlen(text), add_special, &ids, &got, &err);
    int ok = st == SLM_OK && got == n && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    char list[256] = "";
    for (size_t i = 0, o = 0; st == SLM_OK && i < got && o + 12 < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%d", i ? " " : "", (int)ids[i]);
    CHECK(ok, "%s: \"%s\" (add_special %d) gives [%s] %s", what, text, add_special, list, st ? err.message : "");
    slm_free(ids);
}

/* ids decode to want; a CHECK. */
static void check_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n, int skip_special, const char *want,
                         const char *what) {
    char *text = NULL;
    slm_error err = {0};
    slm_status st = slm_detokenize(tok, ids, n, skip_special, &text, &err);
    CHECK(st == SLM_OK && text && strcmp(text, want) == 0, "%s: decode (skip_special %d) is \"%s\", want \"%s\" %s", what,
          skip_special, text ? text : "", want, st ? err.message : "");
    slm_free(text);
}

static int32_t *json_ids(json_t *array, size_t *n) {
    *n = json_array_size(array);
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(array, i));
    return ids;
}

/* A decode of ids equals expected[0..len) (the part before a NUL: a C string ends there). */
static int decode_equals(const slm_tokenizer *tok, json_t *ids_json, int skip_special, json_t *expected) {
    size_t n;
    int32_t *ids = json_ids(ids_json, &n);
    char *text = NULL;
    const char *want = json_string_value(expected);
    size_t len = json_string_length(expected);
    const char *nul = want ? memchr(want, '\0', len) : NULL;
    if (nul) len = (size_t)(nul - want);
    int ok = want && slm_detokenize(tok, ids, n, skip_special, &text, NULL) == SLM_OK && strlen(text) == len &&
             memcmp(text, want, len) == 0;
    slm_free(text);
    free(ids);
    return ok;
}

/* ---- Llama 2's vocabulary ---- */

typedef struct {
    int32_t left, right, merged, left_chars, right_chars;
} merge_entry;

/* transformers 5.17's order for merges extracted without scores (generate_merges(vocab)): the merged
 * piece's id, then the shorter left half, the shorter right half, then the halves' ids. */
static int by_v5_order(const void *pa, const void *pb) {
    const merge_entry *a = pa, *b = pb;
    if (a->merged != b->merged) return a->merged < b->merged ? -1 : 1;
    if (a->left_chars != b->left_chars) return a->left_chars < b->left_chars ? -1 : 1;
    if (a->right_chars != b->right_chars) return a->right_chars < b->right_chars ? -1 : 1;
    if (a->left != b->left) return a->left < b->left ? -1 : 1;
    return (a->right > b->right) - (a->right < b->right);
}

static int32_t chars_in(const char *s, size_t n) {
    int32_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* The merges SentencePieceExtractor gives transformers 5.17 for a bare tokenizer.model: every split of a piece
 * (at a character boundary) into two pieces of the vocabulary, in by_v5_order. The writer orders the same
 * merges by score (transformers 4's LlamaConverter); Llama 2's whitespace pieces ("▁▁", "▁▁▁▁", ...) have
 * low ids but the lowest score, so the two orders split runs of spaces differently. */
static json_t *v5_merges(json_t *vocab) {
    size_t n_vocab = json_object_size(vocab), n = 0, cap = 1024;
    const char **texts = calloc(n_vocab, sizeof *texts);
    size_t *lens = calloc(n_vocab, sizeof *lens);
    merge_entry *list = malloc(cap * sizeof *list);
    slm_str_map map;
    slm_str_map_init(&map, n_vocab);
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach(vocab, key, key_len, v) {
        int32_t id = (int32_t)json_integer_value(v);
        if (id < 0 || (size_t)id >= n_vocab) continue;
        texts[id] = key;
        lens[id] = key_len;
        slm_str_map_put(&map, key, key_len, id);
    }
    for (size_t id = 0; id < n_vocab; id++) {
        for (size_t cut = 1; texts[id] && cut < lens[id]; cut++) {
            if (((unsigned char)texts[id][cut] & 0xC0) == 0x80) continue;
            int32_t l = slm_str_map_get(&map, texts[id], cut), r = slm_str_map_get(&map, texts[id] + cut, lens[id] - cut);
            if (l < 0 || r < 0) continue;
            if (n == cap) list = realloc(list, (cap *= 2) * sizeof *list);
            list[n++] = (merge_entry){l, r, (int32_t)id, chars_in(texts[id], cut), chars_in(texts[id] + cut, lens[id] - cut)};
        }
    }
    qsort(list, n, sizeof *list, by_v5_order);
    json_t *merges = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(merges, json_pack("[s%, s%]", texts[list[k].left], lens[list[k].left], texts[list[k].right],
                                                lens[list[k].right]));
    slm_str_map_free(&map);
    free(list);
    free(lens);
    free(texts);
    return merges;
}

/* transformers 5.17's tokenizer for a bare tokenizer.model (TokenizersBackend, SpmConverter's
 * build_tokenizer_from_spm_proto) around the written vocabulary, its merges in transformers 5.17's order. */
static void to_transformers_bare_layout(json_t *root) {
    json_t *model = json_object_get(root, "model");
    json_object_set_new(model, "merges", v5_merges(json_object_get(model, "vocab")));
    json_object_set_new(root, "normalizer",
                        json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers", "type", "Replace",
                                  "pattern", "String", " ", "content", "\xE2\x96\x81"));
    json_object_set_new(root, "pre_tokenizer", json_null());
    json_object_set_new(root, "post_processor", json_null());
    json_object_set_new(root, "decoder",
                        json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}]}", "type", "Sequence", "decoders", "type",
                                  "Replace", "pattern", "String", "\xE2\x96\x81", "content", " ", "type", "ByteFallback",
                                  "type", "Fuse"));
}

static void check_fast_fixture(const slm_tokenizer *tok, const char *name) {
    json_t *root = load_fixture("tokenizers/fixtures/llama2c_fast.json"), *info = json_object_get(root, "info");
    CHECK(slm_tokenizer_vocab_size(tok) == json_integer_value(json_object_get(info, "len")) &&
              slm_tokenizer_bos(tok) == json_integer_value(json_object_get(info, "bos_token_id")) &&
              slm_tokenizer_eos(tok) == json_integer_value(json_object_get(info, "eos_token_id")) &&
              slm_tokenizer_special(tok, "unk") == json_integer_value(json_object_get(info, "unk_token_id")),
          "%s: vocab %d, bos %d, eos %d, unk %d differ from transformers'", name, slm_tokenizer_vocab_size(tok),
          slm_tokenizer_bos(tok), slm_tokenizer_eos(tok), slm_tokenizer_special(tok, "unk"));
    size_t i;
    json_t *c;
    int ids_ok = 0, offsets_ok = 0, decodes_ok = 0, total = 0;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        size_t len;
        const char *text = text_at((size_t)json_integer_value(json_object_get(c, "i")), &len);
        static const char *const kinds[2] = {"no_special", "with_special"};
        for (int add = 0; add < 2; add++) {
            json_t *want = json_object_get(c, kinds[add]);
            int32_t *ids = NULL;
            size_t n = 0;
            int ok = slm_tokenize(tok, text, len, add, &ids, &n, NULL) == SLM_OK &&
                     same_ints(json_object_get(want, "ids"), ids, n);
            CHECK(ok, "%s: text %zu %s: ids differ from transformers'", name, i, kinds[add]);
            slm_encode_params params = slm_encode_default_params();
            params.add_special = add;
            slm_encoding *enc = NULL;
            int off = slm_encode(tok, text, len, NULL, 0, &params, &enc, NULL) == SLM_OK &&
                      same_offsets(json_object_get(want, "offsets"), enc->offsets, enc->n);
            CHECK(off, "%s: text %zu %s: offsets differ from transformers'", name, i, kinds[add]);
            slm_encoding_free(enc);
            int dec = decode_equals(tok, json_object_get(want, "ids"), 0, json_object_get(want, "decode")) &&
                      decode_equals(tok, json_object_get(want, "ids"), 1, json_object_get(want, "decode_skip_special"));
            CHECK(dec, "%s: text %zu %s: decodes differ from transformers'", name, i, kinds[add]);
            ids_ok += ok;
            offsets_ok += off;
            decodes_ok += dec;
            total++;
            slm_free(ids);
        }
    }
    CHECK(total == 2 * 68, "%s: %d cases in llama2c_fast.json", name, total);
    printf("%s: %d ids, %d offsets, %d decode pairs of %d match transformers\n", name, ids_ok, offsets_ok, decodes_ok,
           total);
    json_decref(root);
}

/* The written (legacy) layout against SentencePiece on tokenizer.model. */
static void check_sentencepiece_fixture(const slm_tokenizer *tok, const char *name) {
    json_t *root = load_fixture("tokenizers/fixtures/llama2c_raw_sentencepiece.json");
    size_t i;
    json_t *c;
    int matched = 0, compared = 0;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        size_t len, n = 0;
        const char *text = text_at((size_t)json_integer_value(json_object_get(c, "i")), &len);
        if (strstr(text, "<s>") || strstr(text, "</s>") || strstr(text, "<unk>")) continue; /* added tokens: see top */
        json_t *want = json_object_get(c, "ids");
        int32_t *ids = NULL;
        int ok = slm_tokenize(tok, text, len, 0, &ids, &n, NULL) == SLM_OK && same_ints(want, ids, n);
        slm_free(ids);
        int32_t *with = NULL;
        size_t n_with = 0;
        int ok_with = slm_tokenize(tok, text, len, 1, &with, &n_with, NULL) == SLM_OK && n_with == n + 1 &&
                      with[0] == 1 && same_ints(want, with + 1, n);
        slm_free(with);
        CHECK(ok && ok_with, "%s: text %zu: ids differ from SentencePiece's (with BOS: %d)", name, i, ok);
        CHECK(decode_equals(tok, want, 0, json_object_get(c, "decode")), "%s: text %zu: decode differs from "
              "SentencePiece's", name, i);
        matched += ok && ok_with;
        compared++;
    }
    CHECK(compared == 67, "%s: %d SentencePiece cases compared", name, compared);
    printf("%s: %d of %d texts as SentencePiece\n", name, matched, compared);
    json_decref(root);
}

static void test_llama2(void) {
    slm_tokenizer *bin = load("tokenizers/llama2c/tokenizer.bin");
    char dir[128];
    tmp_folder(dir, sizeof dir, "llama2");
    slm_error err = {0};
    slm_status st = bin ? slm_tokenizer_save_hf(bin, dir, &err) : SLM_ERR_IO;
    CHECK(st == SLM_OK, "llama2: writing tokenizer.json: %s", err.message);
    slm_tokenizer *legacy = st == SLM_OK ? slm_tokenizer_load(dir, &err) : NULL;
    CHECK(legacy != NULL, "llama2: slm reads the written legacy tokenizer.json: %s", err.message);
    if (legacy) check_sentencepiece_fixture(legacy, "llama2 legacy layout");
    if (legacy) {
        /* streaming pieces: the first word loses its space at the start and after BOS */
        size_t n;
        const char *p = slm_tokenizer_piece(legacy, -1, 15043, &n); /* "▁Hello" */
        CHECK(p && n == 5 && !memcmp(p, "Hello", 5), "llama2: first piece \"%.*s\"", (int)n, p ? p : "");
        p = slm_tokenizer_piece(legacy, 1, 15043, &n);
        CHECK(p && n == 5 && !memcmp(p, "Hello", 5), "llama2: piece after BOS \"%.*s\"", (int)n, p ? p : "");
        p = slm_tokenizer_piece(legacy, 15043, 3186, &n); /* "▁world" */
        CHECK(p && n == 6 && !memcmp(p, " world", 6), "llama2: piece mid-text \"%.*s\"", (int)n, p ? p : "");
        p = slm_tokenizer_piece(legacy, 15043, 13, &n); /* "<0x0A>" */
        CHECK(p && n == 1 && p[0] == '\n', "llama2: byte piece");
    }
    slm_tokenizer_free(legacy);
    /* the same vocabulary and merges in transformers 5.17's layout for a bare tokenizer.model */
    json_t *root = st == SLM_OK ? read_json(dir, "tokenizer.json") : NULL;
    json_t *config = json_pack("{s:s, s:s, s:s}", "bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>");
    if (root) {
        to_transformers_bare_layout(root);
        slm_tokenizer *bare = write_json(root, dir, "tokenizer.json") && write_json(config, dir, "tokenizer_config.json")
                                  ? slm_tokenizer_load(dir, &err)
                                  : NULL;
        CHECK(bare != NULL, "llama2: slm reads transformers' bare layout: %s", err.message);
        if (bare) check_fast_fixture(bare, "llama2 transformers layout");
        slm_tokenizer_free(bare);
    }
    json_decref(root);
    json_decref(config);
    remove_folder(dir);
    slm_tokenizer_free(bin);
}

/* ---- llama_tiny: expectations by hand ----
 * ids: <unk> 0, <s> 1, </s> 2, <0x0A> 3, <0xC3> 4, <0xA9> 5, ▁ 6, h 7, e 8, l 9, o 10, w 11, r 12, d 13,
 *      ▁h 14, ll 15, ▁he 16, llo 17, ▁hello 18, or 19, ▁w 20, ▁wor 21, ▁worl 22, ▁world 23, ▁▁ 24, el 25
 * merge ranks: ▁+h 0, l+l 1, ▁h+e 2, ll+o 3, ▁he+llo 4, o+r 5, ▁+w 6, ▁w+or 7, ▁wor+l 8, ▁worl+d 9,
 *      ▁+▁ 10, e+l 11 (so "hello" without ▁ merges l+l before e+l: h e llo). */

#define IDS(...) ((const int32_t[]){__VA_ARGS__}), sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)
#define NO_IDS NULL, 0

/* A variant of llama_tiny/tokenizer.json, written to a folder of its own and loaded: section s1 replaced by
 * v1 and s2 by v2 (the values are taken; a NULL section is left alone). */
static slm_tokenizer *tiny_variant(const char *name, const char *s1, json_t *v1, const char *s2, json_t *v2,
                                   slm_error *err) {
    json_t *root = load_fixture("tokenizers/llama_tiny/tokenizer.json");
    char dir[128];
    tmp_folder(dir, sizeof dir, name);
    slm_tokenizer *tok = NULL;
    if (root && s1) json_object_set_new(root, s1, v1);
    if (root && s2) json_object_set_new(root, s2, v2);
    if (root && write_json(root, dir, "tokenizer.json")) tok = slm_tokenizer_load(dir, err);
    json_decref(root);
    remove_folder(dir);
    return tok;
}

static json_t *metaspace(const char *scheme, int split) {
    return json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement", "\xE2\x96\x81", "prepend_scheme", scheme,
                     "split", split);
}

static void test_tiny_legacy(void) {
    slm_tokenizer *tok = load("tokenizers/llama_tiny");
    if (!tok) return;
    const char *w = "tiny legacy (Prepend + Replace)";
    check_ids(tok, "hello world", 0, IDS(18, 23), w);       /* ▁hello▁world: ranks 0,1,2,3,4 then 5,6,7,8,9 */
    check_ids(tok, "hello world", 1, IDS(1, 18, 23), w);    /* the <s> $A template */
    check_ids(tok, "  hello", 0, IDS(24, 18), w);           /* ▁▁▁hello: ▁+h (rank 0) before ▁+▁ (10) */
    check_ids(tok, "hello", 0, IDS(18), w);
    check_ids(tok, "<s>hello", 0, IDS(1, 18), w);           /* Prepend runs on every stretch between added tokens */
    check_ids(tok, "<s>hello", 1, IDS(1, 1, 18), w);
    check_ids(tok, "hello<s>world", 0, IDS(18, 1, 23), w);
    check_ids(tok, "h\xC3\xA9\n", 0, IDS(14, 4, 5, 3), w);  /* é and \n are not pieces: their byte tokens */
    check_ids(tok, "\xC3\xB1", 0, IDS(6, 0), w);            /* ñ = C3 B1, and <0xB1> is missing: <unk> */
    check_ids(tok, "\xC3\xB1\xC3\xB1", 0, IDS(6, 0), w);    /* fuse_unk */
    /* ñ é ñ: tokenizers adds é's bytes while the unk is pending, then fuses the second ñ into it */
    check_ids(tok, "\xC3\xB1\xC3\xA9\xC3\xB1", 0, IDS(6, 4, 5, 0), w);
    check_ids(tok, "", 0, NO_IDS, w);
    check_ids(tok, "", 1, IDS(1), w);
    check_ids(tok, " ", 0, IDS(24), w);                     /* ▁▁ */
    /* decoder: Replace ▁ -> " ", ByteFallback, Fuse, Strip one leading space */
    check_decode(tok, IDS(1, 18, 23), 0, "<s> hello world", w); /* the fused text starts with "<": nothing stripped */
    check_decode(tok, IDS(1, 18, 23), 1, "hello world", w);
    check_decode(tok, IDS(14, 4, 5, 3), 0, "h\xC3\xA9\n", w);
    check_decode(tok, IDS(4), 0, "\xEF\xBF\xBD", w);                               /* C3 alone: U+FFFD */
    check_decode(tok, IDS(4, 4, 5), 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", w); /* one U+FFFD per byte of the run */
    check_decode(tok, IDS(4, 18, 5), 0, "\xEF\xBF\xBD hello\xEF\xBF\xBD", w);     /* runs end at other tokens */
    check_decode(tok, IDS(6), 0, "", w);
    check_decode(tok, IDS(24), 0, " ", w);                  /* Strip takes one space */
    check_decode(tok, IDS(6, 18), 0, " hello", w);
    check_decode(tok, IDS(0, 2), 1, "", w);
    size_t n;
    const char *p = slm_tokenizer_piece(tok, -1, 24, &n);
    CHECK(p && n == 1 && p[0] == ' ', "%s: the first piece loses one space (\"%.*s\")", w, (int)n, p ? p : "");
    p = slm_tokenizer_piece(tok, 18, 3, &n);
    CHECK(p && n == 1 && p[0] == '\n', "%s: <0x0A>'s piece is a newline", w);
    CHECK(slm_tokenizer_special(tok, "unk") == 0 && slm_tokenizer_is_special(tok, 1), "%s: unk 0, <s> special", w);
    /* offsets of the legacy layout: the prepended ▁ belongs to the first character */
    slm_encode_params params = slm_encode_default_params();
    slm_encoding *enc = NULL;
    const int32_t want[] = {0, 0, 0, 5, 5, 11};
    int ok = slm_encode(tok, "hello world", 11, NULL, 0, &params, &enc, NULL) == SLM_OK && enc->n == 3 &&
             !memcmp(enc->offsets, want, sizeof want);
    CHECK(ok, "%s: offsets of <s> hello world", w);
    slm_encoding_free(enc);
    slm_tokenizer_free(tok);
}

static void test_tiny_metaspace(void) {
    slm_error err = {0};
    /* Metaspace "first", split false, no normalizer: Llama's non-legacy layout */
    slm_tokenizer *first = tiny_variant("first", "normalizer", json_null(), "pre_tokenizer", metaspace("first", 0), &err);
    CHECK(first != NULL, "tiny Metaspace first: %s", err.message);
    if (first) {
        const char *w = "tiny Metaspace first";
        check_ids(first, "  hello", 0, IDS(6, 18), w);      /* ▁▁hello already starts with ▁: nothing prepended */
        check_ids(first, "hello", 0, IDS(18), w);           /* the text's start: ▁hello */
        check_ids(first, "<s>hello", 0, IDS(1, 7, 8, 17), w); /* not the start: h e l l o -> h e llo */
        check_ids(first, "hello<s>world", 0, IDS(18, 1, 11, 19, 9, 13), w); /* world: w or l d */
        check_ids(first, " ", 0, IDS(6), w);
        check_ids(first, "hello world", 1, IDS(1, 18, 23), w);
        check_decode(first, IDS(1, 7, 8, 17), 0, "<s>hello", w);
    }
    slm_tokenizer_free(first);
    static const struct {
        const char *scheme;
        int split;
        const char *text;
        int32_t want[8];
        size_t n;
    } cases[] = {
        {"always", 0, "<s>hello", {1, 18}, 2},               /* every stretch gets its ▁ */
        {"always", 0, "hello<s>world", {18, 1, 23}, 3},
        {"always", 0, "  ", {24}, 1},                        /* ▁▁ whole */
        {"always", 1, "  ", {6, 6}, 2},                      /* split before every ▁: ▁ | ▁ */
        {"always", 1, "hello world", {18, 23}, 2},
        {"never", 0, "hello", {7, 8, 17}, 3},
        {"never", 0, "hello world", {7, 8, 17, 23}, 4},      /* hello▁world: ▁+w merges across the word */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char what[96];
        snprintf(what, sizeof what, "tiny Metaspace %s split %d", cases[i].scheme, cases[i].split);
        slm_tokenizer *tok = tiny_variant("variant", "normalizer", json_null(), "pre_tokenizer",
                                          metaspace(cases[i].scheme, cases[i].split), &err);
        CHECK(tok != NULL, "%s: %s", what, err.message);
        if (tok) check_ids(tok, cases[i].text, 0, cases[i].want, cases[i].n, what);
        slm_tokenizer_free(tok);
    }
    /* the Metaspace decoder: "▁" -> " ", every ▁ of the first token dropped (prepend_scheme always) */
    slm_tokenizer *dec = tiny_variant("metaspace_decoder", "decoder", metaspace("always", 1), NULL, NULL, &err);
    CHECK(dec != NULL, "tiny Metaspace decoder: %s", err.message);
    if (dec) {
        const char *w = "tiny Metaspace decoder";
        check_decode(dec, IDS(24), 0, "", w);
        check_decode(dec, IDS(18, 23), 0, "hello world", w);
        check_decode(dec, IDS(1, 18), 0, "<s> hello", w);
        check_decode(dec, IDS(1, 18), 1, "hello", w);
        size_t n;
        const char *p = slm_tokenizer_piece(dec, -1, 24, &n);
        CHECK(p && n == 0, "%s: the first piece loses its spaces", w);
    }
    slm_tokenizer_free(dec);
}

/* ---- llama_tiny as a score-based vocabulary (GGUF "llama", llama2.c tokenizer.bin) ----
 * Scores derived from the merge ranks (llama2c_vocab_write.c), by hand: ▁h 0, ll -1, ▁he -2, llo -3,
 * ▁hello -4, or -5, ▁w -6, ▁wor -7, ▁worl -8, ▁world -9, ▁▁ -10, el -11, every other token -12 (below
 * all of them). Types: <unk> 2 (unknown), <s> </s> 3 (control), the three <0xXX> 6 (byte), the rest 1.
 * The score rule (merge the adjacent pair forming the highest-scored piece, leftmost on ties) picks
 * the pair the rank rule picks on these texts, except where they legitimately differ:
 *   - a text spelling a control token ("<s>hello"): the score-based readers do not cut it out (nor
 *     does SentencePiece, nor llama.cpp without parse_special): ▁ then "<", "s", ">", which are neither
 *     pieces nor byte pieces (id 0 each), then h e l l o -> h e llo;
 *   - a character whose bytes are not all byte pieces (ñ = C3 B1, no <0xB1>): Hugging Face gives <unk>
 *     for the character, slm's score-based readers the byte piece there is and id 0 for the missing one
 *     (llama.cpp's byte lookup has no answer there);
 *   - with a Metaspace pre-tokenizer, a text starting with a space: Metaspace prepends no ▁ to it, the
 *     score-based readers always do (as the legacy Prepend normalizer does). */

static const char TINY_CONFIG[] = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"unk_token\": \"<unk>\"}";

/* llama_tiny with section s1 replaced by v1 (taken; NULL: as it is), in a folder with a tokenizer_config.json
 * naming <s> and </s> (BOS 1, EOS 2) when with_config is set; loaded. */
static slm_tokenizer *tiny_folder(const char *name, const char *s1, json_t *v1, int with_config, slm_error *err) {
    json_t *root = load_fixture("tokenizers/llama_tiny/tokenizer.json");
    json_t *config = json_loads(TINY_CONFIG, 0, NULL);
    char dir[128];
    tmp_folder(dir, sizeof dir, name);
    slm_tokenizer *tok = NULL;
    if (root && s1) json_object_set_new(root, s1, v1);
    else json_decref(v1);
    if (root && config && write_json(root, dir, "tokenizer.json") &&
        (!with_config || write_json(config, dir, "tokenizer_config.json")))
        tok = slm_tokenizer_load(dir, err);
    json_decref(root);
    json_decref(config);
    remove_folder(dir);
    return tok;
}

/* tok written as GGUF tokenizer metadata at path; SLM_OK or the writer's status. */
static slm_status write_gguf_vocab(const slm_tokenizer *tok, const char *path, slm_error *err) {
    slm_gguf_kv *kvs = NULL;
    int64_t n = 0;
    void *storage = NULL;
    slm_status st = slm_tokenizer_gguf_metadata(tok, NULL, &kvs, &n, &storage, err);
    if (st == SLM_OK) st = slm_gguf_write(path, kvs, n, NULL, 0, err);
    else CHECK(!kvs && !storage && n == 0, "a refused GGUF vocabulary leaves nothing behind");
    slm_tokenizer_gguf_metadata_free(storage);
    return st;
}

/* The ids where the score rule and the rank rule agree (test_tiny_legacy's), and where they differ. */
static void check_tiny_score_ids(const slm_tokenizer *tok, const char *w) {
    check_ids(tok, "hello world", 0, IDS(18, 23), w);
    check_ids(tok, "hello world", 1, IDS(1, 18, 23), w);
    check_ids(tok, "  hello", 0, IDS(24, 18), w);          /* ▁▁▁hello: ▁h (0) first, ▁▁ (-10) last */
    check_ids(tok, "hello", 0, IDS(18), w);
    check_ids(tok, "ohello", 0, IDS(6, 10, 7, 8, 17), w);  /* ll (-1) before el (-11): o h e llo */
    check_ids(tok, "wor", 0, IDS(21), w);                  /* or (-5) before ▁w (-6), then ▁w+or */
    check_ids(tok, "h\xC3\xA9\n", 0, IDS(14, 4, 5, 3), w);
    check_ids(tok, "", 0, NO_IDS, w);
    check_ids(tok, "", 1, IDS(1), w);
    check_ids(tok, " ", 0, IDS(24), w);
    /* the legitimate differences (see above); Hugging Face gives [1 18] and [6 0] */
    check_ids(tok, "<s>hello", 0, IDS(6, 0, 0, 0, 7, 8, 17), w);
    check_ids(tok, "\xC3\xB1", 0, IDS(6, 4, 0), w);
}

/* The record of token id in a llama2.c tokenizer.bin: its score and text (NUL-terminated, cap bytes); 0 when absent. */
static int llama2c_record(const char *path, int32_t id, float *score, char *text, size_t cap) {
    FILE *f = fopen(path, "rb");
    int32_t len = 0;
    int ok = f && fseek(f, 4, SEEK_SET) == 0;
    for (int32_t i = 0; ok && i <= id; i++) {
        ok = fread(score, 4, 1, f) == 1 && fread(&len, 4, 1, f) == 1 && len >= 0 && (size_t)len < cap &&
             fread(text, 1, (size_t)len, f) == (size_t)len;
        if (ok) text[len] = '\0';
    }
    if (f) fclose(f);
    return ok;
}

static void test_tiny_score_vocab(void) {
    slm_error err = {0};
    char gguf[128], bin[128];
    snprintf(gguf, sizeof gguf, "%s/tiny.gguf", tmp_dir);
    snprintf(bin, sizeof bin, "%s/tok26.bin", tmp_dir);
    slm_tokenizer *tok = tiny_folder("score", NULL, NULL, 1, &err);
    CHECK(tok != NULL, "tiny with tokenizer_config.json: %s", err.message);
    if (!tok) return;
    CHECK(write_gguf_vocab(tok, gguf, &err) == SLM_OK, "tiny -> GGUF: %s", err.message);
    slm_gguf *g = slm_gguf_open(gguf, &err);
    CHECK(g != NULL, "tiny -> GGUF: %s", err.message);
    static const float want_scores[26] = {-12, -12, -12, -12, -12, -12, -12, -12, -12, -12, -12, -12, -12,
                                          -12, 0,   -1,  -2,  -3,  -4,  -5,  -6,  -7,  -8,  -9,  -10, -11};
    static const int want_types[26] = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int scores_ok = 1, types_ok = 1;
    for (uint64_t i = 0; g && i < 26; i++) {
        float sc = 1;
        int64_t ty = -1;
        scores_ok &= slm_gguf_array_float(g, "tokenizer.ggml.scores", i, &sc, NULL) == SLM_OK && sc == want_scores[i];
        types_ok &= slm_gguf_array_int(g, "tokenizer.ggml.token_type", i, &ty, NULL) == SLM_OK && ty == want_types[i];
    }
    const char *model = NULL, *t18 = NULL;
    size_t t18_len = 0;
    int64_t bos = -1, eos = -1, unk = -1;
    int add_bos = 0, add_eos = 1, space = 0;
    int meta_ok = g && slm_gguf_get_string(g, "tokenizer.ggml.model", &model, NULL, NULL) == SLM_OK &&
                  !strcmp(model, "llama") && slm_gguf_array_string(g, "tokenizer.ggml.tokens", 18, &t18, &t18_len, NULL) == SLM_OK &&
                  t18_len == 8 && !memcmp(t18, "\xE2\x96\x81hello", 8) &&
                  slm_gguf_get_i64(g, "tokenizer.ggml.bos_token_id", &bos, NULL) == SLM_OK && bos == 1 &&
                  slm_gguf_get_i64(g, "tokenizer.ggml.eos_token_id", &eos, NULL) == SLM_OK && eos == 2 &&
                  slm_gguf_get_i64(g, "tokenizer.ggml.unknown_token_id", &unk, NULL) == SLM_OK && unk == 0 &&
                  slm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, NULL) == SLM_OK && add_bos &&
                  slm_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos, NULL) == SLM_OK && !add_eos &&
                  slm_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &space, NULL) == SLM_OK && space &&
                  slm_gguf_find_key(g, "tokenizer.ggml.merges") < 0;
    CHECK(scores_ok && types_ok && meta_ok, "tiny -> GGUF: scores %d, types %d, model/tokens/ids/flags %d", scores_ok,
          types_ok, meta_ok);
    slm_gguf_free(g);
    slm_tokenizer *copy = slm_tokenizer_load_gguf_file(gguf, &err);
    CHECK(copy != NULL, "tiny -> GGUF: reading it back: %s", err.message);
    if (copy) check_tiny_score_ids(copy, "tiny -> GGUF");
    slm_tokenizer_free(copy);
    unlink(gguf);

    CHECK(slm_tokenizer_has_llama2c_form(tok), "tiny with BOS 1 / EOS 2 has a llama2.c form");
    CHECK(slm_tokenizer_save_llama2c(tok, 0, bin, &err) == SLM_OK, "tiny -> tokenizer.bin: %s", err.message);
    float score = 1;
    char text[64];
    CHECK(llama2c_record(bin, 18, &score, text, sizeof text) && score == -4 && !strcmp(text, " hello") &&
              llama2c_record(bin, 1, &score, text, sizeof text) && score == -12 && !strcmp(text, "\n<s>\n") &&
              llama2c_record(bin, 4, &score, text, sizeof text) && score == -12 && !strcmp(text, "<0xC3>"),
          "tiny -> tokenizer.bin: records 18, 1 and 4 as llama2.c spells them");
    copy = slm_tokenizer_load_llama2c(bin, &err);
    CHECK(copy != NULL, "tiny -> tokenizer.bin: reading it back: %s", err.message);
    if (copy) check_tiny_score_ids(copy, "tiny -> tokenizer.bin");
    slm_tokenizer_free(copy);
    unlink(bin);
    slm_tokenizer_free(tok);
}

/* A variant of llama_tiny that the score-based writers must refuse, naming why, writing nothing. */
static void check_score_refused(const char *name, const char *s1, json_t *v1, const char *needle) {
    slm_error err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/refused", tmp_dir);
    slm_tokenizer *tok = tiny_folder(name, s1, v1, 1, &err);
    CHECK(tok != NULL, "%s: %s", name, err.message);
    if (!tok) return;
    slm_status st = write_gguf_vocab(tok, path, &err);
    CHECK(st == SLM_ERR_UNSUPPORTED && strstr(err.message, needle), "%s -> GGUF: status %d: %s", name, (int)st,
          err.message);
    st = slm_tokenizer_save_llama2c(tok, 0, path, &err);
    CHECK(st == SLM_ERR_UNSUPPORTED && strstr(err.message, needle) && access(path, F_OK) != 0,
          "%s -> tokenizer.bin: status %d: %s", name, (int)st, err.message);
    CHECK(!slm_tokenizer_has_llama2c_form(tok), "%s: no llama2.c form", name);
    slm_tokenizer_free(tok);
}

static json_t *tiny_model_with(const char *key, json_t *value) {
    json_t *root = load_fixture("tokenizers/llama_tiny/tokenizer.json");
    json_t *model = json_deep_copy(json_object_get(root, "model"));
    json_object_set_new(model, key, value);
    json_decref(root);
    return model;
}

static void test_tiny_score_vocab_edges(void) {
    slm_error err = {0};
    char gguf[128];
    snprintf(gguf, sizeof gguf, "%s/edge.gguf", tmp_dir);
    /* Metaspace "first", split false: written; "  hello" is ▁▁▁hello for the score-based reader
     * ([24 18]) where Metaspace leaves ▁▁hello ([6 18], test_tiny_metaspace) */
    json_t *root = load_fixture("tokenizers/llama_tiny/tokenizer.json");
    char dir[128];
    tmp_folder(dir, sizeof dir, "score_first");
    json_object_set_new(root, "normalizer", json_null());
    json_object_set_new(root, "pre_tokenizer", metaspace("first", 0));
    json_t *config = json_loads(TINY_CONFIG, 0, NULL);
    slm_tokenizer *tok = write_json(root, dir, "tokenizer.json") && write_json(config, dir, "tokenizer_config.json")
              ? slm_tokenizer_load(dir, &err)
              : NULL;
    json_decref(root);
    json_decref(config);
    remove_folder(dir);
    CHECK(tok != NULL, "tiny Metaspace first: %s", err.message);
    slm_tokenizer *copy = tok && write_gguf_vocab(tok, gguf, &err) == SLM_OK ? slm_tokenizer_load_gguf_file(gguf, &err) : NULL;
    CHECK(!tok || copy != NULL, "tiny Metaspace first -> GGUF: %s", err.message);
    if (copy) {
        check_ids(copy, "hello world", 1, IDS(1, 18, 23), "tiny Metaspace first -> GGUF");
        check_ids(copy, "  hello", 0, IDS(24, 18), "tiny Metaspace first -> GGUF (differs: see above)");
    }
    slm_tokenizer_free(copy);
    slm_tokenizer_free(tok);
    unlink(gguf);

    /* no byte pieces at all (ids 3-5 left as holes): written; the holes become unused "[PAD<id>]" tokens
     * and every byte of é falls back to id 0 ([14 0 0]; Hugging Face fuses the character into one <unk>) */
    root = load_fixture("tokenizers/llama_tiny/tokenizer.json");
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    json_object_del(vocab, "<0x0A>");
    json_object_del(vocab, "<0xC3>");
    json_object_del(vocab, "<0xA9>");
    tok = tiny_folder("score_no_bytes", "model", json_deep_copy(json_object_get(root, "model")), 1, &err);
    json_decref(root);
    CHECK(tok != NULL, "tiny without byte pieces: %s", err.message);
    copy = tok && write_gguf_vocab(tok, gguf, &err) == SLM_OK ? slm_tokenizer_load_gguf_file(gguf, &err) : NULL;
    CHECK(!tok || copy != NULL, "tiny without byte pieces -> GGUF: %s", err.message);
    if (copy) {
        check_ids(copy, "h\xC3\xA9", 0, IDS(14, 0, 0), "tiny without byte pieces -> GGUF");
        check_ids(copy, "hello world", 0, IDS(18, 23), "tiny without byte pieces -> GGUF");
    }
    slm_tokenizer_free(copy);
    slm_tokenizer_free(tok);
    unlink(gguf);

    /* no llama2.c form without BOS 1 / EOS 2 (no tokenizer_config.json names them), though GGUF is written */
    tok = tiny_folder("score_no_config", NULL, NULL, 0, &err);
    CHECK(tok && !slm_tokenizer_has_llama2c_form(tok) &&
              slm_tokenizer_save_llama2c(tok, 0, gguf, &err) == SLM_ERR_UNSUPPORTED && strstr(err.message, "BOS and EOS"),
          "tiny without BOS/EOS -> tokenizer.bin: %s", err.message);
    CHECK(tok && write_gguf_vocab(tok, gguf, &err) == SLM_OK, "tiny without BOS/EOS -> GGUF: %s", err.message);
    slm_tokenizer_free(tok);
    unlink(gguf);

    check_score_refused("score_split", "pre_tokenizer", metaspace("first", 1), "normalizer and pre-tokenizer");
    check_score_refused("score_never", "pre_tokenizer", metaspace("never", 0), "normalizer and pre-tokenizer");
    check_score_refused("score_no_fallback", "model", tiny_model_with("byte_fallback", json_false()), "byte_fallback");
    check_score_refused("score_no_unk", "model", tiny_model_with("unk_token", json_null()), "unk_token is not token 0");
    check_score_refused("score_ignore_merges", "model", tiny_model_with("ignore_merges", json_true()), "ignore_merges");
    check_score_refused("score_no_template", "post_processor", json_null(), "exactly BOS");
    check_score_refused("score_added", "added_tokens",
                        json_pack("[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}]", "id", 25, "content", "el", "single_word", 0,
                                  "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 0),
                        "not special");
}

/* ---- bad input ---- */

static void check_bad(const char *name, const char *section, json_t *value, slm_status want, const char *needle) {
    slm_error err = {0};
    slm_tokenizer *tok = tiny_variant(name, section, value, NULL, NULL, &err);
    CHECK(!tok && err.status == want && strstr(err.message, needle) && strstr(err.message, "tokenizer.json"),
          "%s: status %d (want %d), message \"%s\" (want \"%s\")", name, (int)err.status, (int)want, err.message, needle);
    slm_tokenizer_free(tok);
}

static void test_bad_input(void) {
    check_bad("regex_replace", "normalizer",
              json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "Regex", " {2,}", "content", "\xE2\x96\x81"),
              SLM_ERR_UNSUPPORTED, "Replace with a Regex");
    check_bad("unknown_normalizer", "normalizer", json_pack("{s:s}", "type", "Lowercase"), SLM_ERR_UNSUPPORTED,
              "normalizer Lowercase");
    check_bad("unknown_decoder", "decoder", json_pack("{s:s}", "type", "CTC"), SLM_ERR_UNSUPPORTED, "decoder CTC");
    check_bad("no_decoder", "decoder", json_null(), SLM_ERR_UNSUPPORTED, "without a decoder");
    check_bad("strip_stop", "decoder",
              json_pack("{s:s, s:[{s:s}, {s:s, s:s, s:i, s:i}]}", "type", "Sequence", "decoders", "type", "Fuse", "type",
                        "Strip", "content", " ", "start", 1, "stop", 1),
              SLM_ERR_UNSUPPORTED, "Strip");
    check_bad("strip_before_fuse", "decoder",
              json_pack("{s:s, s:[{s:s, s:s, s:i, s:i}, {s:s}]}", "type", "Sequence", "decoders", "type", "Strip",
                        "content", " ", "start", 1, "stop", 0, "type", "Fuse"),
              SLM_ERR_UNSUPPORTED, "after Fuse");
    check_bad("byte_level_decoder", "decoder", json_pack("{s:s}", "type", "ByteLevel"), SLM_ERR_UNSUPPORTED,
              "decoder ByteLevel");
    check_bad("bad_scheme", "pre_tokenizer", metaspace("sometimes", 1), SLM_ERR_FORMAT, "prepend_scheme \"sometimes\"");
    check_bad("metaspace_bytelevel", "pre_tokenizer",
              json_pack("{s:s, s:[o, {s:s}]}", "type", "Sequence", "pretokenizers", metaspace("always", 1), "type",
                        "ByteLevel"),
              SLM_ERR_UNSUPPORTED, "ByteLevel pre-tokenizer with Metaspace");
    /* merges naming a piece the vocabulary lacks, or forming one it lacks */
    json_t *root = load_fixture("tokenizers/llama_tiny/tokenizer.json");
    json_t *model = json_deep_copy(json_object_get(root, "model"));
    json_array_append_new(json_object_get(model, "merges"), json_string("x y"));
    check_bad("merge_unknown_piece", "model", model, SLM_ERR_FORMAT, "merge 12 (\"x\" \"y\") uses a token not in the vocabulary");
    model = json_deep_copy(json_object_get(root, "model"));
    json_array_append_new(json_object_get(model, "merges"), json_string("h h"));
    check_bad("merge_unknown_result", "model", model, SLM_ERR_FORMAT, "merge 12 (\"h\" \"h\")");
    json_decref(root);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_spm_bpe_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        CHECK(0, "mkdtemp");
        TEST_END();
    }
    json_t *root = load_fixture("tokenizers/fixtures/texts.json");
    texts = json_object_get(root, "texts");
    CHECK(json_array_size(texts) == 68, "texts.json has %zu texts", json_array_size(texts));
    test_llama2();
    test_tiny_legacy();
    test_tiny_metaspace();
    test_tiny_score_vocab();
    test_tiny_score_vocab_edges();
    test_bad_input();
    json_decref(root);
    rmdir(tmp_dir);
    TEST_END();
}
