/* llama2c_vocab.c — the llama2.c tokenizer.bin: a SentencePiece BPE vocabulary
 * exported as (score, bytes) pairs, with "▁" already turned into " ".
 *
 * File layout (little-endian):
 *   int32 max_token_length
 *   then, per token until the end of the file: float32 score, int32 len, len bytes
 * Token 0 is <unk>, 1 is BOS ("\n<s>\n"), 2 is EOS ("\n</s>\n"); <0xXX> tokens
 * are the byte fallback.
 *
 * Encoding follows llama2.c run.c's encode (and SentencePiece's BPE): a dummy
 * space in front of non-empty text, one symbol per UTF-8 character (its bytes'
 * <0xXX> tokens when the character is not in the vocabulary), then, over and
 * over, merge the adjacent pair whose concatenation is the vocabulary entry with
 * the highest score (the leftmost on ties). A heap keeps that O(n log n). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"

enum { MAX_TOKENS = 1 << 22, MAX_TOKEN_LENGTH = 1 << 16 };

static int32_t read_i32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t out;
    memcpy(&out, &v, sizeof out);
    return out;
}

static float read_f32(const unsigned char *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float out;
    memcpy(&out, &v, sizeof out);
    return out;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xXX>" token, or -1. */
static int byte_token_value(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_value(s[3]), lo = hex_value(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static unsigned char *read_whole_file(const char *path, size_t *size, slm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *data = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        if (used == cap) {
            size_t bigger = cap ? cap * 2 : 1 << 16;
            unsigned char *grown = realloc(data, bigger);
            if (!grown) {
                free(data);
                fclose(f);
                slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                return NULL;
            }
            data = grown;
            cap = bigger;
        }
        size_t got = fread(data + used, 1, cap - used, f);
        used += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        slm_fail(err, SLM_ERR_IO, "%s: read error", path);
        return NULL;
    }
    *size = used;
    return data;
}

/* Walks the records once: checks every length against the file and counts the tokens. */
static slm_status count_tokens(const char *path, const unsigned char *data, size_t size, int32_t *n_tokens,
                               int *max_len, slm_error *err) {
    if (size < 4) return slm_fail(err, SLM_ERR_FORMAT, "%s: too short for a llama2.c tokenizer (%zu bytes)", path, size);
    int32_t max_token_length = read_i32(data);
    if (max_token_length <= 0 || max_token_length > MAX_TOKEN_LENGTH)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: max_token_length %d is not in 1..%d; not a llama2.c tokenizer",
                        path, (int)max_token_length, MAX_TOKEN_LENGTH);
    size_t off = 4;
    int32_t n = 0;
    while (off < size) {
        if (n >= MAX_TOKENS)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: more than %d tokens", path, MAX_TOKENS);
        if (size - off < 8)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated in the header of token %d (offset %zu)", path,
                            (int)n, off);
        float score = read_f32(data + off);
        int32_t len = read_i32(data + off + 4);
        if (!isfinite(score))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: token %d has a non-finite score", path, (int)n);
        if (len < 0 || len > max_token_length)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: token %d has length %d, outside 0..max_token_length (%d)",
                            path, (int)n, (int)len, (int)max_token_length);
        off += 8;
        if (size - off < (size_t)len)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated in token %d (%d bytes needed at offset %zu, file is %zu)",
                            path, (int)n, (int)len, off, size);
        off += (size_t)len;
        n++;
    }
    if (n < 3)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %d tokens; a llama2.c tokenizer has at least <unk>, BOS and EOS",
                        path, (int)n);
    *n_tokens = n;
    *max_len = max_token_length;
    return SLM_OK;
}

/* "\n<s>\n" -> "<s>": the piece a control token shows when it is not skipped. */
static int trim_control_piece(slm_tokenizer *tok, int32_t id) {
    const slm_token_entry *e = &tok->tokens[id];
    const char *s = e->text;
    size_t n = e->text_len;
    while (n > 0 && (s[0] == '\n' || s[0] == ' ')) s++, n--;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
    return slm_tokenizer_set_piece(tok, id, s, n);
}

