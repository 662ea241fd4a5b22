/* test_hf_tokenizer_write.c — tokenizers written as Hugging Face tokenizer.json + tokenizer_config.json
 * (src/tokenizers/hf_tokenizer_write.c), checked against the references' own ids:
 *   GPT-2 (llama.cpp's ggml-vocab-gpt-2.gguf): written, read back by slm's Hugging Face loader, it gives
 *     transformers' gpt2 ids and decodes (tokenizers/fixtures/gpt2_fast.json) and llama.cpp's own vectors;
 *     the same vocabulary with llama.cpp's other tokenizer.ggml.pre families gives llama.cpp's ids for them
 *     (tokenizers/llamacpp/pre_families_llamacpp.json);
 *   Phi-1.5 (a Hugging Face tokenizer.json with 38 added tokens): written again, transformers' ids;
 *   BERT (ggml-vocab-bert-bge.gguf, bert-base-uncased's vocabulary): read back, transformers'
 *     bert-base-uncased ids, special ids and decodes (bert_fast.json) and llama.cpp's vectors;
 *   SentencePiece BPE (ggml-vocab-llama-spm.gguf, Llama 2's tokenizer.bin, stories260K's tok512.bin):
 *     a small interpreter here runs the written tokenizer.json as Hugging Face's tokenizers does
 *     (normalizer Prepend + Replace, BPE by merge rank with byte fallback, the decoder chain),
 *     independently of slm's loader, and its ids must equal SentencePiece's
 *     (llama2c_raw_sentencepiece.json), llama.cpp's vectors and, for tok512, llama2.c's encoder in slm;
 *     slm's own loader then reads the folder back and must agree with the interpreter (ids, BOS, decodes;
 *     test_hf_spm_bpe.c checks that reading against transformers' own ids);
 *   tokenizer_config.json: the class, and bos/eos/unk (and BERT's cls/sep/pad/mask) name the reference's ids;
 *   bad input: kinds the writer cannot express, NULL arguments and an unwritable folder give an error
 *     naming the problem and leave no tokenizer.json behind. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "tokenizer_fixture.h"
#include "tokenizers/hashmap.h"
#include "tokenizers/hf_tokenizer_write.h"
#include "tokenizers/tokenizer.h"

static char tmp_dir[64];

/* ---- encoders: slm's (tokenizer_fixture.h), or the interpreter's, behind one callback ---- */

/* llama.cpp's ids for the 68 fixture texts (fixture_texts_llamacpp.json, node-llama-cpp on the vocab files). */
static void check_llamacpp_fixture(encode_fn encode, const void *ctx, const char *vocab, const char *name) {
    json_t *root = load_fixture("tokenizers/llamacpp/fixture_texts_llamacpp.json");
    json_t *all = json_object_get(json_object_get(root, vocab), "ids");
    int matched = 0;
    CHECK(json_array_size(all) == json_array_size(texts), "%s: %zu llama.cpp cases", name, json_array_size(all));
    for (size_t i = 0; i < json_array_size(all) && i < json_array_size(texts); i++) {
        size_t len;
        const char *text = text_at(i, &len);
        int32_t *ids = NULL;
        size_t n = 0;
        int ok = encode(ctx, text, len, &ids, &n) && same_ints(json_array_get(all, i), ids, n);
        CHECK(ok, "%s: text %zu: ids differ from llama.cpp's", name, i);
        matched += ok;
        free(ids);
    }
    printf("%s: %d of %zu fixture texts tokenize as llama.cpp does\n", name, matched, json_array_size(all));
    json_decref(root);
}

/* A decoded string equals expected[0..len)? (only the part before a NUL counts, as a C string ends there) */
static int same_text(const char *got, const char *expected, size_t len) {
    const char *nul = memchr(expected, '\0', len);
    size_t n = nul ? (size_t)(nul - expected) : len;
    return got && strlen(got) == n && memcmp(got, expected, n) == 0;
}

static int32_t *json_ids(json_t *array, size_t *n) {
    *n = json_array_size(array);
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(array, i));
    return ids;
}

static int decode_equals(const slm_tokenizer *tok, json_t *ids_json, int skip_special, json_t *expected) {
    size_t n;
    int32_t *ids = json_ids(ids_json, &n);
    char *text = NULL;
    int ok = slm_detokenize(tok, ids, n, skip_special, &text, NULL) == SLM_OK &&
             same_text(text, json_string_value(expected), json_string_length(expected));
    slm_free(text);
    free(ids);
    return ok;
}

/* A transformers fast.json fixture: ids with and without special tokens, and both decodes, taken from
 * decodes_fixture instead when it is not NULL (transformers' decodes with clean_up_tokenization_spaces). */
