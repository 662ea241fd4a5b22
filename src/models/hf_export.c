/* hf_export.c — writing a loaded model as a Hugging Face folder that
 * transformers' from_pretrained (and slm) load: config.json with the keys the
 * family's config class reads, model.safetensors with save_pretrained's tensor
 * names and layouts, and the tokenizer files of the source folder.
 *
 * The tensors come from the model's own fields, so every source converts the
 * same way (HF folder, pytorch_model.bin, llama2.c, GGUF incl. quantized types,
 * which are dequantized). Layouts that differ from slm's (n_out, n_in) rows:
 *   GPT-2's Conv1D weights are (n_in, n_out);
 *   Llama's q/k rows rotate halves in HF; a llama2.c or GGUF source holds
 *   Meta's interleaved pairs, so its rows are reordered back;
 *   Phi's fused attn_qkv (phi2 GGUF from phi-2's first layout) is split into
 *   q_proj, k_proj and v_proj.
 * Tokenizer: the source folder's tokenizer files are copied byte for byte when
 * the model's tokenizer was read from them. A tokenizer that came from GGUF
 * metadata or a llama2.c tokenizer.bin is written as tokenizer.json +
 * tokenizer_config.json (tokenizers/hf_tokenizer_write.c) when slm reads that
 * kind back (slm_tokenizer_hf_reloadable): byte-level BPE (GGUF gpt2), WordPiece
 * (GGUF bert) and SentencePiece BPE (llama2.c tokenizer.bin, GGUF llama) in
 * LlamaTokenizerFast's layout, which hf_load.c reads back to the same ids. A
 * SentencePiece BPE lacking BOS, <unk> or any of the 256 byte tokens is not
 * written; that folder, like one whose model was loaded without a tokenizer,
 * gets none. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/safetensors_write.h"
#include "models/export.h"
#include "models/family.h"
#include "slm_convert.h"
#include "tokenizers/hf_tokenizer_write.h"
#include "tokenizers/tokenizer.h"

/* One tensor of the file: a vector, rows of a matrix, or zeros (a bias HF has and
 * the source lacks). */
typedef struct {
    char name[96];
    int64_t rows, cols;       /* logical (n_out, n_in) rows taken; cols 0 for a vector of rows values */
    const float *vector;      /* a vector of rows floats */
    const slm_matrix *matrix; /* else rows [row0, row0 + rows) of this matrix; neither: zeros */
    int row0;
    int unpermute_head_dim;   /* interleaved -> rotate-half within heads of this many rows; 0 none */
    int transposed;           /* written (n_in, n_out): GPT-2's Conv1D */
} planned;

typedef struct {
    const slm_model *m;
    slm_dtype dtype;
    planned *items;
    int n, cap;
    float *row; /* scratch of the widest row */
    slm_status status;
    slm_error *err;
} plan;

