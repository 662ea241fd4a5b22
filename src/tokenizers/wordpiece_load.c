/* wordpiece_load.c — building a WordPiece tokenizer from a Hugging Face folder:
 *   - tokenizer.json (model.type "WordPiece"): hf_load.c reads the vocabulary and added tokens, this
 *     file the model, BertNormalizer, BertPreTokenizer, post-processor and decoder;
 *   - vocab.txt alone (one token a line, the line number is the id) with tokenizer_config.json and
 *     special_tokens_map.json: the defaults of transformers' BertTokenizer (lowercase, strip accents
 *     when lowercasing, Chinese characters padded, [CLS] $A [SEP] / [CLS] $A [SEP] $B [SEP]).
 * It also reads the tokenizer_config.json settings every Hugging Face tokenizer shares
 * (model_max_length, clean_up_tokenization_spaces). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer_impl.h"

#define MAX_VOCAB_TXT_BYTES (64u << 20)

void slm_template_free(slm_template *t) {
    free(t->items);
    t->items = NULL;
    t->n = 0;
}

static int template_push(slm_template *t, int32_t id, int32_t type_id) {
    slm_template_item *items = realloc(t->items, (size_t)(t->n + 1) * sizeof *items);
    if (!items) return -1;
    t->items = items;
    t->items[t->n++] = (slm_template_item){id, type_id};
    return 0;
}

/* Streaming pieces: "##ing" continues the previous word, anything else starts one after a space
 * (slm_tokenizer_piece drops that space for the first token). */
static slm_status set_pieces(slm_tokenizer *tok, const char *where, slm_error *err) {
    size_t prefix_len = strlen(tok->wordpiece.prefix);
    char buf[1024];
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        if (!e->text) continue;
        int rc;
        if (prefix_len && e->text_len >= prefix_len && memcmp(e->text, tok->wordpiece.prefix, prefix_len) == 0) {
            rc = slm_tokenizer_set_piece(tok, id, e->text + prefix_len, e->text_len - prefix_len);
        } else if (e->text_len + 1 <= sizeof buf) {
            buf[0] = ' ';
            memcpy(buf + 1, e->text, e->text_len);
            rc = slm_tokenizer_set_piece(tok, id, buf, e->text_len + 1);
        } else {
            rc = 0; /* a huge token keeps its text as its piece */
        }
        if (rc) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    return SLM_OK;
}

static int get_bool(json_t *obj, const char *key, int fallback) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

static const char *type_of(json_t *obj) {
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t ? t : "(no type)";
}

/* ---- tokenizer.json ---- */

static slm_status parse_bert_normalizer(slm_wordpiece *wp, const char *where, json_t *norm, slm_error *err) {
    if (!norm || json_is_null(norm)) return SLM_OK; /* no normalizer: all switches off */
    if (strcmp(type_of(norm), "BertNormalizer") != 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: normalizer %s is not supported with WordPiece (BertNormalizer is)",
                        where, type_of(norm));
    wp->clean_text = get_bool(norm, "clean_text", 1);
    wp->handle_chinese_chars = get_bool(norm, "handle_chinese_chars", 1);
    wp->lowercase = get_bool(norm, "lowercase", 1);
    wp->strip_accents = get_bool(norm, "strip_accents", wp->lowercase); /* null follows lowercase */
    return SLM_OK;
}

/* Appends the ids a TemplateProcessing special token stands for. */
static slm_status template_special(slm_tokenizer *tok, const char *where, json_t *specials, json_t *special,
                                   slm_template *t, slm_error *err) {
    const char *name = json_string_value(json_object_get(special, "id"));
    json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
    json_t *type = json_object_get(special, "type_id");
    if (!name || !json_is_array(ids))
        return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing names a special token it does not define (%s)",
                        where, name ? name : "no id");
    size_t k;
    json_t *idv;
    json_array_foreach(ids, k, idv) {
        json_int_t id = json_is_integer(idv) ? json_integer_value(idv) : -1;
        if (id < 0 || id >= tok->n_tokens)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing token %s has id %lld outside the vocabulary",
                            where, name, (long long)id);
        if (template_push(t, (int32_t)id, json_is_integer(type) ? (int32_t)json_integer_value(type) : 0))
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    return SLM_OK;
}