static void check_hf_fixture(const slm_tokenizer *tok, const char *fixture, const char *decodes_fixture, const char *name) {
    json_t *root = load_fixture(fixture), *decodes = decodes_fixture ? load_fixture(decodes_fixture) : NULL;
    size_t i;
    json_t *c;
    int matched = 0, total = 0;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        size_t len;
        const char *text = text_at((size_t)json_integer_value(json_object_get(c, "i")), &len);
        json_t *d = decodes ? json_array_get(json_object_get(decodes, "single"), i) : c;
        CHECK(json_integer_value(json_object_get(d, "i")) == json_integer_value(json_object_get(c, "i")),
              "%s: case %zu is not the same text in %s", name, i, decodes_fixture);
        static const char *const kinds[2] = {"no_special", "with_special"};
        for (int add = 0; add < 2; add++) {
            json_t *enc = json_object_get(c, kinds[add]), *want = json_object_get(enc, "ids");
            int32_t *ids = NULL;
            size_t n = 0;
            int ok = slm_tokenize(tok, text, len, add, &ids, &n, NULL) == SLM_OK && same_ints(want, ids, n);
            CHECK(ok, "%s: text %zu %s: ids differ from transformers", name, i, kinds[add]);
            json_t *dec = json_object_get(d, kinds[add]);
            CHECK(decode_equals(tok, want, 0, json_object_get(dec, "decode")), "%s: text %zu %s: decode", name, i,
                  kinds[add]);
            CHECK(decode_equals(tok, want, 1, json_object_get(dec, "decode_skip_special")),
                  "%s: text %zu %s: decode skipping specials", name, i, kinds[add]);
            matched += ok;
            total++;
            slm_free(ids);
        }
    }
    CHECK(total >= 2 * 68, "%s: %d encodings in %s", name, total, fixture);
    printf("%s: %d of %d encodings match transformers\n", name, matched, total);
    json_decref(root);
    json_decref(decodes);
}

/* ---- writing and reading back ---- */

static const char *tmp_folder(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    mkdir(buf, 0700);
    return buf;
}

static void remove_written(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
}

static int save(const slm_tokenizer *tok, const char *dir, const char *name) {
    slm_error err = {0};
    slm_status st = tok ? slm_tokenizer_save_hf(tok, dir, &err) : SLM_ERR_INVALID_ARGUMENT;
    CHECK(st == SLM_OK, "%s: writing tokenizer.json: %s", name, err.message);
    return st == SLM_OK;
}

/* Writes tok into a fresh folder and loads it back with slm's Hugging Face loader. */
static slm_tokenizer *save_and_reload(const slm_tokenizer *tok, const char *dir, const char *name) {
    if (!save(tok, dir, name)) return NULL;
    slm_error err = {0};
    slm_tokenizer *back = slm_tokenizer_load(dir, &err);
    CHECK(back != NULL, "%s: reading the written folder: %s", name, err.message);
    return back;
}

static json_t *load_json_in(const char *dir, const char *file) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, NULL);
    CHECK(root != NULL, "%s does not parse as JSON", path);
    return root;
}

/* config[key] is the string want. */
static void check_config_string(json_t *config, const char *key, const char *want, const char *name) {
    const char *got = json_string_value(json_object_get(config, key));
    CHECK(got && strcmp(got, want) == 0, "%s: tokenizer_config.json %s is \"%s\", want \"%s\"", name, key,
          got ? got : "(none)", want);
}

/* The added_tokens entry of id in tokenizer.json has content want and special flag. */
static void check_added(json_t *root, int32_t id, const char *want, int special, const char *name) {
    size_t i;
    json_t *a, *found = NULL;
    json_array_foreach(json_object_get(root, "added_tokens"), i, a)
        if (json_integer_value(json_object_get(a, "id")) == id) found = a;
    const char *content = json_string_value(json_object_get(found, "content"));
    CHECK(found && content && strcmp(content, want) == 0 && json_is_true(json_object_get(found, "special")) == special,
          "%s: added token %d is \"%s\" (special %d), want \"%s\" (special %d)", name, (int)id, content ? content : "",
          found ? json_is_true(json_object_get(found, "special")) : -1, want, special);
}

static const char *type_at(json_t *root, const char *section) {
    const char *t = json_string_value(json_object_get(json_object_get(root, section), "type"));
    return t ? t : "(none)";
}

/* ---- GPT-2 ---- */

static void test_gpt2(void) {
    slm_tokenizer *tok = load("gguf/ggml-vocab-gpt-2.gguf");
    char dir[128];
    tmp_folder(dir, sizeof dir, "gpt2");
    slm_tokenizer *back = tok ? save_and_reload(tok, dir, "gpt-2 gguf -> HF") : NULL;
    if (back) {
        json_t *ref = load_fixture("tokenizers/fixtures/gpt2_fast.json"), *info = json_object_get(ref, "info");
        CHECK(slm_tokenizer_vocab_size(back) == json_integer_value(json_object_get(info, "len")) &&
                  slm_tokenizer_bos(back) == json_integer_value(json_object_get(info, "bos_token_id")) &&
                  slm_tokenizer_eos(back) == json_integer_value(json_object_get(info, "eos_token_id")),
              "gpt-2 gguf -> HF: vocab %d bos %d eos %d differ from transformers'", slm_tokenizer_vocab_size(back),
              slm_tokenizer_bos(back), slm_tokenizer_eos(back));
        json_decref(ref);
        check_hf_fixture(back, "tokenizers/fixtures/gpt2_fast.json", NULL, "gpt-2 gguf -> HF vs transformers gpt2");
        check_llamacpp_vectors_with(slm_encode_plain, back, "ggml-vocab-gpt-2.gguf", "gpt-2 gguf -> HF");
        json_t *root = load_json_in(dir, "tokenizer.json"), *config = load_json_in(dir, "tokenizer_config.json");
        json_t *pre = json_object_get(root, "pre_tokenizer");
        CHECK(!strcmp(type_at(root, "pre_tokenizer"), "ByteLevel") && json_is_false(json_object_get(pre, "add_prefix_space")) &&
                  json_is_true(json_object_get(pre, "use_regex")) && !strcmp(type_at(root, "decoder"), "ByteLevel") &&
                  !strcmp(type_at(root, "model"), "BPE") &&
                  json_array_size(json_object_get(json_object_get(root, "model"), "merges")) == 50000,
              "gpt-2 gguf -> HF: ByteLevel pre-tokenizer (no prefix space, GPT-2 regex), decoder, BPE with 50000 merges");
        check_added(root, 50256, "<|endoftext|>", 1, "gpt-2 gguf -> HF");
        check_config_string(config, "tokenizer_class", "GPT2Tokenizer", "gpt-2 gguf -> HF");
        check_config_string(config, "bos_token", "<|endoftext|>", "gpt-2 gguf -> HF");
        check_config_string(config, "eos_token", "<|endoftext|>", "gpt-2 gguf -> HF");
        json_decref(root);
        json_decref(config);
    }
    slm_tokenizer_free(back);
    remove_written(dir);
    slm_tokenizer_free(tok);
}