static planned *plan_add(plan *p, const char *name) {
    if (p->status) return NULL;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        planned *items = realloc(p->items, (size_t)cap * sizeof *items);
        if (!items) {
            p->status = slm_fail(p->err, SLM_ERR_OUT_OF_MEMORY, "safetensors tensor list");
            return NULL;
        }
        p->items = items;
        p->cap = cap;
    }
    planned *t = &p->items[p->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

/* A vector of n floats; v NULL writes zeros. */
static void add_vector(plan *p, const char *name, const float *v, int n, int unpermute_head_dim) {
    planned *t = plan_add(p, name);
    if (!t) return;
    t->rows = n;
    t->vector = v;
    t->unpermute_head_dim = unpermute_head_dim;
}

/* Rows [row0, row0 + rows) of w as an nn.Linear weight (or transposed, Conv1D). */
static void add_rows(plan *p, const char *name, const slm_matrix *w, int row0, int rows, int unpermute_head_dim,
                     int transposed) {
    planned *t = plan_add(p, name);
    if (!t) return;
    t->rows = rows;
    t->cols = w->n_in;
    t->matrix = w;
    t->row0 = row0;
    t->unpermute_head_dim = unpermute_head_dim;
    t->transposed = transposed;
}

static void add_matrix(plan *p, const char *name, const slm_matrix *w) { add_rows(p, name, w, 0, w->n_out, 0, 0); }

/* base.weight and base.bias of a linear layer; write_bias: the bias is written
 * (zeros when the source has none), else it must be absent. */
static void add_linear(plan *p, const char *base, const slm_linear *l, int unpermute_head_dim, int transposed,
                       int write_bias) {
    char name[96];
    snprintf(name, sizeof name, "%s.weight", base);
    add_rows(p, name, &l->w, 0, l->w.n_out, unpermute_head_dim, transposed);
    snprintf(name, sizeof name, "%s.bias", base);
    if (write_bias) add_vector(p, name, l->bias, l->w.n_out, unpermute_head_dim);
}

static void add_norm(plan *p, const char *base, const slm_norm *n, int width) {
    char name[96];
    snprintf(name, sizeof name, "%s.weight", base);
    add_vector(p, name, n->weight, width, 0);
    if (!n->bias) return;
    snprintf(name, sizeof name, "%s.bias", base);
    add_vector(p, name, n->bias, width, 0);
}

/* ---- writing one planned tensor in the file's dtype ---- */

static size_t element_size(slm_dtype dtype) { return dtype == SLM_DTYPE_F32 ? 4 : 2; }

static void store(slm_dtype dtype, void *dst, size_t i, float v) {
    if (dtype == SLM_DTYPE_F32)
        ((float *)dst)[i] = v;
    else if (dtype == SLM_DTYPE_F16)
        ((uint16_t *)dst)[i] = slm_f32_to_f16(v);
    else
        ((uint16_t *)dst)[i] = slm_f32_to_bf16(v);
}

static void fill_vector(const plan *p, const planned *t, void *dst) {
    for (int64_t j = 0; j < t->rows; j++) {
        float v = t->vector ? t->vector[slm_halves_from_interleaved((int)j, t->unpermute_head_dim)] : 0.0f;
        store(p->dtype, dst, (size_t)j, v);
    }
}

static void fill_matrix(const plan *p, const planned *t, void *dst) {
    size_t cols = (size_t)t->cols, rows = (size_t)t->rows;
    for (size_t r = 0; r < rows; r++) {
        int source = t->row0 + slm_halves_from_interleaved((int)r, t->unpermute_head_dim);
        slm_matrix_row(t->matrix, source, p->row);
        for (size_t i = 0; i < cols; i++) store(p->dtype, dst, t->transposed ? i * rows + r : r * cols + i, p->row[i]);
    }
}

static slm_status fill(int index, void *buf, size_t nbytes, void *user_data, slm_error *err) {
    (void)err;
    const plan *p = user_data;
    const planned *t = &p->items[index];
    (void)nbytes; /* the plan sized it */
    if (t->matrix)
        fill_matrix(p, t, buf);
    else
        fill_vector(p, t, buf);
    return SLM_OK;
}

/* ---- the families' names (what save_pretrained writes) ---- */

static void plan_gpt2(plan *p) {
    const slm_model *m = p->m;
    char base[96];
    add_matrix(p, "transformer.wte.weight", &m->tok_embed);
    add_matrix(p, "transformer.wpe.weight", &m->pos_embed);
    for (int l = 0; l < m->n_layers; l++) {
        const slm_block *b = &m->blocks[l];
#define GPT2_PART(part) (snprintf(base, sizeof base, "transformer.h.%d.%s", l, part), base)
        add_norm(p, GPT2_PART("ln_1"), &b->attn_norm, m->d_model);
        add_linear(p, GPT2_PART("attn.c_attn"), &b->qkv, 0, 1, 1);
        add_linear(p, GPT2_PART("attn.c_proj"), &b->o, 0, 1, 1);
        add_norm(p, GPT2_PART("ln_2"), &b->mlp_norm, m->d_model);
        add_linear(p, GPT2_PART("mlp.c_fc"), &b->up, 0, 1, 1);
        add_linear(p, GPT2_PART("mlp.c_proj"), &b->down, 0, 1, 1);
#undef GPT2_PART
    }
    add_norm(p, "transformer.ln_f", &m->final_norm, m->d_model);
    if (m->lm_head.w.data != m->tok_embed.data) add_matrix(p, "lm_head.weight", &m->lm_head.w);
}

/* 1 when any block has a bias on one of the linears picked by offset. */
static int any_bias(const slm_model *m, const size_t *offsets, int n) {
    for (int l = 0; l < m->n_layers; l++)
        for (int k = 0; k < n; k++)
            if (((const slm_linear *)((const char *)&m->blocks[l] + offsets[k]))->bias) return 1;
    return 0;
}

static const size_t attention_linears[] = {offsetof(slm_block, q), offsetof(slm_block, k), offsetof(slm_block, v),
                                           offsetof(slm_block, o)};
static const size_t mlp_linears[] = {offsetof(slm_block, gate), offsetof(slm_block, up), offsetof(slm_block, down)};

static void plan_llama(plan *p) {
    const slm_model *m = p->m;
    /* HF rotates halves: rows of a llama2.c or GGUF source (interleaved) go back. */
    int unpermute = m->rope.interleaved ? m->head_dim : 0;
    int attention_bias = any_bias(m, attention_linears, 4), mlp_bias = any_bias(m, mlp_linears, 3);
    char base[96];
    add_matrix(p, "model.embed_tokens.weight", &m->tok_embed);
    for (int l = 0; l < m->n_layers; l++) {
        const slm_block *b = &m->blocks[l];
#define LLAMA_PART(part) (snprintf(base, sizeof base, "model.layers.%d.%s", l, part), base)
        add_norm(p, LLAMA_PART("input_layernorm"), &b->attn_norm, m->d_model);
        add_linear(p, LLAMA_PART("self_attn.q_proj"), &b->q, unpermute, 0, attention_bias);
        add_linear(p, LLAMA_PART("self_attn.k_proj"), &b->k, unpermute, 0, attention_bias);
        add_linear(p, LLAMA_PART("self_attn.v_proj"), &b->v, 0, 0, attention_bias);
        add_linear(p, LLAMA_PART("self_attn.o_proj"), &b->o, 0, 0, attention_bias);
        add_norm(p, LLAMA_PART("post_attention_layernorm"), &b->mlp_norm, m->d_model);
        add_linear(p, LLAMA_PART("mlp.gate_proj"), &b->gate, 0, 0, mlp_bias);
        add_linear(p, LLAMA_PART("mlp.up_proj"), &b->up, 0, 0, mlp_bias);
        add_linear(p, LLAMA_PART("mlp.down_proj"), &b->down, 0, 0, mlp_bias);
#undef LLAMA_PART
    }
    add_norm(p, "model.norm", &m->final_norm, m->d_model);
    if (m->lm_head.w.data != m->tok_embed.data) add_matrix(p, "lm_head.weight", &m->lm_head.w);
}

/* q_proj, k_proj, v_proj of a Phi block: its own three, or row slices of a fused qkv. */
static void plan_phi_attention(plan *p, const slm_block *b, int l) {
    const slm_model *m = p->m;
    int qw = m->n_heads * m->head_dim, kw = m->n_kv_heads * m->head_dim;
    static const char *const parts[3] = {"q_proj", "k_proj", "v_proj"};
    const slm_linear *separate[3] = {&b->q, &b->k, &b->v};
    int row0[3] = {0, qw, qw + kw}, rows[3] = {qw, kw, kw};
    for (int k = 0; k < 3; k++) {
        char name[96];
        const slm_linear *lin = b->qkv.w.data ? &b->qkv : separate[k];
        int first = b->qkv.w.data ? row0[k] : 0;
        snprintf(name, sizeof name, "model.layers.%d.self_attn.%s.weight", l, parts[k]);
        add_rows(p, name, &lin->w, first, rows[k], 0, 0);
        snprintf(name, sizeof name, "model.layers.%d.self_attn.%s.bias", l, parts[k]);
        add_vector(p, name, lin->bias ? lin->bias + first : NULL, rows[k], 0);
    }
}

static void plan_phi(plan *p) {
    const slm_model *m = p->m;
    char base[96];
    add_matrix(p, "model.embed_tokens.weight", &m->tok_embed);
    for (int l = 0; l < m->n_layers; l++) {
        const slm_block *b = &m->blocks[l];
#define PHI_PART(part) (snprintf(base, sizeof base, "model.layers.%d.%s", l, part), base)
        add_norm(p, PHI_PART("input_layernorm"), &b->attn_norm, m->d_model);
        plan_phi_attention(p, b, l);
        add_linear(p, PHI_PART("self_attn.dense"), &b->o, 0, 0, 1);
        add_linear(p, PHI_PART("mlp.fc1"), &b->up, 0, 0, 1);
        add_linear(p, PHI_PART("mlp.fc2"), &b->down, 0, 0, 1);
#undef PHI_PART
    }
    add_norm(p, "model.final_layernorm", &m->final_norm, m->d_model);
    if (m->lm_head.w.data != m->tok_embed.data) add_matrix(p, "lm_head.weight", &m->lm_head.w);
    add_vector(p, "lm_head.bias", m->lm_head.bias, m->n_vocab, 0);
}

/* BertModel: embeddings, encoder layers and the pooler when present (no heads). */
static void plan_bert(plan *p) {
    const slm_model *m = p->m;
    const slm_encoder *e = &m->encoder;
    char base[96];
    add_matrix(p, "embeddings.word_embeddings.weight", &m->tok_embed);
    add_matrix(p, "embeddings.position_embeddings.weight", &m->pos_embed);
    add_matrix(p, "embeddings.token_type_embeddings.weight", &e->type_embed);
    add_norm(p, "embeddings.LayerNorm", &e->embed_norm, m->d_model);
    for (int l = 0; l < m->n_layers; l++) {
        const slm_encoder_layer *L = &e->layers[l];
#define BERT_PART(part) (snprintf(base, sizeof base, "encoder.layer.%d.%s", l, part), base)
        add_linear(p, BERT_PART("attention.self.query"), &L->q, 0, 0, 1);
        add_linear(p, BERT_PART("attention.self.key"), &L->k, 0, 0, 1);
        add_linear(p, BERT_PART("attention.self.value"), &L->v, 0, 0, 1);
        add_linear(p, BERT_PART("attention.output.dense"), &L->o, 0, 0, 1);
        add_norm(p, BERT_PART("attention.output.LayerNorm"), &L->attn_norm, m->d_model);
        add_linear(p, BERT_PART("intermediate.dense"), &L->up, 0, 0, 1);
        add_linear(p, BERT_PART("output.dense"), &L->down, 0, 0, 1);
        add_norm(p, BERT_PART("output.LayerNorm"), &L->mlp_norm, m->d_model);
#undef BERT_PART
    }
    if (e->pooler.w.data) add_linear(p, "pooler.dense", &e->pooler, 0, 0, 1);
}

/* ---- config.json ---- */

/* The shortest decimal that reads back as f, so 1e-5f is written 1e-05 rather
 * than its double expansion 9.99999974737875e-06. */
static json_t *json_float(float f) {
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)f);
        if (strtof(text, NULL) == f) break;
    }
    return json_real(strtod(text, NULL));
}

