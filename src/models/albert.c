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

/* A LayerNorm of `width` values (embedding_size for the embeddings' and the
 * masked-LM head's) named base + ".weight"/".bias", or the legacy ".gamma"/".beta". */
static void load_norm(slm_loader *ld, const char *base, int width, float eps, slm_norm *out) {
    char w[200], b[200], gamma[200];
    snprintf(w, sizeof w, "%s.weight", base);
    snprintf(b, sizeof b, "%s.bias", base);
    snprintf(gamma, sizeof gamma, "%s.gamma", base);
    if (!slm_loader_has(ld, w) && slm_loader_has(ld, gamma)) {
        snprintf(w, sizeof w, "%s", gamma);
        snprintf(b, sizeof b, "%s.beta", base);
    }
    out->weight = slm_loader_vector(ld, w, width, 0);
    out->bias = slm_loader_vector(ld, b, width, 0);
    out->eps = eps;
}

/* albert_layers.<inner> of albert_layer_groups.<group>. */
static void load_layer(slm_loader *ld, slm_encoder_layer *L, int group, int inner, float eps) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff;
    char name[160];
#define ALBERT_NAME(suffix) \
    (snprintf(name, sizeof name, "encoder.albert_layer_groups.%d.albert_layers.%d.%s", group, inner, suffix), name)
    slm_encoder_linear(ld, ALBERT_NAME("attention.query"), d, d, 0, &L->q);
    slm_encoder_linear(ld, ALBERT_NAME("attention.key"), d, d, 0, &L->k);
    slm_encoder_linear(ld, ALBERT_NAME("attention.value"), d, d, 0, &L->v);
    slm_encoder_linear(ld, ALBERT_NAME("attention.dense"), d, d, 0, &L->o);
    slm_encoder_norm(ld, ALBERT_NAME("attention.LayerNorm"), eps, &L->attn_norm);
    slm_encoder_linear(ld, ALBERT_NAME("ffn"), d, ff, 0, &L->up);
    slm_encoder_linear(ld, ALBERT_NAME("ffn_output"), ff, d, 0, &L->down);
    slm_encoder_norm(ld, ALBERT_NAME("full_layer_layer_norm"), eps, &L->mlp_norm);
#undef ALBERT_NAME
}

/* Fills the n_steps * inner layers: step i runs group i / (n_steps / n_groups).
 * A group is loaded at its first step; its later steps copy those entries. */
static void load_layers(slm_loader *ld, int n_steps, int n_groups, int inner, float eps) {
    slm_encoder_layer *layers = ld->model->encoder.layers;
    int steps_per_group = n_steps / n_groups;
    for (int i = 0; i < n_steps && !ld->status; i++) {
        for (int j = 0; j < inner && !ld->status; j++) {
            size_t at = (size_t)i * inner + j;
            if (i % steps_per_group == 0)
                load_layer(ld, &layers[at], i / steps_per_group, j, eps);
            else
                layers[at] = layers[at - (size_t)inner];
        }
    }
}

/* predictions: dense (hidden to embedding), activation, LayerNorm, then the
 * decoder tied to the word embeddings unless the file stores its own and the
 * config unties it; its bias is predictions.bias (decoder.bias is the same tensor). */
static void load_mlm_head(slm_loader *ld, const json_t *cfg, int embedding_size, float eps) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    slm_encoder_linear(ld, "predictions.dense", m->d_model, embedding_size, 0, &e->mlm_transform);
    e->mlm_activation = m->activation;
    load_norm(ld, "predictions.LayerNorm", embedding_size, eps, &e->mlm_norm);
    int tied = !json_is_false(json_object_get(cfg, "tie_word_embeddings"));
    if (!tied && slm_loader_has(ld, "predictions.decoder.weight"))
        slm_loader_matrix(ld, "predictions.decoder.weight", SLM_LAYOUT_OUT_IN, embedding_size, m->n_vocab,
                          &e->mlm_decoder.w);
    else
        e->mlm_decoder.w = m->tok_embed;
    const char *bias = slm_loader_has(ld, "predictions.bias") ? "predictions.bias" : "predictions.decoder.bias";
    e->mlm_decoder.bias = slm_loader_vector(ld, bias, m->n_vocab, 0);
    e->heads |= 1 << SLM_HEAD_MLM;
}

/* classifier (sequence level on the pooler, or token level) and qa_outputs, as for BERT. */
static void load_task_heads(slm_loader *ld, const json_t *cfg) {
    slm_encoder *e = &ld->model->encoder;
    int d = ld->model->d_model;
    int n_labels = slm_loader_rows(ld, "classifier.weight");
    if (n_labels) {
        const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
        int token_level = arch ? strstr(arch, "TokenClassification") != NULL : !e->pooler.w.data;
        if (!token_level && !e->pooler.w.data) {
            slm_loader_fail(ld, SLM_ERR_FORMAT, "tensor classifier.weight: sequence classification needs albert.pooler");
            return;
        }
        slm_linear *head = token_level ? &e->tokcls : &e->seqcls;
        slm_encoder_linear(ld, "classifier", d, n_labels, 0, head);
        e->heads |= 1 << (token_level ? SLM_HEAD_TOKCLS : SLM_HEAD_SEQCLS);
    }
    if (slm_loader_has(ld, "qa_outputs.weight")) {
        slm_encoder_linear(ld, "qa_outputs", d, 2, 0, &e->qa);
        e->heads |= 1 << SLM_HEAD_QA;
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
    load_norm(ld, "embeddings.LayerNorm", embedding_size, eps, &e->embed_norm);
    slm_encoder_linear(ld, "encoder.embedding_hidden_mapping_in", embedding_size, d, 0, &e->embed_project);
    load_layers(ld, n_steps, n_groups, inner, eps);
    slm_encoder_linear(ld, "pooler", d, d, 1, &e->pooler); /* a bare Linear, absent without add_pooling_layer */
    e->heads = 1 << SLM_HEAD_BASE;

    ld->prefixes[0] = ""; /* heads sit beside the body, never under "albert." */
    if (slm_loader_has(ld, "predictions.dense.weight")) load_mlm_head(ld, cfg, embedding_size, eps);
    load_task_heads(ld, cfg);
    slm_encoder_labels(ld, cfg);
}