/* llama.cpp's other pre-tokenizers on the GPT-2 vocabulary, written as Split steps, against llama.cpp's ids. */
static void test_pre_families(void) {
    slm_tokenizer *gpt2 = load("gguf/ggml-vocab-gpt-2.gguf");
    json_t *root = load_fixture("tokenizers/llamacpp/pre_families_llamacpp.json");
    json_t *cases = json_object_get(root, "texts"), *by_pre = json_object_get(root, "ids");
    const char *pre;
    json_t *all;
    char gguf[128], dir[128];
    snprintf(gguf, sizeof gguf, "%s/pre.gguf", tmp_dir);
    CHECK(json_object_size(by_pre) >= 5, "pre_families_llamacpp.json has %zu families", json_object_size(by_pre));
    json_object_foreach(by_pre, pre, all) {
        slm_gguf_kv *kvs = NULL;
        int64_t n = 0;
        void *storage = NULL;
        slm_error err = {0};
        slm_status st = gpt2 ? slm_tokenizer_gguf_metadata(gpt2, NULL, &kvs, &n, &storage, &err) : SLM_ERR_IO;
        for (int64_t k = 0; st == SLM_OK && k < n; k++)
            if (strcmp(kvs[k].key, "tokenizer.ggml.pre") == 0) kvs[k].string = pre;
        if (st == SLM_OK) st = slm_gguf_write(gguf, kvs, n, NULL, 0, &err);
        slm_tokenizer_gguf_metadata_free(storage);
        slm_tokenizer *tok = st == SLM_OK ? slm_tokenizer_load_gguf_file(gguf, &err) : NULL;
        CHECK(tok != NULL, "pre %s: %s", pre, err.message);
        char name[96];
        snprintf(name, sizeof name, "pre %s -> HF", pre);
        tmp_folder(dir, sizeof dir, "pre");
        slm_tokenizer *back = tok ? save_and_reload(tok, dir, name) : NULL;
        int matched = 0;
        for (size_t i = 0; back && i < json_array_size(cases); i++) {
            json_t *text = json_array_get(cases, i);
            int32_t *ids = NULL;
            size_t n_ids = 0;
            int ok = slm_tokenize(back, json_string_value(text), json_string_length(text), 0, &ids, &n_ids, NULL) ==
                         SLM_OK &&
                     same_ints(json_array_get(all, i), ids, n_ids);
            CHECK(ok, "%s: \"%.40s\" splits differently from llama.cpp", name, json_string_value(text));
            matched += ok;
            slm_free(ids);
        }
        printf("%s: %d of %zu texts tokenize as llama.cpp does\n", name, matched, json_array_size(cases));
        if (back) {
            json_t *config = load_json_in(dir, "tokenizer_config.json");
            check_config_string(config, "tokenizer_class", "PreTrainedTokenizerFast", name);
            json_decref(config);
        }
        slm_tokenizer_free(back);
        slm_tokenizer_free(tok);
        remove_written(dir);
    }
    unlink(gguf);
    json_decref(root);
    slm_tokenizer_free(gpt2);
}

/* A Hugging Face tokenizer.json (Phi-1.5: 38 added whitespace tokens) written again gives transformers' ids. */
static void test_phi(void) {
    slm_tokenizer *tok = load("tokenizers/phi-1_5");
    char dir[128];
    tmp_folder(dir, sizeof dir, "phi");
    slm_tokenizer *back = tok ? save_and_reload(tok, dir, "phi-1_5 -> HF") : NULL;
    if (back) check_hf_fixture(back, "tokenizers/fixtures/phi-1_5_fast.json", NULL, "phi-1_5 -> HF vs transformers");
    slm_tokenizer_free(back);
    remove_written(dir);
    slm_tokenizer_free(tok);
}

/* ---- WordPiece ---- */

