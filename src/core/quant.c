/* quant.c — Q8_0 and Q4_0 weight blocks (ggml's byte layouts): quantize,
 * dequantize, the scalar reference dot, and the fast decode matvec that
 * quantizes the activations to 8 bits once and takes integer dot products.
 *
 * Every access to a weight block goes through bytes and memcpy: rows mapped
 * from a GGUF file need not be 2-byte aligned, and a block is 34 or 18 bytes. */
#include "core/quant.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define QUANT_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define QUANT_X86 0
#endif

#define Q8_0_BYTES (2 + SLM_QUANT_BLOCK)     /* f16 d, int8 q[32] */
#define Q4_0_BYTES (2 + SLM_QUANT_BLOCK / 2) /* f16 d, 16 bytes of nibbles */

size_t slm_quant_block_bytes(slm_quant_type type) {
    switch (type) {
    case SLM_QUANT_Q8_0: return Q8_0_BYTES;
    case SLM_QUANT_Q4_0: return Q4_0_BYTES;
    }
    return 0;
}

size_t slm_quant_row_bytes(slm_quant_type type, size_t n) {
    if (n % SLM_QUANT_BLOCK) return 0;
    return n / SLM_QUANT_BLOCK * slm_quant_block_bytes(type);
}

const char *slm_quant_type_name(slm_quant_type type) {
    switch (type) {
    case SLM_QUANT_Q8_0: return "q8_0";
    case SLM_QUANT_Q4_0: return "q4_0";
    }
    return "?";
}

static float block_scale(const uint8_t *block) {
    uint16_t h;
    memcpy(&h, block, sizeof h);
    return slm_f16_to_f32(h);
}

static void set_block_scale(uint8_t *block, float d) {
    uint16_t h = slm_f32_to_f16(d);
    memcpy(block, &h, sizeof h);
}

/* ---- quantize / dequantize (ggml's reference rounding) ------------------ */

