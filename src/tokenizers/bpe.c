/* bpe.c — encoding with a Hugging Face BPE tokenizer: byte-level (GPT-2, Phi) or SentencePiece-style
 * with byte fallback (Llama 2, TinyLlama, llama2.c models converted by transformers).
 *
 * The pipeline, in the order tokenizers' Tokenizer::encode runs it:
 *   1. added tokens whose normalized flag is false are cut out of the raw text
 *      (leftmost, then longest match), honouring lstrip/rstrip/single_word;
 *   2. each remaining stretch is normalized (the normalizer steps in order: NFC, NFKC,
 *      Prepend, Replace), and added tokens with normalized = true are cut out of it the same way;
 *   3. each remaining stretch goes through the pre-tokenizer steps (ByteLevel: prefix space +
 *      GPT-2's split regex; Split: a regex; Metaspace: spaces -> "▁", a "▁" in front as its
 *      prepend_scheme says, optionally cut before every "▁"), and for a byte-level tokenizer every
 *      piece is mapped to the byte-level alphabet (byte b -> one printable character);
 *   4. the BPE model splits each piece into characters (a character outside the vocabulary becomes
 *      its <0xXX> byte tokens with byte_fallback, else unk, runs of unks fused with fuse_unk), then
 *      merges the adjacent pair of lowest merge rank, leftmost first, until no pair merges;
 *   5. the post-processor adds its prefix/suffix ids when add_special is set.
 * Metaspace's prepend_scheme "first" prepends only to the piece that starts the original text: a
 * text that begins with an added token ("<s>hello") gets no "▁" before "hello", while the
 * Prepend normalizer (Llama's legacy layout) prepends to every stretch between added tokens. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizers/tokenizer_impl.h"

/* ---- the byte-level alphabet ---- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves; the
 * other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) take code points 256, 257, ... in order. */
void slm_bpe_init_byte_alphabet(slm_bpe *bpe) {
    int next = 256;
    for (int i = 0; i < 324; i++) bpe->char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int cp = printable ? b : next++;
        size_t n = slm_utf8_encode(cp, bpe->byte_char[b]);
        bpe->byte_char[b][n] = '\0';
        bpe->char_byte[cp] = (int16_t)b;
    }
}

/* ---- regexes ---- */

void *slm_regex_compile(const char *pattern, size_t len, int literal, const char *where, slm_error *err) {
    int code;
    PCRE2_SIZE offset;
    uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, options, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(code, message, sizeof message);
        slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: regex /%.*s/ does not compile at offset %zu: %s", where,
                 (int)(len > 200 ? 200 : len), pattern, (size_t)offset, (const char *)message);
        return NULL;
    }
    return re;
}

void slm_regex_free(void *regex) { pcre2_code_free((pcre2_code *)regex); }

/* ---- per-call state ---- */

typedef struct {
    const slm_tokenizer *tok;
    slm_id_vec *out;
    pcre2_match_data *match;
    char *mapped;       /* a piece in the byte-level alphabet (up to 2 bytes per input byte) */
    size_t mapped_cap;
    slm_error *err;
} encoder;

static slm_status out_of_memory(encoder *e) {
    return slm_fail(e->err, SLM_ERR_OUT_OF_MEMORY, "slm_tokenize: out of memory");
}

/* ---- the BPE model on one pre-token ---- */

typedef struct {
    int32_t id;
    int32_t prev, next; /* live neighbours; -1 at the ends */
    int alive;
} bpe_symbol;

typedef struct {
    int32_t rank, pos, merged;
} bpe_merge;

typedef struct {
    bpe_merge *items;
    size_t len, cap;
} merge_heap;