static void set_int(json_t *cfg, const char *key, long long v) { json_object_set_new(cfg, key, json_integer(v)); }

static const char *activation_name(slm_activation a) {
    switch (a) {
    case SLM_ACT_GELU_TANH: return "gelu_new";
    case SLM_ACT_GELU_ERF: return "gelu";
    case SLM_ACT_RELU: return "relu";
    case SLM_ACT_SILU: return "silu";
    }
    return "gelu_new";
}

static const char *torch_dtype_name(slm_dtype dtype) {
    return dtype == SLM_DTYPE_F32 ? "float32" : dtype == SLM_DTYPE_F16 ? "float16" : "bfloat16";
}

/* bos_token_id and eos_token_id (an int, or a list when several tokens end generation). */
static void set_special_tokens(json_t *cfg, const slm_model *m) {
    int32_t bos = slm_model_bos(m);
    if (bos >= 0) set_int(cfg, "bos_token_id", bos);
    if (m->n_end_tokens > 1) {
        json_t *list = json_array();
        for (int i = 0; i < m->n_end_tokens; i++) json_array_append_new(list, json_integer(m->end_tokens[i]));
        json_object_set_new(cfg, "eos_token_id", list);
    } else if (m->n_end_tokens == 1) {
        set_int(cfg, "eos_token_id", m->end_tokens[0]);
    } else if (m->tokenizer && slm_tokenizer_eos(m->tokenizer) >= 0) {
        set_int(cfg, "eos_token_id", slm_tokenizer_eos(m->tokenizer));
    }
}