/* d = amax / 127, q = round(x / d) (half away from zero), computed as x * (1/d) in f32. */
static void quantize_block_q8_0(const float *x, uint8_t *block) {
    float amax = 0.0f;
    for (int i = 0; i < SLM_QUANT_BLOCK; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f;
    float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    set_block_scale(block, d);
    for (int i = 0; i < SLM_QUANT_BLOCK; i++) block[2 + i] = (uint8_t)(int8_t)roundf(x[i] * inv_d);
}

/* d = max / -8 where max is the value (with its sign) of largest magnitude, so
 * that value lands exactly on q - 8 = -8 and the 16 levels -8..7 are used in full;
 * q = min(15, trunc(x / d + 8.5)). x / d lies in [-8, 8], so the cast is in range. */
static void quantize_block_q4_0(const float *x, uint8_t *block) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < SLM_QUANT_BLOCK; i++)
        if (amax < fabsf(x[i])) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    float d = max / -8.0f;
    float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    set_block_scale(block, d);
    const int half = SLM_QUANT_BLOCK / 2;
    for (int j = 0; j < half; j++) {
        int lo = (int)(x[j] * inv_d + 8.5f), hi = (int)(x[j + half] * inv_d + 8.5f);
        if (lo > 15) lo = 15;
        if (hi > 15) hi = 15;
        block[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

/* w (32) = the weights of one block as integers: d * w[i] is the weight. */
static float block_integers(slm_quant_type type, const uint8_t *block, int8_t *w) {
    if (type == SLM_QUANT_Q8_0) {
        memcpy(w, block + 2, SLM_QUANT_BLOCK);
    } else {
        for (int j = 0; j < SLM_QUANT_BLOCK / 2; j++) {
            w[j] = (int8_t)((block[2 + j] & 0x0F) - 8);
            w[j + SLM_QUANT_BLOCK / 2] = (int8_t)((block[2 + j] >> 4) - 8);
        }
    }
    return block_scale(block);
}

int slm_quantize_row(slm_quant_type type, const float *x, void *out, size_t n) {
    size_t block_bytes = slm_quant_block_bytes(type);
    if (!block_bytes || n % SLM_QUANT_BLOCK) return -1;
    uint8_t *block = out;
    for (size_t b = 0; b < n / SLM_QUANT_BLOCK; b++, block += block_bytes) {
        if (type == SLM_QUANT_Q8_0)
            quantize_block_q8_0(x + b * SLM_QUANT_BLOCK, block);
        else
            quantize_block_q4_0(x + b * SLM_QUANT_BLOCK, block);
    }
    return 0;
}

int slm_dequantize_row(slm_quant_type type, const void *in, float *out, size_t n) {
    size_t block_bytes = slm_quant_block_bytes(type);
    if (!block_bytes || n % SLM_QUANT_BLOCK) return -1;
    const uint8_t *block = in;
    int8_t w[SLM_QUANT_BLOCK];
    for (size_t b = 0; b < n / SLM_QUANT_BLOCK; b++, block += block_bytes) {
        float d = block_integers(type, block, w);
        for (int i = 0; i < SLM_QUANT_BLOCK; i++) out[b * SLM_QUANT_BLOCK + i] = d * (float)w[i];
    }
    return 0;
}

/* ---- the scalar reference ----------------------------------------------- */

float slm_quant_dot(slm_quant_type type, const void *w_row, const float *x, size_t n) {
    size_t block_bytes = slm_quant_block_bytes(type);
    if (!block_bytes || n % SLM_QUANT_BLOCK) return NAN;
    const uint8_t *block = w_row;
    int8_t w[SLM_QUANT_BLOCK];
    float sum = 0.0f;
    for (size_t b = 0; b < n / SLM_QUANT_BLOCK; b++, block += block_bytes) {
        float d = block_integers(type, block, w);
        float block_sum = 0.0f;
        for (int i = 0; i < SLM_QUANT_BLOCK; i++) block_sum += (float)w[i] * x[b * SLM_QUANT_BLOCK + i];
        sum += d * block_sum;
    }
    return sum;
}

static int shape_ok(slm_quant_type type, int n_in, int n_out) {
    return slm_quant_block_bytes(type) && n_in > 0 && n_in % SLM_QUANT_BLOCK == 0 && n_out >= 0;
}

int slm_quant_matvec_reference(slm_quant_type type, const void *W, int n_in, int n_out, const float *x,
                               float *y) {
    if (!shape_ok(type, n_in, n_out)) return -1;
    size_t row_bytes = slm_quant_row_bytes(type, (size_t)n_in);
    for (int r = 0; r < n_out; r++) y[r] = slm_quant_dot(type, (const uint8_t *)W + (size_t)r * row_bytes, x, (size_t)n_in);
    return 0;
}

/* ---- the fast path: 8-bit activations, integer dot products ------------- */

/* One block of x: x[i] ~= d * q[i], d = amax / 127 in f32 (ggml's Q8 activations keep
 * d in f16; f32 here removes that rounding from the error at no cost). */
typedef struct {
    float d;
    int8_t q[SLM_QUANT_BLOCK];
} q8_activations;

/* The weights (n_out rows of row_bytes, nb blocks each) and the quantized x (nb blocks). */
typedef struct {
    slm_quant_type type;
    const uint8_t *W;
    size_t row_bytes;
    int nb, n_out;
    const q8_activations *xq;
    float *y;
} quant_matvec_problem;

/* Rounded as the Q8_0 weight quantizer rounds, so |x - d q| <= d / 2 per element. */
static void quantize_activations(const float *x, q8_activations *xq, int nb) {
    for (int b = 0; b < nb; b++, x += SLM_QUANT_BLOCK) {
        float amax = 0.0f;
        for (int i = 0; i < SLM_QUANT_BLOCK; i++) amax = fmaxf(amax, fabsf(x[i]));
        float d = amax / 127.0f;
        float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
        xq[b].d = d;
        for (int i = 0; i < SLM_QUANT_BLOCK; i++) xq[b].q[i] = (int8_t)roundf(x[i] * inv_d);
    }
}

/* Plain C: exact integer sums per block, then f32 sum of scale * integer sum. */
static void matvec_scalar(const quant_matvec_problem *p) {
    int8_t w[SLM_QUANT_BLOCK];
    for (int r = 0; r < p->n_out; r++) {
        const uint8_t *block = p->W + (size_t)r * p->row_bytes;
        size_t block_bytes = slm_quant_block_bytes(p->type);
        float sum = 0.0f;
        for (int b = 0; b < p->nb; b++, block += block_bytes) {
            float d = block_integers(p->type, block, w);
            int32_t isum = 0;
            for (int i = 0; i < SLM_QUANT_BLOCK; i++) isum += (int32_t)w[i] * p->xq[b].q[i];
            sum += d * p->xq[b].d * (float)isum;
        }
        p->y[r] = sum;
    }
}

#if QUANT_X86
/* Helpers shared by both vector paths (inlined into each). */
#define QUANT_AVX2 "avx2,fma,f16c"
#define QUANT_AVX512 "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"

/* The 32 weights of a block as signed int8 (Q4_0: nibble - 8, element order restored). */
static inline __attribute__((always_inline, target(QUANT_AVX2))) __m256i
load_block_integers(slm_quant_type type, const uint8_t *block) {
    if (type == SLM_QUANT_Q8_0) return _mm256_loadu_si256((const __m256i *)(const void *)(block + 2));
    __m128i packed = _mm_loadu_si128((const __m128i *)(const void *)(block + 2));
    __m128i low = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
    __m128i high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
    return _mm256_sub_epi8(_mm256_set_m128i(high, low), _mm256_set1_epi8(8));
}

static inline __attribute__((always_inline, target(QUANT_AVX2))) float load_scale(const uint8_t *block) {
    uint16_t h;
    memcpy(&h, block, sizeof h);
    return _cvtsh_ss(h);
}

static inline __attribute__((always_inline, target(QUANT_AVX2))) float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Signed x signed int8 products go through the unsigned x signed instructions as
 * |w| * (x with w's sign); |w| <= 128 and |x| <= 127, so the AVX2 pair sums
 * (<= 2 * 128 * 127 = 32512) never saturate int16. */

/* rows (<= 4) rows from row r0: 8 int32 partial sums per block, scaled and summed in f32. */
static inline __attribute__((always_inline, target(QUANT_AVX2))) void
avx2_rows(const quant_matvec_problem *p, slm_quant_type type, int r0, int rows) {
    size_t block_bytes = type == SLM_QUANT_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < p->nb; b++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)p->xq[b].q);
        for (int k = 0; k < rows; k++) {
            const uint8_t *block = p->W + (size_t)(r0 + k) * p->row_bytes + (size_t)b * block_bytes;
            __m256i w = load_block_integers(type, block);
            __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xq, w));
            __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[k] = _mm256_fmadd_ps(sums, _mm256_set1_ps(load_scale(block) * p->xq[b].d), acc[k]);
        }
    }
    for (int k = 0; k < rows; k++) p->y[r0 + k] = hsum256(acc[k]);
}

