/* test_quant.c — Q4_0 / Q8_0 / Q4_K / Q6_K blocks and the quantized row kernels
 * (src/core/quant*.c).
 *
 * Expected values come from three places, never from the code under test:
 *  - hand-built blocks whose bytes and dequantized values are worked out in the
 *    comments (the f16 bits, integers and products are literals here);
 *  - ggml itself: tests/data/quant/ holds the bytes ggml's reference quantizers
 *    wrote for the inputs reference_input() regenerates, and ggml's dequantization
 *    of pseudo-random k-quant blocks (see PROVENANCE.md there);
 *  - error bounds derived below, checked per element or per row.
 *
 * Round trip bounds, per element, with d the f32 scale the quantizer computed and
 * d16 the f16 it stored:
 *   Q8_0: q = round(x / d), |x / d| <= 127, so |x - d q| <= d / 2; storing d16
 *         adds |d - d16| * |q| <= 127 |d - d16|.
 *   Q4_0: d = max / -8 puts x / d in [-8, 8] and q - 8 = floor(x / d + 0.5) (the
 *         nearest level) except where x / d > 7.5, clamped to level 7: there the
 *         error is up to one whole step, |d|. So |x - d (q - 8)| <= |d| / 2, or |d|
 *         where x / d > 7.5; storing d16 adds 8 |d - d16|.
 *   Both get 1e-6 * amax more for the f32 x * (1 / d) the quantizers compute.
 *   Q4_K, sub-block s of 32 with stored super-scales D, Dm and 6-bit sc_s, m_s: the
 *     grid is w = D sc_s q - Dm m_s, q = 0..15, step g = D sc_s, and the last step of
 *     the quantizer rounds x to the nearest grid point, so (1) |x - w| <= g / 2 when x
 *     lies within half a step of the grid, else w is the end of the grid nearest x.
 *     (2) The grid fits the data: a plain grid over [min(x, 0), max(x)] has step
 *     R / 15 (R = max(x, 0) - min(x, 0)) and error R / 30; the least-squares refit
 *     trades the largest error for the weighted mean square, allowed here as another
 *     R / 30; rounding the sub-block's scale to 6 bits against the block's largest
 *     moves g by up to D / 2 (the level q by 15 D / 2) and its min by up to Dm / 2;
 *     f16 storage of D and Dm is 2^-11 relative, or up to 2^-25 absolute where they
 *     fall below f16's normal range (tiny weights: D may even round to 0), times
 *     sc q <= 945 and m <= 63. So
 *     |x - w| <= R / 15 + 7.5 D + 0.5 Dm + 2^-10 (|x| + 63 Dm) + 1008 * 2^-25.
 *   Q6_K, sub-block k of 16 with stored D and int8 sc_k: grid w = D sc_k (q - 32),
 *     q = 0..63, step g = |D sc_k|; (1) as for Q4_K, with levels -32..31. (2) The
 *     element of largest magnitude a lands on level -32 of the first grid (step
 *     a / 32, error a / 64), 18 grid densities within 32 +- 0.9 levels are tried and
 *     refitted, so the step stays within a few % of a / 32: allowed as a / 32; the
 *     int8 rounding of the scale against the block's largest (which lands on -128)
 *     moves g by up to |D| / 2, i.e. the extreme level by 32 |D| / 2; f16 storage of D
 *     adds 2^-11 relative or 2^-25 absolute, times |sc (q - 32)| <= 4096. So
 *     |x - w| <= a / 32 + 16 |D| + 2^-10 |x| + 4096 * 2^-25.
 *
 * Fast rows vs the reference: the fast path replaces x_i by dx q_i with
 * |x_i - dx q_i| <= dx / 2, dx = amax(x) / 127 over the activation block (32 for
 * Q4_0/Q8_0, 256 for the k-quants), and takes exact integer sums; so per row
 * |fast - ref| <= sum_blocks dx / 2 * sum_block |w_i|, plus f32 rounding of the
 * sums, allowed as 1e-5 * sum_i |x_i| (|w_i| + c_i) + 1e-6, where c_i = Dm m_s is
 * the Q4_K min the reference subtracts inside w_i (0 for the others). Every ISA this
 * CPU runs is tried, with odd row ranges (nothing written outside them), n_in past the
 * on-stack scratch and a partial last group of 4 blocks (n_in not a multiple of 128). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/quant.h"
#include "core/tensor.h"

static const slm_quant_type all_types[] = {SLM_QUANT_Q4_0, SLM_QUANT_Q8_0, SLM_QUANT_Q4_K, SLM_QUANT_Q6_K};
static const char *const all_isas[] = {"scalar", "avx2", "avx512"};

static float uniform(uint64_t *s) { /* in [-1, 1) */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((*s >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float bell(uint64_t *s) { return (uniform(s) + uniform(s) + uniform(s)) * 0.6f; }

static uint16_t f16_bits(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return h;
}

static float f16_at(const uint8_t *p) { return slm_f16_to_f32(f16_bits(p)); }

static int read_file(const char *rel, void *buf, size_t bytes) {
    char path[512];
    FILE *f = fopen(test_path(path, sizeof path, rel), "rb");
    if (!f) return -1;
    size_t got = fread(buf, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    return got == bytes && !extra ? 0 : -1;
}

/* ---- the inputs of tests/data/quant (a copy of make_ggml_reference.c's) ------- */

enum { REF_SUPER = 12, REF_N = 256 * REF_SUPER, REF_RANDOM = 2 };

static void reference_input(float *x) {
    static const float sub_scale[8] = {1e-3f, 1e-2f, 0.1f, 1.0f, 10.0f, 0.5f, 0.05f, 5.0f};
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (int b = 0; b < REF_SUPER; b++) {
        float *xb = x + 256 * b;
        for (int i = 0; i < 256; i++) {
            float v = bell(&s);
            switch (b) {
            case 0: xb[i] = v; break;
            case 1: xb[i] = 0.02f * v; break;
            case 2: xb[i] = 0.5f + 0.25f * (uniform(&s) + 1.0f); break;
            case 3: xb[i] = -0.5f - 0.25f * (uniform(&s) + 1.0f); break;
            case 4: xb[i] = i == 37 ? 40.0f : i == 200 ? -25.0f : v; break;
            case 5: xb[i] = 0.0f; break;
            case 6: xb[i] = 0.3f; break;
            case 7: xb[i] = 1e-6f * v; break;
            case 8: xb[i] = sub_scale[i / 32] * v; break;
            case 9: xb[i] = i % 7 == 0 ? v : 0.0f; break;
            case 10: xb[i] = 3.0f * uniform(&s); break;
            default: xb[i] = 1000.0f * v; break;
            }
        }
    }
}

static void random_blocks(uint8_t *out, int n, int block_bytes, int d_offset, int dmin_offset) {
    static const uint16_t d_bits[2] = {0x3C00, 0x2E66}, dmin_bits[2] = {0x3800, 0x2A3B};
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n * block_bytes; i++) out[i] = (uint8_t)((uniform(&s) + 1.0f) * 128.0f);
    for (int b = 0; b < n; b++) {
        memcpy(out + b * block_bytes + d_offset, &d_bits[b % 2], 2);
        if (dmin_offset >= 0) memcpy(out + b * block_bytes + dmin_offset, &dmin_bits[b % 2], 2);
    }
}

/* ---- the k-quant layouts, decoded here from their definition (quant.h) ------- */

/* Scale and min of Q4_K sub-block j from the 12 packed bytes. */
static void q4_K_scale_min(const uint8_t *p, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = p[j] & 63;
        *m = p[j + 4] & 63;
    } else {
        *sc = (p[j + 4] & 15) | (p[j - 4] >> 6) << 4;
        *m = (p[j + 4] >> 4) | (p[j] >> 6) << 4;
    }
}

/* The 4-bit level of Q4_K element i. */
static int q4_K_level(const uint8_t *block, int i) {
    uint8_t byte = block[16 + 32 * (i / 64) + i % 32];
    return i % 64 < 32 ? byte & 15 : byte >> 4;
}

/* The 6-bit level (before -32) of Q6_K element i. */
static int q6_K_level(const uint8_t *block, int i) {
    int h = i / 128, l = i % 32, quarter = i % 128 / 32;
    uint8_t ql = block[64 * h + 32 * (quarter % 2) + l], qh = block[128 + 32 * h + l];
    return (quarter < 2 ? ql & 15 : ql >> 4) | ((qh >> (2 * quarter)) & 3) << 4;
}

/* ---- sizes and rejects ----------------------------------------------------- */

static void test_sizes(void) {
    CHECK(slm_quant_block_elements(SLM_QUANT_Q4_0) == 32 && slm_quant_block_elements(SLM_QUANT_Q8_0) == 32, "32");
    CHECK(slm_quant_block_elements(SLM_QUANT_Q4_K) == 256 && slm_quant_block_elements(SLM_QUANT_Q6_K) == 256, "256");
    CHECK(slm_quant_block_elements((slm_quant_type)3) == 0, "unknown type has no block");
    /* ggml's sizeof(block_*): 2 + 32, 2 + 16, 2 + 2 + 12 + 128, 128 + 64 + 16 + 2 */
    CHECK(slm_quant_block_bytes(SLM_QUANT_Q8_0) == 34, "q8_0 block bytes");
    CHECK(slm_quant_block_bytes(SLM_QUANT_Q4_0) == 18, "q4_0 block bytes");
    CHECK(slm_quant_block_bytes(SLM_QUANT_Q4_K) == 144, "q4_K block bytes");
    CHECK(slm_quant_block_bytes(SLM_QUANT_Q6_K) == 210, "q6_K block bytes");
    CHECK(slm_quant_block_bytes((slm_quant_type)3) == 0, "unknown type");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q8_0, 64) == 68, "q8_0 row bytes");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q4_0, 96) == 54, "q4_0 row bytes");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q4_K, 2048) == 8 * 144, "q4_K row bytes");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q6_K, 512) == 420, "q6_K row bytes");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q8_0, 33) == 0, "row of 33 rejected");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q4_K, 128) == 0 && slm_quant_row_bytes(SLM_QUANT_Q6_K, 288) == 0,
          "k-quant rows not a multiple of 256 rejected");
    CHECK(strcmp(slm_quant_type_name(SLM_QUANT_Q4_0), "q4_0") == 0 &&
              strcmp(slm_quant_type_name(SLM_QUANT_Q6_K), "q6_k") == 0,
          "names");
    for (size_t t = 0; t < 4; t++) {
        size_t a = slm_quant_act_bytes(all_types[t], 768);
        CHECK(all_types[t] == SLM_QUANT_Q4_K || all_types[t] == SLM_QUANT_Q6_K || a > 0, "act bytes");
        CHECK(a % 64 == 0, "act bytes %zu a multiple of 64", a);
    }
    CHECK(slm_quant_act_bytes(SLM_QUANT_Q4_K, 768) > 0 && slm_quant_act_bytes(SLM_QUANT_Q4_K, 640) == 0, "act 256s");
    /* Q4_0's record is as compact as Q8_0's (quant_impl.h: 128 int8, 4 corrections, 4
     * scales, padded to 192 bytes per 128 inputs): its old per-lane 256 bytes made the
     * decode kernels slower from DRAM. */
    CHECK(slm_quant_act_bytes(SLM_QUANT_Q4_0, 8192) == 8192 / 128 * 192 &&
              slm_quant_act_bytes(SLM_QUANT_Q4_0, 96) == slm_quant_act_bytes(SLM_QUANT_Q8_0, 96),
          "q4_0 act bytes %zu", slm_quant_act_bytes(SLM_QUANT_Q4_0, 8192));
    CHECK(strcmp(slm_quant_isa(), "avx512") == 0 || strcmp(slm_quant_isa(), "avx2") == 0 ||
              strcmp(slm_quant_isa(), "scalar") == 0,
          "isa %s", slm_quant_isa());
}

