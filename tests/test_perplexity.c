/* test_perplexity.c — slm_perplexity: the sliding-window bookkeeping against an
 * independent re-implementation of the Hugging Face recipe, the NLL against the
 * gpt2_tiny fixture's reference logits (from transformers), argument errors, and
 * the stories260K model on its own greedy output vs. the same words shuffled. */
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "formats/weights.h"
#include "slm.h"
#include "slm_eval.h"

/* -log softmax(logits)[target] in double. logits: (n_vocab) */
static double reference_nll(const float *logits, int n_vocab, int32_t target) {
    double max = -INFINITY, sum = 0;
    for (int v = 0; v < n_vocab; v++) max = logits[v] > max ? logits[v] : max;
    for (int v = 0; v < n_vocab; v++) sum += exp(logits[v] - max);
    return log(sum) + max - logits[target];
}

/* The HF recipe written out: labels -100 except the last trg_len of each window,
 * shifted by one inside the window. Each window is run with slm_session_forward. */
static double recipe_nll(slm_session *s, const int32_t *ids, int n, int window, int stride, int n_vocab,
                         int64_t *scored, int *n_windows) {
    float *logits = malloc((size_t)window * n_vocab * sizeof *logits);
    int *labels = malloc((size_t)window * sizeof *labels);
    double sum = 0;
    *scored = 0;
    *n_windows = 0;
    int prev_end = 0;
    for (int begin = 0; begin < n; begin += stride) {
        int end = begin + window < n ? begin + window : n, len = end - begin, trg_len = end - prev_end;
        for (int i = 0; i < len; i++) labels[i] = i >= len - trg_len ? ids[begin + i] : -100;
        slm_error err;
        slm_session_reset(s);
        if (slm_session_forward(s, ids + begin, (size_t)len, SLM_OUTPUT_LOGITS, logits, &err) != SLM_OK) {
            sum = NAN;
            break;
        }
        for (int i = 1; i < len; i++) /* label shift: position i-1 predicts label i */
            if (labels[i] != -100) {
                sum += reference_nll(logits + (size_t)(i - 1) * n_vocab, n_vocab, labels[i]);
                ++*scored;
            }
        ++*n_windows;
        prev_end = end;
        if (end == n) break;
    }
    free(logits);
    free(labels);
    return sum / (double)*scored;
}

