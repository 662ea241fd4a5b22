/* scheduler.c — continuous batching for one decoder model (see scheduler.h).
 *
 * The loop, on its own thread:
 *   1. admit at most one queued choice into a free slot (reset the slot's session);
 *   2. prefill one chunk (PREFILL_CHUNK tokens) of the oldest admitted prompt; its
 *      last chunk samples the choice's first token;
 *   3. one decode step for every choice past its prompt: the tokens they sampled go
 *      through the model together (slm_session_forward_batch), each row is sampled;
 *   4. finished and cancelled choices give their slot back at once.
 * Prompts go in chunks so that a long one delays running streams by one chunk's
 * time per step, not by its whole prefill.
 *
 * Per token, exactly what slm_generate does: logits -> sampler (seeded with the
 * request's seed + the choice index) -> end token? -> accept -> piece after the
 * previous token -> text stream (stop strings, whole UTF-8) -> length limit.
 * logit_bias, when given, is added to the logits just before the sampler. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "models/model.h"
#include "server/scheduler.h"
#include "tokenizers/tokenizer.h"

/* Prompt tokens prefilled per loop step: big enough for efficient matmuls, small
 * enough that running streams keep their pace (a few ms for small models). */
enum { PREFILL_CHUNK = 128 };

struct srv_scheduler {
    srv_model *m;
    int n_slots, n_vocab;
    slm_session **sessions; /* (n_slots) */
    srv_choice **owner;     /* (n_slots) the running choice, or NULL: scheduler thread only */
    float *logits;          /* (n_slots, n_vocab) */
    float *raw;             /* (n_vocab) logits before sampling, for logprobs */
    slm_session **batch;    /* (n_slots) */
    int32_t *batch_ids;     /* (n_slots) */
    int *batch_slots;       /* (n_slots) */

    pthread_mutex_t lock;   /* guards the queue, n_active and stop */
    pthread_cond_t wake;
    srv_choice *head, *tail;
    int n_queued, max_queued, n_active, stop;
    long n_completed, n_cancelled, n_steps, n_rows, n_admitted;
    pthread_t thread;
    int started;
};

/* ---- requests ---- */

srv_request *srv_request_new(srv_model *m, srv_gen_params *params) {
    srv_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->n_choices = params->n_prompts * params->n;
    r->choices = calloc((size_t)r->n_choices, sizeof *r->choices);
    if (!r->choices) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    atomic_init(&r->refs, 1);
    atomic_init(&r->cancelled, 0);
    r->model = m;
    r->created = (long)time(NULL);
    srv_make_id(r->id, sizeof r->id, params->chat ? "chatcmpl-" : "cmpl-");
    r->params = *params;
    memset(params, 0, sizeof *params);
    for (int i = 0; i < r->n_choices; i++) {
        srv_choice *c = &r->choices[i];
        c->req = r;
        c->index = i;
        c->prompt = i / r->params.n;
        c->slot = -1;
        c->finish = SLM_FINISH_LENGTH;
    }
    for (int p = 0; p < r->params.n_prompts; p++) r->prompt_tokens += r->params.prompt_len[p];
    return r;
}

static void free_choice(srv_choice *c) {
    slm_sampler_free(c->sampler);
    slm_text_stream_free(c->stream);
    json_decref(c->logprobs);
    free(c->text);
    c->sampler = NULL;
    c->stream = NULL;
    c->logprobs = NULL;
    c->text = NULL;
}

void srv_request_release(srv_request *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (int i = 0; i < r->n_choices; i++) free_choice(&r->choices[i]);
    free(r->choices);
    srv_gen_params_free(&r->params);
    free(r->error);
    free(r->out);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->changed);
    free(r);
}

/* ---- one choice ---- */

static int on_piece(const char *piece, size_t len, void *user_data) {
    srv_choice *c = user_data;
    if (atomic_load(&c->req->cancelled)) return 1;
    if (c->req->params.stream) srv_emit_piece(c->req, c, piece, len);
    return 0;
}

