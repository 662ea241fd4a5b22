/* mobilebert.c — MobileBERT (MobileBertModel and its heads: ForMaskedLM,
 * ForPreTraining, ForSequenceClassification, ForTokenClassification,
 * ForQuestionAnswering). Its layer differs enough from BERT's to have its own
 * forward pass here; the batch machinery (validation, packing, scratch,
 * attention, per-token scatter) is encoder.c's.
 *
 * The body, as Hugging Face's modeling_mobilebert.py computes it:
 *   embeddings: each token's word embedding (embedding_size E) concatenated
 *     with its right and left neighbours' in the padded row (trigram_input;
 *     zeros past either end), through embedding_transformation to hidden_size
 *     H, plus position and token type embeddings, then the embeddings norm.
 *   a layer (x is (N, H)), with B = intra_bottleneck_size = true_hidden_size:
 *     li = norm(dense(x))                      bottleneck.input  (N, B)
 *     q, k from norm(dense(x))                 bottleneck.attention when
 *        key_query_shared_bottleneck; v from x itself (from li instead when
 *        use_bottleneck_attention, which also feeds q and k from li)
 *     a = norm(o(attention) + li)              attention.output  (N, B)
 *     a = norm(down(act(up(a))) + a)           ffn.0 .. ffn.{F-2}
 *     a = norm(output.dense(act(intermediate(a))) + a)
 *     x = norm(output.bottleneck.dense(a) + x) back to (N, H)
 *   Without use_bottleneck everything is H wide and the last step is absent.
 * Norms are NoNorm (weight * x + bias) for normalization_type "no_norm" (the
 * published checkpoints) or LayerNorm. The MLM transform's norm is always a
 * LayerNorm, and the decoder is hidden (N, H) @ [word_embeddings^T (E, V);
 * cls.predictions.dense.weight (H - E, V)] + bias. The pooler is the [CLS]
 * hidden state itself unless classifier_activation, then tanh(dense([CLS])).
 * Tensors carry a "mobilebert." prefix in head checkpoints; unused ones
 * (cls.seq_relationship, position_ids) are ignored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"

/* A norm of either kind; layer says LayerNorm, else NoNorm (weight * x + bias). */
typedef struct {
    slm_norm n;
    int layer;
} mb_norm;

/* One MobileBERT layer. Widths: H hidden, B bottleneck (= true hidden), I intermediate. */
typedef struct {
    slm_linear input_dense;     /* bottleneck.input.dense (B, H) */
    mb_norm input_norm;         /* (B) */
    slm_linear attention_dense; /* bottleneck.attention.dense (B, H): shared q/k input */
    mb_norm attention_norm;     /* (B) */
    slm_linear q, k, v, o;      /* q, k (B, B); v (B, H) or (B, B); o (B, B) */
    mb_norm attn_norm;          /* attention.output.LayerNorm (B) */
    slm_linear *ffn_up, *ffn_down; /* num_feedforward_networks - 1 of (I, B) and (B, I) */
    mb_norm *ffn_norm;          /* (B) each */
    slm_linear up, down;        /* intermediate.dense (I, B), output.dense (B, I) */
    mb_norm out_norm;           /* output.LayerNorm (B) */
    slm_linear bottleneck_dense; /* output.bottleneck.dense (H, B) */
    mb_norm bottleneck_norm;    /* (H) */
} mb_layer;

typedef struct slm_mobilebert slm_mobilebert;
struct slm_mobilebert {
    int embedding_size, true_hidden, n_ffn;
    int trigram, use_bottleneck, bottleneck_attention, shared_qk;
    int pooler_identity;         /* classifier_activation false: the pooler is the [CLS] state */
    slm_linear embed_transform;  /* (H, 3E or E); data NULL when E == H without trigram */
    mb_norm embed_norm;          /* (H) */
    mb_layer *layers;            /* n_layers */
    int n_layers;                /* allocated, for slm_mobilebert_free */
    slm_matrix mlm_extra;        /* cls.predictions.dense.weight, IN_OUT (H - E) -> V; data NULL when H == E */
};

/* ---- loading ---- */

static void load_norm(slm_loader *ld, const char *base, int width, int layer, float eps, mb_norm *out) {
    char name[200];
    snprintf(name, sizeof name, "%s.weight", base);
    out->n.weight = slm_loader_vector(ld, name, width, 0);
    snprintf(name, sizeof name, "%s.bias", base);
    out->n.bias = slm_loader_vector(ld, name, width, 0);
    out->n.eps = eps;
    out->layer = layer;
}

