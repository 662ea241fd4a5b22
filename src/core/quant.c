/* quant.c — block-quantized rows (quant.h): sizes, the scalar reference dot,
 * the 8-bit activations the fast path dots against, and the choice of the
 * fastest row kernel for this CPU. Blocks are (de)quantized in quant_blocks.c;
 * the row kernels are quant_scalar.c, quant_avx2.c and quant_avx512.c, all
 * reading the activation layout described in quant_impl.h. */
#include "core/quant.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant_impl.h"

#if QUANT_X86
#include <cpuid.h>
#endif

size_t slm_quant_block_elements(slm_quant_type type) {
    switch (type) {
    case SLM_QUANT_Q4_0:
    case SLM_QUANT_Q8_0: return QK;
    case SLM_QUANT_Q4_K:
    case SLM_QUANT_Q6_K: return QK_K;
    }
    return 0;
}

size_t slm_quant_block_bytes(slm_quant_type type) {
    switch (type) {
    case SLM_QUANT_Q4_0: return Q4_0_BYTES;
    case SLM_QUANT_Q8_0: return Q8_0_BYTES;
    case SLM_QUANT_Q4_K: return Q4_K_BYTES;
    case SLM_QUANT_Q6_K: return Q6_K_BYTES;
    }
    return 0;
}

size_t slm_quant_row_bytes(slm_quant_type type, size_t n) {
    size_t per = slm_quant_block_elements(type);
    if (!per || n % per) return 0;
    return n / per * slm_quant_block_bytes(type);
}

const char *slm_quant_type_name(slm_quant_type type) {
    switch (type) {
    case SLM_QUANT_Q4_0: return "q4_0";
    case SLM_QUANT_Q8_0: return "q8_0";
    case SLM_QUANT_Q4_K: return "q4_k";
    case SLM_QUANT_Q6_K: return "q6_k";
    }
    return "?";
}

/* ---- the scalar reference ----------------------------------------------- */

float slm_quant_dot(slm_quant_type type, const void *w_row, const float *x, size_t n) {
    size_t block_bytes = slm_quant_block_bytes(type), per = slm_quant_block_elements(type);
    if (!block_bytes || n % per) return NAN;
    const uint8_t *block = w_row;
    float w[QK_K], sum = 0.0f;
    for (size_t b = 0; b < n / per; b++, block += block_bytes, x += per) {
        slm_dequantize_row(type, block, w, per);
        float block_sum = 0.0f;
        for (size_t i = 0; i < per; i++) block_sum += w[i] * x[i];
        sum += block_sum;
    }
    return sum;
}

static int shape_ok(slm_quant_type type, int n_in, int n_out) {
    size_t per = slm_quant_block_elements(type);
    return per && n_in > 0 && (size_t)n_in % per == 0 && n_out >= 0;
}

int slm_quant_matvec_reference(slm_quant_type type, const void *W, int n_in, int n_out, const float *x, float *y) {
    if (!shape_ok(type, n_in, n_out)) return -1;
    size_t row_bytes = slm_quant_row_bytes(type, (size_t)n_in);
    for (int r = 0; r < n_out; r++)
        y[r] = slm_quant_dot(type, (const uint8_t *)W + (size_t)r * row_bytes, x, (size_t)n_in);
    return 0;
}

/* ---- activations ---------------------------------------------------------- */

size_t slm_quant_act_bytes(slm_quant_type type, int n_in) {
    if (!shape_ok(type, n_in, 0)) return 0;
    size_t groups = ((size_t)n_in / QK + ACT_GROUP_BLOCKS - 1) / ACT_GROUP_BLOCKS;
    switch (type) {
    case SLM_QUANT_Q4_0: return groups * ACT_Q4_0_RECORD;
    case SLM_QUANT_Q8_0: return groups * ACT_Q8_0_RECORD;
    case SLM_QUANT_Q4_K:
    case SLM_QUANT_Q6_K: return (size_t)n_in / QK_K * ACT_K_RECORD;
    }
    return 0;
}

/* round(v) half away from zero, as roundf, for |v| <= 127.5 (the caller's range):
 * inline, where roundf and fmaxf are library calls at the baseline ISA, and those
 * calls were ~7% of a Phi-1.5 Q4_0 decode step. A NaN gives 0. */
