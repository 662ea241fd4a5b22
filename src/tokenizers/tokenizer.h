/* tokenizer.h — what the rest of the library needs from a tokenizer beyond
 * the public API in slm.h (slm_tokenizer_load, slm_tokenize, slm_detokenize, ...). */
#ifndef SLM_TOKENIZERS_TOKENIZER_H
#define SLM_TOKENIZERS_TOKENIZER_H

#include "formats/gguf.h"
#include "slm.h"

/* Loads a llama2.c tokenizer.bin (score-based BPE with <0xXX> byte fallback).
 * BOS is 1 and EOS is 2, as in llama2.c. */
slm_tokenizer *slm_tokenizer_load_llama2c(const char *path, slm_error *err);

/* The tokenizer in a GGUF file's tokenizer.ggml.* metadata, read as llama.cpp reads it (gguf_vocab.c):
 * model "gpt2" (byte-level BPE), "llama" (SentencePiece BPE by score) or "bert" (WordPiece); any other
 * model is SLM_ERR_UNSUPPORTED naming it. The tokenizer copies what it keeps: g may be freed after. */
slm_tokenizer *slm_tokenizer_load_gguf(const slm_gguf *g, slm_error *err);
/* The same from a path (slm_tokenizer_load calls it for a path ending in .gguf). */
slm_tokenizer *slm_tokenizer_load_gguf_file(const char *path, slm_error *err);

/* The tokenizer.ggml.* entries that describe tok to llama.cpp, as its converter writes them
 * (gguf_vocab_write.c): byte-level BPE -> model "gpt2" with merges; llama2.c / SentencePiece BPE ->
 * "llama" with scores and byte tokens; WordPiece -> "bert" with llama.cpp's "▁" word-start spelling.
 * pre: the tokenizer.ggml.pre to write for a byte-level BPE ("gpt-2", "phi-2", ...; a name llama.cpp
 * splits text with exactly as tok does, else SLM_ERR_UNSUPPORTED), or NULL for tok's own ("gpt-2" for a
 * Hugging Face GPT-2-style tokenizer, the name a GGUF-loaded one came with); ignored for the others.
 * On success *kvs points to *n_kvs entries to pass (with any others) to slm_gguf_write. The entries and
 * every string and array they point to live in *storage, one block that owns copies (tok may be freed
 * first); release it with slm_tokenizer_gguf_metadata_free(*storage) (a plain free() of it). A tokenizer
 * llama.cpp cannot reproduce (another pre-tokenizer, a normalizer, lstrip/rstrip added tokens, ...) is
 * SLM_ERR_UNSUPPORTED, with *kvs and *storage NULL. */
slm_status slm_tokenizer_gguf_metadata(const slm_tokenizer *tok, const char *pre, slm_gguf_kv **kvs, int64_t *n_kvs,
                                       void **storage, slm_error *err);
void slm_tokenizer_gguf_metadata_free(void *storage);

/* 1 when tok can be written as a llama2.c tokenizer.bin (llama2c_vocab_write.c): a score-based
 * SentencePiece BPE (from tokenizer.bin or a GGUF "llama" vocabulary) with BOS 1 and EOS 2. */
int slm_tokenizer_is_llama2c(const slm_tokenizer *tok);
/* 1 when tok can be written as a llama2.c tokenizer.bin: slm_tokenizer_is_llama2c, or a Llama-style
 * Hugging Face BPE (byte fallback, <unk> 0, BOS 1, EOS 2) whose scores are derived from its merges. */
int slm_tokenizer_has_llama2c_form(const slm_tokenizer *tok);
/* Writes tok as llama2.c's tokenizer.bin with at least n_entries records (llama2.c reads one per
 * model vocabulary row; missing ones are empty). A tokenizer without that form is SLM_ERR_UNSUPPORTED. */
slm_status slm_tokenizer_save_llama2c(const slm_tokenizer *tok, int32_t n_entries, const char *path, slm_error *err);

/* The bytes token id adds to decoded text when it follows token prev
 * (prev = -1 for the first generated token after nothing). Points into the
 * tokenizer; *len is set. Streaming decoders call this token by token; the
 * concatenation equals slm_detokenize() of the same ids (skip_special = 0),
 * except that pieces may split a UTF-8 character across tokens. SentencePiece-style
 * tokenizers (llama2.c, Unigram, a Hugging Face BPE whose decoder strips the leading
 * space) drop the first word's space after BOS too, as decoding with skip_special = 1
 * does; a Hugging Face BPE's ill-formed byte runs become U+FFFD per byte in
 * slm_detokenize, while the stream replaces them as it replaces any ill-formed UTF-8. */
const char *slm_tokenizer_piece(const slm_tokenizer *tok, int32_t prev, int32_t id, size_t *len);

/* 1 when the model marks word-continuing pieces with a prefix (WordPiece "##"); the
 * encoder tasks then find word boundaries from it, else from spaces in the text. */
int slm_tokenizer_has_subword_prefix(const slm_tokenizer *tok);

/* 1 when id is a special/control token (BOS, EOS, <|endoftext|>, added special tokens). */
int slm_tokenizer_is_special(const slm_tokenizer *tok, int32_t id);

/* model_max_length from tokenizer_config.json when sane (below 1e6), else 0. */
int slm_tokenizer_model_max_length(const slm_tokenizer *tok);

#endif
