/* family.h — the model's internal layout, shared by the loader (model.c), the
 * decoder forward pass (decoder.c) and the per-family files (gpt2.c, llama.c)
 * that map a checkpoint's config and tensor names onto it. */
#ifndef SLM_MODELS_FAMILY_H
#define SLM_MODELS_FAMILY_H

#include <jansson.h>

#include "core/error.h"
#include "formats/weights.h"
#include "models/layers.h"
#include "models/model.h"

typedef enum { SLM_ACT_GELU_TANH, SLM_ACT_GELU_ERF, SLM_ACT_RELU, SLM_ACT_SILU } slm_activation;

/* One pre-norm decoder block. qkv is used when the checkpoint fuses the three
 * projections (GPT-2's c_attn), else q, k, v. gate is set for SwiGLU MLPs. */
typedef struct {
    slm_norm attn_norm, mlp_norm;
    slm_linear qkv, q, k, v, o;
    slm_linear up, gate, down;
    float attn_scale;
} slm_block;

#define SLM_MAX_END_TOKENS 8

struct slm_model {
    char architecture[16];
    int n_vocab, d_model, n_layers, n_heads, n_kv_heads, head_dim, d_ff, n_ctx_train;
    slm_activation activation;
    int use_rope;
    slm_rope rope;

    slm_matrix tok_embed; /* (n_vocab, d_model) */
    slm_matrix pos_embed; /* (n_ctx_train, d_model), data NULL when positions are rotary */
    slm_block *blocks;    /* n_layers */
    slm_norm final_norm;
    slm_linear lm_head;   /* (n_vocab, d_model); shares tok_embed's data when tied */

    int32_t bos;
    int32_t end_tokens[SLM_MAX_END_TOKENS];
    int n_end_tokens;

    slm_weights *weights;
    slm_tokenizer *tokenizer;
    char dir[4096]; /* the folder it was loaded from */
    float **owned; /* f32 copies of norms and biases */
    int n_owned, cap_owned;
    int64_t n_params;
    size_t weight_bytes;
    char weight_dtype[8];
};

/* Resolves tensors by name with sticky errors: after the first failure every
 * call is a no-op and status/err say what went wrong. Names are tried with
 * each prefix in turn ("transformer." then "" for GPT-2's two key layouts). */
typedef struct {
    slm_model *model;
    const slm_weights *weights;
    const char *source; /* file or folder named in messages */
    const char *prefixes[3];
    slm_status status;
    slm_error *err;
} slm_loader;

/* A 2-D weight of the given layout: (n_out, n_in) for OUT_IN, (n_in, n_out) for IN_OUT. */
void slm_loader_matrix(slm_loader *ld, const char *name, slm_layout layout, int n_in, int n_out,
                       slm_matrix *out);
/* A vector of n floats, copied to f32 and owned by the model. optional: absent is not an error. */
const float *slm_loader_vector(slm_loader *ld, const char *name, int n, int optional);
/* Allocates the model's blocks once the config gave their count; 0 on error. */
int slm_loader_blocks(slm_loader *ld);
/* 1 when a tensor of this name exists under one of the prefixes. */
int slm_loader_has(slm_loader *ld, const char *name);
/* Records a config error ("config.json: n_head 5 does not divide n_embd 64"). */
void slm_loader_fail(slm_loader *ld, slm_status status, const char *fmt, ...) SLM_PRINTF(3, 4);

/* Config readers: a missing required key is an error naming it. */
int slm_config_int(slm_loader *ld, const json_t *cfg, const char *key, int fallback, int required);
double slm_config_number(slm_loader *ld, const json_t *cfg, const char *key, double fallback);
/* Reads eos_token_id (an int or a list) and bos_token_id into the model. */
void slm_config_special_tokens(slm_model *m, const json_t *cfg);

/* Family loaders: fill the model's shape and weights from config + tensors. */
void slm_gpt2_load(slm_loader *ld, const json_t *cfg);
void slm_llama_load(slm_loader *ld, const json_t *cfg);
void slm_llama2c_load(slm_loader *ld, const slm_llama2c_config *cfg);

/* ---- the forward pass (decoder.c) ---- */

/* Scratch sized for chunks of up to max_T tokens. */
typedef struct {
    int max_T;
    float *x, *xn, *qkv, *qkv_split, *att, *hb, *hb2, *att_scratch;
} slm_scratch;

slm_status slm_scratch_init(slm_scratch *s, const slm_model *m, int max_T, int n_ctx, int n_tasks,
                            slm_error *err);
void slm_scratch_free(slm_scratch *s);

/* Runs T tokens at positions pos0.. through the blocks, storing K/V in kv
 * (n_layers entries); leaves the final-normed hidden state in s->xn (T, d_model). */
void slm_decoder_forward(const slm_model *m, slm_thread_pool *pool, slm_scratch *s,
                         const slm_kv_layer *kv, int n_ctx, const int32_t *ids, int T, int pos0);

#endif