static slm_status parse_template(slm_tokenizer *tok, const char *where, json_t *items, json_t *specials,
                                 slm_template *t, slm_error *err) {
    size_t i;
    json_t *item;
    if (!json_is_array(items)) return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing template is not an array", where);
    json_array_foreach(items, i, item) {
        json_t *seq = json_object_get(item, "Sequence"), *special = json_object_get(item, "SpecialToken");
        if (seq) {
            const char *which = json_string_value(json_object_get(seq, "id"));
            json_t *type = json_object_get(seq, "type_id");
            if (!which || (strcmp(which, "A") != 0 && strcmp(which, "B") != 0))
                return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing sequence %zu is neither A nor B", where, i);
            if (template_push(t, which[0] == 'A' ? SLM_TEMPLATE_A : SLM_TEMPLATE_B,
                              json_is_integer(type) ? (int32_t)json_integer_value(type) : 0))
                return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        } else if (special) {
            slm_status st = template_special(tok, where, specials, special, t, err);
            if (st != SLM_OK) return st;
        } else {
            return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing item %zu is neither a Sequence nor a SpecialToken",
                            where, i);
        }
    }
    return SLM_OK;
}

/* [CLS] $A [SEP] and [CLS] $A [SEP] $B:1 [SEP]:1 */
static slm_status bert_templates(slm_tokenizer *tok, const char *where, int32_t cls, int32_t sep, slm_error *err) {
    if (template_push(&tok->single, cls, 0) || template_push(&tok->single, SLM_TEMPLATE_A, 0) ||
        template_push(&tok->single, sep, 0) || template_push(&tok->pair, cls, 0) ||
        template_push(&tok->pair, SLM_TEMPLATE_A, 0) || template_push(&tok->pair, sep, 0) ||
        template_push(&tok->pair, SLM_TEMPLATE_B, 1) || template_push(&tok->pair, sep, 1))
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return SLM_OK;
}

static slm_status parse_post_processor(slm_tokenizer *tok, const char *where, json_t *post, slm_error *err) {
    if (!post || json_is_null(post)) return SLM_OK;
    const char *type = type_of(post);
    if (strcmp(type, "BertProcessing") == 0) {
        json_t *cls = json_array_get(json_object_get(post, "cls"), 1), *sep = json_array_get(json_object_get(post, "sep"), 1);
        json_int_t c = json_is_integer(cls) ? json_integer_value(cls) : -1, s = json_is_integer(sep) ? json_integer_value(sep) : -1;
        if (c < 0 || s < 0 || c >= tok->n_tokens || s >= tok->n_tokens)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: BertProcessing needs cls and sep tokens in the vocabulary", where);
        return bert_templates(tok, where, (int32_t)c, (int32_t)s, err);
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        json_t *specials = json_object_get(post, "special_tokens");
        slm_status st = parse_template(tok, where, json_object_get(post, "single"), specials, &tok->single, err);
        if (st == SLM_OK) st = parse_template(tok, where, json_object_get(post, "pair"), specials, &tok->pair, err);
        return st;
    }
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: post_processor %s is not supported with WordPiece", where, type);
}

