/* http.c — the HTTP layer on libmicrohttpd: one thread per connection (so a handler
 * may wait for its tokens), request bodies collected within the size limit, the API
 * key, routing, JSON replies, server-sent event streams, and the drain on shutdown.
 *
 * A generation request is validated here (request.c), queued on its model's
 * scheduler, then waited for: a streaming reply is a chunked response whose reader
 * blocks until the scheduler has written events; a plain one waits for the end. While
 * waiting, the connection's socket is polled for a hang-up so a client that goes away
 * frees its slot at the next decode step, not when its tokens would have been sent. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "server/scheduler.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

enum { WAIT_SLICE_MS = 50 }; /* how often a waiting handler checks that its client is still there */

struct srv_server {
    srv_config config;
    srv_model *models;
    int n_models;
    struct MHD_Daemon *daemon;
    int port;
    atomic_int draining;  /* SIGTERM: new requests get 503 */
    atomic_int in_flight; /* requests not yet completed (their reply fully sent or abandoned) */
};

/* Per request: the body as it arrives. */
typedef struct {
    char *body;
    size_t len;
    int too_large;
} request_ctx;

/* ---- replies ---- */

static mhd_result send_text(struct MHD_Connection *conn, int status, char *text, const char *type,
                            const char *retry_after) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (retry_after) MHD_add_response_header(resp, "Retry-After", retry_after);
    mhd_result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static mhd_result send_reply(struct MHD_Connection *conn, srv_reply reply) {
    char *text = reply.body ? json_dumps(reply.body, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(reply.body);
    if (!text) text = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}");
    if (!text) return MHD_NO;
    return send_text(conn, reply.status, text, "application/json", reply.retry_after);
}

static mhd_result send_error(struct MHD_Connection *conn, int status, const char *type, const char *param,
                             const char *code, const char *message) {
    return send_reply(conn, srv_error_reply(status, type, param, code, "%s", message));
}

/* ---- clients that go away ---- */

static int connection_fd(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

/* 1 when the peer has closed or reset the connection. */
static int client_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return 1;
    char byte;
    return (p.revents & POLLIN) && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void wait_slice(srv_request *r) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += WAIT_SLICE_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&r->changed, &r->lock, &until);
}

/* ---- streaming ---- */

typedef struct {
    srv_request *req;
    int fd;
} stream_ctx;

/* Blocks until the scheduler has written events, then hands MHD as many bytes as fit. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_ctx *sc = cls;
    srv_request *r = sc->req;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        if (r->out_read < r->out_len) {
            size_t n = r->out_len - r->out_read < max ? r->out_len - r->out_read : max;
            memcpy(buf, r->out + r->out_read, n);
            r->out_read += n;
            if (r->out_read == r->out_len) r->out_read = r->out_len = 0;
            pthread_mutex_unlock(&r->lock);
            return (ssize_t)n;
        }
        if (r->finished) break;
        wait_slice(r);
        if (!r->finished && r->out_len == 0 && client_gone(sc->fd)) {
            atomic_store(&r->cancelled, 1);
            pthread_mutex_unlock(&r->lock);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* The response is done with, sent or not: a stream cut short cancels its request. */
static void stream_free(void *cls) {
    stream_ctx *sc = cls;
    pthread_mutex_lock(&sc->req->lock);
    if (!sc->req->finished) atomic_store(&sc->req->cancelled, 1);
    pthread_mutex_unlock(&sc->req->lock);
    srv_request_release(sc->req);
    free(sc);
}

static mhd_result send_stream(struct MHD_Connection *conn, srv_request *r) {
    stream_ctx *sc = malloc(sizeof *sc);
    if (!sc) return MHD_NO;
    sc->req = r;
    sc->fd = connection_fd(conn);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, sc,
                                                                  stream_free);
    if (!resp) {
        stream_free(sc);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    mhd_result ok = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* ---- endpoints ---- */

static srv_model *find_model(srv_server *s, const json_t *body, srv_reply *error) {
    const json_t *name = json_object_get(body, "model");
    if (!json_is_string(name)) {
        *error = srv_error_reply(400, "invalid_request_error", "model", NULL, "model: expected a model name");
        return NULL;
    }
    for (int i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].name, json_string_value(name))) return &s->models[i];
    *error = srv_error_reply(404, "invalid_request_error", "model", "model_not_found",
                             "model: \"%s\" does not exist (GET /v1/models lists the served models)",
                             json_string_value(name));
    return NULL;
}