static void test_gpt2_tiny(void) {
    char path[512];
    slm_error err;
    slm_weights *in = slm_safetensors_open(test_path(path, sizeof path, "fixtures/gpt2_tiny/inputs.safetensors"), &err);
    slm_weights *out = slm_safetensors_open(test_path(path, sizeof path, "fixtures/gpt2_tiny/outputs.safetensors"), &err);
    slm_model *m = slm_model_load(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"), NULL, &err);
    CHECK(in && out && m, "gpt2_tiny fixture opens: %s", err.message);
    const slm_tensor_view *tid = in ? slm_weights_find(in, "full.input_ids") : NULL;
    const slm_tensor_view *tlog = out ? slm_weights_find(out, "full.logits") : NULL;
    CHECK(tid && tlog && tid->dtype == SLM_DTYPE_I64 && tlog->dtype == SLM_DTYPE_F32, "full.input_ids / full.logits");
    if (!m || !tid || !tlog || tid->dtype != SLM_DTYPE_I64 || tlog->dtype != SLM_DTYPE_F32) goto done;
    int n = (int)slm_tensor_numel(tid), n_vocab = slm_model_get_info(m).n_vocab;
    CHECK(n == 36 && slm_tensor_numel(tlog) == (int64_t)n * n_vocab, "fixture has 36 ids and their logits: %d", n);
    if (slm_tensor_numel(tlog) != (int64_t)n * n_vocab) goto done;
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((const int64_t *)tid->data)[i];

    /* The reference: transformers' logits for the whole sequence, NLL of tokens 1..n-1. */
    const float *ref_logits = tlog->data;
    double want = 0;
    for (int t = 1; t < n; t++) want += reference_nll(ref_logits + (size_t)(t - 1) * n_vocab, n_vocab, ids[t]);
    want /= n - 1;

    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = n;
    sp.n_threads = 2;
    slm_session *s = slm_session_new(m, &sp, &err);
    CHECK(s != NULL, "session: %s", err.message);
    if (!s) {
        free(ids);
        goto done;
    }
    slm_perplexity_result r;
    for (int stride = 0; stride <= n; stride += n) { /* default stride (18) and stride == window: one window */
        slm_status st = slm_perplexity_ids(s, ids, (size_t)n, 0, stride, &r, &err);
        CHECK(st == SLM_OK, "perplexity over 36 ids: %s", err.message);
        CHECK(r.n_tokens == n - 1 && r.n_windows == 1 && r.window == n && r.stride == (stride ? n : n / 2),
              "one window scores 35 tokens: %lld in %d windows, window %d stride %d", (long long)r.n_tokens,
              r.n_windows, r.window, r.stride);
        CHECK(fabs(r.nll - want) <= 1e-4, "NLL %.7f vs reference logits' %.7f", r.nll, want);
        CHECK(fabs(r.perplexity - exp(want)) <= 1e-4 * exp(want), "perplexity %.6f vs %.6f", r.perplexity, exp(want));
    }
    printf("gpt2_tiny: NLL %.6f (reference %.6f), perplexity %.3f\n", r.nll, want, r.perplexity);

    /* Smaller windows: counts by hand, NLL against the recipe written out above.
     * window 10, stride 4: windows begin 0,4,...,28 (8 windows, the last ends at 36);
     * the first scores 1..9, each later one the 4 new tokens (the last: 34, 35) -> 35.
     * window 10, stride 10: windows 0,10,20,30; each loses its first token -> 9+9+9+5 = 32.
     * window 7, stride 5: begins 0,5,...,25,30 -> 7 windows; every token but the first -> 35. */
    static const struct { int window, stride, tokens, windows; } cases[] = {
        {10, 4, 35, 8}, {10, 10, 32, 4}, {7, 5, 35, 7}, {2, 1, 35, 35}, {36, 1, 35, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int w = cases[c].window, st = cases[c].stride;
        slm_status status = slm_perplexity_ids(s, ids, (size_t)n, w, st, &r, &err);
        CHECK(status == SLM_OK, "window %d stride %d: %s", w, st, err.message);
        CHECK(r.n_tokens == cases[c].tokens && r.n_windows == cases[c].windows,
              "window %d stride %d: %lld tokens in %d windows, expected %d in %d", w, st, (long long)r.n_tokens,
              r.n_windows, cases[c].tokens, cases[c].windows);
        int64_t scored;
        int n_windows;
        double recipe = recipe_nll(s, ids, n, w, st, n_vocab, &scored, &n_windows);
        CHECK(scored == r.n_tokens && n_windows == r.n_windows, "recipe agrees on counts: %lld, %d", (long long)scored,
              n_windows);
        CHECK(fabs(r.nll - recipe) <= 1e-5, "window %d stride %d: NLL %.7f vs recipe %.7f", w, st, r.nll, recipe);
    }

    /* Argument errors. */
    CHECK(slm_perplexity_ids(s, ids, (size_t)n, 10, -1, &r, &err) == SLM_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "stride"), "negative stride: %s", err.message);
    CHECK(slm_perplexity_ids(s, ids, (size_t)n, 10, 11, &r, &err) == SLM_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "stride 11"), "stride > window: %s", err.message);
    CHECK(slm_perplexity_ids(s, ids, (size_t)n, 37, 0, &r, &err) != SLM_OK && strstr(err.message, "37") &&
              strstr(err.message, "36"), "window > context names both: %s", err.message);
    CHECK(slm_perplexity_ids(s, ids, (size_t)n, 1, 1, &r, &err) == SLM_ERR_INVALID_ARGUMENT, "window 1: %s",
          err.message);
    CHECK(slm_perplexity_ids(s, ids, (size_t)n, -5, 1, &r, &err) == SLM_ERR_INVALID_ARGUMENT, "window -5: %s",
          err.message);
    CHECK(slm_perplexity_ids(s, ids, 1, 0, 0, &r, &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "1 token"),
          "one token: %s", err.message);
    CHECK(slm_perplexity_ids(s, ids, 0, 0, 0, &r, &err) == SLM_ERR_INVALID_ARGUMENT, "no tokens: %s", err.message);
    int32_t bad[3] = {1, 99999, 2};
    CHECK(slm_perplexity_ids(s, bad, 3, 0, 0, &r, &err) != SLM_OK, "id outside vocabulary fails: %s", err.message);
    CHECK(slm_perplexity(s, "hello world", 11, 0, 0, &r, &err) == SLM_ERR_INVALID_ARGUMENT &&
              strstr(err.message, "tokenizer"), "text without a tokenizer: %s", err.message);
    CHECK(slm_perplexity(s, "", 0, 0, 0, &r, &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "empty"),
          "empty text: %s", err.message);
    CHECK(slm_perplexity_ids(NULL, ids, (size_t)n, 0, 0, &r, NULL) == SLM_ERR_INVALID_ARGUMENT, "NULL session");
    slm_session_free(s);
    free(ids);
done:
    slm_model_free(m);
    slm_weights_free(in);
    slm_weights_free(out);
}

