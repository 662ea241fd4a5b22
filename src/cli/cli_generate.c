/* cli_generate.c — `slm generate`: stream a completion to stdout, a one-line
 * speed summary to stderr. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct {
    const char *model_path, *prompt;
    slm_generate_params gen;
    const char **stop;
    int stream, threads, ctx;
} generate_args;

static int parse_args(int argc, char **argv, generate_args *a) {
    int positional = 0;
    a->stop = calloc((size_t)argc + 1, sizeof *a->stop);
    if (!a->stop) return cli_fail("out of memory");
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        if (!strcmp(arg, "--no-stream")) { a->stream = 0; continue; }
        if (!strcmp(arg, "--ignore-eos")) { a->gen.ignore_eos = 1; continue; }
        if (arg[0] == '-' && arg[1] == '-') {
            if (!val) return cli_fail("%s needs a value", arg);
            i++;
            if (!strcmp(arg, "--stop")) { a->stop[a->gen.n_stop++] = val; continue; }
            if (!strcmp(arg, "--max-tokens") || !strcmp(arg, "--threads") || !strcmp(arg, "--top-k") ||
                !strcmp(arg, "--ctx")) {
                if (cli_parse_int(val, 0, 1L << 30, &n)) return cli_fail("%s: \"%s\" is not a non-negative integer", arg, val);
                if (!strcmp(arg, "--max-tokens")) a->gen.max_tokens = (int)n;
                else if (!strcmp(arg, "--threads")) a->threads = (int)n;
                else if (!strcmp(arg, "--ctx")) a->ctx = (int)n;
                else a->gen.top_k = (int)n;
                continue;
            }
            if (!strcmp(arg, "--seed")) {
                char *end;
                unsigned long long s = strtoull(val, &end, 10);
                if (*end || end == val || val[0] == '-') return cli_fail("--seed: \"%s\" is not a non-negative integer", val);
                a->gen.seed = s;
                continue;
            }
            if (cli_parse_float(val, &f)) return cli_fail("%s: \"%s\" is not a number", arg, val);
            if (!strcmp(arg, "--temperature")) a->gen.temperature = (float)f;
            else if (!strcmp(arg, "--top-p")) a->gen.top_p = (float)f;
            else if (!strcmp(arg, "--min-p")) a->gen.min_p = (float)f;
            else if (!strcmp(arg, "--repetition-penalty")) a->gen.repetition_penalty = (float)f;
            else if (!strcmp(arg, "--presence-penalty")) a->gen.presence_penalty = (float)f;
            else if (!strcmp(arg, "--frequency-penalty")) a->gen.frequency_penalty = (float)f;
            else return cli_fail("unknown option %s", arg);
            continue;
        }
        if (positional == 0) a->model_path = arg;
        else if (positional == 1) a->prompt = arg;
        else return cli_fail("unexpected argument \"%s\"", arg);
        positional++;
    }
    if (positional != 2) return cli_fail("usage: slm generate MODEL PROMPT [options] (see slm --help)");
    a->gen.stop = a->stop;
    return 0;
}

static int write_piece(const char *piece, size_t len, void *user_data) {
    (void)user_data;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

typedef struct {
    char *text;
    size_t len, cap;
} collected;

static int collect_piece(const char *piece, size_t len, void *user_data) {
    collected *c = user_data;
    if (c->len + len + 1 > c->cap) {
        size_t cap = (c->cap + len + 1) * 2;
        char *grown = realloc(c->text, cap);
        if (!grown) return 1;
        c->text = grown;
        c->cap = cap;
    }
    memcpy(c->text + c->len, piece, len);
    c->len += len;
    return 0;
}

/* Sizes the KV cache to this request: prompt + max_tokens, within the trained context. */
static int context_for(const slm_model *model, const char *prompt, int max_tokens) {
    slm_model_info info = slm_model_get_info(model);
    int32_t *ids = NULL;
    size_t n = 0;
    slm_error err;
    if (slm_tokenize(slm_model_tokenizer(model), prompt, strlen(prompt), 1, &ids, &n, &err) != SLM_OK)
        return info.n_ctx_train; /* slm_generate reports the error itself */
    slm_free(ids);
    long want = (long)n + (long)max_tokens + 1;
    return want < info.n_ctx_train ? (int)want : info.n_ctx_train;
}

int cli_generate(int argc, char **argv) {
    generate_args a = {0};
    a.gen = slm_generate_default_params();
    a.stream = 1;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free(a.stop);
        return rc;
    }
    char *stdin_text = NULL;
    size_t stdin_len = 0;
    if (!strcmp(a.prompt, "-")) {
        stdin_text = cli_read_stdin(&stdin_len);
        if (!stdin_text) {
            free(a.stop);
            return cli_fail("could not read standard input");
        }
        if (strlen(stdin_text) != stdin_len) {
            free(stdin_text);
            free(a.stop);
            return cli_fail("the prompt on standard input contains a NUL byte");
        }
        a.prompt = stdin_text;
    }
    slm_error err;
    double t0 = cli_now();
    slm_model *model = slm_model_load(a.model_path, NULL, &err);
    double load_seconds = cli_now() - t0;
    slm_session *session = NULL;
    collected out = {0};
    if (!model) {
        rc = cli_fail_error(&err);
    } else if (!slm_model_tokenizer(model)) {
        rc = cli_fail("%s: no tokenizer files found beside the model", a.model_path);
    } else {
        slm_session_params sp = slm_session_default_params();
        sp.n_threads = a.threads;
        sp.n_ctx = a.ctx ? a.ctx : context_for(model, a.prompt, a.gen.max_tokens);
        session = slm_session_new(model, &sp, &err);
        if (!session) rc = cli_fail_error(&err);
    }
    if (session) {
        slm_generate_result result;
        slm_status st = slm_generate(session, a.prompt, &a.gen, a.stream ? write_piece : collect_piece,
                                     a.stream ? NULL : &out, &result, &err);
        if (st) {
            rc = cli_fail_error(&err);
        } else {
            if (!a.stream && out.len) fwrite(out.text, 1, out.len, stdout);
            fputc('\n', stdout);
            static const char *reasons[] = {"length", "stop", "eos", "caller"};
            fprintf(stderr,
                    "slm: prompt %d tokens, %.1f tok/s | generated %d tokens, %.1f tok/s | load %.1f ms | finish %s\n",
                    result.n_prompt_tokens,
                    result.prompt_seconds > 0 ? result.n_prompt_tokens / result.prompt_seconds : 0.0,
                    result.n_generated_tokens,
                    result.generate_seconds > 0 ? result.n_generated_tokens / result.generate_seconds : 0.0,
                    load_seconds * 1e3, reasons[result.finish_reason]);
        }
    }
    free(out.text);
    slm_session_free(session);
    slm_model_free(model);
    free(stdin_text);
    free(a.stop);
    return rc;
}
