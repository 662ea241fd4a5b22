/* test_kernels.c — the math kernels and the thread pool.
 *
 * Matmul: every kernel table this CPU runs (scalar, avx2, avx512) against
 * slm_matmul_reference, for F32/F16/BF16 weights in both layouts, odd sizes,
 * T from 1 (decode) to 130 (prefill with tails), with and without bias, on 1
 * and 3 threads. Both sides accumulate in f32 in different orders, so they
 * agree to rounding: |fast - ref| <= 1e-6 * sqrt(n_in) * sum_k |x_k w_k| (+ |bias|),
 * about 16 * sqrt(n_in) float epsilons of the magnitude, well above the
 * typical random-walk error (~eps * sqrt(n_in)) and far below any indexing or
 * tail bug (which is off by whole terms). Elements of y outside (T, n_out)
 * must stay untouched.
 *
 * Element-wise ops: against values worked out by hand or from the closed-form
 * definitions evaluated in double here (PyTorch's formulas). */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/kernels.h"
#include "core/kernels_isa.h"
#include "core/threads.h"

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(void) { /* in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float stored_weight(slm_dtype dtype, const void *data, size_t i) {
    if (dtype == SLM_DTYPE_F16) return slm_f16_to_f32(((const uint16_t *)data)[i]);
    if (dtype == SLM_DTYPE_BF16) return slm_bf16_to_f32(((const uint16_t *)data)[i]);
    return ((const float *)data)[i];
}

static void *random_weights(slm_dtype dtype, size_t n) {
    void *data = malloc(n * slm_dtype_size(dtype) + 1);
    for (size_t i = 0; i < n; i++) {
        float v = uniform();
        if (dtype == SLM_DTYPE_F16) ((uint16_t *)data)[i] = slm_f32_to_f16(v);
        else if (dtype == SLM_DTYPE_BF16) ((uint16_t *)data)[i] = slm_f32_to_bf16(v);
        else ((float *)data)[i] = v;
    }
    return data;
}

static const char *layout_name(slm_layout layout) {
    return layout == SLM_LAYOUT_OUT_IN ? "out_in" : "in_out";
}

/* ---- matmul -------------------------------------------------------------- */

#define GUARD 37 /* floats of sentinel after y */
static const float SENTINEL = -12345.5f;

static int n_tables;
static const slm_kernels_table *tables[3];

static void check_matmul_case(slm_thread_pool *pool3, slm_dtype dtype, slm_layout layout, int T, int n_in, int n_out,
                              int with_bias) {
    size_t n_w = (size_t)n_in * (size_t)n_out;
    void *w = random_weights(dtype, n_w);
    slm_matrix W = {.dtype = dtype, .layout = layout, .n_in = n_in, .n_out = n_out, .data = w};
    float *x = malloc((size_t)T * (size_t)n_in * sizeof *x);
    float *bias = malloc((size_t)n_out * sizeof *bias);
    float *ref = malloc((size_t)T * (size_t)n_out * sizeof *ref);
    float *tol = malloc((size_t)T * (size_t)n_out * sizeof *tol);
    float *y = malloc(((size_t)T * (size_t)n_out + GUARD) * sizeof *y);
    for (size_t i = 0; i < (size_t)T * (size_t)n_in; i++) x[i] = uniform();
    for (int n = 0; n < n_out; n++) bias[n] = uniform();
    const float *b = with_bias ? bias : NULL;

    slm_matmul_reference(ref, x, T, &W, b);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < n_out; n++) {
            double mag = b ? fabs(b[n]) : 0.0;
            for (int k = 0; k < n_in; k++) {
                size_t i = layout == SLM_LAYOUT_OUT_IN ? (size_t)n * (size_t)n_in + (size_t)k
                                                       : (size_t)k * (size_t)n_out + (size_t)n;
                mag += fabs((double)x[(size_t)t * (size_t)n_in + (size_t)k] * stored_weight(dtype, w, i));
            }
            tol[(size_t)t * (size_t)n_out + (size_t)n] = (float)(1e-6 * sqrt((double)n_in) * mag + 1e-30);
        }

    for (int ti = 0; ti < n_tables; ti++) {
        for (int threads = 1; threads <= 3; threads += 2) {
            for (size_t i = 0; i < (size_t)T * (size_t)n_out + GUARD; i++) y[i] = SENTINEL;
            slm_matmul_with(tables[ti], threads == 3 ? pool3 : NULL, y, x, T, &W, b);
            int bad = 0;
            size_t first_bad = 0;
            for (size_t i = 0; i < (size_t)T * (size_t)n_out; i++)
                if (!(fabsf(y[i] - ref[i]) <= tol[i])) {
                    if (!bad) first_bad = i;
                    bad++;
                }
            CHECK(bad == 0, "%s %s %s T=%d n_in=%d n_out=%d bias=%d threads=%d: %d wrong, first y[%zu]=%g ref %g tol %g",
                  tables[ti]->name, slm_dtype_name(dtype), layout_name(layout), T, n_in, n_out, with_bias, threads,
                  bad, first_bad, (double)y[first_bad], (double)ref[first_bad], (double)tol[first_bad]);
            int guard_ok = 1;
            for (size_t i = 0; i < GUARD; i++) guard_ok &= y[(size_t)T * (size_t)n_out + i] == SENTINEL;
            CHECK(guard_ok, "%s %s %s T=%d n_in=%d n_out=%d: wrote past y", tables[ti]->name, slm_dtype_name(dtype),
                  layout_name(layout), T, n_in, n_out);
        }
    }
    free(w);
    free(x);
    free(bias);
    free(ref);
    free(tol);
    free(y);
}

