/* kernels_quant.c — slm_matmul for block-quantized weights (core/quant.h).
 *
 * Each row of x is quantized once to the 8-bit activation blocks the weight
 * type dots against. Threads then take ranges of output rows; within a range
 * a few weight rows at a time are dotted with every row of x, so for a prompt
 * the weights come from memory once and are reused from L1 for the other
 * rows, and for decode (T = 1) the weights stream through once, which is all
 * a memory-bound step can do. slm_quant_rows_multi takes the rows of x
 * SLM_QUANT_MULTI_MAX at a time, unpacking each weight block once per group
 * rather than once per row. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/kernels_quant.h"
#include "core/quant.h"

/* Weight rows dotted with every row of x before moving on: a step's rows
 * (16 x 2048 weights, 34 KB at Q8_0) stay in L1/L2 across the rows of x. */
enum { ROWS_PER_STEP = 16 };

/* Below this many weight bytes times rows of x, threads cost more than they save. */
#define PARALLEL_MIN_BYTES (1 << 16)

typedef struct {
    slm_quant_type type;
    const slm_matrix *W;
    const float *bias;
    float *y;
    const uint8_t *act; /* T rows of act_bytes */
    size_t act_bytes;
    int T;
} quant_job;

static int min_int(int a, int b) { return a < b ? a : b; }


static void quant_task(void *ctx, int task, int n_tasks) {
    const quant_job *job = ctx;
    const int N = job->W->n_out, K = job->W->n_in;
    /* Ranges in whole steps, so threads never share a cache line of y. */
    int steps = (N + ROWS_PER_STEP - 1) / ROWS_PER_STEP;
    int r0 = (int)((long long)steps * task / n_tasks) * ROWS_PER_STEP;
    int r1 = min_int(N, (int)((long long)steps * (task + 1) / n_tasks) * ROWS_PER_STEP);
    if (job->T == 1) /* decode: nothing to reuse, so one call streams the whole range */
        slm_quant_rows(job->type, job->W->data, K, r0, r1, job->act, job->y);
    for (int rb = r0; rb < r1 && job->T > 1; rb += ROWS_PER_STEP) {
        int re = min_int(r1, rb + ROWS_PER_STEP);
        slm_quant_rows_multi(job->type, job->W->data, K, rb, re, job->act, job->act_bytes, job->T, job->y, (size_t)N);
    }
    if (!job->bias) return;
    for (int t = 0; t < job->T; t++) {
        float *y = job->y + (size_t)t * (size_t)N;
        for (int r = r0; r < r1; r++) y[r] += job->bias[r];
    }
}

/* Rows [t0, t0 + T) of x through W, with act room for T rows. */
static void run_rows(slm_thread_pool *pool, quant_job *job, const float *x, int T, uint8_t *act) {
    const int K = job->W->n_in;
    for (int t = 0; t < T; t++)
        slm_quant_activations(job->type, x + (size_t)t * (size_t)K, K, act + (size_t)t * job->act_bytes);
    job->act = act;
    job->T = T;
    size_t work = slm_dtype_row_bytes(job->W->dtype, (size_t)K) * (size_t)job->W->n_out * (size_t)T;
    int n_tasks = work < PARALLEL_MIN_BYTES ? 1 : slm_thread_pool_size(pool);
    slm_thread_pool_run(n_tasks > 1 ? pool : NULL, quant_task, job, n_tasks);
}

void slm_matmul_quantized(slm_thread_pool *pool, float *y, const float *x, int T, const slm_matrix *W,
                          const float *bias) {
    const int K = W->n_in, N = W->n_out;
    if (T <= 0 || N <= 0) return;
    quant_job job = {(slm_quant_type)slm_dtype_ggml_type(W->dtype), W, bias, y, NULL, 0, 0};
    job.act_bytes = slm_quant_act_bytes(job.type, K);
    /* All rows' activations at once, so the weights are read once per call; if
     * that much memory is not to be had, one row at a time (slower, still right). */
    uint8_t *act = malloc((size_t)T * job.act_bytes);
    int chunk = T;
    if (!act) {
        act = malloc(job.act_bytes);
        chunk = 1;
    }
    if (!act || job.act_bytes == 0) { /* nothing to compute with: say so in the output */
        for (size_t i = 0; i < (size_t)T * (size_t)N; i++) y[i] = NAN;
        free(act);
        return;
    }
    for (int t0 = 0; t0 < T; t0 += chunk) {
        job.y = y + (size_t)t0 * (size_t)N;
        run_rows(pool, &job, x + (size_t)t0 * (size_t)K, min_int(chunk, T - t0), act);
    }
    free(act);
}

void slm_matrix_row_quantized(const slm_matrix *W, int r, float *out) {
    size_t row_bytes = slm_dtype_row_bytes(W->dtype, (size_t)W->n_in);
    slm_dequantize_row((slm_quant_type)slm_dtype_ggml_type(W->dtype), (const uint8_t *)W->data + (size_t)r * row_bytes,
                       out, (size_t)W->n_in);
}
