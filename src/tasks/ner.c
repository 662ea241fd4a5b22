/* ner.c — token classification as transformers' TokenClassificationPipeline: softmax over
 * the labels of every token, words rebuilt from WordPiece continuations, the aggregation
 * strategies none / simple / first / average / max, B-/I- tag grouping, and the "O" label
 * dropped. Offsets are code points of the original text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"
#include "tasks/encoder_tasks.h"
#include "tokenizers/tokenizer.h"

int slm_aggregation_from_name(const char *name) {
    static const char *const names[] = {"none", "simple", "first", "average", "max"};
    for (int i = 0; i < 5; i++)
        if (name && !strcmp(name, names[i])) return i;
    return -1;
}

void slm_entities_free(slm_entity *entities, int n) {
    if (!entities) return;
    for (int i = 0; i < n; i++) {
        free(entities[i].entity);
        free(entities[i].word);
    }
    free(entities);
}

/* ---- joining tokens: the WordPiece decoder (prefix "##", cleanup on) ---- */

/* s with every from replaced by to; s is freed. NULL when out of memory. */
static char *replace_all(char *s, const char *from, const char *to) {
    if (!s) return NULL;
    size_t nf = strlen(from), nt = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + nf, from)) count++;
    if (!count) return s;
    char *out = malloc(strlen(s) + count * nt + 1); /* nt <= nf + 1 here, so this is ample */
    if (!out) {
        free(s);
        return NULL;
    }
    char *w = out;
    const char *r = s;
    for (const char *p = strstr(r, from); p; p = strstr(r, from)) {
        memcpy(w, r, (size_t)(p - r));
        w += p - r;
        memcpy(w, to, nt);
        w += nt;
        r = p + nf;
    }
    strcpy(w, r);
    free(s);
    return out;
}

/* The tokenizers library's cleanup(), applied to each decoded piece. */
static char *cleanup(char *s) {
    static const char *const pairs[][2] = {{" .", "."},    {" ?", "?"},     {" !", "!"},
                                           {" ,", ","},    {" ' ", "'"},    {" n't", "n't"},
                                           {" 'm", "'m"},  {" do not", " don't"}, {" 's", "'s"},
                                           {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) s = replace_all(s, pairs[i][0], pairs[i][1]);
    return s;
}

char *slm_task_join_wordpieces(const char *const *tokens, int n) {
    size_t cap = 1;
    for (int i = 0; i < n; i++) cap += strlen(tokens[i]) + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *t = tokens[i];
        char *piece = malloc(strlen(t) + 2);
        if (!piece) {
            free(out);
            return NULL;
        }
        if (i == 0) strcpy(piece, t);
        else if (!strncmp(t, "##", 2)) strcpy(piece, t + 2);
        else {
            piece[0] = ' ';
            strcpy(piece + 1, t);
        }
        piece = cleanup(piece);
        if (!piece) {
            free(out);
            return NULL;
        }
        size_t pl = strlen(piece); /* cleanup never lengthens a piece beyond its input + 1 */
        memcpy(out + len, piece, pl + 1);
        len += pl;
        free(piece);
    }
    return out;
}

/* ---- aggregation ---- */

/* An entity before grouping: a token (none, simple) or a word (first, average, max). */
typedef struct {
    int label;
    float score;
    char *word;
    int start, end, index;
} pre_entity;

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static float max_of(const float *x, int n) { return x[argmax(x, n)]; }

/* transformers' aggregate_word over tokens[first, last]. */
static int aggregate_word(const slm_ner_token *tokens, int first, int last, int n_labels, slm_aggregation agg,
                          pre_entity *e) {
    const char **words = malloc((size_t)(last - first + 1) * sizeof *words);
    if (!words) return -1;
    for (int i = first; i <= last; i++) words[i - first] = tokens[i].word;
    e->word = slm_task_join_wordpieces(words, last - first + 1);
    free(words);
    if (!e->word) return -1;
    e->start = tokens[first].start;
    e->end = tokens[last].end;
    e->index = -1;
    if (agg == SLM_AGGREGATION_FIRST) {
        e->label = argmax(tokens[first].scores, n_labels);
        e->score = tokens[first].scores[e->label];
    } else if (agg == SLM_AGGREGATION_MAX) {
        int best = first; /* Python's max(): the first token with the highest top score */
        for (int i = first + 1; i <= last; i++)
            if (max_of(tokens[i].scores, n_labels) > max_of(tokens[best].scores, n_labels)) best = i;
        e->label = argmax(tokens[best].scores, n_labels);
        e->score = tokens[best].scores[e->label];
    } else { /* AVERAGE: the mean of each label's scores over the word, then its argmax */
        float *mean = malloc((size_t)n_labels * sizeof *mean);
        if (!mean) return -1;
        for (int l = 0; l < n_labels; l++) {
            double sum = 0;
            for (int i = first; i <= last; i++) sum += tokens[i].scores[l];
            mean[l] = (float)(sum / (last - first + 1));
        }
        e->label = argmax(mean, n_labels);
        e->score = mean[e->label];
        free(mean);
    }
    return 0;
}

