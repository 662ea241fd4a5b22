/* cli_tasks.c — `slm embed`, `slm fill-mask`, `slm classify`, `slm ner` and `slm qa`: the
 * encoder tasks of slm_tasks.h, printing JSON shaped like the transformers pipelines' results. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "slm_tasks.h"

/* The model and a session over it; prints the error and returns 1 on failure. */
static int open_model(const char *path, int threads, slm_model **model, slm_session **session) {
    slm_error err;
    *session = NULL;
    *model = slm_model_load(path, NULL, &err);
    if (!*model) return cli_fail_error(&err);
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = threads;
    *session = slm_session_new(*model, &sp, &err);
    if (!*session) {
        slm_model_free(*model);
        *model = NULL;
        return cli_fail_error(&err);
    }
    return 0;
}

static void close_model(slm_model *model, slm_session *session) {
    slm_session_free(session);
    slm_model_free(model);
}

/* "-" reads standard input once; *owned keeps what must be freed. Returns NULL on failure. */
static const char *text_arg(const char *arg, char **owned) {
    if (strcmp(arg, "-")) return arg;
    if (*owned) {
        cli_fail("standard input ('-') can be read only once");
        return NULL;
    }
    size_t len;
    *owned = cli_read_stdin(&len);
    if (!*owned) cli_fail("could not read standard input");
    else if (strlen(*owned) != len) {
        cli_fail("standard input holds a NUL byte");
        return NULL;
    }
    return *owned;
}

static void json_str(const char *s) { cli_json_string(stdout, s ? s : "", s ? strlen(s) : 0); }

/* Parses "--threads N" at argv[*i]; 1 when it was that option, -1 on a bad value. */
static int threads_option(int argc, char **argv, int *i, int *threads) {
    if (strcmp(argv[*i], "--threads")) return 0;
    long v;
    if (*i + 1 >= argc || cli_parse_int(argv[*i + 1], 0, 1024, &v)) return -1;
    *threads = (int)v;
    (*i)++;
    return 1;
}

/* ---- embed ---- */

typedef struct {
    char **items;
    int n, cap;
} text_list;

static int list_push(text_list *l, char *s) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return 0;
}

/* One line of an --input file: a JSON string, a JSON object's "text", or the line itself. */
static char *input_line_text(const char *line) {
    json_error_t jerr;
    json_t *v = json_loads(line, JSON_DECODE_ANY, &jerr);
    const char *s = NULL;
    if (json_is_string(v)) s = json_string_value(v);
    else if (json_is_object(v) && json_is_string(json_object_get(v, "text"))) s = json_string_value(json_object_get(v, "text"));
    char *out = strdup(s ? s : line);
    json_decref(v);
    return out;
}

static int read_input_file(const char *path, text_list *texts) {
    char *data;
    size_t len;
    if (!strcmp(path, "-")) {
        data = cli_read_stdin(&len);
        if (!data) return cli_fail("could not read standard input");
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) return cli_fail("%s: cannot open", path);
        size_t cap = 4096;
        len = 0;
        data = malloc(cap);
        size_t got;
        while (data && (got = fread(data + len, 1, cap - len - 1, f)) > 0) {
            len += got;
            if (cap - len - 1 == 0) {
                char *grown = realloc(data, cap * 2);
                if (!grown) free(data);
                data = grown;
                cap *= 2;
            }
        }
        fclose(f);
        if (!data) return cli_fail("%s: out of memory", path);
        data[len] = '\0';
    }
    int rc = 0;
    for (char *line = data; line && *line && !rc;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[n - 1] = '\0';
        if (line[0]) {
            char *t = input_line_text(line);
            if (!t || list_push(texts, t)) rc = cli_fail("out of memory");
        }
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    return rc;
}

