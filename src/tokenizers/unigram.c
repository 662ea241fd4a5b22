/* unigram.c — encoding and decoding with a SentencePiece Unigram model (see unigram.h for the three
 * modes). Text is carried as code points, each with the [start, end) range (code points of the
 * original text) it came from, through every normalization step, so tokens get offsets in the
 * original text as Hugging Face computes them:
 *   - a character expanded into several (NFKD, the charsmap) gives each the source's range;
 *   - Replace gives the new characters the range of the last replaced one (Hugging Face aligns
 *     inserted characters with the character before the insertion point);
 *   - the charsmap replacing k characters by m: the first min(k, m) map one to one, extra new ones
 *     share the last old one's range, extra old ones are dropped;
 *   - Metaspace's prepended ▁ shares its word's first character's range.
 * Viterbi is SentencePiece's "optimized" form: the best path ending at each byte; unknown characters
 * become unk with score min_score - 10, and consecutive unknowns are fused into one token. */
#include "tokenizers/unigram.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"

enum { SPACE_SYMBOL = 0x2581 }; /* ▁ */
static const double UNK_PENALTY = 10.0;

/* ---- aligned text ---- */

typedef struct {
    int32_t *cp, *start, *end; /* (n) code point and its [start, end) range in the original text */
    size_t n, cap;
} utext;

static int ut_push(utext *t, int32_t cp, int32_t start, int32_t end) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        int32_t *c = realloc(t->cp, cap * sizeof *c);
        if (!c) return -1;
        t->cp = c;
        int32_t *s = realloc(t->start, cap * sizeof *s);
        if (!s) return -1;
        t->start = s;
        int32_t *e = realloc(t->end, cap * sizeof *e);
        if (!e) return -1;
        t->end = e;
        t->cap = cap;
    }
    t->cp[t->n] = cp;
    t->start[t->n] = start;
    t->end[t->n] = end;
    t->n++;
    return 0;
}

static void ut_free(utext *t) {
    free(t->cp);
    free(t->start);
    free(t->end);
    memset(t, 0, sizeof *t);
}

static void ut_swap(utext *a, utext *b) {
    utext t = *a;
    *a = *b;
    *b = t;
}

/* Decodes a UTF-8 string (known valid) into code points. */
static size_t decode_cps(const char *s, size_t len, int32_t *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap;) {
        size_t k;
        int32_t c = slm_utf8_decode((const unsigned char *)s + i, len - i, &k);
        out[n++] = c < 0 ? 0xFFFD : c;
        i += k;
    }
    return n;
}

/* ---- normalization steps ---- */

/* Replace: every non-overlapping occurrence of pattern, left to right. */
static int step_replace(const utext *in, utext *out, const char *pattern, const char *content) {
    int32_t pat[64], con[64];
    size_t np = decode_cps(pattern, strlen(pattern), pat, 64), nc = decode_cps(content, strlen(content), con, 64);
    for (size_t i = 0; i < in->n;) {
        if (np > 0 && i + np <= in->n && memcmp(in->cp + i, pat, np * sizeof *pat) == 0) {
            size_t last = i + np - 1;
            for (size_t k = 0; k < nc; k++)
                if (ut_push(out, con[k], in->start[last], in->end[last])) return -1;
            i += np;
            continue;
        }
        if (ut_push(out, in->cp[i], in->start[i], in->end[i])) return -1;
        i++;
    }
    return 0;
}

static int combining_class(int32_t c) { return utf8proc_get_property(c)->combining_class; }

/* NFD or NFKD: full decomposition of each character, then the canonical ordering of marks. */
static int step_decompose(const utext *in, utext *out, int compat) {
    for (size_t i = 0; i < in->n; i++) {
        utf8proc_int32_t parts[32];
        int bound = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(in->cp[i], parts, 32,
                                                     UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0), &bound);
        if (n <= 0 || n > 32) {
            parts[0] = in->cp[i];
            n = 1;
        }
        for (utf8proc_ssize_t k = 0; k < n; k++)
            if (ut_push(out, parts[k], in->start[i], in->end[i])) return -1;
    }
    for (size_t i = 1; i < out->n; i++) { /* stable insertion sort of each run of non-starters */
        int ccc = combining_class(out->cp[i]);
        if (ccc == 0) continue;
        for (size_t j = i; j > 0; j--) {
            int prev = combining_class(out->cp[j - 1]);
            if (prev <= ccc) break;
            int32_t c = out->cp[j], s = out->start[j], e = out->end[j];
            out->cp[j] = out->cp[j - 1];
            out->start[j] = out->start[j - 1];
            out->end[j] = out->end[j - 1];
            out->cp[j - 1] = c;
            out->start[j - 1] = s;
            out->end[j - 1] = e;
        }
    }
    return 0;
}

static int is_mark(int32_t c) {
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
}

/* StripAccents (drop General_Category=Mark), or Python's "not unicodedata.combining(c)". */
static int step_strip(const utext *in, utext *out, int by_combining_class) {
    for (size_t i = 0; i < in->n; i++) {
        int drop = by_combining_class ? combining_class(in->cp[i]) != 0 : is_mark(in->cp[i]);
        if (!drop && ut_push(out, in->cp[i], in->start[i], in->end[i])) return -1;
    }
    return 0;
}

