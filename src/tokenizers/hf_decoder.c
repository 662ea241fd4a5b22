/* hf_decoder.c — the decoder chain of a Hugging Face BPE that is not byte-level, as
 * tokenizers runs it: SentencePiece-style BPE (Llama 2, TinyLlama, llama2.c models converted
 * by transformers), whose tokens spell spaces "▁" and whose bytes outside the vocabulary are
 * <0xXX> tokens. The chain works on the list of token texts, step by step:
 *   Replace        in every token, each occurrence of a String pattern -> content ("▁" -> " ");
 *   ByteFallback   every run of consecutive <0xXX> tokens -> one token of those bytes when they are
 *                  valid UTF-8, else one U+FFFD per byte (tokenizers' rule, not the maximal-subpart one);
 *   Fuse           all tokens -> one;
 *   Strip          up to `start` leading " " off every token (after Fuse: off the text);
 *   Metaspace      the replacement -> " " in every token, and in the first token dropped instead
 *                  (unless its prepend_scheme is "never").
 * decode then joins what is left. Supported decoders: one of these, or a Sequence of them; Strip
 * only with content " ", stop 0 and after a Fuse (so that it touches the start of the text alone,
 * which streaming can reproduce); anything else is SLM_ERR_UNSUPPORTED naming it.
 *
 * For streaming (slm_tokenizer_piece), every token also gets a piece: its text through the
 * per-token steps (Replace, a lone <0xXX> -> its byte, Metaspace's replacement -> " "); the
 * leading spaces Strip or Metaspace drop at the start of the text are dropped from the first
 * piece by slm_tokenizer_piece (strip_at_start). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer_impl.h"

static const char REPLACEMENT_CHARACTER[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---- reading the decoder section ---- */

static const char *type_of(json_t *obj) {
    const char *t = json_string_value(json_object_get(obj, "type"));
    return t ? t : "(no type)";
}

static char *copy_bytes(const char *s, size_t n) {
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

static slm_status add_decoder(slm_tokenizer *tok, const char *where, slm_decoder_step step, slm_error *err) {
    slm_bpe *bpe = &tok->bpe;
    slm_decoder_step *grown = realloc(bpe->decoders, (size_t)(bpe->n_decoders + 1) * sizeof *grown);
    if (!grown) {
        free(step.pattern);
        free(step.content);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    bpe->decoders = grown;
    bpe->decoders[bpe->n_decoders++] = step;
    return SLM_OK;
}

/* One decoder (not a Sequence); *fused says whether a Fuse came before it. */
static slm_status parse_one(slm_tokenizer *tok, const char *where, json_t *dec, int *fused, slm_error *err) {
    const char *type = type_of(dec);
    slm_decoder_step step = {0};
    if (strcmp(type, "Replace") == 0) {
        json_t *pattern = json_object_get(json_object_get(dec, "pattern"), "String");
        json_t *content = json_object_get(dec, "content");
        if (json_object_get(json_object_get(dec, "pattern"), "Regex"))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder Replace with a Regex pattern is not supported "
                            "(String patterns are)", where);
        if (!json_is_string(pattern) || json_string_length(pattern) == 0 || !json_is_string(content))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: decoder Replace needs a non-empty String pattern and a content",
                            where);
        step.kind = SLM_DECODE_REPLACE;
        step.pattern_len = (uint32_t)json_string_length(pattern);
        step.content_len = (uint32_t)json_string_length(content);
        step.pattern = copy_bytes(json_string_value(pattern), step.pattern_len);
        step.content = copy_bytes(json_string_value(content), step.content_len);
        if (!step.pattern || !step.content) {
            free(step.pattern);
            free(step.content);
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        }
        return add_decoder(tok, where, step, err);
    }
    if (strcmp(type, "ByteFallback") == 0) {
        step.kind = SLM_DECODE_BYTE_FALLBACK;
        return add_decoder(tok, where, step, err);
    }
    if (strcmp(type, "Fuse") == 0) {
        step.kind = SLM_DECODE_FUSE;
        *fused = 1;
        return add_decoder(tok, where, step, err);
    }
    if (strcmp(type, "Strip") == 0) {
        const char *content = json_string_value(json_object_get(dec, "content"));
        json_t *start = json_object_get(dec, "start"), *stop = json_object_get(dec, "stop");
        if (!content || strcmp(content, " ") != 0 || !json_is_integer(start) || json_integer_value(start) < 0 ||
            json_integer_value(start) > 1000 || !json_is_integer(stop) || json_integer_value(stop) != 0 || !*fused)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder Strip is supported with content \" \", a start, "
                            "stop 0 and after Fuse only", where);
        step.kind = SLM_DECODE_STRIP;
        step.start = (int)json_integer_value(start);
        if (tok->bpe.strip_at_start >= 0) tok->bpe.strip_at_start += step.start;
        return add_decoder(tok, where, step, err);
    }
    if (strcmp(type, "Metaspace") == 0) {
        json_t *replacement = json_object_get(dec, "replacement");
        size_t ch = 0;
        if (json_is_string(replacement) && json_string_length(replacement) > 0)
            slm_utf8_decode((const unsigned char *)json_string_value(replacement), json_string_length(replacement), &ch);
        if (!json_is_string(replacement) || ch == 0 || ch != json_string_length(replacement))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: decoder Metaspace replacement is not one character", where);
        step.kind = SLM_DECODE_METASPACE;
        slm_status st = slm_metaspace_prepend_scheme(dec, where, &step.prepend, err);
        if (st != SLM_OK) return st;
        if (*fused)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder Metaspace after Fuse is not supported", where);
        step.pattern_len = (uint32_t)ch;
        if (!(step.pattern = copy_bytes(json_string_value(replacement), ch)))
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        if (step.prepend != SLM_PREPEND_NEVER) tok->bpe.strip_at_start = -1;
        return add_decoder(tok, where, step, err);
    }
    if (strcmp(type, "ByteLevel") == 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder ByteLevel without a ByteLevel pre-tokenizer is not "
                        "supported", where);
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: decoder %s is not supported", where, type);
}