/* Ends a choice: flushes its text stream, writes its last events, frees its slot. */
static void finish_choice(srv_scheduler *s, srv_choice *c, slm_finish_reason reason) {
    srv_request *r = c->req;
    c->finish = reason;
    if (c->stream && !c->stopped && reason != SLM_FINISH_CALLER &&
        slm_text_stream_finish(c->stream) == SLM_STREAM_STOP_STRING)
        c->finish = SLM_FINISH_STOP;
    if (c->stream) {
        size_t len = 0;
        const char *text = slm_text_stream_text(c->stream, &len);
        c->text = malloc(len + 1);
        if (c->text) {
            memcpy(c->text, text, len);
            c->text[len] = '\0';
            c->text_len = len;
        }
    }
    slm_sampler_free(c->sampler);
    slm_text_stream_free(c->stream);
    c->sampler = NULL;
    c->stream = NULL;
    if (c->slot >= 0) s->owner[c->slot] = NULL;
    pthread_mutex_lock(&s->lock);
    if (c->slot >= 0) s->n_active--;
    if (c->finish == SLM_FINISH_CALLER) s->n_cancelled++;
    else s->n_completed++;
    pthread_mutex_unlock(&s->lock);
    c->slot = -1;
    c->done = 1;
    if (r->params.stream && c->finish != SLM_FINISH_CALLER) srv_emit_finish(r, c);
    pthread_mutex_lock(&r->lock);
    r->completion_tokens += c->n_generated;
    int last = ++r->n_done == r->n_choices;
    pthread_mutex_unlock(&r->lock);
    if (last) {
        if (r->params.stream) srv_emit_done(r);
        pthread_mutex_lock(&r->lock);
        r->finished = 1;
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);
    }
    srv_request_release(r); /* the choice's reference */
}

static void fail_choice(srv_scheduler *s, srv_choice *c, const slm_error *err) {
    srv_request *r = c->req;
    pthread_mutex_lock(&r->lock);
    if (!r->error) r->error = strdup(err->message);
    pthread_mutex_unlock(&r->lock);
    finish_choice(s, c, SLM_FINISH_CALLER);
}

/* Samples from logits (n_vocab, modified) as slm_generate does; 1 when the choice goes on. */
static int consume(srv_scheduler *s, srv_choice *c, float *logits) {
    const srv_gen_params *p = &c->req->params;
    const slm_model *model = s->m->model;
    const slm_tokenizer *tok = slm_model_tokenizer(model);
    for (int i = 0; i < p->n_bias; i++) logits[p->bias_ids[i]] += p->bias_values[i];
    if (p->logprobs) memcpy(s->raw, logits, (size_t)s->n_vocab * sizeof *logits);
    int32_t id = slm_sampler_sample(c->sampler, logits);
    c->n_generated++;
    if (!p->gen.ignore_eos && slm_model_is_end_token(model, id)) {
        finish_choice(s, c, SLM_FINISH_EOS);
        return 0;
    }
    slm_sampler_accept(c->sampler, id);
    if (p->logprobs) {
        json_t *entry = srv_logprob_entry(tok, c->last, id, s->raw, s->n_vocab, p->top_logprobs);
        pthread_mutex_lock(&c->req->lock);
        json_array_append_new(c->logprobs, entry);
        pthread_mutex_unlock(&c->req->lock);
    }
    size_t len = 0;
    const char *piece = slm_tokenizer_piece(tok, c->last, id, &len);
    slm_stream_state state = piece ? slm_text_stream_push(c->stream, piece, len) : SLM_STREAM_CONTINUE;
    if (state != SLM_STREAM_CONTINUE) {
        c->stopped = 1;
        finish_choice(s, c, state == SLM_STREAM_STOP_STRING ? SLM_FINISH_STOP : SLM_FINISH_CALLER);
        return 0;
    }
    if (c->n_generated == c->max_new) { /* the length limit: this token's logits are not needed */
        finish_choice(s, c, SLM_FINISH_LENGTH);
        return 0;
    }
    c->last = id;
    return 1;
}

