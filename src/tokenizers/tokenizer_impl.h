/* tokenizer_impl.h — the inside of slm_tokenizer, shared by the files of
 * src/tokenizers/ and by nobody else:
 *   tokenizer.c      public API: loading by path, dispatch, decoding, UTF-8 helpers
 *   hf_load.c        reads Hugging Face tokenizer.json / vocab.json + merges.txt
 *   bpe.c            byte-level BPE encoding (added tokens, pre-tokenizers, merges)
 *   llama2c_vocab.c  llama2.c tokenizer.bin: loading and score-based encoding
 *   hashmap.c        string -> id and (id, id) -> merge maps
 */
#ifndef SLM_TOKENIZERS_TOKENIZER_IMPL_H
#define SLM_TOKENIZERS_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"
#include "tokenizers/hashmap.h"

typedef enum { SLM_TOKENIZER_BPE = 1, SLM_TOKENIZER_LLAMA2C } slm_tokenizer_kind;

enum {
    SLM_TOKEN_SPECIAL = 1, /* control token: skipped by skip_special, never merged into */
    SLM_TOKEN_ADDED = 2,   /* an added token: matched in raw text before pre-tokenization */
    SLM_TOKEN_BYTE = 4,    /* a <0xXX> byte-fallback token; its piece is that one byte */
    SLM_TOKEN_UNK = 8      /* the unknown token */
};

/* One vocabulary entry. */
typedef struct {
    char *text;      /* as the vocabulary stores it ("Ġworld", " world", "<0x0A>"), NUL-terminated; NULL for a hole */
    char *piece;     /* the bytes it adds to decoded text; may alias text */
    uint32_t text_len;
    uint32_t piece_len;
    float score;     /* llama2.c merge score; 0 for BPE */
    uint8_t flags;   /* SLM_TOKEN_* */
} slm_token_entry;

/* An added token as tokenizer.json describes it. */
typedef struct {
    int32_t id;
    const char *content; /* points to tokens[id].text */
    uint32_t len;
    uint8_t single_word, lstrip, rstrip, normalized;
} slm_added_token;

typedef enum { SLM_NORMALIZER_NONE = 0, SLM_NORMALIZER_NFC, SLM_NORMALIZER_NFKC } slm_normalizer;

typedef enum {
    SLM_SPLIT_ISOLATED = 0,
    SLM_SPLIT_REMOVED,
    SLM_SPLIT_MERGED_WITH_PREVIOUS,
    SLM_SPLIT_MERGED_WITH_NEXT
} slm_split_behavior;

/* One pre-tokenizer step; a Sequence is several, applied in order to every piece. */
typedef struct {
    int is_byte_level;   /* 1: ByteLevel (prefix space, optional GPT-2 regex); 0: Split */
    int add_prefix_space;
    void *regex;         /* pcre2_code_8 *: the Split pattern, or GPT-2's for ByteLevel with use_regex; may be NULL */
    slm_split_behavior behavior;
} slm_pretokenizer_step;

typedef struct {
    slm_pretokenizer_step *steps;
    int n_steps;
    int byte_level;            /* map bytes to the GPT-2 byte alphabet before the model (a ByteLevel step is present) */
    slm_normalizer normalizer;

    slm_pair_map merges;       /* (left id, right id) -> (rank, merged id) */
    int32_t unk_id;            /* -1 when the model has no unk token */
    int fuse_unk, byte_fallback, ignore_merges;

    slm_added_token *added;    /* sorted by id */
    int n_added;

    int32_t *prefix_ids, *suffix_ids; /* what the post-processor adds around one sequence */
    int n_prefix, n_suffix;

    /* byte b <-> its character in the byte-level alphabet (UTF-8, 1 or 2 bytes) */
    char byte_char[256][3];
    int16_t char_byte[324]; /* code point -> byte, -1 when not in the alphabet */
} slm_bpe;

typedef struct {
    int32_t byte_id[256]; /* the <0xXX> token of each byte, or -1 */
    int max_token_length;
} slm_llama2c;

struct slm_tokenizer {
    slm_tokenizer_kind kind;
    slm_token_entry *tokens; /* (n_tokens) */
    int32_t n_tokens;
    slm_str_map lookup;      /* token text -> id, for the model's own merging/lookup */
    int32_t bos, eos;        /* -1 when none */
    slm_bpe bpe;
    slm_llama2c llama2c;
};

/* A growable array of ids. */
typedef struct {
    int32_t *data;
    size_t len, cap;
} slm_id_vec;

int slm_id_vec_push(slm_id_vec *v, int32_t id); /* 0, or -1 when out of memory */

/* ---- tokenizer.c ---- */
slm_tokenizer *slm_tokenizer_alloc(slm_tokenizer_kind kind);
/* Allocates tokens[] for n entries, all holes. */
int slm_tokenizer_alloc_tokens(slm_tokenizer *tok, int32_t n);
/* Sets entry id's text (copied) and a piece equal to the text. 0, or -1 when out of memory. */
int slm_tokenizer_set_text(slm_tokenizer *tok, int32_t id, const char *text, size_t len);
/* Sets entry id's piece (copied). */
int slm_tokenizer_set_piece(slm_tokenizer *tok, int32_t id, const char *piece, size_t len);

/* Decodes one UTF-8 character at s[0..n): its code point, or -1 when the bytes are not
 * well-formed UTF-8 (overlong, surrogate, beyond U+10FFFF, truncated). *len gets its length. */
int32_t slm_utf8_decode(const unsigned char *s, size_t n, size_t *len);
/* Writes code point cp as UTF-8 into out (4 bytes of room); returns the length. */
size_t slm_utf8_encode(int32_t cp, char *out);
/* 1 for Unicode White_Space characters. */
int slm_is_unicode_space(int32_t cp);

/* ---- hf_load.c ---- */
slm_status slm_bpe_load_tokenizer_json(slm_tokenizer *tok, const char *json_path, slm_error *err);
slm_status slm_bpe_load_vocab_merges(slm_tokenizer *tok, const char *dir, slm_error *err);
/* Reads bos/eos (and extra special tokens) from tokenizer_config.json, special_tokens_map.json
 * and config.json in dir, where present. */
slm_status slm_bpe_load_specials(slm_tokenizer *tok, const char *dir, slm_error *err);
void slm_bpe_free(slm_bpe *bpe);

/* ---- bpe.c ---- */
void slm_bpe_init_byte_alphabet(slm_bpe *bpe);
/* Compiles GPT-2's split regex (or pattern) for a pre-tokenizer step. NULL on failure, with err set. */
void *slm_regex_compile(const char *pattern, size_t len, int literal, const char *where, slm_error *err);
void slm_regex_free(void *regex);
slm_status slm_bpe_encode(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                          slm_id_vec *out, slm_error *err);

/* ---- llama2c_vocab.c ---- */
slm_status slm_llama2c_encode(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                              slm_id_vec *out, slm_error *err);

#endif
