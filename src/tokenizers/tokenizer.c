/* tokenizer.c — the public tokenizer API: finding the tokenizer files a path
 * names, dispatching encode to the model (Hugging Face BPE, llama2.c or WordPiece), and
 * decoding, which is the same for byte-level BPE and llama2.c: each token's piece, concatenated, with
 * ill-formed UTF-8 replaced the way Hugging Face's decode does (U+FFFD per
 * maximal ill-formed subpart). WordPiece, Unigram, XLM BPE and a SentencePiece-style BPE (its decoder
 * chain, hf_decoder.c) have decoders of their own. */
#include "tokenizers/tokenizer.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "tokenizers/tokenizer_impl.h"
#include "tokenizers/unigram.h"

/* ---- small helpers shared by the tokenizer files ---- */

int slm_id_vec_push(slm_id_vec *v, int32_t id) {
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *data = realloc(v->data, cap * sizeof *data);
        if (!data) return -1;
        v->data = data;
        v->cap = cap;
    }
    v->data[v->len++] = id;
    return 0;
}

int32_t slm_utf8_decode(const unsigned char *s, size_t n, size_t *len) {
    *len = 1;
    if (n == 0) return -1;
    unsigned char c = s[0];
    if (c < 0x80) return c;
    int need;
    int32_t cp;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        cp = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;       /* no overlongs */
        if (c == 0xED) hi = 0x9F;       /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        cp = c & 0x07;
        if (c == 0xF0) lo = 0x90;       /* no overlongs */
        if (c == 0xF4) hi = 0x8F;       /* nothing beyond U+10FFFF */
    } else {
        return -1;
    }
    for (int k = 1; k <= need; k++) {
        if ((size_t)k >= n) {
            *len = (size_t)k;
            return -1;
        }
        unsigned char b = s[k];
        unsigned char klo = k == 1 ? lo : 0x80, khi = k == 1 ? hi : 0xBF;
        if (b < klo || b > khi) {
            *len = (size_t)k; /* the maximal ill-formed subpart ends before b */
            return -1;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    *len = (size_t)need + 1;
    return cp;
}

size_t slm_utf8_encode(int32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int slm_is_unicode_space(int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* ---- construction ---- */

slm_tokenizer *slm_tokenizer_alloc(slm_tokenizer_kind kind) {
    slm_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return NULL;
    tok->kind = kind;
    tok->bos = tok->eos = -1;
    tok->bpe.unk_id = -1;
    tok->wordpiece.unk_id = -1;
    for (int b = 0; b < 256; b++) tok->llama2c.byte_id[b] = -1;
    return tok;
}

int slm_tokenizer_alloc_tokens(slm_tokenizer *tok, int32_t n) {
    tok->tokens = calloc(n > 0 ? (size_t)n : 1, sizeof *tok->tokens);
    if (!tok->tokens) return -1;
    tok->n_tokens = n;
    return 0;
}

int slm_tokenizer_set_text(slm_tokenizer *tok, int32_t id, const char *text, size_t len) {
    slm_token_entry *e = &tok->tokens[id];
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (e->piece != e->text) free(e->piece);
    free(e->text);
    e->text = e->piece = copy;
    e->text_len = e->piece_len = (uint32_t)len;
    return 0;
}

int slm_tokenizer_set_piece(slm_tokenizer *tok, int32_t id, const char *piece, size_t len) {
    slm_token_entry *e = &tok->tokens[id];
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, piece, len);
    copy[len] = '\0';
    if (e->piece != e->text) free(e->piece);
    e->piece = copy;
    e->piece_len = (uint32_t)len;
    return 0;
}

void slm_tokenizer_free(slm_tokenizer *tok) {
    if (!tok) return;
    for (int32_t i = 0; i < tok->n_tokens; i++) {
        slm_token_entry *e = &tok->tokens[i];
        if (e->piece != e->text) free(e->piece);
        free(e->text);
    }
    free(tok->tokens);
    slm_str_map_free(&tok->lookup);
    slm_bpe_free(&tok->bpe);
    slm_unigram_free(tok->unigram);
    slm_template_free(&tok->single);
    slm_template_free(&tok->pair);
    slm_xlm_bpe_free(tok->xlm);
    free(tok);
}

/* ---- finding the files ---- */

static int path_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* dir of path ("." when it has none), into buf. */
static void dir_name(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(buf, cap, ".");
    } else if (slash == path) {
        snprintf(buf, cap, "/");
    } else {
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
    }
}

/* A llama2.c tokenizer file is named tokenizer.bin or tok<N>.bin; other .bin files are checkpoints. */
static int looks_like_llama2c_tokenizer(const char *path) {
    const char *name = base_name(path);
    return ends_with(name, ".bin") && strncmp(name, "tok", 3) == 0;
}

static slm_tokenizer *load_hf(const char *json_path, const char *dir, slm_error *err) {
    slm_tokenizer *tok = slm_tokenizer_alloc(SLM_TOKENIZER_BPE);
    if (!tok) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", json_path ? json_path : dir);
        return NULL;
    }
    slm_status st = json_path ? slm_bpe_load_tokenizer_json(tok, json_path, err)
                              : slm_bpe_load_vocab_merges(tok, dir, err);
    if (st == SLM_OK && tok->kind != SLM_TOKENIZER_WORDPIECE) st = slm_bpe_load_specials(tok, dir, err);
    if (st == SLM_OK) st = slm_tokenizer_read_config(tok, dir, 0, err);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* The tokenizer .bin beside a llama2.c checkpoint: tokenizer.bin, else the only tok*.bin. */
static slm_tokenizer *load_beside_checkpoint(const char *checkpoint, slm_error *err) {
    char dir[4096], path[4096 + 256];
    dir_name(checkpoint, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
    if (path_is_file(path)) return slm_tokenizer_load_llama2c(path, err);
    DIR *d = opendir(dir);
    int found = 0;
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (looks_like_llama2c_tokenizer(ent->d_name)) {
                if (found++ == 0) snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            }
        }
        closedir(d);
    }
    if (found == 1) return slm_tokenizer_load_llama2c(path, err);
    if (found > 1) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                 "%s: several tok*.bin tokenizers beside this checkpoint; pass the tokenizer file itself",
                 checkpoint);
    } else {
        slm_fail(err, SLM_ERR_IO, "%s: no tokenizer.bin or tok*.bin beside this llama2.c checkpoint",
                 checkpoint);
    }
    return NULL;
}