static void test_matmul(slm_thread_pool *pool3) {
    /* 1-4: decode; 5 up: prefill, through the dot tiles (OUT_IN, n_in >= 64) or the packed panels. */
    static const int Ts[] = {1, 2, 3, 4, 5, 17, 64, 128, 129};
    static const int sizes[][2] = {{1, 1},   {1, 7},    {7, 1},    {7, 26},  {26, 64},  {64, 100},
                                   {100, 7}, {312, 64}, {64, 769}, {769, 26}, {100, 312}};
    static const slm_dtype dtypes[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
    int case_index = 0;
    for (size_t d = 0; d < 3; d++)
        for (int layout = 0; layout < 2; layout++)
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++)
                for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                    int with_bias = (case_index++ & 1);
                    check_matmul_case(pool3, dtypes[d], (slm_layout)layout, Ts[ti], sizes[si][0], sizes[si][1],
                                      with_bias);
                    check_matmul_case(pool3, dtypes[d], (slm_layout)layout, Ts[ti], sizes[si][0], sizes[si][1],
                                      !with_bias);
                }
    /* A few large shapes where the k-blocks (256 / 512) and several panels per thread show up. */
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_IN_OUT, 33, 600, 300, 1);
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 70, 1100, 130, 1);
    check_matmul_case(pool3, SLM_DTYPE_BF16, SLM_LAYOUT_IN_OUT, 2, 1030, 200, 0);
    check_matmul_case(pool3, SLM_DTYPE_BF16, SLM_LAYOUT_OUT_IN, 4, 1030, 200, 1);
    /* Narrow W with many rows: threads split T instead of n_out. */
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_IN_OUT, 200, 40, 20, 1);
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 200, 40, 20, 0);
    /* OUT_IN with many rows, every dtype, with tails of rows, columns and k. */
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 300, 300, 130, 1);
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 263, 77, 65, 0);
    check_matmul_case(pool3, SLM_DTYPE_BF16, SLM_LAYOUT_OUT_IN, 257, 520, 33, 1);
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 400, 40, 20, 1);
    /* Dot tiles: several k-blocks of 512 with a tail, every dtype, row and column tails. */
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 129, 1537, 389, 1);
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 17, 1030, 130, 0);
    check_matmul_case(pool3, SLM_DTYPE_BF16, SLM_LAYOUT_OUT_IN, 131, 1030, 67, 1);
    /* Around the row limit of the dot tiles (512): both sides, with tails. */
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 511, 200, 70, 1);
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 513, 200, 70, 0);
    /* T = 1 decode changes kernel past n_in 4096 (AVX-512's STREAMS_MAX_IN). */
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 1, 4096, 37, 1);
    check_matmul_case(pool3, SLM_DTYPE_F16, SLM_LAYOUT_OUT_IN, 1, 4097, 37, 0);
    check_matmul_case(pool3, SLM_DTYPE_BF16, SLM_LAYOUT_OUT_IN, 1, 4095, 19, 1);
    check_matmul_case(pool3, SLM_DTYPE_BF16, SLM_LAYOUT_OUT_IN, 1, 8200, 19, 0);
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 1, 4096, 83, 1);
    check_matmul_case(pool3, SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 1, 4097, 83, 0);
}

