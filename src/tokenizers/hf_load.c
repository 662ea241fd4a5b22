/* hf_load.c — reading a Hugging Face BPE tokenizer: tokenizer.json, or the older vocab.json +
 * merges.txt (+ added_tokens.json, tokenizer_config.json, special_tokens_map.json) with GPT-2's
 * defaults. Both end in the same slm_bpe. Two kinds of tokenizer.json BPE are read:
 *   byte-level (GPT-2, Phi): a ByteLevel pre-tokenizer and the ByteLevel decoder;
 *   SentencePiece-style (Llama 2, TinyLlama, llama2.c models as transformers writes them): tokens spell
 *     spaces "▁", byte_fallback turns characters outside the vocabulary into <0xXX> tokens; either the
 *     "legacy" normalizer Sequence[Prepend("▁"), Replace(" ", "▁")] and no pre-tokenizer, or a Metaspace
 *     pre-tokenizer (prepend_scheme always/first/never, split) and no normalizer; decoded by its decoder
 *     chain (hf_decoder.c: Replace, ByteFallback, Fuse, Strip, Metaspace).
 *
 * Supported tokenizer.json parts (anything else is SLM_ERR_UNSUPPORTED, by name):
 *   normalizer      null, NFC, NFKC, Prepend, Replace (String patterns), or a Sequence of those
 *   pre_tokenizer   null, ByteLevel, Split (Isolated/Removed/MergedWithPrevious/MergedWithNext),
 *                   Metaspace (not with ByteLevel), Sequence
 *   model           BPE (merges as "a b" or ["a", "b"], each naming two vocabulary tokens whose
 *                   concatenation is one too, else SLM_ERR_FORMAT; unk_token, fuse_unk, byte_fallback,
 *                   ignore_merges). With byte_fallback, missing <0xXX> tokens are not an error: as in
 *                   tokenizers, a character whose bytes are not all in the vocabulary becomes unk
 *   post_processor  null, ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence
 *   decoder         ByteLevel with a ByteLevel pre-tokenizer; else Replace (String), ByteFallback, Fuse,
 *                   Strip (content " ", stop 0, after Fuse), Metaspace, or a Sequence of those
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer_impl.h"
#include "tokenizers/unigram.h"

enum { MAX_VOCAB = 1 << 24 };

static const char GPT2_SPLIT[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void slm_bpe_free(slm_bpe *bpe) {
    for (int i = 0; i < bpe->n_steps; i++)
        if (bpe->steps[i].regex) slm_regex_free(bpe->steps[i].regex);
    free(bpe->steps);
    for (int i = 0; i < bpe->n_normalizers; i++) {
        free(bpe->normalizers[i].text);
        free(bpe->normalizers[i].content);
    }
    free(bpe->normalizers);
    for (int i = 0; i < bpe->n_decoders; i++) {
        free(bpe->decoders[i].pattern);
        free(bpe->decoders[i].content);
    }
    free(bpe->decoders);
    slm_pair_map_free(&bpe->merges);
    free(bpe->added);
    free(bpe->prefix_ids);
    free(bpe->suffix_ids);
    memset(bpe, 0, sizeof *bpe);
}

/* Loads a JSON file; a missing file is SLM_ERR_IO, a malformed one SLM_ERR_FORMAT. */
static json_t *load_json(const char *path, size_t flags, slm_error *err) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL | flags, &jerr);
    if (!root) {
        slm_status st = json_error_code(&jerr) == json_error_cannot_open_file ? SLM_ERR_IO : SLM_ERR_FORMAT;
        slm_fail(err, st, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    }
    return root;
}

/* Loads dir/name when it exists; NULL (and no error) when it does not. */
static json_t *load_optional_json(const char *dir, const char *name, slm_status *st, slm_error *err) {
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    json_t *root = load_json(path, JSON_DECODE_INT_AS_REAL, err);
    if (!root) *st = err ? err->status : SLM_ERR_FORMAT;
    return root;
}

/* A token given as "text" or as {"content": "text", ...}; NULL otherwise. */
static json_t *token_content(json_t *value) {
    if (json_is_string(value)) return value;
    if (json_is_object(value)) {
        json_t *c = json_object_get(value, "content");
        if (json_is_string(c)) return c;
    }
    return NULL;
}

static int get_bool(json_t *obj, const char *key, int fallback) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

/* The id of a token text among the vocabulary and added tokens, or -1. */
static int32_t find_token(const slm_tokenizer *tok, const char *text, size_t len) {
    int32_t id = slm_str_map_get(&tok->lookup, text, len);
    if (id >= 0) return id;
    for (int i = 0; i < tok->bpe.n_added; i++)
        if (tok->bpe.added[i].len == len && memcmp(tok->bpe.added[i].content, text, len) == 0)
            return tok->bpe.added[i].id;
    return -1;
}

/* ---- vocabulary ---- */