static void test_rejects(void) {
    float x[512] = {1.0f}, y[4] = {7.0f, 7.0f, 7.0f, 7.0f};
    static uint8_t buf[2048];
    memset(buf, 0x5A, sizeof buf);
    CHECK(slm_quantize_row(SLM_QUANT_Q8_0, x, buf, 33) == -1, "quantize 33");
    CHECK(slm_quantize_row(SLM_QUANT_Q4_K, x, buf, 128) == -1, "quantize q4_K 128");
    CHECK(slm_quantize_row(SLM_QUANT_Q6_K, x, buf, 300) == -1, "quantize q6_K 300");
    CHECK(slm_quantize_row((slm_quant_type)3, x, buf, 32) == -1, "quantize unknown type");
    CHECK(buf[0] == 0x5A && buf[2047] == 0x5A, "rejected quantize wrote nothing");
    CHECK(slm_dequantize_row(SLM_QUANT_Q4_0, buf, x, 48) == -1, "dequantize 48");
    CHECK(slm_dequantize_row(SLM_QUANT_Q6_K, buf, x, 32) == -1, "dequantize q6_K 32");
    CHECK(isnan(slm_quant_dot(SLM_QUANT_Q8_0, buf, x, 40)), "dot 40 is NaN");
    CHECK(isnan(slm_quant_dot(SLM_QUANT_Q4_K, buf, x, 64)), "q4_K dot 64 is NaN");
    CHECK(slm_quant_matvec(SLM_QUANT_Q8_0, buf, 33, 1, x, y) == -1, "matvec n_in 33");
    CHECK(slm_quant_matvec(SLM_QUANT_Q4_K, buf, 32, 1, x, y) == -1, "q4_K matvec n_in 32");
    CHECK(slm_quant_matvec(SLM_QUANT_Q4_0, buf, 0, 1, x, y) == -1, "matvec n_in 0");
    CHECK(slm_quant_matvec(SLM_QUANT_Q4_0, buf, 32, -1, x, y) == -1, "matvec n_out -1");
    CHECK(slm_quant_matvec_reference(SLM_QUANT_Q8_0, buf, 31, 1, x, y) == -1, "reference n_in 31");
    CHECK(slm_quant_matvec_with("bogus", SLM_QUANT_Q8_0, buf, 32, 1, x, y) == -1, "unknown isa");
    CHECK(y[0] == 7.0f, "rejected matvec wrote nothing");
    CHECK(slm_quant_matvec(SLM_QUANT_Q8_0, buf, 32, 0, x, y) == 0, "n_out 0 is an empty product");

    static uint8_t act[4096];
    CHECK(slm_quant_act_bytes(SLM_QUANT_Q6_K, 100) == 0 && slm_quant_act_bytes(SLM_QUANT_Q8_0, 0) == 0 &&
              slm_quant_act_bytes((slm_quant_type)3, 64) == 0,
          "act bytes of bad shapes");
    CHECK(slm_quant_activations(SLM_QUANT_Q4_K, x, 100, act) == -1, "activations q4_K 100");
    CHECK(slm_quant_rows_with("avx9", SLM_QUANT_Q8_0, buf, 32, 0, 1, act, y) == -1, "unknown isa for rows");
    CHECK(slm_quant_rows_with("scalar", SLM_QUANT_Q4_K, buf, 100, 0, 1, act, y) == -1, "rows n_in 100");
    CHECK(slm_quant_rows_with("scalar", SLM_QUANT_Q8_0, buf, 32, 2, 1, act, y) == -1, "rows r1 < r0");
    CHECK(y[0] == 7.0f && y[1] == 7.0f, "rejected rows wrote nothing");
    slm_quant_rows(SLM_QUANT_Q6_K, buf, 100, 1, 3, act, y);
    CHECK(y[0] == 7.0f && isnan(y[1]) && isnan(y[2]) && y[3] == 7.0f, "bad rows: NaN in [r0, r1) only");
    y[1] = y[2] = 7.0f;
    slm_quant_rows(SLM_QUANT_Q8_0, buf, 32, 3, 2, act, y);
    CHECK(y[1] == 7.0f && y[2] == 7.0f, "r1 < r0 writes nothing");
    CHECK(slm_quant_rows_with("scalar", SLM_QUANT_Q8_0, NULL, 32, 5, 5, NULL, NULL) == 0, "empty range");
}