/* transformers' get_tag: "B-X" -> (B, X), "I-X" -> (I, X), anything else -> (I, itself). */
static const char *get_tag(const char *label, char *bi) {
    if (!strncmp(label, "B-", 2)) {
        *bi = 'B';
        return label + 2;
    }
    *bi = 'I';
    return !strncmp(label, "I-", 2) ? label + 2 : label;
}

static int is_ignored(const char *name) { return !strcmp(name, "O"); }

slm_status slm_task_ner_aggregate(const slm_ner_token *tokens, int n_tokens, int n_labels,
                                  const char *const *labels, slm_aggregation agg, slm_entity **entities,
                                  int *n_entities, slm_error *err) {
    *entities = NULL;
    *n_entities = 0;
    if (n_labels <= 0) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "ner: no labels");
    if (agg < SLM_AGGREGATION_NONE || agg > SLM_AGGREGATION_MAX)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "ner: unknown aggregation strategy %d", (int)agg);
    pre_entity *pre = calloc((size_t)(n_tokens > 0 ? n_tokens : 1), sizeof *pre);
    slm_entity *out = calloc((size_t)(n_tokens > 0 ? n_tokens : 1), sizeof *out);
    int n_pre = 0, n_out = 0, oom = !pre || !out;

    /* 1. Tokens (none, simple) or words (first, average, max). */
    if (agg == SLM_AGGREGATION_NONE || agg == SLM_AGGREGATION_SIMPLE) {
        for (int i = 0; i < n_tokens && !oom; i++) {
            pre_entity *e = &pre[n_pre++];
            e->label = argmax(tokens[i].scores, n_labels);
            e->score = tokens[i].scores[e->label];
            e->word = slm_task_strndup(tokens[i].word, strlen(tokens[i].word));
            e->start = tokens[i].start;
            e->end = tokens[i].end;
            e->index = tokens[i].index;
            oom = !e->word;
        }
    } else {
        for (int first = 0; first < n_tokens && !oom;) {
            int last = first;
            while (last + 1 < n_tokens && tokens[last + 1].is_subword) last++;
            oom = aggregate_word(tokens, first, last, n_labels, agg, &pre[n_pre++]) != 0;
            first = last + 1;
        }
    }

    /* 2. none: every token but "O"; otherwise group adjacent entities of one tag. */
    if (agg == SLM_AGGREGATION_NONE) {
        for (int i = 0; i < n_pre && !oom; i++) {
            if (is_ignored(labels[pre[i].label])) continue;
            slm_entity *e = &out[n_out++];
            e->entity = slm_task_strndup(labels[pre[i].label], strlen(labels[pre[i].label]));
            e->score = pre[i].score;
            e->word = pre[i].word;
            pre[i].word = NULL;
            e->start = pre[i].start;
            e->end = pre[i].end;
            e->index = pre[i].index;
            oom = !e->entity;
        }
    } else {
        for (int first = 0; first < n_pre && !oom;) {
            int last = first;
            while (last + 1 < n_pre) {
                char bi, last_bi;
                const char *tag = get_tag(labels[pre[last + 1].label], &bi);
                const char *last_tag = get_tag(labels[pre[last].label], &last_bi);
                if (strcmp(tag, last_tag) || bi == 'B') break;
                last++;
            }
            /* group_sub_entities: the first entity's label after its first '-', the mean score. */
            const char *label = labels[pre[first].label];
            const char *dash = strchr(label, '-');
            const char *group = dash ? dash + 1 : label;
            if (!is_ignored(group)) {
                slm_entity *e = &out[n_out++];
                double sum = 0;
                const char **words = malloc((size_t)(last - first + 1) * sizeof *words);
                oom = !words;
                for (int i = first; i <= last && words; i++) {
                    sum += pre[i].score;
                    words[i - first] = pre[i].word;
                }
                e->entity = slm_task_strndup(group, strlen(group));
                e->score = (float)(sum / (last - first + 1));
                e->word = words ? slm_task_join_wordpieces(words, last - first + 1) : NULL;
                e->start = pre[first].start;
                e->end = pre[last].end;
                e->index = -1;
                free(words);
                oom = oom || !e->entity || !e->word;
            }
            first = last + 1;
        }
    }
    for (int i = 0; i < n_pre; i++) free(pre[i].word);
    free(pre);
    if (oom) {
        slm_entities_free(out, n_out);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "ner: entities");
    }
    *entities = out;
    *n_entities = n_out;
    return SLM_OK;
}