static void test_matmul_known_values(void) {
    /* y = x @ W^T + b worked by hand: W (OUT_IN) = [[1,2,3],[4,5,6]], x = [1,0,-1], b = [0.5,-0.5]. */
    const float w_out_in[6] = {1, 2, 3, 4, 5, 6};
    const float w_in_out[6] = {1, 4, 2, 5, 3, 6}; /* the same matrix stored (n_in, n_out) */
    const float x[3] = {1, 0, -1}, b[2] = {0.5f, -0.5f};
    slm_matrix a = {SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 3, 2, w_out_in};
    slm_matrix c = {SLM_DTYPE_F32, SLM_LAYOUT_IN_OUT, 3, 2, w_in_out};
    float y[2];
    slm_matmul(NULL, y, x, 1, &a, b);
    CHECK(y[0] == -1.5f && y[1] == -2.5f, "out_in: y = %g %g, expected -1.5 -2.5", (double)y[0], (double)y[1]);
    slm_matmul(NULL, y, x, 1, &c, b);
    CHECK(y[0] == -1.5f && y[1] == -2.5f, "in_out: y = %g %g, expected -1.5 -2.5", (double)y[0], (double)y[1]);
    slm_matmul_reference(y, x, 1, &c, NULL);
    CHECK(y[0] == -2.0f && y[1] == -2.0f, "reference: y = %g %g, expected -2 -2", (double)y[0], (double)y[1]);

    /* n_in = 0: y is the bias. */
    slm_matrix empty = {SLM_DTYPE_F32, SLM_LAYOUT_OUT_IN, 0, 2, w_out_in};
    y[0] = y[1] = 99.0f;
    slm_matmul(NULL, y, x, 1, &empty, b);
    CHECK(y[0] == 0.5f && y[1] == -0.5f, "n_in=0: y = %g %g", (double)y[0], (double)y[1]);
}

static void test_matrix_row(void) {
    for (int d = 0; d < 3; d++) {
        slm_dtype dtype = d == 0 ? SLM_DTYPE_F32 : d == 1 ? SLM_DTYPE_F16 : SLM_DTYPE_BF16;
        int n_in = 37, n_out = 5;
        void *w = random_weights(dtype, (size_t)n_in * (size_t)n_out);
        float row[37];
        for (int layout = 0; layout < 2; layout++) {
            slm_matrix W = {dtype, (slm_layout)layout, n_in, n_out, w};
            int ok = 1;
            for (int r = 0; r < n_out; r++) {
                slm_matrix_row(&W, r, row);
                for (int k = 0; k < n_in; k++) {
                    size_t i = layout == SLM_LAYOUT_OUT_IN ? (size_t)r * (size_t)n_in + (size_t)k
                                                           : (size_t)k * (size_t)n_out + (size_t)r;
                    ok &= row[k] == stored_weight(dtype, w, i);
                }
            }
            CHECK(ok, "slm_matrix_row %s %s", slm_dtype_name(dtype), layout_name((slm_layout)layout));
        }
        free(w);
    }
}

/* ---- per-table vector helpers -------------------------------------------- */

static void test_vector_helpers(void) {
    static const int lengths[] = {0, 1, 7, 8, 15, 16, 17, 33, 100, 257};
    float a[257], b[257], y[257], expect[257];
    for (int ti = 0; ti < n_tables; ti++) {
        const slm_kernels_table *kt = tables[ti];
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            int n = lengths[li];
            double dot = 0.0, mag = 0.0;
            for (int i = 0; i < n; i++) {
                a[i] = uniform();
                b[i] = uniform();
                dot += (double)a[i] * b[i];
                mag += fabs((double)a[i] * b[i]);
            }
            float got = kt->dot(a, b, n);
            CHECK(fabs(got - dot) <= 1e-6 * mag + 1e-30, "%s dot n=%d: %g vs %g", kt->name, n, (double)got, dot);

            for (int i = 0; i < 257; i++) y[i] = expect[i] = uniform();
            for (int i = 0; i < n; i++) expect[i] = (float)((double)y[i] + 0.75 * (double)a[i]);
            kt->axpy(y, 0.75f, a, n);
            int ok = 1;
            for (int i = 0; i < 257; i++) ok &= fabsf(y[i] - expect[i]) <= 1e-6f * (fabsf(expect[i]) + 1.0f);
            CHECK(ok, "%s axpy n=%d", kt->name, n);

            for (int i = 0; i < 257; i++) y[i] = expect[i] = uniform();
            for (int i = 0; i < n; i++) expect[i] = y[i] + b[i];
            kt->add(y, b, (size_t)n);
            CHECK(memcmp(y, expect, sizeof y) == 0, "%s add n=%d", kt->name, n);

            for (int d = 0; d < 3; d++) {
                slm_dtype dtype = d == 0 ? SLM_DTYPE_F32 : d == 1 ? SLM_DTYPE_F16 : SLM_DTYPE_BF16;
                void *w = random_weights(dtype, 257);
                for (int i = 0; i < 257; i++) y[i] = expect[i] = SENTINEL;
                slm_convert_to_f32(dtype, w, expect, (size_t)n);
                kt->convert(dtype, w, y, (size_t)n);
                CHECK(memcmp(y, expect, sizeof y) == 0, "%s convert %s n=%d", kt->name, slm_dtype_name(dtype), n);
                free(w);
            }
        }
    }
    /* The public entry points use the active table. */
    float v[5] = {1, 2, 3, 4, 5}, u[5] = {5, 4, 3, 2, 1};
    CHECK(slm_dot(v, u, 5) == 35.0f, "slm_dot = %g, expected 35", (double)slm_dot(v, u, 5));
    slm_axpy(v, 2.0f, u, 5);
    CHECK(v[0] == 11 && v[4] == 7, "slm_axpy");
    slm_add(v, u, 5);
    CHECK(v[0] == 16 && v[4] == 8, "slm_add");
}