/* An id: a non-negative integer below MAX_VOCAB (also as an integral real, for the config files,
 * which are read with JSON_DECODE_INT_AS_REAL because of their huge model_max_length); else -1. */
static int32_t id_value(json_t *v) {
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : -1;
    if (d < 0 || d >= MAX_VOCAB || d != (double)(int32_t)d) return -1;
    return (int32_t)d;
}

/* Largest id in a {"text": id} object, checking every id; -1 for an empty object. */
static slm_status vocab_max_id(const char *where, json_t *vocab, int32_t *max_id, slm_error *err) {
    const char *key;
    size_t key_len;
    json_t *value;
    *max_id = -1;
    json_object_keylen_foreach(vocab, key, key_len, value) {
        if (id_value(value) < 0)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: vocab entry \"%.*s\" has an id that is not an integer in 0..%d",
                            where, (int)(key_len > 60 ? 60 : key_len), key, MAX_VOCAB - 1);
        if (id_value(value) > *max_id) *max_id = id_value(value);
    }
    return SLM_OK;
}

static slm_status set_vocab_texts(slm_tokenizer *tok, const char *where, json_t *vocab, slm_error *err) {
    const char *key;
    size_t key_len;
    json_t *value;
    json_object_keylen_foreach(vocab, key, key_len, value) {
        if (slm_tokenizer_set_text(tok, id_value(value), key, key_len) != 0)
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    return SLM_OK;
}

/* The model's own text -> id map (added tokens that replaced an entry's text are left out). */
static slm_status build_lookup(slm_tokenizer *tok, const char *where, json_t *vocab, slm_error *err) {
    const char *key;
    size_t key_len;
    json_t *value;
    if (slm_str_map_init(&tok->lookup, json_object_size(vocab)) != 0)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    json_object_keylen_foreach(vocab, key, key_len, value) {
        const slm_token_entry *e = &tok->tokens[id_value(value)];
        if (e->text_len != key_len || memcmp(e->text, key, key_len) != 0) continue;
        if (slm_str_map_put(&tok->lookup, e->text, e->text_len, id_value(value)) != 0)
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    return SLM_OK;
}

/* Registers one merge (rank = its line). Both halves and their concatenation must be in the vocabulary. */
static slm_status add_merge(slm_tokenizer *tok, const char *where, int32_t rank, const char *a, size_t a_len,
                            const char *b, size_t b_len, slm_error *err) {
    int32_t left = slm_str_map_get(&tok->lookup, a, a_len), right = slm_str_map_get(&tok->lookup, b, b_len);
    char stack[256];
    char *joined = a_len + b_len <= sizeof stack ? stack : malloc(a_len + b_len);
    if (!joined) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    memcpy(joined, a, a_len);
    memcpy(joined + a_len, b, b_len);
    int32_t merged = slm_str_map_get(&tok->lookup, joined, a_len + b_len);
    if (joined != stack) free(joined);
    if (left < 0 || right < 0 || merged < 0)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: merge %d (\"%.*s\" \"%.*s\") uses a token not in the vocabulary",
                        where, (int)rank, (int)(a_len > 40 ? 40 : a_len), a, (int)(b_len > 40 ? 40 : b_len), b);
    if (slm_pair_map_put(&tok->bpe.merges, left, right, rank, merged) != 0)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return SLM_OK;
}

/* A merges line "a b": exactly one space separates the halves. */
static slm_status add_merge_line(slm_tokenizer *tok, const char *where, int32_t rank, const char *line, size_t n,
                                 slm_error *err) {
    const char *space = memchr(line, ' ', n);
    if (!space || memchr(space + 1, ' ', n - (size_t)(space + 1 - line)))
        return slm_fail(err, SLM_ERR_FORMAT, "%s: merge %d \"%.*s\" is not two tokens separated by one space", where,
                        (int)rank, (int)(n > 60 ? 60 : n), line);
    return add_merge(tok, where, rank, line, (size_t)(space - line), space + 1, n - (size_t)(space + 1 - line), err);
}

/* ---- added tokens ---- */

/* Adds (or updates) an added token; content becomes the entry's text. */
static slm_status add_added_token(slm_tokenizer *tok, const char *where, int32_t id, const char *content,
                                  size_t len, int special, int normalized, int lstrip, int rstrip, int single_word,
                                  slm_error *err) {
    slm_bpe *bpe = &tok->bpe;
    if (id < 0 || id >= tok->n_tokens)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: added token \"%.*s\" has id %d outside the vocabulary", where,
                        (int)(len > 60 ? 60 : len), content, (int)id);
    slm_token_entry *e = &tok->tokens[id];
    if ((!e->text || e->text_len != len || memcmp(e->text, content, len) != 0) &&
        slm_tokenizer_set_text(tok, id, content, len) != 0)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    int k = 0;
    while (k < bpe->n_added && bpe->added[k].id != id) k++;
    if (k == bpe->n_added) {
        slm_added_token *grown = realloc(bpe->added, (size_t)(bpe->n_added + 1) * sizeof *grown);
        if (!grown) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        bpe->added = grown;
        bpe->n_added++;
    }
    slm_added_token *a = &bpe->added[k];
    *a = (slm_added_token){id, tok->tokens[id].text, (uint32_t)len, (uint8_t)single_word, (uint8_t)lstrip, (uint8_t)rstrip,
                           (uint8_t)normalized};
    e->flags |= SLM_TOKEN_ADDED;
    if (special) e->flags |= SLM_TOKEN_SPECIAL;
    else e->flags &= (uint8_t)~SLM_TOKEN_SPECIAL;
    return SLM_OK;
}

/* Points every added token at its entry's text (texts may have moved while loading). */
static void link_added_contents(slm_tokenizer *tok) {
    for (int i = 0; i < tok->bpe.n_added; i++) tok->bpe.added[i].content = tok->tokens[tok->bpe.added[i].id].text;
}

/* Largest id among tokenizer.json's added_tokens. */
static slm_status added_max_id(const char *where, json_t *added, int32_t *max_id, slm_error *err) {
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= MAX_VOCAB ||
            !json_is_string(json_object_get(a, "content")))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: added_tokens[%zu] needs an integer id in 0..%d and a content",
                            where, i, MAX_VOCAB - 1);
        if (json_integer_value(id) > *max_id) *max_id = (int32_t)json_integer_value(id);
    }
    return SLM_OK;
}

