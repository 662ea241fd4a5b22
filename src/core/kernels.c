/* kernels.c — matmul strategy, the scalar reference and kernels, and the
 * element-wise operations every model family shares.
 *
 * slm_matmul picks one of two regimes:
 *   decode  (T <= SLM_DECODE_MAX_T): memory-bound. Threads take contiguous
 *           slices of n_out and stream their part of W exactly once, straight
 *           from the mapped file, converting F16/BF16 in registers.
 *   prefill (larger T): compute-bound. Threads take slices of n_out (or of T
 *           when n_out is narrow). Each packs a k-block of one operand into
 *           per-call scratch as f32 (converting F16/BF16 on the way) and runs
 *           register-blocked tiles over it:
 *             C = x @ W^T, A = rows of x, B = a (kc, nr) panel of W^T: rows
 *             of an IN_OUT W copied, or rows of an OUT_IN W transposed into columns.
 *           Mapped weights are never modified; the panels are scratch.
 *           An OUT_IN W with few rows of x (a single sentence) instead goes
 *           through dot-product tiles that read its rows untransposed (see
 *           prefill_dot), where the table has them.
 * The per-ISA tiles and streams live in kernels_avx2.c / kernels_avx512.c;
 * the scalar versions below double as the fallback for any CPU. */
#include "core/kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/kernels_isa.h"
#include "core/kernels_quant.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#endif

/* k-block lengths: an IN_OUT panel of W is KC_IN_OUT x nr floats (64 KiB at
 * nr = 64, in L2). */
enum { KC_IN_OUT = 256 };

/* Below this many multiply-adds a matmul runs on the calling thread: waking
 * the pool would cost more than it saves. */
#define PARALLEL_MIN_WORK 32768.0

static int min_int(int a, int b) {
    return a < b ? a : b;
}

/* ---- the scalar reference ------------------------------------------------ */

static float weight_at(const slm_matrix *W, int k, int n) {
    size_t i = W->layout == SLM_LAYOUT_OUT_IN ? (size_t)n * (size_t)W->n_in + (size_t)k
                                              : (size_t)k * (size_t)W->n_out + (size_t)n;
    switch (W->dtype) {
    case SLM_DTYPE_F16: return slm_f16_to_f32(((const uint16_t *)W->data)[i]);
    case SLM_DTYPE_BF16: return slm_bf16_to_f32(((const uint16_t *)W->data)[i]);
    default: return ((const float *)W->data)[i];
    }
}

void slm_matmul_reference(float *y, const float *x, int T, const slm_matrix *W, const float *bias) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * (size_t)W->n_in;
        for (int n = 0; n < W->n_out; n++) {
            float acc = 0.0f;
            for (int k = 0; k < W->n_in; k++) acc += xt[k] * weight_at(W, k, n);
            y[(size_t)t * (size_t)W->n_out + (size_t)n] = acc + (bias ? bias[n] : 0.0f);
        }
    }
}

/* ---- scalar kernels (any CPU) ------------------------------------------- */

static void scalar_convert(slm_dtype dtype, const void *src, float *dst, size_t n) {
    slm_convert_to_f32(dtype, src, dst, n);
}

static void scalar_tile(int mr_used, int ncols, int kc, const float *A, size_t lda, const float *B, float *C,
                        size_t ldc, const float *bias, int accumulate) {
    enum { NR = 16 };
    for (int m = 0; m < mr_used; m++) {
        float acc[NR] = {0};
        for (int k = 0; k < kc; k++) {
            float a = A[(size_t)m * lda + (size_t)k];
            for (int j = 0; j < NR; j++) acc[j] += a * B[(size_t)k * NR + (size_t)j];
        }
        float *c = C + (size_t)m * ldc;
        for (int j = 0; j < ncols; j++) c[j] = (accumulate ? c[j] : bias ? bias[j] : 0.0f) + acc[j];
    }
}

/* Weights are converted in pieces of this many into a stack buffer. */
enum { SCALAR_PIECE = 256 };

static void scalar_decode_in_out(const slm_matmul_problem *p, int n0, int n1) {
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in, N = (size_t)W->n_out, esz = slm_dtype_size(W->dtype);
    float w[SCALAR_PIECE];
    for (int t = 0; t < p->T; t++) {
        float *y = p->y + (size_t)t * N;
        const float *x = p->x + (size_t)t * K;
        for (int n = n0; n < n1; n++) y[n] = p->bias ? p->bias[n] : 0.0f;
        for (int nb = n0; nb < n1; nb += SCALAR_PIECE) {
            int len = min_int(SCALAR_PIECE, n1 - nb);
            for (size_t k = 0; k < K; k++) {
                slm_convert_to_f32(W->dtype, (const char *)W->data + (k * N + (size_t)nb) * esz, w, (size_t)len);
                for (int j = 0; j < len; j++) y[nb + j] += x[k] * w[j];
            }
        }
    }
}

