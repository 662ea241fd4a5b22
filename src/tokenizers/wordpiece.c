/* wordpiece.c — BERT's WordPiece, as Hugging Face's tokenizers runs it:
 *   1. added tokens ([CLS], [MASK], ...) are cut out of the raw text first (leftmost-longest match);
 *   2. BertNormalizer on each remaining segment: clean_text (drop NUL, U+FFFD and control/format/
 *      private-use/unassigned characters; whitespace -> ' '), handle_chinese_chars (spaces around CJK
 *      ideographs), strip_accents (NFD, drop Mn marks), lowercase (full Unicode lowercase);
 *   3. BertPreTokenizer: split on whitespace, isolate every punctuation character;
 *   4. WordPiece: greedy longest-match-first, continuation pieces carry "##"; a word with a piece
 *      missing from the vocabulary, or longer than max_input_chars_per_word, is one [UNK].
 * Every normalized character remembers the original character it came from, so each token gets
 * offsets in code points of the original text: [first char's origin, last char's origin + 1).
 * Decoding is the WordPiece decoder (join with spaces, glue "##" pieces, per-token cleanup), then
 * transformers' clean_up_tokenization when the tokenizer config asks for it. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizers/tokenizer_impl.h"

int slm_token_vec_push(slm_token_vec *v, int32_t id, int32_t start, int32_t end) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *ids = realloc(v->ids, cap * sizeof *ids);
        if (!ids) return -1;
        v->ids = ids;
        int32_t *offsets = realloc(v->offsets, cap * 2 * sizeof *offsets);
        if (!offsets) return -1;
        v->offsets = offsets;
        v->cap = cap;
    }
    v->ids[v->n] = id;
    v->offsets[2 * v->n] = start;
    v->offsets[2 * v->n + 1] = end;
    v->n++;
    return 0;
}

void slm_token_vec_free(slm_token_vec *v) {
    free(v->ids);
    free(v->offsets);
    memset(v, 0, sizeof *v);
}

/* ---- character classes, as BERT defines them ---- */

/* \t \n \r count as whitespace; otherwise the Unicode White_Space property. */
static int is_bert_whitespace(int32_t c) { return slm_is_unicode_space(c); }

/* Control: categories Cc, Cf, Co, Cn, Cs, except \t \n \r (which are whitespace). */
static int is_bert_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
           cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CS;
}

/* The CJK Unified Ideographs blocks BERT pads with spaces (not Hiragana, Katakana or Hangul). */
static int is_chinese_char(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* ASCII symbols (all of !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) and the Unicode P* categories. */
static int is_bert_punctuation(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* ---- normalization with alignment ---- */

/* The normalized text of one segment: code points and, for each, the index (in code points of the
 * whole original text) of the character it came from. */
typedef struct {
    int32_t *cp;     /* (n) */
    int32_t *origin; /* (n) */
    size_t n, cap;
} aligned_text;

static int aligned_push(aligned_text *t, int32_t cp, int32_t origin) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        int32_t *c = realloc(t->cp, cap * sizeof *c);
        if (!c) return -1;
        t->cp = c;
        int32_t *o = realloc(t->origin, cap * sizeof *o);
        if (!o) return -1;
        t->origin = o;
        t->cap = cap;
    }
    t->cp[t->n] = cp;
    t->origin[t->n] = origin;
    t->n++;
    return 0;
}

/* Lowercases c as Rust's char::to_lowercase (full mapping): U+0130 is the one character whose
 * unconditional lowercase is two code points ("i" + combining dot above). */
static int push_lower(aligned_text *t, int32_t c, int32_t origin, int lowercase) {
    if (!lowercase) return aligned_push(t, c, origin);
    if (c == 0x130) return aligned_push(t, 'i', origin) || aligned_push(t, 0x307, origin);
    return aligned_push(t, utf8proc_tolower(c), origin);
}

/* llama.cpp's WPM preprocessing of one character (GGUF vocabularies, gguf_vocab.c), which departs from
 * BertNormalizer: its NFD keeps only the first code point of a decomposition (Hangul syllables keep their
 * first jamo), whitespace is tested before control characters (U+0085 splits words), and stripping
 * accents drops every mark (Mn, Mc, Me), not only Mn. */
static int normalize_char_llamacpp(const slm_wordpiece *wp, aligned_text *t, int32_t c, int32_t origin) {
    if (wp->strip_accents) {
        utf8proc_int32_t parts[32];
        int last_boundclass = 0;
        if (utf8proc_decompose_char(c, parts, 32, UTF8PROC_DECOMPOSE, &last_boundclass) >= 1) c = parts[0];
    }
    if (is_bert_whitespace(c)) return aligned_push(t, ' ', origin);
    utf8proc_category_t cat = utf8proc_category(c);
    if (c == 0 || c == 0xFFFD || is_bert_control(c)) return 0;
    if (wp->strip_accents && (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME))
        return 0;
    int32_t lower = wp->lowercase ? utf8proc_tolower(c) : c; /* a simple one-code-point lowercase */
    if (is_chinese_char(c)) return aligned_push(t, ' ', origin) || aligned_push(t, lower, origin) || aligned_push(t, ' ', origin);
    return aligned_push(t, lower, origin);
}