/* The byte-level decoder: a token whose characters are all in the byte alphabet decodes to those
 * bytes; any other token (e.g. Phi's added whitespace runs) decodes to its own UTF-8. */
static slm_status compute_pieces(slm_tokenizer *tok, const char *where, slm_error *err) {
    const slm_bpe *bpe = &tok->bpe;
    char *buf = NULL;
    size_t cap = 0;
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        if (!e->text) continue;
        if (e->text_len > cap) {
            char *bigger = realloc(buf, e->text_len);
            if (!bigger) goto oom;
            buf = bigger;
            cap = e->text_len;
        }
        size_t n = 0, i = 0;
        while (i < e->text_len) {
            size_t k;
            int32_t cp = slm_utf8_decode((const unsigned char *)e->text + i, e->text_len - i, &k);
            if (cp < 0 || cp >= 324 || bpe->char_byte[cp] < 0) break;
            buf[n++] = (char)bpe->char_byte[cp];
            i += k;
        }
        if (i == e->text_len && n != e->text_len && slm_tokenizer_set_piece(tok, id, buf, n) != 0) goto oom;
        if (i == e->text_len && n == e->text_len && memcmp(buf, e->text, n) != 0 &&
            slm_tokenizer_set_piece(tok, id, buf, n) != 0)
            goto oom;
    }
    free(buf);
    return SLM_OK;
oom:
    free(buf);
    return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
}

/* ---- tokenizer.json sections ---- */

static const char *type_of(json_t *obj) {
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t ? t : "(no type)";
}

static slm_status add_normalizer(slm_tokenizer *tok, const char *where, slm_bpe_norm_step step, slm_error *err) {
    slm_bpe *bpe = &tok->bpe;
    slm_bpe_norm_step *grown = realloc(bpe->normalizers, (size_t)(bpe->n_normalizers + 1) * sizeof *grown);
    if (!grown) {
        free(step.text);
        free(step.content);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    bpe->normalizers = grown;
    bpe->normalizers[bpe->n_normalizers++] = step;
    return SLM_OK;
}

/* A copy of a JSON string's bytes (NUL-terminated), or NULL when out of memory. */
static char *copy_json_string(json_t *s) {
    size_t n = json_string_length(s);
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, json_string_value(s), n);
        copy[n] = '\0';
    }
    return copy;
}

static slm_status parse_normalizer(slm_tokenizer *tok, const char *where, json_t *norm, slm_error *err) {
    if (!norm || json_is_null(norm)) return SLM_OK;
    const char *type = type_of(norm);
    slm_bpe_norm_step step = {0};
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(norm, "normalizers"), i, n) {
            slm_status st = parse_normalizer(tok, where, n, err);
            if (st != SLM_OK) return st;
        }
        return SLM_OK;
    }
    if (strcmp(type, "NFC") == 0 || strcmp(type, "NFKC") == 0) {
        step.kind = type[2] == 'C' ? SLM_BPE_NORM_NFC : SLM_BPE_NORM_NFKC;
        return add_normalizer(tok, where, step, err);
    }
    if (strcmp(type, "Prepend") == 0) {
        json_t *prepend = json_object_get(norm, "prepend");
        if (!json_is_string(prepend))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: normalizer Prepend has no \"prepend\" string", where);
        step.kind = SLM_BPE_NORM_PREPEND;
        step.text_len = (uint32_t)json_string_length(prepend);
        if (!(step.text = copy_json_string(prepend))) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        return add_normalizer(tok, where, step, err);
    }
    if (strcmp(type, "Replace") == 0) {
        json_t *pattern = json_object_get(norm, "pattern"), *content = json_object_get(norm, "content");
        json_t *literal = json_object_get(pattern, "String");
        if (json_object_get(pattern, "Regex"))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: normalizer Replace with a Regex pattern is not supported "
                            "(String patterns are)", where);
        if (!json_is_string(literal) || json_string_length(literal) == 0 || !json_is_string(content))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: normalizer Replace needs a non-empty String pattern and a content",
                            where);
        step.kind = SLM_BPE_NORM_REPLACE;
        step.text_len = (uint32_t)json_string_length(literal);
        step.content_len = (uint32_t)json_string_length(content);
        step.text = copy_json_string(literal);
        step.content = copy_json_string(content);
        if (!step.text || !step.content) {
            free(step.text);
            free(step.content);
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        }
        return add_normalizer(tok, where, step, err);
    }
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: normalizer %s is not supported", where, type);
}

