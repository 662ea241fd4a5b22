/* slm.h — the public API of slm, a runtime for small language models.
 *
 * Two handles carry all state:
 *   slm_model    immutable weights + tokenizer + config; share it across threads.
 *   slm_session  one conversation's KV cache, scratch buffers and threads.
 * Every call that can fail returns an slm_status and fills an slm_error with a
 * message naming the file, tensor or argument at fault. The library never exits.
 * Arrays the library allocates for the caller are released with slm_free().
 */
#ifndef SLM_H
#define SLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    SLM_OK = 0,
    SLM_ERR_IO,               /* a file could not be opened, read or mapped */
    SLM_ERR_FORMAT,           /* a file is malformed, truncated or lies about itself */
    SLM_ERR_UNSUPPORTED,      /* a valid file slm does not handle (dtype, architecture) */
    SLM_ERR_INVALID_ARGUMENT, /* the caller passed something unusable */
    SLM_ERR_OUT_OF_MEMORY,
    SLM_ERR_CONTEXT_FULL      /* the request does not fit in the session's context */
} slm_status;

typedef struct {
    slm_status status;
    char message[512];
} slm_error;

const char *slm_status_name(slm_status status);
void slm_free(void *ptr);

/* ---- tokenizer ---------------------------------------------------------- */

typedef struct slm_tokenizer slm_tokenizer;

/* path: a model folder (tokenizer.json, vocab.json + merges.txt, or vocab.txt), a
 * llama2.c tokenizer.bin, or a llama2.c checkpoint with tokenizer.bin beside it. */
slm_tokenizer *slm_tokenizer_load(const char *path, slm_error *err);
void slm_tokenizer_free(slm_tokenizer *tok);

/* Encodes len bytes of UTF-8 text. add_special adds what the tokenizer's
 * post-processor adds (BOS for Llama, nothing for GPT-2). *ids is allocated;
 * release it with slm_free(). Invalid UTF-8 is an SLM_ERR_INVALID_ARGUMENT. */
slm_status slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                        int32_t **ids, size_t *n_ids, slm_error *err);

/* Decodes ids to UTF-8 text (NUL-terminated, allocated; slm_free() it). */
slm_status slm_detokenize(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids,
                          int skip_special, char **text, slm_error *err);

/* The vocabulary entry of one token as the tokenizer stores it ("Ġworld"), or NULL. */
const char *slm_token_text(const slm_tokenizer *tok, int32_t id);
int32_t slm_tokenizer_vocab_size(const slm_tokenizer *tok);
int32_t slm_tokenizer_bos(const slm_tokenizer *tok); /* -1 when none */
int32_t slm_tokenizer_eos(const slm_tokenizer *tok); /* -1 when none */

/* Encoding with everything the encoder tasks need (WordPiece and friends). */
typedef struct {
    int add_special;   /* add [CLS]/[SEP] etc. from the tokenizer's template (default 1) */
    int max_length;    /* 0 = no truncation; else truncate (longest_first for pairs) to this many tokens */
} slm_encode_params;

slm_encode_params slm_encode_default_params(void);

/* One encoded text or text pair. Offsets count Unicode code points of the
 * original text (as Hugging Face's fast tokenizers do); special tokens get
 * (0, 0). sequence_ids: 0 for the first text, 1 for the pair, -1 for specials. */
typedef struct {
    size_t n;
    int32_t *ids;         /* (n) */
    int32_t *type_ids;    /* (n) token_type_ids */
    int32_t *offsets;     /* (n, 2) [start, end) in code points of its own text */
    int32_t *sequence_ids;/* (n) */
    size_t n_overflow_tokens; /* tokens dropped by truncation */
} slm_encoding;

/* pair may be NULL. The encoding is allocated; release it with slm_encoding_free(). */
slm_status slm_encode(const slm_tokenizer *tok, const char *text, size_t len, const char *pair, size_t pair_len,
                      const slm_encode_params *params, slm_encoding **out, slm_error *err);