/* BertNormalizer on one original character (every step works character by character). */
static int normalize_char(const slm_wordpiece *wp, aligned_text *t, int32_t c, int32_t origin) {
    if (wp->llamacpp_normalizer) return normalize_char_llamacpp(wp, t, c, origin);
    if (wp->clean_text) {
        if (c == 0 || c == 0xFFFD || is_bert_control(c)) return 0;
        if (is_bert_whitespace(c)) c = ' ';
    }
    if (wp->handle_chinese_chars && is_chinese_char(c))
        return aligned_push(t, ' ', origin) || push_lower(t, c, origin, wp->lowercase) || aligned_push(t, ' ', origin);
    if (wp->strip_accents) {
        utf8proc_int32_t parts[32];
        int last_boundclass = 0;
        utf8proc_ssize_t n = utf8proc_decompose_char(c, parts, 32, UTF8PROC_DECOMPOSE, &last_boundclass);
        if (n <= 0 || n > 32) return push_lower(t, c, origin, wp->lowercase);
        for (utf8proc_ssize_t k = 0; k < n; k++) {
            if (utf8proc_category(parts[k]) == UTF8PROC_CATEGORY_MN) continue;
            if (push_lower(t, parts[k], origin, wp->lowercase)) return -1;
        }
        return 0;
    }
    return push_lower(t, c, origin, wp->lowercase);
}

/* ---- the WordPiece model on one word ---- */

typedef struct {
    const slm_tokenizer *tok;
    slm_token_vec *out;
    char *bytes;      /* UTF-8 of the current word, then scratch for "##" + piece */
    size_t bytes_cap;
    size_t *char_pos; /* (word length + 1) byte position of each character in bytes */
    size_t char_cap;
} wordpiece_state;

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

/* Encodes the word t->cp[from..to) and appends its tokens. */
static int wordpiece_word(wordpiece_state *s, const aligned_text *t, size_t from, size_t to) {
    const slm_wordpiece *wp = &s->tok->wordpiece;
    size_t m = to - from;
    int32_t word_start = t->origin[from], word_end = t->origin[to - 1] + 1;
    if (wp->unk_id >= 0 && m > (size_t)wp->max_input_chars_per_word)
        return slm_token_vec_push(s->out, wp->unk_id, word_start, word_end);
    size_t prefix_len = strlen(wp->prefix);
    if (grow((void **)&s->char_pos, &s->char_cap, m + 1, sizeof *s->char_pos) ||
        grow((void **)&s->bytes, &s->bytes_cap, 2 * (prefix_len + 4 * m + 1), 1))
        return -1;
    char *word = s->bytes, *key = s->bytes + prefix_len + 4 * m + 1; /* the word's UTF-8; "##" + a piece */
    size_t pos = 0;
    for (size_t i = 0; i < m; i++) {
        s->char_pos[i] = pos;
        pos += slm_utf8_encode(t->cp[from + i], word + pos);
    }
    s->char_pos[m] = pos;
    memcpy(key, wp->prefix, prefix_len);
    size_t first_token = s->out->n;
    for (size_t start = 0; start < m;) {
        int32_t id = -1;
        size_t end = m;
        for (; end > start; end--) {
            size_t piece_len = s->char_pos[end] - s->char_pos[start];
            if (start == 0) {
                id = slm_str_map_get(&s->tok->lookup, word, piece_len);
            } else {
                memcpy(key + prefix_len, word + s->char_pos[start], piece_len);
                id = slm_str_map_get(&s->tok->lookup, key, prefix_len + piece_len);
            }
            if (id >= 0) break;
        }
        if (id < 0) { /* no piece fits: the whole word is unknown */
            s->out->n = first_token;
            if (wp->unk_id < 0) return 0; /* no unk token: the word is dropped, as HF errors out */
            return slm_token_vec_push(s->out, wp->unk_id, word_start, word_end);
        }
        if (slm_token_vec_push(s->out, id, t->origin[from + start], t->origin[from + end - 1] + 1)) return -1;
        start = end;
    }
    return 0;
}

/* BertPreTokenizer over the normalized segment, then WordPiece on each word. */
static int pretokenize_and_encode(wordpiece_state *s, const aligned_text *t) {
    size_t word = 0;
    for (size_t i = 0; i <= t->n; i++) {
        int boundary = i == t->n || is_bert_whitespace(t->cp[i]) || is_bert_punctuation(t->cp[i]);
        if (!boundary) continue;
        if (i > word && wordpiece_word(s, t, word, i)) return -1;
        if (i < t->n && is_bert_punctuation(t->cp[i]) && wordpiece_word(s, t, i, i + 1)) return -1;
        word = i + 1;
    }
    return 0;
}

