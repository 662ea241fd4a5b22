/* gguf_vocab_write.c — the tokenizer.ggml.* metadata that describes a slm tokenizer to llama.cpp, spelled
 * as llama.cpp's convert_hf_to_gguf.py writes it (gguf_vocab.c reads it back):
 *   byte-level BPE -> "gpt2": tokens in id order in the GPT-2 byte alphabet, merges "a b" in rank order,
 *                     token types (added special -> 3 control, added -> 4 user-defined), bos/eos;
 *   llama2.c       -> "llama": "▁" for spaces, scores, <0xXX> tokens as type 6, <unk> 2, <s> </s> 3;
 *   Llama-style    -> "llama" likewise, the tokens as tokenizer.json spells them, the scores derived from
 *   Hugging Face      the merge ranks (llama2c_vocab_write.c says why that reproduces the merges and
 *   BPE               where it cannot), BOS and the dummy "▁" prefix as the tokenizer adds them;
 *   WordPiece      -> "bert": "▁word" for word-start pieces, bare continuations ("##ing" -> "ing"),
 *                     "[X]" tokens unchanged (the converter's "phantom space" spelling), special tokens
 *                     type 3, and the CLS (as BOS), SEP, UNK, PAD and MASK ids.
 * A hole in the vocabulary becomes "[PAD<id>]" of type 5 (unused), as the converter fills one. What
 * llama.cpp would tokenize differently (another pre-tokenizer, a normalizer, stripped added tokens,
 * templates beyond BOS/EOS) is refused with SLM_ERR_UNSUPPORTED rather than written wrong.
 *
 * The entries and everything they point to are packed into one allocation (slm_tokenizer_gguf_metadata_free
 * is free()): the entries, the pointer arrays, the int32 types, the float scores, then the strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"

enum { TYPE_NORMAL = 1, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_USER_DEFINED, TYPE_UNUSED, TYPE_BYTE };
enum { MAX_KVS = 24 };

/* What is being built: strings by offset into one growing buffer, packed at the end. */
typedef struct {
    const slm_tokenizer *tok;
    const char *model, *pre;
    char *bytes;             /* every string, NUL-terminated, back to back */
    size_t bytes_len, bytes_cap;
    size_t *token_at;        /* (n_tokens) offsets into bytes */
    int32_t *types;          /* (n_tokens) */
    float *scores;           /* (n_tokens) model "llama" only */
    size_t *merge_at;        /* (n_merges) offsets into bytes */
    int32_t n_merges;
    slm_gguf_kv kvs[MAX_KVS];
    int n_kvs;
    slm_error *err;
} builder;

static slm_status oom(builder *b) { return slm_fail(b->err, SLM_ERR_OUT_OF_MEMORY, "GGUF tokenizer metadata: out of memory"); }

static slm_status unsupported(builder *b, const char *why) {
    return slm_fail(b->err, SLM_ERR_UNSUPPORTED, "GGUF tokenizer metadata (model %s): %s", b->model, why);
}

/* Appends s[0..n) to the string being built (finish it with end_string). */
static int put(builder *b, const char *s, size_t n) {
    if (b->bytes_len + n + 1 > b->bytes_cap) {
        size_t cap = b->bytes_cap ? b->bytes_cap : 1 << 16;
        while (cap < b->bytes_len + n + 1) cap *= 2;
        char *grown = realloc(b->bytes, cap);
        if (!grown) return -1;
        b->bytes = grown;
        b->bytes_cap = cap;
    }
    memcpy(b->bytes + b->bytes_len, s, n);
    b->bytes_len += n;
    return 0;
}

/* Terminates the string started at offset start; 0, or -1 when it holds a NUL (GGUF strings written by
 * slm_gguf_write end at the first NUL). */
static int end_string(builder *b, size_t start) {
    if (memchr(b->bytes + start, '\0', b->bytes_len - start)) return -1;
    b->bytes[b->bytes_len++] = '\0';
    return 0;
}

/* ---- one token's text and type, per model ---- */

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581 */

