/* test_sample.c — the sampler against distributions worked out by hand here.
 * Logits are built as log(prob) so the expected kept sets follow from the probs. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "tasks/sample.h"

#define MAX_VOCAB 50000

static int32_t ids[MAX_VOCAB];
static float probs[MAX_VOCAB];

static slm_generate_params base_params(void) {
    slm_generate_params p = slm_generate_default_params();
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 42;
    return p;
}

static void logits_from_probs(float *logits, const double *p, int n) {
    for (int i = 0; i < n; i++) logits[i] = (float)log(p[i]);
}

/* The distribution after every sampler, for params p over logits (copied, n of them). */
static int distribution(slm_generate_params p, const float *logits_in, int n) {
    float logits[64];
    memcpy(logits, logits_in, (size_t)n * sizeof *logits);
    slm_error err = {0};
    slm_sampler *s = slm_sampler_new(&p, n, &err);
    if (!s) {
        fprintf(stderr, "sampler_new failed: %s\n", err.message);
        return -1;
    }
    int k = slm_sampler_distribution(s, logits, ids, probs);
    slm_sampler_free(s);
    return k;
}

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

static const double four[4] = {0.5, 0.3, 0.15, 0.05};

static void test_top_p(void) {
    float logits[4];
    logits_from_probs(logits, four, 4);
    slm_generate_params p = base_params();

    p.top_p = 0.8f; /* 0.5 + 0.3 reaches 0.8 exactly: {0, 1} */
    int k = distribution(p, logits, 4);
    CHECK(k == 2 && ids[0] == 0 && ids[1] == 1, "top_p 0.8 kept %d tokens", k);
    CHECK(near(probs[0], 0.5 / 0.8, 1e-5) && near(probs[1], 0.3 / 0.8, 1e-5), "renormalised %g %g",
          probs[0], probs[1]);

    p.top_p = 0.81f; /* 0.8 < 0.81: the third token is needed */
    k = distribution(p, logits, 4);
    CHECK(k == 3 && ids[0] == 0 && ids[1] == 1 && ids[2] == 2, "top_p 0.81 kept %d tokens", k);
    CHECK(near(probs[2], 0.15 / 0.95, 1e-5), "third prob %g", probs[2]);

    p.top_p = 0.5f; /* the first token alone reaches 0.5 */
    k = distribution(p, logits, 4);
    CHECK(k == 1 && ids[0] == 0 && near(probs[0], 1.0, 1e-6), "top_p 0.5 kept %d tokens", k);

    p.top_p = 0.1f; /* always at least one */
    k = distribution(p, logits, 4);
    CHECK(k == 1 && ids[0] == 0, "top_p 0.1 kept %d tokens", k);

    p.top_p = 1e-9f; /* below the slack for float rounding: still the best token */
    k = distribution(p, logits, 4);
    CHECK(k == 1 && ids[0] == 0, "top_p 1e-9 kept %d tokens", k);

    p.top_p = 1.0f;
    k = distribution(p, logits, 4);
    CHECK(k == 4, "top_p 1 kept %d tokens", k);

    /* shuffled ids: probs {0.05, 0.5, 0.15, 0.3} -> p 0.8 keeps ids 1 and 3, in that order */
    const double shuffled[4] = {0.05, 0.5, 0.15, 0.3};
    logits_from_probs(logits, shuffled, 4);
    p.top_p = 0.8f;
    k = distribution(p, logits, 4);
    CHECK(k == 2 && ids[0] == 1 && ids[1] == 3, "shuffled top_p kept %d: %d %d", k, ids[0], ids[1]);

    /* top_k applies before top_p: top_k 3 renormalises to {.5263, .3158, .1579};
     * top_p 0.8 then stops at .8421 with two tokens, 0.85 needs three */
    logits_from_probs(logits, four, 4);
    p.top_k = 3;
    p.top_p = 0.8f;
    k = distribution(p, logits, 4);
    CHECK(k == 2 && ids[0] == 0 && ids[1] == 1, "top_k 3 + top_p 0.8 kept %d", k);
    p.top_p = 0.85f;
    k = distribution(p, logits, 4);
    CHECK(k == 3, "top_k 3 + top_p 0.85 kept %d", k);
    CHECK(near(probs[0], 0.5 / 0.95, 1e-5), "prob after top_k %g", probs[0]);
}