static void scalar_decode_out_in(const slm_matmul_problem *p, int n0, int n1) {
    const slm_matrix *W = p->W;
    const size_t K = (size_t)W->n_in, N = (size_t)W->n_out, esz = slm_dtype_size(W->dtype);
    float w[SCALAR_PIECE];
    for (int t = 0; t < p->T; t++) {
        const float *x = p->x + (size_t)t * K;
        for (int n = n0; n < n1; n++) {
            float acc = 0.0f;
            for (size_t kb = 0; kb < K; kb += SCALAR_PIECE) {
                size_t len = K - kb < SCALAR_PIECE ? K - kb : SCALAR_PIECE;
                slm_convert_to_f32(W->dtype, (const char *)W->data + ((size_t)n * K + kb) * esz, w, len);
                for (size_t j = 0; j < len; j++) acc += x[kb + j] * w[j];
            }
            p->y[(size_t)t * N + (size_t)n] = acc + (p->bias ? p->bias[n] : 0.0f);
        }
    }
}

static void scalar_layernorm(float *out, const float *x, const float *weight, const float *bias, int T, int C,
                             float eps);

static float scalar_dot(const float *a, const float *b, int n) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static void scalar_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void scalar_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

const slm_kernels_table slm_kernels_scalar = {
    .name = "scalar",
    .mr = 4,
    .nr = 16,
    .tile = scalar_tile,
    .decode_in_out = scalar_decode_in_out,
    .decode_out_in = scalar_decode_out_in,
    .convert = scalar_convert,
    .dot = scalar_dot,
    .axpy = scalar_axpy,
    .add = scalar_add,
    .layernorm = scalar_layernorm,
};

/* ---- choosing an instruction set, once ---------------------------------- */

static int cpu_runs(const char *name) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (strcmp(name, "avx2") == 0) {
        /* F16C from CPUID leaf 1 (ECX bit 29): not every compiler's __builtin_cpu_supports knows it. */
        unsigned eax, ebx, ecx, edx;
        int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
        return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
#endif
    return strcmp(name, "scalar") == 0;
}

const slm_kernels_table *slm_kernels_find(const char *name) {
    static const slm_kernels_table *const all[] = {&slm_kernels_avx512, &slm_kernels_avx2, &slm_kernels_scalar};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0) return cpu_runs(name) ? all[i] : NULL;
    return NULL;
}

static pthread_once_t active_once = PTHREAD_ONCE_INIT;
static const slm_kernels_table *active_table; /* written once, under active_once */

static void choose_active(void) {
    const char *wanted = getenv("SLM_KERNELS");
    const slm_kernels_table *kt = wanted ? slm_kernels_find(wanted) : NULL;
    if (!kt) kt = slm_kernels_find("avx512");
    if (!kt) kt = slm_kernels_find("avx2");
    if (!kt) kt = &slm_kernels_scalar;
    active_table = kt;
}

const slm_kernels_table *slm_kernels_active(void) {
    pthread_once(&active_once, choose_active);
    return active_table;
}

const char *slm_kernels_isa(void) {
    return slm_kernels_active()->name;
}

/* ---- prefill: packed panels and register tiles -------------------------- */

enum { ROWS_PER_BLOCK = 384 };


/* packed (kc, nr) = W^T[kb .. kb+kc, np .. np+ncols) as f32, zero beyond ncols.
 * IN_OUT rows are copied; OUT_IN rows of W become columns of the panel (the
 * transposition costs K * n_out moves per call against T * K * n_out FMAs). */