static int token_type(const slm_tokenizer *tok, const slm_token_entry *e) {
    if (e->flags & SLM_TOKEN_UNK) return TYPE_UNKNOWN;
    if (e->flags & SLM_TOKEN_SPECIAL) return TYPE_CONTROL;
    if (e->flags & SLM_TOKEN_BYTE) return TYPE_BYTE;
    if (tok->kind == SLM_TOKENIZER_BPE && tok->bpe.byte_fallback && slm_bpe_byte_piece(e) >= 0) return TYPE_BYTE;
    if (e->flags & SLM_TOKEN_ADDED) return TYPE_USER_DEFINED;
    return e->piece_len == 0 ? TYPE_UNUSED : TYPE_NORMAL; /* only unused tokens decode to nothing */
}

/* llama2.c spells SentencePiece's "▁" as " "; its control tokens' pieces are their names ("<s>"). */
static int put_llama_text(builder *b, const slm_token_entry *e) {
    if (e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_UNK)) return put(b, e->piece, e->piece_len);
    if (e->flags & SLM_TOKEN_BYTE) return put(b, e->text, e->text_len);
    for (uint32_t i = 0; i < e->text_len; i++)
        if (e->text[i] == ' ' ? put(b, SPM_SPACE, 3) : put(b, e->text + i, 1)) return -1;
    return 0;
}

/* The converter's "phantom space" spelling: "[X]" stays, "##piece" -> "piece", "word" -> "▁word". */
static int put_bert_text(builder *b, const slm_token_entry *e) {
    const char *t = e->text;
    size_t n = e->text_len;
    if (e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_ADDED)) return put(b, t, n);
    if (n > 2 && t[0] == '#' && t[1] == '#') return put(b, t + 2, n - 2);
    if (n >= 2 && t[0] == '[' && t[n - 1] == ']') return put(b, t, n);
    return put(b, SPM_SPACE, 3) || put(b, t, n);
}

static slm_status add_tokens(builder *b) {
    const slm_tokenizer *tok = b->tok;
    b->token_at = malloc((size_t)tok->n_tokens * sizeof *b->token_at);
    b->types = malloc((size_t)tok->n_tokens * sizeof *b->types);
    if (!b->token_at || !b->types) return oom(b);
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        size_t start = b->token_at[id] = b->bytes_len;
        char hole[32];
        int rc;
        if (!e->text) { /* the converter's filler for an id the vocabulary lacks */
            rc = put(b, hole, (size_t)snprintf(hole, sizeof hole, "[PAD%d]", (int)id));
            b->types[id] = TYPE_UNUSED;
        } else {
            b->types[id] = token_type(tok, e);
            if (tok->kind == SLM_TOKENIZER_WORDPIECE && b->types[id] == TYPE_UNKNOWN) b->types[id] = TYPE_CONTROL;
            if (tok->kind == SLM_TOKENIZER_LLAMA2C) rc = put_llama_text(b, e);
            else if (tok->kind == SLM_TOKENIZER_WORDPIECE) rc = put_bert_text(b, e);
            else rc = put(b, e->text, e->text_len);
        }
        if (rc) return oom(b);
        if (b->bytes_len == start)
            return slm_fail(b->err, SLM_ERR_UNSUPPORTED, "GGUF tokenizer metadata: token %d would be empty", (int)id);
        if (end_string(b, start))
            return slm_fail(b->err, SLM_ERR_UNSUPPORTED, "GGUF tokenizer metadata: token %d holds a NUL byte", (int)id);
    }
    return SLM_OK;
}

/* llama.cpp maps each text to one id: the written texts must all differ. */
static slm_status check_unique(builder *b) {
    slm_str_map seen;
    if (slm_str_map_init(&seen, (size_t)b->tok->n_tokens)) return oom(b);
    slm_status st = SLM_OK;
    for (int32_t id = 0; id < b->tok->n_tokens && st == SLM_OK; id++) {
        const char *t = b->bytes + b->token_at[id];
        int32_t other = slm_str_map_get(&seen, t, strlen(t));
        if (other >= 0)
            st = slm_fail(b->err, SLM_ERR_UNSUPPORTED, "GGUF tokenizer metadata: tokens %d and %d are both \"%.40s\"",
                          (int)other, (int)id, t);
        else if (slm_str_map_put(&seen, t, strlen(t), id))
            st = oom(b);
    }
    slm_str_map_free(&seen);
    return st;
}

/* ---- merges ---- */