/* The added token starting at byte i of text (leftmost-longest), its id, or -1. */
static int32_t match_added(const slm_tokenizer *tok, const char *text, size_t len, size_t i, size_t *match_len) {
    int32_t best = -1;
    size_t best_len = 0;
    for (int k = 0; k < tok->bpe.n_added; k++) {
        const slm_added_token *a = &tok->bpe.added[k];
        if (a->len > best_len && a->len <= len - i && memcmp(text + i, a->content, a->len) == 0) {
            best = a->id;
            best_len = a->len;
        }
    }
    *match_len = best_len;
    return best;
}

slm_status slm_wordpiece_encode(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                                slm_error *err) {
    aligned_text norm = {0};
    wordpiece_state s = {tok, out, NULL, 0, NULL, 0};
    int failed = 0;
    int32_t char_index = 0;
    for (size_t i = 0; i < len && !failed;) {
        size_t added_len;
        int32_t added = match_added(tok, text, len, i, &added_len);
        if (added >= 0) {
            int32_t n_chars = 0;
            for (size_t k = 0; k < added_len; k++) n_chars += ((unsigned char)text[i + k] & 0xC0) != 0x80;
            failed = slm_token_vec_push(out, added, char_index, char_index + n_chars);
            char_index += n_chars;
            i += added_len;
            continue;
        }
        /* a segment: everything up to the next added token */
        norm.n = 0;
        while (i < len && !failed) {
            if (tok->bpe.n_added && match_added(tok, text, len, i, &added_len) >= 0) break;
            size_t k;
            int32_t c = slm_utf8_decode((const unsigned char *)text + i, len - i, &k);
            if (c < 0) c = 0xFFFD; /* the caller validated the text; never reached */
            failed = normalize_char(&tok->wordpiece, &norm, c, char_index);
            char_index++;
            i += k;
        }
        if (!failed) failed = pretokenize_and_encode(&s, &norm);
    }
    free(norm.cp);
    free(norm.origin);
    free(s.bytes);
    free(s.char_pos);
    if (failed) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
    return SLM_OK;
}

/* ---- decoding ---- */

/* Replaces every non-overlapping occurrence of from by to (to is never longer), left to right. */
static size_t replace_all(char *s, size_t n, const char *from, const char *to) {
    size_t from_len = strlen(from), to_len = strlen(to), o = 0;
    for (size_t i = 0; i < n;) {
        if (i + from_len <= n && memcmp(s + i, from, from_len) == 0) {
            memmove(s + o, to, to_len);
            o += to_len;
            i += from_len;
        } else {
            s[o++] = s[i++];
        }
    }
    return o;
}

/* The WordPiece decoder's cleanup, applied to each token with its joining space. */
static size_t decoder_cleanup(char *s, size_t n) {
    static const char *const rules[][2] = {{" .", "."},      {" ?", "?"},     {" !", "!"},   {" ,", ","},
                                           {" ' ", "'"},     {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"},
                                           {" 's", "'s"},    {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) n = replace_all(s, n, rules[r][0], rules[r][1]);
    return n;
}

/* transformers' clean_up_tokenization on the whole decoded text. */
static size_t clean_up_tokenization(char *s, size_t n) {
    static const char *const rules[][2] = {{" .", "."},   {" ?", "?"},     {" !", "!"},   {" ,", ","},  {" ' ", "'"},
                                           {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) n = replace_all(s, n, rules[r][0], rules[r][1]);
    return n;
}

slm_status slm_wordpiece_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                                char **text, slm_error *err) {
    const slm_wordpiece *wp = &tok->wordpiece;
    size_t prefix_len = strlen(wp->prefix), total = 1;
    for (size_t i = 0; i < n_ids; i++) total += tok->tokens[ids[i]].text_len + 1;
    char *out = malloc(total), *piece = malloc(total);
    if (!out || !piece) {
        free(out);
        free(piece);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_detokenize: out of memory");
    }
    size_t used = 0, emitted = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const slm_token_entry *e = &tok->tokens[ids[i]];
        if (skip_special && (e->flags & SLM_TOKEN_SPECIAL)) continue;
        size_t n = 0;
        if (emitted > 0 && prefix_len && e->text_len >= prefix_len && memcmp(e->text, wp->prefix, prefix_len) == 0) {
            memcpy(piece, e->text + prefix_len, e->text_len - prefix_len);
            n = e->text_len - prefix_len;
        } else {
            if (emitted > 0) piece[n++] = ' ';
            memcpy(piece + n, e->text, e->text_len);
            n += e->text_len;
        }
        if (wp->decoder_cleanup) n = decoder_cleanup(piece, n);
        memcpy(out + used, piece, n);
        used += n;
        emitted++;
    }
    free(piece);
    if (tok->clean_up_tokenization_spaces) used = clean_up_tokenization(out, used);
    out[used] = '\0';
    *text = out;
    return SLM_OK;
}
