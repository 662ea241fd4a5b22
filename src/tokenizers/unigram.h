/* unigram.h — SentencePiece's Unigram model inside slm_tokenizer, private to src/tokenizers/:
 *   unigram.c       normalization with alignment (Replace, NFKD, StripAccents, Lowercase, the
 *                   Precompiled charsmap, transformers' AlbertTokenizer preprocessing, SentencePiece's
 *                   own normalizer), pre-tokenization (WhitespaceSplit, Metaspace), Viterbi, decoding
 *   unigram_load.c  a Hugging Face tokenizer.json whose model is Unigram
 *   spiece.c        a SentencePiece ModelProto (spiece.model): a small protobuf reader
 * Three ways of running the same model, chosen when loading:
 *   SLM_UNIGRAM_HF        Hugging Face tokenizers (tokenizer.json): added tokens cut from the raw text,
 *                         the normalizer Sequence, WhitespaceSplit/Metaspace, Viterbi per word (double
 *                         scores, every piece matchable), Metaspace decoder;
 *   SLM_UNIGRAM_SP        SentencePiece alone (a .model file): its normalizer (charsmap longest match,
 *                         extra whitespace removal, dummy prefix, ▁ escaping), Viterbi over the whole
 *                         text (float scores, user-defined pieces favoured, control pieces never matched);
 *   SLM_UNIGRAM_ALBERT    transformers' AlbertTokenizer over spiece.model: its preprocessing
 *                         (remove_space, `` and '' -> ", NFKD without combining marks, lowercase) before
 *                         SentencePiece, the "digit," split, [CLS] $A [SEP]. */
#ifndef SLM_TOKENIZERS_UNIGRAM_H
#define SLM_TOKENIZERS_UNIGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizers/tokenizer_impl.h"

typedef enum { SLM_UNIGRAM_HF = 1, SLM_UNIGRAM_SP, SLM_UNIGRAM_ALBERT } slm_unigram_mode;

/* One normalizer step of tokenizer.json's Sequence. */
typedef enum {
    SLM_UNORM_REPLACE = 1, /* pattern -> content, both plain strings */
    SLM_UNORM_NFKD,
    SLM_UNORM_NFD,
    SLM_UNORM_STRIP_ACCENTS, /* drop General_Category=Mark */
    SLM_UNORM_LOWERCASE,
    SLM_UNORM_PRECOMPILED    /* the charsmap, Hugging Face's way: per grapheme, shortest match */
} slm_unorm_kind;

typedef struct {
    slm_unorm_kind kind;
    char *pattern, *content; /* REPLACE */
} slm_unorm_step;

/* SentencePiece's piece types (sentencepiece_model.proto). */
enum { SLM_SP_NORMAL = 1, SLM_SP_UNKNOWN = 2, SLM_SP_CONTROL = 3, SLM_SP_USER_DEFINED = 4, SLM_SP_UNUSED = 5,
       SLM_SP_BYTE = 6 };

/* A raw-text token cut out before normalization (added tokens, SentencePiece's user-defined pieces). */
typedef struct {
    int32_t id;
    const char *content; /* points to tokens[id].text */
    uint32_t len;
    int special;         /* skipped by decode with skip_special */
} slm_unigram_added;

typedef struct slm_unigram {
    slm_unigram_mode mode;
    double *scores;          /* (n_tokens) */
    uint8_t *types;          /* (n_tokens) SLM_SP_*; every piece NORMAL for tokenizer.json */
    int32_t unk_id;          /* -1 when none */
    int byte_fallback;
    double min_score, max_score; /* over the pieces that count (see unigram.c) */
    uint32_t max_piece_len;  /* bytes of the longest matchable piece */
    slm_str_map matchable;   /* piece text -> id, for the pieces Viterbi may use */

    slm_unorm_step *steps;   /* (n_steps) the HF normalizer Sequence */
    int n_steps;

    /* the precompiled charsmap: a darts-clone double array and NUL-terminated replacement strings */
    uint8_t *charsmap;       /* owned copy of the blob */
    const uint32_t *trie;    /* (n_trie) units, little-endian, inside charsmap (copied aligned) */
    uint32_t *trie_units;
    size_t n_trie;
    const char *charsmap_strings;
    size_t charsmap_strings_len;

    /* pre-tokenizer (HF) */
    int whitespace_split, metaspace, metaspace_split;
    slm_prepend_scheme prepend;
    int decoder_metaspace;   /* Metaspace decoder: first token loses its ▁, others ▁ -> ' ' */

    /* SentencePiece normalizer_spec */
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    /* transformers' AlbertTokenizer settings */
    int do_lower_case, keep_accents, remove_space;

    slm_unigram_added *added; /* longest first among equal starts */
    int n_added;
    int32_t pad_id, cls_id, sep_id, mask_id; /* -1 when none */
} slm_unigram;

slm_unigram *slm_unigram_alloc(slm_unigram_mode mode);
void slm_unigram_free(slm_unigram *u);

/* Sets up the charsmap from its bytes (copied); SLM_ERR_FORMAT when the blob is not one. */
slm_status slm_unigram_set_charsmap(slm_unigram *u, const char *where, const uint8_t *blob, size_t len,
                                    slm_error *err);
/* After the pieces, scores and types are set: the lookup, min/max scores, ▁ -> ' ' pieces. */
slm_status slm_unigram_finish(slm_tokenizer *tok, const char *where, slm_error *err);
/* Appends (id, content) to the raw-text tokens. */
slm_status slm_unigram_add_raw_token(slm_tokenizer *tok, const char *where, int32_t id, int special, slm_error *err);

/* Encodes valid UTF-8 without special tokens, appending ids and offsets (code points) to out. */
slm_status slm_unigram_encode(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                              slm_error *err);
slm_status slm_unigram_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                              char **text, slm_error *err);
int32_t slm_unigram_special(const slm_tokenizer *tok, const char *role);

/* tokenizer.json with a Unigram model (root is the parsed json_t *). */
slm_status slm_unigram_load_json(slm_tokenizer *tok, const char *where, void *json_root, slm_error *err);
/* A SentencePiece .model. dir: where tokenizer_config.json is read (AlbertTokenizer mode), or NULL for
 * SentencePiece's own behaviour. */
slm_tokenizer *slm_spiece_load(const char *path, const char *dir, slm_error *err);

#endif
