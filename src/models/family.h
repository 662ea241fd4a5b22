/* family.h — the model's internal layout, shared by the loader (model.c), the
 * forward passes (decoder.c, encoder.c) and the per-family files (gpt2.c,
 * llama.c, bert.c, distilbert.c) that map a checkpoint's config and tensor
 * names onto it. */
#ifndef SLM_MODELS_FAMILY_H
#define SLM_MODELS_FAMILY_H

#include <jansson.h>

#include "core/error.h"
#include "formats/weights.h"
#include "models/layers.h"
#include "models/model.h"

/* One pre-norm decoder block. qkv is used when the checkpoint fuses the three
 * projections (GPT-2's c_attn), else q, k, v. gate is set for SwiGLU MLPs. */
typedef struct {
    slm_norm attn_norm, mlp_norm;
    slm_linear qkv, q, k, v, o;
    slm_linear up, gate, down;
    float attn_scale;
} slm_block;

/* One post-norm encoder layer (BERT, DistilBERT): x = norm(x + o(attention(x)));
 * x = norm(x + down(act(up(x)))). */
typedef struct {
    slm_linear q, k, v, o;
    slm_norm attn_norm;
    slm_linear up, down;
    slm_norm mlp_norm;
} slm_encoder_layer;

/* Everything an encoder has beyond the fields it shares with decoders
 * (tok_embed, pos_embed, sizes, activation). Heads are present when their
 * weight's data is non-NULL; `heads` has bit (1 << slm_head) for each. */
typedef struct {
    int type_vocab_size;
    slm_matrix type_embed;    /* (type_vocab_size, d_model); data NULL for DistilBERT */
    slm_norm embed_norm;
    slm_linear embed_project; /* ALBERT: (d_model, embedding_size) after embed_norm; data NULL when the
                                 embeddings are d_model wide (tok_embed's n_in is their width) */
    slm_encoder_layer *layers; /* n_layers; ALBERT's shared layers are copies of the same views */
    float attn_scale;

    slm_linear pooler;        /* BERT: tanh(dense(hidden[CLS])), (d_model, d_model) */
    slm_linear mlm_transform; /* (d_model, d_model), then mlm_activation and mlm_norm */
    slm_activation mlm_activation;
    slm_norm mlm_norm;
    slm_linear mlm_decoder;   /* (n_vocab, d_model), tied to tok_embed unless stored */
    slm_linear seqcls_pre;    /* DistilBERT's pre_classifier (+ ReLU) on [CLS]; data NULL for BERT */
    slm_linear seqcls;        /* (num_labels, d_model) on the pooler (BERT) or pre_classifier */
    slm_linear tokcls;        /* (num_labels, d_model) per token */
    slm_linear qa;            /* (2, d_model) per token: start, end */
    int heads;

    int num_labels;
    char **labels;            /* num_labels strings: id2label, or "LABEL_i" */
    struct slm_mobilebert *mobilebert; /* MobileBERT's own layers (mobilebert.c), else NULL */
    struct slm_flaubert *flaubert;     /* FlauBERT / XLM settings (flaubert.c), else NULL */
} slm_encoder;

#define SLM_MAX_END_TOKENS 8

struct slm_model {
    char architecture[16];
    int n_vocab, d_model, n_layers, n_heads, n_kv_heads, head_dim, d_ff, n_ctx_train;
    slm_activation activation;
    int use_rope;
    slm_rope rope;
    int parallel_blocks; /* Phi: x + attn(norm(x)) + mlp(norm(x)) from each block's attn_norm alone */

    slm_matrix tok_embed; /* (n_vocab, d_model) */
    slm_matrix pos_embed; /* (n_ctx_train, d_model), data NULL when positions are rotary */
    slm_block *blocks;    /* n_layers */
    slm_norm final_norm;
    slm_linear lm_head;   /* (n_vocab, d_model); shares tok_embed's data when tied */

    int32_t bos;
    int32_t end_tokens[SLM_MAX_END_TOKENS];
    int n_end_tokens;

    int is_encoder;
    slm_encoder encoder; /* when is_encoder */

