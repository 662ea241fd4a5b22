/* sample.h — turning logits into the next token.
 * Order (documented in the README): repetition_penalty (HF style, over prompt and
 * generated tokens) -> presence and frequency penalties (OpenAI style, over generated
 * tokens) -> if temperature == 0: argmax; else top_k -> softmax(logits / temperature)
 * -> top_p (smallest set whose mass reaches p) -> min_p (drop tokens below
 * min_p * max prob) -> renormalise -> draw with the seeded generator. */
#ifndef SLM_TASKS_SAMPLE_H
#define SLM_TASKS_SAMPLE_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_sampler slm_sampler;

/* Validates params (names the bad field in err) and copies what it needs. */
slm_sampler *slm_sampler_new(const slm_generate_params *params, int n_vocab, slm_error *err);
void slm_sampler_free(slm_sampler *s);

/* Records a prompt token (affects only repetition_penalty). */
void slm_sampler_accept_prompt(slm_sampler *s, int32_t token);
/* Records a generated token (affects all penalties). */
void slm_sampler_accept(slm_sampler *s, int32_t token);

/* Picks the next token; logits (n_vocab) are modified in place. */
int32_t slm_sampler_sample(slm_sampler *s, float *logits);

/* Probabilities after every sampler but before the draw: the token ids kept,
 * sorted by descending probability. Fills ids/probs (room for n_vocab) and returns the count.
 * Exposed for tests and for logprobs. */
int slm_sampler_distribution(slm_sampler *s, float *logits, int32_t *ids, float *probs);

#endif