static int is_cased_letter(int32_t c) {
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

/* Full lowercase per character (Rust's char::to_lowercase: U+0130 becomes two code points);
 * python: Python's str.lower(), which also writes a word-final capital sigma as ς. */
static int step_lower(const utext *in, utext *out, int python) {
    for (size_t i = 0; i < in->n; i++) {
        int32_t c = in->cp[i];
        if (c == 0x130) {
            if (ut_push(out, 'i', in->start[i], in->end[i]) || ut_push(out, 0x307, in->start[i], in->end[i])) return -1;
            continue;
        }
        if (python && c == 0x3A3 && i > 0 && is_cased_letter(in->cp[i - 1]) &&
            !(i + 1 < in->n && is_cased_letter(in->cp[i + 1]))) {
            if (ut_push(out, 0x3C2, in->start[i], in->end[i])) return -1;
            continue;
        }
        if (ut_push(out, utf8proc_tolower(c), in->start[i], in->end[i])) return -1;
    }
    return 0;
}

/* ---- the precompiled charsmap ---- */

slm_status slm_unigram_set_charsmap(slm_unigram *u, const char *where, const uint8_t *blob, size_t len,
                                    slm_error *err) {
    if (len <= 4)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: precompiled charsmap of %zu bytes is too short", where, len);
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (trie_size >= len - 4 + 1 || trie_size % 4 != 0 || trie_size > len - 4)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: precompiled charsmap trie size %u does not fit its %zu bytes", where,
                        trie_size, len);
    free(u->charsmap);
    free(u->trie_units);
    u->charsmap = malloc(len);
    u->trie_units = malloc(trie_size ? trie_size : 4);
    if (!u->charsmap || !u->trie_units) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    memcpy(u->charsmap, blob, len);
    u->n_trie = trie_size / 4;
    for (size_t i = 0; i < u->n_trie; i++) {
        const uint8_t *b = blob + 4 + 4 * i;
        u->trie_units[i] = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    }
    u->trie = u->trie_units;
    u->charsmap_strings = (const char *)u->charsmap + 4 + trie_size;
    u->charsmap_strings_len = len - 4 - trie_size;
    return SLM_OK;
}

/* darts-clone's commonPrefixSearch: every prefix of key[0..len) that is a key, shortest first, as
 * (value, length); returns how many (at most max). Every index is checked against the array. */
static size_t charsmap_prefixes(const slm_unigram *u, const uint8_t *key, size_t len, uint32_t *values,
                                size_t *lengths, size_t max) {
    if (u->n_trie == 0) return 0;
    size_t found = 0;
    uint32_t unit = u->trie[0];
    size_t pos = (unit >> 10) << ((unit & (1u << 9)) >> 6);
    for (size_t i = 0; i < len; i++) {
        pos ^= key[i];
        if (pos >= u->n_trie) return found;
        unit = u->trie[pos];
        if ((unit & ((1u << 31) | 0xFF)) != key[i]) return found;
        pos ^= (unit >> 10) << ((unit & (1u << 9)) >> 6);
        if ((unit >> 8) & 1) {
            if (pos >= u->n_trie) return found;
            if (found < max) {
                values[found] = u->trie[pos] & 0x7FFFFFFFu;
                lengths[found] = i + 1;
                found++;
            }
        }
    }
    return found;
}

/* The replacement string at value (NUL-terminated inside the strings), or NULL when out of bounds. */
static const char *charsmap_string(const slm_unigram *u, uint32_t value, size_t *len) {
    if (value >= u->charsmap_strings_len) return NULL;
    const char *s = u->charsmap_strings + value;
    const char *nul = memchr(s, '\0', u->charsmap_strings_len - value);
    if (!nul) return NULL;
    *len = (size_t)(nul - s);
    return s;
}

/* Writes UTF-8 of t->cp[from..to) into buf (4 bytes a character of room). */
static size_t ut_utf8(const utext *t, size_t from, size_t to, char *buf) {
    size_t n = 0;
    for (size_t i = from; i < to; i++) n += slm_utf8_encode(t->cp[i], buf + n);
    return n;
}

/* Replaces in[from..to) by the code points of repl, aligned as the file comment says. */
static int push_replacement(const utext *in, size_t from, size_t to, const char *repl, size_t repl_len, utext *out) {
    int32_t cps[256];
    size_t m = decode_cps(repl, repl_len, cps, 256), k = to - from;
    for (size_t j = 0; j < m; j++) {
        size_t src = from + (j < k ? j : k - 1);
        if (ut_push(out, cps[j], in->start[src], in->end[src])) return -1;
    }
    return 0;
}

/* Hugging Face's Precompiled normalizer: each extended grapheme cluster shorter than 6 bytes is looked
 * up whole (the first, shortest, match of the trie); otherwise, or when that finds nothing, each of
 * its characters is looked up alone. */