slm_status slm_bpe_load_decoder(slm_tokenizer *tok, const char *where, void *json_decoder, slm_error *err) {
    json_t *dec = json_decoder;
    int fused = 0;
    if (!dec || json_is_null(dec))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: a BPE without a decoder is not supported (tokens would be "
                        "joined by spaces)", where);
    if (strcmp(type_of(dec), "Sequence") != 0) return parse_one(tok, where, dec, &fused, err);
    json_t *list = json_object_get(dec, "decoders");
    if (!json_is_array(list)) return slm_fail(err, SLM_ERR_FORMAT, "%s: decoder Sequence without a decoders list", where);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        if (strcmp(type_of(d), "Sequence") == 0)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: a decoder Sequence inside a Sequence is not supported", where);
        slm_status st = parse_one(tok, where, d, &fused, err);
        if (st != SLM_OK) return st;
    }
    return SLM_OK;
}

/* ---- strings ---- */

static int replace_into(slm_text_buf *out, const char *s, size_t n, const char *pattern, size_t pattern_len,
                        const char *content, size_t content_len) {
    size_t i = 0, from = 0;
    while (i + pattern_len <= n) {
        if (memcmp(s + i, pattern, pattern_len) == 0) {
            if (slm_text_buf_put(out, s + from, i - from) || slm_text_buf_put(out, content, content_len)) return -1;
            i += pattern_len;
            from = i;
        } else {
            i++;
        }
    }
    return slm_text_buf_put(out, s + from, n - from);
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xXX>" token text, or -1 (tokenizers reads the two characters as base-16 u8, which also
 * takes a sign: "+F"). */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    if (s[3] == '+') return hex_digit(s[4]);
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k;
        if (slm_utf8_decode((const unsigned char *)s + i, n - i, &k) < 0) return 0;
        i += k;
    }
    return 1;
}

/* ---- pieces ---- */

slm_status slm_bpe_decoder_pieces(slm_tokenizer *tok, const char *where, slm_error *err) {
    const slm_bpe *bpe = &tok->bpe;
    slm_text_buf a = {0}, b = {0};
    slm_status st = SLM_OK;
    for (int32_t id = 0; id < tok->n_tokens && st == SLM_OK; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        if (!e->text) continue;
        a.len = 0;
        if (slm_text_buf_put(&a, e->text, e->text_len)) st = SLM_ERR_OUT_OF_MEMORY;
        for (int k = 0; k < bpe->n_decoders && st == SLM_OK; k++) {
            const slm_decoder_step *d = &bpe->decoders[k];
            int byte = d->kind == SLM_DECODE_BYTE_FALLBACK ? byte_token(a.data, a.len) : -1;
            b.len = 0;
            if (d->kind == SLM_DECODE_REPLACE) {
                if (replace_into(&b, a.data, a.len, d->pattern, d->pattern_len, d->content, d->content_len))
                    st = SLM_ERR_OUT_OF_MEMORY;
            } else if (d->kind == SLM_DECODE_METASPACE) {
                if (replace_into(&b, a.data, a.len, d->pattern, d->pattern_len, " ", 1)) st = SLM_ERR_OUT_OF_MEMORY;
            } else if (byte >= 0) {
                char c = (char)byte;
                if (slm_text_buf_put(&b, &c, 1)) st = SLM_ERR_OUT_OF_MEMORY;
            } else {
                continue; /* Fuse, Strip and other tokens of ByteFallback leave the piece as it is */
            }
            slm_text_buf t = a;
            a = b;
            b = t;
        }
        if (st == SLM_OK && (a.len != e->text_len || memcmp(a.data, e->text, a.len) != 0) &&
            slm_tokenizer_set_piece(tok, id, a.data, a.len) != 0)
            st = SLM_ERR_OUT_OF_MEMORY;
    }
    free(a.data);
    free(b.data);
    return st == SLM_OK ? SLM_OK : slm_fail(err, st, "%s: out of memory", where);
}

