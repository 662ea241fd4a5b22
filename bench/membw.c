/* membw.c — the machine's read bandwidth: threads sum a 1 GiB buffer with
 * AVX2 loads. Decode is memory-bound, so this is the bound decode is compared to.
 * usage: membw [threads] */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    const float *data;
    size_t n;
    float sum;
} slice;

__attribute__((target("avx2"))) static void *read_slice(void *arg) {
    slice *s = arg;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= s->n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(s->data + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(s->data + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(s->data + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(s->data + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    s->sum = out[0] + out[7];
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    size_t n = (size_t)1 << 28; /* 1 GiB of floats */
    float *data = malloc(n * sizeof *data);
    if (!data || threads < 1 || threads > 64) return 1;
    for (size_t i = 0; i < n; i++) data[i] = (float)(i & 7); /* real pages, not the shared zero page */
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t tid[64];
        slice s[64];
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int t = 0; t < threads; t++) {
            s[t] = (slice){data + n / threads * t, n / threads, 0};
            pthread_create(&tid[t], NULL, read_slice, &s[t]);
        }
        for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double gbs = n * sizeof(float) / ((b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec)) / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("{\"threads\": %d, \"read_gb_s\": %.1f}\n", threads, best);
    free(data);
    return 0;
}