static void test_bert(void) {
    slm_tokenizer *tok = load("gguf/ggml-vocab-bert-bge.gguf");
    char dir[128];
    tmp_folder(dir, sizeof dir, "bert");
    slm_tokenizer *back = tok ? save_and_reload(tok, dir, "bert-bge gguf -> HF") : NULL;
    if (back) {
        json_t *ref = load_fixture("tokenizers/fixtures/bert_fast.json"), *info = json_object_get(ref, "info");
        static const char *const roles[] = {"cls", "sep", "unk", "pad", "mask"};
        for (int r = 0; r < 5; r++) {
            char key[32];
            snprintf(key, sizeof key, "%s_token_id", roles[r]);
            CHECK(slm_tokenizer_special(back, roles[r]) == json_integer_value(json_object_get(info, key)),
                  "bert-bge gguf -> HF: %s is %d, transformers' %lld", roles[r], slm_tokenizer_special(back, roles[r]),
                  (long long)json_integer_value(json_object_get(info, key)));
        }
        json_decref(ref);
        /* bge's (and llama.cpp's) decode cleans up spaces: transformers' decodes with that setting are slow.json's
         * (tokenizers/PROVENANCE.md: bert_tiniest, clean_up_tokenization_spaces true, decodes as slow.json) */
        check_hf_fixture(back, "tokenizers/fixtures/bert_fast.json", "tokenizers/fixtures/bert_slow.json",
                         "bert-bge gguf -> HF vs transformers bert-base-uncased");
        check_llamacpp_vectors_with(slm_encode_plain, back, "ggml-vocab-bert-bge.gguf", "bert-bge gguf -> HF");
        json_t *config = load_json_in(dir, "tokenizer_config.json");
        check_config_string(config, "tokenizer_class", "BertTokenizer", "bert-bge gguf -> HF");
        check_config_string(config, "cls_token", "[CLS]", "bert-bge gguf -> HF");
        check_config_string(config, "sep_token", "[SEP]", "bert-bge gguf -> HF");
        check_config_string(config, "unk_token", "[UNK]", "bert-bge gguf -> HF");
        check_config_string(config, "pad_token", "[PAD]", "bert-bge gguf -> HF");
        check_config_string(config, "mask_token", "[MASK]", "bert-bge gguf -> HF");
        CHECK(json_is_true(json_object_get(config, "do_lower_case")) &&
                  json_is_true(json_object_get(config, "clean_up_tokenization_spaces")),
              "bert-bge gguf -> HF: do_lower_case and clean_up_tokenization_spaces");
        json_decref(config);
    }
    slm_tokenizer_free(back);
    remove_written(dir);
    slm_tokenizer_free(tok);
}

/* ---- SentencePiece BPE: the written tokenizer.json run as Hugging Face's tokenizers runs it ---- */

static const char SPM_SPACE[] = "\xE2\x96\x81";

/* The parts of a LlamaTokenizerFast-style tokenizer.json its encoding and decoding need. */
typedef struct {
    json_t *root;
    slm_str_map vocab;     /* text -> id; keys point into root */
    slm_pair_map merges;   /* (left, right) -> (rank, merged) */
    const char **text;     /* (n) id -> text */
    size_t *len;
    int32_t n, unk, byte_id[256];
} hf_bpe;

static void hf_bpe_free(hf_bpe *h) {
    slm_str_map_free(&h->vocab);
    slm_pair_map_free(&h->merges);
    free(h->text);
    free(h->len);
    json_decref(h->root);
}

