/* phi.c — Phi (PhiForCausalLM: microsoft/phi-1, phi-1_5, phi-2): one LayerNorm
 * feeding attention and MLP in parallel (x + attn(ln(x)) + mlp(ln(x))), rotary
 * positions on only the first partial_rotary_factor of each head (HF's
 * rotate-half within those dims), biased q/k/v/dense and fc1/fc2, gelu_new,
 * a final LayerNorm and an untied lm_head with a bias. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/family.h"

static void load_block(slm_loader *ld, slm_block *b, int l, float eps) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff, qw = m->n_heads * m->head_dim, kw = m->n_kv_heads * m->head_dim;
    char name[128];
#define PHI_NAME(suffix) (snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix), name)
    /* The one norm of the block; the decoder reads it as attn_norm when the model is parallel. */
    b->attn_norm.weight = slm_loader_vector(ld, PHI_NAME("input_layernorm.weight"), d, 0);
    b->attn_norm.bias = slm_loader_vector(ld, PHI_NAME("input_layernorm.bias"), d, 0);
    b->attn_norm.eps = eps;
    if (slm_loader_has(ld, PHI_NAME("self_attn.qkv_proj.weight"))) {
        /* One fused projection, rows q then k then v: the attn_qkv of phi2 GGUF files
         * converted from microsoft/phi-2's first layout (its mixer.Wqkv). */
        slm_loader_matrix(ld, PHI_NAME("self_attn.qkv_proj.weight"), SLM_LAYOUT_OUT_IN, d, qw + 2 * kw, &b->qkv.w);
        b->qkv.bias = slm_loader_vector(ld, PHI_NAME("self_attn.qkv_proj.bias"), qw + 2 * kw, 0);
    } else {
        slm_loader_matrix(ld, PHI_NAME("self_attn.q_proj.weight"), SLM_LAYOUT_OUT_IN, d, qw, &b->q.w);
        b->q.bias = slm_loader_vector(ld, PHI_NAME("self_attn.q_proj.bias"), qw, 0);
        slm_loader_matrix(ld, PHI_NAME("self_attn.k_proj.weight"), SLM_LAYOUT_OUT_IN, d, kw, &b->k.w);
        b->k.bias = slm_loader_vector(ld, PHI_NAME("self_attn.k_proj.bias"), kw, 0);
        slm_loader_matrix(ld, PHI_NAME("self_attn.v_proj.weight"), SLM_LAYOUT_OUT_IN, d, kw, &b->v.w);
        b->v.bias = slm_loader_vector(ld, PHI_NAME("self_attn.v_proj.bias"), kw, 0);
    }
    slm_loader_matrix(ld, PHI_NAME("self_attn.dense.weight"), SLM_LAYOUT_OUT_IN, qw, d, &b->o.w);
    b->o.bias = slm_loader_vector(ld, PHI_NAME("self_attn.dense.bias"), d, 0);
    slm_loader_matrix(ld, PHI_NAME("mlp.fc1.weight"), SLM_LAYOUT_OUT_IN, d, ff, &b->up.w);
    b->up.bias = slm_loader_vector(ld, PHI_NAME("mlp.fc1.bias"), ff, 0);
    slm_loader_matrix(ld, PHI_NAME("mlp.fc2.weight"), SLM_LAYOUT_OUT_IN, ff, d, &b->down.w);
    b->down.bias = slm_loader_vector(ld, PHI_NAME("mlp.fc2.bias"), d, 0);
    b->attn_scale = 1.0f / sqrtf((float)m->head_dim);
#undef PHI_NAME
}

/* Rotary settings: transformers 5 nests them in rope_parameters, older configs
 * (phi-1_5's own) keep rope_theta / partial_rotary_factor at the top level. */