static mhd_result generate(srv_server *s, struct MHD_Connection *conn, const json_t *body, int chat) {
    srv_reply error;
    srv_model *m = find_model(s, body, &error);
    if (!m) return send_reply(conn, error);
    if (m->is_encoder)
        return send_error(conn, 400, "invalid_request_error", "model", NULL,
                          "model: an encoder cannot generate text (use /v1/embeddings or a task endpoint)");
    srv_gen_params params;
    error = srv_parse_generation(m, body, chat, &s->config, &params);
    if (error.status) return send_reply(conn, error);
    srv_request *r = srv_request_new(m, &params);
    if (!r) {
        srv_gen_params_free(&params);
        return send_error(conn, 500, "server_error", NULL, NULL, "out of memory");
    }
    if (srv_scheduler_submit(m->scheduler, r) != 0) {
        srv_request_release(r);
        srv_reply busy = srv_error_reply(429, "rate_limit_exceeded", NULL, "rate_limit_exceeded",
                                         "%s: every slot is busy and the queue is full; retry shortly", m->name);
        busy.retry_after = "1";
        return send_reply(conn, busy);
    }
    if (r->params.stream) return send_stream(conn, r); /* the stream owns our reference now */
    int fd = connection_fd(conn);
    pthread_mutex_lock(&r->lock);
    while (!r->finished && !atomic_load(&r->cancelled)) {
        wait_slice(r);
        if (!r->finished && client_gone(fd)) atomic_store(&r->cancelled, 1);
    }
    int finished = r->finished;
    pthread_mutex_unlock(&r->lock);
    mhd_result ok;
    if (!finished) ok = MHD_NO; /* the client left: close without a reply */
    else if (r->error) ok = send_error(conn, 500, "server_error", NULL, NULL, r->error);
    else ok = send_reply(conn, (srv_reply){200, srv_completion_json(r), NULL});
    srv_request_release(r);
    return ok;
}

static mhd_result list_models(srv_server *s, struct MHD_Connection *conn, const char *one) {
    json_t *data = json_array();
    for (int i = 0; i < s->n_models; i++) {
        const srv_model *m = &s->models[i];
        if (one && strcmp(one, m->name) != 0) continue;
        slm_model_info info = slm_model_get_info(m->model);
        json_t *item = json_pack("{s:s,s:s,s:I,s:s,s:{s:s,s:s,s:i,s:I}}", "id", m->name, "object", "model", "created",
                                 (json_int_t)m->created, "owned_by", "slm", "slm", "kind",
                                 m->is_encoder ? "encoder" : "decoder", "architecture", info.architecture,
                                 "context_length", m->is_encoder ? info.n_ctx_train : m->n_ctx, "parameters",
                                 (json_int_t)info.n_params);
        if (one) {
            json_decref(data);
            return send_reply(conn, (srv_reply){200, item, NULL});
        }
        json_array_append_new(data, item);
    }
    if (one) {
        json_decref(data);
        return send_error(conn, 404, "invalid_request_error", "model", "model_not_found", "no such model");
    }
    return send_reply(conn, (srv_reply){200, json_pack("{s:s,s:o}", "object", "list", "data", data), NULL});
}

/* {"status": "ok"|"draining", "models": [{id, slots, active, queued, completed, cancelled,
 * decode_steps, decode_rows}]}: decode_rows / decode_steps is the mean batch size. */