/* ---- element-wise ops ---------------------------------------------------- */

static int close_rel(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want) + 1e-30;
}

static void test_activations(void) {
    /* Known values from PyTorch: gelu_new(1) and F.gelu(1). */
    float g = 1.0f;
    slm_gelu_tanh(&g, 1);
    CHECK(close_rel(g, 0.8411920071, 1e-6), "gelu_tanh(1) = %.10f", (double)g);
    g = 1.0f;
    slm_gelu_erf(&g, 1);
    CHECK(close_rel(g, 0.8413447461, 1e-6), "gelu_erf(1) = %.10f", (double)g);

    /* Closed forms in double over a range of inputs. */
    static const float xs[] = {-6.0f, -3.0f, -1.5f, -0.5f, -1e-3f, 0.0f, 1e-4f, 0.25f, 0.7f, 2.0f, 4.5f, 10.0f};
    enum { N = sizeof xs / sizeof xs[0] };
    float a[N], b[N], up[N];
    memcpy(a, xs, sizeof a);
    memcpy(b, xs, sizeof b);
    slm_gelu_tanh(a, N);
    slm_gelu_erf(b, N);
    for (int i = 0; i < N; i++) {
        double x = xs[i];
        double want_tanh = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        double want_erf = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        /* In the negative tail 1 + tanh (or 1 + erf) cancels: float keeps an absolute
         * error of about 0.5 * |x| * epsilon there, as PyTorch's float32 does. */
        double abs_tol = x < -2.0 ? 1e-7 * fabs(x) : 1e-12;
        CHECK(close_rel(a[i], want_tanh, 1e-6) || fabs(a[i] - want_tanh) < abs_tol, "gelu_tanh(%g) = %.9g, want %.9g",
              x, (double)a[i], want_tanh);
        /* The vector erf (as PyTorch's) is within 1.5e-7 of the true erf: 0.5 |x| 1.5e-7 in gelu. */
        double erf_tol = 0.5 * fabs(x) * 1.6e-7 + abs_tol;
        CHECK(close_rel(b[i], want_erf, 1e-6) || fabs(b[i] - want_erf) < erf_tol, "gelu_erf(%g) = %.9g, want %.9g", x,
              (double)b[i], want_erf);
    }
    for (int i = 0; i < N; i++) {
        a[i] = xs[i];
        up[i] = 0.5f + (float)i;
    }
    slm_silu_mul(a, up, N);
    for (int i = 0; i < N; i++) {
        double x = xs[i];
        double want = x / (1.0 + exp(-x)) * up[i];
        CHECK(close_rel(a[i], want, 1e-6) || fabs(a[i] - want) < 1e-9, "silu(%g) * %g = %.9g, want %.9g", x,
              (double)up[i], (double)a[i], want);
    }
    /* silu(0) = 0, silu(large) = x, silu(-large) -> 0 without NaN. */
    float s[3] = {0.0f, 100.0f, -100.0f}, one[3] = {1, 1, 1};
    slm_silu_mul(s, one, 3);
    CHECK(s[0] == 0.0f && s[1] == 100.0f && s[2] <= 0.0f && s[2] > -1e-30f, "silu extremes %g %g %g", (double)s[0],
          (double)s[1], (double)s[2]);
}

/* The fast attention and gelu paths against their scalar references, on odd
 * head sizes and key counts (tails), with scores spread wide enough to test exp. */