/* Lowest rank first; on equal ranks the leftmost pair (as tokenizers' BinaryHeap ordering does). */
static int merge_before(const bpe_merge *a, const bpe_merge *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int merge_push(merge_heap *h, bpe_merge m) {
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        bpe_merge *items = realloc(h->items, cap * sizeof *items);
        if (!items) return -1;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->len++;
    while (i > 0 && merge_before(&m, &h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = m;
    return 0;
}

static bpe_merge merge_pop(merge_heap *h) {
    bpe_merge top = h->items[0], last = h->items[--h->len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len) break;
        if (c + 1 < h->len && merge_before(&h->items[c + 1], &h->items[c])) c++;
        if (!merge_before(&h->items[c], &last)) break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->len > 0) h->items[i] = last;
    return top;
}

static int queue_merge(const slm_bpe *bpe, const bpe_symbol *sym, int32_t pos, merge_heap *heap) {
    int32_t next = sym[pos].next;
    if (next < 0) return 0;
    const slm_pair_map_slot *m = slm_pair_map_get(&bpe->merges, sym[pos].id, sym[next].id);
    if (!m) return 0;
    return merge_push(heap, (bpe_merge){m->rank, pos, m->merged});
}

/* Adds symbol id at the end of sym[0..*n). */
static void add_symbol(bpe_symbol *sym, int32_t *n, int32_t id) {
    sym[*n] = (bpe_symbol){id, *n - 1, -1, 1};
    if (*n > 0) sym[*n - 1].next = *n;
    (*n)++;
}

/* Encodes one word already in the model's alphabet (UTF-8) and appends its ids. */
static slm_status bpe_word(encoder *e, const char *word, size_t len) {
    const slm_tokenizer *tok = e->tok;
    const slm_bpe *bpe = &tok->bpe;
    if (bpe->ignore_merges) {
        int32_t whole = slm_str_map_get(&tok->lookup, word, len);
        if (whole >= 0) return slm_id_vec_push(e->out, whole) == 0 ? SLM_OK : out_of_memory(e);
    }
    bpe_symbol *sym = malloc((len + 1) * sizeof *sym); /* at most one symbol per byte */
    if (!sym) return out_of_memory(e);
    int32_t n = 0;
    int pending_unk = 0; /* an unknown character not yet emitted (fuse_unk folds runs into one) */
    for (size_t i = 0; i < len;) {
        size_t ch;
        slm_utf8_decode((const unsigned char *)word + i, len - i, &ch);
        int32_t id = slm_str_map_get(&tok->lookup, word + i, ch);
        if (id >= 0) {
            if (pending_unk) add_symbol(sym, &n, bpe->unk_id);
            pending_unk = 0;
            add_symbol(sym, &n, id);
        } else {
            int done = 0;
            if (bpe->byte_fallback) { /* every byte's <0xXX> token, or none of them */
                int32_t ids[4];
                char name[8];
                done = 1;
                for (size_t k = 0; k < ch && done; k++) {
                    snprintf(name, sizeof name, "<0x%02X>", (unsigned)(unsigned char)word[i + k]);
                    ids[k] = slm_str_map_get(&tok->lookup, name, 6);
                    done = ids[k] >= 0;
                }
                /* a pending unk stays pending across the bytes: tokenizers adds it after them */
                for (size_t k = 0; done && k < ch; k++) add_symbol(sym, &n, ids[k]);
            }
            if (!done && bpe->unk_id >= 0) {
                if (pending_unk && !bpe->fuse_unk) add_symbol(sym, &n, bpe->unk_id);
                pending_unk = 1;
            }
            /* without an unk token the character is dropped, as tokenizers does */
        }
        i += ch;
    }
    if (pending_unk) add_symbol(sym, &n, bpe->unk_id);

    merge_heap heap = {0};
    slm_status st = SLM_OK;
    for (int32_t i = 0; i + 1 < n && st == SLM_OK; i++)
        if (queue_merge(bpe, sym, i, &heap) != 0) st = out_of_memory(e);
    while (heap.len > 0 && st == SLM_OK) {
        bpe_merge m = merge_pop(&heap);
        bpe_symbol *l = &sym[m.pos];
        if (!l->alive || l->next < 0) continue;
        bpe_symbol *r = &sym[l->next];
        const slm_pair_map_slot *now = slm_pair_map_get(&bpe->merges, l->id, r->id);
        if (!now || now->merged != m.merged) continue; /* the pair changed since it was queued */
        l->id = m.merged;
        r->alive = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = m.pos;
        if (l->prev >= 0 && queue_merge(bpe, sym, l->prev, &heap) != 0) st = out_of_memory(e);
        if (st == SLM_OK && queue_merge(bpe, sym, m.pos, &heap) != 0) st = out_of_memory(e);
    }
    for (int32_t i = n > 0 ? 0 : -1; i >= 0 && st == SLM_OK; i = sym[i].next)
        if (slm_id_vec_push(e->out, sym[i].id) != 0) st = out_of_memory(e);
    free(heap.items);
    free(sym);
    return st;
}

/* Maps a pre-token to the byte-level alphabet (when the tokenizer is byte-level) and runs BPE on it. */
static slm_status model_piece(encoder *e, const char *s, size_t n) {
    const slm_bpe *bpe = &e->tok->bpe;
    if (!bpe->byte_level) return bpe_word(e, s, n);
    if (n * 2 + 1 > e->mapped_cap) {
        char *bigger = realloc(e->mapped, n * 2 + 1);
        if (!bigger) return out_of_memory(e);
        e->mapped = bigger;
        e->mapped_cap = n * 2 + 1;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = bpe->byte_char[(unsigned char)s[i]];
        for (size_t k = 0; c[k]; k++) e->mapped[m++] = c[k];
    }
    return bpe_word(e, e->mapped, m);
}

/* ---- pre-tokenization ---- */

static slm_status pretokenize(encoder *e, int step, const char *s, size_t n, int first);

/* The piece s[a..b) to the next step; first: s starts the original text (Metaspace's "first"). */
static slm_status next_step(encoder *e, int step, const char *s, size_t a, size_t b, int first) {
    return pretokenize(e, step + 1, s + a, b - a, first && a == 0);
}

/* Splits s by regex: matches and the gaps between them become pieces, combined as behavior says. */
static slm_status split_by_regex(encoder *e, int step, const pcre2_code *re, slm_split_behavior behavior,
                                 const char *s, size_t n, int first) {
    size_t gap_start = 0, pos = 0, pending_start = 0; /* pending: a gap waiting to absorb the next match */
    int have_pending = 0;
    slm_status st = SLM_OK;
    while (pos <= n && st == SLM_OK) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, e->match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            return slm_fail(e->err, SLM_ERR_UNSUPPORTED, "slm_tokenize: pre-tokenizer regex failed: %s",
                            (const char *)message);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->match);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* an empty match splits nothing: step over one character */
            size_t ch = 1;
            if (ms < n) slm_utf8_decode((const unsigned char *)s + ms, n - ms, &ch);
            pos = ms + ch;
            continue;
        }
        switch (behavior) {
        case SLM_SPLIT_ISOLATED:
            st = next_step(e, step, s, gap_start, ms, first);
            if (st == SLM_OK) st = next_step(e, step, s, ms, me, first);
            gap_start = me;
            break;
        case SLM_SPLIT_REMOVED:
            st = next_step(e, step, s, gap_start, ms, first);
            gap_start = me;
            break;
        case SLM_SPLIT_MERGED_WITH_PREVIOUS: /* the match ends the piece before it */
            st = next_step(e, step, s, gap_start, me, first);
            gap_start = me;
            break;
        case SLM_SPLIT_MERGED_WITH_NEXT: /* the match starts the piece after it */
            st = next_step(e, step, s, have_pending ? pending_start : gap_start, ms, first);
            pending_start = ms;
            have_pending = 1;
            gap_start = me;
            break;
        }
        pos = me;
    }
    if (st != SLM_OK) return st;
    size_t tail_start = behavior == SLM_SPLIT_MERGED_WITH_NEXT && have_pending ? pending_start : gap_start;
    return next_step(e, step, s, tail_start, n, first);
}

