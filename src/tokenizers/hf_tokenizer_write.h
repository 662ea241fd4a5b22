/* hf_tokenizer_write.h — writing a slm tokenizer as Hugging Face tokenizer files (tokenizer.json in the
 * `tokenizers` format, tokenizer_config.json), for a converted folder whose tokenizer did not come
 * from Hugging Face files (a GGUF vocabulary, a llama2.c tokenizer.bin). hf_tokenizer_write.c says
 * what each kind becomes. */
#ifndef SLM_TOKENIZERS_HF_TOKENIZER_WRITE_H
#define SLM_TOKENIZERS_HF_TOKENIZER_WRITE_H

#include "slm.h"

/* Writes dir/tokenizer.json and dir/tokenizer_config.json (dir must exist) for:
 *   byte-level BPE (GGUF "gpt2" or a Hugging Face GPT-2-style tokenizer) -> BPE with merges, ByteLevel
 *     (or llama.cpp's Split regexes for its other tokenizer.ggml.pre families), class GPT2Tokenizer or,
 *     with a BOS template or another pre-tokenizer, PreTrainedTokenizerFast;
 *   SentencePiece BPE (llama2.c tokenizer.bin, GGUF "llama") -> LlamaTokenizerFast's layout: Prepend +
 *     Replace normalizer, byte-fallback BPE with merges derived from the piece scores, BOS template;
 *   WordPiece (GGUF "bert", or a Hugging Face one) -> BertNormalizer, BertPreTokenizer, WordPiece with
 *     "##" continuations, [CLS] $A [SEP] templates, class BertTokenizer.
 * Anything else (Unigram, XLM BPE, a Split pattern slm no longer holds, duplicate or ill-formed token
 * texts) is SLM_ERR_UNSUPPORTED with a message saying why, and nothing is written. */
slm_status slm_tokenizer_save_hf(const slm_tokenizer *tok, const char *dir, slm_error *err);

/* 1 when slm's own Hugging Face loader (hf_load.c) reads back what slm_tokenizer_save_hf writes for
 * tok: byte-level BPE, WordPiece and SentencePiece BPE (read back as a Hugging Face BPE with the
 * Prepend/Replace normalizer, byte fallback and the decoder chain, hf_decoder.c) that has BOS, <unk> and
 * all 256 byte tokens. 0 for kinds not written. */
int slm_tokenizer_hf_reloadable(const slm_tokenizer *tok);

#endif