/* Reads dir/tokenizer.json, checking it has the layout the interpreter runs (one CHECK). */
static int hf_bpe_load(hf_bpe *h, const char *dir, const char *name) {
    memset(h, 0, sizeof *h);
    h->root = load_json_in(dir, "tokenizer.json");
    json_t *model = json_object_get(h->root, "model"), *vocab = json_object_get(model, "vocab");
    json_t *norm = json_object_get(json_object_get(h->root, "normalizer"), "normalizers");
    json_t *prepend = json_array_get(norm, 0), *replace = json_array_get(norm, 1);
    json_t *decoders = json_object_get(json_object_get(h->root, "decoder"), "decoders");
    const char *bad = NULL;
    if (!json_is_object(vocab)) bad = "model.vocab";
    else if (strcmp(type_at(h->root, "model"), "BPE") || !json_is_true(json_object_get(model, "byte_fallback")) ||
             !json_is_true(json_object_get(model, "fuse_unk")))
        bad = "model (BPE, byte_fallback, fuse_unk)";
    else if (json_array_size(norm) != 2 || strcmp(type_at(h->root, "normalizer"), "Sequence") ||
             strcmp(json_string_value(json_object_get(prepend, "type")), "Prepend") ||
             strcmp(json_string_value(json_object_get(prepend, "prepend")), SPM_SPACE) ||
             strcmp(json_string_value(json_object_get(replace, "type")), "Replace") ||
             strcmp(json_string_value(json_object_get(json_object_get(replace, "pattern"), "String")), " ") ||
             strcmp(json_string_value(json_object_get(replace, "content")), SPM_SPACE))
        bad = "normalizer (Prepend \"▁\", Replace \" \" -> \"▁\")";
    else if (!json_is_null(json_object_get(h->root, "pre_tokenizer")))
        bad = "pre_tokenizer (null)";
    else if (json_array_size(decoders) != 4 ||
             strcmp(json_string_value(json_object_get(json_array_get(decoders, 0), "type")), "Replace") ||
             strcmp(json_string_value(json_object_get(json_array_get(decoders, 1), "type")), "ByteFallback") ||
             strcmp(json_string_value(json_object_get(json_array_get(decoders, 2), "type")), "Fuse") ||
             strcmp(json_string_value(json_object_get(json_array_get(decoders, 3), "type")), "Strip") ||
             json_integer_value(json_object_get(json_array_get(decoders, 3), "start")) != 1)
        bad = "decoder (Replace, ByteFallback, Fuse, Strip one leading space)";
    const char *key;
    size_t key_len;
    json_t *v;
    if (!bad) {
        json_object_keylen_foreach(vocab, key, key_len, v) if (json_integer_value(v) >= h->n) h->n = (int32_t)json_integer_value(v) + 1;
        h->text = calloc((size_t)h->n, sizeof *h->text);
        h->len = calloc((size_t)h->n, sizeof *h->len);
        slm_str_map_init(&h->vocab, (size_t)h->n);
        json_object_keylen_foreach(vocab, key, key_len, v) {
            h->text[json_integer_value(v)] = key;
            h->len[json_integer_value(v)] = key_len;
            slm_str_map_put(&h->vocab, key, key_len, (int32_t)json_integer_value(v));
        }
        for (int b = 0; b < 256; b++) {
            char name_b[8];
            snprintf(name_b, sizeof name_b, "<0x%02X>", b);
            h->byte_id[b] = slm_str_map_get(&h->vocab, name_b, 6);
        }
        const char *unk = json_string_value(json_object_get(model, "unk_token"));
        h->unk = unk ? slm_str_map_get(&h->vocab, unk, strlen(unk)) : -1;
        json_t *merges = json_object_get(model, "merges");
        slm_pair_map_init(&h->merges, json_array_size(merges));
        size_t i;
        json_array_foreach(merges, i, v) {
            const char *m = json_string_value(v), *space = m ? strchr(m, ' ') : NULL;
            char joined[512];
            int32_t l = -1, r = -1, merged = -1;
            if (space && strlen(m) < sizeof joined) {
                l = slm_str_map_get(&h->vocab, m, (size_t)(space - m));
                r = slm_str_map_get(&h->vocab, space + 1, strlen(space + 1));
                snprintf(joined, sizeof joined, "%.*s%s", (int)(space - m), m, space + 1);
                merged = slm_str_map_get(&h->vocab, joined, strlen(joined));
            }
            if (l < 0 || r < 0 || merged < 0) {
                bad = "a merge that is not two vocabulary pieces forming a third";
                break;
            }
            slm_pair_map_put(&h->merges, l, r, (int32_t)i, merged);
        }
    }
    CHECK(!bad, "%s: tokenizer.json: %s", name, bad ? bad : "");
    return !bad;
}

/* Hugging Face's pipeline: "▁" + text with " " -> "▁"; one symbol per character (its <0xXX> byte tokens
 * when the character is not in the vocabulary); then the adjacent pair of lowest merge rank, leftmost
 * first, merges until none does. */
static int hf_bpe_encode(const void *ctx, const char *text, size_t len, int32_t **ids, size_t *n) {
    const hf_bpe *h = ctx;
    int32_t *sym = malloc((len * 3 + 8) * sizeof *sym);
    size_t count = 0;
    *ids = sym;
    *n = 0;
    if (len == 0) return 1; /* Prepend leaves an empty text empty */
    char *norm = malloc(len * 3 + 4);
    size_t m = 0;
    memcpy(norm, SPM_SPACE, 3);
    m = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(norm + m, SPM_SPACE, 3);
            m += 3;
        } else {
            norm[m++] = text[i];
        }
    }
    for (size_t i = 0; i < m;) {
        size_t k = 1;
        while (i + k < m && ((unsigned char)norm[i + k] & 0xC0) == 0x80) k++;
        int32_t id = slm_str_map_get(&h->vocab, norm + i, k);
        if (id >= 0) {
            sym[count++] = id;
        } else {
            int all = 1;
            for (size_t b = 0; b < k; b++) all = all && h->byte_id[(unsigned char)norm[i + b]] >= 0;
            for (size_t b = 0; all && b < k; b++) sym[count++] = h->byte_id[(unsigned char)norm[i + b]];
            if (!all && !(count > 0 && sym[count - 1] == h->unk)) sym[count++] = h->unk; /* fuse_unk */
        }
        i += k;
    }
    free(norm);
    for (;;) {
        size_t best = 0;
        const slm_pair_map_slot *best_slot = NULL;
        for (size_t i = 0; i + 1 < count; i++) {
            const slm_pair_map_slot *s = slm_pair_map_get(&h->merges, sym[i], sym[i + 1]);
            if (s && (!best_slot || s->rank < best_slot->rank)) {
                best_slot = s;
                best = i;
            }
        }
        if (!best_slot) break;
        sym[best] = best_slot->merged;
        memmove(sym + best + 1, sym + best + 2, (count - best - 2) * sizeof *sym);
        count--;
    }
    *n = count;
    return 1;
}

