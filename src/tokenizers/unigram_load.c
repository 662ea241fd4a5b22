/* unigram_load.c — a Hugging Face tokenizer.json whose model is Unigram (ALBERT, T5, XLNet, ...).
 * Supported parts (anything else is SLM_ERR_UNSUPPORTED, by name):
 *   model           Unigram: vocab [[piece, score], ...], unk_id, byte_fallback
 *   added_tokens    cut out of the raw text (leftmost longest) before normalization
 *   normalizer      null, Replace (String patterns), NFKD, NFD, StripAccents, Lowercase, Precompiled, Sequence
 *   pre_tokenizer   null, WhitespaceSplit, Metaspace (prepend_scheme always/first/never or add_prefix_space,
 *                   split), Sequence
 *   post_processor  null, TemplateProcessing
 *   decoder         null, Metaspace */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/unigram.h"

enum { MAX_PIECES = 1 << 24 };

static const char *type_of(json_t *obj) {
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t ? t : "null";
}

static int get_bool(json_t *obj, const char *key, int fallback) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

static int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 (padding optional). NULL when malformed or out of memory (*bad tells which). */
static uint8_t *base64_decode(const char *s, size_t len, size_t *out_len, int *bad) {
    *bad = 0;
    while (len > 0 && s[len - 1] == '=') len--;
    uint8_t *out = malloc(len / 4 * 3 + 3);
    if (!out) return NULL;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            *bad = 1;
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = n;
    return out;
}

static slm_status add_step(slm_unigram *u, const char *where, slm_unorm_step step, slm_error *err) {
    slm_unorm_step *s = realloc(u->steps, (size_t)(u->n_steps + 1) * sizeof *s);
    if (!s) {
        free(step.pattern);
        free(step.content);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    u->steps = s;
    s[u->n_steps++] = step;
    return SLM_OK;
}

static slm_status parse_normalizer(slm_unigram *u, const char *where, json_t *norm, slm_error *err) {
    if (!norm || json_is_null(norm)) return SLM_OK;
    const char *type = type_of(norm);
    slm_unorm_step step = {0};
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(norm, "normalizers");
        if (!json_is_array(list)) return slm_fail(err, SLM_ERR_FORMAT, "%s: normalizer Sequence has no normalizers array", where);
        size_t i;
        json_t *n;
        json_array_foreach(list, i, n) {
            slm_status st = parse_normalizer(u, where, n, err);
            if (st != SLM_OK) return st;
        }
        return SLM_OK;
    }
    if (strcmp(type, "NFKD") == 0) step.kind = SLM_UNORM_NFKD;
    else if (strcmp(type, "NFD") == 0) step.kind = SLM_UNORM_NFD;
    else if (strcmp(type, "StripAccents") == 0) step.kind = SLM_UNORM_STRIP_ACCENTS;
    else if (strcmp(type, "Lowercase") == 0) step.kind = SLM_UNORM_LOWERCASE;
    else if (strcmp(type, "Replace") == 0) {
        const char *pattern = json_string_value(json_object_get(json_object_get(norm, "pattern"), "String"));
        const char *content = json_string_value(json_object_get(norm, "content"));
        if (!pattern || !content)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: normalizer Replace needs a String pattern and a content "
                            "(Regex patterns are not supported)", where);
        if (strlen(pattern) == 0 || strlen(pattern) > 64 || strlen(content) > 64)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: normalizer Replace pattern or content is empty or too long", where);
        step.kind = SLM_UNORM_REPLACE;
        step.pattern = strdup(pattern);
        step.content = strdup(content);
        if (!step.pattern || !step.content) {
            free(step.pattern);
            free(step.content);
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        }
    } else if (strcmp(type, "Precompiled") == 0) {
        json_t *map = json_object_get(norm, "precompiled_charsmap");
        if (json_is_null(map) || (json_is_string(map) && json_string_length(map) == 0)) return SLM_OK; /* no rules */
        if (!json_is_string(map))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: Precompiled normalizer has no precompiled_charsmap string", where);
        size_t n;
        int bad;
        uint8_t *blob = base64_decode(json_string_value(map), json_string_length(map), &n, &bad);
        if (!blob)
            return slm_fail(err, bad ? SLM_ERR_FORMAT : SLM_ERR_OUT_OF_MEMORY, "%s: precompiled_charsmap: %s", where,
                            bad ? "not base64" : "out of memory");
        slm_status st = slm_unigram_set_charsmap(u, where, blob, n, err);
        free(blob);
        if (st != SLM_OK) return st;
        step.kind = SLM_UNORM_PRECOMPILED;
    } else {
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: normalizer %s is not supported with a Unigram model", where, type);
    }
    return add_step(u, where, step, err);
}

