/* encode.c — slm_encode for every tokenizer kind: the model's tokens with their offsets, then
 * truncation and the post-processor's template, as Hugging Face's fast tokenizers do:
 *   1. each text is encoded without special tokens (WordPiece gives offsets itself; for BPE and
 *      llama2.c each token's decoded bytes are matched against the text to find its span);
 *   2. truncation to max_length counts the special tokens the template will add; a single text
 *      keeps its first tokens; a pair is cut "longest_first" as Hugging Face's LongestFirst
 *      computes it (see the comment in slm_encode);
 *   3. the template ([CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1) places the sequences and gives
 *      token_type_ids; special tokens get offsets (0, 0) and sequence id -1.
 * BPE and llama2.c tokenizers have no pair template in slm: a pair is the single template around A
 * (type 0) followed by the single template around B (type 1). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"
#include "tokenizers/unigram.h"

slm_encode_params slm_encode_default_params(void) {
    slm_encode_params p;
    memset(&p, 0, sizeof p);
    p.add_special = 1;
    p.max_length = 0;
    return p;
}

void slm_encoding_free(slm_encoding *enc) {
    if (!enc) return;
    free(enc->ids);
    free(enc->type_ids);
    free(enc->offsets);
    free(enc->sequence_ids);
    free(enc);
}

int32_t slm_tokenizer_special(const slm_tokenizer *tok, const char *role) {
    if (!tok || !role) return -1;
    if (tok->kind == SLM_TOKENIZER_UNIGRAM) return slm_unigram_special(tok, role);
    if (tok->kind == SLM_TOKENIZER_XLM_BPE) return slm_xlm_bpe_special(tok, role);
    if (strcmp(role, "unk") == 0) {
        if (tok->kind == SLM_TOKENIZER_WORDPIECE) return tok->wordpiece.unk_id;
        if (tok->kind == SLM_TOKENIZER_BPE) return tok->bpe.unk_id;
        return tok->n_tokens > 0 && tok->kind == SLM_TOKENIZER_LLAMA2C ? 0 : -1; /* llama2.c: <unk> is 0 */
    }
    static const char *const roles[][2] = {{"cls", "[CLS]"}, {"sep", "[SEP]"}, {"pad", "[PAD]"}, {"mask", "[MASK]"}};
    for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
        if (strcmp(role, roles[r][0]) != 0) continue;
        if (tok->kind == SLM_TOKENIZER_WORDPIECE) {
            /* the template names cls and sep; pad and mask are special tokens by their text */
            if (r == 0 && tok->single.n > 0 && tok->single.items[0].id >= 0) return tok->single.items[0].id;
            if (r == 1 && tok->single.n > 0 && tok->single.items[tok->single.n - 1].id >= 0)
                return tok->single.items[tok->single.n - 1].id;
        }
        int32_t id = slm_str_map_get(&tok->lookup, roles[r][1], strlen(roles[r][1]));
        if (id >= 0 && (tok->tokens[id].flags & SLM_TOKEN_SPECIAL)) return id;
        for (int k = 0; k < tok->bpe.n_added; k++) {
            const slm_added_token *a = &tok->bpe.added[k];
            if (a->len == strlen(roles[r][1]) && memcmp(a->content, roles[r][1], a->len) == 0) return a->id;
        }
        return -1;
    }
    return -1;
}

int slm_tokenizer_model_max_length(const slm_tokenizer *tok) { return tok ? tok->model_max_length : 0; }

/* ---- offsets for the byte-oriented models ---- */

/* Encodes with the BPE or llama2.c model and finds each token's span by matching its decoded bytes
 * against the text (a piece's leading space that the text lacks, SentencePiece's dummy prefix or a
 * prefix space, is skipped; a piece that does not match gets an empty span where it stands). */