/* ---- hand-built blocks ------------------------------------------------------ */

/* x_i = i / 8, i = 0..31. */
static void test_layout_q8_0(void) {
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)i / 8.0f;
    /* amax = 31/8, d = 31/8/127 = 0.0305118... = 2^-6 * 1.95276; f16 mantissa
     * round(0.95276 * 1024) = 976 = 0x3D0, exponent -6 + 15 = 9: 0x2400 | 0x3D0.
     * q_i = round(i/8 / d) = round(i * 127 / 31). */
    static const int8_t q[32] = {0,  4,  8,  12, 16, 20, 25, 29, 33, 37,  41,  45,  49,  53,  57,  61,
                                 66, 70, 74, 78, 82, 86, 90, 94, 98, 102, 107, 111, 115, 119, 123, 127};
    uint8_t block[34 + 1];
    block[34] = 0xAB; /* sentinel: nothing written past the block */
    CHECK(slm_quantize_row(SLM_QUANT_Q8_0, x, block, 32) == 0, "quantize");
    CHECK(f16_bits(block) == 0x27D0, "d bits 0x%04x", f16_bits(block));
    CHECK(memcmp(block + 2, q, 32) == 0, "q8_0 integers");
    CHECK(block[34] == 0xAB, "wrote past the block");

    float back[32];
    CHECK(slm_dequantize_row(SLM_QUANT_Q8_0, block, back, 32) == 0, "dequantize");
    float d16 = slm_f16_to_f32(0x27D0);
    int exact = 1;
    for (int i = 0; i < 32; i++) exact &= back[i] == d16 * (float)q[i];
    CHECK(exact, "dequantized = d16 * q");
}

static void test_layout_q4_0(void) {
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)i / 8.0f;
    /* max = +31/8, d = max / -8 = -31/64 = -2^-2 * 1.9375: f16 sign 0x8000, exponent
     * 13 << 10 = 0x3400, mantissa 0.9375 * 1024 = 960 = 0x3C0: 0xB7C0 (exact).
     * q_i = trunc(i/8 / d + 8.5) = trunc(8.5 - 8 i / 31):
     *   8 8 7 7 7 7 6 6 6 6 5 5 5 5 4 4 | 4 4 3 3 3 3 2 2 2 2 1 1 1 1 0 0
     * byte j = q_j | q_{j+16} << 4. */
    static const uint8_t nibbles[16] = {0x48, 0x48, 0x37, 0x37, 0x37, 0x37, 0x26, 0x26,
                                        0x26, 0x26, 0x15, 0x15, 0x15, 0x15, 0x04, 0x04};
    uint8_t block[18 + 1];
    block[18] = 0xAB;
    CHECK(slm_quantize_row(SLM_QUANT_Q4_0, x, block, 32) == 0, "quantize");
    CHECK(f16_bits(block) == 0xB7C0, "d bits 0x%04x", f16_bits(block));
    CHECK(memcmp(block + 2, nibbles, 16) == 0, "q4_0 nibbles");
    CHECK(block[18] == 0xAB, "wrote past the block");

    float back[32];
    CHECK(slm_dequantize_row(SLM_QUANT_Q4_0, block, back, 32) == 0, "dequantize");
    CHECK(back[0] == 0.0f && back[31] == 31.0f / 8.0f, "ends %g %g", back[0], back[31]);
    CHECK(back[2] == -31.0f / 64.0f * -1.0f, "element 2 is one step %g", back[2]);

    /* The largest magnitude is the first, +1: d = -1/8. The value -1 wants level 8
     * (q = 16) and is clamped to q = 15; 0.5 -> trunc(-4 + 8.5) = 4; 0 -> 8. */
    float y[32] = {1.0f, -1.0f, 0.5f};
    CHECK(slm_quantize_row(SLM_QUANT_Q4_0, y, block, 32) == 0, "quantize");
    CHECK(f16_bits(block) == 0xB000, "d = -1/8 bits 0x%04x", f16_bits(block));
    CHECK(block[2] == (0 | 8 << 4) && block[3] == (15 | 8 << 4) && block[4] == (4 | 8 << 4), "nibbles %02x %02x %02x",
          block[2], block[3], block[4]);

    /* A zero block: d = 0 / -8 = -0 (f16 0x8000, as ggml writes it), every level 8,
     * dequantizes to zeros. */
    float zeros[32] = {0};
    CHECK(slm_quantize_row(SLM_QUANT_Q4_0, zeros, block, 32) == 0, "quantize zeros");
    CHECK(f16_bits(block) == 0x8000 && block[2] == 0x88 && block[17] == 0x88, "zero block");
    CHECK(slm_dequantize_row(SLM_QUANT_Q4_0, block, back, 32) == 0 && back[0] == 0.0f && back[31] == 0.0f, "zeros");
}