/* The rope block transformers 5 reads (rope_parameters) beside the older top-level keys. */
static void set_rope(json_t *cfg, const slm_model *m, int with_factor) {
    json_t *rope = json_object();
    json_object_set_new(rope, "rope_type", json_string("default"));
    json_object_set_new(rope, "rope_theta", json_float(m->rope.theta));
    json_object_set_new(cfg, "rope_theta", json_float(m->rope.theta));
    if (with_factor) {
        float factor = (float)m->rope.rot_dim / (float)m->head_dim;
        json_object_set_new(rope, "partial_rotary_factor", json_float(factor));
        json_object_set_new(cfg, "partial_rotary_factor", json_float(factor));
    }
    json_object_set_new(cfg, "rope_parameters", rope);
}

/* GPT-2's scale_attn_weights and scale_attn_by_inverse_layer_idx, found from the
 * blocks' scales as gpt2.c computes them; 0 when no combination gives them. */
static int gpt2_scaling(const slm_model *m, int *scale, int *by_layer) {
    for (int option = 0; option < 4; option++) {
        int s = option & 1, by = option >> 1, all = 1;
        for (int l = 0; l < m->n_layers && all; l++) {
            float want = s ? 1.0f / sqrtf((float)m->head_dim) : 1.0f;
            if (by) want = want / (float)(l + 1);
            all = m->blocks[l].attn_scale == want;
        }
        if (all) {
            *scale = s;
            *by_layer = by;
            return 1;
        }
    }
    return 0;
}