static int8_t round_to_int8(float v) {
    if (!(v == v)) return 0;
    v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
    int i = (int)v;             /* truncated toward zero */
    float frac = v - (float)i;  /* exact: |v| < 2^23 */
    return (int8_t)(i + (frac >= 0.5f) - (frac <= -0.5f));
}

/* q (n) = round(x / d) with d = amax / 127 (returned), rounded half away from zero
 * as the Q8_0 weight quantizer rounds, so |x - d q| <= d / 2 per element. */
float quant_block_8bit_scalar(const float *x, int8_t *q, int n) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    float d = amax / 127.0f, inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < n; i++) q[i] = round_to_int8(x[i] * inv_d);
    return d;
}

static void store_i32(uint8_t *p, int32_t v) { memcpy(p, &v, sizeof v); }
static void store_f32(uint8_t *p, float v) { memcpy(p, &v, sizeof v); }

/* One Q4_0 / Q8_0 record from the blocks of x (n_blocks <= 4); see quant_impl.h. */
static void act_group(quant_block_fn quantize, slm_quant_type type, const float *x, int n_blocks, uint8_t *rec) {
    int8_t q[ACT_GROUP_BLOCKS * QK] = {0};
    float dx[ACT_GROUP_BLOCKS] = {0};
    for (int k = 0; k < n_blocks; k++) dx[k] = quantize(x + QK * k, q + QK * k, QK);
    memset(rec, 0, type == SLM_QUANT_Q4_0 ? ACT_Q4_0_RECORD : ACT_Q8_0_RECORD);
    int8_t *out = (int8_t *)rec;
    if (type == SLM_QUANT_Q8_0) {
        memcpy(out, q, sizeof q);
        for (int k = 0; k < ACT_GROUP_BLOCKS; k++) {
            int32_t sum = 0;
            for (int i = 0; i < QK; i++) sum += out[QK * k + i];
            store_i32(rec + ACT_Q8_0_CORR + 4 * k, -128 * sum);
            store_f32(rec + ACT_Q8_0_DX + 4 * k, dx[k]);
        }
        return;
    }
    for (int k = 0; k < ACT_GROUP_BLOCKS; k++) {
        memcpy(out + 16 * k, q + QK * k, 16);
        memcpy(out + 64 + 16 * k, q + QK * k + 16, 16);
    }
    for (int k = 0; k < ACT_GROUP_BLOCKS; k++) {
        int32_t sum = 0;
        for (int i = 0; i < QK; i++) sum += q[QK * k + i];
        store_i32(rec + ACT_Q4_0_CORR + 4 * k, -8 * sum);
        store_f32(rec + ACT_Q4_0_DX + 4 * k, dx[k]);
    }
}

/* One k-quant record from 256 inputs. */
static void act_super_block(quant_block_fn quantize, slm_quant_type type, const float *x, uint8_t *rec) {
    int8_t q[QK_K];
    float dx = quantize(x, q, QK_K);
    memset(rec, 0, ACT_K_RECORD);
    int16_t bsum[16] = {0};
    if (type == SLM_QUANT_Q6_K) {
        memcpy(rec, q, QK_K);
        for (int i = 0; i < QK_K; i++) bsum[i / 16] = (int16_t)(bsum[i / 16] + q[i]);
    } else {
        for (int s = 0; s < 8; s++) memcpy(rec + quant_q4_K_act_offset(s), q + 32 * s, 32);
        for (int i = 0; i < QK_K; i++) bsum[i / 32] = (int16_t)(bsum[i / 32] + q[i]);
    }
    memcpy(rec + ACT_K_BSUM, bsum, sizeof bsum);
    store_f32(rec + ACT_K_DX, dx);
}

