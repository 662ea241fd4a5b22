/* albert.c — ALBERT (AlbertModel, ForMaskedLM, ForPreTraining,
 * ForSequenceClassification, ForTokenClassification, ForQuestionAnswering)
 * mapped onto the shared post-norm encoder (encoder.c). What sets it apart:
 *
 * - Factorized embeddings: the word, position and token-type tables and their
 *   LayerNorm are embedding_size wide; encoder.embedding_hidden_mapping_in then
 *   projects them up to hidden_size (encoder.embed_project).
 * - Layer sharing: the checkpoint stores num_hidden_groups groups of
 *   inner_group_num layers. Step i of num_hidden_layers runs every layer of
 *   group i / (num_hidden_layers / num_hidden_groups) in order, so the encoder
 *   runs num_hidden_layers * inner_group_num layers (the model's n_layers),
 *   whose entries are copies of the group's layer: the same mapped weights and
 *   the same f32 norm and bias copies, loaded and counted once.
 * - The masked-LM head works at embedding_size: predictions.dense (hidden to
 *   embedding), activation, predictions.LayerNorm, then predictions.decoder tied
 *   to the word embeddings, plus predictions.bias.
 *
 * An ALBERT layer is BERT's layer under other names (attention.query/key/value,
 * attention.dense + attention.LayerNorm, ffn + ffn_output +
 * full_layer_layer_norm). Body tensors carry "albert." in head checkpoints and
 * no prefix in a bare AlbertModel; heads never do. Tensors no head uses
 * (sop_classifier, position_ids buffers, groups past num_hidden_groups) are ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"

/* encoder.albert_layer_groups.<group>.albert_layers.<inner>. then these names. */
static const slm_encoder_layer_names albert_layer_names = {
    "attention.query", "attention.key", "attention.value", "attention.dense",
    "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"};

/* Fills the n_steps * inner layers: step i runs group i / (n_steps / n_groups).
 * A group is loaded at its first step; its later steps copy those entries. */
static void load_layers(slm_loader *ld, int n_steps, int n_groups, int inner, float eps) {
    slm_encoder_layer *layers = ld->model->encoder.layers;
    int steps_per_group = n_steps / n_groups;
    for (int i = 0; i < n_steps && !ld->status; i++) {
        for (int j = 0; j < inner && !ld->status; j++) {
            size_t at = (size_t)i * inner + j;
            if (i % steps_per_group == 0) {
                char prefix[96];
                snprintf(prefix, sizeof prefix, "encoder.albert_layer_groups.%d.albert_layers.%d.", i / steps_per_group,
                         j);
                slm_encoder_load_layer(ld, prefix, &albert_layer_names, eps, &layers[at]);
            } else
                layers[at] = layers[at - (size_t)inner];
        }
    }
}

void slm_albert_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    snprintf(m->architecture, sizeof m->architecture, "albert");
    m->is_encoder = 1;
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 0, 1);
    m->d_model = slm_config_int(ld, cfg, "hidden_size", 0, 1);
    m->n_heads = slm_config_int(ld, cfg, "num_attention_heads", 0, 1);
    m->d_ff = slm_config_int(ld, cfg, "intermediate_size", 0, 1);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 512, 0);
    e->type_vocab_size = slm_config_int(ld, cfg, "type_vocab_size", 2, 0);
    int n_steps = slm_config_int(ld, cfg, "num_hidden_layers", 0, 1);
    int n_groups = slm_config_int(ld, cfg, "num_hidden_groups", 1, 0);
    int inner = slm_config_int(ld, cfg, "inner_group_num", 1, 0);
    int embedding_size = slm_config_int(ld, cfg, "embedding_size", 128, 0); /* AlbertConfig's default */
    float eps = (float)slm_config_number(ld, cfg, "layer_norm_eps", 1e-12);
    m->activation = slm_config_activation(ld, cfg, "hidden_act", "gelu_new");
    const char *positions = json_string_value(json_object_get(cfg, "position_embedding_type"));
    if (positions && strcmp(positions, "absolute") != 0)
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: position_embedding_type \"%s\" is not supported (absolute)",
                        positions);
    if (ld->status) return;
    if (n_steps <= 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: num_hidden_layers must be positive");
        return;
    }
    if (n_groups <= 0 || n_steps % n_groups != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: num_hidden_groups %d does not divide num_hidden_layers %d",
                        n_groups, n_steps);
        return;
    }
    if (inner <= 0 || (long long)n_steps * inner > 4096) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: inner_group_num %d (with num_hidden_layers %d) is implausible",
                        inner, n_steps);
        return;
    }
    m->n_layers = n_steps * inner;
    if (!slm_encoder_alloc_layers(ld)) return;
    /* The scratch rows are d_model wide, and the embeddings live in them before the projection. */
    if (embedding_size <= 0 || embedding_size > m->d_model) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: embedding_size %d must be between 1 and hidden_size %d",
                        embedding_size, m->d_model);
        return;
    }
    if (e->type_vocab_size <= 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: type_vocab_size must be positive");
        return;
    }

    int d = m->d_model;
    ld->prefixes[0] = slm_weights_find(ld->weights, "albert.embeddings.word_embeddings.weight") ? "albert." : "";
    ld->prefixes[1] = NULL;
    slm_loader_matrix(ld, "embeddings.word_embeddings.weight", SLM_LAYOUT_OUT_IN, embedding_size, m->n_vocab,
                      &m->tok_embed);
    slm_loader_matrix(ld, "embeddings.position_embeddings.weight", SLM_LAYOUT_OUT_IN, embedding_size, m->n_ctx_train,
                      &m->pos_embed);
    slm_loader_matrix(ld, "embeddings.token_type_embeddings.weight", SLM_LAYOUT_OUT_IN, embedding_size,
                      e->type_vocab_size, &e->type_embed);
    slm_encoder_norm_sized(ld, "embeddings.LayerNorm", embedding_size, eps, &e->embed_norm);
    slm_encoder_linear(ld, "encoder.embedding_hidden_mapping_in", embedding_size, d, 0, &e->embed_project);
    load_layers(ld, n_steps, n_groups, inner, eps);
    slm_encoder_linear(ld, "pooler", d, d, 1, &e->pooler); /* a bare Linear, absent without add_pooling_layer */
    e->heads = 1 << SLM_HEAD_BASE;

    ld->prefixes[0] = ""; /* heads sit beside the body, never under "albert." */
    /* predictions: dense (hidden to embedding), activation, LayerNorm, then the decoder. */
    if (slm_loader_has(ld, "predictions.dense.weight"))
        slm_encoder_mlm_head(ld, cfg, "predictions", "predictions.", embedding_size, eps);
    slm_encoder_task_heads(ld, cfg, "albert.pooler");
    slm_encoder_labels(ld, cfg);
}