static void pack_panel(const slm_kernels_table *kt, const slm_matrix *W, int kb, int kc, int np, int ncols,
                       float *packed, float *row_buffer) {
    const int K = W->n_in, N = W->n_out, nr = kt->nr;
    const size_t esz = slm_dtype_size(W->dtype);
    if (W->layout == SLM_LAYOUT_IN_OUT) {
        for (int k = 0; k < kc; k++) {
            float *row = packed + (size_t)k * (size_t)nr;
            const char *src = (const char *)W->data + ((size_t)(kb + k) * (size_t)N + (size_t)np) * esz;
            kt->convert(W->dtype, src, row, (size_t)ncols);
            if (ncols < nr) memset(row + ncols, 0, (size_t)(nr - ncols) * sizeof(float));
        }
        return;
    }
    if (kt->pack_transposed) {
        kt->pack_transposed(W, kb, kc, np, ncols, packed);
        return;
    }
    if (ncols < nr)
        for (int k = 0; k < kc; k++) memset(packed + (size_t)k * (size_t)nr + ncols, 0, (size_t)(nr - ncols) * sizeof(float));
    for (int j = 0; j < ncols; j++) {
        const char *src = (const char *)W->data + ((size_t)(np + j) * (size_t)K + (size_t)kb) * esz;
        const float *row = (const float *)src;
        if (W->dtype != SLM_DTYPE_F32) {
            kt->convert(W->dtype, src, row_buffer, (size_t)kc);
            row = row_buffer;
        }
        for (int k = 0; k < kc; k++) packed[(size_t)k * (size_t)nr + (size_t)j] = row[k];
    }
}

/* Columns [n0, n1) of y = x @ W^T: panels of W^T packed to f32, register tiles
 * of rows of x against them. packed: KC_IN_OUT * nr + KC_IN_OUT floats, 64-byte aligned. */
static void prefill_panels(const slm_kernels_table *kt, const slm_matmul_problem *p, int n0, int n1,
                           float *packed) {
    const slm_matrix *W = p->W;
    const int K = W->n_in, N = W->n_out, nr = kt->nr, mr = kt->mr;
    float *transposed = packed + (size_t)KC_IN_OUT * (size_t)nr; /* one W row when converting OUT_IN */
    /* Rows of x in blocks, so a block's (rows, kc) slice stays in L2 while every
     * panel passes over it; panels are packed again per block, a small cost. */
    const int block = mr * (ROWS_PER_BLOCK / mr);
    for (int tb = 0; tb < p->T; tb += block) {
        int t_end = min_int(p->T, tb + block);
        for (int np = n0; np < n1; np += nr) {
            int ncols = min_int(nr, n1 - np);
            for (int kb = 0; kb < K; kb += KC_IN_OUT) {
                int kc = min_int(KC_IN_OUT, K - kb);
                pack_panel(kt, W, kb, kc, np, ncols, packed, transposed);
                for (int t0 = tb; t0 < t_end; t0 += mr) {
                    kt->tile(min_int(mr, t_end - t0), ncols, kc, p->x + (size_t)t0 * (size_t)K + (size_t)kb,
                             (size_t)K, packed, p->y + (size_t)t0 * (size_t)N + (size_t)np, (size_t)N,
                             p->bias ? p->bias + np : NULL, kb > 0);
                }
            }
        }
    }
}

/* ---- prefill: OUT_IN rows in place, dot-product tiles -------------------- */

/* An OUT_IN W (nn.Linear) holds W^T's columns as k-contiguous rows, so the
 * packed tiles must transpose it on every call (mapped weights are never
 * modified), and the transposition reads W from memory in a pattern the
 * hardware prefetchers do not follow. The dot tiles instead read dot_nr rows
 * of W as they are (copied into an L1-resident buffer, converted to f32 once)
 * against dot_mr rows of x at a time, while the next rows of W are fetched.
 * Every row of x passes over each group, so x's k-slice (at most DOT_MAX_ROWS
 * x DOT_KC floats, 480 KiB) must stay in L2. Measured on Zen 4 (one thread,
 * weights not in cache, 128 rows): 8-11% faster than the packed tiles for
 * the BERT-base and MiniLM shapes. With more rows the packed tiles win (their
 * transposition is shared by more rows, and they reuse B better), and for
 * short k the reductions at the end of each tile weigh too much. */
enum { DOT_KC = 768, DOT_MAX_ROWS = 160, DOT_MIN_K = 256 };

static int use_dot_tiles(const slm_kernels_table *kt, const slm_matmul_problem *p) {
    return kt->dot_tile && p->W->layout == SLM_LAYOUT_OUT_IN && p->T <= DOT_MAX_ROWS && p->W->n_in >= DOT_MIN_K;
}

/* The 64-byte lines of rows [n, n + rows) of an OUT_IN W, k in [kb, kb + kc). */
typedef struct {
    const char *start;
    size_t row_bytes;
    int row_lines, lines;
} weight_lines;