/* A Q4_K block by hand: d = 1 (f16 0x3C00), dmin = 0.5 (0x3800),
 *   sc = 1 2 3 63 17 32 48 63, m = 0 1 5 10 16 33 63 7.
 * Packed: bytes 0-3 = sc0-3 | (sc4-7 >> 4) << 6: sc4-7 >> 4 = 1 2 3 3, so
 *   0x41 0x82 0xC3 0xFF; bytes 4-7 = m0-3 | (m4-7 >> 4) << 6 = 1 2 3 0 on top:
 *   0x40 0x81 0xC5 0x0A; bytes 8-11 = (sc4-7 & 15) | (m4-7 & 15) << 4 with
 *   sc & 15 = 1 0 0 15 and m & 15 = 0 1 15 7: 0x01 0x10 0xF0 0x7F.
 * qs[i] = (i & 15) | (15 - (i & 15)) << 4, so element e (chunk c = e / 64, r = e % 64)
 * has q = r & 15 in sub-block 2c when r < 32, else q = 15 - (r & 15) in sub-block 2c + 1;
 * x = sc * q - 0.5 * m. */
static void test_hand_q4_K(void) {
    uint8_t block[144] = {0x00, 0x3C, 0x00, 0x38, 0x41, 0x82, 0xC3, 0xFF,
                          0x40, 0x81, 0xC5, 0x0A, 0x01, 0x10, 0xF0, 0x7F};
    for (int i = 0; i < 128; i++) block[16 + i] = (uint8_t)((i & 15) | (15 - (i & 15)) << 4);
    float out[256];
    CHECK(slm_dequantize_row(SLM_QUANT_Q4_K, block, out, 256) == 0, "dequantize");
    /* e 0: s0, q 0 -> 0.   e 5: s0, q 5 -> 5.   e 40: s1 (sc 2, m 1), q 15 - 8 = 7 -> 13.5.
     * e 67: s2 (3, 5), q 3 -> 6.5.   e 100: s3 (63, 10), r 36, q 11 -> 693 - 5 = 688.
     * e 143: s4 (17, 16), q 15 -> 255 - 8 = 247.   e 160: s5 (32, 33), r 32, q 15 -> 463.5.
     * e 193: s6 (48, 63), q 1 -> 48 - 31.5 = 16.5.   e 255: s7 (63, 7), q 0 -> -3.5. */
    static const struct {
        int e;
        float v;
    } want[] = {{0, 0.0f},     {5, 5.0f},     {40, 13.5f},  {67, 6.5f},  {100, 688.0f},
                {143, 247.0f}, {160, 463.5f}, {193, 16.5f}, {255, -3.5f}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        CHECK(out[want[k].e] == want[k].v, "q4_K element %d: %g want %g", want[k].e, out[want[k].e], want[k].v);
    static const int sc[8] = {1, 2, 3, 63, 17, 32, 48, 63}, m[8] = {0, 1, 5, 10, 16, 33, 63, 7};
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int c = e / 64, r = e % 64, s = r < 32 ? 2 * c : 2 * c + 1, q = r < 32 ? r & 15 : 15 - (r & 15);
        bad += out[e] != (float)(sc[s] * q) - 0.5f * (float)m[s];
    }
    CHECK(bad == 0, "q4_K hand block: %d elements differ", bad);
}

/* A Q6_K block by hand: d = 0.5 (0x3800), scales 1 -1 2 -2 3 4 5 127 -128 10 0 7 8 9 11 12,
 * ql[i] = (i & 15) | (15 - (i & 15)) << 4, qh = 0xE4 in half 0 (top bits 0 1 2 3 for the
 * quarters 0..3) and 0x1B in half 1 (3 2 1 0). Element e, half h, quarter u = e % 128 / 32,
 * l = e % 32: the low nibble l & 15 (u = 0, 1) or the high 15 - (l & 15) (u = 2, 3), plus
 * the top bits * 16; x = 0.5 * scales[e / 16] * (q - 32). */
static void test_hand_q6_K(void) {
    static const int8_t scales[16] = {1, -1, 2, -2, 3, 4, 5, 127, -128, 10, 0, 7, 8, 9, 11, 12};
    uint8_t block[210];
    for (int i = 0; i < 128; i++) block[i] = (uint8_t)((i & 15) | (15 - (i & 15)) << 4);
    memset(block + 128, 0xE4, 32);
    memset(block + 160, 0x1B, 32);
    memcpy(block + 192, scales, 16);
    block[208] = 0x00;
    block[209] = 0x38;
    float out[256];
    CHECK(slm_dequantize_row(SLM_QUANT_Q6_K, block, out, 256) == 0, "dequantize");
    /* e 0: q 0 -> 0.5 * 1 * -32 = -16.   e 20: q 4 -> -28, sc -1 -> 14.
     * e 40: u 1, l 8: q 8 + 16 = 24 -> -8, sc 2 -> -8.   e 70: u 2, l 6: q 9 + 32 = 41 -> 9, sc 3 -> 13.5.
     * e 127: u 3, l 31: q 0 + 48 -> 16, sc 127 -> 1016.   e 128: half 1, u 0: q 0 + 48 -> 16, sc -128 -> -1024.
     * e 170: u 1, l 10: q 10 + 32 -> 10, sc 0 -> 0.   e 200: u 2, l 8: q 7 + 16 = 23 -> -9, sc 8 -> -36.
     * e 255: u 3, l 31: q 0 -> -32, sc 12 -> -192. */
    static const struct {
        int e;
        float v;
    } want[] = {{0, -16.0f},     {20, 14.0f}, {40, -8.0f},   {70, 13.5f},   {127, 1016.0f},
                {128, -1024.0f}, {170, 0.0f}, {200, -36.0f}, {255, -192.0f}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        CHECK(out[want[k].e] == want[k].v, "q6_K element %d: %g want %g", want[k].e, out[want[k].e], want[k].v);
    static const int top[2][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}};
    int bad = 0;
    for (int e = 0; e < 256; e++) {
        int h = e / 128, u = e % 128 / 32, l = e % 32;
        int q = (u < 2 ? l & 15 : 15 - (l & 15)) + 16 * top[h][u];
        bad += out[e] != 0.5f * (float)(scales[e / 16] * (q - 32));
    }
    CHECK(bad == 0, "q6_K hand block: %d elements differ", bad);
}

