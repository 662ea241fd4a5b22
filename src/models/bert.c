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

static void load_layer(slm_loader *ld, slm_encoder_layer *L, int l, float eps) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff;
    char name[160];
#define BERT_NAME(suffix) (snprintf(name, sizeof name, "encoder.layer.%d.%s", l, suffix), name)
    slm_encoder_linear(ld, BERT_NAME("attention.self.query"), d, d, 0, &L->q);
    slm_encoder_linear(ld, BERT_NAME("attention.self.key"), d, d, 0, &L->k);
    slm_encoder_linear(ld, BERT_NAME("attention.self.value"), d, d, 0, &L->v);
    slm_encoder_linear(ld, BERT_NAME("attention.output.dense"), d, d, 0, &L->o);
    slm_encoder_norm(ld, BERT_NAME("attention.output.LayerNorm"), eps, &L->attn_norm);
    slm_encoder_linear(ld, BERT_NAME("intermediate.dense"), d, ff, 0, &L->up);
    slm_encoder_linear(ld, BERT_NAME("output.dense"), ff, d, 0, &L->down);
    slm_encoder_norm(ld, BERT_NAME("output.LayerNorm"), eps, &L->mlp_norm);
#undef BERT_NAME
}

/* cls.predictions: transform (dense, act, LayerNorm) then the decoder, tied
 * to the word embeddings unless the file stores its own and the config unties it. */
static void load_mlm_head(slm_loader *ld, const json_t *cfg, float eps) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    int d = m->d_model;
    slm_encoder_linear(ld, "cls.predictions.transform.dense", d, d, 0, &e->mlm_transform);
    e->mlm_activation = m->activation;
    slm_encoder_norm(ld, "cls.predictions.transform.LayerNorm", eps, &e->mlm_norm);
    int tied = !json_is_false(json_object_get(cfg, "tie_word_embeddings"));
    if (!tied && slm_loader_has(ld, "cls.predictions.decoder.weight"))
        slm_loader_matrix(ld, "cls.predictions.decoder.weight", SLM_LAYOUT_OUT_IN, d, m->n_vocab, &e->mlm_decoder.w);
    else
        e->mlm_decoder.w = m->tok_embed;
    const char *bias = slm_loader_has(ld, "cls.predictions.bias") ? "cls.predictions.bias" : "cls.predictions.decoder.bias";
    e->mlm_decoder.bias = slm_loader_vector(ld, bias, m->n_vocab, 0);
    e->heads |= 1 << SLM_HEAD_MLM;
}

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
    for (int l = 0; l < m->n_layers && !ld->status; l++) load_layer(ld, &e->layers[l], l, eps);
    slm_encoder_linear(ld, "pooler.dense", d, d, 1, &e->pooler);
    e->heads = 1 << SLM_HEAD_BASE;

    ld->prefixes[0] = ""; /* heads sit beside the body, never under "bert." */
    if (slm_loader_has(ld, "cls.predictions.transform.dense.weight")) load_mlm_head(ld, cfg, eps);
    int n_labels = slm_loader_rows(ld, "classifier.weight");
    if (n_labels) {
        const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
        int token_level = arch ? strstr(arch, "TokenClassification") != NULL : !e->pooler.w.data;
        if (!token_level && !e->pooler.w.data) {
            slm_loader_fail(ld, SLM_ERR_FORMAT, "tensor classifier.weight: sequence classification needs bert.pooler.dense");
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
    slm_encoder_labels(ld, cfg);
}
