/* cli_inspect.c — `slm tokenize`, `slm forward` and `slm info`: the commands
 * that show what slm computes, for checking it against other implementations. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A tokenizer from a folder or tokenizer file; a llama2.c checkpoint lends its neighbour's. */
static slm_tokenizer *open_tokenizer(const char *path, slm_model **model, slm_error *err) {
    *model = NULL;
    if (is_dir(path)) return slm_tokenizer_load(path, err);
    slm_tokenizer *tok = slm_tokenizer_load(path, err);
    if (tok) return tok;
    slm_error model_err;
    *model = slm_model_load(path, NULL, &model_err);
    if (*model && slm_model_tokenizer(*model)) return (slm_tokenizer *)slm_model_tokenizer(*model);
    slm_model_free(*model);
    *model = NULL;
    return NULL;
}

int cli_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL;
    int add_special = 1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--no-special-tokens")) add_special = 0;
        else if (!path) path = argv[i];
        else if (!text) text = argv[i];
        else return cli_fail("unexpected argument \"%s\"", argv[i]);
    }
    if (!path || !text) return cli_fail("usage: slm tokenize MODEL TEXT [--no-special-tokens]");
    size_t len = strlen(text);
    char *stdin_text = NULL;
    if (!strcmp(text, "-")) {
        stdin_text = cli_read_stdin(&len);
        if (!stdin_text) return cli_fail("could not read standard input");
        text = stdin_text;
    }
    slm_error err;
    slm_model *model;
    slm_tokenizer *tok = open_tokenizer(path, &model, &err);
    int rc = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (!tok) {
        rc = cli_fail_error(&err);
    } else if (slm_tokenize(tok, text, len, add_special, &ids, &n, &err)) {
        rc = cli_fail_error(&err);
    } else {
        fputs("{\"ids\": [", stdout);
        for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        fputs("], \"tokens\": [", stdout);
        for (size_t i = 0; i < n; i++) {
            const char *t = slm_token_text(tok, ids[i]);
            if (i) fputs(", ", stdout);
            cli_json_string(stdout, t ? t : "", t ? strlen(t) : 0);
        }
        fputs("]}\n", stdout);
    }
    slm_free(ids);
    if (model) slm_model_free(model);
    else slm_tokenizer_free(tok);
    free(stdin_text);
    return rc;
}

static int parse_ids(const char *list, int32_t **ids, size_t *n) {
    size_t cap = 1;
    for (const char *p = list; *p; p++) cap += *p == ',';
    *ids = malloc(cap * sizeof **ids);
    if (!*ids) return cli_fail("out of memory");
    *n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < 0 || v > INT32_MAX)
            return cli_fail("--ids: \"%s\" is not a comma-separated list of token ids", list);
        (*ids)[(*n)++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) return cli_fail("--ids: no token ids given");
    return 0;
}

int cli_forward(int argc, char **argv) {
    const char *path = NULL, *id_list = NULL, *output = "logits";
    long threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--ids") && val) { id_list = val; i++; }
        else if (!strcmp(argv[i], "--output") && val) { output = val; i++; }
        else if (!strcmp(argv[i], "--threads") && val) {
            if (cli_parse_int(val, 0, 1024, &threads)) return cli_fail("--threads: \"%s\" is not a count", val);
            i++;
        } else if (!path && argv[i][0] != '-') path = argv[i];
        else return cli_fail("unexpected argument \"%s\"", argv[i]);
    }
    if (!path || !id_list) return cli_fail("usage: slm forward MODEL --ids 1,2,3 [--output logits|hidden]");
    slm_output kind;
    if (!strcmp(output, "logits")) kind = SLM_OUTPUT_LOGITS;
    else if (!strcmp(output, "hidden")) kind = SLM_OUTPUT_HIDDEN;
    else return cli_fail("--output: \"%s\" is not logits or hidden", output);
    int32_t *ids = NULL;
    size_t n = 0;
    if (parse_ids(id_list, &ids, &n)) {
        free(ids);
        return 1;
    }
    slm_error err;
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_model *model = slm_model_load(path, &mp, &err);
    slm_session *session = NULL;
    float *out = NULL;
    int rc = 0;
    if (!model) {
        rc = cli_fail_error(&err);
        free(ids);
        return rc;
    }
    slm_model_info info = slm_model_get_info(model);
    int width = kind == SLM_OUTPUT_LOGITS ? info.n_vocab : info.d_model;
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = (int)threads;
    sp.n_ctx = n < (size_t)info.n_ctx_train ? (int)n : info.n_ctx_train;
    session = slm_session_new(model, &sp, &err);
    out = malloc(n * (size_t)width * sizeof(float));
    if (!session) rc = cli_fail_error(&err);
    else if (!out) rc = cli_fail("out of memory for %zu x %d outputs", n, width);
    else if (slm_session_forward(session, ids, n, kind, out, &err)) rc = cli_fail_error(&err);
    else {
        printf("{\"shape\": [1, %zu, %d], \"data\": [", n, width);
        for (size_t i = 0; i < n * (size_t)width; i++) printf(i ? ", %.9g" : "%.9g", out[i]);
        puts("]}");
    }
    free(out);
    slm_session_free(session);
    slm_model_free(model);
    free(ids);
    return rc;
}

int cli_info(int argc, char **argv) {
    if (argc != 1) return cli_fail("usage: slm info MODEL");
    slm_error err;
    slm_model *model = slm_model_load(argv[0], NULL, &err);
    if (!model) return cli_fail_error(&err);
    slm_model_info i = slm_model_get_info(model);
    double kv_bytes = 2.0 * i.n_layers * i.n_ctx_train * (double)i.n_kv_heads * (i.d_model / i.n_heads) * 4;
    printf("architecture:   %s\n", i.architecture);
    printf("parameters:     %lld\n", (long long)i.n_params);
    printf("weight dtype:   %s\n", i.weight_dtype);
    printf("weights:        %.1f MiB (memory-mapped)\n", i.weight_bytes / 1048576.0);
    printf("context length: %d\n", i.n_ctx_train);
    printf("layers:         %d (width %d, %d heads, %d kv heads, ff %d)\n", i.n_layers, i.d_model, i.n_heads,
           i.n_kv_heads, i.d_ff);
    printf("vocabulary:     %d\n", i.n_vocab);
    printf("tokenizer:      %s\n", slm_model_tokenizer(model) ? "yes" : "none found");
    printf("memory needed:  %.1f MiB (weights + f32 KV cache at full context %.1f MiB)\n",
           (i.weight_bytes + kv_bytes) / 1048576.0, kv_bytes / 1048576.0);
    slm_model_free(model);
    return 0;
}