static weight_lines lines_of(const slm_matrix *W, int n, int rows, int kb, int kc) {
    const size_t esz = slm_dtype_size(W->dtype);
    weight_lines g;
    g.row_bytes = (size_t)W->n_in * esz;
    g.start = (const char *)W->data + (size_t)n * g.row_bytes + (size_t)kb * esz;
    g.row_lines = (int)(((size_t)kc * esz + 63) / 64);
    g.lines = rows * g.row_lines;
    return g;
}

/* Every row of x against the group of W rows in wbuf (columns [n, n + ncols) of
 * y, k in [kb, kb + kc)), prefetching `next` meanwhile. */
static void dot_group(const slm_kernels_table *kt, const slm_matmul_problem *p, int kb, int kc, int n, int ncols,
                      const float *wbuf, const weight_lines *next) {
    const int K = p->W->n_in, N = p->W->n_out, mr = kt->dot_mr;
    const int n_tiles = (p->T + mr - 1) / mr;
    int fetched = 0, line_row = 0, line_col = 0; /* line_row, line_col: of line `fetched` */
    for (int i = 0; i < n_tiles; i++) {
        int t = i * mr;
        /* A share of next's lines per tile. (Inline: GCC deletes a call to a function
         * that only prefetches, as if it were pure.) The line's place is stepped, not
         * divided out: a division per line was ~5% of a DistilBERT forward. */
        for (int upto = (int)((long long)next->lines * (i + 1) / n_tiles); fetched < upto; fetched++) {
            __builtin_prefetch(next->start + (size_t)line_row * next->row_bytes + (size_t)line_col * 64, 0, 3);
            if (++line_col == next->row_lines) line_col = 0, line_row++;
        }
        kt->dot_tile(min_int(mr, p->T - t), ncols, kc, p->x + (size_t)t * (size_t)K + (size_t)kb, (size_t)K, wbuf,
                     DOT_KC, p->y + (size_t)t * (size_t)N + (size_t)n, (size_t)N, p->bias ? p->bias + n : NULL,
                     kb > 0);
    }
}

/* Columns [n0, n1) of y = x @ W^T, W OUT_IN. wbuf: dot_nr * DOT_KC floats. */
static void prefill_dot(const slm_kernels_table *kt, const slm_matmul_problem *p, int n0, int n1, float *wbuf) {
    const slm_matrix *W = p->W;
    const int K = W->n_in, nr = kt->dot_nr;
    const size_t esz = slm_dtype_size(W->dtype);
    for (int kb = 0; kb < K; kb += DOT_KC) {
        int kc = min_int(DOT_KC, K - kb);
        for (int n = n0; n < n1; n += nr) {
            int ncols = min_int(nr, n1 - n);
            for (int j = 0; j < ncols; j++)
                kt->convert(W->dtype, (const char *)W->data + ((size_t)(n + j) * (size_t)K + (size_t)kb) * esz,
                            wbuf + (size_t)j * DOT_KC, (size_t)kc);
            /* The group after this one: the next rows, else the first rows of the next k-block. */
            int next_n = n + nr < n1 ? n + nr : n0, next_kb = n + nr < n1 ? kb : kb + kc;
            weight_lines next = {0};
            if (next_kb < K)
                next = lines_of(W, next_n, min_int(nr, n1 - next_n), next_kb, min_int(DOT_KC, K - next_kb));
            dot_group(kt, p, kb, kc, n, ncols, wbuf, &next);
        }
    }
}

/* ---- splitting a matmul across the pool --------------------------------- */

typedef struct {
    const slm_kernels_table *kt;
    slm_matmul_problem p;
    int decode;
    int dot;           /* prefill through the dot tiles */
    int split_rows;    /* 1: tasks take slices of T, 0: slices of n_out */
    int unit, n_units; /* slices are whole units (columns, or rows of x) */
    float *scratch;    /* n_tasks * scratch_floats, or NULL: prefill falls back to decode kernels */
    size_t scratch_floats;
} matmul_job;