static void test_attention_and_gelu_paths(void) {
    static const int head_dims[] = {1, 12, 16, 26, 64, 100, 130, 256};
    static const int key_counts[] = {1, 3, 4, 17, 64, 333};
    for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++) {
        for (size_t c = 0; c < sizeof key_counts / sizeof key_counts[0]; c++) {
            int hd = head_dims[h], n = key_counts[c];
            size_t stride = (size_t)hd + 7;
            float *q = malloc(hd * sizeof(float)), *k = malloc(n * stride * sizeof(float));
            float *v = malloc(n * stride * sizeof(float)), *s1 = malloc(n * sizeof(float));
            float *s2 = malloc(n * sizeof(float)), *o1 = malloc(hd * sizeof(float)), *o2 = malloc(hd * sizeof(float));
            for (int i = 0; i < hd; i++) q[i] = uniform();
            for (size_t i = 0; i < n * stride; i++) {
                k[i] = 2.0f * uniform();
                v[i] = uniform();
            }
            float scale = 1.0f / sqrtf((float)hd) * 3.0f;
            slm_attend(q, SLM_DTYPE_F32, k, v, n, stride, hd, scale, s1, o1);
            slm_attend_reference(q, SLM_DTYPE_F32, k, v, n, stride, hd, scale, s2, o2);
            double worst = 0;
            for (int i = 0; i < hd; i++) worst = fmax(worst, fabs((double)o1[i] - o2[i]));
            for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)s1[i] - s2[i]));
            CHECK(worst < 2e-6, "attend hd %d keys %d: max difference %g", hd, n, worst);
            /* A half-precision cache (f16, bf16): the same values rounded, the fast path
             * against the reference reading the same halves. */
            static const slm_dtype halves[] = {SLM_DTYPE_F16, SLM_DTYPE_BF16};
            uint16_t *kh = malloc(n * stride * sizeof *kh), *vh = malloc(n * stride * sizeof *vh);
            for (size_t d = 0; d < 2; d++) {
                for (size_t i = 0; i < n * stride; i++) {
                    kh[i] = halves[d] == SLM_DTYPE_F16 ? slm_f32_to_f16(k[i]) : slm_f32_to_bf16(k[i]);
                    vh[i] = halves[d] == SLM_DTYPE_F16 ? slm_f32_to_f16(v[i]) : slm_f32_to_bf16(v[i]);
                }
                slm_attend(q, halves[d], kh, vh, n, stride, hd, scale, s1, o1);
                slm_attend_reference(q, halves[d], kh, vh, n, stride, hd, scale, s2, o2);
                worst = 0;
                for (int i = 0; i < hd; i++) worst = fmax(worst, fabs((double)o1[i] - o2[i]));
                for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)s1[i] - s2[i]));
                CHECK(worst < 2e-6, "attend %s cache hd %d keys %d: max difference %g", slm_dtype_name(halves[d]), hd,
                      n, worst);
            }
            free(kh); free(vh);
            free(q); free(k); free(v); free(s1); free(s2); free(o1); free(o2);
        }
    }
    enum { N = 4099 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) a[i] = b[i] = (float)(i - N / 2) / 200.0f;
    a[0] = b[0] = -200.0f;
    a[N - 1] = b[N - 1] = 200.0f;
    slm_gelu_tanh(a, N);
    /* Against the closed form in double: relative 1e-6, or the absolute error float
     * keeps in the negative tail (as in test_activations). */
    int bad = -1;
    for (int i = 0; i < N; i++) {
        double x = b[i];
        double want = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        double err = fabs((double)a[i] - want);
        if (err > 1e-6 * fabs(want) && err > 1e-7 * fabs(x)) bad = i;
    }
    for (int i = 0; i < N; i++) a[i] = b[i];
    slm_gelu_erf(a, N);
    int bad_erf = -1;
    for (int i = 0; i < N; i++) {
        double x = b[i];
        double want = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        /* PyTorch's vector erf error (1.5e-7) plus float rounding of 1 + erf (6e-8), times 0.5 |x| */
        if (fabs((double)a[i] - want) > 1e-6 * fabs(want) + 0.5 * fabs(x) * 2.2e-7) bad_erf = i;
    }
    CHECK(bad_erf < 0, "gelu_erf(%g) = %.9g off the closed form", bad_erf < 0 ? 0.0 : (double)b[bad_erf],
          bad_erf < 0 ? 0.0 : (double)a[bad_erf]);
    CHECK(bad < 0, "gelu_tanh(%g) = %.9g off the closed form", bad < 0 ? 0.0 : (double)b[bad],
          bad < 0 ? 0.0 : (double)a[bad]);
    free(a);
    free(b);
}

static void test_softmax(void) {
    float x[3] = {1, 2, 3};
    slm_softmax(x, 3);
    /* e^k / (e + e^2 + e^3) */
    CHECK(close_rel(x[0], 0.0900305732, 1e-6) && close_rel(x[1], 0.2447284711, 1e-6) &&
              close_rel(x[2], 0.6652409558, 1e-6),
          "softmax(1,2,3) = %.9f %.9f %.9f", (double)x[0], (double)x[1], (double)x[2]);
    float big[4] = {1000.0f, 1001.0f, -1e30f, 1000.0f};
    slm_softmax(big, 4);
    double denom = 2.0 + exp(1.0);
    CHECK(close_rel(big[0], 1.0 / denom, 1e-6) && close_rel(big[1], exp(1.0) / denom, 1e-6) && big[2] == 0.0f &&
              big[3] == big[0],
          "softmax of large values = %g %g %g %g", (double)big[0], (double)big[1], (double)big[2], (double)big[3]);
    float neg_inf[3] = {-INFINITY, 0.0f, -INFINITY};
    slm_softmax(neg_inf, 3);
    CHECK(neg_inf[0] == 0.0f && neg_inf[1] == 1.0f && neg_inf[2] == 0.0f, "softmax with -inf (masked) entries");
    /* The vectorised path against the scalar reference on odd lengths and wide ranges. */
    for (int n = 1; n < 300; n += 37) {
        float a[300], b[300];
        for (int i = 0; i < n; i++) a[i] = b[i] = 20.0f * uniform();
        slm_softmax(a, n);
        slm_softmax_reference(b, n);
        double worst = 0;
        for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]) / (b[i] + 1e-30));
        CHECK(worst < 2e-6, "softmax fast vs reference, n %d: worst relative %g", n, worst);
    }
    float one = 7.0f;
    slm_softmax(&one, 1);
    CHECK(one == 1.0f, "softmax of one value = %g", (double)one);
}

