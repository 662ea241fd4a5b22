/* classify.c — text classification as transformers' TextClassificationPipeline: the
 * sequence-classification head's logits turned into scores (softmax, or sigmoid for
 * multi-label / single-output models), every label sorted by score. Also the score
 * numerics the other encoder tasks share (softmax, sigmoid, top-k). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"
#include "tasks/encoder_tasks.h"
#include "tokenizers/tokenizer.h"

void slm_task_softmax(float *x, int n) {
    if (n <= 0) return;
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
}

float slm_task_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

int slm_task_top_k(const float *x, int n, int k, int32_t *idx) {
    if (k > n) k = n;
    if (k <= 0) return 0;
    /* Insertion into a sorted list of k: O(n k), fine for k of a few dozen. */
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (have == k && !(x[i] > x[idx[k - 1]])) continue;
        int at = have < k ? have++ : k - 1;
        while (at > 0 && x[i] > x[idx[at - 1]]) {
            idx[at] = idx[at - 1];
            at--;
        }
        idx[at] = i;
    }
    return k;
}

/* transformers: sigmoid for multi_label_classification or num_labels == 1; softmax for
 * single_label_classification or num_labels > 1. */
slm_score_function slm_task_default_function(const char *problem_type, int num_labels) {
    if ((problem_type && !strcmp(problem_type, "multi_label_classification")) || num_labels == 1)
        return SLM_SCORES_SIGMOID;
    if ((problem_type && !strcmp(problem_type, "single_label_classification")) || num_labels > 1)
        return SLM_SCORES_SOFTMAX;
    return SLM_SCORES_NONE;
}

void slm_task_label_scores(const float *logits, int n, slm_score_function fn, slm_label_score *scores) {
    float *v = malloc((n > 0 ? (size_t)n : 1) * sizeof *v);
    for (int i = 0; i < n; i++) {
        float x = logits[i];
        if (fn == SLM_SCORES_SIGMOID) x = slm_task_sigmoid(x);
        if (v) v[i] = x;
        scores[i].label = i;
        scores[i].name = NULL;
        scores[i].score = x;
    }
    if (fn == SLM_SCORES_SOFTMAX && v) {
        slm_task_softmax(v, n);
        for (int i = 0; i < n; i++) scores[i].score = v[i];
    }
    free(v);
    /* Stable insertion sort by descending score (Python's sort is stable). */
    for (int i = 1; i < n; i++) {
        slm_label_score cur = scores[i];
        int j = i;
        while (j > 0 && scores[j - 1].score < cur.score) {
            scores[j] = scores[j - 1];
            j--;
        }
        scores[j] = cur;
    }
}

slm_status slm_classify(slm_session *session, const char *text, const char *pair, slm_score_function function,
                        slm_label_score **scores, int *n_scores, slm_error *err) {
    if (scores) *scores = NULL;
    if (n_scores) *n_scores = 0;
    const slm_model *model;
    const slm_tokenizer *tok;
    slm_status st = slm_task_prepare(session, SLM_HEAD_SEQCLS, "classify", &model, &tok, err);
    if (st) return st;
    if (!text || !scores || !n_scores) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "classify: text or result is NULL");
    int n_labels = slm_model_num_labels(model);
    if (n_labels <= 0) return slm_fail(err, SLM_ERR_FORMAT, "classify: %s has no labels", slm_model_dir(model));
    if (function == SLM_SCORES_AUTO) {
        char problem_type[64];
        slm_task_problem_type(model, problem_type, sizeof problem_type);
        function = slm_task_default_function(problem_type, n_labels);
    }
    int max_length = slm_model_max_length(model);
    int tok_limit = slm_tokenizer_model_max_length(tok);
    if (tok_limit > 0 && (max_length <= 0 || tok_limit < max_length)) max_length = tok_limit;

    slm_encoding *enc = NULL;
    float *logits = NULL;
    st = slm_task_encode(tok, text, pair, max_length, &enc, err);
    if (st == SLM_OK) st = slm_task_run(session, enc, SLM_ENCODE_SEQCLS, (size_t)n_labels, &logits, err);
    slm_label_score *out = NULL;
    if (st == SLM_OK) {
        out = malloc((size_t)n_labels * sizeof *out);
        if (!out) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "classify: %d scores", n_labels);
    }
    if (st == SLM_OK) {
        slm_task_label_scores(logits, n_labels, function, out);
        for (int i = 0; i < n_labels; i++) out[i].name = slm_model_label(model, out[i].label);
        *scores = out;
        *n_scores = n_labels;
    } else {
        slm_error_prefix(err, "classify");
    }
    free(logits);
    slm_encoding_free(enc);
    return st;
}
