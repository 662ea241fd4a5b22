/* flaubert.c — FlauBERT (FlaubertModel, FlaubertWithLMHeadModel) and XLM
 * (XLMModel, XLMWithLMHeadModel), which share one architecture: XLM's
 * transformer as configured. Its layer is BERT's (post-norm) or, with
 * FlauBERT's pre_norm, the pre-norm variant; the batch machinery
 * (validation, packing, scratch, attention, per-token scatter) is encoder.c's.
 *
 * As Hugging Face's modeling_flaubert.py / modeling_xlm.py compute it:
 *   embeddings: word + position (learned, or sinusoidal when the checkpoint
 *     lacks the table and sinusoidal_embeddings is set) [+ word embedding of
 *     the token type], then layer_norm_emb. Not scaled by sqrt(emb_dim).
 *   post-norm layer: x = ln1(x + attention(x)); x = ln2(x + ffn(x))
 *   pre-norm layer:  x = x + attention(ln1(x)); x = x + ffn(ln2(x)), and no final norm
 *   ffn = lin2(act(lin1(x))), 4 * emb_dim wide; act is GELU (erf) when
 *     gelu_activation, else ReLU. Attention scales q by 1/sqrt(head_dim).
 *   HF multiplies the hidden states by the mask after the embeddings and
 *     after every layer, so a padded position's hidden state is exactly 0 and
 *     its LM logits are the prediction bias; slm writes the same there.
 *   The LM head (pred_layer.proj) is a linear layer tied to the word
 *     embeddings, with its own bias; the adaptive softmax (asm) is not supported.
 *
 * Inputs, as HF's forward without langs / position_ids / lengths:
 *   type_ids: XLM has no token type table. HF adds the *word* embedding of
 *     each token type when token_type_ids is passed, so slm does the same when
 *     type_ids is given; NULL adds nothing (HF's token_type_ids=None), which
 *     is not the same as all zeros.
 *   languages: slm_batch carries no langs, and HF adds no language embedding
 *     without them, so none is added (the default language is "none", not
 *     config lang_id). lang_embeddings (n_langs > 1 and use_lang_emb) is still
 *     checked against the config.
 *   attention_mask NULL: HF then masks each row to its first
 *     (number of tokens != pad_token_id) positions; slm does the same.
 * Body tensors carry "transformer." in head checkpoints. Unused ones
 * (position_ids buffers, classification heads) are ignored. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/family.h"

typedef struct slm_flaubert slm_flaubert;
struct slm_flaubert {
    int pre_norm;
    int pad_id;             /* pad_token_id: derives the mask when the batch has none */
    int n_langs;
    slm_matrix lang_embed;  /* (n_langs, d_model); data NULL without language embeddings; not added (no langs input) */
    float *sinusoidal;      /* (n_ctx_train, d_model) computed table when the checkpoint has none, else NULL */
};

/* ---- loading ---- */

static int config_bool(slm_loader *ld, const json_t *cfg, const char *key, int fallback) {
    const json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) return fallback;
    if (!json_is_boolean(v)) {
        slm_loader_fail(ld, SLM_ERR_FORMAT, "config.json: %s must be true or false", key);
        return fallback;
    }
    return json_is_true(v);
}

/* HF's create_sinusoidal_embeddings: angle pos / 10000^(2 (j / 2) / dim) in
 * float64, sin at even j and cos at odd j, rounded to float32. */
static float *sinusoidal_table(int n_pos, int dim) {
    float *table = malloc((size_t)n_pos * dim * sizeof(float));
    if (!table) return NULL;
    for (int pos = 0; pos < n_pos; pos++)
        for (int j = 0; j < dim; j++) {
            double angle = (double)pos / pow(10000.0, (double)(2 * (j / 2)) / (double)dim);
            table[(size_t)pos * dim + j] = (float)(j % 2 == 0 ? sin(angle) : cos(angle));
        }
    return table;
}

static void load_layer(slm_loader *ld, slm_encoder_layer *L, int l, float eps) {
    const slm_model *m = ld->model;
    int d = m->d_model, ff = m->d_ff;
    char name[160];
#define XLM_NAME(fmt) (snprintf(name, sizeof name, fmt, l), name)
    slm_encoder_linear(ld, XLM_NAME("attentions.%d.q_lin"), d, d, 0, &L->q);
    slm_encoder_linear(ld, XLM_NAME("attentions.%d.k_lin"), d, d, 0, &L->k);
    slm_encoder_linear(ld, XLM_NAME("attentions.%d.v_lin"), d, d, 0, &L->v);
    slm_encoder_linear(ld, XLM_NAME("attentions.%d.out_lin"), d, d, 0, &L->o);
    slm_encoder_norm(ld, XLM_NAME("layer_norm1.%d"), eps, &L->attn_norm);
    slm_encoder_linear(ld, XLM_NAME("ffns.%d.lin1"), d, ff, 0, &L->up);
    slm_encoder_linear(ld, XLM_NAME("ffns.%d.lin2"), ff, d, 0, &L->down);
    slm_encoder_norm(ld, XLM_NAME("layer_norm2.%d"), eps, &L->mlp_norm);
#undef XLM_NAME
}