static void test_norms(void) {
    /* Two rows: x = [1,2,3,4] has mean 2.5 and biased variance 1.25;
     * x = [-2,0,0,2] has mean 0 and variance 2. */
    float x[8] = {1, 2, 3, 4, -2, 0, 0, 2};
    const float w[4] = {1.0f, 0.5f, -1.0f, 2.0f}, b[4] = {0.0f, 0.1f, 0.2f, -0.3f};
    const float eps = 1e-5f;
    float out[8];
    slm_layernorm(out, x, w, b, 2, 4, eps);
    double rstd0 = 1.0 / sqrt(1.25 + 1e-5), rstd1 = 1.0 / sqrt(2.0 + 1e-5);
    double want[8];
    for (int c = 0; c < 4; c++) {
        want[c] = (x[c] - 2.5) * rstd0 * w[c] + b[c];
        want[4 + c] = (x[4 + c] - 0.0) * rstd1 * w[c] + b[c];
    }
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= fabs(out[i] - want[i]) <= 1e-6 * (fabs(want[i]) + 1e-3);
    CHECK(ok, "layernorm: %g %g %g %g / %g %g %g %g", (double)out[0], (double)out[1], (double)out[2], (double)out[3],
          (double)out[4], (double)out[5], (double)out[6], (double)out[7]);
    /* In place and without bias. */
    float inplace[8];
    memcpy(inplace, x, sizeof inplace);
    slm_layernorm(inplace, inplace, w, NULL, 2, 4, eps);
    ok = 1;
    for (int i = 0; i < 8; i++) ok &= fabs(inplace[i] - (want[i] - b[i % 4])) <= 1e-6 * (fabs(want[i]) + 1e-3);
    CHECK(ok, "layernorm in place, no bias");
    /* A constant row normalises to the bias (variance 0, eps keeps it finite). */
    float flat[4] = {3, 3, 3, 3};
    slm_layernorm(flat, flat, w, b, 1, 4, eps);
    CHECK(flat[0] == b[0] && flat[1] == b[1] && flat[2] == b[2] && flat[3] == b[3], "layernorm of a constant row");

    /* rmsnorm: mean(x^2) = 7.5 for [1,2,3,4], 2 for [-2,0,0,2]. */
    slm_rmsnorm(out, x, w, 2, 4, eps);
    ok = 1;
    for (int c = 0; c < 4; c++) {
        double w0 = x[c] / sqrt(7.5 + 1e-5) * w[c], w1 = x[4 + c] / sqrt(2.0 + 1e-5) * w[c];
        ok &= fabs(out[c] - w0) <= 1e-6 * (fabs(w0) + 1e-3) && fabs(out[4 + c] - w1) <= 1e-6 * (fabs(w1) + 1e-3);
    }
    CHECK(ok, "rmsnorm: %g %g %g %g", (double)out[0], (double)out[1], (double)out[2], (double)out[3]);
    memcpy(inplace, x, sizeof inplace);
    slm_rmsnorm(inplace, inplace, w, 2, 4, eps);
    CHECK(memcmp(inplace, out, sizeof out) == 0, "rmsnorm in place");
}

/* Every table's layernorm against the scalar table's (slm_layernorm's reference),
 * on widths with vector tails, rows with a large mean (where a one-pass variance
 * would cancel), with and without bias, and in place. Both sum in double and
 * round (x - mean) * rstd once to float, so they agree to a float rounding or
 * two of the result (the reference may be compiled with a fused multiply-add). */