void slm_encoding_free(slm_encoding *enc);
/* Id of a special token by its role ("cls", "sep", "pad", "mask", "unk"), or -1. */
int32_t slm_tokenizer_special(const slm_tokenizer *tok, const char *role);


/* ---- model -------------------------------------------------------------- */

typedef struct slm_model slm_model;

typedef struct {
    int load_tokenizer; /* 1 (default): load the tokenizer files when the model has them */
} slm_model_params;

slm_model_params slm_model_default_params(void);

/* path: a Hugging Face folder (config.json + model.safetensors, a sharded
 * model.safetensors.index.json, or pytorch_model.bin (zip or legacy, read by a
 * restricted unpickler) / pytorch_model.bin.index.json), or a llama2.c checkpoint
 * (.bin) with its tokenizer.bin / tok*.bin beside it. Weights are memory-mapped. */
slm_model *slm_model_load(const char *path, const slm_model_params *params, slm_error *err);
void slm_model_free(slm_model *model);

typedef struct {
    const char *architecture; /* "gpt2", "llama", "bert", "distilbert", ... */
    const char *weight_dtype; /* "f32", "f16", "bf16", or "mixed" */
    int64_t n_params;
    int64_t weight_bytes;
    int n_vocab, n_ctx_train, n_layers, d_model, n_heads, n_kv_heads, d_ff;
    int kv_bytes_per_element; /* a session's KV cache: 2 (f16) with quantized weights, else 4 (f32) */
} slm_model_info;

slm_model_info slm_model_get_info(const slm_model *model);

/* Encoder heads a checkpoint may carry (a model may have several, or none). */
typedef enum {
    SLM_HEAD_BASE = 0, /* the bare encoder: hidden states (and the pooler when present) */
    SLM_HEAD_MLM,      /* masked-LM logits (n_vocab per token) */
    SLM_HEAD_SEQCLS,   /* sequence classification logits (num_labels per sequence) */
    SLM_HEAD_TOKCLS,   /* token classification logits (num_labels per token) */
    SLM_HEAD_QA        /* start and end logits (2 per token) */
} slm_head;

int slm_model_is_encoder(const slm_model *model);
int slm_model_has_head(const slm_model *model, slm_head head);
/* Labels of the classification heads (config.json id2label); "LABEL_i" when absent. */
int slm_model_num_labels(const slm_model *model);
const char *slm_model_label(const slm_model *model, int index);
/* Sequences longer than this are truncated by the tasks (max_position_embeddings). */
int slm_model_max_length(const slm_model *model);
const slm_tokenizer *slm_model_tokenizer(const slm_model *model); /* NULL when not loaded */

/* ---- session ------------------------------------------------------------ */

typedef struct slm_session slm_session;

typedef struct {
    int n_ctx;     /* KV cache length; 0 = the model's trained context */
    int n_threads; /* 0 = the number of physical cores */
} slm_session_params;

slm_session_params slm_session_default_params(void);
slm_session *slm_session_new(const slm_model *model, const slm_session_params *params, slm_error *err);
void slm_session_free(slm_session *session);
void slm_session_reset(slm_session *session); /* forget the KV cache */
int slm_session_n_past(const slm_session *session);
int slm_session_n_ctx(const slm_session *session);

typedef enum { SLM_OUTPUT_LOGITS = 0, SLM_OUTPUT_HIDDEN } slm_output;

/* Runs n_ids tokens after what the session already holds, appending to its
 * KV cache. out: NULL, or room for n_ids * width floats (width = n_vocab for
 * logits, d_model for the final hidden state) for every position. */
slm_status slm_session_forward(slm_session *session, const int32_t *ids, size_t n_ids,
                               slm_output output, float *out, slm_error *err);

/* One decode step for n distinct sessions of the same decoder model: session i
 * takes token ids[i] at its own position (its n_past) and logits (n, n_vocab)
 * receives each one's next-token logits. The weight matmuls run on all n rows
 * at once, so the weights are read once per step for every session; embeddings,
 * rotary positions, the KV store and attention are per row against that
 * session's own cache. The same logits as n separate slm_session_forward calls
 * (to float rounding). Uses sessions[0]'s threads; no other call may use any of
 * these sessions meanwhile. A session without room is SLM_ERR_CONTEXT_FULL. */
