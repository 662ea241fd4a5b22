/* server.h — `slm serve`: an OpenAI-compatible HTTP server over the library.
 *
 * Layers (one file each):
 *   http.c          libmicrohttpd: connections, bodies, limits, API key, routing, SSE
 *   request.c       a generation request's JSON validated into srv_gen_params
 *   scheduler.c     per decoder model: the slot pool and the thread that admits
 *                   requests and runs batched decode steps (continuous batching)
 *   openai.c        OpenAI's response, chunk, logprobs and error shapes
 *   encoder_api.c   /v1/embeddings and the encoder task endpoints
 *   chat_template_* the model's chat_template (a Jinja subset)
 *   web_page.c      the chat page served at /
 * Models are loaded once and shared; only the scheduler thread runs a decoder. */
#ifndef SLM_SERVER_SERVER_H
#define SLM_SERVER_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#include "server/chat_template.h"
#include "slm.h"

typedef struct {
    const char *host;
    int port;             /* 0: any free port (printed at start) */
    const char *api_key;  /* NULL: no key required */
    int parallel;         /* sequences decoded together per decoder model */
    int n_ctx;            /* per slot; 0: the model's trained context capped at 4096 */
    int threads;          /* per session; 0: physical cores */
    int queue;            /* sequences that may wait for a slot before 429 */
    size_t max_body;      /* bytes */
    int max_depth;        /* JSON nesting */
    int max_n;            /* choices per request */
    int max_tokens;       /* per choice */
} srv_config;

srv_config srv_default_config(void);

typedef struct srv_scheduler srv_scheduler;

/* One served model. */
typedef struct {
    char name[128];         /* the id clients send as "model" */
    slm_model *model;
    int is_encoder;
    int n_ctx;                /* decoders: each slot's context */
    srv_scheduler *scheduler; /* decoders */
    srv_template *chat_template; /* tokenizer_config.json's, or the plain one */
    int has_own_template;        /* 1 when the model ships a chat_template */
    char *bos_token, *eos_token; /* as the template sees them */
    slm_session *encoder_session; /* encoders: one session, used under encoder_lock */
    pthread_mutex_t encoder_lock;
    long created;
} srv_model;

typedef struct srv_server srv_server;

/* Loads nothing: takes models already loaded (owned by the server from then on), starts
 * their schedulers and the HTTP daemon. NULL with err on failure (the models are freed). */
srv_server *srv_start(const srv_config *config, srv_model *models, int n_models, slm_error *err);
int srv_port(const srv_server *s);
/* Stops taking new requests, lets the ones in flight finish, then frees everything. */
void srv_drain_and_stop(srv_server *s);

/* Prepares a loaded model for serving: name, chat template, encoder session. */
slm_status srv_model_init(srv_model *m, const char *name, slm_model *model, const srv_config *config,
                          slm_error *err);
void srv_model_free(srv_model *m);

/* ---- shared by the layers ---- */

/* The OpenAI error object {"error": {"message", "type", "param", "code"}}. */
json_t *srv_error_json(const char *type, const char *message, const char *param, const char *code);

/* A JSON string of UTF-8 text, invalid bytes replaced by U+FFFD (never NULL for valid input sizes). */
json_t *srv_json_text(const char *text, size_t len);

/* 1 when text nests arrays/objects deeper than max_depth (strings are skipped). */
int srv_json_too_deep(const char *text, size_t len, int max_depth);

/* A request id: prefix + 24 hex digits, unique within the process. */
void srv_make_id(char *out, size_t cap, const char *prefix);

/* What a handler answers: a status and a JSON body (owned), plus optional headers. */
typedef struct {
    int status;
    json_t *body;
    const char *retry_after; /* for 429 */
} srv_reply;

srv_reply srv_error_reply(int status, const char *type, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Encoder endpoints (encoder_api.c): body is the parsed request. */
srv_reply srv_embeddings(srv_model *m, const json_t *body, const srv_config *config);
srv_reply srv_encoder_task(srv_model *m, const char *task, const json_t *body, const srv_config *config);

/* The page at / (web_page.c). */
extern const char srv_web_page[];

#endif