static void quantize_activations(quant_block_fn quantize, slm_quant_type type, const float *x, int n_in,
                                 uint8_t *rec) {
    if (type == SLM_QUANT_Q4_K || type == SLM_QUANT_Q6_K) {
        for (int i = 0; i < n_in; i += QK_K, rec += ACT_K_RECORD) act_super_block(quantize, type, x + i, rec);
        return;
    }
    int nb = n_in / QK, record = type == SLM_QUANT_Q4_0 ? ACT_Q4_0_RECORD : ACT_Q8_0_RECORD;
    for (int b = 0; b < nb; b += ACT_GROUP_BLOCKS, rec += record) {
        int n_blocks = nb - b < ACT_GROUP_BLOCKS ? nb - b : ACT_GROUP_BLOCKS;
        act_group(quantize, type, x + (size_t)b * QK, n_blocks, rec);
    }
}

/* ---- which kernel --------------------------------------------------------- */

#if QUANT_X86
/* F16C from CPUID leaf 1 (ECX bit 29), asked once: CPUID traps to the hypervisor in a VM. */
static int cpu_has_f16c(void) {
    static atomic_int known = -1;
    int has = atomic_load_explicit(&known, memory_order_relaxed);
    if (has < 0) {
        unsigned eax, ebx, ecx, edx;
        has = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
        atomic_store_explicit(&known, has, memory_order_relaxed);
    }
    return has;
}
#endif

static int cpu_runs(const char *isa) {
#if QUANT_X86
    int avx2 = cpu_has_f16c() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0)
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("gfni");
    if (strcmp(isa, "avx2") == 0) return avx2;
#endif
    return strcmp(isa, "scalar") == 0;
}

typedef int (*rows_kernel)(slm_quant_type type, const quant_rows_job *job);

static rows_kernel kernel_for(const char *isa) {
#if QUANT_X86
    if (strcmp(isa, "avx512") == 0) return quant_rows_avx512;
    if (strcmp(isa, "avx2") == 0) return quant_rows_avx2;
#endif
    (void)isa;
    return quant_rows_scalar;
}

static const char *const isa_order[] = {"avx512", "avx2", "scalar"};

/* The index in isa_order of the best ISA here, found once (a read-once feature cache). */
static int best_isa(void) {
    static atomic_int known = -1;
    int best = atomic_load_explicit(&known, memory_order_relaxed);
    if (best < 0) {
        best = 2;
        for (int i = 0; i < 2 && best == 2; i++)
            if (cpu_runs(isa_order[i])) best = i;
        atomic_store_explicit(&known, best, memory_order_relaxed);
    }
    return best;
}

const char *slm_quant_isa(void) { return isa_order[best_isa()]; }

static int rows_args_ok(slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act, const float *y) {
    return shape_ok(type, n_in, 0) && 0 <= r0 && r0 <= r1 && (r0 == r1 || (W && act && y));
}

/* Rows [r0, r1) against n_act activation rows, SLM_QUANT_MULTI_MAX at a time. */
static int run_rows_multi(rows_kernel kernel, slm_quant_type type, const void *W, int n_in, int r0, int r1,
                          const void *act, size_t act_stride, int n_act, float *y, size_t y_stride) {
    quant_rows_job job = {W, slm_quant_row_bytes(type, (size_t)n_in), n_in, r0, r1, act, y, act_stride, y_stride, 1};
    for (int t = 0; t < n_act && r0 < r1; t += SLM_QUANT_MULTI_MAX) {
        job.act = (const uint8_t *)act + (size_t)t * act_stride;
        job.y = y + (size_t)t * y_stride;
        job.n_act = n_act - t < SLM_QUANT_MULTI_MAX ? n_act - t : SLM_QUANT_MULTI_MAX;
        if (kernel(type, &job) != 0) return -1;
    }
    return 0;
}

static int run_rows(rows_kernel kernel, slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act,
                    float *y) {
    return run_rows_multi(kernel, type, W, n_in, r0, r1, act, 0, 1, y, 0);
}

static rows_kernel best_kernel(void) {
    static const rows_kernel kernels[] = {
#if QUANT_X86
        quant_rows_avx512,
        quant_rows_avx2,
#else
        quant_rows_scalar,
        quant_rows_scalar,
#endif
        quant_rows_scalar
    };
    return kernels[best_isa()];
}

static quant_block_fn block_quantizer_for(const char *isa) {
#if QUANT_X86
    if (strcmp(isa, "avx512") == 0) return quant_block_8bit_avx512;
    if (strcmp(isa, "avx2") == 0) return quant_block_8bit_avx2;
#endif
    (void)isa;
    return quant_block_8bit_scalar;
}