slm_status slm_session_forward_batch(slm_session *const *sessions, const int32_t *ids, int n, float *logits,
                                     slm_error *err);

/* ---- encoders ------------------------------------------------------------ */

/* A right-padded batch of n_seqs sequences of seq_len tokens. */
typedef struct {
    int n_seqs, seq_len;
    const int32_t *ids;            /* (n_seqs, seq_len) */
    const int32_t *type_ids;       /* (n_seqs, seq_len), or NULL for all zeros */
    const int32_t *attention_mask; /* (n_seqs, seq_len) 1 = token, 0 = padding; NULL for all ones */
} slm_batch;

typedef enum {
    SLM_ENCODE_HIDDEN = 0, /* last hidden state, (n_seqs, seq_len, d_model) */
    SLM_ENCODE_POOLER,     /* pooler output (BERT: tanh(dense([CLS]))), (n_seqs, d_model) */
    SLM_ENCODE_MLM,        /* (n_seqs, seq_len, n_vocab) */
    SLM_ENCODE_SEQCLS,     /* (n_seqs, num_labels) */
    SLM_ENCODE_TOKCLS,     /* (n_seqs, seq_len, num_labels) */
    SLM_ENCODE_QA          /* (n_seqs, 2, seq_len): start logits then end logits */
} slm_encode_output;

/* Runs an encoder over a batch and writes the requested output. Padded
 * positions of per-token outputs are written but not meaningful. A model
 * without the requested head is SLM_ERR_INVALID_ARGUMENT naming the head. */
slm_status slm_session_encode(slm_session *session, const slm_batch *batch, slm_encode_output what, float *out,
                              slm_error *err);

/* ---- generation --------------------------------------------------------- */

/* Samplers apply in this order (see README "Sampling"):
 * repetition_penalty -> presence/frequency penalties -> temperature ==0 ? argmax :
 * top_k -> softmax(logits / temperature) -> top_p -> min_p -> draw with seed. */
typedef struct {
    int max_tokens;           /* default 256; capped by the context left */
    float temperature;        /* 0 = greedy, deterministic */
    float top_p;              /* 1 = off */
    int top_k;                /* 0 = off */
    float min_p;              /* 0 = off */
    float repetition_penalty; /* 1 = off */
    float presence_penalty;   /* 0 = off */
    float frequency_penalty;  /* 0 = off */
    uint64_t seed;
    const char *const *stop;  /* stop strings; generation ends before them */
    int n_stop;
    int ignore_eos;           /* 1: keep going past the end-of-text token */
} slm_generate_params;

slm_generate_params slm_generate_default_params(void);

/* Called with each piece of text as soon as it is safe to emit: complete
 * UTF-8 characters only, never a prefix of a stop string that may still
 * match. Return non-zero to stop generation. */
typedef int (*slm_stream_fn)(const char *piece, size_t len, void *user_data);

typedef enum { SLM_FINISH_LENGTH = 0, SLM_FINISH_STOP, SLM_FINISH_EOS, SLM_FINISH_CALLER } slm_finish_reason;

typedef struct {
    int n_prompt_tokens;
    int n_generated_tokens;
    slm_finish_reason finish_reason;
    double prompt_seconds;
    double generate_seconds;
} slm_generate_result;

/* Tokenizes the prompt (with the tokenizer's special tokens; an empty prompt
 * starts from BOS where the model has one), then samples up to max_tokens.
 * A prompt longer than the context is SLM_ERR_CONTEXT_FULL. The session's
 * KV cache is reset first. */
slm_status slm_generate(slm_session *session, const char *prompt, const slm_generate_params *params,
                        slm_stream_fn on_piece, void *user_data, slm_generate_result *result,
                        slm_error *err);

#ifdef __cplusplus
}
#endif
#endif