/* Metaspace: every " " becomes the replacement, which is also put in front as prepend_scheme says
 * (never before a piece that already starts with it); with split, the piece is cut before every
 * replacement (MergedWithNext: "▁a▁▁b" -> "▁a", "▁", "▁b"). */
static slm_status metaspace(encoder *e, int step, const slm_pretokenizer_step *p, const char *s, size_t n,
                            int first) {
    size_t r = strlen(p->replacement), spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    char *out = malloc(n + (spaces + 1) * r);
    if (!out) return out_of_memory(e);
    size_t m = 0;
    int starts_with = s[0] == ' ' || (n >= r && memcmp(s, p->replacement, r) == 0);
    if (!starts_with && (p->prepend == SLM_PREPEND_ALWAYS || (p->prepend == SLM_PREPEND_FIRST && first))) {
        memcpy(out, p->replacement, r);
        m = r;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(out + m, p->replacement, r);
            m += r;
        } else {
            out[m++] = s[i];
        }
    }
    slm_status st = SLM_OK;
    if (!p->split) {
        st = pretokenize(e, step + 1, out, m, first);
    } else {
        size_t start = 0;
        for (size_t i = 1; i + r <= m && st == SLM_OK; i++) { /* a match is always at a character start */
            if (memcmp(out + i, p->replacement, r) != 0) continue;
            st = next_step(e, step, out, start, i, first);
            start = i;
            i += r - 1;
        }
        if (st == SLM_OK) st = next_step(e, step, out, start, m, first);
    }
    free(out);
    return st;
}

