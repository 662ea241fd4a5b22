/* gpt2.c — GPT-2 (GPT2LMHeadModel): learned absolute positions, LayerNorm,
 * fused Conv1D q/k/v (stored (n_in, n_out)), GELU MLP, lm_head tied to wte.
 * Reads both key layouts people have: save_pretrained's "transformer.h.0..."
 * and the published openai-community/gpt2 file's bare "h.0..." (whose
 * attn.bias causal-mask buffers are ignored: the mask is implied). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/family.h"

static void load_block(slm_loader *ld, slm_block *b, int l, float eps) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff;
    char name[128];
#define GPT2_NAME(suffix) (snprintf(name, sizeof name, "h.%d.%s", l, suffix), name)
    b->attn_norm.weight = slm_loader_vector(ld, GPT2_NAME("ln_1.weight"), d, 0);
    b->attn_norm.bias = slm_loader_vector(ld, GPT2_NAME("ln_1.bias"), d, 0);
    b->attn_norm.eps = eps;
    slm_loader_matrix(ld, GPT2_NAME("attn.c_attn.weight"), SLM_LAYOUT_IN_OUT, d, 3 * d, &b->qkv.w);
    b->qkv.bias = slm_loader_vector(ld, GPT2_NAME("attn.c_attn.bias"), 3 * d, 0);
    slm_loader_matrix(ld, GPT2_NAME("attn.c_proj.weight"), SLM_LAYOUT_IN_OUT, d, d, &b->o.w);
    b->o.bias = slm_loader_vector(ld, GPT2_NAME("attn.c_proj.bias"), d, 0);
    b->mlp_norm.weight = slm_loader_vector(ld, GPT2_NAME("ln_2.weight"), d, 0);
    b->mlp_norm.bias = slm_loader_vector(ld, GPT2_NAME("ln_2.bias"), d, 0);
    b->mlp_norm.eps = eps;
    slm_loader_matrix(ld, GPT2_NAME("mlp.c_fc.weight"), SLM_LAYOUT_IN_OUT, d, ff, &b->up.w);
    b->up.bias = slm_loader_vector(ld, GPT2_NAME("mlp.c_fc.bias"), ff, 0);
    slm_loader_matrix(ld, GPT2_NAME("mlp.c_proj.weight"), SLM_LAYOUT_IN_OUT, ff, d, &b->down.w);
    b->down.bias = slm_loader_vector(ld, GPT2_NAME("mlp.c_proj.bias"), d, 0);
#undef GPT2_NAME
}

void slm_gpt2_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    snprintf(m->architecture, sizeof m->architecture, "gpt2");
    ld->prefixes[0] = "transformer.";
    ld->prefixes[1] = "";
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 0, 1);
    m->d_model = slm_config_int(ld, cfg, "n_embd", 0, 1);
    m->n_layers = slm_config_int(ld, cfg, "n_layer", 0, 1);
    m->n_heads = slm_config_int(ld, cfg, "n_head", 0, 1);
    m->n_ctx_train = slm_config_int(ld, cfg, "n_positions", 1024, 0);
    m->d_ff = slm_config_int(ld, cfg, "n_inner", 4 * m->d_model, 0);
    float eps = (float)slm_config_number(ld, cfg, "layer_norm_epsilon", 1e-5);
    m->activation = slm_config_activation(ld, cfg, "activation_function", "gelu_new");
    if (ld->status) return;
    if (m->n_heads == 0 || m->d_model % m->n_heads != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: n_head %d does not divide n_embd %d", m->n_heads, m->d_model);
        return;
    }
    if (!slm_loader_blocks(ld)) return;
    m->n_kv_heads = m->n_heads;
    m->head_dim = m->d_model / m->n_heads;
    const json_t *scale_weights = json_object_get(cfg, "scale_attn_weights");
    int scale = !json_is_false(scale_weights);
    int by_layer = json_is_true(json_object_get(cfg, "scale_attn_by_inverse_layer_idx"));

    slm_loader_matrix(ld, "wte.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &m->tok_embed);
    slm_loader_matrix(ld, "wpe.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_ctx_train, &m->pos_embed);
    for (int l = 0; l < m->n_layers && !ld->status; l++) {
        load_block(ld, &m->blocks[l], l, eps);
        float s = scale ? 1.0f / sqrtf((float)m->head_dim) : 1.0f;
        m->blocks[l].attn_scale = by_layer ? s / (float)(l + 1) : s;
    }
    m->final_norm.weight = slm_loader_vector(ld, "ln_f.weight", m->d_model, 0);
    m->final_norm.bias = slm_loader_vector(ld, "ln_f.bias", m->d_model, 0);
    m->final_norm.eps = eps;
    /* lm_head is tied to wte; a file that stores it separately (some .bin exports) is honoured. */
    const char *saved0 = ld->prefixes[0];
    ld->prefixes[0] = "";
    if (!json_is_false(json_object_get(cfg, "tie_word_embeddings")) || !slm_loader_has(ld, "lm_head.weight")) {
        m->lm_head.w = m->tok_embed;
    } else {
        slm_loader_matrix(ld, "lm_head.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &m->lm_head.w);
    }
    ld->prefixes[0] = saved0;
}
