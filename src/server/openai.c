/* openai.c — the JSON the OpenAI API answers with: completions and chat completions
 * (whole, or as server-sent event chunks), logprobs in both of OpenAI's shapes (chat's
 * {content: [{token, logprob, bytes, top_logprobs}]} and the legacy completions'
 * {tokens, token_logprobs, top_logprobs, text_offset}), usage, and error objects.
 *
 * logprob is the log-softmax of the model's raw logits (after logit_bias, before
 * penalties and temperature): what the model thinks, independent of how it was sampled. */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/scheduler.h"
#include "tokenizers/tokenizer.h"

/* ---- small JSON helpers shared by the server ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || len > n) return 0;
    unsigned cp = len == 2 ? (s[0] & 0x1fu) : len == 3 ? (s[0] & 0x0fu) : (s[0] & 0x07u);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

json_t *srv_json_text(const char *text, size_t len) {
    json_t *s = json_stringn(text, len);
    if (s) return s;
    char *clean = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes of U+FFFD */
    if (!clean) return json_string("");
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t n = text[i] ? utf8_sequence((const unsigned char *)text + i, len - i) : 1;
        if (n) {
            memcpy(clean + k, text + i, n);
            k += n;
            i += n;
        } else {
            memcpy(clean + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
    s = json_stringn(clean, k);
    free(clean);
    return s ? s : json_string("");
}

int srv_json_too_deep(const char *text, size_t len, int max_depth) {
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

void srv_make_id(char *out, size_t cap, const char *prefix) {
    static atomic_ulong counter; /* process-wide, so ids never repeat within a run */
    unsigned long n = atomic_fetch_add(&counter, 1);
    unsigned long long t = (unsigned long long)time(NULL);
    snprintf(out, cap, "%s%08llx%08x%08lx", prefix, t & 0xffffffffull, (unsigned)getpid(), n & 0xfffffffful);
}

json_t *srv_error_json(const char *type, const char *message, const char *param, const char *code) {
    json_t *err = json_object();
    json_object_set_new(err, "message", srv_json_text(message, strlen(message)));
    json_object_set_new(err, "type", json_string(type));
    json_object_set_new(err, "param", param ? srv_json_text(param, strlen(param)) : json_null());
    json_object_set_new(err, "code", code ? json_string(code) : json_null());
    return json_pack("{s:o}", "error", err);
}

srv_reply srv_error_reply(int status, const char *type, const char *param, const char *code, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    srv_reply reply = {status, srv_error_json(type, message, param, code), NULL};
    return reply;
}

/* ---- logprobs ---- */

/* {token, bytes} of one token's text after prev: the exact bytes, and a string with any
 * partial UTF-8 shown as U+FFFD (the reason OpenAI gives bytes at all). */
static void set_token_text(json_t *obj, const slm_tokenizer *tok, int32_t prev, int32_t id) {
    size_t len = 0;
    const char *piece = slm_tokenizer_piece(tok, prev, id, &len);
    if (!piece) piece = "", len = 0;
    json_t *bytes = json_array();
    for (size_t i = 0; i < len; i++) json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    json_object_set_new(obj, "token", srv_json_text(piece, len));
    json_object_set_new(obj, "bytes", bytes);
}

json_t *srv_logprob_entry(const slm_tokenizer *tok, int32_t prev, int32_t id, const float *logits, int n_vocab,
                          int top) {
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    double lse = max + log(sum);
    json_t *entry = json_object();
    set_token_text(entry, tok, prev, id);
    json_object_set_new(entry, "logprob", json_real((double)logits[id] - lse));
    /* The top alternatives by insertion into a short sorted list (top <= 20). */
    int best[20], n_best = 0;
    for (int i = 0; i < n_vocab && top > 0; i++) {
        if (n_best == top && logits[i] <= logits[best[n_best - 1]]) continue;
        int k = n_best < top ? n_best++ : n_best - 1;
        while (k > 0 && logits[best[k - 1]] < logits[i]) best[k] = best[k - 1], k--;
        best[k] = i;
    }
    json_t *alternatives = json_array();
    for (int k = 0; k < n_best; k++) {
        json_t *alt = json_object();
        set_token_text(alt, tok, prev, best[k]);
        json_object_set_new(alt, "logprob", json_real((double)logits[best[k]] - lse));
        json_array_append_new(alternatives, alt);
    }
    json_object_set_new(entry, "top_logprobs", alternatives);
    return entry;
}

/* The legacy completions shape of entries, text offsets counted from *offset (advanced). */
static json_t *legacy_logprobs(const json_t *entries, size_t *offset) {
    json_t *tokens = json_array(), *values = json_array(), *tops = json_array(), *offsets = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        json_array_append(tokens, json_object_get(e, "token"));
        json_array_append(values, json_object_get(e, "logprob"));
        json_t *top = json_object();
        size_t k;
        json_t *alt;
        json_array_foreach(json_object_get(e, "top_logprobs"), k, alt)
            json_object_set(top, json_string_value(json_object_get(alt, "token")), json_object_get(alt, "logprob"));
        json_array_append_new(tops, top);
        json_array_append_new(offsets, json_integer((json_int_t)*offset));
        *offset += json_array_size(json_object_get(e, "bytes"));
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", values, "top_logprobs", tops,
                     "text_offset", offsets);
}

/* The choice's logprobs field for entries (NULL entries or logprobs off: null). */
static json_t *logprobs_field(const srv_request *r, srv_choice *c, const json_t *entries) {
    if (!r->params.logprobs || !entries) return json_null();
    if (r->params.chat) return json_pack("{s:O}", "content", entries);
    return legacy_logprobs(entries, &c->text_offset);
}

static const char *finish_name(slm_finish_reason reason) {
    return reason == SLM_FINISH_LENGTH ? "length" : "stop";
}

static json_t *usage_json(const srv_request *r) {
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", r->prompt_tokens, "completion_tokens", r->completion_tokens,
                     "total_tokens", r->prompt_tokens + r->completion_tokens);
}

