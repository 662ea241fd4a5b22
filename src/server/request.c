/* request.c — a /v1/completions or /v1/chat/completions body validated into
 * srv_gen_params: every field type- and range-checked with OpenAI's limits, unknown
 * fields refused (a typo must not be silently ignored), the chat rendered with the
 * model's template, and every prompt tokenized and checked against the context.
 * Errors name the field ("temperature: 3 is outside [0, 2]"). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "server/scheduler.h"

typedef struct {
    const srv_model *m;
    const json_t *body;
    const srv_config *config;
    srv_reply error;
} parse_ctx;

/* Records a 400 naming param; returns 0 so checks chain with &&. */
static int bad(parse_ctx *ctx, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(parse_ctx *ctx, const char *param, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    ctx->error = srv_error_reply(400, "invalid_request_error", param, NULL, "%s", message);
    return 0;
}

void srv_gen_params_free(srv_gen_params *p) {
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    free(p->stop);
    free(p->bias_ids);
    free(p->bias_values);
    for (int i = 0; i < p->n_prompts; i++) free(p->prompt_ids[i]);
    free(p->prompt_ids);
    free(p->prompt_len);
    memset(p, 0, sizeof *p);
}

/* The field, or NULL when absent or null (null means "the default" in OpenAI's API). */
static const json_t *field(const parse_ctx *ctx, const char *key) {
    const json_t *v = json_object_get(ctx->body, key);
    return json_is_null(v) ? NULL : v;
}

static int known_fields(parse_ctx *ctx, int chat) {
    static const char *common[] = {"model", "stream", "stream_options", "temperature", "top_p", "n", "max_tokens",
                                   "stop", "seed", "presence_penalty", "frequency_penalty", "logit_bias",
                                   "logprobs", "user", "top_k", "min_p", "repetition_penalty", "ignore_eos", NULL};
    static const char *chat_only[] = {"messages", "max_completion_tokens", "top_logprobs", "response_format", NULL};
    static const char *completion_only[] = {"prompt", "echo", "best_of", "suffix", NULL};
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)ctx->body, key, value) {
        int ok = 0;
        for (int i = 0; common[i] && !ok; i++) ok = !strcmp(key, common[i]);
        const char **extra = chat ? chat_only : completion_only;
        for (int i = 0; extra[i] && !ok; i++) ok = !strcmp(key, extra[i]);
        if (!ok) return bad(ctx, key, "%s: unrecognized request argument", key);
    }
    return 1;
}

/* A number field within [lo, hi] (absent: *out unchanged). */
static int number_in(parse_ctx *ctx, const char *key, double lo, double hi, float *out) {
    const json_t *v = field(ctx, key);
    if (!v) return 1;
    if (!json_is_number(v)) return bad(ctx, key, "%s: expected a number", key);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return bad(ctx, key, "%s: %g is outside [%g, %g]", key, x, lo, hi);
    *out = (float)x;
    return 1;
}