/* Runs pre-tokenizer steps [step..] on s, then the model on every resulting piece. */
static slm_status pretokenize(encoder *e, int step, const char *s, size_t n, int first) {
    if (n == 0) return SLM_OK; /* tokenizers drops empty splits */
    const slm_bpe *bpe = &e->tok->bpe;
    if (step == bpe->n_steps) return model_piece(e, s, n);
    const slm_pretokenizer_step *p = &bpe->steps[step];
    if (p->is_metaspace) return metaspace(e, step, p, s, n, first);
    if (p->is_byte_level && p->add_prefix_space && s[0] != ' ') {
        char *spaced = malloc(n + 1);
        if (!spaced) return out_of_memory(e);
        spaced[0] = ' ';
        memcpy(spaced + 1, s, n);
        slm_status st = p->regex ? split_by_regex(e, step, p->regex, SLM_SPLIT_ISOLATED, spaced, n + 1, first)
                                 : pretokenize(e, step + 1, spaced, n + 1, first);
        free(spaced);
        return st;
    }
    if (!p->regex) return pretokenize(e, step + 1, s, n, first);
    return split_by_regex(e, step, p->regex, p->behavior, s, n, first);
}

/* ---- added tokens ---- */

static int is_word_char(int32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return !slm_is_unicode_space(cp);
}

/* The code point ending just before s[i] (s[0..i) is valid UTF-8). */
static int32_t char_before(const char *s, size_t i) {
    size_t start = i - 1;
    while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80) start--;
    size_t n;
    return slm_utf8_decode((const unsigned char *)s + start, i - start, &n);
}

static int32_t char_at(const char *s, size_t n, size_t i) {
    size_t k;
    return slm_utf8_decode((const unsigned char *)s + i, n - i, &k);
}

/* Finds the first added token (of the given normalized flag) in s[from..n): leftmost, then longest.
 * start and end include what lstrip/rstrip swallow. Returns its index in bpe->added, or -1. */