/* The decoder chain: "▁" -> " ", runs of <0xXX> tokens -> their bytes (U+FFFD per byte when not UTF-8),
 * fused, one leading space stripped. */
static char *hf_bpe_decode(const hf_bpe *h, const int32_t *ids, size_t n) {
    size_t cap = 16;
    for (size_t i = 0; i < n; i++) cap += ids[i] >= 0 && ids[i] < h->n ? h->len[ids[i]] * 3 + 3 : 0;
    char *out = malloc(cap), *bytes = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t nb = 0;
        while (i < n && ids[i] >= 0 && ids[i] < h->n && h->len[ids[i]] == 6 && !strncmp(h->text[ids[i]], "<0x", 3) &&
               h->text[ids[i]][5] == '>')
            bytes[nb++] = (char)strtol(h->text[ids[i++]] + 3, NULL, 16);
        if (nb) {
            int valid = 1;
            for (size_t k = 0, step; valid && k < nb; k += step) {
                step = 1;
                unsigned char c = (unsigned char)bytes[k];
                size_t need = c < 0x80 ? 0 : c >= 0xC2 && c < 0xE0 ? 1 : c >= 0xE0 && c < 0xF0 ? 2 : c >= 0xF0 && c < 0xF5 ? 3 : 9;
                valid = need < 9 && k + need < nb;
                for (size_t j = 1; valid && j <= need; j++) valid = ((unsigned char)bytes[k + j] & 0xC0) == 0x80;
                step += need;
            }
            for (size_t k = 0; k < nb; k++) {
                if (valid) out[o++] = bytes[k];
                else memcpy(out + o, "\xEF\xBF\xBD", 3), o += 3;
            }
            continue;
        }
        const char *t = ids[i] >= 0 && ids[i] < h->n ? h->text[ids[i]] : "";
        size_t len = ids[i] >= 0 && ids[i] < h->n ? h->len[ids[i]] : 0;
        for (size_t k = 0; k < len;) {
            if (len - k >= 3 && !memcmp(t + k, SPM_SPACE, 3)) {
                out[o++] = ' ';
                k += 3;
            } else {
                out[o++] = t[k++];
            }
        }
        i++;
    }
    out[o] = '\0';
    free(bytes);
    if (out[0] == ' ') memmove(out, out + 1, o);
    return out;
}

/* SentencePiece's own ids and decodes for the Llama 2 tokenizer.model (llama2c_raw_sentencepiece.json). */
static void check_sentencepiece_fixture(const hf_bpe *h, const char *name) {
    json_t *root = load_fixture("tokenizers/fixtures/llama2c_raw_sentencepiece.json");
    size_t i;
    json_t *c;
    int matched = 0, decoded = 0;
    json_array_foreach(json_object_get(root, "single"), i, c) {
        size_t len, n = 0, n_want;
        const char *text = text_at((size_t)json_integer_value(json_object_get(c, "i")), &len);
        json_t *want = json_object_get(c, "ids"), *decode = json_object_get(c, "decode");
        int32_t *ids = NULL;
        int ok = hf_bpe_encode(h, text, len, &ids, &n) && same_ints(want, ids, n);
        CHECK(ok, "%s: text %zu: ids differ from SentencePiece's", name, i);
        int32_t *want_ids = json_ids(want, &n_want);
        char *back = hf_bpe_decode(h, want_ids, n_want);
        int same = same_text(back, json_string_value(decode), json_string_length(decode));
        CHECK(same, "%s: text %zu: decode \"%s\", SentencePiece's \"%s\"", name, i, back, json_string_value(decode));
        matched += ok;
        decoded += same;
        free(back);
        free(want_ids);
        free(ids);
    }
    CHECK(json_array_size(json_object_get(root, "single")) == 68, "%s: SentencePiece cases", name);
    printf("%s: %d of 68 encodings and %d decodes match SentencePiece\n", name, matched, decoded);
    json_decref(root);
}

/* One text: slm's reading of the written folder gives the interpreter's ids (and BOS first with special
 * tokens) and decodes them as the interpreter does. 1 when it does. */
static int same_as_interpreter(const hf_bpe *h, const slm_tokenizer *tok, const char *text, size_t len) {
    int32_t *want = NULL, *ids = NULL, *with = NULL;
    size_t n_want = 0, n = 0, n_with = 0;
    hf_bpe_encode(h, text, len, &want, &n_want);
    int ok = slm_tokenize(tok, text, len, 0, &ids, &n, NULL) == SLM_OK && n == n_want &&
             (n == 0 || !memcmp(ids, want, n * sizeof *ids)) &&
             slm_tokenize(tok, text, len, 1, &with, &n_with, NULL) == SLM_OK && n_with == n + 1 && with[0] == 1 &&
             (n == 0 || !memcmp(with + 1, want, n * sizeof *ids));
    char *back = hf_bpe_decode(h, want, n_want), *got = NULL;
    ok = ok && slm_detokenize(tok, want, n_want, 0, &got, NULL) == SLM_OK && !strcmp(got, back);
    slm_free(got);
    free(back);
    slm_free(ids);
    slm_free(with);
    free(want);
    return ok;
}