/* Sets up an admitted choice in its slot; its prompt is prefilled by prefill_chunk. */
static void admit(srv_scheduler *s, srv_choice *c) {
    srv_request *r = c->req;
    const srv_gen_params *p = &r->params;
    slm_session *session = s->sessions[c->slot];
    slm_error err = {0};
    if (atomic_load(&r->cancelled)) {
        finish_choice(s, c, SLM_FINISH_CALLER);
        return;
    }
    slm_generate_params gen = p->gen;
    gen.seed = p->gen.seed + (uint64_t)(c->index % p->n); /* choices of one prompt differ; n = 1 is slm generate */
    const int32_t *ids = p->prompt_ids[c->prompt];
    int n = p->prompt_len[c->prompt];
    int n_ctx = slm_session_n_ctx(session);
    c->sampler = slm_sampler_new(&gen, s->n_vocab, &err);
    c->stream = c->sampler ? slm_text_stream_new(gen.stop, gen.n_stop, on_piece, c, &err) : NULL;
    c->logprobs = json_array();
    if (!c->sampler || !c->stream || !c->logprobs) {
        fail_choice(s, c, &err);
        return;
    }
    c->max_new = gen.max_tokens < n_ctx - n ? gen.max_tokens : n_ctx - n;
    for (int i = 0; i < n; i++) slm_sampler_accept_prompt(c->sampler, ids[i]);
    slm_session_reset(session);
    c->n_prefilled = 0;
    c->admitted = s->n_admitted++;
    if (n <= 0) {
        slm_fail(&err, SLM_ERR_INVALID_ARGUMENT, "the prompt has no tokens");
        fail_choice(s, c, &err);
        return;
    }
    if (p->stream) srv_emit_start(r, c);
}

/* 1 while the choice's prompt is not all in its KV cache. */
static int prefilling(const srv_choice *c) { return c->n_prefilled < c->req->params.prompt_len[c->prompt]; }

/* The next chunk of the prompt of the choice admitted first among those still
 * prefilling; the last chunk samples its first token. */
static void prefill_chunk(srv_scheduler *s) {
    srv_choice *c = NULL;
    for (int slot = 0; slot < s->n_slots; slot++) {
        srv_choice *o = s->owner[slot];
        if (o && prefilling(o) && (!c || o->admitted < c->admitted)) c = o;
    }
    if (!c) return;
    if (atomic_load(&c->req->cancelled)) {
        finish_choice(s, c, SLM_FINISH_CALLER);
        return;
    }
    const int32_t *ids = c->req->params.prompt_ids[c->prompt];
    int n = c->req->params.prompt_len[c->prompt];
    int chunk = n - c->n_prefilled < PREFILL_CHUNK ? n - c->n_prefilled : PREFILL_CHUNK;
    slm_session *session = s->sessions[c->slot];
    slm_error err = {0};
    int last = c->n_prefilled + chunk == n;
    slm_status st = last ? slm_session_forward_last(session, ids + c->n_prefilled, (size_t)chunk, s->logits, &err)
                         : slm_session_forward(session, ids + c->n_prefilled, (size_t)chunk, SLM_OUTPUT_LOGITS, NULL, &err);
    if (st != SLM_OK) {
        fail_choice(s, c, &err);
        return;
    }
    c->n_prefilled += chunk;
    if (!last) return;
    c->last = ids[n - 1];
    consume(s, c, s->logits);
}

/* One batched decode step over every running choice; cancelled ones are dropped first. */
static void step(srv_scheduler *s) {
    int n = 0;
    for (int slot = 0; slot < s->n_slots; slot++) {
        srv_choice *c = s->owner[slot];
        if (!c) continue;
        if (atomic_load(&c->req->cancelled)) {
            finish_choice(s, c, SLM_FINISH_CALLER);
            continue;
        }
        if (prefilling(c)) continue;
        s->batch[n] = s->sessions[slot];
        s->batch_ids[n] = c->last;
        s->batch_slots[n++] = slot;
    }
    if (n == 0) return;
    slm_error err = {0};
    if (slm_session_forward_batch(s->batch, s->batch_ids, n, s->logits, &err) != SLM_OK) {
        for (int i = 0; i < n; i++) fail_choice(s, s->owner[s->batch_slots[i]], &err);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->n_steps++;
    s->n_rows += n;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++) consume(s, s->owner[s->batch_slots[i]], s->logits + (size_t)i * s->n_vocab);
}

static int free_slot(const srv_scheduler *s) {
    for (int i = 0; i < s->n_slots; i++)
        if (!s->owner[i]) return i;
    return -1;
}

