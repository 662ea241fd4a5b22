/* bert.c — BERT (BertModel and its heads: ForMaskedLM, ForPreTraining,
 * LMHeadModel without is_decoder, ForSequenceClassification,
 * ForTokenClassification, ForQuestionAnswering) mapped onto the shared
 * encoder (encoder.c). The body's tensors carry a "bert." prefix in head
 * checkpoints and none in a bare BertModel; heads never do. Which heads a
 * checkpoint has is decided by the tensors present; config architectures
 * only settles what "classifier" is (sequence or token). Tensors no head
 * uses (cls.seq_relationship, position_ids buffers) are ignored. */
#include <stdio.h>
#include <string.h>

#include "models/family.h"

/* Which family a config without model_type describes: architectures[0]
 * first, then the tensor names (TinyBERT's config has neither key). */
const char *slm_encoder_family_guess(const json_t *cfg, const slm_weights *weights) {
    const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
    if (arch && !strncmp(arch, "DistilBert", 10)) return "distilbert";
    if (arch && !strncmp(arch, "Bert", 4)) return "bert";
    if (!weights) return NULL;
    static const char *const bert_names[] = {"bert.encoder.layer.0.attention.self.query.weight",
                                             "encoder.layer.0.attention.self.query.weight"};
    static const char *const distil_names[] = {"distilbert.transformer.layer.0.attention.q_lin.weight",
                                               "transformer.layer.0.attention.q_lin.weight"};
    for (int i = 0; i < 2; i++) {
        if (slm_weights_find(weights, bert_names[i])) return "bert";
        if (slm_weights_find(weights, distil_names[i])) return "distilbert";
    }
    return NULL;
}

/* encoder.layer.<l>. then these names. */
static const slm_encoder_layer_names bert_layer_names = {
    "attention.self.query",       "attention.self.key", "attention.self.value", "attention.output.dense",
    "attention.output.LayerNorm", "intermediate.dense", "output.dense",         "output.LayerNorm"};

void slm_bert_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    snprintf(m->architecture, sizeof m->architecture, "bert");
    m->is_encoder = 1;
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 0, 1);
    m->d_model = slm_config_int(ld, cfg, "hidden_size", 0, 1);
    m->n_layers = slm_config_int(ld, cfg, "num_hidden_layers", 0, 1);
    m->n_heads = slm_config_int(ld, cfg, "num_attention_heads", 0, 1);
    m->d_ff = slm_config_int(ld, cfg, "intermediate_size", 0, 1);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 512, 0);
    e->type_vocab_size = slm_config_int(ld, cfg, "type_vocab_size", 2, 0);
    float eps = (float)slm_config_number(ld, cfg, "layer_norm_eps", 1e-12);
    m->activation = slm_config_activation(ld, cfg, "hidden_act", "gelu");
    const char *positions = json_string_value(json_object_get(cfg, "position_embedding_type"));
    if (positions && strcmp(positions, "absolute") != 0)
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: position_embedding_type \"%s\" is not supported (absolute)",
                        positions);
    if (json_is_true(json_object_get(cfg, "is_decoder")))
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: is_decoder BERT (causal attention) is not supported");
    if (!slm_encoder_alloc_layers(ld)) return;
    if (e->type_vocab_size <= 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: type_vocab_size must be positive");
        return;
    }

    int d = m->d_model;
    ld->prefixes[0] = slm_weights_find(ld->weights, "bert.embeddings.word_embeddings.weight") ? "bert." : "";
    ld->prefixes[1] = NULL;
    slm_loader_matrix(ld, "embeddings.word_embeddings.weight", SLM_LAYOUT_OUT_IN, d, m->n_vocab, &m->tok_embed);
    slm_loader_matrix(ld, "embeddings.position_embeddings.weight", SLM_LAYOUT_OUT_IN, d, m->n_ctx_train,
                      &m->pos_embed);
    slm_loader_matrix(ld, "embeddings.token_type_embeddings.weight", SLM_LAYOUT_OUT_IN, d, e->type_vocab_size,
                      &e->type_embed);
    slm_encoder_norm(ld, "embeddings.LayerNorm", eps, &e->embed_norm);
    for (int l = 0; l < m->n_layers && !ld->status; l++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "encoder.layer.%d.", l);
        slm_encoder_load_layer(ld, prefix, &bert_layer_names, eps, &e->layers[l]);
    }
    slm_encoder_linear(ld, "pooler.dense", d, d, 1, &e->pooler);
    e->heads = 1 << SLM_HEAD_BASE;

    ld->prefixes[0] = ""; /* heads sit beside the body, never under "bert." */
    if (slm_loader_has(ld, "cls.predictions.transform.dense.weight"))
        slm_encoder_mlm_head(ld, cfg, "cls.predictions", "cls.predictions.transform.", d, eps);
    slm_encoder_task_heads(ld, cfg, "bert.pooler.dense");
    slm_encoder_labels(ld, cfg);
}