static int step_precompiled(const slm_unigram *u, const utext *in, utext *out) {
    char buf[4 * 64];
    uint32_t values[32];
    size_t lengths[32];
    for (size_t g = 0; g < in->n;) {
        size_t ge = g + 1;
        utf8proc_int32_t state = 0;
        while (ge < in->n && !utf8proc_grapheme_break_stateful(in->cp[ge - 1], in->cp[ge], &state)) ge++;
        int done = 0;
        if (ge - g <= 6) {
            size_t nb = ut_utf8(in, g, ge, buf);
            if (nb < 6 && charsmap_prefixes(u, (const uint8_t *)buf, nb, values, lengths, 32) > 0) {
                size_t rl;
                const char *r = charsmap_string(u, values[0], &rl);
                if (r) {
                    if (push_replacement(in, g, ge, r, rl, out)) return -1;
                    done = 1;
                }
            }
        }
        for (size_t i = g; !done && i < ge; i++) {
            size_t nb = ut_utf8(in, i, i + 1, buf), rl = 0;
            const char *r = NULL;
            if (charsmap_prefixes(u, (const uint8_t *)buf, nb, values, lengths, 32) > 0) r = charsmap_string(u, values[0], &rl);
            if (r ? push_replacement(in, i, i + 1, r, rl, out) : ut_push(out, in->cp[i], in->start[i], in->end[i]))
                return -1;
        }
        g = ge;
    }
    return 0;
}

/* ---- SentencePiece's own normalizer ---- */

/* The longest user-defined piece at in[i..], in characters, or 0. */
static size_t user_defined_at(const slm_tokenizer *tok, const utext *in, size_t i) {
    const slm_unigram *u = tok->unigram;
    size_t best = 0, best_len = 0;
    char buf[4 * 64];
    for (int k = 0; k < u->n_added; k++) {
        const slm_unigram_added *a = &u->added[k];
        if (u->types[a->id] != SLM_SP_USER_DEFINED || a->len <= best_len) continue;
        size_t chars = 0, nb = 0;
        while (i + chars < in->n && nb < a->len && chars < 64) nb += slm_utf8_encode(in->cp[i + chars++], buf + nb);
        size_t used = 0, c = 0;
        for (; c < chars && used < a->len; c++) used += slm_utf8_encode(in->cp[i + c], buf + used);
        if (used == a->len && memcmp(buf, a->content, a->len) == 0) {
            best = c;
            best_len = a->len;
        }
    }
    return best;
}

/* SentencePiece's Normalizer::Normalize: at each position the user-defined piece, else the longest
 * charsmap rule, else the character; leading, repeated and trailing spaces dropped when
 * remove_extra_whitespaces; ▁ prepended when add_dummy_prefix; spaces escaped as ▁. */
static int sp_normalize(const slm_tokenizer *tok, const utext *in, utext *out) {
    const slm_unigram *u = tok->unigram;
    char buf[4 * 64];
    uint32_t values[32];
    size_t lengths[32];
    utext piece = {0};
    int failed = 0, started = 0, prev_space = u->remove_extra_whitespaces;
    for (size_t i = 0; i < in->n && !failed;) {
        /* the next rule: [i, i + used) -> piece */
        piece.n = 0;
        size_t used = user_defined_at(tok, in, i);
        if (used > 0) {
            for (size_t k = i; k < i + used && !failed; k++) failed = ut_push(&piece, in->cp[k], in->start[k], in->end[k]);
        } else {
            size_t upto = in->n - i < 16 ? in->n - i : 16, nb = ut_utf8(in, i, i + upto, buf);
            size_t found = charsmap_prefixes(u, (const uint8_t *)buf, nb, values, lengths, 32), best = 0;
            uint32_t value = 0;
            for (size_t k = 0; k < found; k++)
                if (lengths[k] > best) {
                    best = lengths[k];
                    value = values[k];
                }
            size_t rl = 0;
            const char *r = best ? charsmap_string(u, value, &rl) : NULL;
            if (r) {
                size_t bytes = 0;
                used = 0;
                while (bytes < best && i + used < in->n) bytes += slm_utf8_encode(in->cp[i + used++], buf);
                failed = push_replacement(in, i, i + used, r, rl, &piece);
                /* every new character spans the whole match */
                for (size_t k = 0; k < piece.n; k++) {
                    piece.start[k] = in->start[i];
                    piece.end[k] = in->end[i + used - 1];
                }
            } else {
                used = 1;
                failed = ut_push(&piece, in->cp[i], in->start[i], in->end[i]);
            }
        }
        i += used;
        if (failed) break;
        size_t from = 0;
        if (!started && u->remove_extra_whitespaces) { /* heading spaces */
            int all_space = piece.n == 1 && piece.cp[0] == ' ';
            if (all_space) continue;
        }
        if (!started) {
            started = 1;
            if (u->add_dummy_prefix && piece.n > 0)
                failed = ut_push(out, u->escape_whitespaces ? SPACE_SYMBOL : ' ', piece.start[0], piece.end[0]);
        }
        while (prev_space && from < piece.n && piece.cp[from] == ' ') from++;
        for (size_t k = from; k < piece.n && !failed; k++)
            failed = ut_push(out, piece.cp[k] == ' ' && u->escape_whitespaces ? SPACE_SYMBOL : piece.cp[k],
                             piece.start[k], piece.end[k]);
        if (from < piece.n) prev_space = piece.cp[piece.n - 1] == ' ';
        if (!u->remove_extra_whitespaces) prev_space = 0;
    }
    if (u->remove_extra_whitespaces)
        while (out->n > 0 && out->cp[out->n - 1] == (u->escape_whitespaces ? SPACE_SYMBOL : ' ')) out->n--;
    ut_free(&piece);
    return failed ? -1 : 0;
}

