/* perplexity.c — perplexity of a causal LM over a text in sliding windows, as in
 * Hugging Face's "Perplexity of fixed-length models" recipe (see slm_eval.h for
 * exactly which tokens each window scores). */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#include "models/model.h"
#include "slm_eval.h"

/* Positions per forward call: bounds the logits buffer to CHUNK * n_vocab floats
 * however long the window is (a window is fed in chunks into one KV cache). */
#define CHUNK 64

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* -log softmax(logits)[target], in double. logits: (n_vocab) */
static double token_nll(const float *logits, int n_vocab, int32_t target) {
    double max = logits[0];
    for (int v = 1; v < n_vocab; v++)
        if (logits[v] > max) max = logits[v];
    double sum = 0;
    for (int v = 0; v < n_vocab; v++) sum += exp((double)logits[v] - max);
    return log(sum) + max - (double)logits[target];
}

/* Runs ids[begin, end) from an empty cache and adds the NLL of every token t in
 * [first_scored, end) (first_scored > begin) to *nll_sum. logits: (CHUNK, n_vocab) */
static slm_status score_window(slm_session *s, const int32_t *ids, size_t begin, size_t end, size_t first_scored,
                               int n_vocab, float *logits, double *nll_sum, slm_error *err) {
    slm_session_reset(s);
    for (size_t c = begin; c < end; c += CHUNK) {
        size_t n = end - c < CHUNK ? end - c : CHUNK;
        /* Position p's logits predict token p + 1; only those that predict a scored token matter. */
        int need = c + n >= first_scored; /* the last p = c + n - 1 predicts c + n */
        slm_status st = slm_session_forward(s, ids + c, n, SLM_OUTPUT_LOGITS, need ? logits : NULL, err);
        if (st != SLM_OK) return st;
        if (!need) continue;
        for (size_t p = c; p < c + n && p + 1 < end; p++)
            if (p + 1 >= first_scored) *nll_sum += token_nll(logits + (p - c) * (size_t)n_vocab, n_vocab, ids[p + 1]);
    }
    return SLM_OK;
}

slm_status slm_perplexity_ids(slm_session *s, const int32_t *ids, size_t n_ids, int window, int stride,
                              slm_perplexity_result *out, slm_error *err) {
    if (!s || !out || (!ids && n_ids)) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "perplexity: NULL argument");
    int n_ctx = slm_session_n_ctx(s);
    if (window == 0) window = n_ctx;
    if (window < 2)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "perplexity: window %d: needs at least 2 tokens", window);
    if (window > n_ctx)
        return slm_fail(err, SLM_ERR_CONTEXT_FULL,
                        "perplexity: window %d is larger than the session's context %d (raise n_ctx / --ctx)", window,
                        n_ctx);
    if (stride == 0) stride = window / 2;
    if (stride < 1 || stride > window)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "perplexity: stride %d is outside [1, %d] (the window)",
                        stride, window);
    if (n_ids < 2)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "perplexity: the text has %zu token%s; at least 2 are needed to score one", n_ids,
                        n_ids == 1 ? "" : "s");
    int n_vocab = slm_model_n_vocab(slm_session_model(s));
    float *logits = malloc((size_t)CHUNK * (size_t)n_vocab * sizeof *logits);
    if (!logits) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "perplexity: logits of %d x %d", CHUNK, n_vocab);

    double t0 = now_seconds(), nll_sum = 0;
    int64_t scored = 0;
    int n_windows = 0;
    size_t prev_end = 0;
    slm_status st = SLM_OK;
    for (size_t begin = 0;; begin += (size_t)stride) {
        size_t end = begin + (size_t)window < n_ids ? begin + (size_t)window : n_ids;
        size_t first_scored = prev_end > begin + 1 ? prev_end : begin + 1;
        st = score_window(s, ids, begin, end, first_scored, n_vocab, logits, &nll_sum, err);
        if (st != SLM_OK) break;
        n_windows++;
        if (end > first_scored) scored += (int64_t)(end - first_scored);
        prev_end = end;
        if (end == n_ids) break;
    }
    free(logits);
    if (st != SLM_OK) {
        if (err) slm_error_prefix(err, "perplexity");
        return st;
    }

    out->n_tokens = scored;
    out->nll = nll_sum / (double)scored;
    out->perplexity = exp(out->nll);
    out->window = window;
    out->stride = stride;
    out->n_windows = n_windows;
    out->n_input_tokens = (int64_t)n_ids;
    out->seconds = now_seconds() - t0;
    return SLM_OK;
}

slm_status slm_perplexity(slm_session *s, const char *text, size_t len, int window, int stride,
                          slm_perplexity_result *out, slm_error *err) {
    if (!s || (!text && len)) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "perplexity: NULL argument");
    if (len == 0) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "perplexity: the text is empty");
    const slm_tokenizer *tok = slm_model_tokenizer(slm_session_model(s));
    if (!tok) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "perplexity: the model has no tokenizer loaded");
    int32_t *ids = NULL;
    size_t n = 0;
    slm_status st = slm_tokenize(tok, text, len, 1, &ids, &n, err);
    if (st != SLM_OK) {
        if (err) slm_error_prefix(err, "perplexity: tokenizing");
        return st;
    }
    st = slm_perplexity_ids(s, ids, n, window, stride, out, err);
    slm_free(ids);
    return st;
}
