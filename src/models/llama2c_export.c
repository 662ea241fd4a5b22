/* llama2c_export.c — writing a loaded llama model as a karpathy/llama2.c
 * checkpoint in the legacy layout run.c reads (see formats/llama2c.c):
 *   7 int32 {dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len},
 *   vocab_size negated when the classifier is not the embedding, then f32 arrays
 *   token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1 (gate), w2 (down),
 *   w3 (up), rms_final, freq_cis_real, freq_cis_imag, [wcls].
 * The tensors come from the model's own fields (any source: HF folder, GGUF,
 * llama2.c; quantized matrices dequantized). q/k rows are written in Meta's
 * interleaved rotary layout, which llama2.c rotates; a model loaded from Hugging
 * Face rotates halves, so its rows are reordered. llama2.c fixes what the header
 * cannot say (RMSNorm eps 1e-5, rope theta 10000, head size dim / n_heads, no
 * biases, BOS 1 / EOS 2), so a model that differs is refused rather than
 * written wrong. When the model's tokenizer is llama2.c's kind (score-based
 * SentencePiece BPE) or a Llama-style Hugging Face BPE (scores derived from its
 * merges), tok<vocab>.bin is written beside the checkpoint, where slm and
 * llama2.c's -z look for it; any other tokenizer has no llama2.c form and none
 * is written (slm_model_llama2c_tokenizer_path says which). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/export.h"
#include "models/family.h"
#include "slm_convert.h"
#include "tokenizers/tokenizer.h"

typedef struct {
    FILE *f;
    float *row; /* scratch of the widest row */
    int failed;
} writer;

static void put_floats(writer *w, const float *v, size_t n) {
    if (!w->failed && n && fwrite(v, sizeof(float), n, w->f) != n) w->failed = 1;
}

/* Every row of m; permute_head_dim: the rows rotate halves (HF) and are written
 * as llama2.c's interleaved pairs, within heads of that many rows. */
static void put_matrix(writer *w, const slm_matrix *m, int permute_head_dim) {
    for (int r = 0; r < m->n_out && !w->failed; r++) {
        slm_matrix_row(m, slm_interleaved_from_halves(r, permute_head_dim), w->row);
        put_floats(w, w->row, (size_t)m->n_in);
    }
}

/* run.c skips these arrays (it recomputes the rotation), but they are part of the
 * legacy layout: export.py's precompute_freqs_cis(head_size, ...) for the first
 * seq_len positions, computed in float32 step by step as torch does it. */
static void put_freq_cis(writer *w, const slm_model *m, int use_sin) {
    int half = m->head_dim / 2;
    for (int t = 0; t < m->n_ctx_train && !w->failed; t++) {
        for (int i = 0; i < half; i++) {
            float exponent = (float)(2 * i) / (float)m->head_dim;
            float freq = 1.0f / powf(10000.0f, exponent);
            float angle = (float)t * freq;
            w->row[i] = use_sin ? sinf(angle) : cosf(angle);
        }
        put_floats(w, w->row, (size_t)half);
    }
}

static void put_body(writer *w, const slm_model *m) {
    int permute = m->rope.interleaved ? 0 : m->head_dim;
    int L = m->n_layers;
    const slm_block *b = m->blocks;
    put_matrix(w, &m->tok_embed, 0);
    for (int l = 0; l < L; l++) put_floats(w, b[l].attn_norm.weight, (size_t)m->d_model);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].q.w, permute);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].k.w, permute);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].v.w, 0);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].o.w, 0);
    for (int l = 0; l < L; l++) put_floats(w, b[l].mlp_norm.weight, (size_t)m->d_model);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].gate.w, 0);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].down.w, 0);
    for (int l = 0; l < L; l++) put_matrix(w, &b[l].up.w, 0);
    put_floats(w, m->final_norm.weight, (size_t)m->d_model);
    put_freq_cis(w, m, 0);
    put_freq_cis(w, m, 1);
    if (m->lm_head.w.data != m->tok_embed.data) put_matrix(w, &m->lm_head.w, 0);
}

/* ---- what llama2.c can express ---- */

static int has_bias(const slm_block *b) {
    return b->q.bias || b->k.bias || b->v.bias || b->o.bias || b->gate.bias || b->up.bias || b->down.bias;
}

