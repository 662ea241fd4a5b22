/* encoder_api.c — the encoder endpoints, each a thin JSON layer over include/slm_tasks.h:
 *   POST /v1/embeddings  OpenAI's shape; input a string or a list of strings;
 *                        encoding_format float or base64 (little-endian float32);
 *                        dimensions <= the model's width keeps the first ones (and
 *                        L2-normalises again when the model's pooling normalises).
 *   POST /v1/fill-mask   {model, input, top_k?}          -> {object: "fill_mask", masks: [...]}
 *   POST /v1/classify    {model, input (string or list), pair?, function?}
 *                                                        -> {object: "classification", data: [...]}
 *   POST /v1/ner         {model, input, aggregation?}    -> {object: "ner", entities: [...]}
 *   POST /v1/qa          {model, question, context, max_answer_len?}
 *                                                        -> {object: "qa", answer, score, start, end}
 * Offsets are Unicode code points, as in the library. One session per model, used by
 * one request at a time (encoders answer in milliseconds at these sizes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "slm_tasks.h"

#define BAD(param, ...) srv_error_reply(400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* Refuses fields outside allowed (NULL-terminated). */
static int unknown_field(const json_t *body, const char *const *allowed, srv_reply *error) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++) ok = !strcmp(key, allowed[i]);
        if (!ok) {
            *error = BAD(key, "%s: unrecognized request argument", key);
            return 1;
        }
    }
    return 0;
}

static srv_reply library_error(const slm_error *err) {
    int status = err->status == SLM_ERR_INVALID_ARGUMENT || err->status == SLM_ERR_CONTEXT_FULL ? 400 : 500;
    return srv_error_reply(status, status == 400 ? "invalid_request_error" : "server_error", NULL, NULL, "%s",
                           err->message);
}

static srv_reply ok_reply(json_t *body) {
    srv_reply r = {200, body, NULL};
    return r;
}

/* input: a string or a non-empty list of at most max strings, as a NULL-terminated array (borrowed). */
static const char **input_texts(const json_t *input, size_t max, int *n, srv_reply *error) {
    size_t count = json_is_string(input) ? 1 : json_is_array(input) ? json_array_size(input) : 0;
    if (count == 0 || count > max) {
        *error = BAD("input", "input: expected a string or a list of 1 to %zu strings", max);
        return NULL;
    }
    const char **texts = calloc(count + 1, sizeof *texts);
    for (size_t i = 0; texts && i < count; i++) {
        const json_t *t = json_is_string(input) ? input : json_array_get(input, i);
        if (!json_is_string(t)) {
            free(texts);
            *error = BAD("input", "input[%zu]: expected a string (token lists are not supported)", i);
            return NULL;
        }
        texts[i] = json_string_value(t);
    }
    if (!texts) *error = srv_error_reply(500, "server_error", NULL, NULL, "out of memory");
    *n = (int)count;
    return texts;
}

static json_t *base64_floats(const float *v, int n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = (size_t)n * 4;
    unsigned char *bytes = malloc(len);
    char *out = malloc((len + 2) / 3 * 4 + 1);
    json_t *s = NULL;
    if (bytes && out) {
        for (int i = 0; i < n; i++) { /* little-endian float32, what numpy's frombuffer reads */
            uint32_t u;
            memcpy(&u, &v[i], 4);
            for (int b = 0; b < 4; b++) bytes[i * 4 + b] = (unsigned char)(u >> (8 * b));
        }
        size_t k = 0;
        for (size_t i = 0; i < len; i += 3) {
            uint32_t w = (uint32_t)bytes[i] << 16 | (i + 1 < len ? (uint32_t)bytes[i + 1] << 8 : 0) |
                         (i + 2 < len ? bytes[i + 2] : 0);
            out[k++] = digits[w >> 18 & 63];
            out[k++] = digits[w >> 12 & 63];
            out[k++] = i + 1 < len ? digits[w >> 6 & 63] : '=';
            out[k++] = i + 2 < len ? digits[w & 63] : '=';
        }
        out[k] = '\0';
        s = json_string(out);
    }
    free(bytes);
    free(out);
    return s;
}

/* Tokens each text costs (with special tokens, truncated as the embedding truncates). */
static int count_tokens(const slm_model *model, const char *const *texts, int n) {
    const slm_tokenizer *tok = slm_model_tokenizer(model);
    int total = 0, max = slm_model_max_length(model);
    for (int i = 0; tok && i < n; i++) {
        int32_t *ids = NULL;
        size_t count = 0;
        if (slm_tokenize(tok, texts[i], strlen(texts[i]), 1, &ids, &count, NULL) == SLM_OK)
            total += max > 0 && count > (size_t)max ? max : (int)count;
        slm_free(ids);
    }
    return total;
}

