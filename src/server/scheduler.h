/* scheduler.h — generation requests and the per-model scheduler that runs them.
 *
 * A request (one HTTP call) has n_prompts * n choices; each choice is one sequence
 * that needs a slot (an slm_session with its own KV cache). The scheduler thread of
 * the model owns every slot: it admits queued choices one at a time (prompt prefill,
 * first token) and, between admissions, advances all running choices together with
 * one slm_session_forward_batch call per step, so the weights are read once per step
 * however many requests are in flight. Sampling and text streaming follow
 * slm_generate step for step, so a choice gives the text `slm generate` gives.
 *
 * The HTTP thread that made a request waits on its condition variable: a streaming
 * one drains r->out (server-sent events written by the scheduler thread), a plain one
 * waits for `finished`. Either side can cancel; the last reference frees it. */
#ifndef SLM_SERVER_SCHEDULER_H
#define SLM_SERVER_SCHEDULER_H

#include <stdatomic.h>

#include "server/server.h"
#include "tasks/sample.h"
#include "tasks/text_stream.h"

/* A generation request's validated parameters (request.c). */
typedef struct {
    int chat;                 /* /v1/chat/completions (else /v1/completions) */
    int stream, include_usage;
    int n;                    /* choices per prompt */
    slm_generate_params gen;  /* gen.stop points into stop */
    char **stop;
    int n_stop;
    int logprobs;             /* 1: report the chosen tokens' log probabilities */
    int top_logprobs;         /* alternatives per token, 0..20 */
    int n_bias;
    int32_t *bias_ids;        /* logit_bias, added to the logits before sampling */
    float *bias_values;
    int n_prompts;
    int32_t **prompt_ids;     /* (n_prompts) token ids, each prompt_len[i] long */
    int *prompt_len;
} srv_gen_params;

void srv_gen_params_free(srv_gen_params *p);

/* Validates body for /v1/completions (chat 0) or /v1/chat/completions (chat 1) against
 * the model and limits, rendering and tokenizing the prompt. Returns status 0 with *p
 * filled, or the error reply to send. */
srv_reply srv_parse_generation(const srv_model *m, const json_t *body, int chat, const srv_config *config,
                               srv_gen_params *p);

typedef struct srv_request srv_request;

typedef struct srv_choice {
    srv_request *req;
    int index, prompt;          /* index in the response; which prompt it continues */
    struct srv_choice *next;    /* queue link */
    int slot;                   /* -1 until admitted */
    slm_sampler *sampler;
    slm_text_stream *stream;
    int32_t last;               /* the newest token: fed next, and the one the next piece follows */
    int n_prefilled;            /* prompt tokens already in the slot's KV cache; decoding starts once all are */
    long admitted;              /* admission order: prompts prefill first come, first served */
    int n_generated, max_new;
    slm_finish_reason finish;
    int stopped, done;
    json_t *logprobs;           /* entries {token, logprob, bytes, top_logprobs}: all of them, or (streaming)
                                   those not yet sent */
    size_t text_offset;         /* bytes of text before the next logprobs entry (completions' text_offset) */
    char *text;                 /* the whole text once done */
    size_t text_len;
} srv_choice;

struct srv_request {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    atomic_int refs;
    atomic_int cancelled;       /* the client is gone: stop at once */
    srv_model *model;
    char id[48];
    long created;
    srv_gen_params params;
    int n_choices, n_done;
    srv_choice *choices;
    int finished;               /* every choice done and the closing events written */
    int prompt_tokens, completion_tokens;
    char *error;                /* a failure after admission (message), or NULL */
    char *out;                  /* streaming: event bytes not yet sent */
    size_t out_len, out_cap, out_read;
};

/* Takes ownership of params. One reference, the caller's. NULL when out of memory. */
srv_request *srv_request_new(srv_model *m, srv_gen_params *params);
void srv_request_release(srv_request *r);

srv_scheduler *srv_scheduler_new(srv_model *m, const srv_config *config, slm_error *err);
/* Cancels what is left, stops the thread and frees the slots. */
void srv_scheduler_free(srv_scheduler *s);
/* Queues every choice of r: 0, or -1 when the bounded queue has no room (answer 429). */
int srv_scheduler_submit(srv_scheduler *s, srv_request *r);
/* Sequences running or waiting. */
int srv_scheduler_load(srv_scheduler *s);

/* Counters for /health: slots, sequences running and waiting, and sequences ended so
 * far normally (completed) or because their client went away or the server stopped. */
typedef struct {
    int slots, active, queued;
    long completed, cancelled;
    long steps, rows; /* batched decode steps so far, and the sequences they advanced */
} srv_scheduler_stats;

srv_scheduler_stats srv_scheduler_get_stats(srv_scheduler *s);

/* ---- the OpenAI shapes of what a request produced (openai.c) ---- */

/* Streaming events, appended to r->out under r->lock by the scheduler thread. */
void srv_emit_start(srv_request *r, srv_choice *c);
void srv_emit_piece(srv_request *r, srv_choice *c, const char *piece, size_t len);
void srv_emit_finish(srv_request *r, srv_choice *c);
void srv_emit_done(srv_request *r);

/* The log probability entry of token id (chosen after prev) from the raw logits (n_vocab). */
json_t *srv_logprob_entry(const slm_tokenizer *tok, int32_t prev, int32_t id, const float *logits, int n_vocab,
                          int top);

/* The whole non-streaming response of a finished request. */
json_t *srv_completion_json(const srv_request *r);

#endif
