/* slm_tasks.h — the encoder tasks: sentence embeddings, fill-mask, text classification,
 * token classification (NER) and extractive question answering, each behaving as the
 * reference implementation does (sentence-transformers for embeddings, the transformers
 * pipelines for the rest). Every task runs on an slm_session over an encoder model
 * (BERT, DistilBERT) and tokenizes with the model's own tokenizer.
 *
 * Long inputs never fail for their length: embed, classify, fill-mask and NER truncate to
 * the model's maximum length (slm_model_max_length; for embeddings also the
 * sentence-transformers max_seq_length), QA splits the context into overlapping windows.
 * Offsets are Unicode code points of the original text, as in the transformers pipelines.
 * Strings and arrays returned here are owned by the result and freed with its _free(). */
#ifndef SLM_TASKS_H
#define SLM_TASKS_H

#include "slm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sentence embeddings ------------------------------------------------ */

/* sentence-transformers' Pooling modes. */
typedef enum {
    SLM_POOL_CLS = 0,        /* the first unmasked token ([CLS]) */
    SLM_POOL_MAX,            /* element-wise max over unmasked tokens */
    SLM_POOL_MEAN,           /* sum / max(count, 1e-9) over unmasked tokens */
    SLM_POOL_MEAN_SQRT_LEN,  /* sum / sqrt(max(count, 1e-9)) */
    SLM_POOL_WEIGHTED_MEAN,  /* position-weighted mean, weights 1..seq_len */
    SLM_POOL_LAST_TOKEN      /* the last unmasked token */
} slm_pooling_mode;

#define SLM_POOLING_MAX_MODES 6

typedef struct {
    int n_modes;                                  /* >= 1 */
    slm_pooling_mode modes[SLM_POOLING_MAX_MODES]; /* concatenated in this order */
    int normalize;                                /* 1: L2-normalise the concatenation */
    int max_length;                               /* tokens per text, 0 = the model's limit */
} slm_pooling;

/* Reads the pooling from the model's folder the way sentence-transformers does:
 * modules.json lists the modules; the Pooling module's config.json gives "pooling_mode"
 * (a name or a list, concatenated in list order) or the legacy pooling_mode_*_token(s)
 * booleans (concatenated as cls, max, mean, mean_sqrt_len, weightedmean, lasttoken; none
 * true means mean); a Normalize module turns on L2 normalisation. sentence_bert_config.json
 * max_seq_length, when present, caps the length. Modules slm does not run (Dense, ...) are
 * SLM_ERR_UNSUPPORTED rather than silently skipped.
 * A folder without modules.json gets the default: mean pooling, no normalisation. */
slm_status slm_pooling_from_model(const slm_model *model, slm_pooling *pooling, slm_error *err);

/* Width of a pooled vector: n_modes * d_model. */
int slm_pooling_dim(const slm_pooling *pooling, int d_model);

/* The pooling itself, a pure function. hidden: (n_seqs, seq_len, d_model); mask: (n_seqs,
 * seq_len), 1 = token, NULL = all ones; out: (n_seqs, n_modes * d_model). */
void slm_pool(const slm_pooling *pooling, const float *hidden, const int32_t *mask, int n_seqs, int seq_len,
              int d_model, float *out);

/* Runs an already tokenized batch through the encoder and pools + normalises it with the
 * model's pooling (slm_pooling_from_model). out: room for n_seqs * dim floats, or NULL to
 * only learn *dim. */
slm_status slm_embed_batch(slm_session *session, const slm_batch *batch, float *out, int *dim, slm_error *err);

/* Embeds n texts: tokenized with special tokens, truncated, padded per batch of 32.
 * *vectors: (n, *dim), allocated; release it with slm_free(). An empty text is valid (its
 * vector is that of [CLS] [SEP]), as in sentence-transformers. */
slm_status slm_embed(slm_session *session, const char *const *texts, int n, float **vectors, int *dim,
                     slm_error *err);

/* ---- fill-mask ----------------------------------------------------------- */

typedef struct {
    int32_t token;    /* the predicted token id */
    float score;      /* softmax probability over the vocabulary at this mask */
    char *token_str;  /* the token decoded on its own */
    char *sequence;   /* the input with this token in the mask's place, decoded (see slm_fill_mask) */
} slm_fill_mask_candidate;

typedef struct {
    int position;                        /* token index of the mask in the encoded input */
    int n_candidates;                    /* top_k, capped by the vocabulary */
    slm_fill_mask_candidate *candidates; /* by descending score */
} slm_fill_mask_slot;

