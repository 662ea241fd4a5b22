/* tokenizer.h — what the rest of the library needs from a tokenizer beyond
 * the public API in slm.h (slm_tokenizer_load, slm_tokenize, slm_detokenize, ...). */
#ifndef SLM_TOKENIZERS_TOKENIZER_H
#define SLM_TOKENIZERS_TOKENIZER_H

#include "slm.h"

/* Loads a llama2.c tokenizer.bin (score-based BPE with <0xXX> byte fallback).
 * BOS is 1 and EOS is 2, as in llama2.c. */
slm_tokenizer *slm_tokenizer_load_llama2c(const char *path, slm_error *err);

/* The bytes token id adds to decoded text when it follows token prev
 * (prev = -1 for the first generated token after nothing). Points into the
 * tokenizer; *len is set. Streaming decoders call this token by token; the
 * concatenation equals slm_detokenize() of the same ids (skip_special = 0),
 * except that pieces may split a UTF-8 character across tokens. */
const char *slm_tokenizer_piece(const slm_tokenizer *tok, int32_t prev, int32_t id, size_t *len);

/* 1 when the model marks word-continuing pieces with a prefix (WordPiece "##"); the
 * encoder tasks then find word boundaries from it, else from spaces in the text. */
int slm_tokenizer_has_subword_prefix(const slm_tokenizer *tok);

/* 1 when id is a special/control token (BOS, EOS, <|endoftext|>, added special tokens). */
int slm_tokenizer_is_special(const slm_tokenizer *tok, int32_t id);

/* model_max_length from tokenizer_config.json when sane (below 1e6), else 0. */
int slm_tokenizer_model_max_length(const slm_tokenizer *tok);

#endif