slm_status slm_wordpiece_load_json(slm_tokenizer *tok, const char *where, void *json_root, slm_error *err) {
    json_t *root = json_root, *model = json_object_get(root, "model");
    slm_wordpiece *wp = &tok->wordpiece;
    tok->kind = SLM_TOKENIZER_WORDPIECE;
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    json_t *max_chars = json_object_get(model, "max_input_chars_per_word");
    json_t *unk = json_object_get(model, "unk_token");
    snprintf(wp->prefix, sizeof wp->prefix, "%s", json_is_string(prefix) ? json_string_value(prefix) : "##");
    if (json_is_string(prefix) && json_string_length(prefix) >= sizeof wp->prefix)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: continuing_subword_prefix longer than %zu bytes", where,
                        sizeof wp->prefix - 1);
    wp->max_input_chars_per_word = json_is_integer(max_chars) && json_integer_value(max_chars) > 0 &&
                                           json_integer_value(max_chars) < 1000000
                                       ? (int)json_integer_value(max_chars)
                                       : 100;
    wp->unk_id = json_is_string(unk) ? slm_str_map_get(&tok->lookup, json_string_value(unk), json_string_length(unk)) : -1;
    if (json_is_string(unk) && wp->unk_id < 0)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: unk_token \"%s\" is not in the vocabulary", where, json_string_value(unk));
    slm_status st = parse_bert_normalizer(wp, where, json_object_get(root, "normalizer"), err);
    json_t *pre = json_object_get(root, "pre_tokenizer"), *decoder = json_object_get(root, "decoder");
    if (st == SLM_OK && (!pre || strcmp(type_of(pre), "BertPreTokenizer") != 0))
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported with WordPiece (BertPreTokenizer is)",
                      where, pre ? type_of(pre) : "null");
    if (st == SLM_OK && decoder && !json_is_null(decoder) && strcmp(type_of(decoder), "WordPiece") != 0)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder %s is not supported with WordPiece", where, type_of(decoder));
    if (st == SLM_OK) {
        json_t *dprefix = json_object_get(decoder, "prefix");
        if (json_is_string(dprefix) && strcmp(json_string_value(dprefix), wp->prefix) != 0)
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: the decoder's prefix \"%s\" differs from the model's \"%s\"",
                          where, json_string_value(dprefix), wp->prefix);
        wp->decoder_cleanup = get_bool(decoder, "cleanup", 1);
    }
    if (st == SLM_OK) st = parse_post_processor(tok, where, json_object_get(root, "post_processor"), err);
    if (st == SLM_OK) st = set_pieces(tok, where, err);
    return st;
}

/* ---- vocab.txt ---- */

/* Reads a special token's text from tokenizer_config.json or special_tokens_map.json ("text" or
 * {"content": "text"}); fallback when neither names it. */
static const char *special_text(json_t *config, json_t *map, const char *key, const char *fallback) {
    json_t *sources[2] = {config, map};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(sources[k], key);
        if (json_is_object(v)) v = json_object_get(v, "content");
        if (json_is_string(v)) return json_string_value(v);
    }
    return fallback;
}

static json_t *load_optional(const char *dir, const char *name, slm_status *st, slm_error *err) {
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) *st = slm_fail(err, SLM_ERR_FORMAT, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    else if (!json_is_object(root)) {
        *st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a JSON object", path);
        json_decref(root);
        root = NULL;
    }
    return root;
}