/* 1 when the checkpoint stores a prediction layer (any tensor under pred_layer.). */
static int has_pred_layer(const slm_weights *w) {
    for (int i = 0; i < slm_weights_count(w); i++)
        if (!strncmp(slm_weights_at(w, i)->name, "pred_layer.", 11)) return 1;
    return 0;
}

/* pred_layer.proj: logits = x E^T + bias, E the word embeddings unless the
 * file stores its own weight and the config unties it. */
static void load_lm_head(slm_loader *ld, const json_t *cfg) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    if (config_bool(ld, cfg, "asm", 0)) {
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED,
                        "config.json: asm is true: the adaptive-softmax prediction layer (pred_layer) is not "
                        "supported, only the linear one");
        return;
    }
    int tied = config_bool(ld, cfg, "tie_word_embeddings", 1);
    if (!tied && slm_loader_has(ld, "pred_layer.proj.weight"))
        slm_loader_matrix(ld, "pred_layer.proj.weight", SLM_LAYOUT_OUT_IN, m->d_model, m->n_vocab, &e->mlm_decoder.w);
    else
        e->mlm_decoder.w = m->tok_embed;
    e->mlm_decoder.bias = slm_loader_vector(ld, "pred_layer.proj.bias", m->n_vocab, 0);
    if (!ld->status) e->heads |= 1 << SLM_HEAD_MLM;
}

void slm_flaubert_load(slm_loader *ld, const json_t *cfg, const char *model_type) {
    slm_model *m = ld->model;
    slm_encoder *e = &m->encoder;
    snprintf(m->architecture, sizeof m->architecture, "%s", model_type);
    m->is_encoder = 1;
    slm_flaubert *fb = calloc(1, sizeof *fb);
    if (!fb) {
        slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "FlauBERT model");
        return;
    }
    e->flaubert = fb;
    /* FlaubertConfig / XLMConfig defaults; n_words is the legacy name of vocab_size. */
    m->n_vocab = slm_config_int(ld, cfg, "vocab_size", 30145, 0);
    m->n_vocab = slm_config_int(ld, cfg, "n_words", m->n_vocab, 0);
    m->d_model = slm_config_int(ld, cfg, "emb_dim", 2048, 0);
    m->n_layers = slm_config_int(ld, cfg, "n_layers", 12, 0);
    m->n_heads = slm_config_int(ld, cfg, "n_heads", 16, 0);
    m->n_ctx_train = slm_config_int(ld, cfg, "max_position_embeddings", 512, 0);
    m->d_ff = m->d_model <= (1 << 24) ? 4 * m->d_model : 0; /* HF: hidden_dim = 4 * emb_dim, always */
    float eps = (float)slm_config_number(ld, cfg, "layer_norm_eps", 1e-12);
    m->activation = config_bool(ld, cfg, "gelu_activation", 1) ? SLM_ACT_GELU_ERF : SLM_ACT_RELU;
    /* XLMModel has no pre_norm: the key means something only to FlauBERT. */
    fb->pre_norm = !strcmp(model_type, "flaubert") ? config_bool(ld, cfg, "pre_norm", 0) : 0;
    fb->pad_id = slm_config_int(ld, cfg, "pad_token_id", 2, 0);
    fb->n_langs = slm_config_int(ld, cfg, "n_langs", 1, 0);
    int lang_embeddings = fb->n_langs > 1 && config_bool(ld, cfg, "use_lang_emb", 1);
    int sinusoidal = config_bool(ld, cfg, "sinusoidal_embeddings", 0);
    if (config_bool(ld, cfg, "causal", 0))
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED,
                        "config.json: causal is true: a causal (CLM) %s needs a triangular attention mask, which is "
                        "not supported",
                        model_type);
    if (!config_bool(ld, cfg, "is_encoder", 1))
        slm_loader_fail(ld, SLM_ERR_UNSUPPORTED, "config.json: is_encoder false (an XLM decoder) is not supported");
    if (!slm_encoder_alloc_layers(ld)) return;

    int d = m->d_model;
    ld->prefixes[0] = slm_weights_find(ld->weights, "transformer.embeddings.weight") ? "transformer." : "";
    ld->prefixes[1] = NULL;
    slm_loader_matrix(ld, "embeddings.weight", SLM_LAYOUT_OUT_IN, d, m->n_vocab, &m->tok_embed);
    if (sinusoidal && !slm_loader_has(ld, "position_embeddings.weight")) {
        fb->sinusoidal = sinusoidal_table(m->n_ctx_train, d);
        if (!fb->sinusoidal) {
            slm_loader_fail(ld, SLM_ERR_OUT_OF_MEMORY, "sinusoidal position table of %d x %d", m->n_ctx_train, d);
            return;
        }
        m->pos_embed = (slm_matrix){SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, d, m->n_ctx_train, fb->sinusoidal};
    } else { /* a stored table wins: HF loads it over the sinusoidal initialisation */
        slm_loader_matrix(ld, "position_embeddings.weight", SLM_LAYOUT_OUT_IN, d, m->n_ctx_train, &m->pos_embed);
    }
    if (lang_embeddings)
        slm_loader_matrix(ld, "lang_embeddings.weight", SLM_LAYOUT_OUT_IN, d, fb->n_langs, &fb->lang_embed);
    slm_encoder_norm(ld, "layer_norm_emb", eps, &e->embed_norm);
    for (int l = 0; l < m->n_layers && !ld->status; l++) load_layer(ld, &e->layers[l], l, eps);
    e->heads = 1 << SLM_HEAD_BASE;

    ld->prefixes[0] = ""; /* the prediction layer sits beside "transformer." */
    if (!ld->status && has_pred_layer(ld->weights)) load_lm_head(ld, cfg);
}