static int integer_in(parse_ctx *ctx, const char *key, long long lo, long long hi, int *out) {
    const json_t *v = field(ctx, key);
    if (!v) return 1;
    if (!json_is_integer(v)) return bad(ctx, key, "%s: expected an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return bad(ctx, key, "%s: %lld is outside [%lld, %lld]", key, x, lo, hi);
    *out = (int)x;
    return 1;
}

static int boolean(parse_ctx *ctx, const char *key, int *out) {
    const json_t *v = field(ctx, key);
    if (!v) return 1;
    if (!json_is_boolean(v)) return bad(ctx, key, "%s: expected true or false", key);
    *out = json_is_true(v);
    return 1;
}

static int parse_stop(parse_ctx *ctx, srv_gen_params *p) {
    const json_t *v = field(ctx, "stop");
    if (!v) return 1;
    if (json_is_string(v) || (json_is_array(v) && json_array_size(v) <= 4)) {
        size_t n = json_is_string(v) ? 1 : json_array_size(v);
        p->stop = calloc(n + 1, sizeof *p->stop);
        for (size_t i = 0; p->stop && i < n; i++) {
            const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
            if (!json_is_string(s)) return bad(ctx, "stop", "stop[%zu]: expected a string", i);
            p->stop[p->n_stop++] = strdup(json_string_value(s));
        }
        return 1;
    }
    return bad(ctx, "stop", "stop: expected a string or a list of at most 4 strings");
}

static int parse_logit_bias(parse_ctx *ctx, srv_gen_params *p, int n_vocab) {
    const json_t *v = field(ctx, "logit_bias");
    if (!v) return 1;
    if (!json_is_object(v)) return bad(ctx, "logit_bias", "logit_bias: expected an object of token id -> bias");
    size_t n = json_object_size(v);
    p->bias_ids = malloc((n + 1) * sizeof *p->bias_ids);
    p->bias_values = malloc((n + 1) * sizeof *p->bias_values);
    if (!p->bias_ids || !p->bias_values) return bad(ctx, "logit_bias", "logit_bias: out of memory");
    const char *key;
    json_t *bias;
    json_object_foreach((json_t *)v, key, bias) {
        char *end;
        long id = strtol(key, &end, 10);
        if (*key == '\0' || *end || id < 0 || id >= n_vocab)
            return bad(ctx, "logit_bias", "logit_bias: \"%s\" is not a token id in [0, %d)", key, n_vocab);
        if (!json_is_number(bias) || json_number_value(bias) < -100 || json_number_value(bias) > 100)
            return bad(ctx, "logit_bias", "logit_bias[%s]: expected a number in [-100, 100]", key);
        p->bias_ids[p->n_bias] = (int32_t)id;
        p->bias_values[p->n_bias++] = (float)json_number_value(bias);
    }
    return 1;
}

static int parse_sampling(parse_ctx *ctx, srv_gen_params *p) {
    slm_generate_params *g = &p->gen;
    int ok = number_in(ctx, "temperature", 0, 2, &g->temperature) && number_in(ctx, "top_p", 0, 1, &g->top_p) &&
             number_in(ctx, "presence_penalty", -2, 2, &g->presence_penalty) &&
             number_in(ctx, "frequency_penalty", -2, 2, &g->frequency_penalty) &&
             number_in(ctx, "min_p", 0, 1, &g->min_p) &&
             number_in(ctx, "repetition_penalty", 1e-6, 1e6, &g->repetition_penalty) &&
             integer_in(ctx, "top_k", 0, 1 << 30, &g->top_k) && boolean(ctx, "ignore_eos", &g->ignore_eos) &&
             integer_in(ctx, "n", 1, ctx->config->max_n, &p->n);
    if (!ok) return 0;
    if (g->top_p == 0) return bad(ctx, "top_p", "top_p: 0 is outside (0, 1]");
    const json_t *seed = field(ctx, "seed");
    if (seed && !json_is_integer(seed)) return bad(ctx, "seed", "seed: expected an integer");
    if (seed) g->seed = (uint64_t)json_integer_value(seed);
    const char *max_key = field(ctx, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    g->max_tokens = ctx->config->max_tokens;
    return integer_in(ctx, max_key, 1, ctx->config->max_tokens, &g->max_tokens);
}

static int parse_stream(parse_ctx *ctx, srv_gen_params *p) {
    if (!boolean(ctx, "stream", &p->stream)) return 0;
    const json_t *opts = field(ctx, "stream_options");
    if (!opts) return 1;
    if (!p->stream) return bad(ctx, "stream_options", "stream_options: only allowed when stream is true");
    const json_t *usage = json_object_get(opts, "include_usage");
    if (!json_is_object(opts) || (usage && !json_is_boolean(usage)))
        return bad(ctx, "stream_options", "stream_options: expected {\"include_usage\": true|false}");
    p->include_usage = json_is_true(usage);
    return 1;
}

static int parse_logprobs(parse_ctx *ctx, srv_gen_params *p) {
    if (p->chat) {
        if (!boolean(ctx, "logprobs", &p->logprobs) || !integer_in(ctx, "top_logprobs", 0, 20, &p->top_logprobs))
            return 0;
        if (field(ctx, "top_logprobs") && !p->logprobs)
            return bad(ctx, "top_logprobs", "top_logprobs: requires logprobs to be true");
        return 1;
    }
    int top = -1;
    if (!integer_in(ctx, "logprobs", 0, 5, &top)) return 0;
    p->logprobs = top >= 0;
    p->top_logprobs = top > 0 ? top : 0;
    return 1;
}

/* The unsupported completions options, accepted only at their defaults. */
static int completion_defaults(parse_ctx *ctx, const srv_gen_params *p) {
    const json_t *echo = field(ctx, "echo"), *best_of = field(ctx, "best_of"), *suffix = field(ctx, "suffix");
    if (echo && !json_is_false(echo)) return bad(ctx, "echo", "echo: only false is supported");
    if (suffix && !(json_is_string(suffix) && json_string_length(suffix) == 0))
        return bad(ctx, "suffix", "suffix: not supported");
    if (best_of && !(json_is_integer(best_of) && json_integer_value(best_of) == p->n))
        return bad(ctx, "best_of", "best_of: only best_of = n is supported");
    return 1;
}

/* ---- prompts ---- */

static int add_prompt(parse_ctx *ctx, srv_gen_params *p, int32_t *ids, size_t n, const char *param) {
    const slm_model *model = ctx->m->model;
    if (n == 0) { /* as slm_generate: an empty prompt starts from BOS */
        int32_t bos = slm_model_bos(model);
        free(ids);
        if (bos < 0) return bad(ctx, param, "%s: empty prompt and the model has no BOS token", param);
        ids = malloc(sizeof *ids);
        if (!ids) return bad(ctx, param, "out of memory");
        ids[0] = bos;
        n = 1;
    }
    int n_ctx = ctx->m->n_ctx;
    if (n >= (size_t)n_ctx) {
        free(ids);
        ctx->error = srv_error_reply(400, "invalid_request_error", param, "context_length_exceeded",
                                     "%s: %zu tokens leave no room in this model's context of %d tokens", param, n,
                                     n_ctx);
        return 0;
    }
    int32_t **grown_ids = realloc(p->prompt_ids, (size_t)(p->n_prompts + 1) * sizeof *grown_ids);
    if (grown_ids) p->prompt_ids = grown_ids;
    int *grown_len = grown_ids ? realloc(p->prompt_len, (size_t)(p->n_prompts + 1) * sizeof *grown_len) : NULL;
    if (!grown_len) {
        free(ids);
        return bad(ctx, param, "out of memory");
    }
    p->prompt_len = grown_len;
    p->prompt_ids[p->n_prompts] = ids;
    p->prompt_len[p->n_prompts++] = (int)n;
    return 1;
}

static int add_text_prompt(parse_ctx *ctx, srv_gen_params *p, const char *text, size_t len, int add_special,
                           const char *param) {
    const slm_tokenizer *tok = slm_model_tokenizer(ctx->m->model);
    int32_t *ids = NULL;
    size_t n = 0;
    slm_error err;
    if (slm_tokenize(tok, text, len, add_special, &ids, &n, &err) != SLM_OK)
        return bad(ctx, param, "%s: %s", param, err.message);
    return add_prompt(ctx, p, ids, n, param);
}

static int add_id_prompt(parse_ctx *ctx, srv_gen_params *p, const json_t *list) {
    size_t n = json_array_size(list);
    int n_vocab = slm_model_get_info(ctx->m->model).n_vocab;
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    if (!ids) return bad(ctx, "prompt", "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *id = json_array_get(list, i);
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= n_vocab) {
            free(ids);
            return bad(ctx, "prompt", "prompt: token %zu is not an id in [0, %d)", i, n_vocab);
        }
        ids[i] = (int32_t)json_integer_value(id);
    }
    return add_prompt(ctx, p, ids, n, "prompt");
}

/* prompt: a string, a list of strings, a list of token ids, or a list of such lists. */
static int parse_prompt(parse_ctx *ctx, srv_gen_params *p) {
    const json_t *v = field(ctx, "prompt");
    if (!v) return bad(ctx, "prompt", "prompt: required");
    if (json_is_string(v)) return add_text_prompt(ctx, p, json_string_value(v), json_string_length(v), 1, "prompt");
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 64)
        return bad(ctx, "prompt", "prompt: expected a string, or a list of 1 to 64 strings or token lists");
    if (json_is_integer(json_array_get(v, 0))) return add_id_prompt(ctx, p, v);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        int ok = json_is_string(item) ? add_text_prompt(ctx, p, json_string_value(item), json_string_length(item), 1,
                                                        "prompt")
                 : json_is_array(item) ? add_id_prompt(ctx, p, item)
                                       : bad(ctx, "prompt", "prompt[%zu]: expected a string or a list of token ids", i);
        if (!ok) return 0;
    }
    return 1;
}