srv_reply srv_embeddings(srv_model *m, const json_t *body, const srv_config *config) {
    (void)config;
    static const char *const allowed[] = {"model", "input", "encoding_format", "dimensions", "user", NULL};
    srv_reply error;
    if (!m->is_encoder) return BAD("model", "model: %s is a decoder; embeddings need an encoder model", m->name);
    if (unknown_field(body, allowed, &error)) return error;
    const char *format = json_string_value(json_object_get(body, "encoding_format"));
    if (json_object_get(body, "encoding_format") && (!format || (strcmp(format, "float") && strcmp(format, "base64"))))
        return BAD("encoding_format", "encoding_format: expected \"float\" or \"base64\"");
    int n = 0;
    const char **texts = input_texts(json_object_get(body, "input"), 2048, &n, &error);
    if (!texts) return error;
    float *vectors = NULL;
    int dim = 0;
    slm_error err;
    slm_pooling pooling;
    pthread_mutex_lock(&m->encoder_lock);
    slm_status st = slm_embed(m->encoder_session, texts, n, &vectors, &dim, &err);
    pthread_mutex_unlock(&m->encoder_lock);
    if (st == SLM_OK) st = slm_pooling_from_model(m->model, &pooling, &err);
    if (st != SLM_OK) {
        free(texts);
        slm_free(vectors);
        return library_error(&err);
    }
    const json_t *dims = json_object_get(body, "dimensions");
    int keep = dim;
    if (dims && (!json_is_integer(dims) || json_integer_value(dims) < 1 || json_integer_value(dims) > dim)) {
        free(texts);
        slm_free(vectors);
        return BAD("dimensions", "dimensions: expected an integer in [1, %d] (this model's width)", dim);
    }
    if (dims) keep = (int)json_integer_value(dims);
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        float *v = vectors + (size_t)i * dim;
        if (keep < dim && pooling.normalize) { /* shortened vectors stay unit length */
            double norm = 0;
            for (int k = 0; k < keep; k++) norm += (double)v[k] * v[k];
            norm = sqrt(norm) > 1e-12 ? sqrt(norm) : 1e-12;
            for (int k = 0; k < keep; k++) v[k] = (float)(v[k] / norm);
        }
        json_t *embedding;
        if (format && !strcmp(format, "base64")) {
            embedding = base64_floats(v, keep);
        } else {
            embedding = json_array();
            for (int k = 0; k < keep; k++) json_array_append_new(embedding, json_real(v[k]));
        }
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i, "embedding", embedding));
    }
    int tokens = count_tokens(m->model, texts, n);
    free(texts);
    slm_free(vectors);
    return ok_reply(json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data, "model", m->name, "usage",
                              "prompt_tokens", tokens, "total_tokens", tokens));
}

/* ---- tasks ---- */

static srv_reply fill_mask(srv_model *m, const json_t *body) {
    const char *text = json_string_value(json_object_get(body, "input"));
    const json_t *top = json_object_get(body, "top_k");
    if (!text) return BAD("input", "input: expected a string with the tokenizer's mask token");
    if (top && (!json_is_integer(top) || json_integer_value(top) < 1 || json_integer_value(top) > 100))
        return BAD("top_k", "top_k: expected an integer in [1, 100]");
    slm_fill_mask_result *result = NULL;
    slm_error err;
    pthread_mutex_lock(&m->encoder_lock);
    slm_status st = slm_fill_mask(m->encoder_session, text, NULL, top ? (int)json_integer_value(top) : 5, &result,
                                  &err);
    pthread_mutex_unlock(&m->encoder_lock);
    if (st != SLM_OK) return library_error(&err);
    json_t *masks = json_array();
    for (int i = 0; i < result->n_masks; i++) {
        const slm_fill_mask_slot *slot = &result->masks[i];
        json_t *candidates = json_array();
        for (int k = 0; k < slot->n_candidates; k++) {
            const slm_fill_mask_candidate *c = &slot->candidates[k];
            json_array_append_new(candidates,
                                  json_pack("{s:i,s:o,s:f,s:o}", "token", c->token, "token_str",
                                            srv_json_text(c->token_str, strlen(c->token_str)), "score", c->score,
                                            "sequence", srv_json_text(c->sequence, strlen(c->sequence))));
        }
        json_array_append_new(masks, json_pack("{s:i,s:o}", "position", slot->position, "candidates", candidates));
    }
    slm_fill_mask_result_free(result);
    return ok_reply(json_pack("{s:s,s:s,s:o}", "object", "fill_mask", "model", m->name, "masks", masks));
}

