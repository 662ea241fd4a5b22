/* cli_serve.c — `slm serve MODEL...`: loads the models once, serves them over HTTP
 * (src/server/), and on SIGTERM or SIGINT stops taking requests, lets those in flight
 * finish, then exits 0. MODEL is PATH or NAME=PATH; the name clients send as "model"
 * defaults to the folder's or file's base name without extension. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

typedef struct {
    srv_config config;
    const char **models;
    int n_models;
} serve_args;

static int parse_size(const char *arg, const char *val, long lo, long hi, long *out) {
    if (cli_parse_int(val, lo, hi, out)) return cli_fail("%s: \"%s\" is not an integer in [%ld, %ld]", arg, val, lo, hi);
    return 0;
}

static int parse_args(int argc, char **argv, serve_args *a) {
    a->models = calloc((size_t)argc + 1, sizeof *a->models);
    if (!a->models) return cli_fail("out of memory");
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strncmp(arg, "--", 2) != 0) {
            a->models[a->n_models++] = arg;
            continue;
        }
        if (!val) return cli_fail("%s needs a value", arg);
        i++;
        srv_config *c = &a->config;
        if (!strcmp(arg, "--host")) c->host = val;
        else if (!strcmp(arg, "--api-key")) c->api_key = val;
        else if (!strcmp(arg, "--port")) { if (parse_size(arg, val, 0, 65535, &n)) return 1; c->port = (int)n; }
        else if (!strcmp(arg, "--parallel")) { if (parse_size(arg, val, 1, 256, &n)) return 1; c->parallel = (int)n; }
        else if (!strcmp(arg, "--ctx")) { if (parse_size(arg, val, 0, 1 << 20, &n)) return 1; c->n_ctx = (int)n; }
        else if (!strcmp(arg, "--threads")) { if (parse_size(arg, val, 0, 1024, &n)) return 1; c->threads = (int)n; }
        else if (!strcmp(arg, "--queue")) { if (parse_size(arg, val, 0, 100000, &n)) return 1; c->queue = (int)n; }
        else if (!strcmp(arg, "--max-body")) { if (parse_size(arg, val, 64, 1L << 30, &n)) return 1; c->max_body = (size_t)n; }
        else if (!strcmp(arg, "--max-depth")) { if (parse_size(arg, val, 2, 10000, &n)) return 1; c->max_depth = (int)n; }
        else if (!strcmp(arg, "--max-n")) { if (parse_size(arg, val, 1, 128, &n)) return 1; c->max_n = (int)n; }
        else if (!strcmp(arg, "--max-tokens")) { if (parse_size(arg, val, 1, 1 << 20, &n)) return 1; c->max_tokens = (int)n; }
        else return cli_fail("unknown option %s", arg);
    }
    if (a->n_models == 0) return cli_fail("usage: slm serve MODEL... [options] (see slm --help)");
    return 0;
}

/* "name=path" or the path's base name without its extension. */
static void model_name(const char *spec, char *name, size_t cap, const char **path) {
    const char *eq = strchr(spec, '=');
    if (eq && eq != spec && !memchr(spec, '/', (size_t)(eq - spec))) {
        snprintf(name, cap, "%.*s", (int)(eq - spec), spec);
        *path = eq + 1;
        return;
    }
    *path = spec;
    size_t len = strlen(spec);
    while (len > 1 && spec[len - 1] == '/') len--;
    const char *base = spec;
    for (size_t i = 0; i < len; i++)
        if (spec[i] == '/') base = spec + i + 1;
    size_t n = (size_t)(spec + len - base);
    const char *dot = memchr(base, '.', n);
    if (dot && dot != base && (!strcmp(dot, ".bin") || !strcmp(dot, ".gguf") || !strcmp(dot, ".safetensors")))
        n = (size_t)(dot - base);
    snprintf(name, cap, "%.*s", (int)n, base);
}

static int load_models(const serve_args *a, srv_model *models) {
    for (int i = 0; i < a->n_models; i++) {
        char name[128];
        const char *path;
        model_name(a->models[i], name, sizeof name, &path);
        for (int k = 0; k < i; k++)
            if (!strcmp(models[k].name, name)) return cli_fail("two models are named \"%s\": use NAME=PATH", name);
        slm_error err;
        double t0 = cli_now();
        slm_model *model = slm_model_load(path, NULL, &err);
        if (!model || srv_model_init(&models[i], name, model, &a->config, &err) != SLM_OK) {
            if (model) srv_model_free(&models[i]); /* it owns the model once init has run */
            for (int k = 0; k < i; k++) srv_model_free(&models[k]);
            return cli_fail_error(&err);
        }
        fprintf(stderr, "slm: loaded %s as \"%s\" (%s, %.2f s)\n", path, name,
                models[i].is_encoder ? "encoder" : "decoder", cli_now() - t0);
    }
    return 0;
}

int cli_serve(int argc, char **argv) {
    serve_args a = {srv_default_config(), NULL, 0};
    int rc = parse_args(argc, argv, &a);
    srv_model *models = rc ? NULL : calloc((size_t)a.n_models, sizeof *models);
    if (!rc && !models) rc = cli_fail("out of memory");
    if (!rc) rc = load_models(&a, models);
    if (rc) {
        free(models);
        free(a.models);
        return rc;
    }
    /* Every thread started from here inherits this mask, so only sigwait sees the signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    slm_error err;
    srv_server *server = srv_start(&a.config, models, a.n_models, &err);
    if (!server) {
        free(models);
        free(a.models);
        return cli_fail_error(&err);
    }
    fprintf(stderr, "slm: serving %d model%s on http://%s:%d (parallel %d)\n", a.n_models, a.n_models > 1 ? "s" : "",
            a.config.host, srv_port(server), a.config.parallel);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "slm: %s: finishing requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_drain_and_stop(server);
    fprintf(stderr, "slm: stopped\n");
    free(models);
    free(a.models);
    return 0;
}