static slm_status parse_metaspace(slm_unigram *u, const char *where, json_t *m, slm_error *err) {
    const char *rep = json_string_value(json_object_get(m, "replacement"));
    if (rep && strcmp(rep, "\xE2\x96\x81") != 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: Metaspace replacement other than U+2581 is not supported", where);
    const char *scheme = json_string_value(json_object_get(m, "prepend_scheme"));
    if (scheme) {
        if (strcmp(scheme, "always") == 0) u->prepend = SLM_PREPEND_ALWAYS;
        else if (strcmp(scheme, "first") == 0) u->prepend = SLM_PREPEND_FIRST;
        else if (strcmp(scheme, "never") == 0) u->prepend = SLM_PREPEND_NEVER;
        else return slm_fail(err, SLM_ERR_FORMAT, "%s: Metaspace prepend_scheme \"%s\" is unknown", where, scheme);
    } else {
        u->prepend = get_bool(m, "add_prefix_space", 1) ? SLM_PREPEND_ALWAYS : SLM_PREPEND_NEVER;
    }
    u->metaspace_split = get_bool(m, "split", 1);
    return SLM_OK;
}

static slm_status parse_pre_tokenizer(slm_unigram *u, const char *where, json_t *pre, slm_error *err) {
    if (!pre || json_is_null(pre)) return SLM_OK;
    const char *type = type_of(pre);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pre, "pretokenizers");
        if (!json_is_array(list)) return slm_fail(err, SLM_ERR_FORMAT, "%s: pre_tokenizer Sequence has no pretokenizers array", where);
        size_t i;
        json_t *p;
        json_array_foreach(list, i, p) {
            if (u->metaspace)
                return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: pre_tokenizer steps after Metaspace are not supported", where);
            slm_status st = parse_pre_tokenizer(u, where, p, err);
            if (st != SLM_OK) return st;
        }
        return SLM_OK;
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        u->whitespace_split = 1;
        return SLM_OK;
    }
    if (strcmp(type, "Metaspace") == 0) {
        u->metaspace = 1;
        return parse_metaspace(u, where, pre, err);
    }
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported with a Unigram model", where, type);
}

static slm_status parse_template(slm_tokenizer *tok, const char *where, json_t *items, json_t *specials,
                                 slm_template *t, slm_error *err) {
    if (!json_is_array(items)) return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing template is not an array", where);
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        json_t *seq = json_object_get(item, "Sequence"), *special = json_object_get(item, "SpecialToken");
        json_t *body = seq ? seq : special;
        json_t *type = json_object_get(body, "type_id");
        const char *name = json_string_value(json_object_get(body, "id"));
        int32_t type_id = json_is_integer(type) ? (int32_t)json_integer_value(type) : 0;
        if (!name) return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing item %zu has no id", where, i);
        int32_t ids_buf[1] = {0}; /* set below for a sequence; specials read their ids from the list */
        const int32_t *ids = ids_buf;
        size_t n_ids = 1;
        json_t *list = NULL;
        if (seq) {
            if (strcmp(name, "A") != 0 && strcmp(name, "B") != 0)
                return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing sequence %zu is neither A nor B", where, i);
            ids_buf[0] = name[0] == 'A' ? SLM_TEMPLATE_A : SLM_TEMPLATE_B;
        } else {
            list = json_object_get(json_object_get(specials, name), "ids");
            if (!json_is_array(list))
                return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing names a special token it does not define (%s)",
                                where, name);
            n_ids = json_array_size(list);
        }
        for (size_t k = 0; k < n_ids; k++) {
            int32_t id = ids[0];
            if (list) {
                json_t *v = json_array_get(list, k);
                json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
                if (x < 0 || x >= tok->n_tokens)
                    return slm_fail(err, SLM_ERR_FORMAT, "%s: TemplateProcessing token %s has an id outside the vocabulary",
                                    where, name);
                id = (int32_t)x;
            }
            slm_template_item *items2 = realloc(t->items, (size_t)(t->n + 1) * sizeof *items2);
            if (!items2) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
            t->items = items2;
            t->items[t->n++] = (slm_template_item){id, type_id};
        }
    }
    return SLM_OK;
}

static slm_status parse_post_processor(slm_tokenizer *tok, const char *where, json_t *post, slm_error *err) {
    if (!post || json_is_null(post)) return SLM_OK;
    if (strcmp(type_of(post), "TemplateProcessing") != 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: post_processor %s is not supported with a Unigram model", where,
                        type_of(post));
    json_t *specials = json_object_get(post, "special_tokens");
    slm_status st = parse_template(tok, where, json_object_get(post, "single"), specials, &tok->single, err);
    if (st == SLM_OK) st = parse_template(tok, where, json_object_get(post, "pair"), specials, &tok->pair, err);
    return st;
}