slm_status slm_metaspace_prepend_scheme(void *json_metaspace, const char *where, slm_prepend_scheme *out,
                                        slm_error *err) {
    json_t *m = json_metaspace;
    const char *scheme = json_string_value(json_object_get(m, "prepend_scheme"));
    if (!scheme || strcmp(scheme, "always") == 0) *out = SLM_PREPEND_ALWAYS;
    else if (strcmp(scheme, "first") == 0) *out = SLM_PREPEND_FIRST;
    else if (strcmp(scheme, "never") == 0) *out = SLM_PREPEND_NEVER;
    else return slm_fail(err, SLM_ERR_FORMAT, "%s: Metaspace prepend_scheme \"%s\" is unknown", where, scheme);
    if (json_is_false(json_object_get(m, "add_prefix_space"))) { /* the older files' spelling */
        if (scheme && *out != SLM_PREPEND_NEVER)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: Metaspace add_prefix_space false does not match prepend_scheme %s",
                            where, scheme);
        *out = SLM_PREPEND_NEVER;
    }
    return SLM_OK;
}

static slm_status add_step(slm_tokenizer *tok, const char *where, slm_pretokenizer_step step, slm_error *err) {
    slm_bpe *bpe = &tok->bpe;
    slm_pretokenizer_step *grown = realloc(bpe->steps, (size_t)(bpe->n_steps + 1) * sizeof *grown);
    if (!grown) {
        if (step.regex) slm_regex_free(step.regex);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    bpe->steps = grown;
    bpe->steps[bpe->n_steps++] = step;
    return SLM_OK;
}

static slm_status parse_pre_tokenizer(slm_tokenizer *tok, const char *where, json_t *pre, slm_error *err) {
    if (!pre || json_is_null(pre)) return SLM_OK;
    const char *type = type_of(pre);
    slm_pretokenizer_step step = {0};
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(pre, "pretokenizers"), i, p) {
            slm_status st = parse_pre_tokenizer(tok, where, p, err);
            if (st != SLM_OK) return st;
        }
        return SLM_OK;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (tok->bpe.metaspace)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: a ByteLevel pre-tokenizer with Metaspace is not supported", where);
        step.is_byte_level = 1;
        step.add_prefix_space = get_bool(pre, "add_prefix_space", 1);
        if (get_bool(pre, "use_regex", 1)) {
            step.regex = slm_regex_compile(GPT2_SPLIT, sizeof GPT2_SPLIT - 1, 0, where, err);
            if (!step.regex) return err ? err->status : SLM_ERR_UNSUPPORTED;
        }
        tok->bpe.byte_level = 1;
        return add_step(tok, where, step, err);
    }
    if (strcmp(type, "Metaspace") == 0) {
        json_t *replacement = json_object_get(pre, "replacement");
        size_t ch = 0;
        if (json_is_string(replacement) && json_string_length(replacement) > 0)
            slm_utf8_decode((const unsigned char *)json_string_value(replacement), json_string_length(replacement), &ch);
        if (!json_is_string(replacement) || ch == 0 || ch != json_string_length(replacement))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: Metaspace replacement is not one character", where);
        if (tok->bpe.byte_level)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: a Metaspace pre-tokenizer with ByteLevel is not supported", where);
        step.is_metaspace = 1;
        memcpy(step.replacement, json_string_value(replacement), ch);
        step.split = get_bool(pre, "split", 1);
        slm_status st = slm_metaspace_prepend_scheme(pre, where, &step.prepend, err);
        if (st != SLM_OK) return st;
        tok->bpe.metaspace = 1;
        return add_step(tok, where, step, err);
    }
    if (strcmp(type, "Split") == 0) {
        if (tok->bpe.byte_level)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: a Split pre-tokenizer after ByteLevel is not supported", where);
        json_t *pattern = json_object_get(pre, "pattern");
        json_t *regex = json_object_get(pattern, "Regex"), *literal = json_object_get(pattern, "String");
        const char *behavior = json_string_value(json_object_get(pre, "behavior"));
        if (!json_is_string(regex) && !json_is_string(literal))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: Split pre-tokenizer without a Regex or String pattern", where);
        if (get_bool(pre, "invert", 0))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: Split pre-tokenizer with invert is not supported", where);
        if (!behavior || strcmp(behavior, "Isolated") == 0) step.behavior = SLM_SPLIT_ISOLATED;
        else if (strcmp(behavior, "Removed") == 0) step.behavior = SLM_SPLIT_REMOVED;
        else if (strcmp(behavior, "MergedWithPrevious") == 0) step.behavior = SLM_SPLIT_MERGED_WITH_PREVIOUS;
        else if (strcmp(behavior, "MergedWithNext") == 0) step.behavior = SLM_SPLIT_MERGED_WITH_NEXT;
        else return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: Split behavior %s is not supported", where, behavior);
        json_t *p = json_is_string(regex) ? regex : literal;
        step.regex = slm_regex_compile(json_string_value(p), json_string_length(p), p == literal, where, err);
        if (!step.regex) return err ? err->status : SLM_ERR_UNSUPPORTED;
        return add_step(tok, where, step, err);
    }
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported", where, type);
}