static void read_rope(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    const json_t *rope = json_object_get(cfg, "rope_parameters");
    if (!json_is_object(rope)) rope = json_object_get(cfg, "rope_scaling");
    const char *rope_type = json_is_object(rope) ? json_string_value(json_object_get(rope, "rope_type")) : NULL;
    if (rope_type && strcmp(rope_type, "default") != 0) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: rope_type \"%s\" is not supported", rope_type);
        return;
    }
    double theta = slm_config_number(ld, cfg, "rope_theta", 10000.0);
    double factor = slm_config_number(ld, cfg, "partial_rotary_factor", 0.5);
    if (json_is_object(rope)) {
        theta = slm_config_number(ld, rope, "rope_theta", theta);
        factor = slm_config_number(ld, rope, "partial_rotary_factor", factor);
    }
    if (ld->status) return;
    if (!(factor > 0.0 && factor <= 1.0)) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: partial_rotary_factor %g is outside (0, 1]", factor);
        return;
    }
    /* As HF: the rotated width is head_dim * factor truncated to an integer; it must pair up. */
    int rot_dim = (int)(m->head_dim * factor);
    if (rot_dim < 2 || rot_dim % 2 != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT,
                        "config.json: partial_rotary_factor %g gives rotary dimension %d of head_dim %d; it must be "
                        "even and at least 2",
                        factor, rot_dim, m->head_dim);
        return;
    }
    m->use_rope = 1;
    m->rope.rot_dim = rot_dim;
    m->rope.theta = (float)theta;
    m->rope.interleaved = 0;
}

void slm_phi_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    snprintf(m->architecture, sizeof m->architecture, "phi");
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 0, 1);
    m->d_model = slm_config_int(ld, cfg, "hidden_size", 0, 1);
    m->n_layers = slm_config_int(ld, cfg, "num_hidden_layers", 0, 1);
    m->n_heads = slm_config_int(ld, cfg, "num_attention_heads", 0, 1);
    m->n_kv_heads = slm_config_int(ld, cfg, "num_key_value_heads", m->n_heads, 0);
    m->d_ff = slm_config_int(ld, cfg, "intermediate_size", 0, 1);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 2048, 0);
    float eps = (float)slm_config_number(ld, cfg, "layer_norm_eps", 1e-5);
    m->activation = slm_config_activation(ld, cfg, "hidden_act", "gelu_new");
    if (ld->status) return;
    if (m->n_heads == 0 || m->d_model % m->n_heads != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: num_attention_heads %d does not divide hidden_size %d",
                        m->n_heads, m->d_model);
        return;
    }
    if (m->n_kv_heads == 0 || m->n_heads % m->n_kv_heads != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: num_key_value_heads %d does not divide num_attention_heads %d",
                        m->n_kv_heads, m->n_heads);
        return;
    }
    /* qk_layernorm adds a per-head LayerNorm on queries and keys before the
     * rotation. No published Phi checkpoint sets it and no reference output
     * covers it, so it is refused rather than run unchecked. */
    if (json_is_true(json_object_get(cfg, "qk_layernorm"))) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: qk_layernorm true is not supported for phi");
        return;
    }
    m->head_dim = m->d_model / m->n_heads;
    read_rope(ld, cfg);
    if (!slm_loader_blocks(ld)) return;
    m->parallel_blocks = 1;

    slm_loader_matrix(ld, "model.embed_tokens.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &m->tok_embed);
    for (int l = 0; l < m->n_layers && !ld->status; l++) load_block(ld, &m->blocks[l], l, eps);
    m->final_norm.weight = slm_loader_vector(ld, "model.final_layernorm.weight", m->d_model, 0);
    m->final_norm.bias = slm_loader_vector(ld, "model.final_layernorm.bias", m->d_model, 0);
    m->final_norm.eps = eps;
    /* Phi's head is untied and biased; a tied config shares the embedding but still has its bias. */
    if (json_is_true(json_object_get(cfg, "tie_word_embeddings")))
        m->lm_head.w = m->tok_embed;
    else
        slm_loader_matrix(ld, "lm_head.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &m->lm_head.w);
    m->lm_head.bias = slm_loader_vector(ld, "lm_head.bias", m->n_vocab, 0);
}