/* "left right" for every merge in rank order; llama.cpp splits at the first space after the first byte. */
static slm_status add_merges(builder *b) {
    size_t n;
    slm_pair_map_slot *sorted = slm_pair_map_by_rank(&b->tok->bpe.merges, &n);
    b->merge_at = malloc((n ? n : 1) * sizeof *b->merge_at);
    if (!sorted || !b->merge_at) {
        free(sorted);
        return oom(b);
    }
    slm_status st = SLM_OK;
    for (size_t k = 0; k < n && st == SLM_OK; k++) {
        const slm_token_entry *l = &b->tok->tokens[(int32_t)(sorted[k].key >> 32)];
        const slm_token_entry *r = &b->tok->tokens[(int32_t)(uint32_t)sorted[k].key];
        size_t start = b->merge_at[k] = b->bytes_len;
        if (!l->text || !r->text || l->text_len == 0 || memchr(l->text + 1, ' ', l->text_len - 1))
            st = unsupported(b, "a merge whose left token has a space cannot be written as \"a b\"");
        else if (put(b, l->text, l->text_len) || put(b, " ", 1) || put(b, r->text, r->text_len) || end_string(b, start))
            st = oom(b);
    }
    b->n_merges = (int32_t)n;
    free(sorted);
    return st;
}

/* ---- scores ---- */

/* A llama2.c-kind vocabulary's own scores; a Hugging Face BPE's derived from its merge ranks. */
static slm_status add_scores(builder *b) {
    const slm_tokenizer *tok = b->tok;
    b->scores = malloc((size_t)(tok->n_tokens ? tok->n_tokens : 1) * sizeof *b->scores);
    if (!b->scores) return oom(b);
    if (tok->kind == SLM_TOKENIZER_BPE) return slm_bpe_spm_scores(tok, b->scores, b->err);
    for (int32_t id = 0; id < tok->n_tokens; id++) b->scores[id] = tok->tokens[id].text ? tok->tokens[id].score : 0.0f;
    return SLM_OK;
}

/* ---- which tokenizers llama.cpp runs the same way ---- */

static slm_status check_gpt2(builder *b, const char *pre) {
    const slm_tokenizer *tok = b->tok;
    const slm_bpe *bpe = &tok->bpe;
    int family = -1, ignore_merges = 0;
    if (tok->gguf_pre[0]) { /* read from GGUF: split steps of a known family */
        family = slm_gguf_pre_family(tok->gguf_pre, &ignore_merges);
        b->pre = tok->gguf_pre;
    } else if (bpe->n_steps == 1 && bpe->steps[0].is_byte_level && bpe->steps[0].regex && !bpe->steps[0].add_prefix_space) {
        family = slm_gguf_pre_family("gpt-2", &ignore_merges); /* a ByteLevel step's regex is always GPT-2's */
        b->pre = "gpt-2";
    }
    if (family < 0) return unsupported(b, "the pre-tokenizer is not one llama.cpp has (GPT-2's ByteLevel split is)");
    if (pre && slm_gguf_pre_family(pre, NULL) != family) return unsupported(b, "tokenizer.ggml.pre names another pre-tokenizer");
    if (pre) b->pre = pre;
    if (!bpe->byte_level || bpe->n_normalizers != 0 || bpe->byte_fallback || bpe->ignore_merges != ignore_merges)
        return unsupported(b, "a normalizer, byte fallback or ignore_merges that llama.cpp's BPE does not run");
    for (int i = 0; i < bpe->n_added; i++)
        if (bpe->added[i].lstrip || bpe->added[i].rstrip || bpe->added[i].single_word)
            return unsupported(b, "added tokens with lstrip, rstrip or single_word");
    if (bpe->n_prefix > 1 || bpe->n_suffix > 1 || (bpe->n_prefix && bpe->prefix_ids[0] != tok->bos) ||
        (bpe->n_suffix && bpe->suffix_ids[0] != tok->eos))
        return unsupported(b, "special tokens around the text other than BOS before and EOS after");
    return SLM_OK;
}