static inline __attribute__((always_inline, target(QUANT_AVX2))) void avx2_all(const quant_matvec_problem *p,
                                                                               slm_quant_type type) {
    int r = 0;
    for (; r + 4 <= p->n_out; r += 4) avx2_rows(p, type, r, 4);
    for (; r < p->n_out; r++) avx2_rows(p, type, r, 1);
}

__attribute__((target(QUANT_AVX2))) static void matvec_avx2(const quant_matvec_problem *p) {
    if (p->type == SLM_QUANT_Q8_0)
        avx2_all(p, SLM_QUANT_Q8_0);
    else
        avx2_all(p, SLM_QUANT_Q4_0);
}

/* As avx2_rows, with one VNNI dpbusd doing the multiply and the two adds. */
static inline __attribute__((always_inline, target(QUANT_AVX512))) void
avx512_rows(const quant_matvec_problem *p, slm_quant_type type, int r0, int rows) {
    size_t block_bytes = type == SLM_QUANT_Q8_0 ? Q8_0_BYTES : Q4_0_BYTES;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int b = 0; b < p->nb; b++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)(const void *)p->xq[b].q);
        for (int k = 0; k < rows; k++) {
            const uint8_t *block = p->W + (size_t)(r0 + k) * p->row_bytes + (size_t)b * block_bytes;
            __m256i w = load_block_integers(type, block);
            __m256i isums =
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(w), _mm256_sign_epi8(xq, w));
            acc[k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isums), _mm256_set1_ps(load_scale(block) * p->xq[b].d),
                                     acc[k]);
        }
    }
    for (int k = 0; k < rows; k++) p->y[r0 + k] = hsum256(acc[k]);
}

static inline __attribute__((always_inline, target(QUANT_AVX512))) void
avx512_all(const quant_matvec_problem *p, slm_quant_type type) {
    int r = 0;
    for (; r + 4 <= p->n_out; r += 4) avx512_rows(p, type, r, 4);
    for (; r < p->n_out; r++) avx512_rows(p, type, r, 1);
}

__attribute__((target(QUANT_AVX512))) static void matvec_avx512(const quant_matvec_problem *p) {
    if (p->type == SLM_QUANT_Q8_0)
        avx512_all(p, SLM_QUANT_Q8_0);
    else
        avx512_all(p, SLM_QUANT_Q4_0);
}

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
    if (strcmp(isa, "avx512") == 0)
        return cpu_has_f16c() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    if (strcmp(isa, "avx2") == 0)
        return cpu_has_f16c() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(isa, "scalar") == 0;
}

const char *slm_quant_isa(void) {
    static const char *const order[] = {"avx512", "avx2", "scalar"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (cpu_runs(order[i])) return order[i];
    return "scalar";
}

/* Quantized x lives on the stack up to this many blocks (8192 inputs, ~9 KiB). */
#define STACK_BLOCKS 256

int slm_quant_matvec_with(const char *isa, slm_quant_type type, const void *W, int n_in, int n_out,
                          const float *x, float *y) {
    if (!shape_ok(type, n_in, n_out) || !isa || !cpu_runs(isa)) return -1;
    void (*kernel)(const quant_matvec_problem *) = matvec_scalar;
#if QUANT_X86
    if (strcmp(isa, "avx512") == 0) kernel = matvec_avx512;
    if (strcmp(isa, "avx2") == 0) kernel = matvec_avx2;
#endif
    int nb = n_in / SLM_QUANT_BLOCK;
    q8_activations stack_xq[STACK_BLOCKS];
    q8_activations *xq = nb <= STACK_BLOCKS ? stack_xq : malloc((size_t)nb * sizeof *xq);
    if (!xq) return -1;
    quantize_activations(x, xq, nb);
    quant_matvec_problem p = {type, W, slm_quant_row_bytes(type, (size_t)n_in), nb, n_out, xq, y};
    kernel(&p);
    if (xq != stack_xq) free(xq);
    return 0;
}

int slm_quant_matvec(slm_quant_type type, const void *W, int n_in, int n_out, const float *x, float *y) {
    return slm_quant_matvec_with(slm_quant_isa(), type, W, n_in, n_out, x, y);
}