static int config_bool(slm_loader *ld, const json_t *cfg, const char *key, int fallback) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return fallback;
    if (!json_is_boolean(v)) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %s must be true or false", key);
        return fallback;
    }
    return json_is_true(v);
}

static void load_layer(slm_loader *ld, const slm_mobilebert *mb, mb_layer *L, int l, int layer_norm, float eps) {
    const slm_model *m = ld->model;
    int H = m->d_model, B = mb->true_hidden, I = m->d_ff;
    char name[200], sub[160];
#define MB_NAME(...) \
    (snprintf(sub, sizeof sub, __VA_ARGS__), snprintf(name, sizeof name, "encoder.layer.%d.%s", l, sub), name)
    if (mb->use_bottleneck) {
        slm_encoder_linear(ld, MB_NAME("bottleneck.input.dense"), H, B, 0, &L->input_dense);
        load_norm(ld, MB_NAME("bottleneck.input.LayerNorm"), B, layer_norm, eps, &L->input_norm);
        if (mb->shared_qk && !mb->bottleneck_attention) {
            slm_encoder_linear(ld, MB_NAME("bottleneck.attention.dense"), H, B, 0, &L->attention_dense);
            load_norm(ld, MB_NAME("bottleneck.attention.LayerNorm"), B, layer_norm, eps, &L->attention_norm);
        }
    }
    /* q and k read the bottleneck when there is one for them, else the layer input. */
    int qk_in = mb->use_bottleneck && (mb->shared_qk || mb->bottleneck_attention) ? B : H;
    int v_in = mb->use_bottleneck && mb->bottleneck_attention ? B : H;
    slm_encoder_linear(ld, MB_NAME("attention.self.query"), qk_in, B, 0, &L->q);
    slm_encoder_linear(ld, MB_NAME("attention.self.key"), qk_in, B, 0, &L->k);
    slm_encoder_linear(ld, MB_NAME("attention.self.value"), v_in, B, 0, &L->v);
    slm_encoder_linear(ld, MB_NAME("attention.output.dense"), B, B, 0, &L->o);
    load_norm(ld, MB_NAME("attention.output.LayerNorm"), B, layer_norm, eps, &L->attn_norm);
    if (mb->n_ffn > 1 && !ld->status) {
        L->ffn_up = calloc((size_t)mb->n_ffn - 1, sizeof *L->ffn_up);
        L->ffn_down = calloc((size_t)mb->n_ffn - 1, sizeof *L->ffn_down);
        L->ffn_norm = calloc((size_t)mb->n_ffn - 1, sizeof *L->ffn_norm);
        if (!L->ffn_up || !L->ffn_down || !L->ffn_norm) {
            slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "%d feed-forward networks", mb->n_ffn);
            return;
        }
        for (int f = 0; f < mb->n_ffn - 1; f++) {
            slm_encoder_linear(ld, MB_NAME("ffn.%d.intermediate.dense", f), B, I, 0, &L->ffn_up[f]);
            slm_encoder_linear(ld, MB_NAME("ffn.%d.output.dense", f), I, B, 0, &L->ffn_down[f]);
            load_norm(ld, MB_NAME("ffn.%d.output.LayerNorm", f), B, layer_norm, eps, &L->ffn_norm[f]);
        }
    }
    slm_encoder_linear(ld, MB_NAME("intermediate.dense"), B, I, 0, &L->up);
    slm_encoder_linear(ld, MB_NAME("output.dense"), I, B, 0, &L->down);
    /* HF builds this one norm without layer_norm_eps: nn.LayerNorm's default 1e-5. */
    load_norm(ld, MB_NAME("output.LayerNorm"), B, layer_norm, 1e-5f, &L->out_norm);
    if (mb->use_bottleneck) {
        slm_encoder_linear(ld, MB_NAME("output.bottleneck.dense"), B, H, 0, &L->bottleneck_dense);
        load_norm(ld, MB_NAME("output.bottleneck.LayerNorm"), H, layer_norm, eps, &L->bottleneck_norm);
    }
#undef MB_NAME
}

