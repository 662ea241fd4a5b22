/* sample.c — turning logits into the next token (see sample.h for the order).
 *
 * Default generation parameters (slm_generate_default_params), chosen so that
 * the defaults leave the model's own distribution untouched; front ends (the
 * CLI, the server) pass their own explicit values:
 *   max_tokens 256, temperature 1.0 (plain sampling from the model), top_p 1.0,
 *   top_k 0, min_p 0 (all three off), repetition_penalty 1.0, presence_penalty 0,
 *   frequency_penalty 0 (penalties off), seed 0 (a fixed seed: runs repeat),
 *   no stop strings, ignore_eos 0.
 *
 * Semantic choices worth knowing:
 *   - NaN logits count as -inf, +inf as the largest float. If every candidate
 *     is -inf the lowest id among them is chosen with probability 1.
 *   - Ties are broken towards the lowest token id: in argmax, in top_k's cut and
 *     in the order of slm_sampler_distribution.
 *   - top_p: float sums are compared with a slack of 1e-6, so probabilities
 *     {0.5, 0.3, ...} with p = 0.8 keep two tokens even if 0.5f + 0.3f rounds low.
 *   - Token ids outside [0, n_vocab) given to accept() are ignored.
 *
 * Speed: sampling sorts nothing. top_k is a quickselect; top_p a quickselect
 * steered by probability mass; the draw walks the kept candidates unsorted.
 * Only slm_sampler_distribution sorts, and only the kept candidates. */
#include "tasks/sample.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

#define TOP_P_SLACK 1e-6

typedef struct {
    int32_t id;
    float value; /* a logit, then an unnormalised probability */
} candidate;

struct slm_sampler {
    int n_vocab;
    float temperature, top_p, min_p;
    int top_k;
    float repetition_penalty, presence_penalty, frequency_penalty;
    uint64_t rng[4];     /* xoshiro256** state */
    uint8_t *seen;       /* (n_vocab) 1 once a token appeared in prompt or output */
    int32_t *seen_ids;   /* (n_vocab) the distinct seen tokens, in order of appearance */
    int n_seen;
    int32_t *generated;  /* (n_vocab) how often each token was generated */
    candidate *cand;     /* (n_vocab) scratch for one sampling step */
};

slm_generate_params slm_generate_default_params(void) {
    slm_generate_params p;
    p.max_tokens = 256;
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 0;
    p.stop = NULL;
    p.n_stop = 0;
    p.ignore_eos = 0;
    return p;
}

/* ---- the seeded generator: splitmix64 seeding xoshiro256** ---------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- lifecycle ----------------------------------------------------------- */

slm_sampler *slm_sampler_new(const slm_generate_params *params, int n_vocab, slm_error *err) {
    if (!params) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "params: NULL");
        return NULL;
    }
    const slm_generate_params *p = params;
    const char *bad = NULL;
    char why[160];
    if (n_vocab <= 0) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "n_vocab: %d must be positive", n_vocab);
        return NULL;
    }
    if (!isfinite(p->temperature) || p->temperature < 0) {
        bad = "temperature";
        snprintf(why, sizeof why, "%g must be finite and >= 0", (double)p->temperature);
    } else if (!(p->top_p > 0 && p->top_p <= 1)) {
        bad = "top_p";
        snprintf(why, sizeof why, "%g is outside (0, 1]", (double)p->top_p);
    } else if (p->top_k < 0) {
        bad = "top_k";
        snprintf(why, sizeof why, "%d must be >= 0 (0 = off)", p->top_k);
    } else if (!(p->min_p >= 0 && p->min_p <= 1)) {
        bad = "min_p";
        snprintf(why, sizeof why, "%g is outside [0, 1]", (double)p->min_p);
    } else if (!isfinite(p->repetition_penalty) || !(p->repetition_penalty > 0)) {
        bad = "repetition_penalty";
        snprintf(why, sizeof why, "%g must be finite and > 0 (1 = off)", (double)p->repetition_penalty);
    } else if (!(p->presence_penalty >= -2 && p->presence_penalty <= 2)) {
        bad = "presence_penalty";
        snprintf(why, sizeof why, "%g is outside [-2, 2]", (double)p->presence_penalty);
    } else if (!(p->frequency_penalty >= -2 && p->frequency_penalty <= 2)) {
        bad = "frequency_penalty";
        snprintf(why, sizeof why, "%g is outside [-2, 2]", (double)p->frequency_penalty);
    }
    if (bad) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: %s", bad, why);
        return NULL;
    }

    slm_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "sampler: out of memory");
        return NULL;
    }
    s->n_vocab = n_vocab;
    s->temperature = p->temperature;
    s->top_p = p->top_p;
    s->top_k = p->top_k;
    s->min_p = p->min_p;
    s->repetition_penalty = p->repetition_penalty;
    s->presence_penalty = p->presence_penalty;
    s->frequency_penalty = p->frequency_penalty;
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->seen = calloc((size_t)n_vocab, sizeof *s->seen);
    s->seen_ids = malloc((size_t)n_vocab * sizeof *s->seen_ids);
    s->generated = calloc((size_t)n_vocab, sizeof *s->generated);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->seen || !s->seen_ids || !s->generated || !s->cand) {
        slm_sampler_free(s);
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "sampler: out of memory for a vocabulary of %d", n_vocab);
        return NULL;
    }
    return s;
}