static slm_status append_ids(int32_t **ids, int *n, const int32_t *more, int n_more) {
    int32_t *grown = realloc(*ids, (size_t)(*n + n_more) * sizeof *grown);
    if (!grown) return SLM_ERR_OUT_OF_MEMORY;
    memcpy(grown + *n, more, (size_t)n_more * sizeof *more);
    *ids = grown;
    *n += n_more;
    return SLM_OK;
}

/* ["[CLS]", 101] -> 101 */
static int32_t pair_id(json_t *pair) {
    json_t *id = json_array_get(pair, 1);
    return json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;
}

static slm_status parse_post_processor(slm_tokenizer *tok, const char *where, json_t *post, slm_error *err) {
    if (!post || json_is_null(post)) return SLM_OK;
    slm_bpe *bpe = &tok->bpe;
    const char *type = type_of(post);
    if (strcmp(type, "ByteLevel") == 0) return SLM_OK; /* only trims offsets */
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(post, "processors"), i, p) {
            slm_status st = parse_post_processor(tok, where, p, err);
            if (st != SLM_OK) return st;
        }
        return SLM_OK;
    }
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        int32_t cls = pair_id(json_object_get(post, "cls")), sep = pair_id(json_object_get(post, "sep"));
        if (cls < 0 || sep < 0 || cls >= tok->n_tokens || sep >= tok->n_tokens)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: %s needs cls and sep tokens in the vocabulary", where, type);
        if (append_ids(&bpe->prefix_ids, &bpe->n_prefix, &cls, 1) != SLM_OK ||
            append_ids(&bpe->suffix_ids, &bpe->n_suffix, &sep, 1) != SLM_OK)
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        return SLM_OK;
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(post, "single"), *specials = json_object_get(post, "special_tokens");
        int seen_sequence = 0;
        size_t i;
        json_t *item;
        if (!json_is_array(single))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing without a single template", where);
        json_array_foreach(single, i, item) {
            json_t *special = json_object_get(item, "SpecialToken");
            if (json_object_get(item, "Sequence")) {
                seen_sequence = 1;
                continue;
            }
            const char *name = json_string_value(json_object_get(special, "id"));
            json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
            if (!name || !json_is_array(ids))
                return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing item %zu names no known special token",
                                where, i);
            size_t k;
            json_t *idv;
            json_array_foreach(ids, k, idv) {
                int32_t id = json_is_integer(idv) ? (int32_t)json_integer_value(idv) : -1;
                if (id < 0 || id >= tok->n_tokens)
                    return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing token %s has id %d outside the vocabulary",
                                    where, name, (int)id);
                slm_status st = seen_sequence ? append_ids(&bpe->suffix_ids, &bpe->n_suffix, &id, 1)
                                              : append_ids(&bpe->prefix_ids, &bpe->n_prefix, &id, 1);
                if (st != SLM_OK) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
            }
        }
        return SLM_OK;
    }
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: post_processor %s is not supported", where, type);
}

static slm_status parse_model(slm_tokenizer *tok, const char *where, json_t *model, slm_error *err) {
    slm_bpe *bpe = &tok->bpe;
    json_t *merges = json_object_get(model, "merges");
    json_t *dropout = json_object_get(model, "dropout");
    const char *prefix = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *suffix = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((prefix && *prefix) || (suffix && *suffix))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: BPE continuing_subword_prefix/end_of_word_suffix are not supported", where);
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: BPE dropout is not supported", where);
    bpe->fuse_unk = get_bool(model, "fuse_unk", 0);
    bpe->byte_fallback = get_bool(model, "byte_fallback", 0);
    bpe->ignore_merges = get_bool(model, "ignore_merges", 0);
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk)) {
        bpe->unk_id = slm_str_map_get(&tok->lookup, json_string_value(unk), json_string_length(unk));
        if (bpe->unk_id < 0)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: unk_token \"%s\" is not in the vocabulary", where, json_string_value(unk));
        tok->tokens[bpe->unk_id].flags |= SLM_TOKEN_UNK;
    }
    if (!json_is_array(merges)) return slm_fail(err, SLM_ERR_FORMAT, "%s: model.merges is not an array", where);
    if (slm_pair_map_init(&bpe->merges, json_array_size(merges)) != 0)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        slm_status st;
        if (json_is_string(m)) {
            st = add_merge_line(tok, where, (int32_t)i, json_string_value(m), json_string_length(m), err);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
            st = add_merge(tok, where, (int32_t)i, json_string_value(a), json_string_length(a), json_string_value(b),
                           json_string_length(b), err);
        } else {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", where, i);
        }
        if (st != SLM_OK) return st;
    }
    return SLM_OK;
}

