/* gguf_model.h — GGUF models in and out (gguf_model.c reads, gguf_export.c writes). */
#ifndef SLM_MODELS_GGUF_MODEL_H
#define SLM_MODELS_GGUF_MODEL_H

#include "slm.h"

/* Fills m (architecture, shapes, weights as views into the file) from a GGUF
 * file: general.architecture gpt2, llama or phi2. m->gguf owns the mapping. */
slm_status slm_gguf_model_load(slm_model *m, const char *path, slm_error *err);

#endif