static void test_top_k(void) {
    float logits[5] = {1, 5, 3, 4, 2};
    slm_generate_params p = base_params();
    p.top_k = 2;
    int k = distribution(p, logits, 5);
    CHECK(k == 2 && ids[0] == 1 && ids[1] == 3, "top_k 2 kept %d: %d %d", k, ids[0], ids[1]);
    /* softmax([5, 4]) = [1 / (1 + e^-1), e^-1 / (1 + e^-1)] */
    double e = exp(-1.0);
    CHECK(near(probs[0], 1 / (1 + e), 1e-6) && near(probs[1], e / (1 + e), 1e-6), "probs %g %g", probs[0],
          probs[1]);

    p.top_k = 5; /* k = n_vocab: off */
    k = distribution(p, logits, 5);
    CHECK(k == 5, "top_k 5 kept %d", k);
    p.top_k = 100; /* k > n_vocab: off */
    k = distribution(p, logits, 5);
    CHECK(k == 5, "top_k 100 kept %d", k);

    float ties[4] = {1, 1, 1, 1}; /* ties go to the lowest ids */
    p.top_k = 2;
    k = distribution(p, ties, 4);
    CHECK(k == 2 && ids[0] == 0 && ids[1] == 1 && near(probs[0], 0.5, 1e-6), "tie kept %d: %d %d", k,
          ids[0], ids[1]);
}

/* top_k on a large vocabulary keeps exactly the k largest. */
static void test_top_k_large(void) {
    static float logits[MAX_VOCAB], copy[MAX_VOCAB];
    uint64_t x = 12345;
    for (int i = 0; i < MAX_VOCAB; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        logits[i] = (float)((x >> 40) % 100000) / 1000.0f; /* many ties */
    }
    memcpy(copy, logits, sizeof logits);
    slm_generate_params p = base_params();
    p.top_k = 40;
    slm_error err = {0};
    slm_sampler *s = slm_sampler_new(&p, MAX_VOCAB, &err);
    CHECK(s != NULL, "%s", err.message);
    if (!s) return;
    int k = slm_sampler_distribution(s, logits, ids, probs);
    CHECK(k == 40, "kept %d", k);
    static uint8_t kept[MAX_VOCAB];
    memset(kept, 0, sizeof kept);
    float min_kept = INFINITY;
    for (int i = 0; i < k; i++) {
        kept[ids[i]] = 1;
        if (copy[ids[i]] < min_kept) min_kept = copy[ids[i]];
    }
    int bad = 0;
    for (int i = 0; i < MAX_VOCAB; i++)
        if (!kept[i] && copy[i] > min_kept) bad++;
    CHECK(bad == 0, "%d dropped tokens beat a kept one", bad);
    int ordered = 1;
    for (int i = 1; i < k; i++)
        if (probs[i] > probs[i - 1]) ordered = 0;
    CHECK(ordered, "distribution is not sorted by probability");
    slm_sampler_free(s);
}

static void test_temperature(void) {
    float logits[3] = {1, 2, 3};
    slm_generate_params p = base_params();
    p.temperature = 0.5f;
    int k = distribution(p, logits, 3);
    /* softmax([2, 4, 6]) by hand */
    double z = exp(2.0) + exp(4.0) + exp(6.0);
    CHECK(k == 3 && ids[0] == 2 && ids[1] == 1 && ids[2] == 0, "order %d %d %d", ids[0], ids[1], ids[2]);
    CHECK(near(probs[0], exp(6.0) / z, 1e-6) && near(probs[1], exp(4.0) / z, 1e-6) &&
              near(probs[2], exp(2.0) / z, 1e-6),
          "T=0.5: %g %g %g", probs[0], probs[1], probs[2]);

    p.temperature = 2.0f; /* softmax([0.5, 1, 1.5]) */
    k = distribution(p, logits, 3);
    z = exp(0.5) + exp(1.0) + exp(1.5);
    CHECK(k == 3 && near(probs[0], exp(1.5) / z, 1e-6) && near(probs[2], exp(0.5) / z, 1e-6), "T=2: %g %g",
          probs[0], probs[2]);
}