static slm_status check_bert(builder *b) {
    const slm_tokenizer *tok = b->tok;
    const slm_wordpiece *wp = &tok->wordpiece;
    const slm_template *t = &tok->single;
    if (strcmp(wp->prefix, "##") != 0 || !wp->clean_text || !wp->handle_chinese_chars)
        return unsupported(b, "a WordPiece without \"##\" continuations, clean_text or Chinese-character splitting");
    if (t->n != 3 || t->items[0].id < 0 || t->items[1].id != SLM_TEMPLATE_A || t->items[2].id < 0)
        return unsupported(b, "a WordPiece whose template is not [CLS] $A [SEP]");
    return SLM_OK;
}

/* ---- the entries ---- */

static void add_kv(builder *b, slm_gguf_kv kv) { b->kvs[b->n_kvs++] = kv; }

static void add_string(builder *b, const char *key, const char *value) {
    add_kv(b, (slm_gguf_kv){.key = key, .type = SLM_GGUF_STRING, .string = value});
}

static void add_id(builder *b, const char *key, int32_t id) {
    if (id >= 0) add_kv(b, (slm_gguf_kv){.key = key, .type = SLM_GGUF_UINT32, .u = (uint64_t)id});
}

static void add_bool(builder *b, const char *key, int value) {
    add_kv(b, (slm_gguf_kv){.key = key, .type = SLM_GGUF_BOOL, .u = value != 0});
}

static int32_t first_flagged(const slm_tokenizer *tok, uint8_t flag) {
    for (int32_t id = 0; id < tok->n_tokens; id++)
        if (tok->tokens[id].flags & flag) return id;
    return -1;
}

/* The scalar entries of each model (the arrays are added by pack). */
static void add_scalars(builder *b) {
    const slm_tokenizer *tok = b->tok;
    add_string(b, "tokenizer.ggml.model", b->model);
    add_string(b, "tokenizer.ggml.pre", b->pre);
    if (!strcmp(b->model, "gpt2")) {
        add_id(b, "tokenizer.ggml.bos_token_id", tok->bos);
        add_id(b, "tokenizer.ggml.eos_token_id", tok->eos);
        add_id(b, "tokenizer.ggml.unknown_token_id", first_flagged(tok, SLM_TOKEN_UNK));
        add_bool(b, "tokenizer.ggml.add_bos_token", tok->bpe.n_prefix);
        add_bool(b, "tokenizer.ggml.add_eos_token", tok->bpe.n_suffix);
    } else if (!strcmp(b->model, "llama")) { /* llama2c_vocab.c adds BOS alone, after a dummy space */
        add_id(b, "tokenizer.ggml.bos_token_id", tok->kind == SLM_TOKENIZER_BPE ? tok->bpe.prefix_ids[0] : tok->bos);
        add_id(b, "tokenizer.ggml.eos_token_id", tok->eos);
        add_id(b, "tokenizer.ggml.unknown_token_id", first_flagged(tok, SLM_TOKEN_UNK));
        add_bool(b, "tokenizer.ggml.add_bos_token", 1);
        add_bool(b, "tokenizer.ggml.add_eos_token", 0);
        add_bool(b, "tokenizer.ggml.add_space_prefix", 1);
    } else { /* llama.cpp's WPM puts its BOS where [CLS] goes; older readers look for cls_token_id */
        int32_t cls = tok->single.items[0].id, sep = tok->single.items[2].id;
        add_id(b, "tokenizer.ggml.bos_token_id", cls);
        add_id(b, "tokenizer.ggml.cls_token_id", cls);
        add_id(b, "tokenizer.ggml.seperator_token_id", sep); /* llama.cpp's spelling */
        add_id(b, "tokenizer.ggml.unknown_token_id", tok->wordpiece.unk_id);
        add_id(b, "tokenizer.ggml.padding_token_id", slm_tokenizer_special(tok, "pad"));
        add_id(b, "tokenizer.ggml.mask_token_id", slm_tokenizer_special(tok, "mask"));
        add_bool(b, "tokenizer.ggml.normalizer.lowercase", tok->wordpiece.lowercase);
        add_bool(b, "tokenizer.ggml.normalizer.strip_accents", tok->wordpiece.strip_accents);
    }
}

