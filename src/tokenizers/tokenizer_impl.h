/* tokenizer_impl.h — the inside of slm_tokenizer, shared by the files of
 * src/tokenizers/ and by nobody else:
 *   tokenizer.c      public API: loading by path, dispatch, decoding, UTF-8 helpers
 *   hf_load.c        reads Hugging Face tokenizer.json / vocab.json + merges.txt (BPE; hands WordPiece
 *                    to wordpiece_load.c and Unigram to unigram_load.c)
 *   bpe.c            Hugging Face BPE encoding (added tokens, normalizers, pre-tokenizers, merges,
 *                    byte fallback): byte-level (GPT-2, Phi) and SentencePiece-style (Llama)
 *   hf_decoder.c     the decoder chain of a BPE that is not byte-level (Replace, ByteFallback, Fuse,
 *                    Strip, Metaspace): reading it, each token's piece, and slm_detokenize's decode
 *   llama2c_vocab.c  llama2.c tokenizer.bin: loading and score-based encoding
 *   wordpiece.c      BERT's normalizer, pre-tokenizer, WordPiece model (with offsets) and decoder
 *   wordpiece_load.c WordPiece from tokenizer.json or vocab.txt; tokenizer_config.json settings
 *   encode.c         slm_encode: templates ([CLS] $A [SEP] ...), truncation, offsets for every kind
 *   hashmap.c        string -> id and (id, id) -> merge maps
 *   unigram*.c, spiece.c  SentencePiece Unigram (tokenizer.json or spiece.model); see unigram.h
 *   gguf_vocab*.c    GGUF tokenizer.ggml.* metadata: reading it into the kinds above, and writing it
 */
#ifndef SLM_TOKENIZERS_TOKENIZER_IMPL_H
#define SLM_TOKENIZERS_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slm.h"
#include "tokenizers/hashmap.h"

typedef enum { SLM_TOKENIZER_BPE = 1, SLM_TOKENIZER_LLAMA2C, SLM_TOKENIZER_WORDPIECE, SLM_TOKENIZER_UNIGRAM,
               SLM_TOKENIZER_XLM_BPE } slm_tokenizer_kind;

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

/* One step of a BPE tokenizer.json's normalizer (a Sequence is several, applied in order). */
typedef enum {
    SLM_BPE_NORM_NFC = 1,
    SLM_BPE_NORM_NFKC,
    SLM_BPE_NORM_PREPEND, /* text goes in front of a non-empty stretch */
    SLM_BPE_NORM_REPLACE  /* every non-overlapping occurrence of text, left to right, becomes content */
} slm_bpe_norm_kind;

typedef struct {
    slm_bpe_norm_kind kind;
    char *text, *content; /* PREPEND: text; REPLACE: pattern text -> content; NULL otherwise */
    uint32_t text_len, content_len;
} slm_bpe_norm_step;

/* Metaspace's prepend_scheme: put the replacement in front of every piece, only the piece at the
 * start of the text, or never (a piece that already starts with it gets none). */
typedef enum { SLM_PREPEND_ALWAYS = 0, SLM_PREPEND_FIRST, SLM_PREPEND_NEVER } slm_prepend_scheme;

typedef enum {
    SLM_SPLIT_ISOLATED = 0,
    SLM_SPLIT_REMOVED,
    SLM_SPLIT_MERGED_WITH_PREVIOUS,
    SLM_SPLIT_MERGED_WITH_NEXT
} slm_split_behavior;

/* One pre-tokenizer step; a Sequence is several, applied in order to every piece. */
typedef struct {
    int is_byte_level;   /* 1: ByteLevel (prefix space, optional GPT-2 regex) */
    int is_metaspace;    /* 1: Metaspace (spaces -> replacement, prepend, optional split); neither: Split */
    int add_prefix_space;
    void *regex;         /* pcre2_code_8 *: the Split pattern, or GPT-2's for ByteLevel with use_regex; may be NULL */
    slm_split_behavior behavior;
    char replacement[5]; /* Metaspace: one character, UTF-8, NUL-terminated ("▁") */
    slm_prepend_scheme prepend;
    int split;           /* Metaspace: cut before every replacement character (MergedWithNext) */
} slm_pretokenizer_step;

/* One step of the decoder chain of a BPE that is not byte-level (hf_decoder.c). */
typedef enum {
    SLM_DECODE_REPLACE = 1, /* in every token, pattern -> content */
    SLM_DECODE_BYTE_FALLBACK, /* runs of <0xXX> tokens -> their bytes, or one U+FFFD per byte when not UTF-8 */
    SLM_DECODE_FUSE,        /* all tokens -> one */
    SLM_DECODE_STRIP,       /* up to `start` leading spaces off every token (after Fuse: off the text) */
    SLM_DECODE_METASPACE    /* pattern (the replacement) -> " ", dropped in the first token unless prepend is NEVER */
} slm_decoder_kind;

