/* fill_mask.c — masked-token prediction as transformers' FillMaskPipeline: for every mask
 * token in the text, the softmax over the vocabulary at its position and the top_k tokens,
 * each with the text decoded with that token in the mask's place. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"
#include "tasks/encoder_tasks.h"
#include "tokenizers/tokenizer.h"

#define FILL_MASK_DEFAULT_TOP_K 5

void slm_fill_mask_result_free(slm_fill_mask_result *r) {
    if (!r) return;
    for (int m = 0; m < r->n_masks; m++) {
        slm_fill_mask_slot *slot = &r->masks[m];
        for (int c = 0; c < slot->n_candidates; c++) {
            free(slot->candidates[c].token_str);
            free(slot->candidates[c].sequence);
        }
        free(slot->candidates);
    }
    free(r->masks);
    free(r);
}

static size_t count_id(const slm_encoding *enc, int32_t id) {
    size_t n = 0;
    for (size_t i = 0; i < enc->n; i++) n += enc->ids[i] == id;
    return n;
}

/* Fills one candidate: the token and the decoded sequence with it in place of the mask. */
static slm_status fill_candidate(const slm_tokenizer *tok, const slm_encoding *enc, size_t mask_at, int32_t token,
                                 float score, int single_mask, int32_t *scratch, slm_fill_mask_candidate *c,
                                 slm_error *err) {
    int32_t pad = slm_tokenizer_special(tok, "pad");
    c->token = token;
    c->score = score;
    slm_status st = slm_detokenize(tok, &token, 1, 0, &c->token_str, err);
    if (st) return st;
    /* As the pipeline: the mask replaced, padding filtered out, special tokens skipped
     * only when there is a single mask (so the other masks stay visible). */
    size_t n = 0;
    for (size_t i = 0; i < enc->n; i++) {
        int32_t id = i == mask_at ? token : enc->ids[i];
        if (id != pad) scratch[n++] = id;
    }
    return slm_detokenize(tok, scratch, n, single_mask, &c->sequence, err);
}

slm_status slm_fill_mask(slm_session *session, const char *text, const char *pair, int top_k,
                         slm_fill_mask_result **result, slm_error *err) {
    if (result) *result = NULL;
    const slm_model *model;
    const slm_tokenizer *tok;
    slm_status st = slm_task_prepare(session, SLM_HEAD_MLM, "fill-mask", &model, &tok, err);
    if (st) return st;
    if (!text || !result) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "fill-mask: text or result is NULL");
    int32_t mask_id = slm_tokenizer_special(tok, "mask");
    if (mask_id < 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "fill-mask: the tokenizer of %s has no mask token",
                        slm_model_dir(model));
    const char *mask_text = slm_token_text(tok, mask_id);
    if (!mask_text) mask_text = "[MASK]";
    int n_vocab = slm_model_get_info(model).n_vocab;
    if (top_k <= 0) top_k = FILL_MASK_DEFAULT_TOP_K;
    if (top_k > n_vocab) top_k = n_vocab;
    int max_length = slm_model_max_length(model);
    int tok_limit = slm_tokenizer_model_max_length(tok);
    if (tok_limit > 0 && (max_length <= 0 || tok_limit < max_length)) max_length = tok_limit;

    /* Untruncated first, to tell "no mask" from "the mask was truncated away". */
    slm_encoding *full = NULL, *enc = NULL;
    st = slm_task_encode(tok, text, pair, 0, &full, err);
    if (st) return slm_error_prefix(err, "fill-mask");
    size_t n_masks_full = count_id(full, mask_id);
    if (n_masks_full == 0) {
        slm_encoding_free(full);
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "fill-mask: no %s token in the text", mask_text);
    }
    if (max_length > 0 && full->n > (size_t)max_length) {
        slm_encoding_free(full);
        st = slm_task_encode(tok, text, pair, max_length, &enc, err);
        if (st) return slm_error_prefix(err, "fill-mask");
    } else {
        enc = full;
    }
    size_t n_masks = count_id(enc, mask_id);
    if (n_masks == 0) {
        slm_encoding_free(enc);
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                        "fill-mask: every %s token lies past the model's limit of %d tokens and was truncated away",
                        mask_text, max_length);
    }

    float *logits = NULL;
    int32_t *top = malloc((size_t)top_k * sizeof *top);
    int32_t *scratch = malloc(enc->n * sizeof *scratch);
    slm_fill_mask_result *r = calloc(1, sizeof *r);
    if (r) r->masks = calloc(n_masks, sizeof *r->masks);
    if (!top || !scratch || !r || !r->masks) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "fill-mask: results");
    if (st == SLM_OK) st = slm_task_run(session, enc, SLM_ENCODE_MLM, enc->n * (size_t)n_vocab, &logits, err);
    for (size_t i = 0; i < enc->n && st == SLM_OK; i++) {
        if (enc->ids[i] != mask_id) continue;
        float *probs = logits + i * (size_t)n_vocab;
        slm_task_softmax(probs, n_vocab);
        int k = slm_task_top_k(probs, n_vocab, top_k, top);
        slm_fill_mask_slot *slot = &r->masks[r->n_masks++];
        slot->position = (int)i;
        slot->candidates = calloc((size_t)k, sizeof *slot->candidates);
        if (!slot->candidates) {
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "fill-mask: candidates");
            break;
        }
        for (int c = 0; c < k && st == SLM_OK; c++) {
            st = fill_candidate(tok, enc, i, top[c], probs[top[c]], n_masks == 1, scratch, &slot->candidates[c], err);
            slot->n_candidates = c + 1;
        }
    }
    if (st) {
        slm_error_prefix(err, "fill-mask");
        slm_fill_mask_result_free(r);
    } else {
        *result = r;
    }
    free(logits);
    free(top);
    free(scratch);
    slm_encoding_free(enc);
    return st;
}
