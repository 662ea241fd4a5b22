/* slm_eval.h — evaluating a causal language model on text: perplexity.
 * Part of slm's public API (include it after, or instead of, slm.h). */
#ifndef SLM_EVAL_H
#define SLM_EVAL_H

#include "slm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n_tokens;  /* tokens whose NLL was summed */
    double nll;        /* mean negative log-likelihood per scored token (nats) */
    double perplexity; /* exp(nll) */
    int window, stride;/* the values used (after defaults) */
    int n_windows;     /* forward passes made */
    int64_t n_input_tokens; /* tokens in the text (after tokenizing) */
    double seconds;    /* time spent in forward passes and scoring */
} slm_perplexity_result;

/* Perplexity of text under the session's (causal) model, computed as in
 * Hugging Face's "Perplexity of fixed-length models" recipe:
 *   - the text is tokenized once, with the tokenizer's special tokens
 *     (add_special = 1: BOS for Llama, nothing for GPT-2);
 *   - windows of `window` tokens start at 0, stride, 2*stride, ... until one
 *     reaches the end of the text; each is run from an empty KV cache;
 *   - in each window only tokens not scored by an earlier window count, and
 *     the window's first token is never scored (it has no context there), so
 *     the first window scores every token after the first;
 *   - token t's NLL is -log softmax(logits at t-1)[id t], summed in double.
 * nll is the sum over the n_tokens scored tokens divided by n_tokens (the HF
 * recipe weights each window's mean loss by its valid-label count minus one,
 * which differs from this exact mean only when stride == window).
 * window: 0 = the session's context; 2 <= window <= slm_session_n_ctx(s).
 * stride: 0 = window / 2; 1 <= stride <= window. With stride < window every
 * token but the first is scored once (n_tokens = n - 1); with stride == window
 * the first token of each window is not scored.
 * Text that tokenizes to fewer than 2 tokens is SLM_ERR_INVALID_ARGUMENT.
 * The session's KV cache is reset (left holding the last window). */
slm_status slm_perplexity(slm_session *s, const char *text, size_t len, int window, int stride,
                          slm_perplexity_result *out, slm_error *err);

/* The same over token ids (no tokenizer needed). ids must be within the vocabulary. */
slm_status slm_perplexity_ids(slm_session *s, const int32_t *ids, size_t n_ids, int window, int stride,
                              slm_perplexity_result *out, slm_error *err);

#ifdef __cplusplus
}
#endif
#endif