/* ---- the task ---- */

static int count_code_points(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

slm_status slm_ner(slm_session *session, const char *text, slm_aggregation aggregation, slm_entity **entities,
                   int *n_entities, slm_error *err) {
    if (entities) *entities = NULL;
    if (n_entities) *n_entities = 0;
    const slm_model *model;
    const slm_tokenizer *tok;
    slm_status st = slm_task_prepare(session, SLM_HEAD_TOKCLS, "ner", &model, &tok, err);
    if (st) return st;
    if (!text || !entities || !n_entities) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "ner: text or result is NULL");
    if (aggregation < SLM_AGGREGATION_NONE || aggregation > SLM_AGGREGATION_MAX)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "ner: unknown aggregation strategy %d", (int)aggregation);
    int n_labels = slm_model_num_labels(model);
    if (n_labels <= 0) return slm_fail(err, SLM_ERR_FORMAT, "ner: %s has no labels", slm_model_dir(model));
    int max_length = slm_model_max_length(model);
    int tok_limit = slm_tokenizer_model_max_length(tok);
    if (tok_limit > 0 && (max_length <= 0 || tok_limit < max_length)) max_length = tok_limit;
    int32_t unk = slm_tokenizer_special(tok, "unk");
    size_t text_len = strlen(text);

    slm_encoding *enc = NULL;
    float *logits = NULL;
    slm_ner_token *tokens = NULL;
    char **refs = NULL; /* the original text of each [UNK] token */
    const char **labels = malloc((size_t)n_labels * sizeof *labels);
    if (!labels) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "ner: labels");
    for (int l = 0; l < n_labels; l++) {
        labels[l] = slm_model_label(model, l);
        if (!labels[l]) labels[l] = "";
    }
    st = slm_task_encode(tok, text, NULL, max_length, &enc, err);
    if (st == SLM_OK) st = slm_task_run(session, enc, SLM_ENCODE_TOKCLS, enc->n * (size_t)n_labels, &logits, err);
    if (st == SLM_OK) {
        tokens = calloc(enc->n, sizeof *tokens);
        refs = calloc(enc->n, sizeof *refs);
        if (!tokens || !refs) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "ner: %zu tokens", enc->n);
    }
    int n_tokens = 0;
    for (size_t i = 0; st == SLM_OK && i < enc->n; i++) {
        float *scores = logits + i * (size_t)n_labels;
        slm_task_softmax(scores, n_labels);
        if (enc->sequence_ids[i] < 0) continue; /* special tokens carry no entity */
        slm_ner_token *t = &tokens[n_tokens++];
        int start = enc->offsets[2 * i], end = enc->offsets[2 * i + 1];
        size_t b0 = slm_task_cp_to_byte(text, text_len, start), b1 = slm_task_cp_to_byte(text, text_len, end);
        const char *word = slm_token_text(tok, enc->ids[i]);
        t->scores = scores;
        t->start = start;
        t->end = end;
        t->index = (int)i;
        if (enc->ids[i] == unk || !word) {
            refs[i] = slm_task_strndup(text + b0, b1 - b0);
            if (!refs[i]) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "ner: word");
            t->word = refs[i];
            t->is_subword = 0;
        } else {
            /* transformers: with a "##" prefix, a token whose text is longer than its span
             * continues a word ("##ing" spans "ing"); otherwise no space before or at its start. */
            t->word = word;
            t->is_subword = slm_tokenizer_has_subword_prefix(tok) ? count_code_points(word) != end - start
                                                                   : slm_task_continues_word(tok, enc, i, text, text_len);
        }
    }
    if (st == SLM_OK)
        st = slm_task_ner_aggregate(tokens, n_tokens, n_labels, labels, aggregation, entities, n_entities, err);
    if (st) slm_error_prefix(err, "ner");
    if (refs)
        for (size_t i = 0; i < enc->n; i++) free(refs[i]);
    free(refs);
    free(tokens);
    free(logits);
    free(labels);
    slm_encoding_free(enc);
    return st;
}