/* ---- decoding ---- */

/* The chain's working list: n strings, each [start, end) of one buffer. */
typedef struct {
    slm_text_buf text;
    size_t *ends; /* (n) end of string i; string i starts at ends[i - 1] (0 for the first) */
    size_t n, cap;
} token_list;

/* Ends the string being built at the end of l->text. */
static int list_end(token_list *l) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        size_t *grown = realloc(l->ends, cap * sizeof *grown);
        if (!grown) return -1;
        l->ends = grown;
        l->cap = cap;
    }
    l->ends[l->n++] = l->text.len;
    return 0;
}

static int list_push(token_list *l, const char *s, size_t n) { return slm_text_buf_put(&l->text, s, n) || list_end(l) ? -1 : 0; }

static const char *list_at(const token_list *l, size_t i, size_t *n) {
    size_t start = i ? l->ends[i - 1] : 0;
    *n = l->ends[i] - start;
    return l->text.data ? l->text.data + start : "";
}

/* ByteFallback on list `in`, into `out`. */
static int byte_fallback(const token_list *in, token_list *out) {
    slm_text_buf run = {0}; /* the bytes of the current run of <0xXX> tokens */
    int rc = 0;
    for (size_t i = 0; i <= in->n && rc == 0; i++) {
        size_t n = 0;
        const char *s = i < in->n ? list_at(in, i, &n) : NULL;
        int byte = s ? byte_token(s, n) : -1;
        if (byte >= 0) {
            char c = (char)byte;
            rc = slm_text_buf_put(&run, &c, 1);
            continue;
        }
        if (run.len > 0 && valid_utf8(run.data, run.len)) {
            rc = list_push(out, run.data, run.len);
        } else {
            for (size_t k = 0; k < run.len && rc == 0; k++) rc = list_push(out, REPLACEMENT_CHARACTER, 3);
        }
        run.len = 0;
        if (s && rc == 0) rc = list_push(out, s, n);
    }
    free(run.data);
    return rc;
}

/* One step of the chain from `in` into `out` (empty). */
static int run_step(const slm_decoder_step *d, const token_list *in, token_list *out) {
    if (d->kind == SLM_DECODE_BYTE_FALLBACK) return byte_fallback(in, out);
    if (d->kind == SLM_DECODE_FUSE) return list_push(out, in->text.data ? in->text.data : "", in->text.len);
    for (size_t i = 0; i < in->n; i++) {
        size_t n;
        const char *s = list_at(in, i, &n);
        int rc;
        if (d->kind == SLM_DECODE_REPLACE) {
            rc = replace_into(&out->text, s, n, d->pattern, d->pattern_len, d->content, d->content_len);
        } else if (d->kind == SLM_DECODE_METASPACE) {
            int drop = i == 0 && d->prepend != SLM_PREPEND_NEVER;
            rc = replace_into(&out->text, s, n, d->pattern, d->pattern_len, " ", drop ? 0 : 1);
        } else { /* STRIP */
            size_t cut = 0;
            while (cut < n && cut < (size_t)d->start && s[cut] == ' ') cut++;
            rc = slm_text_buf_put(&out->text, s + cut, n - cut);
        }
        if (rc || list_end(out)) return -1;
    }
    return 0;
}

slm_status slm_bpe_decode_chain(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                                char **text, slm_error *err) {
    const slm_bpe *bpe = &tok->bpe;
    token_list lists[2] = {{{0}, 0, 0, 0}, {{0}, 0, 0, 0}};
    int cur = 0, rc = 0;
    for (size_t i = 0; i < n_ids && rc == 0; i++) {
        const slm_token_entry *e = &tok->tokens[ids[i]];
        if (skip_special && (e->flags & SLM_TOKEN_SPECIAL)) continue;
        rc = list_push(&lists[cur], e->text, e->text_len);
    }
    for (int k = 0; k < bpe->n_decoders && rc == 0; k++) {
        token_list *out = &lists[!cur];
        out->n = 0;
        out->text.len = 0;
        rc = run_step(&bpe->decoders[k], &lists[cur], out);
        cur = !cur;
    }
    if (rc == 0) {
        *text = malloc(lists[cur].text.len + 1);
        if (*text) {
            if (lists[cur].text.len) memcpy(*text, lists[cur].text.data, lists[cur].text.len);
            (*text)[lists[cur].text.len] = '\0';
        } else {
            rc = -1;
        }
    }
    for (int k = 0; k < 2; k++) {
        free(lists[k].text.data);
        free(lists[k].ends);
    }
    return rc == 0 ? SLM_OK : slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_detokenize: out of memory");
}