typedef struct {
    slm_decoder_kind kind;
    char *pattern, *content; /* REPLACE: both; METASPACE: pattern */
    uint32_t pattern_len, content_len;
    int start;               /* STRIP */
    slm_prepend_scheme prepend; /* METASPACE */
} slm_decoder_step;

typedef struct {
    slm_pretokenizer_step *steps;
    int n_steps;
    int byte_level;            /* map bytes to the GPT-2 byte alphabet before the model (a ByteLevel step is present) */
    int metaspace;             /* a Metaspace step is present */
    slm_bpe_norm_step *normalizers; /* (n_normalizers), in order; none for most byte-level files */
    int n_normalizers;

    slm_pair_map merges;       /* (left id, right id) -> (rank, merged id) */
    int32_t unk_id;            /* -1 when the model has no unk token */
    int fuse_unk, byte_fallback, ignore_merges;

    slm_added_token *added;    /* sorted by id */
    int n_added;

    int32_t *prefix_ids, *suffix_ids; /* what the post-processor adds around one sequence */
    int n_prefix, n_suffix;

    /* the decoder of a BPE that is not byte-level (byte-level ones decode through the pieces alone) */
    slm_decoder_step *decoders;
    int n_decoders;
    int strip_at_start;        /* leading spaces the decoder drops at the start of the text: 0, n, or -1 all */

    /* byte b <-> its character in the byte-level alphabet (UTF-8, 1 or 2 bytes) */
    char byte_char[256][3];
    int16_t char_byte[324]; /* code point -> byte, -1 when not in the alphabet */
} slm_bpe;

typedef struct {
    int32_t byte_id[256]; /* the <0xXX> token of each byte, or -1 */
    int max_token_length;
} slm_llama2c;

/* BertNormalizer's switches and the WordPiece model and decoder settings. */
typedef struct {
    int clean_text, handle_chinese_chars, strip_accents, lowercase; /* strip_accents already resolved */
    char prefix[16];               /* continuing_subword_prefix, "##" */
    int max_input_chars_per_word;  /* longer words become one unk token */
    int32_t unk_id;                /* -1 when none */
    int decoder_cleanup;           /* the WordPiece decoder's "cleanup" */
    int llamacpp_normalizer;       /* llama.cpp's WPM (GGUF): whitespace before control, one-code-point NFD, all marks dropped */
} slm_wordpiece;

/* One item of a post-processor template: a special token, or where a sequence goes. */
enum { SLM_TEMPLATE_A = -1, SLM_TEMPLATE_B = -2 };
typedef struct {
    int32_t id;      /* a token id, or SLM_TEMPLATE_A / SLM_TEMPLATE_B */
    int32_t type_id;
} slm_template_item;

typedef struct {
    slm_template_item *items;
    int n;
} slm_template;

struct slm_tokenizer {
    slm_tokenizer_kind kind;
    slm_token_entry *tokens; /* (n_tokens) */
    int32_t n_tokens;
    slm_str_map lookup;      /* token text -> id, for the model's own merging/lookup */
    int32_t bos, eos;        /* -1 when none */
    slm_bpe bpe;
    slm_llama2c llama2c;
    slm_wordpiece wordpiece;
    struct slm_unigram *unigram; /* SentencePiece Unigram (unigram.h); NULL for other kinds */
    /* the post-processor for one text and for a pair (WordPiece; other kinds use bpe.prefix/suffix_ids) */
    slm_template single, pair;
    struct slm_xlm_bpe *xlm;          /* FlauBERT's XLM-style BPE (xlm_bpe.c); NULL for other kinds */
    int clean_up_tokenization_spaces; /* tokenizer_config.json: transformers' cleanup after decoding */
    int model_max_length;             /* tokenizer_config.json, 0 when absent or not sane */
    char gguf_pre[32];                /* tokenizer.ggml.pre of a byte-level BPE read from GGUF, else "" */
};

/* A growable array of ids. */
typedef struct {
    int32_t *data;
    size_t len, cap;
} slm_id_vec;

int slm_id_vec_push(slm_id_vec *v, int32_t id); /* 0, or -1 when out of memory */

/* Tokens with offsets: (n) ids and (n, 2) [start, end) offsets in code points of the original text. */
typedef struct {
    int32_t *ids, *offsets;
    size_t n, cap;
} slm_token_vec;

int slm_token_vec_push(slm_token_vec *v, int32_t id, int32_t start, int32_t end); /* 0, or -1 when out of memory */
void slm_token_vec_free(slm_token_vec *v);

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
/* A Metaspace pre-tokenizer's or decoder's prepend_scheme as tokenizers reads it: "always" when absent,
 * "never" when add_prefix_space is false (then any other scheme is an error). */
slm_status slm_metaspace_prepend_scheme(void *json_metaspace, const char *where, slm_prepend_scheme *out,
                                        slm_error *err);