slm_tokenizer *slm_tokenizer_load_llama2c(const char *path, slm_error *err) {
    slm_error_clear(err);
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_load_llama2c: path is NULL");
        return NULL;
    }
    size_t size = 0;
    unsigned char *data = read_whole_file(path, &size, err);
    if (!data) return NULL;
    int32_t n_tokens = 0;
    int max_len = 0;
    slm_tokenizer *tok = NULL;
    if (count_tokens(path, data, size, &n_tokens, &max_len, err) != SLM_OK) goto fail;
    tok = slm_tokenizer_alloc(SLM_TOKENIZER_LLAMA2C);
    if (!tok || slm_tokenizer_alloc_tokens(tok, n_tokens) != 0 || slm_str_map_init(&tok->lookup, (size_t)n_tokens) != 0)
        goto out_of_memory;
    tok->llama2c.max_token_length = max_len;
    tok->bos = 1;
    tok->eos = 2;
    size_t off = 4;
    for (int32_t id = 0; id < n_tokens; id++) {
        float score = read_f32(data + off);
        int32_t len = read_i32(data + off + 4);
        off += 8;
        if (slm_tokenizer_set_text(tok, id, (const char *)data + off, (size_t)len) != 0) goto out_of_memory;
        off += (size_t)len;
        slm_token_entry *e = &tok->tokens[id];
        e->score = score;
        int byte = byte_token_value(e->text, e->text_len);
        if (id == 0) {
            e->flags |= SLM_TOKEN_UNK | SLM_TOKEN_SPECIAL;
        } else if (id == tok->bos || id == tok->eos) {
            e->flags |= SLM_TOKEN_SPECIAL;
            if (trim_control_piece(tok, id) != 0) goto out_of_memory;
        } else if (byte >= 0) {
            e->flags |= SLM_TOKEN_BYTE;
            unsigned char b = (unsigned char)byte;
            if (tok->llama2c.byte_id[b] < 0) tok->llama2c.byte_id[b] = id;
            if (slm_tokenizer_set_piece(tok, id, (const char *)&b, 1) != 0) goto out_of_memory;
        } else if (len > 0 && slm_str_map_get(&tok->lookup, e->text, e->text_len) < 0) {
            /* the first of duplicate entries wins; control and byte tokens are never formed from text */
            if (slm_str_map_put(&tok->lookup, e->text, e->text_len, id) != 0) goto out_of_memory;
        }
    }
    free(data);
    return tok;

out_of_memory:
    slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
fail:
    free(data);
    slm_tokenizer_free(tok);
    return NULL;
}

/* ---- encoding ---- */

typedef struct {
    int32_t id;
    int32_t prev, next; /* neighbours among live symbols; -1 at the ends */
    int alive;
} symbol;

typedef struct {
    float score;
    int32_t left, right;       /* symbol positions */
    int32_t left_id, right_id; /* what they held when the pair was scored */
    int32_t merged;
} candidate;

typedef struct {
    candidate *items;
    size_t len, cap;
} candidate_heap;

/* Pops higher scores first, then the leftmost pair. */
static int better(const candidate *a, const candidate *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static int heap_push(candidate_heap *h, candidate c) {
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        candidate *items = realloc(h->items, cap * sizeof *items);
        if (!items) return -1;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!better(&c, &h->items[parent])) break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = c;
    return 0;
}

static candidate heap_pop(candidate_heap *h) {
    candidate top = h->items[0];
    candidate last = h->items[--h->len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) break;
        if (child + 1 < h->len && better(&h->items[child + 1], &h->items[child])) child++;
        if (!better(&h->items[child], &last)) break;
        h->items[i] = h->items[child];
        i = child;
    }
    if (h->len > 0) h->items[i] = last;
    return top;
}

