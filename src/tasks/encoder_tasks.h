/* encoder_tasks.h — what the encoder tasks (embed.c, fill_mask.c, classify.c, ner.c, qa.c)
 * share, and their pure parts (scoring, aggregation, span selection), exposed so tests can
 * check them on hand-made logits without a model. */
#ifndef SLM_TASKS_ENCODER_TASKS_H
#define SLM_TASKS_ENCODER_TASKS_H

#include "slm.h"
#include "slm_tasks.h"

/* ---- numerics (classify.c) ---- */

/* x (n) <- softmax(x), computed as exp(x - max) / sum, as the pipelines do. */
void slm_task_softmax(float *x, int n);
float slm_task_sigmoid(float x);
/* Indices of the k largest values of x (n), by descending value; ties: lower index first.
 * Returns the number written (min(k, n)). */
int slm_task_top_k(const float *x, int n, int k, int32_t *idx);
/* transformers' function_to_apply default for a sequence classifier. */
slm_score_function slm_task_default_function(const char *problem_type, int num_labels);
/* scores (n) from logits (n) with fn, then sorted by descending score (stable). */
void slm_task_label_scores(const float *logits, int n, slm_score_function fn, slm_label_score *scores);

/* ---- span selection (qa.c) ---- */

/* The best answer span of one window, as transformers' select_starts_ends + decode_spans
 * with top_k 1: positions with allowed[i] == 0 are set to -10000 before the softmax,
 * except cls_index (>= 0) which stays in the softmax and is zeroed after it; the span
 * maximises p_start[s] * p_end[e] over allowed s <= e < s + max_answer_len (first in
 * row-major order on ties). Returns 0 when no span has a positive score. */
int slm_task_best_span(const float *start_logits, const float *end_logits, const uint8_t *allowed, int n,
                       int cls_index, int max_answer_len, int *start, int *end, float *score);

/* ---- aggregation (ner.c) ---- */

typedef struct {
    const char *word;    /* the token's text ("##ing"), or the original text for [UNK] */
    const float *scores; /* (n_labels) softmax probabilities */
    int start, end;      /* code points in the original text */
    int index;           /* token index in the encoding */
    int is_subword;      /* continues the previous token's word */
} slm_ner_token;

/* transformers' TokenClassificationPipeline.aggregate + group_entities, then drops the
 * labels "O". Words are joined as the WordPiece decoder does (cleanup on). */
slm_status slm_task_ner_aggregate(const slm_ner_token *tokens, int n_tokens, int n_labels,
                                  const char *const *labels, slm_aggregation aggregation, slm_entity **entities,
                                  int *n_entities, slm_error *err);
/* tokens joined as the WordPiece decoder (prefix "##", cleanup) does; allocated. */
char *slm_task_join_wordpieces(const char *const *tokens, int n);

/* ---- running the model (embed.c) ---- */

/* The session's model and tokenizer, checking the model is an encoder with head. */
slm_status slm_task_prepare(slm_session *session, slm_head head, const char *task, const slm_model **model,
                            const slm_tokenizer **tok, slm_error *err);
/* slm_encode with special tokens, truncated to max_length (0 = none). */
slm_status slm_task_encode(const slm_tokenizer *tok, const char *text, const char *pair, int max_length,
                           slm_encoding **enc, slm_error *err);
/* Runs one encoding (ids + type ids, all attended) and returns the output, allocated:
 * width floats per token for per-token outputs. */
slm_status slm_task_run(slm_session *session, const slm_encoding *enc, slm_encode_output what, size_t floats,
                        float **out, slm_error *err);
/* Byte offset of code point cp in s (len bytes); len when cp is past the end. */
size_t slm_task_cp_to_byte(const char *s, size_t len, int cp);

/* 1 when token i of enc (from text, len bytes) continues the previous token's word, as
 * the transformers pipelines decide: a "##" piece for WordPiece; for tokenizers without
 * a continuing-subword prefix (SentencePiece, BPE), no space just before or at its start. */
int slm_task_continues_word(const slm_tokenizer *tok, const slm_encoding *enc, size_t i, const char *text,
                            size_t len);
/* Copies n bytes into a new NUL-terminated string; NULL when out of memory. */
char *slm_task_strndup(const char *s, size_t n);
/* Reads "problem_type" from the model folder's config.json; "" when absent. */
void slm_task_problem_type(const slm_model *model, char *out, size_t cap);

#endif