/* slm's own loader reads the written folder back (slm_tokenizer_hf_reloadable) and agrees with the interpreter
 * on the fixture texts and llama.cpp's test texts. Texts spelling "<s>", "</s>" or "<unk>" are left out: the
 * interpreter does not cut added tokens out of the text, Hugging Face (and slm) do. */
static void check_slm_reads_back(const hf_bpe *h, const slm_tokenizer *written, const char *dir, const char *name) {
    slm_error err = {0};
    slm_tokenizer *tok = slm_tokenizer_load(dir, &err);
    CHECK(slm_tokenizer_hf_reloadable(written) && tok, "%s: slm reads the written folder back: %s", name, err.message);
    if (!tok) return;
    CHECK(slm_tokenizer_bos(tok) == 1 && slm_tokenizer_eos(tok) == 2 && slm_tokenizer_special(tok, "unk") == 0,
          "%s: read back with bos %d eos %d unk %d", name, slm_tokenizer_bos(tok), slm_tokenizer_eos(tok),
          slm_tokenizer_special(tok, "unk"));
    char path[1024];
    char *inp = read_file(test_path(path, sizeof path, "tokenizers/llamacpp/ggml-vocab-llama-spm.gguf.inp"), NULL);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int same = 0, compared = 0;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        size_t len;
        const char *text = text_at(i, &len);
        if (strstr(text, "<s>") || strstr(text, "</s>") || strstr(text, "<unk>")) continue;
        int ok = same_as_interpreter(h, tok, text, len);
        CHECK(ok, "%s: fixture text %zu: slm's reading differs from the interpreter's", name, i);
        same += ok;
        compared++;
    }
    for (char *text = inp, *end; text && (end = strstr(text, sep)) != NULL; text = end + sizeof sep - 1) {
        int ok = same_as_interpreter(h, tok, text, (size_t)(end - text));
        CHECK(ok, "%s: llama.cpp text \"%.40s\": slm's reading differs from the interpreter's", name, text);
        same += ok;
        compared++;
    }
    CHECK(compared > 67 + 40, "%s: %d texts compared", name, compared);
    printf("%s: slm reads it back: %d of %d texts as the interpreter\n", name, same, compared);
    free(inp);
    slm_tokenizer_free(tok);
}

/* The written files of a SentencePiece BPE: the BOS template, the control tokens, the config. */
static void check_spm_files(const hf_bpe *h, const char *dir, const char *name) {
    json_t *post = json_object_get(h->root, "post_processor"), *single = json_object_get(post, "single");
    const char *first = json_string_value(json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
    json_t *bos_ids = json_object_get(json_object_get(json_object_get(post, "special_tokens"), "<s>"), "ids");
    CHECK(!strcmp(type_at(h->root, "post_processor"), "TemplateProcessing") && json_array_size(single) == 2 && first &&
              !strcmp(first, "<s>") && json_integer_value(json_array_get(bos_ids, 0)) == 1,
          "%s: post-processor <s>(1) $A", name);
    check_added(h->root, 0, "<unk>", 1, name);
    check_added(h->root, 1, "<s>", 1, name);
    check_added(h->root, 2, "</s>", 1, name);
    json_t *config = load_json_in(dir, "tokenizer_config.json");
    check_config_string(config, "tokenizer_class", "LlamaTokenizer", name);
    check_config_string(config, "bos_token", "<s>", name);
    check_config_string(config, "eos_token", "</s>", name);
    check_config_string(config, "unk_token", "<unk>", name);
    CHECK(json_is_true(json_object_get(config, "add_bos_token")) && json_is_false(json_object_get(config, "add_eos_token")),
          "%s: add_bos_token true, add_eos_token false", name);
    json_decref(config);
}

static void test_llama_spm(void) {
    slm_tokenizer *tok = load("gguf/ggml-vocab-llama-spm.gguf");
    char dir[128];
    tmp_folder(dir, sizeof dir, "llama_spm");
    hf_bpe h;
    if (tok && save(tok, dir, "llama-spm gguf -> HF") && hf_bpe_load(&h, dir, "llama-spm gguf -> HF")) {
        check_llamacpp_vectors_with(hf_bpe_encode, &h, "ggml-vocab-llama-spm.gguf", "llama-spm gguf -> HF");
        check_llamacpp_fixture(hf_bpe_encode, &h, "llama-spm", "llama-spm gguf -> HF");
        check_sentencepiece_fixture(&h, "llama-spm gguf -> HF");
        check_spm_files(&h, dir, "llama-spm gguf -> HF");
        check_slm_reads_back(&h, tok, dir, "llama-spm gguf -> HF");
        hf_bpe_free(&h);
    }
    remove_written(dir);
    slm_tokenizer_free(tok);
}

/* Llama 2's tokenizer.bin (llama2.c's export of tokenizer.model) against SentencePiece on tokenizer.model. */
static void test_llama2c_bin(void) {
    slm_tokenizer *tok = load("tokenizers/llama2c/tokenizer.bin");
    char dir[128];
    tmp_folder(dir, sizeof dir, "llama2c");
    hf_bpe h;
    if (tok && save(tok, dir, "llama2.c tokenizer.bin -> HF") && hf_bpe_load(&h, dir, "llama2.c tokenizer.bin -> HF")) {
        check_sentencepiece_fixture(&h, "llama2.c tokenizer.bin -> HF");
        check_llamacpp_vectors_with(hf_bpe_encode, &h, "ggml-vocab-llama-spm.gguf", "llama2.c tokenizer.bin -> HF");
        check_spm_files(&h, dir, "llama2.c tokenizer.bin -> HF");
        check_slm_reads_back(&h, tok, dir, "llama2.c tokenizer.bin -> HF");
        hf_bpe_free(&h);
    }
    remove_written(dir);
    slm_tokenizer_free(tok);
}

/* stories260K's tok512.bin: the interpreter's ids equal llama2.c's encoder's (slm's, itself checked against
 * SentencePiece in test_tokenizer.c) on every fixture text, and decode back to the text. */
static void test_tok512(void) {
    char path[1024], dir[128];
    snprintf(path, sizeof path, "%s/../../models/stories260K/tok512.bin", test_data_dir());
    slm_error err = {0};
    slm_tokenizer *tok = slm_tokenizer_load(path, &err);
    CHECK(tok != NULL, "%s: %s", path, err.message);
    tmp_folder(dir, sizeof dir, "tok512");
    hf_bpe h;
    if (tok && save(tok, dir, "tok512 -> HF") && hf_bpe_load(&h, dir, "tok512 -> HF")) {
        int same = 0, round = 0;
        for (size_t i = 0; i < json_array_size(texts); i++) {
            size_t len, n = 0, n_ref = 0;
            const char *text = text_at(i, &len);
            int32_t *ids = NULL, *ref = NULL;
            int ok = hf_bpe_encode(&h, text, len, &ids, &n) && slm_encode_plain(tok, text, len, &ref, &n_ref) &&
                     n == n_ref && (n == 0 || !memcmp(ids, ref, n * sizeof *ids));
            CHECK(ok, "tok512 -> HF: text %zu: ids differ from llama2.c's encoder", i);
            char *back = ids ? hf_bpe_decode(&h, ids, n) : NULL;
            int rt = same_text(back, text, len);
            CHECK(rt, "tok512 -> HF: text %zu does not decode back to itself", i);
            same += ok;
            round += rt;
            free(back);
            free(ids);
            free(ref);
        }
        printf("tok512 -> HF: %d of %zu texts as llama2.c's encoder, %d decode back\n", same, json_array_size(texts), round);
        check_spm_files(&h, dir, "tok512 -> HF");
        check_slm_reads_back(&h, tok, dir, "tok512 -> HF");
        hf_bpe_free(&h);
    }
    remove_written(dir);
    slm_tokenizer_free(tok);
}

/* ---- bad input ---- */

static void check_refused(const slm_tokenizer *tok, const char *dir, slm_status want, const char *needle, const char *what) {
    slm_error err = {0};
    slm_status st = slm_tokenizer_save_hf(tok, dir, &err);
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir ? dir : "");
    CHECK(st == want && strstr(err.message, needle) && access(path, F_OK) != 0,
          "%s: status %d (want %d), message \"%s\" (want \"%s\"), tokenizer.json %s", what, (int)st, (int)want,
          err.message, needle, access(path, F_OK) ? "absent" : "left behind");
}