/* ---- against ggml ---------------------------------------------------------------- */

static void test_ggml_bytes(void) {
    static const char *const files[] = {"quant/q4_0.ggml", "quant/q8_0.ggml", "quant/q4_K.ggml", "quant/q6_K.ggml"};
    float *x = malloc(REF_N * sizeof *x);
    reference_input(x);
    for (size_t t = 0; t < 4; t++) {
        size_t bytes = slm_quant_row_bytes(all_types[t], REF_N), block = slm_quant_block_bytes(all_types[t]);
        uint8_t *ours = malloc(bytes), *ggml = malloc(bytes);
        CHECK(read_file(files[t], ggml, bytes) == 0, "read %s", files[t]);
        CHECK(slm_quantize_row(all_types[t], x, ours, REF_N) == 0, "quantize");
        int differ = 0;
        for (size_t b = 0; b < bytes / block; b++) {
            if (memcmp(ours + b * block, ggml + b * block, block) == 0) continue;
            if (differ++ < 3) CHECK(0, "%s: block %zu differs from ggml's", files[t], b);
        }
        CHECK(differ == 0, "%s: %d blocks differ", files[t], differ);
        /* ggml's bytes dequantize to values consistent with their layout: checked bit-exactly below. */
        free(ours);
        free(ggml);
    }
    free(x);

    static const struct {
        slm_quant_type type;
        const char *blocks, *floats;
        int block_bytes, d_offset, dmin_offset;
    } random[] = {{SLM_QUANT_Q4_K, "quant/q4_K_random.blocks", "quant/q4_K_random.f32", 144, 0, 2},
                  {SLM_QUANT_Q6_K, "quant/q6_K_random.blocks", "quant/q6_K_random.f32", 210, 208, -1}};
    for (size_t t = 0; t < 2; t++) {
        uint8_t blocks[REF_RANDOM * 210], regenerated[REF_RANDOM * 210];
        float want[REF_RANDOM * 256], got[REF_RANDOM * 256];
        size_t bytes = (size_t)REF_RANDOM * random[t].block_bytes;
        CHECK(read_file(random[t].blocks, blocks, bytes) == 0 && read_file(random[t].floats, want, sizeof want) == 0,
              "read %s", random[t].blocks);
        random_blocks(regenerated, REF_RANDOM, random[t].block_bytes, random[t].d_offset, random[t].dmin_offset);
        CHECK(memcmp(blocks, regenerated, bytes) == 0, "%s: the generator's blocks", random[t].blocks);
        CHECK(slm_dequantize_row(random[t].type, blocks, got, REF_RANDOM * 256) == 0, "dequantize");
        CHECK(memcmp(got, want, sizeof want) == 0, "%s: dequantized bit for bit as ggml", random[t].floats);
    }
}

/* ---- round trips --------------------------------------------------------------- */

/* Q4_0 / Q8_0 elements of one 32-block within the bound of the header comment. */
static int bad_elements_32(slm_quant_type type, const float *xb, const uint8_t *block, const float *back) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 32; i++)
        if (amax < fabsf(xb[i])) {
            amax = fabsf(xb[i]);
            max = xb[i];
        }
    float d = type == SLM_QUANT_Q8_0 ? amax / 127.0f : max / -8.0f, d16 = f16_at(block);
    float levels = type == SLM_QUANT_Q8_0 ? 127.0f : 8.0f;
    int bad = 0;
    for (int i = 0; i < 32; i++) {
        float step = type == SLM_QUANT_Q4_0 && xb[i] / d > 7.5f ? fabsf(d) : fabsf(d) / 2.0f;
        bad += !(fabsf(xb[i] - back[i]) <= step + levels * fabsf(d - d16) + 1e-6f * amax);
    }
    return bad;
}

/* (1) of the header for one element: w is the nearest point of the grid lo + g * q, q = 0..top. */
static int nearest_on_grid(float x, float w, float lo, float g, int top) {
    if (g == 0.0f) return 1; /* a zero scale: every level gives lo, nothing to choose */
    float t = (x - lo) / g, slack = 1e-5f * (fabsf(x) + fabsf(lo) + fabsf(g) * top);
    float want = t < 0 ? lo : t > top ? lo + g * top : x;
    float allowed = t < -0.5f || t > top + 0.5f ? 0.0f : fabsf(g) / 2.0f;
    return fabsf(w - want) <= allowed + slack;
}

static int bad_elements_q4_K(const float *xb, const uint8_t *block, const float *back) {
    float D = f16_at(block), Dm = f16_at(block + 2);
    int bad = 0;
    for (int s = 0; s < 8; s++) {
        int sc, m;
        q4_K_scale_min(block + 4, s, &sc, &m);
        float lo = 0.0f, hi = 0.0f;
        for (int i = 32 * s; i < 32 * s + 32; i++) {
            lo = fminf(lo, xb[i]);
            hi = fmaxf(hi, xb[i]);
        }
        for (int i = 32 * s; i < 32 * s + 32; i++) {
            bad += !nearest_on_grid(xb[i], back[i], -Dm * (float)m, D * (float)sc, 15);
            float bound =
                (hi - lo) / 15.0f + 7.5f * D + 0.5f * Dm + (fabsf(xb[i]) + 63.0f * Dm) / 1024.0f + 1008.0f * 0x1p-25f;
            bad += !(fabsf(xb[i] - back[i]) <= bound);
            bad += back[i] != D * (float)sc * (float)q4_K_level(block, i) - Dm * (float)m; /* the layout */
        }
    }
    return bad;
}

static int bad_elements_q6_K(const float *xb, const uint8_t *block, const float *back) {
    float D = f16_at(block + 208);
    int bad = 0;
    for (int k = 0; k < 16; k++) {
        float g = D * (float)(int8_t)block[192 + k], a = 0.0f;
        for (int i = 16 * k; i < 16 * k + 16; i++) a = fmaxf(a, fabsf(xb[i]));
        for (int i = 16 * k; i < 16 * k + 16; i++) {
            bad += !nearest_on_grid(xb[i], back[i], -32.0f * g, g, 63);
            bad +=
                !(fabsf(xb[i] - back[i]) <= a / 32.0f + 16.0f * fabsf(D) + fabsf(xb[i]) / 1024.0f + 4096.0f * 0x1p-25f);
            bad += back[i] != D * (float)(int8_t)block[192 + k] * (float)(q6_K_level(block, i) - 32);
        }
    }
    return bad;
}