slm_status slm_bpe_load_tokenizer_json(slm_tokenizer *tok, const char *path, slm_error *err) {
    json_t *root = load_json(path, 0, err);
    if (!root) return err ? err->status : SLM_ERR_FORMAT;
    slm_status st = SLM_OK;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *added = json_object_get(root, "added_tokens");
    const char *model_type = json_string_value(json_object_get(model, "type"));
    const char *decoder_type = type_of(json_object_get(root, "decoder"));
    int32_t max_id = -1;
    slm_bpe_init_byte_alphabet(&tok->bpe);
    if (json_is_object(model) && model_type && strcmp(model_type, "Unigram") == 0) { /* unigram_load.c */
        st = slm_unigram_load_json(tok, path, root, err);
        json_decref(root);
        return st;
    }
    if (!json_is_object(root) || !json_is_object(model)) {
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: no \"model\" object; not a tokenizer.json", path);
    } else if (model_type && strcmp(model_type, "BPE") != 0 && strcmp(model_type, "WordPiece") != 0) {
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: model type %s is not supported (byte-level BPE and WordPiece are)",
                      path, model_type);
    } else if (!model_type && !json_object_get(model, "merges") && !json_object_get(model, "continuing_subword_prefix")) {
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: the model has no type, no merges and no continuing_subword_prefix; "
                      "not a BPE or WordPiece model", path);
    } else if (!json_is_object(vocab)) {
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: model.vocab is not an object", path);
    } else if (added && !json_is_array(added) && !json_is_null(added)) {
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: added_tokens is not an array", path);
    }
    if (st == SLM_OK) st = vocab_max_id(path, vocab, &max_id, err);
    if (st == SLM_OK && json_is_array(added)) st = added_max_id(path, added, &max_id, err);
    if (st == SLM_OK && max_id < 0) st = slm_fail(err, SLM_ERR_FORMAT, "%s: the vocabulary is empty", path);
    if (st == SLM_OK && slm_tokenizer_alloc_tokens(tok, max_id + 1) != 0)
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (st == SLM_OK) st = set_vocab_texts(tok, path, vocab, err);
    size_t i;
    json_t *a;
    if (st == SLM_OK && json_is_array(added)) {
        json_array_foreach(added, i, a) {
            json_t *content = json_object_get(a, "content");
            st = add_added_token(tok, path, (int32_t)json_integer_value(json_object_get(a, "id")),
                                 json_string_value(content), json_string_length(content), get_bool(a, "special", 0),
                                 get_bool(a, "normalized", 1), get_bool(a, "lstrip", 0), get_bool(a, "rstrip", 0),
                                 get_bool(a, "single_word", 0), err);
            if (st != SLM_OK) break;
        }
    }
    if (st == SLM_OK) st = build_lookup(tok, path, vocab, err);
    int wordpiece = model_type ? strcmp(model_type, "WordPiece") == 0 : !json_object_get(model, "merges");
    if (st == SLM_OK && wordpiece) {
        link_added_contents(tok);
        st = slm_wordpiece_load_json(tok, path, root, err);
        json_decref(root);
        return st;
    }
    if (st == SLM_OK) st = parse_model(tok, path, model, err);
    if (st == SLM_OK) st = parse_normalizer(tok, path, json_object_get(root, "normalizer"), err);
    if (st == SLM_OK) st = parse_pre_tokenizer(tok, path, json_object_get(root, "pre_tokenizer"), err);
    if (st == SLM_OK) st = parse_post_processor(tok, path, json_object_get(root, "post_processor"), err);
    /* a byte-level BPE decodes with ByteLevel; any other (SentencePiece's, Llama) with its decoder chain */
    if (st == SLM_OK && tok->bpe.byte_level && strcmp(decoder_type, "ByteLevel") != 0)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder %s with a ByteLevel pre-tokenizer is not supported "
                      "(ByteLevel is)", path, decoder_type);
    if (st == SLM_OK && !tok->bpe.byte_level)
        st = slm_bpe_load_decoder(tok, path, json_object_get(root, "decoder"), err);
    if (st == SLM_OK) {
        link_added_contents(tok);
        st = tok->bpe.byte_level ? compute_pieces(tok, path, err) : slm_bpe_decoder_pieces(tok, path, err);
    }
    json_decref(root);
    return st;
}