/* cls.predictions: transform (dense, act, LayerNorm) then the decoder: the
 * word embeddings (tied unless the file stores its own and the config unties
 * them) for the first E hidden values, the extra dense weights for the rest. */
static void load_mlm_head(slm_loader *ld, const json_t *cfg, float eps) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    slm_mobilebert *mb = e->mobilebert;
    int H = m->d_model, E = mb->embedding_size;
    slm_encoder_linear(ld, "cls.predictions.transform.dense", H, H, 0, &e->mlm_transform);
    e->mlm_activation = m->activation;
    slm_encoder_norm(ld, "cls.predictions.transform.LayerNorm", eps, &e->mlm_norm);
    int tied = !json_is_false(json_object_get(cfg, "tie_word_embeddings"));
    if (!tied && slm_loader_has(ld, "cls.predictions.decoder.weight"))
        slm_loader_matrix(ld, "cls.predictions.decoder.weight", SLM_LAYOUT_OUT_IN, E, m->n_vocab, &e->mlm_decoder.w);
    else
        e->mlm_decoder.w = m->tok_embed;
    if (H < E) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: the MLM head needs hidden_size %d >= embedding_size %d", H, E);
        return;
    }
    if (H > E) /* stored (H - E, V): the rows of the concatenated (H, V) decoder past E */
        slm_loader_matrix(ld, "cls.predictions.dense.weight", SLM_LAYOUT_IN_OUT, H - E, m->n_vocab, &mb->mlm_extra);
    const char *bias = slm_loader_has(ld, "cls.predictions.bias") ? "cls.predictions.bias" : "cls.predictions.decoder.bias";
    e->mlm_decoder.bias = slm_loader_vector(ld, bias, m->n_vocab, 0);
    e->heads |= 1 << SLM_HEAD_MLM;
}

static void load_heads(slm_loader *ld, const json_t *cfg, float eps) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    int d = m->d_model;
    ld->prefixes[0] = ""; /* heads sit beside the body, never under "mobilebert." */
    if (slm_loader_has(ld, "cls.predictions.transform.dense.weight")) load_mlm_head(ld, cfg, eps);
    int n_labels = slm_loader_rows(ld, "classifier.weight");
    if (n_labels) {
        const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
        int has_pooler = e->pooler.w.data || e->mobilebert->pooler_identity;
        int token_level = arch ? strstr(arch, "TokenClassification") != NULL : !has_pooler;
        if (!token_level && !has_pooler) {
            slm_loader_fail(ld, SLM_ERR_FORMAT,
                            "tensor classifier.weight: sequence classification needs mobilebert.pooler.dense "
                            "(classifier_activation is true)");
            return;
        }
        slm_encoder_linear(ld, "classifier", d, n_labels, 0, token_level ? &e->tokcls : &e->seqcls);
        e->heads |= 1 << (token_level ? SLM_HEAD_TOKCLS : SLM_HEAD_SEQCLS);
    }
    if (slm_loader_has(ld, "qa_outputs.weight")) {
        slm_encoder_linear(ld, "qa_outputs", d, 2, 0, &e->qa);
        e->heads |= 1 << SLM_HEAD_QA;
    }
    slm_encoder_labels(ld, cfg);
}

/* Checks the config's sizes against each other; 0 on error. */
static int check_sizes(slm_loader *ld, const slm_mobilebert *mb, const json_t *cfg) {
    const slm_model *m = ld->model;
    if (m->n_layers <= 0 || m->n_layers > 4096 || m->d_model <= 0 || m->n_vocab <= 0 || m->d_ff <= 0 ||
        m->n_ctx_train <= 0 || mb->embedding_size <= 0 || mb->true_hidden <= 0 || mb->n_ffn <= 0 ||
        mb->n_ffn > 64) {
        slm_loader_fail(ld, SLM_ERR_FORMAT,
                        "config: implausible sizes (layers %d, hidden %d, vocab %d, intermediate %d, positions %d, "
                        "embedding %d, true hidden %d, feed-forward networks %d)",
                        m->n_layers, m->d_model, m->n_vocab, m->d_ff, m->n_ctx_train, mb->embedding_size,
                        mb->true_hidden, mb->n_ffn);
        return 0;
    }
    const json_t *stated = json_object_get(cfg, "true_hidden_size");
    if (json_is_integer(stated) && json_integer_value(stated) != mb->true_hidden) {
        slm_loader_fail(ld, SLM_ERR_FORMAT,
                        "config.json: true_hidden_size %lld disagrees with %s (%d)", (long long)json_integer_value(stated),
                        mb->use_bottleneck ? "intra_bottleneck_size" : "hidden_size", mb->true_hidden);
        return 0;
    }
    /* The packed scratch holds bottleneck-wide rows in hidden-wide buffers. */
    if (mb->true_hidden > m->d_model) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: intra_bottleneck_size %d wider than hidden_size %d",
                        mb->true_hidden, m->d_model);
        return 0;
    }
    if (m->n_heads <= 0 || mb->true_hidden % m->n_heads != 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %d attention heads do not divide true_hidden_size %d",
                        m->n_heads, mb->true_hidden);
        return 0;
    }
    if (!mb->trigram && mb->embedding_size > m->d_model) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: embedding_size %d wider than hidden_size %d",
                        mb->embedding_size, m->d_model);
        return 0;
    }
    return 1;
}