slm_tokenizer *slm_tokenizer_load(const char *path, slm_error *err) {
    slm_error_clear(err);
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_load: path is NULL");
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[4096 + 64], dir[4096];
    if (S_ISDIR(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s/tokenizer.json", path);
        if (path_is_file(buf)) return load_hf(buf, path, err);
        snprintf(buf, sizeof buf, "%s/spiece.model", path); /* transformers' SentencePiece tokenizers (spiece.c) */
        if (path_is_file(buf)) return slm_spiece_load(buf, path, err);
        char merges[4096 + 64];
        snprintf(buf, sizeof buf, "%s/vocab.json", path);
        snprintf(merges, sizeof merges, "%s/merges.txt", path);
        if (path_is_file(buf) && path_is_file(merges))
            return slm_xlm_bpe_detect(path) ? slm_xlm_bpe_load(path, err) : load_hf(NULL, path, err);
        snprintf(buf, sizeof buf, "%s/vocab.txt", path);
        if (path_is_file(buf)) return slm_wordpiece_load_vocab_txt(buf, path, err);
        snprintf(buf, sizeof buf, "%s/tokenizer.bin", path);
        if (path_is_file(buf)) return slm_tokenizer_load_llama2c(buf, err);
        slm_fail(err, SLM_ERR_IO,
                 "%s: no tokenizer in this folder (looked for tokenizer.json, vocab.json + merges.txt, "
                 "vocab.txt, tokenizer.bin)", path);
        return NULL;
    }
    if (ends_with(path, ".json")) {
        dir_name(path, dir, sizeof dir);
        return load_hf(path, dir, err);
    }
    if (ends_with(path, ".txt")) { /* a WordPiece vocab.txt, its config files beside it */
        dir_name(path, dir, sizeof dir);
        return slm_wordpiece_load_vocab_txt(path, dir, err);
    }
    if (looks_like_llama2c_tokenizer(path)) return slm_tokenizer_load_llama2c(path, err);
    if (ends_with(path, ".model")) return slm_spiece_load(path, NULL, err); /* SentencePiece alone */
    if (ends_with(path, ".gguf")) return slm_tokenizer_load_gguf_file(path, err); /* tokenizer.ggml.* (gguf_vocab.c) */
    if (ends_with(path, ".bin")) return load_beside_checkpoint(path, err);
    slm_fail(err, SLM_ERR_UNSUPPORTED,
             "%s: not a tokenizer slm reads (a folder with tokenizer.json, vocab.json + merges.txt or vocab.txt, "
             "a tokenizer.json, a WordPiece vocab.txt, a llama2.c tokenizer .bin, or a .gguf)", path);
    return NULL;
}

/* ---- encoding and decoding ---- */

slm_status slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n_ids, slm_error *err) {
    slm_error_clear(err);
    if (!tok || !ids || !n_ids || (!text && len > 0))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenize: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    for (size_t i = 0; i < len;) {
        size_t n;
        if (slm_utf8_decode((const unsigned char *)text + i, len - i, &n) < 0)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                            "slm_tokenize: text is not valid UTF-8 at byte offset %zu (byte 0x%02X)", i,
                            (unsigned)(unsigned char)text[i]);
        i += n;
    }
    if (tok->kind == SLM_TOKENIZER_WORDPIECE || tok->kind == SLM_TOKENIZER_UNIGRAM ||
        tok->kind == SLM_TOKENIZER_XLM_BPE) { /* one path with slm_encode */
        slm_encode_params params = slm_encode_default_params();
        params.add_special = add_special;
        slm_encoding *enc = NULL;
        slm_status st = slm_encode(tok, text, len, NULL, 0, &params, &enc, err);
        if (st != SLM_OK) return st;
        *ids = enc->ids; /* the encoding's arrays are separate allocations: keep ids, free the rest */
        *n_ids = enc->n;
        enc->ids = NULL;
        slm_encoding_free(enc);
        return SLM_OK;
    }
    slm_id_vec out = {0};
    slm_status st = tok->kind == SLM_TOKENIZER_LLAMA2C
                        ? slm_llama2c_encode(tok, text ? text : "", len, add_special, &out, err)
                        : slm_bpe_encode(tok, text ? text : "", len, add_special, &out, err);
    if (st != SLM_OK) {
        free(out.data);
        return st;
    }
    if (!out.data && slm_id_vec_push(&out, 0) == 0) out.len = 0; /* always hand back an allocation */
    if (!out.data) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_tokenize: out of memory");
    *ids = out.data;
    *n_ids = out.len;
    return SLM_OK;
}