static mhd_result health(srv_server *s, struct MHD_Connection *conn) {
    int draining = atomic_load(&s->draining);
    json_t *models = json_array();
    for (int i = 0; i < s->n_models; i++) {
        if (!s->models[i].scheduler) continue;
        srv_scheduler_stats st = srv_scheduler_get_stats(s->models[i].scheduler);
        json_array_append_new(models, json_pack("{s:s,s:i,s:i,s:i,s:I,s:I,s:I,s:I}", "id", s->models[i].name,
                                                "slots", st.slots, "active", st.active, "queued", st.queued,
                                                "completed", (json_int_t)st.completed, "cancelled",
                                                (json_int_t)st.cancelled, "decode_steps", (json_int_t)st.steps,
                                                "decode_rows", (json_int_t)st.rows));
    }
    json_t *body = json_pack("{s:s,s:o}", "status", draining ? "draining" : "ok", "models", models);
    return send_reply(conn, (srv_reply){draining ? 503 : 200, body, NULL});
}

static int authorized(const srv_server *s, struct MHD_Connection *conn) {
    if (!s->config.api_key) return 1;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    return auth && !strncmp(auth, "Bearer ", 7) && !strcmp(auth + 7, s->config.api_key);
}

/* A POST endpoint's JSON body, or an error reply. */
static json_t *parse_body(const srv_server *s, const request_ctx *ctx, srv_reply *error) {
    if (srv_json_too_deep(ctx->body ? ctx->body : "", ctx->len, s->config.max_depth)) {
        *error = srv_error_reply(400, "invalid_request_error", NULL, NULL, "body: JSON nested deeper than %d levels",
                                 s->config.max_depth);
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(ctx->body ? ctx->body : "", ctx->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        *error = srv_error_reply(400, "invalid_request_error", NULL, NULL,
                                 "body: invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        *error = srv_error_reply(400, "invalid_request_error", NULL, NULL, "body: expected a JSON object");
        return NULL;
    }
    return body;
}

static mhd_result post(srv_server *s, struct MHD_Connection *conn, const char *url, request_ctx *ctx) {
    static const char *tasks[] = {"/v1/fill-mask", "/v1/classify", "/v1/ner", "/v1/qa"};
    int chat = !strcmp(url, "/v1/chat/completions"), completion = !strcmp(url, "/v1/completions");
    int embeddings = !strcmp(url, "/v1/embeddings"), task = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(url, tasks[i])) task = i;
    if (!chat && !completion && !embeddings && task < 0)
        return send_error(conn, 404, "invalid_request_error", NULL, "not_found", "no such endpoint");
    srv_reply error;
    json_t *body = parse_body(s, ctx, &error);
    if (!body) return send_reply(conn, error);
    mhd_result ok;
    if (chat || completion) {
        ok = generate(s, conn, body, chat);
    } else {
        srv_model *m = find_model(s, body, &error);
        if (!m) ok = send_reply(conn, error);
        else if (embeddings) ok = send_reply(conn, srv_embeddings(m, body, &s->config));
        else ok = send_reply(conn, srv_encoder_task(m, tasks[task] + 4, body, &s->config));
    }
    json_decref(body);
    return ok;
}

static mhd_result route(srv_server *s, struct MHD_Connection *conn, const char *url, const char *method,
                        request_ctx *ctx) {
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (get && !strcmp(url, "/")) {
        char *page = strdup(srv_web_page);
        return page ? send_text(conn, 200, page, "text/html; charset=utf-8", NULL) : MHD_NO;
    }
    if (get && !strcmp(url, "/health")) return health(s, conn);
    if (!strcmp(url, "/") || !strcmp(url, "/health"))
        return send_error(conn, 405, "invalid_request_error", NULL, "method_not_allowed", "only GET here");
    if (strncmp(url, "/v1/", 4) != 0)
        return send_error(conn, 404, "invalid_request_error", NULL, "not_found", "no such endpoint");
    if (!authorized(s, conn))
        return send_error(conn, 401, "invalid_request_error", NULL, "invalid_api_key",
                          "Incorrect API key provided: send it as Authorization: Bearer KEY");
    if (atomic_load(&s->draining))
        return send_error(conn, 503, "server_error", NULL, NULL, "the server is shutting down");
    if (get && !strcmp(url, "/v1/models")) return list_models(s, conn, NULL);
    if (get && !strncmp(url, "/v1/models/", 11)) return list_models(s, conn, url + 11);
    if (!strcmp(method, "POST")) return post(s, conn, url, ctx);
    return send_error(conn, 405, "invalid_request_error", NULL, "method_not_allowed", "method not allowed here");
}

/* MHD calls this first with the headers, then with each piece of the body, then once more. */
static mhd_result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_server *s = cls;
    request_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx) return MHD_NO;
        *con_cls = ctx;
        atomic_fetch_add(&s->in_flight, 1);
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (length && strtoull(length, NULL, 10) > s->config.max_body) ctx->too_large = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (ctx->too_large || ctx->len + n > s->config.max_body) { /* keep reading, drop it, answer 413 */
            ctx->too_large = 1;
            free(ctx->body);
            ctx->body = NULL;
            ctx->len = 0;
            return MHD_YES;
        }
        char *grown = realloc(ctx->body, ctx->len + n + 1);
        if (!grown) return MHD_NO;
        ctx->body = grown;
        memcpy(ctx->body + ctx->len, upload_data, n);
        ctx->len += n;
        ctx->body[ctx->len] = '\0';
        return MHD_YES;
    }
    if (ctx->too_large) {
        char message[96];
        snprintf(message, sizeof message, "body: larger than the limit of %zu bytes", s->config.max_body);
        return send_error(conn, 413, "invalid_request_error", NULL, "request_too_large", message);
    }
    return route(s, conn, url, method, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)conn;
    (void)toe;
    srv_server *s = cls;
    request_ctx *ctx = *con_cls;
    if (!ctx) return;
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- lifecycle ---- */