static int find_added(const slm_bpe *bpe, int normalized, const char *s, size_t n, size_t from, size_t *start,
                      size_t *end) {
    for (size_t p = from; p < n; p++) {
        if (((unsigned char)s[p] & 0xC0) == 0x80) continue; /* only at character starts */
        int best = -1;
        for (int k = 0; k < bpe->n_added; k++) {
            const slm_added_token *a = &bpe->added[k];
            if (a->normalized != normalized || a->len == 0 || a->len > n - p) continue;
            if ((unsigned char)a->content[0] != (unsigned char)s[p] || memcmp(a->content, s + p, a->len) != 0) continue;
            if (a->single_word && ((p > 0 && is_word_char(char_before(s, p))) ||
                                   (p + a->len < n && is_word_char(char_at(s, n, p + a->len)))))
                continue;
            if (best < 0 || a->len > bpe->added[best].len) best = k;
        }
        if (best < 0) continue;
        const slm_added_token *a = &bpe->added[best];
        size_t b = p, f = p + a->len;
        if (a->lstrip)
            while (b > from && slm_is_unicode_space(char_before(s, b))) {
                size_t k = b - 1;
                while (k > from && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
                b = k;
            }
        if (a->rstrip)
            while (f < n && slm_is_unicode_space(char_at(s, n, f))) {
                size_t k;
                slm_utf8_decode((const unsigned char *)s + f, n - f, &k);
                f += k;
            }
        *start = b;
        *end = f;
        return best;
    }
    return -1;
}

static slm_status normalized_stretch(encoder *e, const char *s, size_t n, int first);

/* Cuts the added tokens of one kind out of s; what lies between goes to the next stage.
 * first: s starts the original text. */
static slm_status split_added(encoder *e, int normalized, const char *s, size_t n, int first) {
    const slm_bpe *bpe = &e->tok->bpe;
    size_t pos = 0;
    for (;;) {
        size_t start = n, end = n;
        int k = find_added(bpe, normalized, s, n, pos, &start, &end);
        size_t stop = k >= 0 ? start : n;
        int at_start = first && pos == 0;
        slm_status st = normalized ? pretokenize(e, 0, s + pos, stop - pos, at_start)
                                   : normalized_stretch(e, s + pos, stop - pos, at_start);
        if (st != SLM_OK) return st;
        if (k < 0) return SLM_OK;
        if (slm_id_vec_push(e->out, bpe->added[k].id) != 0) return out_of_memory(e);
        pos = end;
    }
}

/* One normalizer step on s[0..n): a new allocation in *out (*m bytes), or SLM_OK with *out NULL when
 * the step leaves s as it is. */
static slm_status normalize_step(encoder *e, const slm_bpe_norm_step *step, const char *s, size_t n, char **out,
                                 size_t *m) {
    *out = NULL;
    if (step->kind == SLM_BPE_NORM_NFC || step->kind == SLM_BPE_NORM_NFKC) {
        utf8proc_option_t options = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
        if (step->kind == SLM_BPE_NORM_NFKC) options |= UTF8PROC_COMPAT;
        utf8proc_uint8_t *mapped = NULL;
        utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &mapped, options);
        if (k < 0) return slm_fail(e->err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenize: normalization failed: %s",
                                   utf8proc_errmsg(k));
        *out = (char *)mapped;
        *m = (size_t)k;
        return SLM_OK;
    }
    if (step->kind == SLM_BPE_NORM_PREPEND) { /* tokenizers' Prepend leaves an empty stretch empty */
        if (!(*out = malloc(n + step->text_len + 1))) return out_of_memory(e);
        memcpy(*out, step->text, step->text_len);
        memcpy(*out + step->text_len, s, n);
        *m = n + step->text_len;
        return SLM_OK;
    }
    size_t hits = 0; /* REPLACE */
    for (size_t i = 0; i + step->text_len <= n;)
        if (memcmp(s + i, step->text, step->text_len) == 0) {
            hits++;
            i += step->text_len;
        } else {
            i++;
        }
    if (hits == 0) return SLM_OK;
    if (!(*out = malloc(n + hits * step->content_len + 1))) return out_of_memory(e);
    size_t o = 0;
    for (size_t i = 0; i < n;)
        if (i + step->text_len <= n && memcmp(s + i, step->text, step->text_len) == 0) {
            memcpy(*out + o, step->content, step->content_len);
            o += step->content_len;
            i += step->text_len;
        } else {
            (*out)[o++] = s[i++];
        }
    *m = o;
    return SLM_OK;
}

/* Normalizes a stretch of raw text, then cuts out the normalized added tokens. */
static slm_status normalized_stretch(encoder *e, const char *s, size_t n, int first) {
    const slm_bpe *bpe = &e->tok->bpe;
    if (n == 0) return SLM_OK;
    char *owned = NULL; /* the latest step's output, when a step changed the text */
    slm_status st = SLM_OK;
    for (int i = 0; i < bpe->n_normalizers && st == SLM_OK && n > 0; i++) {
        char *next = NULL;
        size_t m = 0;
        st = normalize_step(e, &bpe->normalizers[i], s, n, &next, &m);
        if (st != SLM_OK || !next) continue;
        free(owned);
        owned = next;
        s = next;
        n = m;
    }
    if (st == SLM_OK) st = split_added(e, 1, s, n, first);
    free(owned);
    return st;
}

slm_status slm_bpe_encode(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                          slm_id_vec *out, slm_error *err) {
    const slm_bpe *bpe = &tok->bpe;
    encoder e = {tok, out, NULL, NULL, 0, err};
    slm_status st = SLM_OK;
    if (add_special)
        for (int i = 0; i < bpe->n_prefix && st == SLM_OK; i++)
            if (slm_id_vec_push(out, bpe->prefix_ids[i]) != 0) st = out_of_memory(&e);
    e.match = pcre2_match_data_create(32, NULL);
    if (!e.match) st = out_of_memory(&e);
    if (st == SLM_OK) st = split_added(&e, 0, text, len, 1);
    if (add_special)
        for (int i = 0; i < bpe->n_suffix && st == SLM_OK; i++)
            if (slm_id_vec_push(out, bpe->suffix_ids[i]) != 0) st = out_of_memory(&e);
    pcre2_match_data_free(e.match);
    free(e.mapped);
    return st;
}