/* Shuffles the space-separated words of text (deterministic Fisher-Yates) into a new string. */
static char *shuffle_words(const char *text) {
    size_t len = strlen(text), n = 0;
    char *copy = malloc(len + 1), *out = malloc(len + 2);
    char **words = malloc((len + 1) * sizeof *words);
    memcpy(copy, text, len + 1);
    for (char *w = strtok(copy, " \n"); w; w = strtok(NULL, " \n")) words[n++] = w;
    uint64_t state = 12345;
    for (size_t i = n; i > 1; i--) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)(state >> 33) % i;
        char *t = words[i - 1];
        words[i - 1] = words[j];
        words[j] = t;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, " ");
        strcat(out, words[i]);
    }
    free(words);
    free(copy);
    return out;
}

static void test_stories260k(void) {
    slm_error err;
    char path[512];
    slm_model *m = slm_model_load("models/stories260K/stories260K.bin", NULL, &err);
    CHECK(m != NULL, "stories260K loads: %s", err.message);
    FILE *f = fopen(test_path(path, sizeof path, "stories260K_greedy.txt"), "rb");
    CHECK(f != NULL, "%s opens", path);
    if (!m || !f) {
        if (f) fclose(f);
        slm_model_free(m);
        return;
    }
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    slm_session *s = slm_session_new(m, NULL, &err);
    CHECK(s != NULL, "session: %s", err.message);
    if (!s) {
        slm_model_free(m);
        return;
    }
    slm_perplexity_result greedy, small, shuffled;
    CHECK(slm_perplexity(s, text, len, 0, 0, &greedy, &err) == SLM_OK, "greedy text: %s", err.message);
    CHECK(isfinite(greedy.perplexity) && greedy.perplexity >= 1 && greedy.perplexity < 3,
          "own greedy output has low perplexity: %f", greedy.perplexity);
    CHECK(greedy.window == 512 && greedy.stride == 256, "defaults: window = context 512, stride 256: %d, %d",
          greedy.window, greedy.stride);

    /* The text is tokenized with the tokenizer's special tokens: BOS first. */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(slm_tokenize(slm_model_tokenizer(m), text, len, 1, &ids, &n, &err) == SLM_OK, "%s", err.message);
    CHECK(greedy.n_input_tokens == (int64_t)n && n > 0 && ids[0] == slm_tokenizer_bos(slm_model_tokenizer(m)),
          "tokenized with BOS: %lld tokens vs %zu", (long long)greedy.n_input_tokens, n);
    CHECK(greedy.n_tokens == (int64_t)n - 1, "every token after BOS scored: %lld", (long long)greedy.n_tokens);
    slm_free(ids);

    CHECK(slm_perplexity(s, text, len, 64, 32, &small, &err) == SLM_OK, "window 64: %s", err.message);
    CHECK(isfinite(small.perplexity) && small.perplexity < 3.5 && small.n_tokens == greedy.n_tokens,
          "window 64 stride 32: perplexity %f over %lld tokens", small.perplexity, (long long)small.n_tokens);

    char *mixed = shuffle_words(text);
    CHECK(slm_perplexity(s, mixed, strlen(mixed), 0, 0, &shuffled, &err) == SLM_OK, "shuffled: %s", err.message);
    CHECK(isfinite(shuffled.perplexity) && shuffled.perplexity > greedy.perplexity * 2,
          "shuffled words are less likely: %f vs %f", shuffled.perplexity, greedy.perplexity);
    printf("stories260K: greedy text %lld tokens, perplexity %.4f (nll %.4f); window 64/stride 32: %.4f; "
           "shuffled words: %.4f\n",
           (long long)greedy.n_tokens, greedy.perplexity, greedy.nll, small.perplexity, shuffled.perplexity);
    free(mixed);

    CHECK(slm_perplexity(s, "x", 1, 0, 0, &greedy, &err) != SLM_OK || greedy.n_input_tokens >= 2,
          "a one-character text is either scored or refused: %s", err.message);
    CHECK(slm_perplexity(s, "bad \xff", 5, 0, 0, &greedy, &err) == SLM_ERR_INVALID_ARGUMENT,
          "invalid UTF-8: %s", err.message);
    CHECK(slm_perplexity(s, text, len, 513, 0, &greedy, &err) == SLM_ERR_CONTEXT_FULL &&
              strstr(err.message, "513") && strstr(err.message, "512"), "window > context: %s", err.message);
    slm_session_free(s);
    slm_model_free(m);
}

int main(void) {
    test_gpt2_tiny();
    test_stories260k();
    TEST_END();
}