/* The best ISA's quantizer, by best_isa()'s index: no name comparisons or CPU
 * queries on a path run for every input row of every matmul. */
int slm_quant_activations(slm_quant_type type, const float *x, int n_in, void *act) {
    static const quant_block_fn quantizers[] = {
#if QUANT_X86
        quant_block_8bit_avx512,
        quant_block_8bit_avx2,
#else
        quant_block_8bit_scalar,
        quant_block_8bit_scalar,
#endif
        quant_block_8bit_scalar
    };
    if (!slm_quant_act_bytes(type, n_in)) return -1;
    quantize_activations(quantizers[best_isa()], type, x, n_in, act);
    return 0;
}

int slm_quant_activations_with(const char *isa, slm_quant_type type, const float *x, int n_in, void *act) {
    if (!isa || !cpu_runs(isa) || !slm_quant_act_bytes(type, n_in)) return -1;
    quantize_activations(block_quantizer_for(isa), type, x, n_in, act);
    return 0;
}

void slm_quant_rows(slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act, float *y) {
    if (!rows_args_ok(type, W, n_in, r0, r1, act, y)) {
        if (y && 0 <= r0 && r0 <= r1)
            for (int r = r0; r < r1; r++) y[r] = NAN;
        return;
    }
    run_rows(best_kernel(), type, W, n_in, r0, r1, act, y);
}

int slm_quant_rows_with(const char *isa, slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act,
                        float *y) {
    if (!isa || !cpu_runs(isa) || !rows_args_ok(type, W, n_in, r0, r1, act, y)) return -1;
    return run_rows(kernel_for(isa), type, W, n_in, r0, r1, act, y);
}

void slm_quant_rows_multi(slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act,
                          size_t act_stride, int n_act, float *y, size_t y_stride) {
    if (n_act <= 0) return;
    if (!rows_args_ok(type, W, n_in, r0, r1, act, y)) {
        if (y && 0 <= r0 && r0 <= r1)
            for (int t = 0; t < n_act; t++)
                for (int r = r0; r < r1; r++) y[(size_t)t * y_stride + (size_t)r] = NAN;
        return;
    }
    run_rows_multi(best_kernel(), type, W, n_in, r0, r1, act, act_stride, n_act, y, y_stride);
}

int slm_quant_rows_multi_with(const char *isa, slm_quant_type type, const void *W, int n_in, int r0, int r1,
                              const void *act, size_t act_stride, int n_act, float *y, size_t y_stride) {
    if (!isa || !cpu_runs(isa) || n_act < 0 || !rows_args_ok(type, W, n_in, r0, r1, act, y)) return -1;
    return run_rows_multi(kernel_for(isa), type, W, n_in, r0, r1, act, act_stride, n_act, y, y_stride);
}

/* ---- matvec: activations + rows ------------------------------------------- */

/* Activations live on the stack up to this many bytes (8192 inputs of Q4_0 or Q8_0, the largest records). */
#define STACK_ACT_BYTES (8192 / 128 * ACT_Q4_0_RECORD)

int slm_quant_matvec_with(const char *isa, slm_quant_type type, const void *W, int n_in, int n_out, const float *x,
                          float *y) {
    if (!shape_ok(type, n_in, n_out) || !isa || !cpu_runs(isa)) return -1;
    size_t act_bytes = slm_quant_act_bytes(type, n_in);
    _Alignas(64) uint8_t stack_act[STACK_ACT_BYTES];
    uint8_t *act = act_bytes <= sizeof stack_act ? stack_act : malloc(act_bytes);
    if (!act) return -1;
    slm_quant_activations_with(isa, type, x, n_in, act);
    int rc = run_rows(kernel_for(isa), type, W, n_in, 0, n_out, act, y);
    if (act != stack_act) free(act);
    return rc;
}

int slm_quant_matvec(slm_quant_type type, const void *W, int n_in, int n_out, const float *x, float *y) {
    return slm_quant_matvec_with(slm_quant_isa(), type, W, n_in, n_out, x, y);
}