/* Scores the pair (left, left's next) and queues it when the concatenation is a vocabulary entry. */
static int queue_pair(const slm_tokenizer *tok, const symbol *sym, int32_t left, char *scratch,
                      candidate_heap *heap) {
    int32_t right = sym[left].next;
    if (right < 0) return 0;
    const slm_token_entry *a = &tok->tokens[sym[left].id], *b = &tok->tokens[sym[right].id];
    const uint8_t no_merge = SLM_TOKEN_BYTE | SLM_TOKEN_UNK | SLM_TOKEN_SPECIAL;
    if ((a->flags & no_merge) || (b->flags & no_merge)) return 0;
    size_t n = (size_t)a->text_len + b->text_len;
    if (n > (size_t)tok->llama2c.max_token_length) return 0; /* longer than any entry */
    memcpy(scratch, a->text, a->text_len);
    memcpy(scratch + a->text_len, b->text, b->text_len);
    int32_t merged = slm_str_map_get(&tok->lookup, scratch, n);
    if (merged < 0) return 0;
    candidate c = {tok->tokens[merged].score, left, right, sym[left].id, sym[right].id, merged};
    return heap_push(heap, c);
}

slm_status slm_llama2c_encode(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                              slm_id_vec *out, slm_error *err) {
    if (add_special && slm_id_vec_push(out, tok->bos) != 0) goto out_of_memory;
    if (len == 0) return SLM_OK;

    /* one symbol per character of " " + text; at most one per byte, plus the dummy prefix */
    symbol *sym = malloc((len + 1) * sizeof *sym);
    char *scratch = malloc((size_t)tok->llama2c.max_token_length * 2 + 8);
    candidate_heap heap = {0};
    if (!sym || !scratch) {
        free(sym);
        free(scratch);
        goto out_of_memory;
    }
    int32_t n = 0;
    for (size_t i = 0; i <= len;) {
        const char *ch = i == 0 ? " " : text + i - 1; /* i counts the dummy space as position 0 */
        size_t ch_len = 1;
        if (i > 0) slm_utf8_decode((const unsigned char *)ch, len - (i - 1), &ch_len);
        int32_t id = slm_str_map_get(&tok->lookup, ch, ch_len);
        if (id >= 0) {
            sym[n] = (symbol){id, n - 1, -1, 1};
            n++;
        } else {
            for (size_t k = 0; k < ch_len; k++) {
                int32_t b = tok->llama2c.byte_id[(unsigned char)ch[k]];
                sym[n] = (symbol){b >= 0 ? b : 0, n - 1, -1, 1};
                n++;
            }
        }
        i += ch_len;
    }
    for (int32_t i = 0; i + 1 < n; i++) sym[i].next = i + 1;
    for (int32_t i = 0; i + 1 < n; i++)
        if (queue_pair(tok, sym, i, scratch, &heap) != 0) goto heap_out_of_memory;

    while (heap.len > 0) {
        candidate c = heap_pop(&heap);
        symbol *l = &sym[c.left], *r = &sym[c.right];
        if (!l->alive || !r->alive || l->next != c.right || l->id != c.left_id || r->id != c.right_id) continue;
        l->id = c.merged;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = c.left;
        r->alive = 0;
        if (l->prev >= 0 && queue_pair(tok, sym, l->prev, scratch, &heap) != 0) goto heap_out_of_memory;
        if (queue_pair(tok, sym, c.left, scratch, &heap) != 0) goto heap_out_of_memory;
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if (slm_id_vec_push(out, sym[i].id) != 0) goto heap_out_of_memory;
    free(heap.items);
    free(sym);
    free(scratch);
    return SLM_OK;

heap_out_of_memory:
    free(heap.items);
    free(sym);
    free(scratch);
out_of_memory:
    return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_tokenize: out of memory");
}