/* Python's str.isspace(). */
static int python_space(int32_t c) {
    return slm_is_unicode_space(c) || (c >= 0x1C && c <= 0x1F);
}

/* AlbertTokenizer.preprocess_text. */
static int albert_preprocess(const slm_unigram *u, utext *t, utext *tmp) {
    if (u->remove_space) { /* " ".join(text.strip().split()) */
        tmp->n = 0;
        for (size_t i = 0; i < t->n;) {
            if (!python_space(t->cp[i])) {
                if (ut_push(tmp, t->cp[i], t->start[i], t->end[i])) return -1;
                i++;
                continue;
            }
            size_t j = i;
            while (j < t->n && python_space(t->cp[j])) j++;
            if (i > 0 && j < t->n && ut_push(tmp, ' ', t->start[i], t->end[i])) return -1;
            i = j;
        }
        ut_swap(t, tmp);
    }
    tmp->n = 0;
    if (step_replace(t, tmp, "``", "\"")) return -1;
    ut_swap(t, tmp);
    tmp->n = 0;
    if (step_replace(t, tmp, "''", "\"")) return -1;
    ut_swap(t, tmp);
    if (!u->keep_accents) {
        tmp->n = 0;
        if (step_decompose(t, tmp, 1)) return -1;
        ut_swap(t, tmp);
        tmp->n = 0;
        if (step_strip(t, tmp, 1)) return -1;
        ut_swap(t, tmp);
    }
    if (u->do_lower_case) {
        tmp->n = 0;
        if (step_lower(t, tmp, 1)) return -1;
        ut_swap(t, tmp);
    }
    return 0;
}

/* The HF normalizer Sequence on t. */
static int hf_normalize(const slm_unigram *u, utext *t, utext *tmp) {
    for (int s = 0; s < u->n_steps; s++) {
        const slm_unorm_step *st = &u->steps[s];
        tmp->n = 0;
        int failed = 0;
        switch (st->kind) {
        case SLM_UNORM_REPLACE: failed = step_replace(t, tmp, st->pattern, st->content); break;
        case SLM_UNORM_NFKD: failed = step_decompose(t, tmp, 1); break;
        case SLM_UNORM_NFD: failed = step_decompose(t, tmp, 0); break;
        case SLM_UNORM_STRIP_ACCENTS: failed = step_strip(t, tmp, 0); break;
        case SLM_UNORM_LOWERCASE: failed = step_lower(t, tmp, 0); break;
        case SLM_UNORM_PRECOMPILED: failed = step_precompiled(u, t, tmp); break;
        }
        if (failed) return -1;
        ut_swap(t, tmp);
    }
    return 0;
}

/* ---- Viterbi ---- */

typedef struct {
    int32_t id;
    int32_t start; /* byte where the best path's last token starts, -1 when none */
    double score;
} best_node;

typedef struct {
    size_t start, end; /* bytes */
    int32_t id;
} piece_span;

typedef struct {
    char *bytes;
    size_t *char_of;    /* (bytes + 1) index of the character holding each byte */
    best_node *best;
    piece_span *spans;
    size_t cap_bytes, n_spans, cap_spans;
} viterbi_work;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) return -1;
    *p = q;
    *cap = cap2;
    return 0;
}

static void work_free(viterbi_work *w) {
    free(w->bytes);
    free(w->char_of);
    free(w->best);
    free(w->spans);
}

/* Best segmentation of w->bytes[0..n) into w->spans (fused unknowns), Hugging Face's or
 * SentencePiece's way. */