int cli_embed(int argc, char **argv) {
    const char *path = NULL;
    char *stdin_text = NULL;
    text_list texts = {0};
    int threads = 0, rc = 0;
    for (int i = 0; i < argc && !rc; i++) {
        int t = threads_option(argc, argv, &i, &threads);
        if (t < 0) rc = cli_fail("--threads needs a number");
        else if (t) continue;
        else if (!strcmp(argv[i], "--input")) {
            if (i + 1 >= argc) rc = cli_fail("--input needs a file");
            else rc = read_input_file(argv[++i], &texts);
        } else if (!path) path = argv[i];
        else {
            const char *text = text_arg(argv[i], &stdin_text);
            char *copy = text ? strdup(text) : NULL;
            if (!copy || list_push(&texts, copy)) rc = text ? cli_fail("out of memory") : 1;
        }
    }
    if (!rc && (!path || texts.n == 0)) rc = cli_fail("usage: slm embed MODEL TEXT... [--input FILE] [--threads N]");
    slm_model *model = NULL;
    slm_session *session = NULL;
    if (!rc) rc = open_model(path, threads, &model, &session);
    if (!rc) {
        slm_error err;
        float *vectors = NULL;
        int dim = 0;
        if (slm_embed(session, (const char *const *)texts.items, texts.n, &vectors, &dim, &err)) {
            rc = cli_fail_error(&err);
        } else {
            printf("{\"dim\": %d, \"embeddings\": [", dim);
            for (int t = 0; t < texts.n; t++) {
                fputs(t ? ", [" : "[", stdout);
                for (int j = 0; j < dim; j++) printf("%s%.8g", j ? ", " : "", vectors[(size_t)t * dim + j]);
                fputc(']', stdout);
            }
            fputs("]}\n", stdout);
        }
        slm_free(vectors);
    }
    close_model(model, session);
    for (int t = 0; t < texts.n; t++) free(texts.items[t]);
    free(texts.items);
    free(stdin_text);
    return rc;
}

/* ---- fill-mask ---- */

int cli_fill_mask(int argc, char **argv) {
    const char *path = NULL, *text = NULL, *pair = NULL;
    char *stdin_text = NULL;
    int threads = 0, rc = 0;
    long top_k = 5;
    for (int i = 0; i < argc && !rc; i++) {
        int t = threads_option(argc, argv, &i, &threads);
        if (t < 0) rc = cli_fail("--threads needs a number");
        else if (t) continue;
        else if (!strcmp(argv[i], "--top-k")) {
            if (i + 1 >= argc || cli_parse_int(argv[++i], 1, 100000, &top_k)) rc = cli_fail("--top-k needs a number >= 1");
        } else if (!strcmp(argv[i], "--pair")) {
            if (i + 1 >= argc || !(pair = text_arg(argv[++i], &stdin_text))) rc = cli_fail("--pair needs a text");
        } else if (!path) path = argv[i];
        else if (!text) {
            if (!(text = text_arg(argv[i], &stdin_text))) rc = 1;
        } else rc = cli_fail("unexpected argument \"%s\"", argv[i]);
    }
    if (!rc && (!path || !text)) rc = cli_fail("usage: slm fill-mask MODEL TEXT [--top-k K] [--pair TEXT] [--threads N]");
    slm_model *model = NULL;
    slm_session *session = NULL;
    if (!rc) rc = open_model(path, threads, &model, &session);
    if (!rc) {
        slm_error err;
        slm_fill_mask_result *r = NULL;
        if (slm_fill_mask(session, text, pair, (int)top_k, &r, &err)) {
            rc = cli_fail_error(&err);
        } else {
            /* As the pipeline: a list of candidates for one mask, a list of lists for several. */
            if (r->n_masks > 1) fputc('[', stdout);
            for (int m = 0; m < r->n_masks; m++) {
                fputs(m ? ", [" : "[", stdout);
                for (int c = 0; c < r->masks[m].n_candidates; c++) {
                    const slm_fill_mask_candidate *cand = &r->masks[m].candidates[c];
                    printf("%s{\"score\": %.8g, \"token\": %d, \"token_str\": ", c ? ", " : "", cand->score, cand->token);
                    json_str(cand->token_str);
                    fputs(", \"sequence\": ", stdout);
                    json_str(cand->sequence);
                    fputc('}', stdout);
                }
                fputc(']', stdout);
            }
            if (r->n_masks > 1) fputc(']', stdout);
            fputc('\n', stdout);
        }
        slm_fill_mask_result_free(r);
    }
    close_model(model, session);
    free(stdin_text);
    return rc;
}