static int bind_address(const char *host, int port, struct sockaddr_storage *addr, unsigned *flags) {
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 1;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *flags |= MHD_USE_IPv6;
        return 1;
    }
    return 0;
}

srv_server *srv_start(const srv_config *config, srv_model *models, int n_models, slm_error *err) {
    srv_server *s = calloc(1, sizeof *s);
    if (!s) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "server");
        return NULL;
    }
    s->config = *config;
    s->models = models;
    s->n_models = n_models;
    for (int i = 0; i < n_models; i++) {
        if (models[i].is_encoder) continue;
        models[i].scheduler = srv_scheduler_new(&models[i], config, err);
        if (!models[i].scheduler) {
            srv_drain_and_stop(s);
            return NULL;
        }
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    struct sockaddr_storage addr;
    if (!bind_address(config->host, config->port, &addr, &flags)) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "--host: \"%s\" is not an IPv4 or IPv6 address", config->host);
        srv_drain_and_stop(s);
        return NULL;
    }
    unsigned limit = (unsigned)(config->parallel + config->queue + 64);
    s->daemon = MHD_start_daemon(flags, (uint16_t)config->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, 600u,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        slm_fail(err, SLM_ERR_IO, "cannot listen on %s:%d (in use, or not an address of this machine)",
                 config->host, config->port);
        srv_drain_and_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : config->port;
    return s;
}

int srv_port(const srv_server *s) { return s->port; }

static int schedulers_busy(srv_server *s) {
    for (int i = 0; i < s->n_models; i++)
        if (s->models[i].scheduler && srv_scheduler_load(s->models[i].scheduler) > 0) return 1;
    return 0;
}

void srv_drain_and_stop(srv_server *s) {
    if (!s) return;
    atomic_store(&s->draining, 1);
    if (s->daemon) {
        MHD_socket listener = MHD_quiesce_daemon(s->daemon); /* no new connections */
        /* In flight: every queued and running sequence, then every reply still being sent. */
        for (int waited = 0; waited < 600 * 20 && (schedulers_busy(s) || atomic_load(&s->in_flight) > 0); waited++)
            usleep(50 * 1000);
        MHD_stop_daemon(s->daemon);
        if (listener != MHD_INVALID_SOCKET) close(listener);
    }
    for (int i = 0; i < s->n_models; i++) srv_model_free(&s->models[i]);
    free(s);
}