const char *slm_tokenizer_piece(const slm_tokenizer *tok, int32_t prev, int32_t id, size_t *len) {
    if (len) *len = 0;
    if (!tok || id < 0 || id >= tok->n_tokens || !tok->tokens[id].text) return NULL;
    const slm_token_entry *e = &tok->tokens[id];
    const char *piece = e->piece;
    size_t n = e->piece_len;
    /* SentencePiece's dummy prefix: the first word after BOS (or at the start) loses its space. */
    /* WordPiece: a word's piece starts with its separating space, except the text's first word */
    if (tok->kind == SLM_TOKENIZER_WORDPIECE && prev == -1 && n > 0 && piece[0] == ' ') {
        piece++;
        n--;
    }
    if ((tok->kind == SLM_TOKENIZER_LLAMA2C || tok->kind == SLM_TOKENIZER_UNIGRAM) && (prev == -1 || prev == tok->bos) &&
        !(e->flags & (SLM_TOKEN_BYTE | SLM_TOKEN_SPECIAL)) && n > 0 && piece[0] == ' ') {
        piece++;
        n--;
    }
    /* A SentencePiece-style Hugging Face BPE: the spaces its decoder strips at the start of the text
     * (Strip after Fuse, or Metaspace's first token), also after BOS as for llama2.c */
    if (tok->kind == SLM_TOKENIZER_BPE && tok->bpe.strip_at_start != 0 && (prev == -1 || prev == tok->bos) &&
        !(e->flags & SLM_TOKEN_SPECIAL))
        for (int k = 0; n > 0 && piece[0] == ' ' && (tok->bpe.strip_at_start < 0 || k < tok->bpe.strip_at_start); k++) {
            piece++;
            n--;
        }
    if (len) *len = n;
    return piece;
}