/* The ggml reference inputs and 64 more blocks of varied magnitudes (1e-3 .. 1e3). */
static void test_round_trip(slm_quant_type type) {
    enum { N = REF_N + 256 * 64 };
    float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
    uint8_t *row = malloc(slm_quant_row_bytes(type, N));
    reference_input(x);
    uint64_t s = 77;
    for (int i = REF_N; i < N; i++) x[i] = bell(&s) * powf(10.0f, (float)((i / 32) % 7) - 3.0f);
    CHECK(slm_quantize_row(type, x, row, N) == 0, "quantize");
    CHECK(slm_dequantize_row(type, row, back, N) == 0, "dequantize");
    size_t per = slm_quant_block_elements(type), block_bytes = slm_quant_block_bytes(type);
    int bad_blocks = 0;
    for (size_t b = 0; b < N / per; b++) {
        const float *xb = x + b * per, *bb = back + b * per;
        const uint8_t *block = row + b * block_bytes;
        int bad = type == SLM_QUANT_Q4_K   ? bad_elements_q4_K(xb, block, bb)
                  : type == SLM_QUANT_Q6_K ? bad_elements_q6_K(xb, block, bb)
                                           : bad_elements_32(type, xb, block, bb);
        if (bad && bad_blocks++ < 3)
            CHECK(0, "%s block %zu: %d checks past the bound", slm_quant_type_name(type), b, bad);
    }
    CHECK(bad_blocks == 0, "%s: %d blocks past the bound", slm_quant_type_name(type), bad_blocks);

    /* The reference dot is the dot of the dequantized row. */
    double want = 0.0, mag = 0.0;
    for (int i = 0; i < N; i++) {
        want += (double)back[i] * x[i];
        mag += fabs((double)back[i] * x[i]);
    }
    float got = slm_quant_dot(type, row, x, N);
    CHECK(fabs(got - want) <= 1e-5 * mag, "%s dot %g want %g", slm_quant_type_name(type), got, want);
    free(x);
    free(back);
    free(row);
}

/* ---- fast rows vs the reference ------------------------------------------------ */

typedef struct {
    slm_quant_type type;
    int n_in, n_out;
    size_t row_bytes;
    uint8_t *W;
    float *x, *wd, *ref, *bound, *mag; /* mag[r] = sum_i |x_i| (|w_i| + c_i) */
    uint8_t *act;
} rows_case;

/* The Q4_K min Dm m_s inside w_i (0 for the other types): the part of the reference's
 * w_i whose rounding does not shrink with |w_i|. */
static float inner_min(const rows_case *c, int r, int i) {
    if (c->type != SLM_QUANT_Q4_K) return 0.0f;
    const uint8_t *block = c->W + (size_t)r * c->row_bytes + (size_t)(i / 256) * 144;
    int sc, m;
    q4_K_scale_min(block + 4, i % 256 / 32, &sc, &m);
    return f16_at(block + 2) * (float)m;
}

static void rows_case_init(rows_case *c, slm_quant_type type, int n_in, int n_out, uint64_t seed) {
    c->type = type;
    c->n_in = n_in;
    c->n_out = n_out;
    c->row_bytes = slm_quant_row_bytes(type, (size_t)n_in);
    c->W = malloc(c->row_bytes * (size_t)n_out);
    c->x = malloc((size_t)n_in * sizeof *c->x);
    c->wd = malloc((size_t)n_in * (size_t)n_out * sizeof *c->wd);
    c->ref = malloc((size_t)n_out * sizeof *c->ref);
    c->bound = malloc((size_t)n_out * sizeof *c->bound);
    c->mag = malloc((size_t)n_out * sizeof *c->mag);
    c->act = malloc(slm_quant_act_bytes(type, n_in));
    float *w = malloc((size_t)n_in * sizeof *w);
    for (int r = 0; r < n_out; r++) {
        for (int i = 0; i < n_in; i++) w[i] = bell(&seed) * (r % 3 == 0 ? 0.02f : 1.0f) + (r % 5 == 0 ? 0.3f : 0.0f);
        slm_quantize_row(type, w, c->W + (size_t)r * c->row_bytes, (size_t)n_in);
        slm_dequantize_row(type, c->W + (size_t)r * c->row_bytes, c->wd + (size_t)r * n_in, (size_t)n_in);
    }
    free(w);
    for (int i = 0; i < n_in; i++) c->x[i] = uniform(&seed) * (i % 64 < 32 ? 1.0f : 20.0f);
    CHECK(slm_quant_matvec_reference(type, c->W, n_in, n_out, c->x, c->ref) == 0, "reference");
    CHECK(slm_quant_activations(type, c->x, n_in, c->act) == 0, "activations");
    int per = type == SLM_QUANT_Q4_K || type == SLM_QUANT_Q6_K ? 256 : 32;
    for (int r = 0; r < n_out; r++) {
        const float *wr = c->wd + (size_t)r * n_in;
        double bound = 1e-6, mag = 0.0;
        for (int b = 0; b < n_in / per; b++) {
            float amax = 0.0f;
            double wsum = 0.0;
            for (int i = b * per; i < b * per + per; i++) {
                amax = fmaxf(amax, fabsf(c->x[i]));
                wsum += fabs(wr[i]);
                mag += fabs(c->x[i]) * (fabs(wr[i]) + inner_min(c, r, i));
            }
            bound += amax / 127.0 / 2.0 * wsum;
        }
        c->bound[r] = (float)(bound + 1e-5 * mag);
        c->mag[r] = (float)mag;
    }
}

static void rows_case_free(rows_case *c) {
    free(c->W);
    free(c->x);
    free(c->wd);
    free(c->ref);
    free(c->bound);
    free(c->mag);
    free(c->act);
}

/* Rows [r0, r1) through isa: within the bound, nothing written outside. Returns -1 if
 * this CPU cannot run isa. */
static int check_rows(const rows_case *c, const char *isa, int r0, int r1) {
    float *y = malloc(((size_t)c->n_out + 2) * sizeof *y);
    for (int r = 0; r < c->n_out + 2; r++) y[r] = -12345.0f;
    int rc = slm_quant_rows_with(isa, c->type, c->W, c->n_in, r0, r1, c->act, y + 1);
    if (rc == 0) {
        int bad = 0, untouched = 1;
        for (int r = 0; r < c->n_out + 2; r++) {
            int inside = r - 1 >= r0 && r - 1 < r1;
            if (!inside) {
                untouched &= y[r] == -12345.0f;
                continue;
            }
            if (!(fabsf(y[r] - c->ref[r - 1]) <= c->bound[r - 1]) && bad++ < 3)
                CHECK(0, "%s %s %dx%d row %d: %g ref %g bound %g", isa, slm_quant_type_name(c->type), c->n_out, c->n_in,
                      r - 1, y[r], c->ref[r - 1], c->bound[r - 1]);
        }
        CHECK(bad == 0, "%s %s %dx%d rows [%d, %d): %d past the bound", isa, slm_quant_type_name(c->type), c->n_out,
              c->n_in, r0, r1, bad);
        CHECK(untouched, "%s %s wrote outside [%d, %d)", isa, slm_quant_type_name(c->type), r0, r1);
    }
    free(y);
    return rc;
}