static void matmul_task(void *ctx, int task, int n_tasks) {
    const matmul_job *job = ctx;
    int u0 = (int)((long long)job->n_units * task / n_tasks);
    int u1 = (int)((long long)job->n_units * (task + 1) / n_tasks);
    slm_matmul_problem p = job->p;
    int n0 = 0, n1 = p.W->n_out;
    if (job->split_rows) {
        int t0 = u0 * job->unit, t1 = min_int(u1 * job->unit, p.T);
        if (t0 >= t1) return;
        p.x += (size_t)t0 * (size_t)p.W->n_in;
        p.y += (size_t)t0 * (size_t)p.W->n_out;
        p.T = t1 - t0;
    } else {
        n0 = u0 * job->unit;
        n1 = min_int(u1 * job->unit, p.W->n_out);
        if (n0 >= n1) return;
    }
    int in_out = p.W->layout == SLM_LAYOUT_IN_OUT;
    if (job->decode || !job->scratch) {
        if (in_out) job->kt->decode_in_out(&p, n0, n1);
        else job->kt->decode_out_in(&p, n0, n1);
    } else {
        float *scratch = job->scratch + (size_t)task * job->scratch_floats;
        if (job->dot) prefill_dot(job->kt, &p, n0, n1, scratch);
        else prefill_panels(job->kt, &p, n0, n1, scratch);
    }
}

void slm_matmul_with(const slm_kernels_table *kt, slm_thread_pool *pool, float *y, const float *x, int T,
                     const slm_matrix *W, const float *bias) {
    const int K = W->n_in, N = W->n_out;
    if (T <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) y[(size_t)t * (size_t)N + (size_t)n] = bias ? bias[n] : 0.0f;
        return;
    }
    matmul_job job = {.kt = kt, .p = {y, x, T, W, bias}, .decode = T <= SLM_DECODE_MAX_T};

    int n_threads = slm_thread_pool_size(pool);
    if ((double)T * K * N < PARALLEL_MIN_WORK) n_threads = 1;
    job.dot = !job.decode && use_dot_tiles(kt, &job.p);
    if (job.decode || job.dot) {
        job.unit = 16; /* a cache line of y */
    } else {
        job.unit = kt->nr; /* whole packed panels */
    }
    job.n_units = (N + job.unit - 1) / job.unit;
    if (!job.decode && job.n_units < n_threads && T >= 2 * kt->mr * n_threads) {
        /* Narrow W, many rows: give each thread a slice of x instead. */
        job.split_rows = 1;
        job.unit = job.dot ? kt->dot_mr : kt->mr;
        job.n_units = (T + job.unit - 1) / job.unit;
    }
    int n_tasks = min_int(n_threads, job.n_units);

    if (!job.decode) {
        job.scratch_floats = (size_t)KC_IN_OUT * (size_t)kt->nr + KC_IN_OUT;
        if (job.dot && job.scratch_floats < (size_t)DOT_KC * (size_t)kt->dot_nr)
            job.scratch_floats = (size_t)DOT_KC * (size_t)kt->dot_nr;
        void *mem = NULL;
        if (posix_memalign(&mem, 64, (size_t)n_tasks * job.scratch_floats * sizeof(float)) == 0)
            job.scratch = mem;
        /* On failure scratch stays NULL and the decode kernels do the work, slower but right. */
    }
    slm_thread_pool_run(n_tasks > 1 ? pool : NULL, matmul_task, &job, n_tasks);
    free(job.scratch);
}

void slm_matmul(slm_thread_pool *pool, float *y, const float *x, int T, const slm_matrix *W, const float *bias) {
    if (slm_dtype_is_quantized(W->dtype)) {
        slm_matmul_quantized(pool, y, x, T, W, bias);
        return;
    }
    slm_matmul_with(slm_kernels_active(), pool, y, x, T, W, bias);
}

void slm_matrix_row(const slm_matrix *W, int r, float *out) {
    if (slm_dtype_is_quantized(W->dtype)) {
        slm_matrix_row_quantized(W, r, out);
        return;
    }
    const size_t esz = slm_dtype_size(W->dtype);
    if (W->layout == SLM_LAYOUT_OUT_IN) {
        slm_kernels_active()->convert(W->dtype, (const char *)W->data + (size_t)r * (size_t)W->n_in * esz, out,
                                      (size_t)W->n_in);
    } else { /* row r of the logical (n_out, n_in) matrix is column r of the stored one */
        for (int k = 0; k < W->n_in; k++) out[k] = weight_at(W, k, r);
    }
}

/* ---- element-wise and row-wise operations -------------------------------- */
/* These follow PyTorch's float32 formulas; statistics are summed in double,
 * which agrees with PyTorch to within float rounding. */

void slm_layernorm(float *out, const float *x, const float *weight, const float *bias, int T, int C,
                   float eps) {
    const slm_kernels_table *kt = slm_kernels_active();
    (kt->layernorm ? kt->layernorm : scalar_layernorm)(out, x, weight, bias, T, C, eps);
}

