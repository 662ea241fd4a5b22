/* bench_kernels.c — speed of slm_matmul (not part of the tests; build by hand):
 *
 *   cc -std=c11 -O2 -D_GNU_SOURCE -pthread -Iinclude -Isrc bench/bench_kernels.c src/core/[a-z]*.c -lm
 *   /tmp/bench [prefill|decode] [SLM_KERNELS=avx2 in the environment picks a table]
 *
 * Prefill prints GFLOP/s (2 T n_in n_out per call). Decode (T = 1) prints GB/s
 * of weights streamed; it rotates over copies of the matrix totalling more than
 * the last-level cache, as a real forward pass does, so the figure is memory
 * bandwidth and not L3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kernels.h"
#include "core/kernels_isa.h"
#include "core/threads.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *filled(size_t bytes) {
    unsigned char *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    /* Small finite values in every dtype: 0x3c00 is 1.0 in f16, ~1.0 in bf16 pairs. */
    for (size_t i = 0; i < bytes; i++) p[i] = (unsigned char)(i & 1 ? 0x3c : (i * 7) & 0x3f);
    return p;
}

static const char *dtype_label(slm_dtype d) {
    return slm_dtype_name(d);
}

static void bench_prefill(slm_thread_pool *pools[3]) {
    static const int shapes[][2] = {{768, 768}, {768, 2304}, {768, 3072}, {3072, 768}};
    static const int Ts[] = {128, 512};
    static const slm_dtype dtypes[] = {SLM_DTYPE_F32, SLM_DTYPE_F16};
    printf("prefill GFLOP/s (%s)\n", slm_kernels_isa());
    printf("%-5s %-6s %-4s %-11s %10s %10s\n", "dtype", "layout", "T", "n_in x n_out", "1 thread", "2 threads");
    for (size_t d = 0; d < 2; d++)
        for (int layout = 0; layout < 2; layout++)
            for (size_t ti = 0; ti < 2; ti++)
                for (size_t s = 0; s < 4; s++) {
                    int T = Ts[ti], K = shapes[s][0], N = shapes[s][1];
                    void *w = filled((size_t)K * N * slm_dtype_size(dtypes[d]));
                    float *x = filled((size_t)T * K * sizeof(float));
                    float *y = malloc((size_t)T * N * sizeof(float));
                    float *bias = filled((size_t)N * sizeof(float));
                    for (size_t i = 0; i < (size_t)T * K; i++) x[i] = (float)(i % 13) * 0.01f;
                    slm_matrix W = {dtypes[d], (slm_layout)layout, K, N, w};
                    double gflops[2];
                    for (int th = 1; th <= 2; th++) {
                        slm_matmul(pools[th], y, x, T, &W, bias); /* warm up */
                        int reps = 0;
                        double t0 = now_seconds(), t1;
                        do {
                            slm_matmul(pools[th], y, x, T, &W, bias);
                            reps++;
                            t1 = now_seconds();
                        } while (t1 - t0 < 0.25);
                        gflops[th - 1] = 2.0 * T * K * N * reps / (t1 - t0) * 1e-9;
                    }
                    printf("%-5s %-6s %-4d %4dx%-6d %10.1f %10.1f\n", dtype_label(dtypes[d]),
                           layout ? "in_out" : "out_in", T, K, N, gflops[0], gflops[1]);
                    free(w);
                    free(x);
                    free(y);
                    free(bias);
                }
}

static void bench_decode(slm_thread_pool *pools[3]) {
    static const int shapes[][2] = {{768, 768}, {768, 2304}, {768, 3072}, {3072, 768}, {768, 50257}};
    static const slm_dtype dtypes[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
    printf("decode T=1 GB/s of weights (%s)\n", slm_kernels_isa());
    printf("%-5s %-6s %-12s %10s %10s %12s\n", "dtype", "layout", "n_in x n_out", "1 thread", "2 threads",
           "us/call (2t)");
    for (size_t d = 0; d < 3; d++)
        for (int layout = 0; layout < 2; layout++)
            for (size_t s = 0; s < 5; s++) {
                int K = shapes[s][0], N = shapes[s][1];
                size_t bytes = (size_t)K * N * slm_dtype_size(dtypes[d]);
                int copies = (int)((256u << 20) / bytes) + 1; /* > 256 MiB in all: far beyond L3 */
                if (copies > 64) copies = 64;
                if ((size_t)copies * bytes < (256u << 20)) copies = (int)((256u << 20) / bytes) + 1;
                void **w = malloc((size_t)copies * sizeof *w);
                slm_matrix *W = malloc((size_t)copies * sizeof *W);
                for (int c = 0; c < copies; c++) {
                    w[c] = filled(bytes);
                    W[c] = (slm_matrix){dtypes[d], (slm_layout)layout, K, N, w[c]};
                }
                float *x = filled((size_t)K * sizeof(float));
                for (int k = 0; k < K; k++) x[k] = (float)(k % 5) * 0.1f;
                float *y = malloc((size_t)N * sizeof(float));
                double gbs[2], us = 0;
                for (int th = 1; th <= 2; th++) {
                    for (int c = 0; c < copies; c++) slm_matmul(pools[th], y, x, 1, &W[c], NULL);
                    int reps = 0;
                    double t0 = now_seconds(), t1;
                    do {
                        slm_matmul(pools[th], y, x, 1, &W[reps % copies], NULL);
                        reps++;
                        t1 = now_seconds();
                    } while (t1 - t0 < 0.3 || reps < copies);
                    gbs[th - 1] = (double)bytes * reps / (t1 - t0) * 1e-9;
                    us = (t1 - t0) / reps * 1e6;
                }
                printf("%-5s %-6s %5dx%-6d %10.1f %10.1f %12.1f\n", dtype_label(dtypes[d]),
                       layout ? "in_out" : "out_in", K, N, gbs[0], gbs[1], us);
                for (int c = 0; c < copies; c++) free(w[c]);
                free(w);
                free(W);
                free(x);
                free(y);
            }
}

/* Dispatch cost: a tiny matmul repeated, with the pool and inline. */
static void bench_dispatch(slm_thread_pool *pools[3]) {
    enum { RUNS = 200000 };
    float x[64], y[512];
    static float w[64 * 512];
    for (int i = 0; i < 64; i++) x[i] = 0.5f;
    slm_matrix W = {SLM_DTYPE_F32, SLM_LAYOUT_IN_OUT, 64, 512, w};
    for (int th = 1; th <= 2; th++) {
        double t0 = now_seconds();
        for (int r = 0; r < RUNS; r++) slm_matmul(pools[th], y, x, 1, &W, NULL);
        printf("64x512 decode matmul, %d thread(s): %.2f us/call\n", th, (now_seconds() - t0) / RUNS * 1e6);
    }
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    slm_thread_pool *pools[3] = {NULL, NULL, NULL};
    pools[2] = slm_thread_pool_new(2, NULL);
    if (!strcmp(what, "all") || !strcmp(what, "prefill")) bench_prefill(pools);
    if (!strcmp(what, "all") || !strcmp(what, "decode")) bench_decode(pools);
    if (!strcmp(what, "all") || !strcmp(what, "dispatch")) bench_dispatch(pools);
    slm_thread_pool_free(pools[2]);
    return 0;
}
