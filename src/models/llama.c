/* llama.c — Llama (LlamaForCausalLM and llama2.c checkpoints): RMSNorm,
 * rotary positions, grouped-query attention, SwiGLU MLP, tied or untied head.
 * HF checkpoints rotate halves of each head; llama2.c (Meta's layout) rotates
 * interleaved pairs, so the same weights-as-stored work with the right rope. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/family.h"

static void load_block(slm_loader *ld, slm_block *b, int l, float eps, int attention_bias, int mlp_bias) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff, qw = m->n_heads * m->head_dim, kw = m->n_kv_heads * m->head_dim;
    char name[128];
#define LLAMA_NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), name)
    b->attn_norm.weight = slm_loader_vector(ld, LLAMA_NAME("input_layernorm.weight"), d, 0);
    b->attn_norm.eps = eps;
    slm_loader_matrix(ld, LLAMA_NAME("self_attn.q_proj.weight"), SLM_LAYOUT_OUT_IN, d, qw, &b->q.w);
    slm_loader_matrix(ld, LLAMA_NAME("self_attn.k_proj.weight"), SLM_LAYOUT_OUT_IN, d, kw, &b->k.w);
    slm_loader_matrix(ld, LLAMA_NAME("self_attn.v_proj.weight"), SLM_LAYOUT_OUT_IN, d, kw, &b->v.w);
    slm_loader_matrix(ld, LLAMA_NAME("self_attn.o_proj.weight"), SLM_LAYOUT_OUT_IN, qw, d, &b->o.w);
    if (attention_bias) {
        b->q.bias = slm_loader_vector(ld, LLAMA_NAME("self_attn.q_proj.bias"), qw, 0);
        b->k.bias = slm_loader_vector(ld, LLAMA_NAME("self_attn.k_proj.bias"), kw, 0);
        b->v.bias = slm_loader_vector(ld, LLAMA_NAME("self_attn.v_proj.bias"), kw, 0);
        b->o.bias = slm_loader_vector(ld, LLAMA_NAME("self_attn.o_proj.bias"), d, 0);
    }
    b->mlp_norm.weight = slm_loader_vector(ld, LLAMA_NAME("post_attention_layernorm.weight"), d, 0);
    b->mlp_norm.eps = eps;
    slm_loader_matrix(ld, LLAMA_NAME("mlp.gate_proj.weight"), SLM_LAYOUT_OUT_IN, d, ff, &b->gate.w);
    slm_loader_matrix(ld, LLAMA_NAME("mlp.up_proj.weight"), SLM_LAYOUT_OUT_IN, d, ff, &b->up.w);
    slm_loader_matrix(ld, LLAMA_NAME("mlp.down_proj.weight"), SLM_LAYOUT_OUT_IN, ff, d, &b->down.w);
    if (mlp_bias) {
        b->gate.bias = slm_loader_vector(ld, LLAMA_NAME("mlp.gate_proj.bias"), ff, 0);
        b->up.bias = slm_loader_vector(ld, LLAMA_NAME("mlp.up_proj.bias"), ff, 0);
        b->down.bias = slm_loader_vector(ld, LLAMA_NAME("mlp.down_proj.bias"), d, 0);
    }
    b->attn_scale = 1.0f / sqrtf((float)m->head_dim);
#undef LLAMA_NAME
}

/* Shape checks common to both sources; returns 0 after recording an error. */
static int check_heads(slm_loader *ld) {
    slm_model *m = ld->model;
    if (m->n_heads == 0 || m->n_kv_heads == 0 || m->n_heads % m->n_kv_heads != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config: %d key/value heads do not divide %d attention heads",
                        m->n_kv_heads, m->n_heads);
        return 0;
    }
    if (m->head_dim == 0 || m->head_dim % 2 != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config: head_dim %d must be even for rotary embeddings", m->head_dim);
        return 0;
    }
    return 1;
}