/* ---- vocab.json + merges.txt ---- */

static slm_status load_merges_txt(slm_tokenizer *tok, const char *path, slm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return slm_fail(err, SLM_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int32_t rank = 0;
    slm_status st = SLM_OK;
    if (slm_pair_map_init(&tok->bpe.merges, 50000) != 0) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int line_no = 1; st == SLM_OK && (n = getline(&line, &cap, f)) >= 0; line_no++) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        if (n == 0 || (line_no == 1 && strncmp(line, "#version", 8) == 0)) continue;
        st = add_merge_line(tok, path, rank++, line, (size_t)n, err);
    }
    free(line);
    fclose(f);
    return st;
}

/* Registers a special token given by text (from special_tokens_map.json / tokenizer_config.json):
 * the vocabulary's entry when it has one, else a new id after the last. */
static slm_status add_special_text(slm_tokenizer *tok, const char *where, json_t *value, slm_error *err) {
    json_t *content = token_content(value);
    if (!content) return SLM_OK;
    const char *text = json_string_value(content);
    size_t len = json_string_length(content);
    int32_t id = find_token(tok, text, len);
    if (id < 0) {
        slm_token_entry *grown = realloc(tok->tokens, (size_t)(tok->n_tokens + 1) * sizeof *grown);
        if (!grown) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        tok->tokens = grown;
        memset(&tok->tokens[tok->n_tokens], 0, sizeof *grown);
        id = tok->n_tokens++;
        link_added_contents(tok);
    }
    return add_added_token(tok, where, id, text, len, 1, get_bool(value, "normalized", 1), get_bool(value, "lstrip", 0),
                           get_bool(value, "rstrip", 0), get_bool(value, "single_word", 0), err);
}

slm_status slm_bpe_load_vocab_merges(slm_tokenizer *tok, const char *dir, slm_error *err) {
    char vocab_path[4096 + 64], merges_path[4096 + 64];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", dir);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
    slm_bpe_init_byte_alphabet(&tok->bpe);
    json_t *vocab = load_json(vocab_path, 0, err);
    if (!vocab) return err ? err->status : SLM_ERR_FORMAT;
    slm_status st = SLM_OK;
    json_t *added = load_optional_json(dir, "added_tokens.json", &st, err);
    json_t *config = st == SLM_OK ? load_optional_json(dir, "tokenizer_config.json", &st, err) : NULL;
    json_t *map = st == SLM_OK ? load_optional_json(dir, "special_tokens_map.json", &st, err) : NULL;
    json_t *decoder = json_object_get(config, "added_tokens_decoder");
    int32_t max_id = -1;
    if (st == SLM_OK && !json_is_object(vocab)) st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a JSON object", vocab_path);
    if (st == SLM_OK) st = vocab_max_id(vocab_path, vocab, &max_id, err);
    if (st == SLM_OK && json_is_object(added)) st = vocab_max_id("added_tokens.json", added, &max_id, err);
    const char *key;
    json_t *value;
    if (st == SLM_OK && json_is_object(decoder)) {
        json_object_foreach(decoder, key, value) {
            long id = strtol(key, NULL, 10);
            if (id >= 0 && id < MAX_VOCAB && id > max_id) max_id = (int32_t)id;
        }
    }
    if (st == SLM_OK && max_id < 0) st = slm_fail(err, SLM_ERR_FORMAT, "%s: the vocabulary is empty", vocab_path);
    if (st == SLM_OK && slm_tokenizer_alloc_tokens(tok, max_id + 1) != 0)
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", vocab_path);
    if (st == SLM_OK) st = set_vocab_texts(tok, vocab_path, vocab, err);
    size_t key_len;
    if (st == SLM_OK && json_is_object(added)) {
        json_object_keylen_foreach(added, key, key_len, value) {
            st = add_added_token(tok, "added_tokens.json", id_value(value), key, key_len, 0, 1, 0, 0,
                                 0, err);
            if (st != SLM_OK) break;
        }
    }
    if (st == SLM_OK && json_is_object(decoder)) {
        json_object_foreach(decoder, key, value) {
            json_t *content = json_object_get(value, "content");
            long id = strtol(key, NULL, 10);
            if (!json_is_string(content) || id < 0 || id >= MAX_VOCAB) {
                st = slm_fail(err, SLM_ERR_FORMAT, "tokenizer_config.json: added_tokens_decoder entry \"%s\" is malformed", key);
                break;
            }
            st = add_added_token(tok, "tokenizer_config.json", (int32_t)id, json_string_value(content),
                                 json_string_length(content), get_bool(value, "special", 1),
                                 get_bool(value, "normalized", 1), get_bool(value, "lstrip", 0),
                                 get_bool(value, "rstrip", 0), get_bool(value, "single_word", 0), err);
            if (st != SLM_OK) break;
        }
    }
    /* the lookup is built after the added tokens, which may replace an entry's text */
    if (st == SLM_OK) st = build_lookup(tok, vocab_path, vocab, err);
    if (st == SLM_OK) st = load_merges_txt(tok, merges_path, err);
    /* special tokens named in the config or the map; GPT-2's <|endoftext|> when nothing names any */
    static const char *const names[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                                        "cls_token", "mask_token"};
    int named = 0;
    for (int src = 0; src < 2 && st == SLM_OK; src++) {
        json_t *obj = src == 0 ? config : map;
        for (size_t k = 0; k < sizeof names / sizeof *names && st == SLM_OK; k++) {
            json_t *v = json_object_get(obj, names[k]);
            if (token_content(v)) named = 1;
            st = add_special_text(tok, "special tokens", v, err);
        }
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(obj, "additional_special_tokens"), i, v) {
            if (st == SLM_OK) st = add_special_text(tok, "additional_special_tokens", v, err);
        }
    }
    if (st == SLM_OK && !named) {
        json_t *eot = json_string("<|endoftext|>");
        if (!eot) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        else if (find_token(tok, "<|endoftext|>", 13) >= 0) st = add_special_text(tok, "GPT-2 defaults", eot, err);
        json_decref(eot);
    }
    /* GPT-2's pipeline: ByteLevel pre-tokenizer with its regex, ByteLevel decoder */
    if (st == SLM_OK) {
        slm_pretokenizer_step step = {0};
        step.is_byte_level = 1;
        step.add_prefix_space = get_bool(config, "add_prefix_space", 0);
        step.regex = slm_regex_compile(GPT2_SPLIT, sizeof GPT2_SPLIT - 1, 0, dir, err);
        tok->bpe.byte_level = 1;
        st = step.regex ? add_step(tok, dir, step, err) : (err ? err->status : SLM_ERR_UNSUPPORTED);
    }
    if (st == SLM_OK) {
        link_added_contents(tok);
        st = compute_pieces(tok, dir, err);
    }
    json_decref(vocab);
    json_decref(added);
    json_decref(config);
    json_decref(map);
    return st;
}