static slm_status encode_bytes_model(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                                     slm_error *err) {
    slm_id_vec ids = {0};
    slm_status st = tok->kind == SLM_TOKENIZER_LLAMA2C ? slm_llama2c_encode(tok, text, len, 0, &ids, err)
                                                       : slm_bpe_encode(tok, text, len, 0, &ids, err);
    size_t pos = 0, counted = 0; /* bytes matched so far; bytes whose lead bytes are in n_chars */
    int32_t n_chars = 0;         /* UTF-8 lead bytes in text[0..counted): a partial character counts */
    for (size_t i = 0; st == SLM_OK && i < ids.len; i++) {
        const slm_token_entry *e = &tok->tokens[ids.data[i]];
        const char *piece = e->piece;
        size_t n = e->piece_len;
        if (n > 0 && piece[0] == ' ' && (pos >= len || text[pos] != ' ')) {
            piece++;
            n--;
        }
        int mid_char = pos < len && ((unsigned char)text[pos] & 0xC0) == 0x80;
        int32_t start = n_chars - mid_char; /* a token starting inside a character gets all of it */
        if (n <= len - pos && memcmp(text + pos, piece, n) == 0) pos += n;
        for (; counted < pos; counted++) n_chars += ((unsigned char)text[counted] & 0xC0) != 0x80;
        int32_t end = pos > (size_t)0 && n_chars > start ? n_chars : start;
        if (slm_token_vec_push(out, ids.data[i], start, end < start ? start : end))
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
    }
    free(ids.data);
    return st;
}

static slm_status encode_sequence(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                                  slm_error *err) {
    if (tok->kind == SLM_TOKENIZER_WORDPIECE) return slm_wordpiece_encode(tok, text, len, out, err);
    if (tok->kind == SLM_TOKENIZER_UNIGRAM) return slm_unigram_encode(tok, text, len, out, err);
    if (tok->kind == SLM_TOKENIZER_XLM_BPE) return slm_xlm_bpe_encode(tok, text, len, out, err);
    return encode_bytes_model(tok, text, len, out, err);
}

/* ---- templates ---- */

/* The template for one text or a pair; for BPE and llama2.c built from the single prefix/suffix. */
static int build_template(const slm_tokenizer *tok, int pair, slm_template *t) {
    const slm_template *own = pair ? &tok->pair : &tok->single;
    t->items = NULL;
    t->n = 0;
    size_t cap = (size_t)own->n + 2 * ((size_t)tok->bpe.n_prefix + (size_t)tok->bpe.n_suffix + 1) + 1;
    t->items = malloc(cap * sizeof *t->items);
    if (!t->items) return -1;
    int own_templates = tok->kind == SLM_TOKENIZER_WORDPIECE || tok->kind == SLM_TOKENIZER_UNIGRAM ||
                        tok->kind == SLM_TOKENIZER_XLM_BPE;
    if (own_templates && own->n > 0) {
        memcpy(t->items, own->items, (size_t)own->n * sizeof *t->items);
        t->n = own->n;
        return 0;
    }
    if (own_templates) { /* no post-processor: the sequences alone */
        t->items[t->n++] = (slm_template_item){SLM_TEMPLATE_A, 0};
        if (pair) t->items[t->n++] = (slm_template_item){SLM_TEMPLATE_B, 1};
        return 0;
    }
    for (int s = 0; s <= pair; s++) {
        if (tok->kind == SLM_TOKENIZER_LLAMA2C) {
            if (tok->bos >= 0) t->items[t->n++] = (slm_template_item){tok->bos, s};
        } else {
            for (int i = 0; i < tok->bpe.n_prefix; i++) t->items[t->n++] = (slm_template_item){tok->bpe.prefix_ids[i], s};
        }
        t->items[t->n++] = (slm_template_item){s ? SLM_TEMPLATE_B : SLM_TEMPLATE_A, s};
        if (tok->kind == SLM_TOKENIZER_BPE)
            for (int i = 0; i < tok->bpe.n_suffix; i++) t->items[t->n++] = (slm_template_item){tok->bpe.suffix_ids[i], s};
    }
    return 0;
}

static slm_status validate_utf8(const char *what, const char *text, size_t len, slm_error *err) {
    for (size_t i = 0; i < len;) {
        size_t n;
        if (slm_utf8_decode((const unsigned char *)text + i, len - i, &n) < 0)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_encode: %s is not valid UTF-8 at byte offset %zu (byte 0x%02X)",
                            what, i, (unsigned)(unsigned char)text[i]);
        i += n;
    }
    return SLM_OK;
}