/* A message's content as text: a string, or the text parts of a list of parts. */
static json_t *message_text(parse_ctx *ctx, const json_t *content, size_t index, const char *role) {
    if (json_is_string(content)) return json_incref((json_t *)content);
    if (!content && !strcmp(role, "assistant")) return json_string("");
    if (json_is_array(content)) {
        size_t i, total = 0;
        json_t *part;
        json_array_foreach(content, i, part) {
            const json_t *t = json_object_get(part, "text");
            const char *type = json_string_value(json_object_get(part, "type"));
            if (!json_is_string(t) || !type || strcmp(type, "text") != 0) {
                bad(ctx, "messages", "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": ...} parts are "
                                     "supported", index, i);
                return NULL;
            }
            total += json_string_length(t);
        }
        char *joined = malloc(total + 1);
        if (!joined) return bad(ctx, "messages", "out of memory"), NULL;
        total = 0;
        json_array_foreach(content, i, part) {
            const json_t *t = json_object_get(part, "text");
            memcpy(joined + total, json_string_value(t), json_string_length(t));
            total += json_string_length(t);
        }
        json_t *text = json_stringn(joined, total);
        free(joined);
        return text;
    }
    bad(ctx, "messages", "messages[%zu].content: expected a string or a list of text parts", index);
    return NULL;
}

