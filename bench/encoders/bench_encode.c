/* bench_encode.c — slm's side of the encoder benchmark: sentences/s of
 * slm_session_encode (last hidden state) at a batch size and sequence length,
 * median of several runs, plus peak RSS. Same random ids scheme as bench_ort.js.
 * usage: bench_encode MODEL --batch B --seq L --threads N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "slm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_encode MODEL --batch B --seq L --threads N\n");
        return 2;
    }
    int batch = 1, seq = 128, threads = 2;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seq")) seq = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    slm_error err;
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_model *model = slm_model_load(argv[1], &mp, &err);
    if (!model) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = threads;
    slm_session *s = slm_session_new(model, &sp, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    slm_model_info info = slm_model_get_info(model);
    size_t n = (size_t)batch * seq;
    int32_t *ids = malloc(n * sizeof *ids);
    float *out = malloc(n * info.d_model * sizeof *out);
    unsigned long x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = (x * 1103515245ul + 12345ul) % 2147483648ul;
        ids[i] = (int32_t)(x % (unsigned long)info.n_vocab);
    }
    slm_batch b = {batch, seq, ids, NULL, NULL};
    if (slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, out, &err)) { /* warm-up */
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int runs = batch == 1 ? 30 : 4;
    double times[64];
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, out, &err);
        times[r] = now() - t0;
    }
    qsort(times, (size_t)runs, sizeof times[0], by_value);
    double median = times[runs / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"slm\", \"model\": \"%s\", \"batch\": %d, \"seq\": %d, \"threads\": %d, \"median_ms\": %.2f, "
           "\"sentences_s\": %.1f, \"peak_rss_mb\": %.1f}\n",
           argv[1], batch, seq, threads, median * 1e3, batch / median, ru.ru_maxrss / 1024.0);
    free(ids);
    free(out);
    slm_session_free(s);
    slm_model_free(model);
    return 0;
}