static int viterbi(const slm_tokenizer *tok, viterbi_work *w, size_t n) {
    const slm_unigram *u = tok->unigram;
    int sp = u->mode != SLM_UNIGRAM_HF;
    double unk_score = sp ? (double)((float)u->min_score - (float)UNK_PENALTY) : u->min_score - UNK_PENALTY;
    for (size_t i = 0; i <= n; i++) w->best[i] = (best_node){-1, -1, 0.0};
    for (size_t s = 0; s < n;) {
        size_t mblen;
        if (slm_utf8_decode((const unsigned char *)w->bytes + s, n - s, &mblen) < 0) mblen = 1;
        double here = w->best[s].score;
        int has_single = 0;
        size_t max_len = n - s < u->max_piece_len ? n - s : u->max_piece_len;
        for (size_t len = 1; len <= max_len; len++) {
            int32_t id = slm_str_map_get(&u->matchable, w->bytes + s, len);
            if (id < 0) continue;
            double score;
            if (sp && u->types[id] == SLM_SP_UNUSED) continue;
            if (sp && u->types[id] == SLM_SP_USER_DEFINED)
                score = (double)((float)len * (float)u->max_score - 0.1f);
            else
                score = u->scores[id];
            double cand = sp ? (double)((float)score + (float)here) : score + here;
            best_node *t = &w->best[s + len];
            if (t->start < 0 || cand > t->score) *t = (best_node){id, (int32_t)s, cand};
            if (len == mblen) has_single = 1;
        }
        if (!has_single && u->unk_id >= 0) {
            double cand = sp ? (double)((float)unk_score + (float)here) : unk_score + here;
            best_node *t = &w->best[s + mblen];
            if (t->start < 0 || cand > t->score) *t = (best_node){u->unk_id, (int32_t)s, cand};
        }
        s += mblen;
    }
    /* backtrack, then reverse */
    w->n_spans = 0;
    for (size_t e = n; e > 0;) {
        const best_node *b = &w->best[e];
        if (b->start < 0) return -2; /* no unk token and an unknown character */
        if (grow((void **)&w->spans, &w->cap_spans, w->n_spans + 1, sizeof *w->spans)) return -1;
        int fuse = b->id == u->unk_id && w->n_spans > 0 && w->spans[w->n_spans - 1].id == u->unk_id;
        if (fuse)
            w->spans[w->n_spans - 1].start = (size_t)b->start;
        else
            w->spans[w->n_spans++] = (piece_span){(size_t)b->start, e, b->id};
        e = (size_t)b->start;
    }
    for (size_t i = 0; i < w->n_spans / 2; i++) {
        piece_span t = w->spans[i];
        w->spans[i] = w->spans[w->n_spans - 1 - i];
        w->spans[w->n_spans - 1 - i] = t;
    }
    /* Hugging Face looks a fused unknown string up again (it is never a piece: a piece would have matched) */
    return 0;
}

/* Runs Viterbi over t[from..to) and appends the tokens with their original offsets. */
static int encode_chars(const slm_tokenizer *tok, viterbi_work *w, const utext *t, size_t from, size_t to,
                        slm_token_vec *out) {
    if (to <= from) return 0;
    size_t cap = (to - from) * 4 + 1;
    if (grow((void **)&w->bytes, &w->cap_bytes, cap, 1)) return -1;
    size_t cap_best = 0, cap_char = 0;
    w->char_of = realloc(w->char_of, cap * sizeof *w->char_of);
    w->best = realloc(w->best, cap * sizeof *w->best);
    (void)cap_best;
    (void)cap_char;
    if (!w->char_of || !w->best) return -1;
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        size_t k = slm_utf8_encode(t->cp[i], w->bytes + n);
        for (size_t j = 0; j < k; j++) w->char_of[n + j] = i;
        n += k;
    }
    int r = viterbi(tok, w, n);
    if (r) return r;
    for (size_t s = 0; s < w->n_spans; s++) {
        const piece_span *p = &w->spans[s];
        size_t first = w->char_of[p->start], last = w->char_of[p->end - 1];
        int32_t start = t->start[first], end = t->end[last];
        for (size_t c = first; c <= last; c++) {
            if (t->start[c] < start) start = t->start[c];
            if (t->end[c] > end) end = t->end[c];
        }
        if (slm_token_vec_push(out, p->id, start, end)) return -1;
    }
    return 0;
}

/* ---- the pipelines ---- */

/* HF: WhitespaceSplit and/or Metaspace on a normalized segment, then Viterbi per piece. */
static int hf_pretokenize_encode(const slm_tokenizer *tok, viterbi_work *w, const utext *t, utext *word,
                                 slm_token_vec *out) {
    const slm_unigram *u = tok->unigram;
    for (size_t i = 0; i < t->n;) {
        size_t j = i;
        if (u->whitespace_split) {
            while (i < t->n && slm_is_unicode_space(t->cp[i])) i++;
            j = i;
            while (j < t->n && !slm_is_unicode_space(t->cp[j])) j++;
        } else {
            j = t->n;
        }
        if (j <= i) break;
        word->n = 0;
        if (u->metaspace) {
            int first_is_space = t->cp[i] == ' ' || t->cp[i] == SPACE_SYMBOL;
            int prepend = !first_is_space && (u->prepend == SLM_PREPEND_ALWAYS ||
                                              (u->prepend == SLM_PREPEND_FIRST && t->start[i] == 0));
            if (prepend && ut_push(word, SPACE_SYMBOL, t->start[i], t->end[i])) return -1;
        }
        for (size_t k = i; k < j; k++)
            if (ut_push(word, u->metaspace && t->cp[k] == ' ' ? SPACE_SYMBOL : t->cp[k], t->start[k], t->end[k])) return -1;
        /* split before every ▁ (MergedWithNext) */
        size_t piece = 0;
        for (size_t k = 1; k <= word->n; k++) {
            if (k < word->n && !(u->metaspace && u->metaspace_split && word->cp[k] == SPACE_SYMBOL)) continue;
            int r = encode_chars(tok, w, word, piece, k, out);
            if (r) return r;
            piece = k;
        }
        i = j;
    }
    return 0;
}

