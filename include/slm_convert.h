/* slm_convert.h — writing models in other formats (slm convert, slm quantize). */
#ifndef SLM_CONVERT_H
#define SLM_CONVERT_H

#include "slm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes a decoder model (gpt2, llama, phi), loaded from any format, as a GGUF
 * file llama.cpp loads, tokenizer included. weight_type is the type of the
 * weight matrices: "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k" or "q6_k".
 * Norms, biases and GPT-2's position embeddings stay f32; a matrix whose rows
 * do not fill whole blocks of the type is written as q8_0, or f16 when rows
 * are not a multiple of 32 either. Llama's q/k rows are reordered to the
 * interleaved rotary layout llama.cpp expects. */
slm_status slm_model_save_gguf(const slm_model *model, const char *path, const char *weight_type, slm_error *err);

/* Writes a model (gpt2, llama, phi decoders; a bert body), loaded from any
 * format, as a Hugging Face folder dir (created when missing): config.json with
 * the keys transformers reads for the family, and model.safetensors with its
 * tensor names and layouts (GPT-2's Conv1D as (n_in, n_out); Llama's q/k rows in
 * HF's rotate-half order, reordered from a llama2.c or GGUF source's interleaved
 * pairs; quantized matrices dequantized). dtype is "f32", "f16" or "bf16" for
 * every tensor, as save_pretrained does. The tokenizer files of the folder the
 * model was loaded from (tokenizer.json, vocab.json, merges.txt, vocab.txt,
 * tokenizer_config.json, special_tokens_map.json, ...) are copied when the
 * model's tokenizer came from them; a tokenizer read from GGUF or a llama2.c
 * tokenizer.bin is written as tokenizer.json + tokenizer_config.json. */
slm_status slm_model_save_hf(const slm_model *model, const char *dir, const char *dtype, slm_error *err);

/* Writes a llama model as a llama2.c checkpoint (run.c's legacy layout: the
 * 7-int header, negative vocab_size for an unshared classifier, f32 weights with
 * q/k rows in the interleaved rotary layout). Other architectures, and llamas
 * llama2.c cannot express (biases, rope theta or RMSNorm eps other than 10000 and
 * 1e-5, head size other than dim / n_heads), are SLM_ERR_UNSUPPORTED. When the
 * model's tokenizer has a llama2.c form (from tokenizer.bin, a GGUF "llama"
 * vocabulary, or a Llama-style SentencePiece BPE tokenizer.json, whose scores are
 * derived from its merge ranks) it is written beside path as tok<vocab>.bin; see below. */
slm_status slm_model_save_llama2c(const slm_model *model, const char *path, slm_error *err);

/* Where slm_model_save_llama2c(model, path) writes the tokenizer (into out, cap
 * bytes): 1, or 0 when the model's tokenizer has no llama2.c form and none is written. */
int slm_model_llama2c_tokenizer_path(const slm_model *model, const char *path, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