static json_t *response_base(const srv_request *r, const char *object) {
    return json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", r->id, "object", object, "created", (json_int_t)r->created,
                     "model", r->model->name, "system_fingerprint", "slm");
}

/* ---- streaming ---- */

/* Appends "data: <json>\n\n" to r->out; r->lock held. */
static void append_event(srv_request *r, json_t *event) {
    char *text = event ? json_dumps(event, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(event);
    if (!text) return;
    size_t n = strlen(text), need = r->out_len + n + 8;
    if (need > r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap : 1024;
        while (cap < need) cap *= 2;
        char *grown = realloc(r->out, cap);
        if (!grown) {
            free(text);
            return;
        }
        r->out = grown;
        r->out_cap = cap;
    }
    r->out_len += (size_t)sprintf(r->out + r->out_len, "data: %s\n\n", text);
    free(text);
    pthread_cond_broadcast(&r->changed);
}

/* One chunk for choice c: chat's delta or the completion's text, pending logprobs, finish. */
static json_t *chunk(srv_request *r, srv_choice *c, json_t *delta_or_text, const char *finish) {
    json_t *event = response_base(r, r->params.chat ? "chat.completion.chunk" : "text_completion");
    json_t *entries = json_array_size(c->logprobs) ? c->logprobs : NULL;
    json_t *choice = json_pack("{s:i,s:o,s:o}", "index", c->index, "logprobs", logprobs_field(r, c, entries),
                               "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(choice, r->params.chat ? "delta" : "text", delta_or_text);
    if (entries) { /* sent: start a new pending list */
        json_decref(c->logprobs);
        c->logprobs = json_array();
    }
    json_object_set_new(event, "choices", json_pack("[o]", choice));
    return event;
}

void srv_emit_start(srv_request *r, srv_choice *c) {
    if (!r->params.chat) return;
    pthread_mutex_lock(&r->lock);
    append_event(r, chunk(r, c, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL));
    pthread_mutex_unlock(&r->lock);
}

void srv_emit_piece(srv_request *r, srv_choice *c, const char *piece, size_t len) {
    json_t *text = srv_json_text(piece, len);
    pthread_mutex_lock(&r->lock);
    append_event(r, chunk(r, c, r->params.chat ? json_pack("{s:o}", "content", text) : text, NULL));
    pthread_mutex_unlock(&r->lock);
}

void srv_emit_finish(srv_request *r, srv_choice *c) {
    pthread_mutex_lock(&r->lock);
    append_event(r, chunk(r, c, r->params.chat ? json_object() : json_string(""), finish_name(c->finish)));
    pthread_mutex_unlock(&r->lock);
}

void srv_emit_done(srv_request *r) {
    pthread_mutex_lock(&r->lock);
    if (r->error) append_event(r, srv_error_json("server_error", r->error, NULL, NULL));
    if (r->params.include_usage) {
        json_t *event = response_base(r, r->params.chat ? "chat.completion.chunk" : "text_completion");
        json_object_set_new(event, "choices", json_array());
        json_object_set_new(event, "usage", usage_json(r));
        append_event(r, event);
    }
    static const char done[] = "data: [DONE]\n\n";
    if (r->out_len + sizeof done > r->out_cap) {
        char *grown = realloc(r->out, r->out_len + sizeof done);
        if (grown) r->out = grown, r->out_cap = r->out_len + sizeof done;
    }
    if (r->out_len + sizeof done <= r->out_cap) {
        memcpy(r->out + r->out_len, done, sizeof done - 1);
        r->out_len += sizeof done - 1;
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

/* ---- whole responses ---- */

json_t *srv_completion_json(const srv_request *r) {
    json_t *body = response_base(r, r->params.chat ? "chat.completion" : "text_completion");
    json_t *choices = json_array();
    for (int i = 0; i < r->n_choices; i++) {
        srv_choice *c = &r->choices[i];
        json_t *text = srv_json_text(c->text ? c->text : "", c->text ? c->text_len : 0);
        json_t *choice = json_pack("{s:i}", "index", c->index);
        if (r->params.chat)
            json_object_set_new(choice, "message", json_pack("{s:s,s:o}", "role", "assistant", "content", text));
        else
            json_object_set_new(choice, "text", text);
        json_object_set_new(choice, "logprobs", logprobs_field(r, c, c->logprobs));
        json_object_set_new(choice, "finish_reason", json_string(finish_name(c->finish)));
        json_array_append_new(choices, choice);
    }
    json_object_set_new(body, "choices", choices);
    json_object_set_new(body, "usage", usage_json(r));
    return body;
}
