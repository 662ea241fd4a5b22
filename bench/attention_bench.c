/* attention_bench.c — how fast one decode step's attention reads the KV cache:
 * L layers x H heads of one query against ctx cached keys and values (head_dim 64,
 * f32, head-major as slm keeps them), through slm_attend. "evicted": a 300 MB buffer
 * is read between steps, as a decode step's weights stream through the caches and
 * leave the cache in DRAM; "hot": the cache stays in L2/L3. GB/s = cache bytes read.
 * Defaults are GPT-2-small's shape (12 x 12) at context 190.
 *
 *   make build/libslm.a && cc -O2 -Isrc -Iinclude bench/attention_bench.c build/libslm.a -lm -pthread \
 *       -o build/attention_bench && build/attention_bench [ctx [layers heads]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Best of 20 steps, in seconds. */
static double step_time(const float *kv, int L, int H, int n_ctx, int ctx, const char *evict, size_t evict_bytes) {
    enum { HD = 64 };
    const size_t per = (size_t)H * (size_t)n_ctx * HD; /* floats of keys (or values) per layer */
    float q[HD], out[HD], *scores = malloc((size_t)ctx * sizeof *scores);
    for (int i = 0; i < HD; i++) q[i] = 0.01f * (float)i;
    double best = 1e30;
    volatile long sink = 0;
    for (int rep = 0; rep < 20 && scores; rep++) {
        long s = 0;
        for (size_t i = 0; evict && i < evict_bytes; i += 64) s += evict[i];
        sink += s;
        double t0 = now();
        for (int l = 0; l < L; l++) {
            const float *k = kv + (size_t)l * 2 * per, *v = k + per;
            for (int h = 0; h < H; h++)
                slm_attend(q, SLM_DTYPE_F32, k + (size_t)h * n_ctx * HD, v + (size_t)h * n_ctx * HD, ctx, HD, HD, 0.125f,
                           scores, out);
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(scores);
    return best;
}

int main(int argc, char **argv) {
    int ctx = argc > 1 ? atoi(argv[1]) : 190, L = argc > 3 ? atoi(argv[2]) : 12, H = argc > 3 ? atoi(argv[3]) : 12;
    int n_ctx = ctx + 64;
    if (ctx <= 0 || L <= 0 || H <= 0) return 1;
    size_t floats = (size_t)L * 2 * H * n_ctx * 64, evict_bytes = (size_t)300 << 20;
    float *kv = malloc(floats * sizeof *kv);
    char *evict = malloc(evict_bytes);
    if (!kv || !evict) return 1;
    for (size_t i = 0; i < floats; i++) kv[i] = (float)(i % 97) * 0.01f;
    memset(evict, 1, evict_bytes);
    double bytes = (double)L * H * ctx * 64 * 4 * 2;
    double cold = step_time(kv, L, H, n_ctx, ctx, evict, evict_bytes), hot = step_time(kv, L, H, n_ctx, ctx, NULL, 0);
    printf("attention, %d layers x %d heads, context %d, %.1f MB of f32 cache per step (%s kernels)\n", L, H, ctx,
           bytes / 1e6, slm_kernels_isa());
    printf("evicted: %.3f ms (%.1f GB/s)   hot: %.3f ms (%.1f GB/s)\n", cold * 1e3, bytes / cold / 1e9, hot * 1e3,
           bytes / hot / 1e9);
    free(kv);
    free(evict);
    return 0;
}