void slm_mobilebert_load(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    snprintf(m->architecture, sizeof m->architecture, "mobilebert");
    m->is_encoder = 1;
    slm_mobilebert *mb = calloc(1, sizeof *mb);
    if (!mb) {
        slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "MobileBERT model");
        return;
    }
    e->mobilebert = mb;
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 30522, 0);
    m->d_model = slm_config_int(ld, cfg, "hidden_size", 512, 0);
    m->n_layers = slm_config_int(ld, cfg, "num_hidden_layers", 24, 0);
    m->n_heads = slm_config_int(ld, cfg, "num_attention_heads", 4, 0);
    m->d_ff = slm_config_int(ld, cfg, "intermediate_size", 512, 0);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 512, 0);
    e->type_vocab_size = slm_config_int(ld, cfg, "type_vocab_size", 2, 0);
    float eps = (float)slm_config_number(ld, cfg, "layer_norm_eps", 1e-12);
    m->activation = slm_config_activation(ld, cfg, "hidden_act", "relu");
    mb->embedding_size = slm_config_int(ld, cfg, "embedding_size", 128, 0);
    mb->trigram = config_bool(ld, cfg, "trigram_input", 1);
    mb->use_bottleneck = config_bool(ld, cfg, "use_bottleneck", 1);
    mb->bottleneck_attention = config_bool(ld, cfg, "use_bottleneck_attention", 0);
    mb->shared_qk = config_bool(ld, cfg, "key_query_shared_bottleneck", 1);
    mb->n_ffn = slm_config_int(ld, cfg, "num_feedforward_networks", 4, 0);
    mb->pooler_identity = !config_bool(ld, cfg, "classifier_activation", 1);
    /* As MobileBertConfig: true_hidden_size follows from the bottleneck, whatever the file says. */
    mb->true_hidden = mb->use_bottleneck ? slm_config_int(ld, cfg, "intra_bottleneck_size", 128, 0) : m->d_model;
    const char *norm_type = json_string_value(json_object_get(cfg, "normalization_type"));
    if (!norm_type) norm_type = "no_norm";
    int layer_norm = !strcmp(norm_type, "layer_norm");
    if (!layer_norm && strcmp(norm_type, "no_norm") != 0)
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED,
                        "config.json: normalization_type \"%s\" is not supported (no_norm, layer_norm)", norm_type);
    if (ld->status || !check_sizes(ld, mb, cfg)) return;
    if (e->type_vocab_size <= 0) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: type_vocab_size must be positive");
        return;
    }
    m->n_kv_heads = m->n_heads;
    m->head_dim = mb->true_hidden / m->n_heads;
    e->attn_scale = 1.0f / sqrtf((float)m->head_dim);
    mb->layers = calloc((size_t)m->n_layers, sizeof *mb->layers);
    if (!mb->layers) {
        slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "%d MobileBERT layers", m->n_layers);
        return;
    }
    mb->n_layers = m->n_layers;

    int H = m->d_model, E = mb->embedding_size;
    ld->prefixes[0] = slm_weights_find(ld->weights, "mobilebert.embeddings.word_embeddings.weight") ? "mobilebert." : "";
    ld->prefixes[1] = NULL;
    slm_loader_matrix(ld, "embeddings.word_embeddings.weight", SLM_LAYOUT_OUT_IN, E, m->n_vocab, &m->tok_embed);
    if (mb->trigram || E != H)
        slm_encoder_linear(ld, "embeddings.embedding_transformation", mb->trigram ? 3 * E : E, H, 0,
                           &mb->embed_transform);
    slm_loader_matrix(ld, "embeddings.position_embeddings.weight", SLM_LAYOUT_OUT_IN, H, m->n_ctx_train,
                      &m->pos_embed);
    slm_loader_matrix(ld, "embeddings.token_type_embeddings.weight", SLM_LAYOUT_OUT_IN, H, e->type_vocab_size,
                      &e->type_embed);
    /* HF builds the embeddings norm without layer_norm_eps: nn.LayerNorm's default 1e-5. */
    load_norm(ld, "embeddings.LayerNorm", H, layer_norm, 1e-5f, &mb->embed_norm);
    for (int l = 0; l < m->n_layers && !ld->status; l++) load_layer(ld, mb, &mb->layers[l], l, layer_norm, eps);
    if (!mb->pooler_identity) slm_encoder_linear(ld, "pooler.dense", H, H, 1, &e->pooler);
    e->heads = 1 << SLM_HEAD_BASE;
    load_heads(ld, cfg, eps);
}

