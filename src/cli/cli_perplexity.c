/* cli_perplexity.c — `slm perplexity MODEL FILE`: the model's perplexity on a
 * text file in sliding windows; one JSON line on stdout, a speed line on stderr. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "slm_eval.h"

typedef struct {
    const char *model_path, *file;
    int ctx, stride, threads;
} perplexity_args;

static int parse_args(int argc, char **argv, perplexity_args *a) {
    int positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] == '-') {
            const char *val = i + 1 < argc ? argv[i + 1] : NULL;
            if (!val) return cli_fail("%s needs a value", arg);
            i++;
            long n;
            if (!strcmp(arg, "--ctx") || !strcmp(arg, "--stride")) {
                if (cli_parse_int(val, 1, 1L << 30, &n)) return cli_fail("%s: \"%s\" is not a positive integer", arg, val);
                if (!strcmp(arg, "--ctx")) a->ctx = (int)n;
                else a->stride = (int)n;
            } else if (!strcmp(arg, "--threads")) {
                if (cli_parse_int(val, 0, 1L << 30, &n)) return cli_fail("%s: \"%s\" is not a non-negative integer", arg, val);
                a->threads = (int)n;
            } else {
                return cli_fail("unknown option %s", arg);
            }
            continue;
        }
        if (positional == 0) a->model_path = arg;
        else if (positional == 1) a->file = arg;
        else return cli_fail("unexpected argument \"%s\"", arg);
        positional++;
    }
    if (positional != 2) return cli_fail("usage: slm perplexity MODEL FILE [--ctx N] [--stride S] [--threads N]");
    return 0;
}

/* The whole file (or standard input for "-"), NUL-terminated; NULL with a message printed. */
static char *read_text(const char *path, size_t *len) {
    if (!strcmp(path, "-")) {
        char *text = cli_read_stdin(len);
        if (!text) cli_fail("could not read standard input");
        return text;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail("%s: cannot open", path);
        return NULL;
    }
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        cli_fail("%s: read failed", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cli_perplexity(int argc, char **argv) {
    perplexity_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    size_t len = 0;
    char *text = read_text(a.file, &len);
    if (!text) return 1;
    slm_error err;
    double t0 = cli_now();
    slm_model *model = slm_model_load(a.model_path, NULL, &err);
    double load_seconds = cli_now() - t0;
    slm_session *session = NULL;
    if (!model) {
        rc = cli_fail_error(&err);
    } else if (!slm_model_tokenizer(model)) {
        rc = cli_fail("%s: no tokenizer files found beside the model", a.model_path);
    } else {
        slm_session_params sp = slm_session_default_params();
        sp.n_threads = a.threads;
        sp.n_ctx = a.ctx; /* 0: the trained context, which is also the window */
        session = slm_session_new(model, &sp, &err);
        if (!session) rc = cli_fail_error(&err);
    }
    if (session) {
        slm_perplexity_result r;
        if (slm_perplexity(session, text, len, a.ctx, a.stride, &r, &err) != SLM_OK) {
            rc = cli_fail_error(&err);
        } else {
            printf("{\"tokens\": %lld, \"nll\": %.6f, \"perplexity\": %.6f, \"window\": %d, \"stride\": %d}\n",
                   (long long)r.n_tokens, r.nll, r.perplexity, r.window, r.stride);
            fprintf(stderr, "slm: %lld tokens in %d windows, %.1f tok/s | load %.1f ms\n",
                    (long long)r.n_input_tokens, r.n_windows,
                    r.seconds > 0 ? (double)r.n_tokens / r.seconds : 0.0, load_seconds * 1e3);
        }
    }
    slm_session_free(session);
    slm_model_free(model);
    free(text);
    return rc;
}
