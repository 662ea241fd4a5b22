/* cli_inspect.c — `slm tokenize`, `slm forward` and `slm info`: the commands
 * that show what slm computes, for checking it against other implementations. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "slm_tasks.h"

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

/* A decoder's logits or final hidden states at every position. */
static int forward_decoder(slm_model *model, const int32_t *ids, size_t n, const char *output, long threads) {
    slm_output kind;
    if (!strcmp(output, "logits")) kind = SLM_OUTPUT_LOGITS;
    else if (!strcmp(output, "hidden")) kind = SLM_OUTPUT_HIDDEN;
    else return cli_fail("--output: \"%s\" is not logits or hidden", output);
    slm_error err;
    slm_session *session = NULL;
    float *out = NULL;
    int rc = 0;
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
    return rc;
}

/* What an encoder's `slm forward` prints: --head picks the checkpoint head, --output the tensor. */
typedef struct {
    const char *head, *output;
    const int32_t *type_ids;
    long threads;
} encoder_request;

static int head_of(const char *name, slm_head *head) {
    static const char *const names[] = {"model", "mlm", "seqcls", "tokcls", "qa"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i])) {
            *head = (slm_head)i;
            return 0;
        }
    return cli_fail("--head: \"%s\" is not model, mlm, seqcls, tokcls or qa", name);
}

static int forward_encoder(slm_model *model, const int32_t *ids, size_t n, const encoder_request *req) {
    slm_head head = SLM_HEAD_BASE;
    if (head_of(req->head, &head)) return 1;
    const char *output = req->output ? req->output : head == SLM_HEAD_BASE ? "hidden"
                                                   : head == SLM_HEAD_QA   ? "start-end"
                                                                           : "logits";
    if (!slm_model_has_head(model, head)) return cli_fail("--head %s: the model has no such head", req->head);
    slm_model_info info = slm_model_get_info(model);
    int T = (int)n, labels = slm_model_num_labels(model);
    slm_encode_output what;
    int dims[3] = {1, 0, 0}, ndim = 3;
    if (!strcmp(output, "hidden")) {
        what = SLM_ENCODE_HIDDEN, dims[1] = T, dims[2] = info.d_model;
    } else if (!strcmp(output, "pooler")) {
        what = SLM_ENCODE_POOLER, dims[1] = info.d_model, ndim = 2;
    } else if (!strcmp(output, "logits") && head == SLM_HEAD_MLM) {
        what = SLM_ENCODE_MLM, dims[1] = T, dims[2] = info.n_vocab;
    } else if (!strcmp(output, "logits") && head == SLM_HEAD_SEQCLS) {
        what = SLM_ENCODE_SEQCLS, dims[1] = labels, ndim = 2;
    } else if (!strcmp(output, "logits") && head == SLM_HEAD_TOKCLS) {
        what = SLM_ENCODE_TOKCLS, dims[1] = T, dims[2] = labels;
    } else if (!strcmp(output, "start-end") && head == SLM_HEAD_QA) {
        what = SLM_ENCODE_QA, dims[1] = 2, dims[2] = T;
    } else if (!strcmp(output, "embedding")) {
        what = SLM_ENCODE_HIDDEN, ndim = 2; /* pooled below with the model's own sentence-transformers config */
    } else {
        return cli_fail("--output %s does not go with --head %s (hidden, pooler; logits for mlm, seqcls, tokcls; "
                        "start-end for qa)", output, req->head);
    }
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = (int)req->threads;
    slm_error err;
    slm_session *session = slm_session_new(model, &sp, &err);
    if (!session) return cli_fail_error(&err);
    slm_batch batch = {1, T, ids, req->type_ids, NULL};
    int embedding = !strcmp(output, "embedding");
    if (embedding && slm_embed_batch(session, &batch, NULL, &dims[1], &err)) {
        slm_session_free(session);
        return cli_fail_error(&err);
    }
    size_t total = 1;
    for (int i = 0; i < ndim; i++) total *= (size_t)dims[i];
    float *out = malloc(total * sizeof(float));
    int rc = 0;
    slm_status st = SLM_OK;
    if (out) st = embedding ? slm_embed_batch(session, &batch, out, &dims[1], &err)
                            : slm_session_encode(session, &batch, what, out, &err);
    if (!out) rc = cli_fail("out of memory for %zu outputs", total);
    else if (st) rc = cli_fail_error(&err);
    else {
        printf("{\"shape\": [");
        for (int i = 0; i < ndim; i++) printf(i ? ", %d" : "%d", dims[i]);
        printf("], \"data\": [");
        for (size_t i = 0; i < total; i++) printf(i ? ", %.9g" : "%.9g", out[i]);
        puts("]}");
    }
    free(out);
    slm_session_free(session);
    return rc;
}

int cli_forward(int argc, char **argv) {
    const char *path = NULL, *id_list = NULL, *type_list = NULL, *output = NULL, *head = NULL;
    long threads = 0;
    for (int i = 0; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--ids") && val) { id_list = val; i++; }
        else if (!strcmp(argv[i], "--type-ids") && val) { type_list = val; i++; }
        else if (!strcmp(argv[i], "--head") && val) { head = val; i++; }
        else if (!strcmp(argv[i], "--output") && val) { output = val; i++; }
        else if (!strcmp(argv[i], "--threads") && val) {
            if (cli_parse_int(val, 0, 1024, &threads)) return cli_fail("--threads: \"%s\" is not a count", val);
            i++;
        } else if (!path && argv[i][0] != '-') path = argv[i];
        else return cli_fail("unexpected argument \"%s\"", argv[i]);
    }
    if (!path || !id_list)
        return cli_fail("usage: slm forward MODEL --ids 1,2,3 [--output logits|hidden] "
                        "(encoders: [--type-ids 0,0,1] [--head model|mlm|seqcls|tokcls|qa] "
                        "[--output hidden|pooler|logits|start-end|embedding])");
    int32_t *ids = NULL, *types = NULL;
    size_t n = 0, n_types = 0;
    if (parse_ids(id_list, &ids, &n) || (type_list && parse_ids(type_list, &types, &n_types))) {
        free(ids);
        free(types);
        return 1;
    }
    if (types && n_types != n) {
        free(ids);
        free(types);
        return cli_fail("--type-ids: %zu values for %zu ids", n_types, n);
    }
    slm_error err;
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_model *model = slm_model_load(path, &mp, &err);
    if (!model) {
        free(ids);
        free(types);
        return cli_fail_error(&err);
    }
    int rc;
    if (slm_model_is_encoder(model)) {
        encoder_request req = {head ? head : "model", output, types, threads};
        rc = forward_encoder(model, ids, n, &req);
    } else if (head || types) {
        rc = cli_fail("--head and --type-ids are for encoders; this model is a decoder");
    } else {
        rc = forward_decoder(model, ids, n, output ? output : "logits", threads);
    }
    slm_model_free(model);
    free(ids);
    free(types);
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
    if (slm_model_is_encoder(model)) {
        static const char *const heads[] = {"model", "mlm", "seqcls", "tokcls", "qa"};
        printf("heads:         ");
        for (int h = 0; h < 5; h++)
            if (slm_model_has_head(model, (slm_head)h)) printf(" %s", heads[h]);
        printf("\nmemory needed:  %.1f MiB of weights, plus activations per batch (no KV cache)\n",
               i.weight_bytes / 1048576.0);
    } else {
        printf("memory needed:  %.1f MiB (weights + f32 KV cache at full context %.1f MiB)\n",
               (i.weight_bytes + kv_bytes) / 1048576.0, kv_bytes / 1048576.0);
    }
    slm_model_free(model);
    return 0;
}