/* The raw-text token starting at byte i, its index in u->added, or -1 (longest match). */
static int match_raw(const slm_unigram *u, const char *text, size_t len, size_t i, int only_special_or_all) {
    int best = -1;
    uint32_t best_len = 0;
    (void)only_special_or_all;
    for (int k = 0; k < u->n_added; k++) {
        const slm_unigram_added *a = &u->added[k];
        if (a->len > best_len && a->len <= len - i && memcmp(text + i, a->content, a->len) == 0) {
            best = k;
            best_len = a->len;
        }
    }
    return best;
}

/* AlbertTokenizer._tokenize's rule: a piece "<digits>," is encoded again without its comma and ▁. */
static int albert_digit_comma(const slm_tokenizer *tok, viterbi_work *w, utext *t, utext *tmp, size_t first_token,
                              slm_token_vec *out);

static int sp_encode_segment(const slm_tokenizer *tok, viterbi_work *w, utext *t, utext *tmp, slm_token_vec *out) {
    const slm_unigram *u = tok->unigram;
    if (u->mode == SLM_UNIGRAM_ALBERT && albert_preprocess(u, t, tmp)) return -1;
    tmp->n = 0;
    if (sp_normalize(tok, t, tmp)) return -1;
    ut_swap(t, tmp);
    size_t first = out->n;
    int r = encode_chars(tok, w, t, 0, t->n, out);
    if (r) return r;
    if (u->mode == SLM_UNIGRAM_ALBERT) return albert_digit_comma(tok, w, t, tmp, first, out);
    return 0;
}

static int is_digit(int32_t c) { return utf8proc_category(c) == UTF8PROC_CATEGORY_ND; }

static int albert_digit_comma(const slm_tokenizer *tok, viterbi_work *w, utext *t, utext *tmp, size_t first_token,
                              slm_token_vec *out) {
    const slm_unigram *u = tok->unigram;
    slm_token_vec fixed = {0};
    int failed = 0;
    /* character positions of each token in t, walked in order */
    size_t pos = 0;
    for (size_t k = first_token; k < out->n && !failed; k++) {
        int32_t id = out->ids[k];
        const slm_token_entry *e = &tok->tokens[id];
        int32_t cps[256];
        size_t nc = 0;
        /* the token's characters in t: as many as its normalized text (an unk: up to the next token) */
        size_t start_pos = pos, count;
        if (id == u->unk_id) {
            count = 0;
            while (start_pos + count < t->n && (t->start[start_pos + count] < out->offsets[2 * k + 1])) count++;
            if (count == 0) count = 1;
        } else {
            nc = decode_cps(e->text, e->text_len, cps, 256);
            count = nc;
        }
        pos += count;
        int digit_comma = id != u->unk_id && nc > 1 && cps[nc - 1] == ',' && is_digit(cps[nc - 2]);
        if (!digit_comma) {
            failed = slm_token_vec_push(&fixed, id, out->offsets[2 * k], out->offsets[2 * k + 1]);
            continue;
        }
        /* SentencePiece again on the piece without its comma and without ▁ */
        utext sub = {0}, sub_tmp = {0};
        for (size_t c = start_pos; c < start_pos + nc - 1 && c < t->n && !failed; c++)
            if (t->cp[c] != SPACE_SYMBOL) failed = ut_push(&sub, t->cp[c], t->start[c], t->end[c]);
        size_t before = fixed.n;
        if (!failed) failed = sp_normalize(tok, &sub, &sub_tmp);
        if (!failed) {
            int r = encode_chars(tok, w, &sub_tmp, 0, sub_tmp.n, &fixed);
            failed = r != 0;
        }
        if (!failed && cps[0] != SPACE_SYMBOL && fixed.n > before) {
            const slm_token_entry *f = &tok->tokens[fixed.ids[before]];
            if (f->text_len >= 3 && memcmp(f->text, "\xE2\x96\x81", 3) == 0) {
                if (f->text_len == 3) {
                    memmove(fixed.ids + before, fixed.ids + before + 1, (fixed.n - before - 1) * sizeof *fixed.ids);
                    memmove(fixed.offsets + 2 * before, fixed.offsets + 2 * before + 2,
                            (fixed.n - before - 1) * 2 * sizeof *fixed.offsets);
                    fixed.n--;
                } else {
                    int32_t id2 = slm_str_map_get(&tok->lookup, f->text + 3, f->text_len - 3);
                    fixed.ids[before] = id2 >= 0 ? id2 : u->unk_id;
                }
            }
        }
        if (!failed) {
            size_t comma = start_pos + nc - 1 < t->n ? start_pos + nc - 1 : t->n - 1;
            int32_t comma_id = slm_str_map_get(&tok->lookup, ",", 1);
            failed = slm_token_vec_push(&fixed, comma_id >= 0 ? comma_id : u->unk_id, t->start[comma], t->end[comma]);
        }
        ut_free(&sub);
        ut_free(&sub_tmp);
    }
    (void)tmp;
    if (!failed) {
        out->n = first_token;
        for (size_t k = 0; k < fixed.n && !failed; k++)
            failed = slm_token_vec_push(out, fixed.ids[k], fixed.offsets[2 * k], fixed.offsets[2 * k + 1]);
    }
    slm_token_vec_free(&fixed);
    return failed ? -1 : 0;
}