/* ---- bos / eos ---- */

/* The id of a special named in obj[key] ("text" or {"content": ...}), or -1. */
static int32_t named_special(const slm_tokenizer *tok, json_t *obj, const char *key) {
    json_t *content = token_content(json_object_get(obj, key));
    return content ? find_token(tok, json_string_value(content), json_string_length(content)) : -1;
}

static int32_t config_id(const slm_tokenizer *tok, json_t *config, const char *key) {
    json_t *v = json_object_get(config, key);
    if (json_is_array(v)) v = json_array_get(v, 0); /* eos_token_id may be a list */
    int32_t id = id_value(v);
    return id < tok->n_tokens ? id : -1;
}

slm_status slm_bpe_load_specials(slm_tokenizer *tok, const char *dir, slm_error *err) {
    slm_status st = SLM_OK;
    json_t *tconf = load_optional_json(dir, "tokenizer_config.json", &st, err);
    json_t *map = st == SLM_OK ? load_optional_json(dir, "special_tokens_map.json", &st, err) : NULL;
    json_t *config = st == SLM_OK ? load_optional_json(dir, "config.json", &st, err) : NULL;
    if (st == SLM_OK) {
        int32_t bos = named_special(tok, tconf, "bos_token"), eos = named_special(tok, tconf, "eos_token");
        if (bos < 0) bos = named_special(tok, map, "bos_token");
        if (eos < 0) eos = named_special(tok, map, "eos_token");
        if (bos < 0) bos = config_id(tok, config, "bos_token_id");
        if (eos < 0) eos = config_id(tok, config, "eos_token_id");
        int32_t eot = find_token(tok, "<|endoftext|>", 13); /* GPT-2's default for both */
        tok->bos = bos >= 0 ? bos : eot;
        tok->eos = eos >= 0 ? eos : eot;
        if (tok->bos >= 0) tok->tokens[tok->bos].flags |= SLM_TOKEN_SPECIAL;
        if (tok->eos >= 0) tok->tokens[tok->eos].flags |= SLM_TOKEN_SPECIAL;
        /* the older files' way to ask for BOS/EOS around every text */
        if (tok->bpe.n_prefix == 0 && tok->bos >= 0 && get_bool(tconf, "add_bos_token", 0) &&
            append_ids(&tok->bpe.prefix_ids, &tok->bpe.n_prefix, &tok->bos, 1) != SLM_OK)
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        if (st == SLM_OK && tok->bpe.n_suffix == 0 && tok->eos >= 0 && get_bool(tconf, "add_eos_token", 0) &&
            append_ids(&tok->bpe.suffix_ids, &tok->bpe.n_suffix, &tok->eos, 1) != SLM_OK)
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    }
    json_decref(tconf);
    json_decref(map);
    json_decref(config);
    return st;
}