slm_status slm_encode(const slm_tokenizer *tok, const char *text, size_t len, const char *pair, size_t pair_len,
                      const slm_encode_params *params, slm_encoding **out, slm_error *err) {
    slm_error_clear(err);
    if (out) *out = NULL;
    if (!tok || !out || (!text && len > 0) || (!pair && pair_len > 0))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_encode: NULL argument");
    slm_encode_params p = params ? *params : slm_encode_default_params();
    if (p.max_length < 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_encode: max_length %d is negative", p.max_length);
    slm_status st = validate_utf8("text", text, len, err);
    if (st == SLM_OK && pair) st = validate_utf8("pair", pair, pair_len, err);
    if (st != SLM_OK) return st;

    slm_token_vec seq[2] = {{0}, {0}};
    slm_template tpl = {0};
    slm_encoding *enc = NULL;
    st = encode_sequence(tok, text ? text : "", len, &seq[0], err);
    if (st == SLM_OK && pair) st = encode_sequence(tok, pair, pair_len, &seq[1], err);
    if (st == SLM_OK && build_template(tok, pair != NULL, &tpl))
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
    size_t n_special = 0;
    if (st == SLM_OK && p.add_special)
        for (int i = 0; i < tpl.n; i++) n_special += tpl.items[i].id >= 0;

    /* truncation: keep[s] tokens of each sequence */
    size_t keep[2] = {seq[0].n, seq[1].n}, overflow = 0;
    if (st == SLM_OK && p.max_length > 0) {
        if ((size_t)p.max_length < n_special)
            st = slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                          "slm_encode: max_length %d is smaller than the %zu special tokens the template adds",
                          p.max_length, n_special);
        size_t room = st == SLM_OK ? (size_t)p.max_length - n_special : 0;
        if (st == SLM_OK && !pair && keep[0] > room) keep[0] = room;
        if (st == SLM_OK && pair && keep[0] + keep[1] > room) {
            /* Hugging Face's LongestFirst: with n1 the shorter and n2 the longer length, the longer
             * takes what the shorter leaves; when both must give, the shorter keeps room / 2 and
             * the longer room / 2 + room % 2 (equal lengths: the second counts as the longer). */
            int swap = keep[0] > keep[1];
            size_t n1 = swap ? keep[1] : keep[0], n2;
            n2 = n1 > room ? n1 : (n1 > room - n1 ? n1 : room - n1);
            if (n1 + n2 > room) {
                n1 = room / 2;
                n2 = n1 + room % 2;
            }
            size_t limit0 = swap ? n2 : n1, limit1 = swap ? n1 : n2;
            if (keep[0] > limit0) keep[0] = limit0;
            if (keep[1] > limit1) keep[1] = limit1;
        }
        overflow = seq[0].n + seq[1].n - keep[0] - keep[1];
    }

    if (st == SLM_OK) {
        size_t n = keep[0] + keep[1] + n_special;
        enc = calloc(1, sizeof *enc);
        if (enc) {
            enc->ids = malloc((n ? n : 1) * sizeof *enc->ids);
            enc->type_ids = malloc((n ? n : 1) * sizeof *enc->type_ids);
            enc->offsets = malloc((n ? n : 1) * 2 * sizeof *enc->offsets);
            enc->sequence_ids = malloc((n ? n : 1) * sizeof *enc->sequence_ids);
        }
        if (!enc || !enc->ids || !enc->type_ids || !enc->offsets || !enc->sequence_ids) {
            slm_encoding_free(enc);
            enc = NULL;
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
        }
    }
    if (st == SLM_OK) {
        size_t k = 0;
        for (int i = 0; i < tpl.n; i++) {
            const slm_template_item *it = &tpl.items[i];
            if (it->id >= 0) {
                if (!p.add_special) continue;
                enc->ids[k] = it->id;
                enc->type_ids[k] = it->type_id;
                enc->offsets[2 * k] = enc->offsets[2 * k + 1] = 0;
                enc->sequence_ids[k] = -1;
                k++;
                continue;
            }
            int s = it->id == SLM_TEMPLATE_A ? 0 : 1;
            if (s == 1 && !pair) continue;
            for (size_t j = 0; j < keep[s]; j++, k++) {
                enc->ids[k] = seq[s].ids[j];
                enc->type_ids[k] = it->type_id;
                enc->offsets[2 * k] = seq[s].offsets[2 * j];
                enc->offsets[2 * k + 1] = seq[s].offsets[2 * j + 1];
                enc->sequence_ids[k] = s;
            }
        }
        enc->n = k;
        enc->n_overflow_tokens = overflow;
        *out = enc;
    }
    slm_token_vec_free(&seq[0]);
    slm_token_vec_free(&seq[1]);
    free(tpl.items);
    return st;
}