static void test_rows(slm_quant_type type, int n_in, int n_out) {
    rows_case c;
    rows_case_init(&c, type, n_in, n_out, 0x1234u + (uint64_t)n_in * 31u + (uint64_t)n_out);
    for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
        if (check_rows(&c, all_isas[k], 0, n_out) != 0) {
            CHECK(strcmp(all_isas[k], "scalar") != 0, "the scalar path always runs");
            continue; /* this CPU lacks the instruction set */
        }
        if (n_out > 3) check_rows(&c, all_isas[k], 1, n_out - 1); /* odd starts and ends */
        if (n_out > 6) check_rows(&c, all_isas[k], 3, 6);
    }
    /* slm_quant_rows (whatever it picked) and slm_quant_matvec agree with the scalar path to rounding. */
    float *fast = malloc((size_t)n_out * sizeof *fast), *scalar = malloc((size_t)n_out * sizeof *scalar);
    float *mv = malloc((size_t)n_out * sizeof *mv);
    slm_quant_rows(type, c.W, n_in, 0, n_out, c.act, fast);
    CHECK(slm_quant_rows_with("scalar", type, c.W, n_in, 0, n_out, c.act, scalar) == 0, "scalar");
    CHECK(slm_quant_matvec(type, c.W, n_in, n_out, c.x, mv) == 0, "matvec");
    int agree = 1;
    for (int r = 0; r < n_out; r++) {
        float tol = 1e-5f * c.mag[r] + 1e-6f; /* the same integers, summed in another order */
        agree &= fabsf(fast[r] - scalar[r]) <= tol && mv[r] == fast[r];
    }
    CHECK(agree, "%s vs scalar integer path and matvec (%s %dx%d)", slm_quant_isa(), slm_quant_type_name(type), n_out,
          n_in);
    free(fast);
    free(scalar);
    free(mv);
    rows_case_free(&c);
}

/* ---- several activation rows at once ---------------------------------------------- */

/* slm_quant_rows_multi over rows [r0, r1) and n activation rows (act + t * stride) gives,
 * bit for bit, what slm_quant_rows_with(isa) gives each row alone (whose distance from
 * the reference test_rows bounds), and writes nothing else of y (rows y_stride apart). */
static void check_multi(const rows_case *c, const char *isa, const uint8_t *act, size_t stride, int n, int r0, int r1) {
    const size_t y_stride = (size_t)c->n_out + 3;
    const size_t y_len = y_stride * (size_t)n + 1;
    float *y = malloc(y_len * sizeof *y), *one = malloc((size_t)c->n_out * sizeof *one);
    for (size_t i = 0; i < y_len; i++) y[i] = -12345.0f;
    CHECK(slm_quant_rows_multi_with(isa, c->type, c->W, c->n_in, r0, r1, act, stride, n, y + 1, y_stride) == 0,
          "%s multi runs", isa);
    int same = 1, untouched = 1;
    for (int t = 0; t < n; t++) {
        slm_quant_rows_with(isa, c->type, c->W, c->n_in, r0, r1, act + (size_t)t * stride, one);
        for (int r = r0; r < r1; r++) same &= memcmp(&y[1 + (size_t)t * y_stride + (size_t)r], &one[r], sizeof *one) == 0;
    }
    for (size_t i = 0; i < y_len; i++) {
        size_t t = (i - 1) / y_stride, r = (i - 1) % y_stride;
        int inside = i >= 1 && (int)t < n && (int)r >= r0 && (int)r < r1;
        if (!inside) untouched &= y[i] == -12345.0f;
    }
    CHECK(same, "%s %s %dx%d multi n_act %d rows [%d, %d) = one row at a time", isa, slm_quant_type_name(c->type),
          c->n_out, c->n_in, n, r0, r1);
    CHECK(untouched, "%s %s multi n_act %d wrote outside [%d, %d)", isa, slm_quant_type_name(c->type), n, r0, r1);
    free(y);
    free(one);
}

static void test_rows_multi(slm_quant_type type, int n_in, int n_out) {
    enum { N_ACT = SLM_QUANT_MULTI_MAX + 3 }; /* past the maximum: split into groups */
    rows_case c;
    rows_case_init(&c, type, n_in, n_out, 0x5678u + (uint64_t)n_in * 7u + (uint64_t)n_out);
    /* Activation rows 64 bytes apart beyond their size, from inputs scaled and shifted per row. */
    size_t stride = slm_quant_act_bytes(type, n_in) + 64;
    uint8_t *act = malloc(stride * N_ACT);
    float *x = malloc((size_t)n_in * sizeof *x);
    for (int t = 0; t < N_ACT; t++) {
        for (int i = 0; i < n_in; i++) x[i] = c.x[(i + 5 * t) % n_in] * (1.0f + 0.5f * (float)t);
        slm_quant_activations(type, x, n_in, act + (size_t)t * stride);
    }
    for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
        float y = 0.0f;
        if (slm_quant_rows_with(all_isas[k], type, c.W, n_in, 0, 0, act, &y) != 0) continue; /* not on this CPU */
        for (int n = 1; n <= N_ACT; n++) {
            check_multi(&c, all_isas[k], act, stride, n, 0, n_out);
            if (n_out > 3) check_multi(&c, all_isas[k], act, stride, n, 1, n_out - 1);
            if (n_out > 6) check_multi(&c, all_isas[k], act, stride, n, 3, 6);
        }
    }
    /* slm_quant_rows_multi (whatever it picked) = slm_quant_rows; bad calls. */
    float *multi = malloc((size_t)n_out * 2 * sizeof *multi), *one = malloc((size_t)n_out * sizeof *one);
    slm_quant_rows_multi(type, c.W, n_in, 0, n_out, act, stride, 2, multi, (size_t)n_out);
    slm_quant_rows(type, c.W, n_in, 0, n_out, act + stride, one);
    CHECK(memcmp(multi + n_out, one, (size_t)n_out * sizeof *one) == 0, "%s multi = rows", slm_quant_type_name(type));
    CHECK(slm_quant_rows_multi_with("scalar", type, c.W, n_in, 0, n_out, act, stride, -1, multi, (size_t)n_out) == -1,
          "n_act -1");
    CHECK(slm_quant_rows_multi_with("avx9", type, c.W, n_in, 0, n_out, act, stride, 1, multi, (size_t)n_out) == -1,
          "multi unknown isa");
    slm_quant_rows_multi(type, c.W, n_in + 1, 0, 1, act, stride, 2, multi, (size_t)n_out);
    CHECK(isnan(multi[0]) && isnan(multi[n_out]), "multi bad n_in: NaN");
    free(multi);
    free(one);
    free(x);
    free(act);
    rows_case_free(&c);
}