static void config_gpt2(json_t *cfg, const slm_model *m) {
    int scale = 1, by_layer = 0;
    gpt2_scaling(m, &scale, &by_layer);
    set_int(cfg, "n_embd", m->d_model);
    set_int(cfg, "n_layer", m->n_layers);
    set_int(cfg, "n_head", m->n_heads);
    set_int(cfg, "n_positions", m->n_ctx_train);
    set_int(cfg, "n_inner", m->d_ff);
    json_object_set_new(cfg, "activation_function", json_string(activation_name(m->activation)));
    json_object_set_new(cfg, "layer_norm_epsilon", json_float(m->final_norm.eps));
    json_object_set_new(cfg, "scale_attn_weights", json_boolean(scale));
    json_object_set_new(cfg, "scale_attn_by_inverse_layer_idx", json_boolean(by_layer));
    json_object_set_new(cfg, "reorder_and_upcast_attn", json_false());
}

static void config_decoder_sizes(json_t *cfg, const slm_model *m) {
    set_int(cfg, "hidden_size", m->d_model);
    set_int(cfg, "intermediate_size", m->d_ff);
    set_int(cfg, "num_hidden_layers", m->n_layers);
    set_int(cfg, "num_attention_heads", m->n_heads);
    set_int(cfg, "num_key_value_heads", m->n_kv_heads);
    set_int(cfg, "max_position_embeddings", m->n_ctx_train);
    json_object_set_new(cfg, "hidden_act", json_string(activation_name(m->activation)));
}

