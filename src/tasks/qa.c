/* qa.c — extractive question answering as transformers' QuestionAnsweringPipeline (top_k 1,
 * handle_impossible_answer false, align_to_words true): the question and the context are
 * encoded as a pair; a context too long for max_seq_len is split into overlapping windows
 * (each holding the whole question, consecutive windows sharing doc_stride context tokens,
 * as the fast tokenizers' overflow with stride does); in each window the start and end
 * logits outside the context are masked ([CLS] stays in the softmax, then is zeroed), the
 * best span maximises p_start * p_end with end >= start and at most max_answer_len tokens;
 * spans widen to whole words; equal answers from several windows add their scores. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"
#include "tasks/encoder_tasks.h"
#include "tokenizers/tokenizer.h"

slm_qa_params slm_qa_default_params(void) {
    slm_qa_params p;
    p.max_seq_len = 0;
    p.doc_stride = -1;
    p.max_answer_len = 0;
    return p;
}

void slm_qa_answer_clear(slm_qa_answer *a) {
    if (!a) return;
    free(a->answer);
    memset(a, 0, sizeof *a);
}

int slm_task_best_span(const float *start_logits, const float *end_logits, const uint8_t *allowed, int n,
                       int cls_index, int max_answer_len, int *start, int *end, float *score) {
    float *ps = malloc((size_t)(n > 0 ? n : 1) * sizeof *ps);
    float *pe = malloc((size_t)(n > 0 ? n : 1) * sizeof *pe);
    int found = 0;
    if (!ps || !pe) {
        free(ps);
        free(pe);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int keep = allowed[i] || i == cls_index;
        ps[i] = keep ? start_logits[i] : -10000.0f;
        pe[i] = keep ? end_logits[i] : -10000.0f;
    }
    slm_task_softmax(ps, n);
    slm_task_softmax(pe, n);
    if (cls_index >= 0 && cls_index < n) ps[cls_index] = pe[cls_index] = 0.0f;
    float best = 0.0f;
    for (int s = 0; s < n; s++) {
        if (!allowed[s]) continue;
        for (int e = s; e < n && e - s < max_answer_len; e++) {
            if (!allowed[e]) continue;
            float v = ps[s] * pe[e];
            if (v > best) {
                best = v;
                *start = s;
                *end = e;
                found = 1;
            }
        }
    }
    if (found) *score = best;
    free(ps);
    free(pe);
    return found;
}

typedef struct {
    char *text;
    float score;
    int start, end;
} candidate;

slm_status slm_qa(slm_session *session, const char *question, const char *context, const slm_qa_params *params,
                  slm_qa_answer *answer, slm_error *err) {
    if (answer) memset(answer, 0, sizeof *answer);
    const slm_model *model;
    const slm_tokenizer *tok;
    slm_status st = slm_task_prepare(session, SLM_HEAD_QA, "qa", &model, &tok, err);
    if (st) return st;
    if (!question || !context || !answer)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "qa: question, context or answer is NULL");
    if (!question[0]) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "qa: the question is empty");
    if (!context[0]) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "qa: the context is empty");
    slm_qa_params p = params ? *params : slm_qa_default_params();
    int limit = slm_model_max_length(model);
    int tok_limit = slm_tokenizer_model_max_length(tok);
    if (tok_limit > 0 && (limit <= 0 || tok_limit < limit)) limit = tok_limit;
    int max_seq_len = p.max_seq_len > 0 ? p.max_seq_len : 384;
    if (limit > 0 && max_seq_len > limit) max_seq_len = limit;
    int stride = p.doc_stride >= 0 ? p.doc_stride : (max_seq_len / 2 < 128 ? max_seq_len / 2 : 128);
    int max_answer_len = p.max_answer_len > 0 ? p.max_answer_len : 15;
    if (p.max_answer_len < 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "qa: max_answer_len %d must be positive", p.max_answer_len);
    if (stride > max_seq_len)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "qa: doc_stride %d is larger than max_seq_len %d", stride,
                        max_seq_len);

    /* The whole pair once: the template around the context, and every context token. */
    slm_encoding *full = NULL;
    st = slm_task_encode(tok, question, context, 0, &full, err);
    if (st) return slm_error_prefix(err, "qa");
    size_t first_ctx = full->n, last_ctx = 0;
    for (size_t i = 0; i < full->n; i++) {
        if (full->sequence_ids[i] != 1) continue;
        if (first_ctx == full->n) first_ctx = i;
        last_ctx = i;
    }
    if (first_ctx == full->n) {
        slm_encoding_free(full);
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "qa: the context has no tokens (only whitespace?)");
    }
    size_t n_prefix = first_ctx, n_suffix = full->n - last_ctx - 1, n_ctx = last_ctx - first_ctx + 1;
    long room = (long)max_seq_len - (long)(n_prefix + n_suffix);
    if (room <= 0) {
        slm_encoding_free(full);
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "qa: the question takes %zu tokens with the special tokens, leaving no room for the context "
                        "in max_seq_len %d", n_prefix + n_suffix, max_seq_len);
    }
    if ((size_t)room < n_ctx && stride >= room) {
        slm_encoding_free(full);
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "qa: doc_stride %d must be smaller than the %ld context tokens a window holds "
                        "(max_seq_len %d minus the question)", stride, room, max_seq_len);
    }

    size_t window_cap = n_prefix + n_suffix + ((size_t)room < n_ctx ? (size_t)room : n_ctx);
    int32_t *ids = malloc(window_cap * sizeof *ids);
    int32_t *types = malloc(window_cap * sizeof *types);
    int32_t *mask = malloc(window_cap * sizeof *mask);
    uint8_t *allowed = malloc(window_cap);
    float *logits = malloc(2 * window_cap * sizeof *logits);
    candidate *cands = NULL;
    int n_cands = 0;
    if (!ids || !types || !mask || !allowed || !logits) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "qa: windows");
    size_t ctx_len = strlen(context);
    int32_t cls = slm_tokenizer_special(tok, "cls");

    for (size_t w_start = 0; st == SLM_OK;) {
        size_t w_stop = w_start + (size_t)room < n_ctx ? w_start + (size_t)room : n_ctx;
        size_t n = 0;
        for (size_t i = 0; i < n_prefix; i++, n++) {
            ids[n] = full->ids[i], types[n] = full->type_ids[i], allowed[n] = 0;
        }
        for (size_t i = first_ctx + w_start; i < first_ctx + w_stop; i++, n++) {
            ids[n] = full->ids[i], types[n] = full->type_ids[i], allowed[n] = 1;
        }
        for (size_t i = last_ctx + 1; i < full->n; i++, n++) {
            ids[n] = full->ids[i], types[n] = full->type_ids[i], allowed[n] = 0;
        }
        for (size_t i = 0; i < n; i++) mask[i] = 1;
        slm_batch batch = {1, (int)n, ids, types, mask};
        st = slm_session_encode(session, &batch, SLM_ENCODE_QA, logits, err);
        if (st) break;
        int s, e;
        float score;
        if (slm_task_best_span(logits, logits + n, allowed, (int)n, ids[0] == cls ? 0 : -1, max_answer_len, &s, &e,
                               &score)) {
            /* align_to_words: widen to the first token of s's word and the last of e's. */
            size_t shift = first_ctx + w_start - n_prefix; /* window index -> index in full */
            while ((size_t)s > n_prefix && slm_task_continues_word(tok, full, shift + (size_t)s, context, ctx_len)) s--;
            while ((size_t)e + 1 < n_prefix + (w_stop - w_start) &&
                   slm_task_continues_word(tok, full, shift + (size_t)e + 1, context, ctx_len))
                e++;
            size_t ts = first_ctx + w_start + (size_t)s - n_prefix, te = first_ctx + w_start + (size_t)e - n_prefix;
            int cs = full->offsets[2 * ts], ce = full->offsets[2 * te + 1];
            size_t b0 = slm_task_cp_to_byte(context, ctx_len, cs), b1 = slm_task_cp_to_byte(context, ctx_len, ce);
            if (b1 < b0) b1 = b0;
            int merged = 0;
            for (int c = 0; c < n_cands; c++) {
                if (strlen(cands[c].text) == b1 - b0 && !memcmp(cands[c].text, context + b0, b1 - b0)) {
                    cands[c].score += score; /* the pipeline adds the scores of equal answers */
                    merged = 1;
                    break;
                }
            }
            if (!merged) {
                candidate *grown = realloc(cands, (size_t)(n_cands + 1) * sizeof *cands);
                char *text = slm_task_strndup(context + b0, b1 - b0);
                if (grown) cands = grown;
                if (!grown || !text) {
                    free(text);
                    st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "qa: answers");
                    break;
                }
                cands[n_cands++] = (candidate){text, score, cs, ce};
            }
        }
        if (w_stop == n_ctx) break;
        w_start += (size_t)(room - stride);
    }
    if (st == SLM_OK && n_cands > 0) {
        int best = 0; /* sorted(..., reverse=True)[0]: the first of the highest */
        for (int c = 1; c < n_cands; c++)
            if (cands[c].score > cands[best].score) best = c;
        answer->score = cands[best].score;
        answer->start = cands[best].start;
        answer->end = cands[best].end;
        answer->answer = cands[best].text;
        cands[best].text = NULL;
    } else if (st == SLM_OK) {
        answer->answer = slm_task_strndup("", 0); /* no span scored above 0 in any window */
        if (!answer->answer) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "qa: answer");
    }
    if (st && st != SLM_ERR_OUT_OF_MEMORY) slm_error_prefix(err, "qa");
    for (int c = 0; c < n_cands; c++) free(cands[c].text);
    free(cands);
    free(ids), free(types), free(mask), free(allowed), free(logits);
    slm_encoding_free(full);
    return st;
}