void slm_sampler_free(slm_sampler *s) {
    if (!s) return;
    free(s->seen);
    free(s->seen_ids);
    free(s->generated);
    free(s->cand);
    free(s);
}

static void mark_seen(slm_sampler *s, int32_t token) {
    if (!s->seen[token]) {
        s->seen[token] = 1;
        s->seen_ids[s->n_seen++] = token;
    }
}

void slm_sampler_accept_prompt(slm_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab) return;
    mark_seen(s, token);
}

void slm_sampler_accept(slm_sampler *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab) return;
    mark_seen(s, token);
    if (s->generated[token] < INT32_MAX) s->generated[token]++;
}

/* ---- the steps ----------------------------------------------------------- */

/* Repetition penalty (HF) over every seen token, then presence and frequency
 * penalties (OpenAI) over generated ones. Only seen tokens are touched. */
static void apply_penalties(const slm_sampler *s, float *logits) {
    int repetition = s->repetition_penalty != 1.0f;
    int openai = s->presence_penalty != 0.0f || s->frequency_penalty != 0.0f;
    if (!repetition && !openai) return;
    for (int i = 0; i < s->n_seen; i++) {
        int32_t t = s->seen_ids[i];
        float l = logits[t];
        if (repetition) l = l > 0 ? l / s->repetition_penalty : l * s->repetition_penalty;
        int32_t count = s->generated[t];
        if (openai && count > 0) l -= s->presence_penalty + s->frequency_penalty * (float)count;
        logits[t] = l;
    }
}

/* NaN -> -inf, +inf -> FLT_MAX, so comparisons and differences stay defined. */
static float clean_logit(float l) {
    if (isnan(l)) return -INFINITY;
    if (l == INFINITY) return FLT_MAX;
    return l;
}

/* The order every step shares: larger value first, then lower id. */
static int better(const candidate *a, const candidate *b) {
    return a->value > b->value || (a->value == b->value && a->id < b->id);
}

static int compare_candidates(const void *pa, const void *pb) {
    const candidate *a = pa, *b = pb;
    if (better(a, b)) return -1;
    if (better(b, a)) return 1;
    return 0;
}

static void swap_candidates(candidate *a, candidate *b) {
    candidate t = *a;
    *a = *b;
    *b = t;
}

/* Partitions c[lo..hi] (inclusive) around a median-of-three pivot: afterwards
 * the pivot sits at the returned index, better candidates before it, worse
 * after. better() is a strict total order (ids differ), so runs of equal
 * values (e.g. many -inf) do not degrade it. */
static size_t partition(candidate *c, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (better(&c[mid], &c[lo])) swap_candidates(&c[mid], &c[lo]);
    if (better(&c[hi], &c[lo])) swap_candidates(&c[hi], &c[lo]);
    if (better(&c[hi], &c[mid])) swap_candidates(&c[hi], &c[mid]);
    swap_candidates(&c[mid], &c[hi]); /* the median, parked at hi */
    candidate pivot = c[hi];
    size_t store = lo;
    for (size_t i = lo; i < hi; i++)
        if (better(&c[i], &pivot)) swap_candidates(&c[i], &c[store++]);
    swap_candidates(&c[store], &c[hi]);
    return store;
}

/* Rearranges c[0..n) so that its k best come first, in no particular order (quickselect). */
static void select_best(candidate *c, size_t n, size_t k) {
    if (k == 0 || k >= n) return;
    size_t lo = 0, hi = n - 1; /* the k-th best (index k-1) lies in [lo, hi] */
    while (lo < hi) {
        size_t at = partition(c, lo, hi);
        if (at == k - 1) return;
        if (at > k - 1) hi = at - 1;
        else lo = at + 1;
    }
}

/* top_p on unnormalised probabilities c[0..n) of total mass `total`: returns m,
 * the length of the shortest best-first prefix whose mass reaches top_p, and
 * leaves those m candidates (unsorted) in c[0..m). A quickselect that steers by
 * mass instead of by count, so nothing is sorted. Invariant: the best lo
 * candidates are c[0..lo) with mass `before` < target, and the best hi reach it. */