static void config_llama(json_t *cfg, const slm_model *m) {
    config_decoder_sizes(cfg, m);
    set_int(cfg, "head_dim", m->head_dim);
    json_object_set_new(cfg, "rms_norm_eps", json_float(m->final_norm.eps));
    set_rope(cfg, m, 0);
    json_object_set_new(cfg, "attention_bias", json_boolean(any_bias(m, attention_linears, 4)));
    json_object_set_new(cfg, "mlp_bias", json_boolean(any_bias(m, mlp_linears, 3)));
    set_int(cfg, "pretraining_tp", 1);
}

static void config_phi(json_t *cfg, const slm_model *m) {
    config_decoder_sizes(cfg, m);
    json_object_set_new(cfg, "layer_norm_eps", json_float(m->final_norm.eps));
    set_rope(cfg, m, 1);
    json_object_set_new(cfg, "qk_layernorm", json_false());
}

static void config_bert(json_t *cfg, const slm_model *m) {
    set_int(cfg, "hidden_size", m->d_model);
    set_int(cfg, "intermediate_size", m->d_ff);
    set_int(cfg, "num_hidden_layers", m->n_layers);
    set_int(cfg, "num_attention_heads", m->n_heads);
    set_int(cfg, "max_position_embeddings", m->n_ctx_train);
    set_int(cfg, "type_vocab_size", m->encoder.type_vocab_size);
    json_object_set_new(cfg, "hidden_act", json_string(activation_name(m->activation)));
    json_object_set_new(cfg, "layer_norm_eps", json_float(m->encoder.embed_norm.eps));
    json_object_set_new(cfg, "position_embedding_type", json_string("absolute"));
}

static json_t *build_config(const slm_model *m, slm_dtype dtype) {
    static const struct {
        const char *family, *architecture;
        void (*fill)(json_t *, const slm_model *);
    } families[] = {{"gpt2", "GPT2LMHeadModel", config_gpt2},
                    {"llama", "LlamaForCausalLM", config_llama},
                    {"phi", "PhiForCausalLM", config_phi},
                    {"bert", "BertModel", config_bert}};
    json_t *cfg = json_object();
    for (size_t i = 0; cfg && i < sizeof families / sizeof *families; i++) {
        if (strcmp(m->architecture, families[i].family) != 0) continue;
        json_t *architectures = json_array();
        json_array_append_new(architectures, json_string(families[i].architecture));
        json_object_set_new(cfg, "architectures", architectures);
        json_object_set_new(cfg, "model_type", json_string(families[i].family));
        set_int(cfg, "vocab_size", m->n_vocab);
        if (!m->is_encoder)
            json_object_set_new(cfg, "tie_word_embeddings", json_boolean(m->lm_head.w.data == m->tok_embed.data));
        set_special_tokens(cfg, m);
        /* transformers 5 reads "dtype", 4.x "torch_dtype". */
        json_object_set_new(cfg, "dtype", json_string(torch_dtype_name(dtype)));
        json_object_set_new(cfg, "torch_dtype", json_string(torch_dtype_name(dtype)));
        families[i].fill(cfg, m);
    }
    return cfg;
}

/* ---- what the families' HF classes can express ---- */