typedef struct {
    int n_masks;
    slm_fill_mask_slot *masks; /* in text order */
} slm_fill_mask_result;

/* For every mask token (the tokenizer's "mask" special) the top_k (default 5 when <= 0)
 * tokens, as transformers' FillMaskPipeline: each mask is scored on its own; "sequence" is
 * decoded without special tokens when the text holds one mask, with them (so the other
 * masks stay visible) when it holds several. pair may be NULL (a second segment, type 1).
 * No mask in the text, or every mask truncated away, is SLM_ERR_INVALID_ARGUMENT. */
slm_status slm_fill_mask(slm_session *session, const char *text, const char *pair, int top_k,
                         slm_fill_mask_result **result, slm_error *err);
void slm_fill_mask_result_free(slm_fill_mask_result *result);

/* ---- text classification ------------------------------------------------- */

typedef enum {
    SLM_SCORES_AUTO = 0, /* transformers' rule: sigmoid when problem_type is
                          * multi_label_classification or num_labels == 1, else softmax */
    SLM_SCORES_SOFTMAX,
    SLM_SCORES_SIGMOID,
    SLM_SCORES_NONE      /* raw logits */
} slm_score_function;

typedef struct {
    int label;        /* index into the model's labels */
    const char *name; /* slm_model_label(model, label): owned by the model */
    float score;
} slm_label_score;

/* Classifies text (and its pair, or NULL) with the sequence-classification head. *scores:
 * every label, by descending score (ties keep label order); release with slm_free(). */
slm_status slm_classify(slm_session *session, const char *text, const char *pair, slm_score_function function,
                        slm_label_score **scores, int *n_scores, slm_error *err);

/* ---- token classification (NER) ----------------------------------------- */

typedef enum {
    SLM_AGGREGATION_NONE = 0, /* one entity per token */
    SLM_AGGREGATION_SIMPLE,   /* adjacent tokens with the same tag grouped (B-/I- aware) */
    SLM_AGGREGATION_FIRST,    /* words take the label of their first token, then grouped */
    SLM_AGGREGATION_AVERAGE,  /* words take the argmax of their tokens' mean scores */
    SLM_AGGREGATION_MAX       /* words take the label of their most confident token */
} slm_aggregation;

/* Parses "none", "simple", "first", "average", "max"; -1 when unknown. */
int slm_aggregation_from_name(const char *name);

typedef struct {
    char *entity;  /* label (NONE) or entity group with the B-/I- prefix removed (others) */
    float score;
    char *word;    /* the token (NONE, SIMPLE: "##ing"), or the joined word(s) */
    int start, end;/* [start, end) in code points of the original text */
    int index;     /* token index in the encoded text (NONE only; else -1) */
} slm_entity;

/* Entities as transformers' TokenClassificationPipeline gives them; labels "O" dropped
 * (ignore_labels ["O"]). Word boundaries: a WordPiece token whose text length differs from
 * its span of the original text is a continuation (what the pipeline does for "##" tokens).
 * *entities is allocated; release with slm_entities_free(). */
slm_status slm_ner(slm_session *session, const char *text, slm_aggregation aggregation, slm_entity **entities,
                   int *n_entities, slm_error *err);
void slm_entities_free(slm_entity *entities, int n_entities);

/* ---- extractive question answering -------------------------------------- */

typedef struct {
    int max_seq_len;    /* tokens per window; 0 = min(384, model max length) */
    int doc_stride;     /* overlap between windows; -1 = min(max_seq_len / 2, 128) */
    int max_answer_len; /* answer length in tokens; 0 = 15 */
} slm_qa_params;

slm_qa_params slm_qa_default_params(void);

typedef struct {
    float score;  /* softmax(start)[s] * softmax(end)[e] in its window (summed over windows
                   * when several give the same answer text, as the pipeline does) */
    int start, end; /* [start, end) in code points of the context */
    char *answer;   /* the context's text in that range (UTF-8) */
} slm_qa_answer;

/* The best answer span, as transformers' QuestionAnsweringPipeline with top_k 1,
 * handle_impossible_answer false and align_to_words true. An empty question or context,
 * or a context with no tokens, is SLM_ERR_INVALID_ARGUMENT. */
slm_status slm_qa(slm_session *session, const char *question, const char *context, const slm_qa_params *params,
                  slm_qa_answer *answer, slm_error *err);
void slm_qa_answer_clear(slm_qa_answer *answer);

#ifdef __cplusplus
}
#endif
#endif