static void test_greedy(void) {
    float logits[5] = {0.1f, 3, 3, -1, 2.9f};
    slm_generate_params p = base_params();
    p.temperature = 0;
    slm_error err = {0};
    slm_sampler *s = slm_sampler_new(&p, 5, &err);
    CHECK(s != NULL, "%s", err.message);
    if (!s) return;
    int all_one = 1;
    for (int i = 0; i < 50; i++) {
        float l[5];
        memcpy(l, logits, sizeof l);
        if (slm_sampler_sample(s, l) != 1) all_one = 0;
    }
    CHECK(all_one, "greedy picks the lowest id among tied maxima");
    float l[5];
    memcpy(l, logits, sizeof l);
    int k = slm_sampler_distribution(s, l, ids, probs);
    CHECK(k == 1 && ids[0] == 1 && probs[0] == 1.0f, "greedy distribution %d", k);
    slm_sampler_free(s);
}

static void test_min_p(void) {
    float logits[4];
    logits_from_probs(logits, four, 4);
    slm_generate_params p = base_params();
    p.min_p = 0.2f; /* threshold 0.2 * 0.5 = 0.1: drops 0.05 */
    int k = distribution(p, logits, 4);
    CHECK(k == 3 && ids[2] == 2, "min_p 0.2 kept %d", k);
    CHECK(near(probs[0], 0.5 / 0.95, 1e-5), "renormalised %g", probs[0]);
    p.min_p = 0.5f; /* threshold 0.25: keeps 0.5, 0.3 */
    k = distribution(p, logits, 4);
    CHECK(k == 2 && ids[0] == 0 && ids[1] == 1, "min_p 0.5 kept %d", k);
    p.min_p = 0.7f; /* threshold 0.35: keeps 0.5 */
    k = distribution(p, logits, 4);
    CHECK(k == 1 && ids[0] == 0, "min_p 0.7 kept %d", k);
    p.min_p = 1.0f;
    k = distribution(p, logits, 4);
    CHECK(k == 1 && ids[0] == 0, "min_p 1 kept %d", k);
    p.min_p = 0.0f;
    k = distribution(p, logits, 4);
    CHECK(k == 4, "min_p 0 kept %d", k);
}

static void draw(uint64_t seed, int n, int32_t *out) {
    slm_generate_params p = base_params();
    p.seed = seed;
    slm_sampler *s = slm_sampler_new(&p, 10, NULL);
    for (int i = 0; i < n; i++) {
        float logits[10] = {0};
        out[i] = s ? slm_sampler_sample(s, logits) : -1;
    }
    slm_sampler_free(s);
}

static void test_seeds(void) {
    int32_t a[100], b[100], c[100];
    draw(7, 100, a);
    draw(7, 100, b);
    draw(8, 100, c);
    CHECK(memcmp(a, b, sizeof a) == 0, "the same seed gave different tokens");
    CHECK(memcmp(a, c, sizeof a) != 0, "different seeds gave the same 100 tokens");
    int in_range = 1, distinct = 0;
    int seen[10] = {0};
    for (int i = 0; i < 100; i++) {
        if (a[i] < 0 || a[i] >= 10) in_range = 0;
        else if (!seen[a[i]]++) distinct++;
    }
    CHECK(in_range && distinct == 10, "uniform draws: %d distinct", distinct);
    int32_t z1[20], z2[20];
    draw(0, 20, z1);
    draw(0, 20, z2);
    CHECK(memcmp(z1, z2, sizeof z1) == 0, "seed 0 is a seed like any other");
}

/* Draw counts against the expected distribution: chi-square with 3 degrees of
 * freedom stays below 16.27 with probability 0.999. */