void slm_mobilebert_free(slm_mobilebert *mb) {
    if (!mb) return;
    for (int l = 0; mb->layers && l < mb->n_layers; l++) {
        free(mb->layers[l].ffn_up);
        free(mb->layers[l].ffn_down);
        free(mb->layers[l].ffn_norm);
    }
    free(mb->layers);
    free(mb);
}

/* ---- the forward pass ---- */

/* out (N, C) = norm(x); out may alias x. */
static void norm_forward(const mb_norm *n, float *out, const float *x, int N, int C) {
    if (n->layer) {
        slm_norm_forward(&n->n, out, x, N, C);
        return;
    }
    for (size_t r = 0; r < (size_t)N; r++)
        for (int j = 0; j < C; j++) out[r * C + j] = x[r * C + j] * n->n.weight[j] + n->n.bias[j];
}

/* s->x (N, H) = norm(transform(word embeddings of the token and its padded-row
 * neighbours) + position + token type). Neighbours are read from the padded
 * row whatever the mask says, as HF does: a right-padded row's last real token
 * sees the padding token's embedding on its right. */
static void embed(const slm_model *m, const slm_mobilebert *mb, slm_thread_pool *pool, const slm_batch *b,
                  const slm_encoder_scratch *s, int N) {
    const slm_encoder *e = &m->encoder;
    int H = m->d_model, E = mb->embedding_size, width = mb->trigram ? 3 * E : E;
    float *cat = s->head_out; /* (N, width) */
    for (int r = 0; r < N; r++) {
        const int32_t *ids = b->ids + (size_t)s->row_seq[r] * b->seq_len;
        int t = s->row_pos[r];
        float *c = cat + (size_t)r * width;
        if (!mb->trigram) {
            slm_matrix_row(&m->tok_embed, ids[t], c);
            continue;
        }
        if (t + 1 < b->seq_len)
            slm_matrix_row(&m->tok_embed, ids[t + 1], c);
        else
            memset(c, 0, (size_t)E * sizeof(float));
        slm_matrix_row(&m->tok_embed, ids[t], c + E);
        if (t > 0)
            slm_matrix_row(&m->tok_embed, ids[t - 1], c + 2 * E);
        else
            memset(c + 2 * E, 0, (size_t)E * sizeof(float));
    }
    if (mb->embed_transform.w.data)
        slm_linear_forward(pool, &mb->embed_transform, s->x, cat, N);
    else /* E == H */
        memcpy(s->x, cat, (size_t)N * H * sizeof(float));
    float *row = s->h; /* one row of scratch for the added tables */
    for (int r = 0; r < N; r++) {
        size_t i = (size_t)s->row_seq[r] * b->seq_len + s->row_pos[r];
        float *x = s->x + (size_t)r * H;
        slm_matrix_row(&e->type_embed, b->type_ids ? b->type_ids[i] : 0, row);
        slm_add(x, row, (size_t)H);
        slm_matrix_row(&m->pos_embed, s->row_pos[r], row);
        slm_add(x, row, (size_t)H);
    }
    norm_forward(&mb->embed_norm, s->x, s->x, N, H);
}

