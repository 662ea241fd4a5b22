/* model.h — the model and session internals shared by the model families,
 * the task layer (generate) and the CLI. */
#ifndef SLM_MODELS_MODEL_H
#define SLM_MODELS_MODEL_H

#include "slm.h"

/* 1 when id ends generation for this model (eos_token_id from generation_config.json
 * or config.json, which may list several; for llama2.c checkpoints BOS and EOS). */
int slm_model_is_end_token(const slm_model *model, int32_t id);
int slm_model_n_vocab(const slm_model *model);
const slm_model *slm_session_model(const slm_session *session);
/* BOS id the model starts an empty prompt from, or -1. */
int32_t slm_model_bos(const slm_model *model);
slm_status slm_session_forward_last(slm_session *s, const int32_t *ids, size_t n, float *logits_last /* n_vocab */, slm_error *err);

/* A GGUF encoder's pooling (bert.pooling_type: 1 mean, 2 cls, 3 last token), or 0
 * when the model's folder (modules.json) decides. */
int slm_model_gguf_pooling(const slm_model *model);

/* The folder the model was loaded from (for files tasks read: modules.json, 1_Pooling/). */
const char *slm_model_dir(const slm_model *model);

#endif