/* messages -> [{role, content}] for the template; developer messages act as system ones. */
static json_t *clean_messages(parse_ctx *ctx) {
    const json_t *v = field(ctx, "messages");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad(ctx, "messages", "messages: expected a non-empty list of messages"), NULL;
    json_t *out = json_array();
    size_t i;
    json_t *msg;
    json_array_foreach(v, i, msg) {
        const char *role = json_string_value(json_object_get(msg, "role"));
        static const char *roles[] = {"system", "developer", "user", "assistant", "tool"};
        int known = 0;
        for (size_t k = 0; role && k < 5; k++) known |= !strcmp(role, roles[k]);
        if (!json_is_object(msg) || !known) {
            json_decref(out);
            return bad(ctx, "messages", "messages[%zu].role: expected system, developer, user, assistant or tool", i),
                   NULL;
        }
        const json_t *content = json_object_get(msg, "content");
        json_t *text = message_text(ctx, json_is_null(content) ? NULL : content, i, role);
        if (!text) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:s,s:o}", "role", strcmp(role, "developer") ? role : "system",
                                             "content", text));
    }
    return out;
}

static int parse_messages(parse_ctx *ctx, srv_gen_params *p) {
    const srv_model *m = ctx->m;
    json_t *messages = clean_messages(ctx);
    if (!messages) return 0;
    json_t *vars = json_pack("{s:o,s:b,s:s,s:s}", "messages", messages, "add_generation_prompt", 1, "bos_token",
                             m->bos_token ? m->bos_token : "", "eos_token", m->eos_token ? m->eos_token : "");
    char error[512];
    char *prompt = srv_template_render(m->chat_template, vars, error, sizeof error);
    json_decref(vars);
    if (!prompt) return bad(ctx, "messages", "messages: %s", error);
    /* A model's own template writes its special tokens (BOS) itself, as transformers'
     * apply_chat_template assumes; the plain template relies on the tokenizer's, as slm generate does. */
    int ok = add_text_prompt(ctx, p, prompt, strlen(prompt), !m->has_own_template, "messages");
    free(prompt);
    return ok;
}

srv_reply srv_parse_generation(const srv_model *m, const json_t *body, int chat, const srv_config *config,
                               srv_gen_params *p) {
    parse_ctx ctx = {m, body, config, {0, NULL, NULL}};
    memset(p, 0, sizeof *p);
    p->chat = chat;
    p->n = 1;
    p->gen = slm_generate_default_params();
    int ok = known_fields(&ctx, chat) && parse_stream(&ctx, p) && parse_sampling(&ctx, p) &&
             parse_stop(&ctx, p) && parse_logit_bias(&ctx, p, slm_model_get_info(m->model).n_vocab) &&
             parse_logprobs(&ctx, p) && (chat || completion_defaults(&ctx, p));
    if (ok && !slm_model_tokenizer(m->model))
        ok = bad(&ctx, "model", "model: %s was loaded without a tokenizer", m->name);
    if (ok) ok = chat ? parse_messages(&ctx, p) : parse_prompt(&ctx, p);
    if (ok && p->n_prompts * p->n > config->max_n)
        ok = bad(&ctx, "n", "n: %d prompts x n = %d exceeds the limit of %d choices", p->n_prompts,
                 p->n_prompts * p->n, config->max_n);
    p->gen.stop = (const char *const *)p->stop;
    p->gen.n_stop = p->n_stop;
    if (!ok) {
        srv_gen_params_free(p);
        return ctx.error;
    }
    return ctx.error; /* status 0 */
}
