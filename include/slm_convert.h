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

#ifdef __cplusplus
}
#endif
#endif