/* ---- classify ---- */

int cli_classify(int argc, char **argv) {
    const char *path = NULL, *pair = NULL;
    char *stdin_text = NULL;
    const char **texts = calloc((size_t)argc + 1, sizeof *texts);
    int n_texts = 0, threads = 0, rc = texts ? 0 : cli_fail("out of memory");
    long top_k = 0;
    slm_score_function fn = SLM_SCORES_AUTO;
    for (int i = 0; i < argc && !rc; i++) {
        int t = threads_option(argc, argv, &i, &threads);
        if (t < 0) rc = cli_fail("--threads needs a number");
        else if (t) continue;
        else if (!strcmp(argv[i], "--top-k")) {
            if (i + 1 >= argc || cli_parse_int(argv[++i], 1, 1000000, &top_k)) rc = cli_fail("--top-k needs a number >= 1");
        } else if (!strcmp(argv[i], "--pair")) {
            if (i + 1 >= argc || !(pair = text_arg(argv[++i], &stdin_text))) rc = cli_fail("--pair needs a text");
        } else if (!strcmp(argv[i], "--function")) {
            const char *f = i + 1 < argc ? argv[++i] : "";
            if (!strcmp(f, "softmax")) fn = SLM_SCORES_SOFTMAX;
            else if (!strcmp(f, "sigmoid")) fn = SLM_SCORES_SIGMOID;
            else if (!strcmp(f, "none")) fn = SLM_SCORES_NONE;
            else rc = cli_fail("--function must be softmax, sigmoid or none");
        } else if (!path) path = argv[i];
        else if (!(texts[n_texts++] = text_arg(argv[i], &stdin_text))) rc = 1;
    }
    if (!rc && (!path || n_texts == 0))
        rc = cli_fail("usage: slm classify MODEL TEXT... [--pair TEXT] [--top-k K] [--function softmax|sigmoid|none]");
    slm_model *model = NULL;
    slm_session *session = NULL;
    if (!rc) rc = open_model(path, threads, &model, &session);
    if (!rc) {
        /* Everything is computed before printing, so a failure prints no partial JSON. */
        slm_label_score **all = calloc((size_t)n_texts, sizeof *all);
        int *counts = calloc((size_t)n_texts, sizeof *counts);
        slm_error err;
        if (!all || !counts) rc = cli_fail("out of memory");
        for (int t = 0; t < n_texts && !rc; t++)
            if (slm_classify(session, texts[t], pair, fn, &all[t], &counts[t], &err)) rc = cli_fail_error(&err);
        if (!rc) {
            if (n_texts > 1) fputc('[', stdout);
            for (int t = 0; t < n_texts; t++) {
                int n = top_k > 0 && top_k < counts[t] ? (int)top_k : counts[t];
                fputs(t ? ", [" : "[", stdout);
                for (int l = 0; l < n; l++) {
                    fputs(l ? ", {\"label\": " : "{\"label\": ", stdout);
                    json_str(all[t][l].name);
                    printf(", \"score\": %.8g}", all[t][l].score);
                }
                fputc(']', stdout);
            }
            if (n_texts > 1) fputc(']', stdout);
            fputc('\n', stdout);
        }
        for (int t = 0; all && t < n_texts; t++) slm_free(all[t]);
        free(all);
        free(counts);
    }
    close_model(model, session);
    free(texts);
    free(stdin_text);
    return rc;
}

/* ---- ner ---- */