/* The reference: statistics summed in double, as in the note above. */
static void scalar_layernorm(float *out, const float *x, const float *weight, const float *bias, int T, int C,
                             float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * (size_t)C;
        float *o = out + (size_t)t * (size_t)C;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += xr[c];
        double mean = sum / C;
        double var = 0.0; /* biased, as torch.nn.LayerNorm */
        for (int c = 0; c < C; c++) {
            double d = xr[c] - mean;
            var += d * d;
        }
        var /= C;
        double rstd = 1.0 / sqrt(var + (double)eps);
        for (int c = 0; c < C; c++) {
            float normed = (float)((xr[c] - mean) * rstd);
            o[c] = normed * weight[c] + (bias ? bias[c] : 0.0f);
        }
    }
}

void slm_rmsnorm(float *out, const float *x, const float *weight, int T, int C, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * (size_t)C;
        float *o = out + (size_t)t * (size_t)C;
        double sum_sq = 0.0;
        for (int c = 0; c < C; c++) sum_sq += (double)xr[c] * xr[c];
        float rstd = (float)(1.0 / sqrt(sum_sq / C + (double)eps));
        for (int c = 0; c < C; c++) o[c] = weight[c] * (xr[c] * rstd); /* as HF: weight * (x * rsqrt) */
    }
}

void slm_gelu_tanh(float *x, size_t n) {
    const slm_kernels_table *kt = slm_kernels_active();
    if (kt->gelu_tanh) {
        kt->gelu_tanh(x, n);
        return;
    }
    slm_gelu_tanh_reference(x, n);
}

void slm_gelu_tanh_reference(float *x, size_t n) {
    const float sqrt_2_over_pi = 0.7978845608028654f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
    }
}

void slm_gelu_erf(float *x, size_t n) {
    const slm_kernels_table *kt = slm_kernels_active();
    if (kt->gelu_erf) {
        kt->gelu_erf(x, n);
        return;
    }
    slm_gelu_erf_reference(x, n);
}

void slm_gelu_erf_reference(float *x, size_t n) {
    const float sqrt_half = 0.7071067811865476f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v * 0.5f * (1.0f + erff(v * sqrt_half));
    }
}

void slm_silu_mul(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void slm_softmax(float *x, int n) {
    const slm_kernels_table *kt = slm_kernels_active();
    if (kt->softmax)
        kt->softmax(x, n);
    else
        slm_softmax_reference(x, n);
}

void slm_softmax_reference(float *x, int n) {
    if (n <= 0) return;
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* Element i of a cache row of dtype F32, F16 or BF16. */
static float kv_at(slm_dtype dtype, const void *p, size_t i) {
    if (dtype == SLM_DTYPE_F16) return slm_f16_to_f32(((const uint16_t *)p)[i]);
    if (dtype == SLM_DTYPE_BF16) return slm_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

void slm_attend_reference(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys, size_t stride,
                          int head_dim, float scale, float *scores, float *out) {
    for (int j = 0; j < n_keys; j++) {
        float dot = 0.0f;
        for (int d = 0; d < head_dim; d++) dot += q[d] * kv_at(kv_dtype, k, (size_t)j * stride + (size_t)d);
        scores[j] = dot * scale;
    }
    slm_softmax(scores, n_keys);
    for (int d = 0; d < head_dim; d++) out[d] = 0.0f;
    for (int j = 0; j < n_keys; j++)
        for (int d = 0; d < head_dim; d++) out[d] += scores[j] * kv_at(kv_dtype, v, (size_t)j * stride + (size_t)d);
}

void slm_attend(const float *q, slm_dtype kv_dtype, const void *k, const void *v, int n_keys, size_t stride,
                int head_dim, float scale, float *scores, float *out) {
    const slm_kernels_table *kt = slm_kernels_active();
    if (kt->attend)
        kt->attend(q, kv_dtype, k, v, n_keys, stride, head_dim, scale, scores, out);
    else
        slm_attend_reference(q, kv_dtype, k, v, n_keys, stride, head_dim, scale, scores, out);
}

void slm_add(float *y, const float *x, size_t n) {
    slm_kernels_active()->add(y, x, n);
}

float slm_dot(const float *a, const float *b, int n) {
    return slm_kernels_active()->dot(a, b, n);
}

void slm_axpy(float *y, float a, const float *x, int n) {
    slm_kernels_active()->axpy(y, a, x, n);
}