static void test_bad_input(void) {
    char dir[128];
    tmp_folder(dir, sizeof dir, "bad");
    slm_tokenizer *albert = load("tokenizers/albert");     /* SentencePiece Unigram */
    slm_tokenizer *flaubert = load("tokenizers/flaubert"); /* XLM-style BPE */
    slm_tokenizer *gpt2 = load("tokenizers/gpt2");
    if (albert) check_refused(albert, dir, SLM_ERR_UNSUPPORTED, "only byte-level BPE", "Unigram");
    if (flaubert) check_refused(flaubert, dir, SLM_ERR_UNSUPPORTED, "only byte-level BPE", "XLM BPE");
    check_refused(NULL, dir, SLM_ERR_INVALID_ARGUMENT, "NULL", "NULL tokenizer");
    if (gpt2) {
        check_refused(gpt2, NULL, SLM_ERR_INVALID_ARGUMENT, "NULL", "NULL folder");
        check_refused(gpt2, "/nonexistent-slm-dir/hf", SLM_ERR_IO, "/nonexistent-slm-dir/hf/tokenizer.json",
                      "missing folder");
    }
    CHECK(!slm_tokenizer_hf_reloadable(albert) && !slm_tokenizer_hf_reloadable(NULL) && slm_tokenizer_hf_reloadable(gpt2),
          "slm_tokenizer_hf_reloadable: Unigram and NULL no, byte-level BPE yes");
    slm_tokenizer_free(albert);
    slm_tokenizer_free(flaubert);
    slm_tokenizer_free(gpt2);
    rmdir(dir);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_hf_tok_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        CHECK(0, "mkdtemp");
        TEST_END();
    }
    json_t *root = load_fixture("tokenizers/fixtures/texts.json");
    texts = json_object_get(root, "texts");
    CHECK(json_array_size(texts) == 68, "texts.json has %zu texts", json_array_size(texts));
    test_gpt2();
    test_pre_families();
    test_phi();
    test_bert();
    test_llama_spm();
    test_llama2c_bin();
    test_tok512();
    test_bad_input();
    json_decref(root);
    rmdir(tmp_dir);
    TEST_END();
}