static srv_reply classify(srv_model *m, const json_t *body) {
    static const char *names[] = {"auto", "softmax", "sigmoid", "none"};
    const char *function = json_string_value(json_object_get(body, "function"));
    const json_t *pair = json_object_get(body, "pair");
    int fn = 0;
    while (function && fn < 4 && strcmp(function, names[fn])) fn++;
    if ((json_object_get(body, "function") && (!function || fn == 4)) || (pair && !json_is_string(pair)))
        return BAD(function && fn < 4 ? "pair" : "function",
                   "function: expected auto, softmax, sigmoid or none; pair: expected a string");
    srv_reply error;
    int n = 0;
    const char **texts = input_texts(json_object_get(body, "input"), 64, &n, &error);
    if (!texts) return error;
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        slm_label_score *scores = NULL;
        int n_scores = 0;
        slm_error err;
        pthread_mutex_lock(&m->encoder_lock);
        slm_status st = slm_classify(m->encoder_session, texts[i], json_string_value(pair), (slm_score_function)fn,
                                     &scores, &n_scores, &err);
        pthread_mutex_unlock(&m->encoder_lock);
        if (st != SLM_OK) {
            json_decref(data);
            free(texts);
            return library_error(&err);
        }
        json_t *labels = json_array();
        for (int k = 0; k < n_scores; k++)
            json_array_append_new(labels, json_pack("{s:s,s:f}", "label", scores[k].name, "score", scores[k].score));
        slm_free(scores);
        json_array_append_new(data, json_pack("{s:i,s:o}", "index", i, "labels", labels));
    }
    free(texts);
    return ok_reply(json_pack("{s:s,s:s,s:o}", "object", "classification", "model", m->name, "data", data));
}

static srv_reply ner(srv_model *m, const json_t *body) {
    const char *text = json_string_value(json_object_get(body, "input"));
    const char *aggregation = json_string_value(json_object_get(body, "aggregation"));
    int agg = aggregation ? slm_aggregation_from_name(aggregation) : SLM_AGGREGATION_NONE;
    if (!text) return BAD("input", "input: expected a string");
    if (agg < 0 || (json_object_get(body, "aggregation") && !aggregation))
        return BAD("aggregation", "aggregation: expected none, simple, first, average or max");
    slm_entity *entities = NULL;
    int n = 0;
    slm_error err;
    pthread_mutex_lock(&m->encoder_lock);
    slm_status st = slm_ner(m->encoder_session, text, (slm_aggregation)agg, &entities, &n, &err);
    pthread_mutex_unlock(&m->encoder_lock);
    if (st != SLM_OK) return library_error(&err);
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        const slm_entity *e = &entities[i];
        json_t *item = json_pack("{s:o,s:f,s:o,s:i,s:i}", "entity", srv_json_text(e->entity, strlen(e->entity)),
                                 "score", e->score, "word", srv_json_text(e->word, strlen(e->word)), "start", e->start,
                                 "end", e->end);
        if (e->index >= 0) json_object_set_new(item, "index", json_integer(e->index));
        json_array_append_new(list, item);
    }
    slm_entities_free(entities, n);
    return ok_reply(json_pack("{s:s,s:s,s:o}", "object", "ner", "model", m->name, "entities", list));
}

static srv_reply qa(srv_model *m, const json_t *body) {
    const char *question = json_string_value(json_object_get(body, "question"));
    const char *context = json_string_value(json_object_get(body, "context"));
    const json_t *max_len = json_object_get(body, "max_answer_len");
    if (!question || !context) return BAD(question ? "context" : "question", "question and context: expected strings");
    if (max_len && (!json_is_integer(max_len) || json_integer_value(max_len) < 1 || json_integer_value(max_len) > 512))
        return BAD("max_answer_len", "max_answer_len: expected an integer in [1, 512]");
    slm_qa_params params = slm_qa_default_params();
    if (max_len) params.max_answer_len = (int)json_integer_value(max_len);
    slm_qa_answer answer = {0};
    slm_error err;
    pthread_mutex_lock(&m->encoder_lock);
    slm_status st = slm_qa(m->encoder_session, question, context, &params, &answer, &err);
    pthread_mutex_unlock(&m->encoder_lock);
    if (st != SLM_OK) return library_error(&err);
    json_t *out = json_pack("{s:s,s:s,s:o,s:f,s:i,s:i}", "object", "qa", "model", m->name, "answer",
                            srv_json_text(answer.answer, strlen(answer.answer)), "score", answer.score, "start",
                            answer.start, "end", answer.end);
    slm_qa_answer_clear(&answer);
    return ok_reply(out);
}

srv_reply srv_encoder_task(srv_model *m, const char *task, const json_t *body, const srv_config *config) {
    (void)config;
    static const char *const allowed[][6] = {{"model", "input", "top_k", NULL},
                                             {"model", "input", "pair", "function", NULL},
                                             {"model", "input", "aggregation", NULL},
                                             {"model", "question", "context", "max_answer_len", NULL}};
    static const char *tasks[] = {"fill-mask", "classify", "ner", "qa"};
    int t = 0;
    while (t < 4 && strcmp(task, tasks[t])) t++;
    srv_reply error;
    if (t == 4) return srv_error_reply(404, "invalid_request_error", NULL, "not_found", "no such task");
    if (!m->is_encoder) return BAD("model", "model: %s is a decoder; %s needs an encoder model", m->name, task);
    if (unknown_field(body, allowed[t], &error)) return error;
    switch (t) {
    case 0: return fill_mask(m, body);
    case 1: return classify(m, body);
    case 2: return ner(m, body);
    default: return qa(m, body);
    }
}