static void chi_square_case(const char *name, slm_generate_params p, const float *logits_in, int n,
                            const double *expected) {
    enum { DRAWS = 20000 };
    slm_sampler *s = slm_sampler_new(&p, n, NULL);
    CHECK(s != NULL, "%s: sampler", name);
    if (!s) return;
    int counts[8] = {0};
    int outside = 0;
    for (int i = 0; i < DRAWS; i++) {
        float logits[8];
        memcpy(logits, logits_in, (size_t)n * sizeof *logits);
        int32_t t = slm_sampler_sample(s, logits);
        if (t < 0 || t >= n) outside++;
        else counts[t]++;
    }
    double chi2 = 0;
    for (int i = 0; i < n; i++) {
        if (expected[i] == 0) {
            CHECK(counts[i] == 0, "%s: token %d has probability 0 but was drawn %d times", name, i, counts[i]);
            continue;
        }
        double e = expected[i] * DRAWS;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    CHECK(outside == 0, "%s: %d draws outside the vocabulary", name, outside);
    CHECK(chi2 < 16.27, "%s: chi-square %g", name, chi2);
    slm_sampler_free(s);
}

static void test_frequencies(void) {
    float logits[4];
    logits_from_probs(logits, four, 4);
    slm_generate_params p = base_params();
    chi_square_case("plain", p, logits, 4, four);
    p.top_k = 3; /* {0.5, 0.3, 0.15} / 0.95 */
    const double k3[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
    chi_square_case("top_k 3", p, logits, 4, k3);
    p.top_k = 0;
    p.top_p = 0.9f; /* same set: 0.95 is the first prefix mass >= 0.9 */
    chi_square_case("top_p 0.9", p, logits, 4, k3);
    p.top_p = 1.0f;
    p.temperature = 0.5f; /* p^2 renormalised: .25 .09 .0225 .0025 / .365 */
    const double sq[4] = {0.25 / 0.365, 0.09 / 0.365, 0.0225 / 0.365, 0.0025 / 0.365};
    chi_square_case("T 0.5", p, logits, 4, sq);
}

static void test_penalties(void) {
    const float base[5] = {2, -1, 0.5f, 3, -2};
    float logits[5];
    slm_generate_params p = base_params();
    p.temperature = 0; /* the distribution call modifies logits in place; we read them */

    /* repetition 2 over prompt {0, 1, 0} and generated {2, 2, 3} */
    p.repetition_penalty = 2.0f;
    slm_sampler *s = slm_sampler_new(&p, 5, NULL);
    CHECK(s != NULL, "sampler");
    if (!s) return;
    slm_sampler_accept_prompt(s, 0);
    slm_sampler_accept_prompt(s, 1);
    slm_sampler_accept_prompt(s, 0);
    slm_sampler_accept(s, 2);
    slm_sampler_accept(s, 2);
    slm_sampler_accept(s, 3);
    slm_sampler_accept(s, 99); /* outside the vocabulary: ignored */
    slm_sampler_accept(s, -1);
    memcpy(logits, base, sizeof logits);
    slm_sampler_distribution(s, logits, ids, probs);
    CHECK(logits[0] == 1.0f && logits[1] == -2.0f && logits[2] == 0.25f && logits[3] == 1.5f &&
              logits[4] == -2.0f,
          "repetition: %g %g %g %g %g", logits[0], logits[1], logits[2], logits[3], logits[4]);
    CHECK(ids[0] == 3, "argmax after repetition penalty is %d", ids[0]);
    slm_sampler_free(s);

    /* presence 0.5 and frequency 0.25, generated {2, 2, 3}, prompt {0}: the prompt is untouched */
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    s = slm_sampler_new(&p, 5, NULL);
    if (!s) return;
    slm_sampler_accept_prompt(s, 0);
    slm_sampler_accept(s, 2);
    slm_sampler_accept(s, 2);
    slm_sampler_accept(s, 3);
    memcpy(logits, base, sizeof logits);
    slm_sampler_distribution(s, logits, ids, probs);
    /* 2: 0.5 - 0.5 - 2 * 0.25 = -0.5; 3: 3 - 0.5 - 0.25 = 2.25 */
    CHECK(logits[0] == 2.0f && logits[1] == -1.0f && logits[2] == -0.5f && logits[3] == 2.25f &&
              logits[4] == -2.0f,
          "presence/frequency: %g %g %g %g %g", logits[0], logits[1], logits[2], logits[3], logits[4]);
    slm_sampler_free(s);

    /* all three: repetition first, then the OpenAI penalties on the result */
    p.repetition_penalty = 2.0f;
    s = slm_sampler_new(&p, 5, NULL);
    if (!s) return;
    slm_sampler_accept_prompt(s, 0);
    slm_sampler_accept_prompt(s, 1);
    slm_sampler_accept(s, 2);
    slm_sampler_accept(s, 2);
    slm_sampler_accept(s, 3);
    memcpy(logits, base, sizeof logits);
    slm_sampler_distribution(s, logits, ids, probs);
    /* 2: 0.25 - 0.5 - 0.5 = -0.75; 3: 1.5 - 0.5 - 0.25 = 0.75; 0: 1; 1: -2 */
    CHECK(logits[0] == 1.0f && logits[1] == -2.0f && logits[2] == -0.75f && logits[3] == 0.75f &&
              logits[4] == -2.0f,
          "combined: %g %g %g %g %g", logits[0], logits[1], logits[2], logits[3], logits[4]);
    CHECK(ids[0] == 0, "argmax after all penalties is %d", ids[0]);
    slm_sampler_free(s);

    /* negative frequency penalty (allowed down to -2) raises repeated tokens */
    p.repetition_penalty = 1.0f;
    p.presence_penalty = 0;
    p.frequency_penalty = -1.0f;
    s = slm_sampler_new(&p, 5, NULL);
    if (!s) return;
    slm_sampler_accept(s, 4);
    slm_sampler_accept(s, 4);
    memcpy(logits, base, sizeof logits);
    slm_sampler_distribution(s, logits, ids, probs);
    CHECK(logits[4] == 0.0f, "negative frequency: %g", logits[4]);
    slm_sampler_free(s);
}

static void expect_rejected(const char *field, slm_generate_params p) {
    slm_error err = {0};
    slm_sampler *s = slm_sampler_new(&p, 10, &err);
    size_t n = strlen(field);
    CHECK(s == NULL && err.status == SLM_ERR_INVALID_ARGUMENT, "%s: accepted", field);
    CHECK(strncmp(err.message, field, n) == 0 && err.message[n] == ':', "%s: message \"%s\"", field,
          err.message);
    slm_sampler_free(s);
}

static void test_invalid(void) {
    slm_generate_params p;
    p = base_params(), p.temperature = -0.1f, expect_rejected("temperature", p);
    p = base_params(), p.temperature = NAN, expect_rejected("temperature", p);
    p = base_params(), p.temperature = INFINITY, expect_rejected("temperature", p);
    p = base_params(), p.top_p = 0.0f, expect_rejected("top_p", p);
    p = base_params(), p.top_p = 1.5f, expect_rejected("top_p", p);
    p = base_params(), p.top_p = NAN, expect_rejected("top_p", p);
    p = base_params(), p.top_k = -1, expect_rejected("top_k", p);
    p = base_params(), p.min_p = -0.1f, expect_rejected("min_p", p);
    p = base_params(), p.min_p = 1.1f, expect_rejected("min_p", p);
    p = base_params(), p.min_p = NAN, expect_rejected("min_p", p);
    p = base_params(), p.repetition_penalty = 0.0f, expect_rejected("repetition_penalty", p);
    p = base_params(), p.repetition_penalty = -1.0f, expect_rejected("repetition_penalty", p);
    p = base_params(), p.repetition_penalty = NAN, expect_rejected("repetition_penalty", p);
    p = base_params(), p.repetition_penalty = INFINITY, expect_rejected("repetition_penalty", p);
    p = base_params(), p.presence_penalty = 2.5f, expect_rejected("presence_penalty", p);
    p = base_params(), p.presence_penalty = -2.01f, expect_rejected("presence_penalty", p);
    p = base_params(), p.presence_penalty = NAN, expect_rejected("presence_penalty", p);
    p = base_params(), p.frequency_penalty = 3.0f, expect_rejected("frequency_penalty", p);
    p = base_params(), p.frequency_penalty = -INFINITY, expect_rejected("frequency_penalty", p);

    slm_error err = {0};
    CHECK(slm_sampler_new(NULL, 10, &err) == NULL && strncmp(err.message, "params:", 7) == 0, "NULL params: %s",
          err.message);
    p = base_params();
    CHECK(slm_sampler_new(&p, 0, &err) == NULL && strncmp(err.message, "n_vocab:", 8) == 0, "n_vocab 0: %s",
          err.message);

    /* the boundaries themselves are fine */
    p = base_params();
    p.temperature = 0, p.top_p = 1, p.min_p = 1, p.presence_penalty = -2, p.frequency_penalty = 2;
    slm_sampler *s = slm_sampler_new(&p, 10, &err);
    CHECK(s != NULL, "boundary params rejected: %s", err.message);
    slm_sampler_free(s);
}

static void test_nan(void) {
    slm_generate_params p = base_params();
    float logits[4] = {NAN, 1, NAN, 1};
    int k = distribution(p, logits, 4);
    CHECK(k == 2 && ids[0] == 1 && ids[1] == 3 && near(probs[0], 0.5, 1e-6), "NaN logits: kept %d", k);

    p.temperature = 0;
    float g[4] = {NAN, 1, 5, NAN};
    k = distribution(p, g, 4);
    CHECK(k == 1 && ids[0] == 2, "greedy with NaN picked %d", ids[0]);

    float all_nan[3] = {NAN, NAN, NAN};
    k = distribution(p, all_nan, 3);
    CHECK(k == 1 && ids[0] == 0, "greedy over NaNs: %d", ids[0]);
    p.temperature = 1;
    k = distribution(p, all_nan, 3);
    CHECK(k == 1 && ids[0] == 0 && probs[0] == 1.0f, "sampling over NaNs: %d", k);
    p.top_p = 0.5f, p.top_k = 2, p.min_p = 0.1f;
    k = distribution(p, all_nan, 3);
    CHECK(k == 1 && ids[0] == 0, "all samplers over NaNs: %d", k);

    p = base_params();
    float inf[3] = {INFINITY, 1, INFINITY};
    k = distribution(p, inf, 3);
    CHECK(k == 2 && ids[0] == 0 && ids[1] == 2 && near(probs[0], 0.5, 1e-6), "+inf logits: kept %d", k);
    float huge[3] = {-FLT_MAX, FLT_MAX, -INFINITY};
    p.temperature = 0.01f;
    k = distribution(p, huge, 3);
    CHECK(k == 1 && ids[0] == 1, "extreme logits: kept %d", k);

    slm_sampler *s = slm_sampler_new(&p, 4, NULL);
    int ok = s != NULL;
    for (int i = 0; s && i < 100; i++) {
        float l[4] = {NAN, NAN, 2, NAN};
        if (slm_sampler_sample(s, l) != 2) ok = 0;
    }
    CHECK(ok, "sampling with NaN logits drew a NaN token");
    slm_sampler_free(s);
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* 50k vocabulary: a few milliseconds at most per token even under sanitizers. */
static void test_speed(void) {
    static float base[MAX_VOCAB], logits[MAX_VOCAB];
    uint64_t x = 99;
    for (int i = 0; i < MAX_VOCAB; i++) { /* roughly normal logits, scale 3 */
        double u = 0;
        for (int j = 0; j < 4; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            u += (double)(x >> 11) * 0x1.0p-53;
        }
        base[i] = (float)((u - 2.0) * 3.0 * 1.7);
    }
    struct {
        const char *name;
        float temperature, top_p, min_p;
        int top_k;
    } cases[] = {
        {"plain", 1.0f, 1.0f, 0.0f, 0},     {"top_k 40", 0.8f, 1.0f, 0.0f, 40},
        {"top_p 0.95", 0.8f, 0.95f, 0.0f, 0}, {"top_k 40 top_p 0.95", 0.8f, 0.95f, 0.0f, 40},
        {"min_p 0.05", 1.0f, 1.0f, 0.05f, 0}, {"greedy", 0.0f, 1.0f, 0.0f, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        slm_generate_params p = base_params();
        p.temperature = cases[c].temperature;
        p.top_p = cases[c].top_p;
        p.top_k = cases[c].top_k;
        p.min_p = cases[c].min_p;
        p.repetition_penalty = 1.1f;
        slm_sampler *s = slm_sampler_new(&p, MAX_VOCAB, NULL);
        if (!s) {
            CHECK(0, "%s: sampler", cases[c].name);
            continue;
        }
        enum { ROUNDS = 200 };
        double t0 = seconds();
        int valid = 1;
        for (int r = 0; r < ROUNDS; r++) {
            memcpy(logits, base, sizeof logits);
            int32_t t = slm_sampler_sample(s, logits);
            if (t < 0 || t >= MAX_VOCAB) valid = 0;
            slm_sampler_accept(s, t);
        }
        double ms = (seconds() - t0) * 1e3 / ROUNDS;
        printf("sample %-22s %.3f ms/token (50k vocab, memcpy included)\n", cases[c].name, ms);
        CHECK(valid, "%s: token outside the vocabulary", cases[c].name);
        CHECK(ms < 5.0, "%s: %.3f ms per token", cases[c].name, ms);
        slm_sampler_free(s);
    }
}

int main(void) {
    test_top_p();
    test_top_k();
    test_top_k_large();
    test_temperature();
    test_greedy();
    test_min_p();
    test_seeds();
    test_frequencies();
    test_penalties();
    test_invalid();
    test_nan();
    test_speed();
    TEST_END();
}