/* ---- threads ----------------------------------------------------------------------- */

typedef struct {
    const rows_case *c;
    int r0, r1;
    float *y;
} rows_thread;

static void *run_rows_thread(void *arg) {
    const rows_thread *t = arg;
    for (int rep = 0; rep < 20; rep++) slm_quant_rows(t->c->type, t->c->W, t->c->n_in, t->r0, t->r1, t->c->act, t->y);
    return NULL;
}

/* Two threads on disjoint ranges of one matrix at once give what one call gives. */
static void test_threads(slm_quant_type type) {
    rows_case c;
    rows_case_init(&c, type, 1024, 61, 99);
    float *alone = malloc(61 * sizeof *alone), *together = malloc(61 * sizeof *together);
    slm_quant_rows(type, c.W, c.n_in, 0, 61, c.act, alone);
    rows_thread parts[2] = {{&c, 0, 29, together}, {&c, 29, 61, together}};
    pthread_t tid[2];
    int started = 0;
    for (int k = 0; k < 2; k++) started += pthread_create(&tid[k], NULL, run_rows_thread, &parts[k]) == 0;
    for (int k = 0; k < started; k++) pthread_join(tid[k], NULL);
    CHECK(started == 2, "threads started");
    CHECK(memcmp(alone, together, 61 * sizeof *alone) == 0, "%s: threads on disjoint rows = one call",
          slm_quant_type_name(type));
    free(alone);
    free(together);
    rows_case_free(&c);
}

/* Every ISA's activations are the scalar ones byte for byte, on bell-shaped inputs and
 * on edges: a block whose amax is 127 (so d = 1 and x / d = x exactly) holding every
 * tie k + 0.5, which must round away from zero (2.5 -> 3, -2.5 -> -3, as roundf); NaN
 * (counts as 0), an infinity, zeros and denormals. */
static void test_activations_isas(void) {
    enum { N = 1024 };
    float *x = malloc(N * sizeof *x);
    uint64_t seed = 7;
    for (int i = 0; i < N; i++) x[i] = bell(&seed);
    x[0] = 127.0f; /* block 0 (32 inputs): ties, with amax 127 */
    for (int i = 1; i < 32; i++) x[i] = (float)(i % 2 ? i : -i) + (i % 2 ? 0.5f : -0.5f);
    x[40] = NAN;
    x[70] = INFINITY;
    for (int i = 96; i < 128; i++) x[i] = 0.0f;
    for (int i = 128; i < 160; i++) x[i] = (float)(i - 144) * 1e-41f; /* denormals */
    for (size_t t = 0; t < 4; t++) {
        slm_quant_type type = all_types[t];
        size_t bytes = slm_quant_act_bytes(type, N);
        uint8_t *want = malloc(bytes), *got = malloc(bytes);
        CHECK(slm_quant_activations_with("scalar", type, x, N, want) == 0, "scalar activations");
        if (type == SLM_QUANT_Q8_0) { /* natural order: q[i] = x[i] for the tie block */
            const int8_t *q = (const int8_t *)want;
            CHECK(q[0] == 127 && q[1] == 2 && q[2] == -3 && q[3] == 4 && q[4] == -5, "ties away from zero: %d %d %d %d",
                  q[1], q[2], q[3], q[4]);
        }
        for (size_t k = 1; k < sizeof all_isas / sizeof all_isas[0]; k++) {
            memset(got, 0xA5, bytes);
            if (slm_quant_activations_with(all_isas[k], type, x, N, got) != 0) continue; /* not on this CPU */
            CHECK(memcmp(want, got, bytes) == 0, "%s activations for %s = scalar", all_isas[k],
                  slm_quant_type_name(type));
        }
        CHECK(slm_quant_activations_with("avx9", type, x, N, got) == -1, "unknown isa for activations");
        free(want);
        free(got);
    }
    free(x);
}

int main(void) {
    printf("quant isa: %s; row kernels this CPU runs:", slm_quant_isa());
    for (size_t k = 0; k < sizeof all_isas / sizeof all_isas[0]; k++) {
        float y = 0.0f;
        if (slm_quant_rows_with(all_isas[k], SLM_QUANT_Q8_0, NULL, 32, 0, 0, NULL, &y) == 0) printf(" %s", all_isas[k]);
    }
    printf("\n");
    test_sizes();
    test_rejects();
    test_layout_q8_0();
    test_layout_q4_0();
    test_hand_q4_K();
    test_hand_q6_K();
    test_ggml_bytes();
    test_activations_isas();
    for (size_t t = 0; t < 4; t++) test_round_trip(all_types[t]);
    /* n_in: one block; 3 (a partial group of 4); 24 (768, GPT-2); 8224 (past 8192, the
     * on-stack scratch, and 257 blocks: a partial group); k-quants: 256, 768, 2048, 8448. */
    static const int shapes_32[][2] = {{32, 1},  {32, 7},   {96, 5},   {768, 13},
                                       {256, 4}, {8224, 3}, {3072, 9}, {2048, 17}};
    static const int shapes_256[][2] = {{256, 1}, {256, 7}, {768, 13}, {2048, 9}, {8448, 5}};
    for (size_t s = 0; s < sizeof shapes_32 / sizeof shapes_32[0]; s++) {
        test_rows(SLM_QUANT_Q8_0, shapes_32[s][0], shapes_32[s][1]);
        test_rows(SLM_QUANT_Q4_0, shapes_32[s][0], shapes_32[s][1]);
    }
    for (size_t s = 0; s < sizeof shapes_256 / sizeof shapes_256[0]; s++) {
        test_rows(SLM_QUANT_Q4_K, shapes_256[s][0], shapes_256[s][1]);
        test_rows(SLM_QUANT_Q6_K, shapes_256[s][0], shapes_256[s][1]);
    }
    for (size_t t = 0; t < 4; t++) {
        int n_in = all_types[t] == SLM_QUANT_Q4_K || all_types[t] == SLM_QUANT_Q6_K ? 768 : 96;
        test_rows_multi(all_types[t], n_in, 13);
        test_rows_multi(all_types[t], 2 * n_in + (n_in == 96 ? 32 : 256), 5); /* Q4_0/Q8_0: a partial group */
        test_threads(all_types[t]);
    }
    TEST_END();
}