slm_status slm_unigram_encode(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                              slm_error *err) {
    const slm_unigram *u = tok->unigram;
    utext t = {0}, tmp = {0}, word = {0};
    viterbi_work w = {0};
    int failed = 0;
    int32_t char_index = 0;
    /* SentencePiece alone keeps user-defined pieces inside its normalizer and Viterbi */
    int cut_raw = u->mode != SLM_UNIGRAM_SP;
    for (size_t i = 0; i < len && !failed;) {
        int k = cut_raw ? match_raw(u, text, len, i, 0) : -1;
        if (k >= 0) {
            const slm_unigram_added *a = &u->added[k];
            int32_t n_chars = 0;
            for (size_t b = 0; b < a->len; b++) n_chars += ((unsigned char)text[i + b] & 0xC0) != 0x80;
            failed = slm_token_vec_push(out, a->id, char_index, char_index + n_chars);
            char_index += n_chars;
            i += a->len;
            continue;
        }
        t.n = 0;
        while (i < len && !failed) {
            if (cut_raw && match_raw(u, text, len, i, 0) >= 0) break;
            size_t n;
            int32_t c = slm_utf8_decode((const unsigned char *)text + i, len - i, &n);
            failed = ut_push(&t, c < 0 ? 0xFFFD : c, char_index, char_index + 1);
            char_index++;
            i += n;
        }
        if (failed || t.n == 0) continue;
        if (u->mode == SLM_UNIGRAM_HF) {
            failed = hf_normalize(u, &t, &tmp);
            if (!failed) failed = hf_pretokenize_encode(tok, &w, &t, &word, out);
        } else {
            failed = sp_encode_segment(tok, &w, &t, &tmp, out);
        }
    }
    ut_free(&t);
    ut_free(&tmp);
    ut_free(&word);
    work_free(&w);
    if (failed == -2)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_encode: the text has a character no piece covers and the "
                        "Unigram model has no unk token");
    if (failed) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
    /* byte fallback: an unknown token becomes the <0xXX> pieces of its bytes (Hugging Face) */
    return SLM_OK;
}

/* ---- decoding ---- */

static int append(char **buf, size_t *n, size_t *cap, const char *s, size_t len) {
    if (grow((void **)buf, cap, *n + len + 1, 1)) return -1;
    memcpy(*buf + *n, s, len);
    *n += len;
    (*buf)[*n] = '\0';
    return 0;
}

/* Appends text with ▁ -> ' ' (drop_spaces: ▁ dropped instead). */
static int append_unescaped(char **buf, size_t *n, size_t *cap, const char *s, size_t len, int drop_spaces) {
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            if (!drop_spaces && append(buf, n, cap, " ", 1)) return -1;
            i += 3;
            continue;
        }
        if (append(buf, n, cap, s + i, 1)) return -1;
        i++;
    }
    return 0;
}

slm_status slm_unigram_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                              char **text, slm_error *err) {
    const slm_unigram *u = tok->unigram;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int failed = append(&buf, &n, &cap, "", 0);
    if (u->mode == SLM_UNIGRAM_SP) { /* SentencePieceProcessor::DecodeIds */
        int bos_ws = u->add_dummy_prefix;
        for (size_t i = 0; i < n_ids && !failed; i++) {
            int32_t id = ids[i];
            const slm_token_entry *e = &tok->tokens[id];
            uint8_t type = u->types[id];
            if (type == SLM_SP_CONTROL) continue;
            size_t before = n;
            if (type == SLM_SP_UNKNOWN) {
                failed = append(&buf, &n, &cap, " \xE2\x81\x87 ", 5);
            } else if (type == SLM_SP_BYTE) {
                failed = append(&buf, &n, &cap, e->piece, e->piece_len);
            } else {
                const char *s = e->text;
                size_t len = e->text_len;
                if (bos_ws && len >= 3 && memcmp(s, "\xE2\x96\x81", 3) == 0) {
                    s += 3;
                    len -= 3;
                }
                failed = type == SLM_SP_USER_DEFINED ? append(&buf, &n, &cap, s, len)
                                                     : append_unescaped(&buf, &n, &cap, s, len, 0);
            }
            if (n > before) bos_ws = 0;
        }
    } else { /* the Metaspace decoder on the kept tokens */
        size_t kept = 0;
        for (size_t i = 0; i < n_ids && !failed; i++) {
            const slm_token_entry *e = &tok->tokens[ids[i]];
            if (skip_special && (e->flags & SLM_TOKEN_SPECIAL)) continue;
            if (u->decoder_metaspace)
                failed = append_unescaped(&buf, &n, &cap, e->text, e->text_len, kept == 0 && u->prepend != SLM_PREPEND_NEVER);
            else
                failed = append(&buf, &n, &cap, e->text, e->text_len);
            kept++;
        }
    }
    if (failed) {
        free(buf);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_detokenize: out of memory");
    }
    *text = buf;
    return SLM_OK;
}