void slm_flaubert_free(slm_flaubert *fb) {
    if (!fb) return;
    free(fb->sinusoidal);
    free(fb);
}

/* ---- the forward pass ---- */

/* HF's mask when none is given: row r keeps its first (tokens != pad) positions.
 * Returns the (n_seqs, seq_len) mask to free, or NULL with err set. */
static int32_t *mask_from_lengths(const slm_model *m, const slm_batch *b, slm_error *err) {
    const slm_flaubert *fb = m->encoder.flaubert;
    int32_t *mask = malloc((size_t)b->n_seqs * b->seq_len * sizeof *mask);
    if (!mask) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "attention mask of %d x %d", b->n_seqs, b->seq_len);
        return NULL;
    }
    for (int q = 0; q < b->n_seqs; q++) {
        const int32_t *ids = b->ids + (size_t)q * b->seq_len;
        int length = 0;
        for (int t = 0; t < b->seq_len; t++) length += ids[t] != fb->pad_id;
        if (length == 0) {
            free(mask);
            slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                     "sequence %d is all padding (pad_token_id %d) and the batch has no attention_mask", q,
                     fb->pad_id);
            return NULL;
        }
        for (int t = 0; t < b->seq_len; t++) mask[(size_t)q * b->seq_len + t] = t < length;
    }
    return mask;
}

/* Token types index the word embeddings, so they must be token ids. */
static slm_status check_types(const slm_model *m, const slm_batch *b, slm_error *err) {
    if (!b->type_ids) return SLM_OK;
    for (int q = 0; q < b->n_seqs; q++)
        for (int t = 0; t < b->seq_len; t++) {
            int32_t type = b->type_ids[(size_t)q * b->seq_len + t];
            if (type < 0 || type >= m->n_vocab)
                return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                                "token type %d at sequence %d position %d is outside the vocabulary (%d): %s adds "
                                "the word embedding of each token type",
                                type, q, t, m->n_vocab, m->architecture);
        }
    return SLM_OK;
}

/* s->x (N, d) = layer_norm_emb(word + position [+ word embedding of the token type]). */
static void embed(const slm_model *m, const slm_batch *b, const slm_encoder_scratch *s, int N) {
    int d = m->d_model;
    float *row = s->h; /* one row of scratch for the added tables */
    for (int r = 0; r < N; r++) {
        size_t i = (size_t)s->row_seq[r] * b->seq_len + s->row_pos[r];
        float *x = s->x + (size_t)r * d;
        slm_matrix_row(&m->tok_embed, b->ids[i], x);
        slm_matrix_row(&m->pos_embed, s->row_pos[r], row);
        slm_add(x, row, (size_t)d);
        if (b->type_ids) {
            slm_matrix_row(&m->tok_embed, b->type_ids[i], row);
            slm_add(x, row, (size_t)d);
        }
    }
    slm_norm_forward(&m->encoder.embed_norm, s->x, s->x, N, d);
}

/* One layer over s->x (N, d), in place. Scratch: h holds the normed input
 * (pre-norm) or the residual sums, att the attention, then the FFN output. */