/* Reads the whole file; NULL with err set when it cannot. */
static char *read_file(const char *path, size_t *len, slm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        slm_fail(err, SLM_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            char *bigger = cap <= MAX_VOCAB_TXT_BYTES ? realloc(data, cap + 1) : NULL;
            if (!bigger) {
                free(data);
                fclose(f);
                slm_fail(err, cap > MAX_VOCAB_TXT_BYTES ? SLM_ERR_FORMAT : SLM_ERR_OUT_OF_MEMORY,
                         "%s: %s", path, cap > MAX_VOCAB_TXT_BYTES ? "larger than 64 MiB; not a vocab.txt" : "out of memory");
                return NULL;
            }
            data = bigger;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        slm_fail(err, SLM_ERR_IO, "%s: read error", path);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

/* One token a line; the id is the line number. */
static slm_status parse_vocab_txt(slm_tokenizer *tok, const char *path, const char *data, size_t len, slm_error *err) {
    int32_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += data[i] == '\n';
    if (len > 0 && data[len - 1] != '\n') n_lines++;
    if (n_lines == 0) return slm_fail(err, SLM_ERR_FORMAT, "%s: the vocabulary is empty", path);
    if (slm_tokenizer_alloc_tokens(tok, n_lines) != 0 || slm_str_map_init(&tok->lookup, (size_t)n_lines) != 0)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    size_t pos = 0;
    for (int32_t id = 0; id < n_lines; id++) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        if (n > 0 && line[n - 1] == '\r') n--;
        for (size_t i = 0; i < n;) {
            size_t k;
            if (slm_utf8_decode((const unsigned char *)line + i, n - i, &k) <= 0)
                return slm_fail(err, SLM_ERR_FORMAT, "%s: line %d is not valid UTF-8 text (byte %zu)", path, (int)id + 1, i);
            i += k;
        }
        if (slm_tokenizer_set_text(tok, id, line, n) != 0 ||
            slm_str_map_put(&tok->lookup, tok->tokens[id].text, n, id) != 0)
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    return SLM_OK;
}

/* Registers a special token of the slow BertTokenizer: never split, skipped by skip_special. */
static slm_status add_special(slm_tokenizer *tok, const char *where, const char *text, int required, int32_t *id,
                              slm_error *err) {
    *id = slm_str_map_get(&tok->lookup, text, strlen(text));
    if (*id < 0) {
        if (required) return slm_fail(err, SLM_ERR_FORMAT, "%s: special token \"%s\" is not in the vocabulary", where, text);
        return SLM_OK;
    }
    slm_added_token *grown = realloc(tok->bpe.added, (size_t)(tok->bpe.n_added + 1) * sizeof *grown);
    if (!grown) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    tok->bpe.added = grown;
    tok->bpe.added[tok->bpe.n_added++] =
        (slm_added_token){*id, tok->tokens[*id].text, tok->tokens[*id].text_len, 0, 0, 0, 0};
    tok->tokens[*id].flags |= SLM_TOKEN_SPECIAL | SLM_TOKEN_ADDED;
    return SLM_OK;
}

slm_tokenizer *slm_wordpiece_load_vocab_txt(const char *path, const char *dir, slm_error *err) {
    slm_tokenizer *tok = slm_tokenizer_alloc(SLM_TOKENIZER_WORDPIECE);
    if (!tok) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        return NULL;
    }
    slm_status st = SLM_OK;
    size_t len = 0;
    char *data = read_file(path, &len, err);
    if (!data) st = err ? err->status : SLM_ERR_IO;
    if (st == SLM_OK) st = parse_vocab_txt(tok, path, data, len, err);
    free(data);
    json_t *config = st == SLM_OK ? load_optional(dir, "tokenizer_config.json", &st, err) : NULL;
    json_t *map = st == SLM_OK ? load_optional(dir, "special_tokens_map.json", &st, err) : NULL;
    slm_wordpiece *wp = &tok->wordpiece;
    int32_t unk = -1, cls = -1, sep = -1, pad = -1, mask = -1;
    if (st == SLM_OK) {
        wp->clean_text = 1;
        wp->lowercase = get_bool(config, "do_lower_case", 1);
        wp->strip_accents = get_bool(config, "strip_accents", wp->lowercase);
        wp->handle_chinese_chars = get_bool(config, "tokenize_chinese_chars", 1);
        snprintf(wp->prefix, sizeof wp->prefix, "##");
        wp->max_input_chars_per_word = 100;
        wp->decoder_cleanup = 1;
        st = add_special(tok, path, special_text(config, map, "unk_token", "[UNK]"), 0, &unk, err);
    }
    if (st == SLM_OK) st = add_special(tok, path, special_text(config, map, "cls_token", "[CLS]"), 1, &cls, err);
    if (st == SLM_OK) st = add_special(tok, path, special_text(config, map, "sep_token", "[SEP]"), 1, &sep, err);
    if (st == SLM_OK) st = add_special(tok, path, special_text(config, map, "pad_token", "[PAD]"), 0, &pad, err);
    if (st == SLM_OK) st = add_special(tok, path, special_text(config, map, "mask_token", "[MASK]"), 0, &mask, err);
    wp->unk_id = unk;
    if (st == SLM_OK) st = bert_templates(tok, path, cls, sep, err);
    if (st == SLM_OK) st = set_pieces(tok, path, err);
    json_decref(config);
    json_decref(map);
    /* without tokenizer.json this is transformers' slow BertTokenizer, whose decode cleans up by default */
    if (st == SLM_OK) st = slm_tokenizer_read_config(tok, dir, 1, err);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* ---- tokenizer_config.json ---- */

slm_status slm_tokenizer_read_config(slm_tokenizer *tok, const char *dir, int clean_up_default, slm_error *err) {
    slm_status st = SLM_OK;
    json_t *config = load_optional(dir, "tokenizer_config.json", &st, err);
    if (st != SLM_OK) return st;
    json_t *max_length = json_object_get(config, "model_max_length");
    double m = json_is_number(max_length) ? json_number_value(max_length) : 0;
    tok->model_max_length = m > 0 && m < 1e6 ? (int)m : 0;
    tok->clean_up_tokenization_spaces = get_bool(config, "clean_up_tokenization_spaces", clean_up_default);
    json_decref(config);
    return SLM_OK;
}