static void test_layernorm_paths(void) {
    static const int widths[] = {1, 7, 16, 31, 128, 312, 384, 769};
    enum { T = 3, MAX_C = 769 };
    float *x = malloc(T * MAX_C * sizeof(float)), *w = malloc(MAX_C * sizeof(float));
    float *b = malloc(MAX_C * sizeof(float)), *ref = malloc(T * MAX_C * sizeof(float));
    float *got = malloc(T * MAX_C * sizeof(float));
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        int C = widths[wi];
        for (int i = 0; i < T * C; i++) x[i] = uniform() * (i < C ? 1.0f : 5.0f) + (i >= 2 * C ? 300.0f : 0.0f);
        for (int c = 0; c < C; c++) {
            w[c] = 1.0f + 0.5f * uniform();
            b[c] = uniform();
        }
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const float *bias = with_bias ? b : NULL;
            slm_kernels_scalar.layernorm(ref, x, w, bias, T, C, 1e-12f);
            for (int ti = 0; ti < n_tables; ti++) {
                if (!tables[ti]->layernorm) continue;
                memcpy(got, x, (size_t)T * C * sizeof(float));
                tables[ti]->layernorm(got, got, w, bias, T, C, 1e-12f); /* in place */
                double worst = 0;
                for (int i = 0; i < T * C; i++)
                    worst = fmax(worst, fabs((double)got[i] - ref[i]) / (fabs((double)ref[i]) + 1e-3));
                CHECK(worst < 3e-7, "%s layernorm C=%d bias=%d: worst relative difference %g", tables[ti]->name, C,
                      with_bias, worst);
            }
        }
    }
    free(x);
    free(w);
    free(b);
    free(ref);
    free(got);
}

/* ---- thread pool --------------------------------------------------------- */

typedef struct {
    atomic_int counts[256];
    atomic_int wrong_n_tasks;
    int n_tasks;
} pool_probe;

static void count_task(void *ctx, int task, int n_tasks) {
    pool_probe *probe = ctx;
    if (n_tasks != probe->n_tasks) atomic_fetch_add(&probe->wrong_n_tasks, 1);
    atomic_fetch_add(&probe->counts[task], 1);
}

static void test_thread_pool(void) {
    slm_error err;
    memset(&err, 0, sizeof err);
    CHECK(slm_thread_pool_new(0, &err) == NULL && err.status == SLM_ERR_INVALID_ARGUMENT,
          "a pool of 0 threads is refused");
    CHECK(slm_physical_cores() >= 1, "physical cores = %d", slm_physical_cores());
    CHECK(slm_thread_pool_size(NULL) == 1, "a NULL pool is the calling thread");

    static const int sizes[] = {1, 2, 3, 4};
    static const int task_counts[] = {1, 2, 3, 5, 7, 64, 256};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        slm_thread_pool *pool = slm_thread_pool_new(sizes[si], &err);
        CHECK(pool != NULL, "pool of %d: %s", sizes[si], err.message);
        if (!pool) continue;
        CHECK(slm_thread_pool_size(pool) == sizes[si], "pool size");
        for (size_t ci = 0; ci < sizeof task_counts / sizeof task_counts[0]; ci++) {
            pool_probe probe;
            memset(&probe, 0, sizeof probe);
            probe.n_tasks = task_counts[ci];
            enum { RUNS = 500 };
            for (int r = 0; r < RUNS; r++) slm_thread_pool_run(pool, count_task, &probe, probe.n_tasks);
            int ok = 1;
            for (int i = 0; i < 256; i++) ok &= atomic_load(&probe.counts[i]) == (i < probe.n_tasks ? RUNS : 0);
            CHECK(ok && atomic_load(&probe.wrong_n_tasks) == 0, "pool of %d, %d tasks x %d runs: each ran once per run",
                  sizes[si], probe.n_tasks, RUNS);
        }
        slm_thread_pool_run(pool, count_task, NULL, 0); /* no tasks: nothing runs, nothing crashes */
        slm_thread_pool_free(pool);
    }
    pool_probe probe;
    memset(&probe, 0, sizeof probe);
    probe.n_tasks = 9;
    slm_thread_pool_run(NULL, count_task, &probe, 9);
    int ok = 1;
    for (int i = 0; i < 9; i++) ok &= atomic_load(&probe.counts[i]) == 1;
    CHECK(ok, "NULL pool runs every task inline");
    slm_thread_pool_free(NULL);
}

/* Each ISA table's attention (every cache dtype), softmax and gelu_new against the
 * scalar references, whatever table is active: head sizes of the decoders (8 for
 * stories260K, 64, 80, 128, 256) and one the AVX2 kernel hands to the reference (26). */