int cli_ner(int argc, char **argv) {
    const char *path = NULL, *text = NULL;
    char *stdin_text = NULL;
    int threads = 0, rc = 0, aggregation = SLM_AGGREGATION_NONE;
    for (int i = 0; i < argc && !rc; i++) {
        int t = threads_option(argc, argv, &i, &threads);
        if (t < 0) rc = cli_fail("--threads needs a number");
        else if (t) continue;
        else if (!strcmp(argv[i], "--aggregation")) {
            aggregation = slm_aggregation_from_name(i + 1 < argc ? argv[++i] : "");
            if (aggregation < 0) rc = cli_fail("--aggregation must be none, simple, first, average or max");
        } else if (!path) path = argv[i];
        else if (!text) {
            if (!(text = text_arg(argv[i], &stdin_text))) rc = 1;
        } else rc = cli_fail("unexpected argument \"%s\"", argv[i]);
    }
    if (!rc && (!path || !text))
        rc = cli_fail("usage: slm ner MODEL TEXT [--aggregation none|simple|first|average|max] [--threads N]");
    slm_model *model = NULL;
    slm_session *session = NULL;
    if (!rc) rc = open_model(path, threads, &model, &session);
    if (!rc) {
        slm_error err;
        slm_entity *ents = NULL;
        int n = 0;
        if (slm_ner(session, text, (slm_aggregation)aggregation, &ents, &n, &err)) {
            rc = cli_fail_error(&err);
        } else {
            fputc('[', stdout);
            for (int e = 0; e < n; e++) {
                printf("%s{\"%s\": ", e ? ", " : "", aggregation == SLM_AGGREGATION_NONE ? "entity" : "entity_group");
                json_str(ents[e].entity);
                printf(", \"score\": %.8g", ents[e].score);
                if (aggregation == SLM_AGGREGATION_NONE) printf(", \"index\": %d", ents[e].index);
                fputs(", \"word\": ", stdout);
                json_str(ents[e].word);
                printf(", \"start\": %d, \"end\": %d}", ents[e].start, ents[e].end);
            }
            fputs("]\n", stdout);
        }
        slm_entities_free(ents, n);
    }
    close_model(model, session);
    free(stdin_text);
    return rc;
}

/* ---- qa ---- */

int cli_qa(int argc, char **argv) {
    const char *path = NULL, *question = NULL, *context = NULL;
    char *stdin_text = NULL;
    int threads = 0, rc = 0;
    slm_qa_params p = slm_qa_default_params();
    for (int i = 0; i < argc && !rc; i++) {
        long v;
        int t = threads_option(argc, argv, &i, &threads);
        if (t < 0) rc = cli_fail("--threads needs a number");
        else if (t) continue;
        else if (!strcmp(argv[i], "--question")) {
            if (i + 1 >= argc || !(question = text_arg(argv[++i], &stdin_text))) rc = cli_fail("--question needs a text");
        } else if (!strcmp(argv[i], "--context")) {
            if (i + 1 >= argc || !(context = text_arg(argv[++i], &stdin_text))) rc = cli_fail("--context needs a text");
        } else if (!strcmp(argv[i], "--stride")) {
            if (i + 1 >= argc || cli_parse_int(argv[++i], 0, 1 << 20, &v)) rc = cli_fail("--stride needs a number >= 0");
            else p.doc_stride = (int)v;
        } else if (!strcmp(argv[i], "--max-answer-len")) {
            if (i + 1 >= argc || cli_parse_int(argv[++i], 1, 1 << 20, &v)) rc = cli_fail("--max-answer-len needs a number >= 1");
            else p.max_answer_len = (int)v;
        } else if (!strcmp(argv[i], "--max-seq-len")) {
            if (i + 1 >= argc || cli_parse_int(argv[++i], 1, 1 << 20, &v)) rc = cli_fail("--max-seq-len needs a number >= 1");
            else p.max_seq_len = (int)v;
        } else if (!path) path = argv[i];
        else rc = cli_fail("unexpected argument \"%s\"", argv[i]);
    }
    if (!rc && (!path || !question || !context))
        rc = cli_fail("usage: slm qa MODEL --question Q --context C [--stride N] [--max-answer-len N] [--max-seq-len N]");
    slm_model *model = NULL;
    slm_session *session = NULL;
    if (!rc) rc = open_model(path, threads, &model, &session);
    if (!rc) {
        slm_error err;
        slm_qa_answer a;
        if (slm_qa(session, question, context, &p, &a, &err)) {
            rc = cli_fail_error(&err);
        } else {
            printf("{\"score\": %.8g, \"start\": %d, \"end\": %d, \"answer\": ", a.score, a.start, a.end);
            json_str(a.answer);
            fputs("}\n", stdout);
        }
        slm_qa_answer_clear(&a);
    }
    close_model(model, session);
    free(stdin_text);
    return rc;
}
