/* generate.c — the text generation loop: prompt in, streamed text out.
 *
 * tokenize -> one forward pass over the prompt (logits of its last position
 * only) -> repeat { sample -> end token? -> piece -> text stream -> forward the
 * token } until the end token, a stop string, the caller, or the length limit.
 *
 * Choices made here:
 *   - params may be NULL (slm_generate_default_params()); result may be NULL.
 *   - max_tokens is capped at n_ctx - n_prompt so the KV cache holds the prompt
 *     and every generated token; a prompt that leaves no room (n_prompt >= n_ctx)
 *     is SLM_ERR_CONTEXT_FULL.
 *   - max_tokens = 0 still runs the prompt (its time is measured) and samples nothing.
 *   - n_generated_tokens counts every sampled token, the end token included.
 *   - The token that ends generation (end token, stop string, caller stop,
 *     length limit) is not fed back through the model: nobody needs its logits.
 *   - With ignore_eos the end token's text (e.g. "</s>") is streamed like any other. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "models/model.h"
#include "slm.h"
#include "tasks/sample.h"
#include "tasks/text_stream.h"
#include "tokenizers/tokenizer.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static slm_status check_arguments(const slm_session *session, const char *prompt,
                                  const slm_generate_params *p, slm_error *err) {
    if (!session) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "session: NULL");
    if (!prompt) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "prompt: NULL");
    if (p->max_tokens < 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "max_tokens: %d is negative", p->max_tokens);
    if (p->n_stop < 0) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "n_stop: %d is negative", p->n_stop);
    if (p->n_stop > 0 && !p->stop)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "stop: NULL with n_stop = %d", p->n_stop);
    for (int i = 0; i < p->n_stop; i++)
        if (!p->stop[i]) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "stop[%d]: NULL", i);
    return SLM_OK;
}

slm_status slm_generate(slm_session *session, const char *prompt, const slm_generate_params *params,
                        slm_stream_fn on_piece, void *user_data, slm_generate_result *result,
                        slm_error *err) {
    slm_error local_err;
    if (!err) err = &local_err;
    slm_generate_params defaults = slm_generate_default_params();
    const slm_generate_params *p = params ? params : &defaults;
    slm_generate_result res = {0, 0, SLM_FINISH_LENGTH, 0.0, 0.0};
    if (result) *result = res;

    slm_status status = check_arguments(session, prompt, p, err);
    if (status != SLM_OK) return status;
    const slm_model *model = slm_session_model(session);
    const slm_tokenizer *tok = slm_model_tokenizer(model);
    if (!tok)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "session: its model was loaded without a tokenizer, which generation needs");
    int n_vocab = slm_model_n_vocab(model);
    int n_ctx = slm_session_n_ctx(session);

    slm_sampler *sampler = NULL;
    slm_text_stream *stream = NULL;
    int32_t *ids = NULL;
    float *logits = NULL; /* (n_vocab) logits of the latest position */
    size_t n_prompt = 0;
    double t0 = now_seconds(), t1 = t0;

    sampler = slm_sampler_new(p, n_vocab, err);
    if (!sampler) {
        status = err->status;
        goto done;
    }
    stream = slm_text_stream_new(p->stop, p->n_stop, on_piece, user_data, err);
    if (!stream) {
        status = err->status;
        goto done;
    }
    logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!logits) {
        status = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "generate: out of memory for %d logits", n_vocab);
        goto done;
    }

    /* ---- prompt ---- */
    t0 = now_seconds();
    slm_session_reset(session);
    status = slm_tokenize(tok, prompt, strlen(prompt), 1, &ids, &n_prompt, err);
    if (status != SLM_OK) {
        slm_error_prefix(err, "prompt");
        goto done;
    }
    if (n_prompt == 0) {
        int32_t bos = slm_model_bos(model);
        if (bos < 0) {
            status = slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "prompt: empty prompt and the model has no BOS token");
            goto done;
        }
        int32_t *one = realloc(ids, sizeof *one); /* ids may be NULL or a zero-length block */
        if (!one) {
            status = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "generate: out of memory");
            goto done;
        }
        ids = one;
        ids[0] = bos;
        n_prompt = 1;
    }
    res.n_prompt_tokens = n_prompt > (size_t)INT32_MAX ? INT32_MAX : (int)n_prompt;
    if (n_ctx <= 0 || n_prompt >= (size_t)n_ctx) {
        status = slm_fail(err, SLM_ERR_CONTEXT_FULL,
                          "prompt: %zu tokens leave no room in a context of %d tokens", n_prompt, n_ctx);
        goto done;
    }
    int max_new = p->max_tokens < n_ctx - (int)n_prompt ? p->max_tokens : n_ctx - (int)n_prompt;
    for (size_t i = 0; i < n_prompt; i++) slm_sampler_accept_prompt(sampler, ids[i]);
    status = slm_session_forward_last(session, ids, n_prompt, logits, err);
    if (status != SLM_OK) goto done;
    t1 = now_seconds();
    res.prompt_seconds = t1 - t0;

    /* ---- generation ---- */
    int32_t prev = ids[n_prompt - 1];
    res.finish_reason = SLM_FINISH_LENGTH;
    int stopped = 0; /* 1 once the text stream has stopped: no finish() then */
    for (int i = 0; i < max_new; i++) {
        int32_t id = slm_sampler_sample(sampler, logits);
        res.n_generated_tokens++;
        if (!p->ignore_eos && slm_model_is_end_token(model, id)) {
            res.finish_reason = SLM_FINISH_EOS;
            break;
        }
        slm_sampler_accept(sampler, id);
        size_t len = 0;
        const char *piece = slm_tokenizer_piece(tok, prev, id, &len);
        slm_stream_state state = piece ? slm_text_stream_push(stream, piece, len) : SLM_STREAM_CONTINUE;
        if (state != SLM_STREAM_CONTINUE) {
            res.finish_reason = state == SLM_STREAM_STOP_STRING ? SLM_FINISH_STOP : SLM_FINISH_CALLER;
            stopped = 1;
            break;
        }
        if (i + 1 == max_new) break; /* the length limit: no need for this token's logits */
        status = slm_session_forward(session, &id, 1, SLM_OUTPUT_LOGITS, logits, err);
        if (status != SLM_OK) goto done;
        prev = id;
    }
    /* A stop string can still complete while the held-back tail is flushed. */
    if (!stopped && slm_text_stream_finish(stream) == SLM_STREAM_STOP_STRING)
        res.finish_reason = SLM_FINISH_STOP;
    res.generate_seconds = now_seconds() - t1;
    status = SLM_OK;

done:
    if (result) *result = res;
    slm_free(ids);
    free(logits);
    slm_text_stream_free(stream);
    slm_sampler_free(sampler);
    return status;
}