static void test_tables_attention(void) {
    static const int head_dims[] = {8, 16, 26, 64, 80, 128, 256};
    static const int key_counts[] = {1, 3, 4, 5, 17, 64, 333};
    static const slm_dtype dtypes[] = {SLM_DTYPE_F32, SLM_DTYPE_F16, SLM_DTYPE_BF16};
    for (int ti = 0; ti < n_tables; ti++) {
        const slm_kernels_table *kt = tables[ti];
        for (size_t h = 0; kt->attend && h < sizeof head_dims / sizeof head_dims[0]; h++) {
            for (size_t c = 0; c < sizeof key_counts / sizeof key_counts[0]; c++) {
                int hd = head_dims[h], n = key_counts[c];
                size_t stride = (size_t)hd + 8;
                float *q = malloc(hd * sizeof(float)), *kf = malloc(n * stride * sizeof(float));
                float *vf = malloc(n * stride * sizeof(float)), *s1 = malloc(n * sizeof(float));
                float *s2 = malloc(n * sizeof(float)), *o1 = malloc(hd * sizeof(float)), *o2 = malloc(hd * sizeof(float));
                uint16_t *kh = malloc(n * stride * sizeof *kh), *vh = malloc(n * stride * sizeof *vh);
                for (int i = 0; i < hd; i++) q[i] = uniform();
                for (size_t i = 0; i < n * stride; i++) kf[i] = 2.0f * uniform(), vf[i] = uniform();
                for (size_t d = 0; d < 3; d++) {
                    const void *k = kf, *v = vf;
                    if (dtypes[d] != SLM_DTYPE_F32) {
                        for (size_t i = 0; i < n * stride; i++) {
                            kh[i] = dtypes[d] == SLM_DTYPE_F16 ? slm_f32_to_f16(kf[i]) : slm_f32_to_bf16(kf[i]);
                            vh[i] = dtypes[d] == SLM_DTYPE_F16 ? slm_f32_to_f16(vf[i]) : slm_f32_to_bf16(vf[i]);
                        }
                        k = kh, v = vh;
                    }
                    float scale = 3.0f / sqrtf((float)hd);
                    kt->attend(q, dtypes[d], k, v, n, stride, hd, scale, s1, o1);
                    slm_attend_reference(q, dtypes[d], k, v, n, stride, hd, scale, s2, o2);
                    double worst = 0;
                    for (int i = 0; i < hd; i++) worst = fmax(worst, fabs((double)o1[i] - o2[i]));
                    for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)s1[i] - s2[i]));
                    CHECK(worst < 2e-6, "%s attend, %s cache, hd %d keys %d: max difference %g", kt->name,
                          slm_dtype_name(dtypes[d]), hd, n, worst);
                }
                free(q); free(kf); free(vf); free(s1); free(s2); free(o1); free(o2); free(kh); free(vh);
            }
        }
        static const int softmax_sizes[] = {1, 7, 8, 9, 100, 333};
        for (size_t z = 0; kt->softmax && z < sizeof softmax_sizes / sizeof softmax_sizes[0]; z++) {
            int n = softmax_sizes[z];
            float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
            for (int i = 0; i < n; i++) a[i] = b[i] = 30.0f * uniform();
            if (n > 3) a[2] = b[2] = -1e30f; /* far below the rest: e^(x - max) underflows */
            kt->softmax(a, n);
            slm_softmax_reference(b, n);
            double worst = 0;
            for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
            CHECK(worst < 1e-6, "%s softmax of %d: max difference %g", kt->name, n, worst);
            free(a); free(b);
        }
        if (kt->gelu_tanh) {
            enum { N = 1029 };
            float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
            for (int i = 0; i < N; i++) a[i] = b[i] = (float)(i - N / 2) / 50.0f;
            kt->gelu_tanh(a, N);
            slm_gelu_tanh_reference(b, N);
            int bad = -1;
            for (int i = 0; i < N; i++) {
                double err = fabs((double)a[i] - b[i]);
                if (err > 2e-6 * fabs((double)b[i]) && err > 1e-7 * fabs((double)i - N / 2) / 50.0) bad = i;
            }
            CHECK(bad < 0, "%s gelu_tanh differs from the reference at %d", kt->name, bad);
            free(a); free(b);
        }
    }
}

int main(void) {
    const char *names[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++)
        if ((tables[n_tables] = slm_kernels_find(names[i]))) n_tables++;
    printf("kernel tables on this CPU:");
    for (int i = 0; i < n_tables; i++) printf(" %s", tables[i]->name);
    printf(" (active: %s)\n", slm_kernels_isa());
    const char *isa = slm_kernels_isa();
    CHECK(strcmp(isa, "scalar") == 0 || strcmp(isa, "avx2") == 0 || strcmp(isa, "avx512") == 0, "isa = %s", isa);

    test_thread_pool();
    test_activations();
    test_softmax();
    test_attention_and_gelu_paths();
    test_tables_attention();
    test_norms();
    test_layernorm_paths();
    test_vector_helpers();
    test_matrix_row();
    test_matmul_known_values();

    slm_error err;
    slm_thread_pool *pool3 = slm_thread_pool_new(3, &err);
    CHECK(pool3 != NULL, "pool of 3: %s", err.message);
    test_matmul(pool3);
    slm_thread_pool_free(pool3);
    TEST_END();
}