static slm_status check_block(const slm_model *m, int l, const char *path, slm_error *err) {
    const slm_block *b = &m->blocks[l];
    if (has_bias(b))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d has biases; llama2.c checkpoints have none", path, l);
    if (b->qkv.w.data || !b->gate.w.data || b->attn_norm.bias)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d is not a llama block (q, k, v, SwiGLU, RMSNorm)", path, l);
    if (b->attn_norm.eps != 1e-5f || b->mlp_norm.eps != 1e-5f)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d: RMSNorm eps %g; llama2.c uses 1e-5", path, l,
                        b->attn_norm.eps);
    if (b->attn_scale != 1.0f / sqrtf((float)m->head_dim))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: layer %d scales attention by %g, not 1/sqrt(head size)", path, l,
                        b->attn_scale);
    return SLM_OK;
}

static slm_status check_expressible(const slm_model *m, const char *path, slm_error *err) {
    if (m->is_encoder || strcmp(m->architecture, "llama") != 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: llama2.c checkpoints hold llama models, not %s", path,
                        m->architecture);
    if (m->n_heads * m->head_dim != m->d_model)
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "%s: %d heads of %d do not make dim %d; llama2.c's head size is dim / n_heads", path,
                        m->n_heads, m->head_dim, m->d_model);
    if (m->rope.theta != 10000.0f || m->rope.rot_dim != m->head_dim)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: rope theta %g over %d of %d dims; llama2.c rotates all with 10000",
                        path, m->rope.theta, m->rope.rot_dim, m->head_dim);
    if (m->final_norm.eps != 1e-5f)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: final RMSNorm eps %g; llama2.c uses 1e-5", path, m->final_norm.eps);
    if (m->lm_head.bias) return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: the classifier has a bias; llama2.c's has none", path);
    for (int l = 0; l < m->n_layers; l++) {
        slm_status st = check_block(m, l, path, err);
        if (st) return st;
    }
    return SLM_OK;
}

/* ---- files ---- */

int slm_model_llama2c_tokenizer_path(const slm_model *m, const char *path, char *out, size_t cap) {
    if (!m || !path || !slm_tokenizer_has_llama2c_form(m->tokenizer)) return 0;
    const char *slash = strrchr(path, '/');
    int n = snprintf(out, cap, "%.*stok%d.bin", slash ? (int)(slash - path + 1) : 0, path, m->n_vocab);
    return n > 0 && (size_t)n < cap;
}

static void write_header(writer *w, const slm_model *m) {
    int shared = m->lm_head.w.data == m->tok_embed.data;
    int32_t header[7] = {m->d_model, m->d_ff,       m->n_layers, m->n_heads, m->n_kv_heads,
                         shared ? m->n_vocab : -m->n_vocab, m->n_ctx_train};
    for (int i = 0; i < 7 && !w->failed; i++) {
        unsigned char b[4] = {(unsigned char)header[i], (unsigned char)(header[i] >> 8),
                              (unsigned char)(header[i] >> 16), (unsigned char)(header[i] >> 24)};
        if (fwrite(b, 1, 4, w->f) != 4) w->failed = 1;
    }
}

static slm_status write_checkpoint(const slm_model *m, const char *path, slm_error *err) {
    int widest = m->d_model > m->d_ff ? m->d_model : m->d_ff;
    if (m->head_dim / 2 > widest) widest = m->head_dim / 2;
    writer w = {.row = malloc((size_t)widest * sizeof(float))};
    if (!w.row) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: row buffer", path);
    w.f = fopen(path, "wb");
    if (!w.f) {
        free(w.row);
        return slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
    }
    /* f32 is written in the machine's byte order, as run.c reads it back (x86 and ARM: little-endian). */
    write_header(&w, m);
    put_body(&w, m);
    if (fclose(w.f) != 0) w.failed = 1;
    free(w.row);
    if (w.failed) {
        remove(path);
        return slm_fail(err, SLM_ERR_IO, "%s: write failed", path);
    }
    return SLM_OK;
}

slm_status slm_model_save_llama2c(const slm_model *m, const char *path, slm_error *err) {
    slm_error_clear(err);
    if (!m || !path) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "model or path is NULL");
    slm_status st = check_expressible(m, path, err);
    if (st) return st;
    if (slm_model_is_source_file(m, path))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: the model is loaded from this file; write elsewhere", path);
    st = write_checkpoint(m, path, err);
    char tok_path[4200];
    if (!st && slm_model_llama2c_tokenizer_path(m, path, tok_path, sizeof tok_path))
        st = slm_tokenizer_save_llama2c(m->tokenizer, m->n_vocab, tok_path, err);
    return st;
}
