/* bench_generate.c — times one model the way a user runs it: load (mmap),
 * prompt processing of P tokens (logits for the last position only, as a
 * generate call does), then D greedy decode steps. Prints one JSON line with
 * tokens/s, load time and peak RSS. Run one configuration per process so the
 * RSS figure belongs to it alone.
 * usage: bench_generate MODEL [--threads N] [--prompt P] [--decode D] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "models/model.h"
#include "slm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_generate MODEL [--threads N] [--prompt P] [--decode D]\n");
        return 2;
    }
    int threads = 0, prompt = 128, decode = 64;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) prompt = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--decode")) decode = atoi(argv[i + 1]);
    }
    slm_error err;
    double t0 = now();
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_model *model = slm_model_load(argv[1], &mp, &err);
    double load = now() - t0;
    if (!model) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    slm_model_info info = slm_model_get_info(model);
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = threads;
    sp.n_ctx = prompt + decode + 1 <= info.n_ctx_train ? prompt + decode + 1 : info.n_ctx_train;
    slm_session *s = slm_session_new(model, &sp, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int32_t *ids = malloc((size_t)prompt * sizeof *ids);
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < prompt; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)info.n_vocab);
    }
    /* The first pass also maps the weights' pages in (first touch of the mmap);
     * it is reported apart, and the warm second pass is the prompt speed, as the
     * PyTorch anchor (which warms up first) is measured. */
    double prefill_cold = 0, prefill = 0;
    for (int pass = 0; pass < 2; pass++) {
        slm_session_reset(s);
        t0 = now();
        if (slm_session_forward_last(s, ids, (size_t)prompt, logits, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        *(pass ? &prefill : &prefill_cold) = now() - t0;
    }
    t0 = now();
    for (int k = 0; k < decode; k++) {
        int32_t next = 0;
        for (int v = 1; v < info.n_vocab; v++)
            if (logits[v] > logits[next]) next = v;
        if (slm_session_forward(s, &next, 1, SLM_OUTPUT_LOGITS, logits, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
    }
    double dec = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t kv = (size_t)2 * info.n_layers * sp.n_ctx * info.n_kv_heads * (info.d_model / info.n_heads) *
                (size_t)info.kv_bytes_per_element;
    printf("{\"model\": \"%s\", \"dtype\": \"%s\", \"threads\": %d, \"prompt\": %d, \"prompt_tok_s\": %.1f, \"first_prompt_tok_s\": %.1f, "
           "\"decode\": %d, \"decode_tok_s\": %.1f, \"decode_gb_s\": %.1f, \"load_ms\": %.1f, "
           "\"peak_rss_mb\": %.1f, \"weights_mb\": %.1f, \"kv_mb\": %.1f}\n",
           argv[1], info.weight_dtype, threads, prompt, prompt / prefill, prompt / prefill_cold, decode, decode / dec,
           /* every weight matrix is read once per decode token (wpe rows aside) */
           (double)info.weight_bytes * decode / dec / 1e9, load * 1e3, ru.ru_maxrss / 1024.0,
           info.weight_bytes / 1048576.0, kv / 1048576.0);
    free(ids);
    free(logits);
    slm_session_free(s);
    slm_model_free(model);
    return 0;
}