int32_t slm_unigram_special(const slm_tokenizer *tok, const char *role) {
    const slm_unigram *u = tok->unigram;
    if (strcmp(role, "unk") == 0) return u->unk_id;
    if (strcmp(role, "pad") == 0) return u->pad_id;
    if (strcmp(role, "cls") == 0) return u->cls_id;
    if (strcmp(role, "sep") == 0) return u->sep_id;
    if (strcmp(role, "mask") == 0) return u->mask_id;
    return -1;
}

/* ---- construction ---- */

slm_unigram *slm_unigram_alloc(slm_unigram_mode mode) {
    slm_unigram *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->mode = mode;
    u->unk_id = u->pad_id = u->cls_id = u->sep_id = u->mask_id = -1;
    u->add_dummy_prefix = u->remove_extra_whitespaces = u->escape_whitespaces = 1;
    u->do_lower_case = u->remove_space = 1;
    u->metaspace_split = 1;
    return u;
}

void slm_unigram_free(slm_unigram *u) {
    if (!u) return;
    free(u->scores);
    free(u->types);
    for (int i = 0; i < u->n_steps; i++) {
        free(u->steps[i].pattern);
        free(u->steps[i].content);
    }
    free(u->steps);
    free(u->charsmap);
    free(u->trie_units);
    free(u->added);
    slm_str_map_free(&u->matchable);
    free(u);
}

slm_status slm_unigram_add_raw_token(slm_tokenizer *tok, const char *where, int32_t id, int special, slm_error *err) {
    slm_unigram *u = tok->unigram;
    if (id < 0 || id >= tok->n_tokens || !tok->tokens[id].text || tok->tokens[id].text_len == 0) return SLM_OK;
    slm_unigram_added *a = realloc(u->added, (size_t)(u->n_added + 1) * sizeof *a);
    if (!a) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    u->added = a;
    a[u->n_added++] = (slm_unigram_added){id, tok->tokens[id].text, tok->tokens[id].text_len, special};
    if (special) tok->tokens[id].flags |= SLM_TOKEN_SPECIAL;
    tok->tokens[id].flags |= SLM_TOKEN_ADDED;
    return SLM_OK;
}

slm_status slm_unigram_finish(slm_tokenizer *tok, const char *where, slm_error *err) {
    slm_unigram *u = tok->unigram;
    int sp = u->mode != SLM_UNIGRAM_HF;
    if (slm_str_map_init(&tok->lookup, (size_t)tok->n_tokens) || slm_str_map_init(&u->matchable, (size_t)tok->n_tokens))
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    if (u->unk_id >= tok->n_tokens)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: unk_id %d is outside the vocabulary of %d pieces", where,
                        (int)u->unk_id, (int)tok->n_tokens);
    u->min_score = sp ? FLT_MAX : 1e300;
    u->max_score = sp ? FLT_MIN : -1e300;
    u->max_piece_len = 0;
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        slm_token_entry *e = &tok->tokens[id];
        if (!e->text) continue;
        if (slm_str_map_put(&tok->lookup, e->text, e->text_len, id))
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        uint8_t type = u->types[id];
        /* SentencePiece's trie holds normal, user-defined and unused pieces; min/max over normal ones.
         * Hugging Face's holds every piece; min over every score. */
        int matchable = !sp || type == SLM_SP_NORMAL || type == SLM_SP_USER_DEFINED || type == SLM_SP_UNUSED;
        if (matchable && e->text_len > 0) {
            if (slm_str_map_put(&u->matchable, e->text, e->text_len, id))
                return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
            if (e->text_len > u->max_piece_len) u->max_piece_len = e->text_len;
        }
        if (!sp || type == SLM_SP_NORMAL) {
            if (u->scores[id] < u->min_score) u->min_score = u->scores[id];
            if (u->scores[id] > u->max_score) u->max_score = u->scores[id];
        }
        if (type == SLM_SP_UNKNOWN) e->flags |= SLM_TOKEN_UNK;
        if (type == SLM_SP_CONTROL) e->flags |= SLM_TOKEN_SPECIAL;
        /* the piece streaming decoders emit: ▁ -> ' ' */
        if (memmem(e->text, e->text_len, "\xE2\x96\x81", 3)) {
            char *p = malloc(e->text_len + 1);
            if (!p) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
            size_t n = 0;
            for (size_t i = 0; i < e->text_len;) {
                if (i + 3 <= e->text_len && memcmp(e->text + i, "\xE2\x96\x81", 3) == 0) {
                    p[n++] = ' ';
                    i += 3;
                } else {
                    p[n++] = e->text[i++];
                }
            }
            p[n] = '\0';
            if (e->piece != e->text) free(e->piece);
            e->piece = p;
            e->piece_len = (uint32_t)n;
        }
    }
    if (u->unk_id >= 0) tok->tokens[u->unk_id].flags |= SLM_TOKEN_UNK;
    if (!sp && tok->n_tokens > 0 && u->min_score > 1e299) u->min_score = 0;
    return SLM_OK;
}