    slm_weights *weights;
    struct slm_gguf *gguf; /* the GGUF file the weights point into, when loaded from one */
    int gguf_pooling;      /* its bert.pooling_type: 0 none (the folder's modules.json), 1 mean, 2 cls, 3 last */
    slm_tokenizer *tokenizer;
    char dir[4096]; /* the folder it was loaded from */
    float **owned; /* f32 copies of norms and biases */
    int n_owned, cap_owned;
    int64_t n_params;
    size_t weight_bytes;
    char weight_dtype[8];
    int n_quantized; /* matrices of a block-quantized type (Q8_0, Q4_0, ...) */
};

/* Resolves tensors by name with sticky errors: after the first failure every
 * call is a no-op and status/err say what went wrong. Names are tried with
 * each prefix in turn ("transformer." then "" for GPT-2's two key layouts). */
typedef struct {
    slm_model *model;
    const slm_weights *weights;
    const char *source; /* file or folder named in messages */
    const char *prefixes[3];
    /* GGUF: the file's name for an HF-style name (out, cap), or 0 when it has none.
     * NULL for other formats. */
    int (*rename)(const char *name, char *out, size_t cap);
    /* GGUF stores every matrix as (n_out, n_in) rows (llama.cpp transposes GPT-2's
     * Conv1D when converting), so a family's IN_OUT request is read as OUT_IN. */
    int out_in_only;
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
/* Rows (first dimension) of a 2-D tensor, or 0 when absent or not 2-D: for
 * sizes only the checkpoint knows, like the number of classifier labels. */
int slm_loader_rows(slm_loader *ld, const char *name);
/* Records a config error ("config.json: n_head 5 does not divide n_embd 64"). */
void slm_loader_fail(slm_loader *ld, slm_status status, const char *fmt, ...) SLM_PRINTF(3, 4);

/* Config readers: a missing required key is an error naming it. */
int slm_config_int(slm_loader *ld, const json_t *cfg, const char *key, int fallback, int required);
double slm_config_number(slm_loader *ld, const json_t *cfg, const char *key, double fallback);
/* An activation by its config name ("gelu", "gelu_new", "relu", ...) under key. */
slm_activation slm_config_activation(slm_loader *ld, const json_t *cfg, const char *key, const char *fallback);
/* Reads eos_token_id (an int or a list) and bos_token_id into the model. */
void slm_config_special_tokens(slm_model *m, const json_t *cfg);

/* Family loaders: fill the model's shape and weights from config + tensors. */
void slm_gpt2_load(slm_loader *ld, const json_t *cfg);
void slm_llama_load(slm_loader *ld, const json_t *cfg);
void slm_llama2c_load(slm_loader *ld, const slm_llama2c_config *cfg);
/* Phi (phi.c): partial rotary, parallel attention and MLP from one LayerNorm, biased untied head. */
void slm_phi_load(slm_loader *ld, const json_t *cfg);
void slm_bert_load(slm_loader *ld, const json_t *cfg);
void slm_distilbert_load(slm_loader *ld, const json_t *cfg);
/* ALBERT (albert.c): factorized embeddings and layers shared across groups, run by the shared encoder. */
void slm_albert_load(slm_loader *ld, const json_t *cfg);
/* "bert" for a config without model_type whose tensors or architectures say BERT
 * (TinyBERT), "distilbert" likewise, or NULL. */
const char *slm_encoder_family_guess(const json_t *cfg, const slm_weights *weights);

/* ---- encoders (encoder.c) ---- */

/* Checks the sizes read from the config and allocates the layers; 0 on error. */
int slm_encoder_alloc_layers(slm_loader *ld);
/* A LayerNorm named base + ".weight"/".bias", or the legacy ".gamma"/".beta". */
void slm_encoder_norm(slm_loader *ld, const char *base, float eps, slm_norm *out);
/* The same for a LayerNorm of `width` values (ALBERT's embedding_size-wide ones). */
void slm_encoder_norm_sized(slm_loader *ld, const char *base, int width, float eps, slm_norm *out);
/* A linear layer base + ".weight" (n_out, n_in) and ".bias"; absent is fine when optional. */
void slm_encoder_linear(slm_loader *ld, const char *base, int n_in, int n_out, int optional, slm_linear *out);
/* What a BERT-style layer's eight parts are called after the layer's prefix
 * (BERT's "attention.self.query", ALBERT's "attention.query", ...). */
typedef struct {
    const char *query, *key, *value, *attn_output, *attn_norm, *up, *down, *mlp_norm;
} slm_encoder_layer_names;
/* One BERT-style layer, each tensor named prefix + its name: q, k, v, o (d_model, d_model),
 * attn_norm, up (d_ff, d_model), down (d_model, d_ff), mlp_norm. */
void slm_encoder_load_layer(slm_loader *ld, const char *prefix, const slm_encoder_layer_names *names, float eps,
                            slm_encoder_layer *L);
/* A BERT-style masked-LM head: transform + "dense" (d_model to width), the model's
 * activation, transform + "LayerNorm" (width), then the decoder (n_vocab, width) tied
 * to the word embeddings unless the file stores head + ".decoder.weight" and the
 * config unties it; its bias is head + ".bias" or head + ".decoder.bias". */
void slm_encoder_mlm_head(slm_loader *ld, const json_t *cfg, const char *head, const char *transform, int width,
                          float eps);
/* "classifier" (sequence level on the pooler, token level when architectures says
 * TokenClassification or there is no pooler) and "qa_outputs", when present. A
 * sequence classifier without a pooler is an error that names pooler_name. */
void slm_encoder_task_heads(slm_loader *ld, const json_t *cfg, const char *pooler_name);
/* Reads num_labels and id2label from the config (labels sized to the classifier). */
void slm_encoder_labels(slm_loader *ld, const json_t *cfg);
void slm_encoder_free(slm_encoder *e);

/* Per-session encoder scratch, grown to the largest batch seen. */
typedef struct {
    size_t cap_rows, cap_keys, cap_seqs, cap_out;
    float *x, *q, *k, *v, *att, *h, *ff, *scores, *head_out;
    int *row_seq, *row_pos, *seq_first, *seq_keys, *seq_rows;
} slm_encoder_scratch;

void slm_encoder_scratch_free(slm_encoder_scratch *s);
/* Validates the batch and writes the requested output (see slm_session_encode). */
slm_status slm_encoder_run(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s,
                           const slm_batch *batch, slm_encode_output what, float *out, slm_error *err);

/* For a family with its own layer (mobilebert.c), the batch machinery above:
 * validates the batch for `what`, grows the scratch (head_out gets `extra`
 * floats per packed row) and packs it, giving the row count and the
 * per-task attention buffer stride. */
slm_status slm_encoder_prepare(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s, const slm_batch *b,
                               slm_encode_output what, const float *out, size_t extra, int *n_rows,
                               int *buffer_stride, slm_error *err);
/* s->att (N, width) = attention of s->q over s->k, s->v (N, width each, m->n_heads heads of m->head_dim). */
void slm_encoder_attention(const slm_model *m, slm_thread_pool *pool, const slm_encoder_scratch *s, int n_seqs,
                           int buffer_stride, int width);
/* Scatters packed rows of in (N, d_model) through lin (NULL = copied) into out (n_seqs, seq_len, width). */
void slm_encoder_per_token(const slm_model *m, slm_thread_pool *pool, const slm_encoder_scratch *s,
                           const slm_batch *b, const slm_linear *lin, const float *in, int N, int width, float *out);

/* MobileBERT (mobilebert.c): bottlenecked layers with stacked FFNs, run by slm_encoder_run. */
void slm_mobilebert_load(slm_loader *ld, const json_t *cfg);
slm_status slm_mobilebert_run(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s, const slm_batch *b,
                              slm_encode_output what, float *out, slm_error *err);
void slm_mobilebert_free(struct slm_mobilebert *mb);

/* FlauBERT and XLM (flaubert.c): pre- or post-norm layers, masked hidden states, run by slm_encoder_run. */
void slm_flaubert_load(slm_loader *ld, const json_t *cfg, const char *model_type);
slm_status slm_flaubert_run(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s, const slm_batch *b,
                            slm_encode_output what, float *out, slm_error *err);
void slm_flaubert_free(struct slm_flaubert *fb);

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
/* One decode step of n sequences: row i is token ids[i] at position pos[i] of the
 * sequence whose cache is kv[i] (n_layers entries). Projections and MLPs run on the
 * n rows together; s holds n rows and attention scratch of max_ctx scores per task
 * (max_ctx > every pos[i]). Leaves the final-normed rows in s->xn (n, d_model). */
void slm_decoder_forward_rows(const slm_model *m, slm_thread_pool *pool, slm_scratch *s,
                              const slm_kv_layer *const *kv, int max_ctx, const int32_t *ids, const int *pos,
                              int n);

#endif