/* One layer over s->x (N, H), in place. Scratch: h holds the bottlenecked
 * layer input (N, B), att the shared q/k input then the attention output,
 * q the running FFN state a (N, B), k the pre-norm sums, ff the intermediates. */
static void layer_forward(const slm_model *m, const slm_mobilebert *mb, const mb_layer *L, slm_thread_pool *pool,
                          const slm_encoder_scratch *s, int N, int n_seqs, int buffer_stride) {
    int H = m->d_model, B = mb->true_hidden, I = m->d_ff;
    const float *layer_input = s->x, *qk_input = s->x, *v_input = s->x;
    if (mb->use_bottleneck) {
        slm_linear_forward(pool, &L->input_dense, s->h, s->x, N);
        norm_forward(&L->input_norm, s->h, s->h, N, B);
        layer_input = s->h;
        if (mb->bottleneck_attention) {
            qk_input = v_input = s->h;
        } else if (mb->shared_qk) {
            slm_linear_forward(pool, &L->attention_dense, s->att, s->x, N);
            norm_forward(&L->attention_norm, s->att, s->att, N, B);
            qk_input = s->att;
        }
    }
    slm_linear_forward(pool, &L->q, s->q, qk_input, N);
    slm_linear_forward(pool, &L->k, s->k, qk_input, N);
    slm_linear_forward(pool, &L->v, s->v, v_input, N);
    slm_encoder_attention(m, pool, s, n_seqs, buffer_stride, B);
    float *a = s->q, *sum = s->k;
    slm_linear_forward(pool, &L->o, a, s->att, N);
    slm_add(a, layer_input, (size_t)N * B);
    norm_forward(&L->attn_norm, a, a, N, B);
    for (int f = 0; f < mb->n_ffn - 1; f++) {
        slm_linear_forward(pool, &L->ffn_up[f], s->ff, a, N);
        slm_activate(pool, m->activation, s->ff, (size_t)N * I);
        slm_linear_forward(pool, &L->ffn_down[f], sum, s->ff, N);
        slm_add(sum, a, (size_t)N * B);
        norm_forward(&L->ffn_norm[f], a, sum, N, B);
    }
    slm_linear_forward(pool, &L->up, s->ff, a, N);
    slm_activate(pool, m->activation, s->ff, (size_t)N * I);
    slm_linear_forward(pool, &L->down, sum, s->ff, N);
    slm_add(sum, a, (size_t)N * B);
    norm_forward(&L->out_norm, sum, sum, N, B);
    if (mb->use_bottleneck) {
        slm_linear_forward(pool, &L->bottleneck_dense, s->h, sum, N);
        slm_add(s->h, s->x, (size_t)N * H);
        norm_forward(&L->bottleneck_norm, s->x, s->h, N, H);
    } else { /* B == H */
        memcpy(s->x, sum, (size_t)N * H * sizeof(float));
    }
}

/* pooled (n_seqs, H) = the [CLS] rows, through tanh(dense) when classifier_activation. */
static void pool_cls(const slm_model *m, const slm_mobilebert *mb, slm_thread_pool *pool,
                     const slm_encoder_scratch *s, const slm_batch *b, float *pooled) {
    int H = m->d_model;
    float *cls = mb->pooler_identity ? pooled : s->att;
    for (int q = 0; q < b->n_seqs; q++) {
        const int32_t *mask = b->attention_mask ? b->attention_mask + (size_t)q * b->seq_len : NULL;
        int row = s->seq_first[q] + (mask && !mask[0] ? s->seq_keys[q] : 0); /* position 0's row */
        memcpy(cls + (size_t)q * H, s->x + (size_t)row * H, (size_t)H * sizeof(float));
    }
    if (mb->pooler_identity) return;
    slm_linear_forward(pool, &m->encoder.pooler, pooled, cls, b->n_seqs);
    for (size_t i = 0; i < (size_t)b->n_seqs * H; i++) pooled[i] = tanhf(pooled[i]);
}

enum { MLM_CHUNK = 32 }; /* rows per decoder matmul: bounds the temporary to MLM_CHUNK x n_vocab */