/* Appends bytes to out, replacing each maximal ill-formed UTF-8 subpart by U+FFFD. */
static char *utf8_lossy(const char *bytes, size_t n) {
    char *out = malloc(n * 3 + 1); /* a lone byte becomes 3 bytes at worst */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k;
        if (slm_utf8_decode((const unsigned char *)bytes + i, n - i, &k) < 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
        } else {
            memcpy(out + o, bytes + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = '\0';
    return out;
}

slm_status slm_detokenize(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                          char **text, slm_error *err) {
    slm_error_clear(err);
    if (!tok || !text || (!ids && n_ids > 0))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_detokenize: NULL argument");
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_tokens || !tok->tokens[ids[i]].text)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                            "slm_detokenize: token id %d at position %zu is not in the vocabulary (size %d)",
                            (int)ids[i], i, (int)tok->n_tokens);
        total += tok->tokens[ids[i]].piece_len;
    }
    if (tok->kind == SLM_TOKENIZER_WORDPIECE) return slm_wordpiece_decode(tok, ids, n_ids, skip_special, text, err);
    if (tok->kind == SLM_TOKENIZER_XLM_BPE) return slm_xlm_bpe_decode(tok, ids, n_ids, skip_special, text, err);
    if (tok->kind == SLM_TOKENIZER_UNIGRAM) return slm_unigram_decode(tok, ids, n_ids, skip_special, text, err);
    if (tok->kind == SLM_TOKENIZER_BPE && !tok->bpe.byte_level && tok->bpe.n_decoders > 0)
        return slm_bpe_decode_chain(tok, ids, n_ids, skip_special, text, err);
    char *bytes = malloc(total + 1);
    if (!bytes) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_detokenize: out of memory");
    size_t used = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (skip_special && (tok->tokens[ids[i]].flags & SLM_TOKEN_SPECIAL)) continue;
        size_t n;
        const char *piece = slm_tokenizer_piece(tok, i ? ids[i - 1] : -1, ids[i], &n);
        memcpy(bytes + used, piece, n);
        used += n;
    }
    *text = utf8_lossy(bytes, used);
    free(bytes);
    if (!*text) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_detokenize: out of memory");
    return SLM_OK;
}

const char *slm_token_text(const slm_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_tokens) return NULL;
    return tok->tokens[id].text;
}

int32_t slm_tokenizer_vocab_size(const slm_tokenizer *tok) { return tok ? tok->n_tokens : 0; }
int32_t slm_tokenizer_bos(const slm_tokenizer *tok) { return tok ? tok->bos : -1; }
int32_t slm_tokenizer_eos(const slm_tokenizer *tok) { return tok ? tok->eos : -1; }

int slm_tokenizer_has_subword_prefix(const slm_tokenizer *tok) {
    return tok && tok->kind == SLM_TOKENIZER_WORDPIECE;
}

int slm_tokenizer_is_special(const slm_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_tokens) return 0;
    return (tok->tokens[id].flags & SLM_TOKEN_SPECIAL) != 0;
}