static slm_status check_decoder(const slm_model *m, slm_error *err) {
    const char *a = m->architecture;
    for (int l = 0; l < m->n_layers; l++) {
        const slm_block *b = &m->blocks[l];
        if (b->attn_norm.eps != m->final_norm.eps || (b->mlp_norm.weight && b->mlp_norm.eps != m->final_norm.eps))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d's norm eps differs from the final norm's; %s's "
                            "config has one", m->dir, l, a);
        if (!strcmp(a, "gpt2") && (!b->qkv.w.data || !b->mlp_norm.weight || !m->pos_embed.data))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d is not GPT-2's (fused c_attn, ln_2, wpe)", m->dir, l);
        if (!strcmp(a, "llama") && (b->qkv.w.data || !b->gate.w.data || !b->mlp_norm.weight))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d is not Llama's (q, k, v, SwiGLU)", m->dir, l);
        if (strcmp(a, "gpt2") != 0 && b->attn_scale != 1.0f / sqrtf((float)m->head_dim))
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d scales attention by %g, not 1/sqrt(head_dim)",
                            m->dir, l, b->attn_scale);
    }
    int scale, by_layer;
    if (!strcmp(a, "gpt2") && !gpt2_scaling(m, &scale, &by_layer))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: GPT-2 attention scales match no scale_attn_* setting", m->dir);
    if (!strcmp(a, "phi") && (!m->parallel_blocks || m->rope.interleaved || m->n_heads * m->head_dim != m->d_model))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: not a PhiForCausalLM layout (parallel blocks, rotate-half, "
                        "head_dim = hidden_size / heads)", m->dir);
    if (!strcmp(a, "llama") && m->rope.rot_dim != m->head_dim)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: Llama rotating %d of %d dims", m->dir, m->rope.rot_dim, m->head_dim);
    return SLM_OK;
}

static slm_status check_bert(const slm_model *m, slm_error *err) {
    const slm_encoder *e = &m->encoder;
    if (e->mobilebert || e->flaubert || e->embed_project.w.data || !e->type_embed.data || !m->pos_embed.data)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: not a BertModel layout", m->dir);
    for (int l = 0; l < m->n_layers; l++)
        if (e->layers[l].attn_norm.eps != e->embed_norm.eps || e->layers[l].mlp_norm.eps != e->embed_norm.eps)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d's LayerNorm eps differs; BERT's config has one",
                            m->dir, l);
    if (e->attn_scale != 1.0f / sqrtf((float)m->head_dim))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: attention scaled by %g, not 1/sqrt(head_dim)", m->dir,
                        e->attn_scale);
    return SLM_OK;
}

static slm_status check_exportable(const slm_model *m, slm_error *err) {
    const char *a = m->architecture;
    int decoder = !m->is_encoder && (!strcmp(a, "gpt2") || !strcmp(a, "llama") || !strcmp(a, "phi"));
    if (decoder) return check_decoder(m, err);
    if (m->is_encoder && !strcmp(a, "bert")) return check_bert(m, err);
    return slm_fail(err, SLM_ERR_UNSUPPORTED,
                    "%s: writing a Hugging Face folder is supported for gpt2, llama, phi and bert, not %s", m->dir, a);
}

/* ---- files ---- */

static slm_status make_folder(const char *dir, slm_error *err) {
    struct stat st;
    if (mkdir(dir, 0777) == 0) return SLM_OK;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return SLM_OK;
    return slm_fail(err, SLM_ERR_IO, "%s: cannot create the folder: %s", dir,
                    errno == EEXIST ? "a file of that name exists" : strerror(errno));
}

static slm_status copy_file(const char *from, const char *to, slm_error *err) {
    size_t len = 0;
    char *data = slm_read_file(from, &len, err);
    if (!data) return err ? err->status : SLM_ERR_IO;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(data);
    if (!ok) {
        if (f) remove(to);
        return slm_fail(err, SLM_ERR_IO, "%s: cannot write: %s", to, strerror(errno));
    }
    return SLM_OK;
}

/* The source folder's tokenizer files, when the model's tokenizer was read from
 * them; a tokenizer from GGUF metadata or llama2.c's tokenizer.bin is written
 * (the file comment says which kinds). */