static slm_status parse_vocab(slm_tokenizer *tok, const char *where, json_t *vocab, slm_error *err) {
    if (!json_is_array(vocab)) return slm_fail(err, SLM_ERR_FORMAT, "%s: model.vocab of a Unigram model is not an array", where);
    size_t n = json_array_size(vocab);
    if (n == 0) return slm_fail(err, SLM_ERR_FORMAT, "%s: the Unigram vocabulary is empty", where);
    if (n > MAX_PIECES) return slm_fail(err, SLM_ERR_FORMAT, "%s: the Unigram vocabulary has %zu pieces, too many", where, n);
    slm_unigram *u = tok->unigram;
    if (slm_tokenizer_alloc_tokens(tok, (int32_t)n)) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    u->scores = calloc(n, sizeof *u->scores);
    u->types = malloc(n);
    if (!u->scores || !u->types) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    memset(u->types, SLM_SP_NORMAL, n);
    size_t i;
    json_t *entry;
    json_array_foreach(vocab, i, entry) {
        json_t *piece = json_array_get(entry, 0), *score = json_array_get(entry, 1);
        if (!json_is_array(entry) || json_array_size(entry) != 2 || !json_is_string(piece) || !json_is_number(score))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: model.vocab[%zu] is not a [piece, score] pair", where, i);
        if (json_string_length(piece) == 0)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: model.vocab[%zu] is an empty piece", where, i);
        if (slm_tokenizer_set_text(tok, (int32_t)i, json_string_value(piece), json_string_length(piece)))
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        u->scores[i] = json_number_value(score);
    }
    return SLM_OK;
}

slm_status slm_unigram_load_json(slm_tokenizer *tok, const char *where, void *json_root, slm_error *err) {
    json_t *root = json_root, *model = json_object_get(root, "model");
    tok->kind = SLM_TOKENIZER_UNIGRAM;
    tok->unigram = slm_unigram_alloc(SLM_UNIGRAM_HF);
    if (!tok->unigram) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    slm_unigram *u = tok->unigram;
    slm_status st = parse_vocab(tok, where, json_object_get(model, "vocab"), err);
    json_t *unk = json_object_get(model, "unk_id");
    if (st == SLM_OK && unk && !json_is_null(unk)) {
        if (!json_is_integer(unk) || json_integer_value(unk) < 0 || json_integer_value(unk) >= tok->n_tokens)
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: model.unk_id is not an id of the %d pieces", where, (int)tok->n_tokens);
        else
            u->unk_id = (int32_t)json_integer_value(unk);
    }
    u->byte_fallback = get_bool(model, "byte_fallback", 0);
    if (st == SLM_OK && u->byte_fallback)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: Unigram byte_fallback is not supported", where);
    json_t *added = json_object_get(root, "added_tokens");
    if (st == SLM_OK && added && !json_is_array(added) && !json_is_null(added))
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: added_tokens is not an array", where);
    size_t i;
    json_t *a;
    if (st == SLM_OK && json_is_array(added)) {
        json_array_foreach(added, i, a) {
            json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
            if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= tok->n_tokens ||
                !json_is_string(content)) {
                st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: added_tokens[%zu] is not a piece of the Unigram vocabulary",
                              where, i);
                break;
            }
            const slm_token_entry *e = &tok->tokens[json_integer_value(id)];
            if (e->text_len != json_string_length(content) || memcmp(e->text, json_string_value(content), e->text_len) != 0) {
                st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: added_tokens[%zu] differs from vocabulary piece %lld", where,
                              i, (long long)json_integer_value(id));
                break;
            }
            st = slm_unigram_add_raw_token(tok, where, (int32_t)json_integer_value(id), get_bool(a, "special", 0), err);
            if (st != SLM_OK) break;
        }
    }
    if (st == SLM_OK) st = parse_normalizer(u, where, json_object_get(root, "normalizer"), err);
    if (st == SLM_OK) st = parse_pre_tokenizer(u, where, json_object_get(root, "pre_tokenizer"), err);
    if (st == SLM_OK) st = parse_post_processor(tok, where, json_object_get(root, "post_processor"), err);
    json_t *decoder = json_object_get(root, "decoder");
    if (st == SLM_OK && decoder && !json_is_null(decoder)) {
        if (strcmp(type_of(decoder), "Metaspace") != 0)
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder %s is not supported with a Unigram model", where,
                          type_of(decoder));
        else
            u->decoder_metaspace = 1;
    }
    if (st == SLM_OK) st = slm_unigram_finish(tok, where, err);
    if (st == SLM_OK) {
        /* roles: cls/sep from the template, the others by their usual texts */
        if (tok->single.n > 0 && tok->single.items[0].id >= 0) u->cls_id = tok->single.items[0].id;
        if (tok->single.n > 0 && tok->single.items[tok->single.n - 1].id >= 0) u->sep_id = tok->single.items[tok->single.n - 1].id;
        static const char *const pads[] = {"<pad>", "[PAD]"}, *const masks[] = {"[MASK]", "<mask>"};
        for (int k = 0; k < 2; k++) {
            if (u->pad_id < 0) u->pad_id = slm_str_map_get(&tok->lookup, pads[k], strlen(pads[k]));
            if (u->mask_id < 0) u->mask_id = slm_str_map_get(&tok->lookup, masks[k], strlen(masks[k]));
        }
    }
    return st;
}