static void *scheduler_main(void *arg) {
    srv_scheduler *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stop && s->n_active == 0 && s->n_queued == 0) pthread_cond_wait(&s->wake, &s->lock);
        if (s->stop && s->n_active == 0 && s->n_queued == 0) break;
        srv_choice *c = NULL;
        int slot = s->n_queued ? free_slot(s) : -1;
        if (slot >= 0) {
            c = s->head;
            s->head = c->next;
            if (!s->head) s->tail = NULL;
            s->n_queued--;
            s->n_active++;
            s->owner[slot] = c;
            c->slot = slot;
        }
        pthread_mutex_unlock(&s->lock);
        if (c) admit(s, c);
        prefill_chunk(s);
        step(s);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- lifecycle ---- */

int srv_scheduler_submit(srv_scheduler *s, srv_request *r) {
    pthread_mutex_lock(&s->lock);
    if (s->stop || s->n_queued + r->n_choices > s->max_queued) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    for (int i = 0; i < r->n_choices; i++) {
        srv_choice *c = &r->choices[i];
        atomic_fetch_add(&r->refs, 1);
        c->next = NULL;
        if (s->tail) s->tail->next = c;
        else s->head = c;
        s->tail = c;
        s->n_queued++;
    }
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int srv_scheduler_load(srv_scheduler *s) {
    pthread_mutex_lock(&s->lock);
    int load = s->n_active + s->n_queued;
    pthread_mutex_unlock(&s->lock);
    return load;
}

srv_scheduler_stats srv_scheduler_get_stats(srv_scheduler *s) {
    pthread_mutex_lock(&s->lock);
    srv_scheduler_stats st = {s->n_slots, s->n_active, s->n_queued, s->n_completed, s->n_cancelled, s->n_steps, s->n_rows};
    pthread_mutex_unlock(&s->lock);
    return st;
}

srv_scheduler *srv_scheduler_new(srv_model *m, const srv_config *config, slm_error *err) {
    srv_scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "scheduler");
        return NULL;
    }
    slm_model_info info = slm_model_get_info(m->model);
    s->m = m;
    s->n_slots = config->parallel;
    s->n_vocab = info.n_vocab;
    s->max_queued = config->queue;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    s->sessions = calloc((size_t)s->n_slots, sizeof *s->sessions);
    s->owner = calloc((size_t)s->n_slots, sizeof *s->owner);
    s->logits = malloc((size_t)s->n_slots * s->n_vocab * sizeof *s->logits);
    s->raw = malloc((size_t)s->n_vocab * sizeof *s->raw);
    s->batch = calloc((size_t)s->n_slots, sizeof *s->batch);
    s->batch_ids = calloc((size_t)s->n_slots, sizeof *s->batch_ids);
    s->batch_slots = calloc((size_t)s->n_slots, sizeof *s->batch_slots);
    if (!s->sessions || !s->owner || !s->logits || !s->raw || !s->batch || !s->batch_ids || !s->batch_slots) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: %d slots", m->name, s->n_slots);
        srv_scheduler_free(s);
        return NULL;
    }
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = m->n_ctx;
    sp.n_threads = config->threads;
    for (int i = 0; i < s->n_slots; i++) {
        s->sessions[i] = slm_session_new(m->model, &sp, err);
        if (!s->sessions[i]) {
            slm_error_prefix(err, m->name);
            srv_scheduler_free(s);
            return NULL;
        }
    }
    if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: scheduler thread", m->name);
        srv_scheduler_free(s);
        return NULL;
    }
    s->started = 1;
    return s;
}

void srv_scheduler_free(srv_scheduler *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        for (srv_choice *c = s->head; c; c = c->next) atomic_store(&c->req->cancelled, 1);
        for (int i = 0; i < s->n_slots; i++)
            if (s->owner[i]) atomic_store(&s->owner[i]->req->cancelled, 1);
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; s->sessions && i < s->n_slots; i++) slm_session_free(s->sessions[i]);
    free(s->sessions);
    free(s->owner);
    free(s->logits);
    free(s->raw);
    free(s->batch);
    free(s->batch_ids);
    free(s->batch_slots);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