static void load_layers_and_head(slm_loader *ld, float eps, int tied, int attention_bias, int mlp_bias) {
    slm_model *m = ld->model;
    m->activation = SLM_ACT_SILU;
    m->use_rope = 1;
    m->rope.rot_dim = m->head_dim;
    slm_loader_matrix(ld, "model.embed_tokens.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &m->tok_embed);
    for (int l = 0; l < m->n_layers && !ld->status; l++)
        load_block(ld, &m->blocks[l], l, eps, attention_bias, mlp_bias);
    m->final_norm.weight = slm_loader_vector(ld, "model.norm.weight", m->d_model, 0);
    m->final_norm.eps = eps;
    if (tied)
        m->lm_head.w = m->tok_embed;
    else
        slm_loader_matrix(ld, "lm_head.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &m->lm_head.w);
}

void slm_llama_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    snprintf(m->architecture, sizeof m->architecture, "llama");
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 0, 1);
    m->d_model = slm_config_int(ld, cfg, "hidden_size", 0, 1);
    m->n_layers = slm_config_int(ld, cfg, "num_hidden_layers", 0, 1);
    m->n_heads = slm_config_int(ld, cfg, "num_attention_heads", 0, 1);
    m->n_kv_heads = slm_config_int(ld, cfg, "num_key_value_heads", m->n_heads, 0);
    m->d_ff = slm_config_int(ld, cfg, "intermediate_size", 0, 1);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 2048, 0);
    if (ld->status) return;
    if (m->n_heads == 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: num_attention_heads is 0");
        return;
    }
    m->head_dim = slm_config_int(ld, cfg, "head_dim", m->d_model / m->n_heads, 0);
    float eps = (float)slm_config_number(ld, cfg, "rms_norm_eps", 1e-6);
    /* transformers 5 nests rope settings in rope_parameters; older configs use rope_theta / rope_scaling. */
    const json_t *rope = json_object_get(cfg, "rope_parameters");
    if (!json_is_object(rope)) rope = json_object_get(cfg, "rope_scaling");
    const char *rope_type = json_is_object(rope) ? json_string_value(json_object_get(rope, "rope_type")) : NULL;
    if (rope_type && strcmp(rope_type, "default") != 0) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: rope_type \"%s\" is not supported", rope_type);
        return;
    }
    double theta = slm_config_number(ld, cfg, "rope_theta", 10000.0);
    if (json_is_object(rope)) theta = slm_config_number(ld, rope, "rope_theta", theta);
    m->rope.theta = (float)theta;
    m->rope.interleaved = 0;
    const char *act = json_string_value(json_object_get(cfg, "hidden_act"));
    if (act && strcmp(act, "silu") != 0) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: hidden_act \"%s\" is not supported for llama", act);
        return;
    }
    if (!check_heads(ld) || !slm_loader_blocks(ld)) return;
    int tied = json_is_true(json_object_get(cfg, "tie_word_embeddings"));
    int attention_bias = json_is_true(json_object_get(cfg, "attention_bias"));
    int mlp_bias = json_is_true(json_object_get(cfg, "mlp_bias"));
    load_layers_and_head(ld, eps, tied, attention_bias, mlp_bias);
}

void slm_llama2c_load(slm_loader *ld, const slm_llama2c_config *cfg) {
    slm_model *m = ld->model;
    snprintf(m->architecture, sizeof m->architecture, "llama");
    m->n_vocab = cfg->vocab_size;
    m->d_model = cfg->dim;
    m->n_layers = cfg->n_layers;
    m->n_heads = cfg->n_heads;
    m->n_kv_heads = cfg->n_kv_heads;
    m->d_ff = cfg->hidden_dim;
    m->n_ctx_train = cfg->seq_len;
    m->head_dim = cfg->n_heads ? cfg->dim / cfg->n_heads : 0;
    m->rope.theta = 10000.0f;
    m->rope.interleaved = 1;
    /* llama2.c: BOS = 1 starts and also delimits stories; EOS = 2. */
    m->bos = 1;
    m->end_tokens[0] = 1;
    m->end_tokens[1] = 2;
    m->n_end_tokens = 2;
    if (!check_heads(ld) || !slm_loader_blocks(ld)) return;
    load_layers_and_head(ld, 1e-5f, cfg->shared_classifier, 0, 0);
}