void slm_bpe_free(slm_bpe *bpe);

/* ---- hf_decoder.c ---- */
/* Reads tokenizer.json's decoder for a BPE that is not byte-level into tok->bpe.decoders. */
slm_status slm_bpe_load_decoder(slm_tokenizer *tok, const char *where, void *json_decoder, slm_error *err);
/* Every token's piece: its text with the chain's per-token steps applied (Replace, one <0xXX> byte,
 * Metaspace's replacement -> " "). */
slm_status slm_bpe_decoder_pieces(slm_tokenizer *tok, const char *where, slm_error *err);
/* Hugging Face's decode through the chain; ids are known to be in the vocabulary. */
slm_status slm_bpe_decode_chain(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                                char **text, slm_error *err);

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

/* ---- wordpiece.c ---- */
/* Encodes valid UTF-8 text without special tokens, appending ids and offsets to out. */
slm_status slm_wordpiece_encode(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                                slm_error *err);
/* Hugging Face's decode; ids are known to be in the vocabulary. */
slm_status slm_wordpiece_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                                char **text, slm_error *err);

/* ---- xlm_bpe.c (FlauBERT: moses.c's pipeline, then BPE with "</w>" end-of-word markers) ---- */
struct slm_xlm_bpe;
/* 1 when dir's vocab.json + merges.txt are XLM-style: tokenizer_config.json names FlaubertTokenizer or
 * XLMTokenizer, or (no tokenizer_class) vocab.json has "</w>" end-of-word markers, which byte-level
 * vocabularies never have. */
int slm_xlm_bpe_detect(const char *dir);
slm_tokenizer *slm_xlm_bpe_load(const char *dir, slm_error *err);
/* Encodes valid UTF-8 text without the template's special tokens, appending ids and best-effort offsets. */
slm_status slm_xlm_bpe_encode(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                              slm_error *err);
/* The reference's decode; ids are known to be in the vocabulary. */
slm_status slm_xlm_bpe_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                              char **text, slm_error *err);
int32_t slm_xlm_bpe_special(const slm_tokenizer *tok, const char *role);
void slm_xlm_bpe_free(struct slm_xlm_bpe *xlm);

/* ---- wordpiece_load.c ---- */
/* Reads the WordPiece parts of a parsed tokenizer.json (vocabulary and added tokens already loaded):
 * model, normalizer, pre_tokenizer, post_processor, decoder. */
slm_status slm_wordpiece_load_json(slm_tokenizer *tok, const char *where, void *json_root, slm_error *err);
/* A vocab.txt (with tokenizer_config.json and special_tokens_map.json from dir, where present):
 * BERT's defaults. */
slm_tokenizer *slm_wordpiece_load_vocab_txt(const char *path, const char *dir, slm_error *err);
/* model_max_length and clean_up_tokenization_spaces from dir/tokenizer_config.json, where present. */
slm_status slm_tokenizer_read_config(slm_tokenizer *tok, const char *dir, int clean_up_default, slm_error *err);
void slm_template_free(slm_template *t);

/* ---- llama2c_vocab_write.c: a Llama-style Hugging Face BPE as a score-based vocabulary ---- */
/* The byte of a "<0xXX>" byte-fallback piece (upper-case hex, as bpe.c looks them up), or -1. */
int slm_bpe_byte_piece(const slm_token_entry *e);
/* SLM_OK when tok is a Hugging Face BPE that a score-based SentencePiece vocabulary (GGUF "llama",
 * llama2.c) reproduces: byte fallback, Llama's normalizer or Metaspace, BOS alone before the text,
 * <unk> at 0, only special added tokens; else SLM_ERR_UNSUPPORTED saying why (err may be NULL). */
slm_status slm_bpe_spm_check(const slm_tokenizer *tok, const char *where, slm_error *err);
/* scores (n_tokens): -(rank of the first merge forming the piece), below all of those for the rest;
 * why this reproduces the merges is explained in llama2c_vocab_write.c. */
slm_status slm_bpe_spm_scores(const slm_tokenizer *tok, float *scores, slm_error *err);

/* ---- gguf_vocab.c (GGUF tokenizer.ggml.* metadata; gguf_vocab_write.c writes it) ---- */
/* The index of the pre-tokenizer llama.cpp runs for tokenizer.ggml.pre = name (names that split text
 * alike share one), or -1 when slm does not know the name; *ignore_merges (may be NULL) gets its flag. */
int slm_gguf_pre_family(const char *name, int *ignore_merges);

/* A growable byte string (data NUL-terminated once anything is put; free data). */
typedef struct {
    char *data;
    size_t len, cap;
} slm_text_buf;

/* Appends s (n bytes); 0, or -1 when out of memory (b unchanged). */
static inline int slm_text_buf_put(slm_text_buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

#endif