static void layer_forward(const slm_model *m, int pre_norm, const slm_encoder_layer *L, slm_thread_pool *pool,
                          const slm_encoder_scratch *s, int N, int n_seqs, int buffer_stride) {
    int d = m->d_model;
    size_t n = (size_t)N * d;
    const float *in = s->x;
    if (pre_norm) {
        slm_norm_forward(&L->attn_norm, s->h, s->x, N, d);
        in = s->h;
    }
    slm_linear_forward(pool, &L->q, s->q, in, N);
    slm_linear_forward(pool, &L->k, s->k, in, N);
    slm_linear_forward(pool, &L->v, s->v, in, N);
    slm_encoder_attention(m, pool, s, n_seqs, buffer_stride, d);
    slm_linear_forward(pool, &L->o, s->h, s->att, N);
    if (pre_norm) {
        slm_add(s->x, s->h, n);
        slm_norm_forward(&L->mlp_norm, s->h, s->x, N, d);
        slm_linear_forward(pool, &L->up, s->ff, s->h, N);
        slm_activate(pool, m->activation, s->ff, (size_t)N * m->d_ff);
        slm_linear_forward(pool, &L->down, s->att, s->ff, N);
        slm_add(s->x, s->att, n);
        return;
    }
    slm_add(s->h, s->x, n);
    slm_norm_forward(&L->attn_norm, s->x, s->h, N, d);
    slm_linear_forward(pool, &L->up, s->ff, s->x, N);
    slm_activate(pool, m->activation, s->ff, (size_t)N * m->d_ff);
    slm_linear_forward(pool, &L->down, s->h, s->ff, N);
    slm_add(s->h, s->x, n);
    slm_norm_forward(&L->mlp_norm, s->x, s->h, N, d);
}

/* What HF leaves at masked positions (the masked hidden state is 0): 0 for
 * hidden states, the prediction bias for logits. out is (n_seqs, seq_len, width). */
static void fill_masked(const slm_batch *b, const float *bias, int width, float *out) {
    for (int q = 0; q < b->n_seqs; q++)
        for (int t = 0; t < b->seq_len; t++) {
            size_t i = (size_t)q * b->seq_len + t;
            if (b->attention_mask[i]) continue;
            float *dst = out + i * width;
            if (bias)
                memcpy(dst, bias, (size_t)width * sizeof(float));
            else
                memset(dst, 0, (size_t)width * sizeof(float));
        }
}

slm_status slm_flaubert_run(const slm_model *m, slm_thread_pool *pool, slm_encoder_scratch *s, const slm_batch *b,
                            slm_encode_output what, float *out, slm_error *err) {
    const slm_encoder *e = &m->encoder;
    if (what == SLM_ENCODE_MLM && !(e->heads & (1 << SLM_HEAD_MLM)))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: the model has no masked-LM (mlm) head", m->dir);
    /* encoder.c tells the MLM head by BERT's transform, which XLM lacks: checked above. */
    slm_encode_output checked = what == SLM_ENCODE_MLM ? SLM_ENCODE_HIDDEN : what;
    slm_batch masked;
    int32_t *derived = NULL;
    /* Derive the mask only for a batch check_batch will accept; it reports the rest. */
    if (b && b->ids && !b->attention_mask && b->n_seqs > 0 && b->seq_len > 0 && b->seq_len <= m->n_ctx_train &&
        (size_t)b->n_seqs * (size_t)b->seq_len <= (size_t)INT_MAX / 4) {
        derived = mask_from_lengths(m, b, err);
        if (!derived) return err ? err->status : SLM_ERR_INVALID_ARGUMENT;
        masked = *b;
        masked.attention_mask = derived;
        b = &masked;
    }
    int N = 0, buffer = 0, d = m->d_model;
    slm_status st = slm_encoder_prepare(m, pool, s, b, checked, out, 2, &N, &buffer, err);
    if (!st) st = check_types(m, b, err);
    if (st) {
        free(derived);
        return st;
    }
    embed(m, b, s, N);
    for (int l = 0; l < m->n_layers; l++)
        layer_forward(m, e->flaubert->pre_norm, &e->layers[l], pool, s, N, b->n_seqs, buffer);
    /* Only HIDDEN and MLM get here: slm_encoder_prepare refused the heads XLM lacks. */
    if (what == SLM_ENCODE_MLM) {
        slm_encoder_per_token(m, pool, s, b, &e->mlm_decoder, s->x, N, m->n_vocab, out);
        if (b->attention_mask) fill_masked(b, e->mlm_decoder.bias, m->n_vocab, out);
    } else {
        slm_encoder_per_token(m, pool, s, b, NULL, s->x, N, d, out);
        if (b->attention_mask) fill_masked(b, NULL, d, out);
    }
    free(derived);
    return SLM_OK;
}