/* out (n_seqs, seq_len, V) = norm(act(transform(x))) @ [word_embeddings^T; extra] + bias. */
static slm_status mlm_forward(const slm_model *m, const slm_mobilebert *mb, slm_thread_pool *pool,
                              const slm_encoder_scratch *s, const slm_batch *b, int N, float *out, slm_error *err) {
    const slm_encoder *e = &m->encoder;
    int H = m->d_model, E = mb->embedding_size, V = m->n_vocab, rest = H - E;
    float *extra_out = NULL;
    if (mb->mlm_extra.data) {
        extra_out = malloc((size_t)MLM_CHUNK * V * sizeof(float));
        if (!extra_out) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "masked-LM logits of %d tokens", MLM_CHUNK);
    }
    slm_linear_forward(pool, &e->mlm_transform, s->h, s->x, N);
    slm_activate(pool, e->mlm_activation, s->h, (size_t)N * H);
    slm_norm_forward(&e->mlm_norm, s->h, s->h, N, H);
    /* The decoder's two parts read contiguous column blocks: the first E values in q, the rest in k. */
    for (size_t r = 0; r < (size_t)N; r++) {
        memcpy(s->q + r * E, s->h + r * H, (size_t)E * sizeof(float));
        memcpy(s->k + r * rest, s->h + r * H + E, (size_t)rest * sizeof(float));
    }
    memset(out, 0, (size_t)b->n_seqs * b->seq_len * V * sizeof(float));
    for (int r = 0; r < N;) {
        int len = 1;
        while (len < MLM_CHUNK && r + len < N && s->row_seq[r + len] == s->row_seq[r] &&
               s->row_pos[r + len] == s->row_pos[r] + len)
            len++;
        float *dst = out + ((size_t)s->row_seq[r] * b->seq_len + s->row_pos[r]) * V;
        slm_linear_forward(pool, &e->mlm_decoder, dst, s->q + (size_t)r * E, len);
        if (extra_out) {
            slm_matmul(pool, extra_out, s->k + (size_t)r * rest, len, &mb->mlm_extra, NULL);
            slm_add(dst, extra_out, (size_t)len * V);
        }
        r += len;
    }
    free(extra_out);
    return SLM_OK;
}

slm_status slm_mobilebert_run(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s, const slm_batch *b,
                              slm_encode_output what, float *out, slm_error *err) {
    const slm_encoder *e = &m->encoder;
    const slm_mobilebert *mb = e->mobilebert;
    /* encoder.c tells every head by its weights except the weightless pooler. */
    slm_encode_output checked = what == SLM_ENCODE_POOLER && mb->pooler_identity ? SLM_ENCODE_HIDDEN : what;
    size_t extra = (size_t)(mb->trigram ? 3 * mb->embedding_size : mb->embedding_size);
    int N = 0, buffer = 0, H = m->d_model;
    slm_status st = slm_encoder_prepare(m, pool, s, b, checked, out, extra, &N, &buffer, err);
    if (st) return st;
    embed(m, mb, pool, b, s, N);
    for (int l = 0; l < m->n_layers; l++) layer_forward(m, mb, &mb->layers[l], pool, s, N, b->n_seqs, buffer);

    switch (what) {
    case SLM_ENCODE_HIDDEN: slm_encoder_per_token(m, pool, s, b, NULL, s->x, N, H, out); break;
    case SLM_ENCODE_POOLER: pool_cls(m, mb, pool, s, b, out); break;
    case SLM_ENCODE_SEQCLS:
        pool_cls(m, mb, pool, s, b, s->h);
        slm_linear_forward(pool, &e->seqcls, out, s->h, b->n_seqs);
        break;
    case SLM_ENCODE_TOKCLS: slm_encoder_per_token(m, pool, s, b, &e->tokcls, s->x, N, e->tokcls.w.n_out, out); break;
    case SLM_ENCODE_MLM: return mlm_forward(m, mb, pool, s, b, N, out, err);
    case SLM_ENCODE_QA:
        slm_linear_forward(pool, &e->qa, s->head_out, s->x, N);
        memset(out, 0, (size_t)b->n_seqs * 2 * b->seq_len * sizeof(float));
        for (int r = 0; r < N; r++) {
            float *start = out + (size_t)s->row_seq[r] * 2 * b->seq_len;
            start[s->row_pos[r]] = s->head_out[2 * r];
            start[b->seq_len + s->row_pos[r]] = s->head_out[2 * r + 1];
        }
        break;
    }
    return SLM_OK;
}
