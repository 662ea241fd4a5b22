/* distilbert.c — DistilBERT (DistilBertModel, ForMaskedLM,
 * ForSequenceClassification, ForTokenClassification, ForQuestionAnswering)
 * mapped onto the shared encoder (encoder.c). Unlike BERT it has no token
 * types and no pooler; its LayerNorms use eps 1e-12 whatever the config
 * says; sinusoidal position tables (sinusoidal_pos_embds) are stored in the
 * checkpoint like learned ones. Body tensors carry "distilbert." in head
 * checkpoints and no prefix in a bare DistilBertModel. */
#include <stdio.h>
#include <string.h>

#include "models/family.h"

#define DISTILBERT_EPS 1e-12f

static void load_layer(slm_loader *ld, slm_encoder_layer *L, int l) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff;
    char name[160];
#define DISTIL_NAME(suffix) (snprintf(name, sizeof name, "transformer.layer.%d.%s", l, suffix), name)
    slm_encoder_linear(ld, DISTIL_NAME("attention.q_lin"), d, d, 0, &L->q);
    slm_encoder_linear(ld, DISTIL_NAME("attention.k_lin"), d, d, 0, &L->k);
    slm_encoder_linear(ld, DISTIL_NAME("attention.v_lin"), d, d, 0, &L->v);
    slm_encoder_linear(ld, DISTIL_NAME("attention.out_lin"), d, d, 0, &L->o);
    slm_encoder_norm(ld, DISTIL_NAME("sa_layer_norm"), DISTILBERT_EPS, &L->attn_norm);
    slm_encoder_linear(ld, DISTIL_NAME("ffn.lin1"), d, ff, 0, &L->up);
    slm_encoder_linear(ld, DISTIL_NAME("ffn.lin2"), ff, d, 0, &L->down);
    slm_encoder_norm(ld, DISTIL_NAME("output_layer_norm"), DISTILBERT_EPS, &L->mlp_norm);
#undef DISTIL_NAME
}

/* vocab_transform -> activation -> vocab_layer_norm -> vocab_projector (tied to the word embeddings). */
static void load_mlm_head(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    int d = m->d_model;
    slm_encoder_linear(ld, "vocab_transform", d, d, 0, &e->mlm_transform);
    e->mlm_activation = m->activation;
    slm_encoder_norm(ld, "vocab_layer_norm", DISTILBERT_EPS, &e->mlm_norm);
    int tied = !json_is_false(json_object_get(cfg, "tie_word_embeddings"));
    if (!tied && slm_loader_has(ld, "vocab_projector.weight"))
        slm_loader_matrix(ld, "vocab_projector.weight", SLM_LAYOUT_OUT_IN, d, m->n_vocab, &e->mlm_decoder.w);
    else
        e->mlm_decoder.w = m->tok_embed;
    e->mlm_decoder.bias = slm_loader_vector(ld, "vocab_projector.bias", m->n_vocab, 0);
    e->heads |= 1 << SLM_HEAD_MLM;
}

void slm_distilbert_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    snprintf(m->architecture, sizeof m->architecture, "distilbert");
    m->is_encoder = 1;
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 0, 1);
    m->d_model = slm_config_int(ld, cfg, "dim", 0, 1);
    m->n_layers = slm_config_int(ld, cfg, "n_layers", 0, 1);
    m->n_heads = slm_config_int(ld, cfg, "n_heads", 0, 1);
    m->d_ff = slm_config_int(ld, cfg, "hidden_dim", 0, 1);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 512, 0);
    m->activation = slm_config_activation(ld, cfg, "activation", "gelu");
    if (!slm_encoder_alloc_layers(ld)) return;

    int d = m->d_model;
    ld->prefixes[0] = slm_weights_find(ld->weights, "distilbert.embeddings.word_embeddings.weight") ? "distilbert." : "";
    ld->prefixes[1] = NULL;
    slm_loader_matrix(ld, "embeddings.word_embeddings.weight", SLM_LAYOUT_OUT_IN, d, m->n_vocab, &m->tok_embed);
    slm_loader_matrix(ld, "embeddings.position_embeddings.weight", SLM_LAYOUT_OUT_IN, d, m->n_ctx_train,
                      &m->pos_embed);
    slm_encoder_norm(ld, "embeddings.LayerNorm", DISTILBERT_EPS, &e->embed_norm);
    for (int l = 0; l < m->n_layers && !ld->status; l++) load_layer(ld, &e->layers[l], l);
    e->heads = 1 << SLM_HEAD_BASE;

    ld->prefixes[0] = ""; /* heads sit beside the body */
    if (slm_loader_has(ld, "vocab_transform.weight")) load_mlm_head(ld, cfg);
    int n_labels = slm_loader_rows(ld, "classifier.weight");
    if (n_labels && slm_loader_has(ld, "pre_classifier.weight")) {
        slm_encoder_linear(ld, "pre_classifier", d, d, 0, &e->seqcls_pre);
        slm_encoder_linear(ld, "classifier", d, n_labels, 0, &e->seqcls);
        e->heads |= 1 << SLM_HEAD_SEQCLS;
    } else if (n_labels) {
        slm_encoder_linear(ld, "classifier", d, n_labels, 0, &e->tokcls);
        e->heads |= 1 << SLM_HEAD_TOKCLS;
    }
    if (slm_loader_has(ld, "qa_outputs.weight")) {
        slm_encoder_linear(ld, "qa_outputs", d, 2, 0, &e->qa);
        e->heads |= 1 << SLM_HEAD_QA;
    }
    slm_encoder_labels(ld, cfg);
}