static slm_status copy_tokenizer(const slm_model *m, const char *dir, slm_error *err) {
    static const char *const files[] = {"tokenizer.json",     "tokenizer_config.json", "special_tokens_map.json",
                                        "vocab.json",         "merges.txt",            "vocab.txt",
                                        "added_tokens.json",  "spiece.model",          "tokenizer.model",
                                        "sentencepiece.bpe.model"};
    if (!m->tokenizer) return SLM_OK;
    if (m->gguf || slm_tokenizer_is_llama2c(m->tokenizer)) /* not from Hugging Face files: written */
        return slm_tokenizer_hf_reloadable(m->tokenizer) ? slm_tokenizer_save_hf(m->tokenizer, dir, err) : SLM_OK;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char from[4200], to[4200];
        struct stat st;
        snprintf(from, sizeof from, "%s/%s", m->dir, files[i]);
        if (stat(from, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        snprintf(to, sizeof to, "%s/%s", dir, files[i]);
        slm_status status = copy_file(from, to, err);
        if (status) return status;
    }
    return SLM_OK;
}

static int parse_dtype(const char *name, slm_dtype *out) {
    static const slm_dtype types[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
    for (size_t i = 0; name && i < 3; i++)
        if (!strcmp(name, slm_dtype_name(types[i]))) {
            *out = types[i];
            return 1;
        }
    return 0;
}

static void plan_tensors(plan *p) {
    const char *a = p->m->architecture;
    if (!strcmp(a, "gpt2")) plan_gpt2(p);
    else if (!strcmp(a, "llama")) plan_llama(p);
    else if (!strcmp(a, "phi")) plan_phi(p);
    else plan_bert(p);
}

static slm_status write_weights(const slm_model *m, const char *path, slm_dtype dtype, slm_error *err) {
    plan p = {.m = m, .dtype = dtype, .err = err};
    plan_tensors(&p);
    int widest = 1;
    slm_tensor_view *views = p.status ? NULL : calloc((size_t)p.n + 1, sizeof *views);
    if (!p.status && !views) p.status = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "safetensors tensor list");
    for (int i = 0; !p.status && i < p.n; i++) {
        const planned *t = &p.items[i];
        slm_tensor_view *v = &views[i];
        v->name = t->name;
        v->dtype = dtype;
        v->ndim = t->cols ? 2 : 1;
        v->shape[0] = t->transposed ? t->cols : t->rows;
        v->shape[1] = t->transposed ? t->rows : t->cols;
        v->nbytes = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1) * element_size(dtype);
        if (t->cols > widest) widest = (int)t->cols;
    }
    if (!p.status) p.row = malloc((size_t)widest * sizeof(float));
    if (!p.status && !p.row) p.status = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "row buffer");
    static const char *const metadata[] = {"format", "pt", NULL};
    if (!p.status) p.status = slm_safetensors_write_with(path, views, p.n, metadata, fill, &p, err);
    free(p.row);
    free(views);
    free(p.items);
    return p.status;
}

static slm_status write_config(const slm_model *m, const char *path, slm_dtype dtype, slm_error *err) {
    json_t *cfg = build_config(m, dtype);
    int rc = cfg ? json_dump_file(cfg, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : -1;
    json_decref(cfg);
    return rc ? slm_fail(err, SLM_ERR_IO, "%s: cannot write: %s", path, strerror(errno)) : SLM_OK;
}

slm_status slm_model_save_hf(const slm_model *m, const char *dir, const char *dtype, slm_error *err) {
    slm_error_clear(err);
    if (!m || !dir) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "model or folder is NULL");
    slm_dtype type;
    if (!parse_dtype(dtype, &type))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "dtype \"%s\": expected f32, f16 or bf16",
                        dtype ? dtype : "(null)");
    slm_status st = check_exportable(m, err);
    if (st) return st;
    st = make_folder(dir, err);
    if (st) return st;
    char weights[4200], config[4200];
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    snprintf(config, sizeof config, "%s/config.json", dir);
    /* The source folder itself: its files are mapped (weights) or would be copied onto themselves. */
    if (slm_same_file(dir, m->dir) || slm_model_is_source_file(m, weights))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: the model is loaded from this folder; write elsewhere", dir);
    st = write_weights(m, weights, type, err);
    if (!st) st = write_config(m, config, type, err);
    if (!st) st = copy_tokenizer(m, dir, err);
    return st;
}