/* Packs the arrays and strings into one allocation and points the entries at it. */
static slm_status pack(builder *b, size_t pre_at, slm_gguf_kv **kvs, int64_t *n_kvs, void **storage) {
    const slm_tokenizer *tok = b->tok;
    size_t n = (size_t)tok->n_tokens, m = (size_t)b->n_merges;
    int with_scores = b->scores != NULL;
    size_t head = MAX_KVS * sizeof(slm_gguf_kv) + (n + m) * sizeof(char *) + n * sizeof(int32_t) +
                  (with_scores ? n * sizeof(float) : 0);
    char *block = malloc(head + b->bytes_len);
    if (!block) return oom(b);
    slm_gguf_kv *out = (slm_gguf_kv *)(void *)block;
    const char **tokens = (const char **)(void *)(out + MAX_KVS), **merges = tokens + n;
    int32_t *types = (int32_t *)(void *)(merges + m);
    float *scores = (float *)(void *)(types + n);
    char *strings = block + head;
    memcpy(strings, b->bytes, b->bytes_len);
    for (size_t i = 0; i < n; i++) tokens[i] = strings + b->token_at[i];
    for (size_t i = 0; i < m; i++) merges[i] = strings + b->merge_at[i];
    memcpy(types, b->types, n * sizeof *types);
    if (with_scores) memcpy(scores, b->scores, n * sizeof *scores);
    b->pre = strings + pre_at; /* the packed copy: the caller's pre may not outlive the entries */
    add_scalars(b);
    add_kv(b, (slm_gguf_kv){.key = "tokenizer.ggml.tokens", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                            .array_count = n, .array = tokens});
    add_kv(b, (slm_gguf_kv){.key = "tokenizer.ggml.token_type", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT32,
                            .array_count = n, .array = types});
    if (with_scores)
        add_kv(b, (slm_gguf_kv){.key = "tokenizer.ggml.scores", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_FLOAT32,
                                .array_count = n, .array = scores});
    if (!strcmp(b->model, "gpt2"))
        add_kv(b, (slm_gguf_kv){.key = "tokenizer.ggml.merges", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING,
                                .array_count = m, .array = merges});
    memcpy(out, b->kvs, (size_t)b->n_kvs * sizeof *out);
    *kvs = out;
    *n_kvs = b->n_kvs;
    *storage = block;
    return SLM_OK;
}

slm_status slm_tokenizer_gguf_metadata(const slm_tokenizer *tok, const char *pre, slm_gguf_kv **kvs, int64_t *n_kvs,
                                       void **storage, slm_error *err) {
    slm_error_clear(err);
    if (!tok || !kvs || !n_kvs || !storage)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_gguf_metadata: NULL argument");
    *kvs = NULL;
    *n_kvs = 0;
    *storage = NULL;
    builder b = {.tok = tok, .pre = "default", .err = err};
    slm_status st = SLM_OK;
    switch (tok->kind) {
    case SLM_TOKENIZER_BPE:
        b.model = tok->bpe.byte_level ? "gpt2" : "llama";
        st = tok->bpe.byte_level ? check_gpt2(&b, pre) : slm_bpe_spm_check(tok, "GGUF tokenizer metadata", err);
        break;
    case SLM_TOKENIZER_LLAMA2C: b.model = "llama"; break;
    case SLM_TOKENIZER_WORDPIECE: b.model = "bert"; st = check_bert(&b); break;
    default:
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "GGUF tokenizer metadata: only byte-level BPE, Llama-style (byte fallback) BPE, llama2.c and "
                        "WordPiece tokenizers are written");
    }
    if (st == SLM_OK) st = add_tokens(&b);
    if (st == SLM_OK) st = check_unique(&b);
    if (st == SLM_OK && !strcmp(b.model, "gpt2")) st = add_merges(&b);
    if (st == SLM_OK && !strcmp(b.model, "llama")) st = add_scores(&b);
    size_t pre_at = b.bytes_len;
    if (st == SLM_OK && (put(&b, b.pre, strlen(b.pre)) || end_string(&b, pre_at))) st = oom(&b);
    if (st == SLM_OK) st = pack(&b, pre_at, kvs, n_kvs, storage);
    free(b.bytes);
    free(b.token_at);
    free(b.types);
    free(b.merge_at);
    free(b.scores);
    return st;
}

void slm_tokenizer_gguf_metadata_free(void *storage) { free(storage); }