static size_t cut_top_p(candidate *c, size_t n, double total, double top_p) {
    double target = (top_p - TOP_P_SLACK) * total;
    if (target <= 0) { /* p within the slack of 0: the best token alone */
        select_best(c, n, 1);
        return n > 0 ? 1 : 0;
    }
    size_t lo = 0, hi = n;
    double before = 0;
    while (hi - lo > 1) {
        size_t at = partition(c, lo, hi - 1);
        double mass = before;
        for (size_t i = lo; i < at; i++) mass += c[i].value;
        if (mass >= target) {
            hi = at; /* at > lo here, since the mass of c[0..lo) is below target */
        } else if (mass + c[at].value >= target) {
            return at + 1;
        } else {
            lo = at + 1;
            before = mass + c[at].value;
        }
    }
    return hi;
}

/* Runs every step but the draw. Fills s->cand[0..n) with kept tokens and their
 * unnormalised probabilities; *total is their sum; *is_sorted says whether the
 * kept tokens are already in best-first order. */
static size_t filter(slm_sampler *s, float *logits, double *total, int *is_sorted) {
    int n_vocab = s->n_vocab;
    candidate *c = s->cand;
    apply_penalties(s, logits);
    *is_sorted = 1;

    if (s->temperature == 0.0f) {
        int32_t best = 0;
        float best_value = clean_logit(logits[0]);
        for (int32_t i = 1; i < n_vocab; i++) {
            float l = clean_logit(logits[i]);
            if (l > best_value) best = i, best_value = l;
        }
        c[0].id = best;
        c[0].value = 1.0f;
        *total = 1.0;
        return 1;
    }

    size_t n = (size_t)n_vocab;
    for (int32_t i = 0; i < n_vocab; i++) {
        c[i].id = i;
        c[i].value = clean_logit(logits[i]);
    }
    if (s->top_k > 0 && (size_t)s->top_k < n) {
        select_best(c, n, (size_t)s->top_k);
        n = (size_t)s->top_k;
        *is_sorted = 0;
    } else {
        *is_sorted = n == 1;
    }

    /* softmax(logit / T) up to its normaliser; differences are taken in double
     * so FLT_MAX - (-FLT_MAX) cannot overflow */
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (better(&c[i], &c[best])) best = i;
    double max_logit = c[best].value;
    if (max_logit == -INFINITY) { /* nothing is possible: take the best by id */
        c[0] = c[best];
        c[0].value = 1.0f;
        *total = 1.0;
        *is_sorted = 1;
        return 1;
    }
    double inv_t = 1.0 / s->temperature;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double x = ((double)c[i].value - max_logit) * inv_t;
        float p = x < -104.0 ? 0.0f : expf((float)x); /* expf underflows to 0 below ~-104 */
        c[i].value = p;
        sum += p;
    }

    if (s->top_p < 1.0f) {
        n = cut_top_p(c, n, sum, s->top_p);
        *is_sorted = n == 1;
    }

    if (s->min_p > 0.0f) {
        float max_p = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].value > max_p) max_p = c[i].value;
        float threshold = s->min_p * max_p;
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].value >= threshold) c[kept++] = c[i]; /* keeps the order */
        n = kept;
    }

    /* tokens whose probability underflowed to 0 (or were -inf) are not kept */
    size_t kept = 0;
    sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].value > 0.0f) {
            sum += c[i].value;
            c[kept++] = c[i];
        }
    }
    *total = sum;
    return kept;
}

int32_t slm_sampler_sample(slm_sampler *s, float *logits) {
    if (!s || !logits) return -1;
    double total;
    int is_sorted;
    size_t n = filter(s, logits, &total, &is_sorted);
    if (n == 1) return s->cand[0].id;
    double r = rng_uniform(s->rng) * total;
    double cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        cumulative += s->cand[i].value;
        if (r < cumulative) return s->cand[i].id;
    }
    /* rounding left r at the very top: the last token with any mass */
    for (size_t i = n; i-- > 0;)
        if (s->cand[i].value > 0) return s->cand[i].id;
    return s->cand[0].id;
}

int slm_sampler_distribution(slm_sampler *s, float *logits, int32_t *ids, float *probs) {
    if (!s || !logits || !ids || !probs) return 0;
    double total;
    int is_sorted;
    size_t n = filter(s, logits, &total, &is_sorted);
    if (!is_sorted) qsort(s->cand, n, sizeof *s->cand, compare_candidates);
    for (size_t i = 0; i < n; i++) {
        ids[i] = s->cand[i].id;
        probs[i] = (float)(s->cand[i].value / total);
    }
    return (int)n;
}
