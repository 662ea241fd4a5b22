/* test_quant.c — Q8_0 / Q4_0 blocks (src/core/quant.c).
 *
 * Byte layout: hand-made blocks whose scale and integers were worked out by
 * hand (the f16 bits and the quantized integers are literals here, not values
 * produced by the code under test).
 *
 * Round trip bounds, per element, with d the f32 scale the quantizer computed
 * and d16 the f16 it stored:
 *   Q8_0: q = round(x / d), |x / d| <= 127, so |x - d q| <= d / 2; storing d16
 *         adds |d - d16| * |q| <= 127 |d - d16|.
 *   Q4_0: d = max / -8 puts x / d in [-8, 8] and q - 8 = floor(x / d + 0.5) (the
 *         nearest level) except where x / d > 7.5, clamped to level 7: there the
 *         error is up to one whole step, |d| (the value -max itself lands 8 steps
 *         away, on level 7). So |x - d (q - 8)| <= |d| / 2, or |d| where
 *         x / d > 7.5; storing d16 adds 8 |d - d16|.
 *   Both get 1e-6 * amax more for the f32 x * (1 / d) the quantizers compute.
 *
 * Fast matvec vs the reference: the fast path replaces x_i by dx * qx_i with
 * |x_i - dx qx_i| <= dx / 2, dx = amax_block(x) / 127, and takes exact integer
 * sums; so per row |fast - ref| <= sum_blocks dx / 2 * sum_block |w_i|, plus
 * f32 rounding of the sums, allowed as 1e-5 * sum_i |w_i x_i| + 1e-6. Every
 * implementation this CPU runs is tried, with odd n_out (row tails of the
 * 4-row kernels) and an n_in past the on-stack scratch. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/quant.h"
#include "core/tensor.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(void) { /* in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static uint16_t stored_scale_bits(const uint8_t *block) {
    uint16_t h;
    memcpy(&h, block, sizeof h);
    return h;
}

static void test_sizes(void) {
    CHECK(slm_quant_block_bytes(SLM_QUANT_Q8_0) == 34, "q8_0 block bytes");
    CHECK(slm_quant_block_bytes(SLM_QUANT_Q4_0) == 18, "q4_0 block bytes");
    CHECK(slm_quant_block_bytes((slm_quant_type)3) == 0, "unknown type");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q8_0, 64) == 68, "q8_0 row bytes");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q4_0, 96) == 54, "q4_0 row bytes");
    CHECK(slm_quant_row_bytes(SLM_QUANT_Q8_0, 33) == 0, "row of 33 rejected");
    CHECK(strcmp(slm_quant_type_name(SLM_QUANT_Q4_0), "q4_0") == 0, "name");
}

/* x_i = i / 8, i = 0..31. */
static void test_layout_q8_0(void) {
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)i / 8.0f;
    /* amax = 31/8, d = 31/8/127 = 0.0305118... = 2^-6 * 1.95276; f16 mantissa
     * round(0.95276 * 1024) = 976 = 0x3D0, exponent -6 + 15 = 9: 0x2400 | 0x3D0.
     * q_i = round(i/8 / d) = round(i * 127 / 31). */
    static const int8_t q[32] = {0,  4,  8,  12, 16, 20, 25, 29, 33,  37,  41,  45,  49,  53,  57,  61,
                                 66, 70, 74, 78, 82, 86, 90, 94, 98, 102, 107, 111, 115, 119, 123, 127};
    uint8_t block[34 + 1];
    block[34] = 0xAB; /* sentinel: nothing written past the block */
    CHECK(slm_quantize_row(SLM_QUANT_Q8_0, x, block, 32) == 0, "quantize");
    CHECK(stored_scale_bits(block) == 0x27D0, "d bits 0x%04x", stored_scale_bits(block));
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
    CHECK(stored_scale_bits(block) == 0xB7C0, "d bits 0x%04x", stored_scale_bits(block));
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
    CHECK(stored_scale_bits(block) == 0xB000, "d = -1/8 bits 0x%04x", stored_scale_bits(block));
    CHECK(block[2] == (0 | 8 << 4) && block[3] == (15 | 8 << 4) && block[4] == (4 | 8 << 4),
          "nibbles %02x %02x %02x", block[2], block[3], block[4]);

    /* A zero block: d = 0 / -8 = -0 (f16 0x8000, as ggml writes it), every level 8,
     * dequantizes to zeros. */
    float zeros[32] = {0};
    CHECK(slm_quantize_row(SLM_QUANT_Q4_0, zeros, block, 32) == 0, "quantize zeros");
    CHECK(stored_scale_bits(block) == 0x8000 && block[2] == 0x88 && block[17] == 0x88, "zero block");
    CHECK(slm_dequantize_row(SLM_QUANT_Q4_0, block, back, 32) == 0 && back[0] == 0.0f && back[31] == 0.0f, "zeros");
}

static void test_round_trip(slm_quant_type type) {
    enum { N = 32 * 64 };
    float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
    uint8_t *row = malloc(slm_quant_row_bytes(type, N));
    for (int i = 0; i < N; i++) x[i] = uniform() * powf(10.0f, (float)((i / 32) % 7) - 3.0f); /* 1e-3 .. 1e3 */
    x[5] = 0.0f;
    CHECK(slm_quantize_row(type, x, row, N) == 0, "quantize");
    CHECK(slm_dequantize_row(type, row, back, N) == 0, "dequantize");
    size_t block_bytes = slm_quant_block_bytes(type);
    int bad = 0;
    for (int b = 0; b < N / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < 32; i++)
            if (amax < fabsf(xb[i])) {
                amax = fabsf(xb[i]);
                max = xb[i];
            }
        float d = type == SLM_QUANT_Q8_0 ? amax / 127.0f : max / -8.0f;
        float d16 = slm_f16_to_f32(stored_scale_bits(row + (size_t)b * block_bytes));
        float levels = type == SLM_QUANT_Q8_0 ? 127.0f : 8.0f;
        for (int i = 0; i < 32; i++) {
            float step = type == SLM_QUANT_Q4_0 && xb[i] / d > 7.5f ? fabsf(d) : fabsf(d) / 2.0f;
            float bound = step + levels * fabsf(d - d16) + 1e-6f * amax;
            float err = fabsf(xb[i] - back[b * 32 + i]);
            if (!(err <= bound) && bad++ < 5)
                CHECK(0, "%s block %d element %d: x %g back %g err %g > %g", slm_quant_type_name(type), b, i, xb[i],
                      back[b * 32 + i], err, bound);
        }
    }
    CHECK(bad == 0, "%s: %d elements past the bound", slm_quant_type_name(type), bad);

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

static void test_matvec(slm_quant_type type, int n_in, int n_out) {
    size_t row_bytes = slm_quant_row_bytes(type, (size_t)n_in);
    float *w = malloc((size_t)n_in * n_out * sizeof *w), *x = malloc((size_t)n_in * sizeof *x);
    float *wd = malloc((size_t)n_in * n_out * sizeof *wd);
    float *ref = malloc((size_t)n_out * sizeof *ref), *fast = malloc(((size_t)n_out + 1) * sizeof *fast);
    uint8_t *W = malloc(row_bytes * (size_t)n_out);
    for (int i = 0; i < n_in * n_out; i++) w[i] = uniform();
    for (int i = 0; i < n_in; i++) x[i] = uniform() * (i % 64 < 32 ? 1.0f : 20.0f);
    for (int r = 0; r < n_out; r++) {
        slm_quantize_row(type, w + (size_t)r * n_in, W + (size_t)r * row_bytes, (size_t)n_in);
        slm_dequantize_row(type, W + (size_t)r * row_bytes, wd + (size_t)r * n_in, (size_t)n_in);
    }
    CHECK(slm_quant_matvec_reference(type, W, n_in, n_out, x, ref) == 0, "reference");

    static const char *const isas[] = {"scalar", "avx2", "avx512"};
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        for (int r = 0; r <= n_out; r++) fast[r] = -12345.0f;
        int rc = slm_quant_matvec_with(isas[k], type, W, n_in, n_out, x, fast);
        if (rc != 0) {
            CHECK(strcmp(isas[k], "scalar") != 0, "the scalar path always runs");
            continue; /* this CPU lacks the instruction set */
        }
        int bad = 0;
        for (int r = 0; r < n_out; r++) {
            const float *wr = wd + (size_t)r * n_in;
            double bound = 1e-6, mag = 0.0;
            for (int b = 0; b < n_in / 32; b++) {
                float amax = 0.0f;
                double wsum = 0.0;
                for (int i = b * 32; i < b * 32 + 32; i++) {
                    amax = fmaxf(amax, fabsf(x[i]));
                    wsum += fabs(wr[i]);
                    mag += fabs((double)wr[i] * x[i]);
                }
                bound += amax / 127.0 / 2.0 * wsum;
            }
            bound += 1e-5 * mag;
            if (!(fabs((double)fast[r] - ref[r]) <= bound) && bad++ < 3)
                CHECK(0, "%s %s %dx%d row %d: %g ref %g bound %g", isas[k], slm_quant_type_name(type), n_out, n_in,
                      r, fast[r], ref[r], bound);
        }
        CHECK(bad == 0, "%s %s %dx%d: %d rows past the bound", isas[k], slm_quant_type_name(type), n_out, n_in, bad);
        CHECK(fast[n_out] == -12345.0f, "%s wrote past y", isas[k]);
    }
    /* slm_quant_matvec itself (whatever it picked) agrees with the scalar integer path to rounding. */
    float *scalar = malloc((size_t)n_out * sizeof *scalar);
    CHECK(slm_quant_matvec(type, W, n_in, n_out, x, fast) == 0, "matvec");
    CHECK(slm_quant_matvec_with("scalar", type, W, n_in, n_out, x, scalar) == 0, "scalar");
    int agree = 1;
    for (int r = 0; r < n_out; r++) agree &= fabsf(fast[r] - scalar[r]) <= 1e-4f * (1.0f + fabsf(scalar[r]));
    CHECK(agree, "%s vs scalar integer path (%s %dx%d)", slm_quant_isa(), slm_quant_type_name(type), n_out, n_in);
    free(scalar);
    free(w);
    free(x);
    free(wd);
    free(ref);
    free(fast);
    free(W);
}

static void test_rejects(void) {
    float x[64] = {1.0f}, y[4] = {7.0f, 7.0f, 7.0f, 7.0f};
    uint8_t buf[128];
    memset(buf, 0x5A, sizeof buf);
    CHECK(slm_quantize_row(SLM_QUANT_Q8_0, x, buf, 33) == -1, "quantize 33");
    CHECK(slm_quantize_row((slm_quant_type)3, x, buf, 32) == -1, "quantize unknown type");
    CHECK(buf[0] == 0x5A && buf[127] == 0x5A, "rejected quantize wrote nothing");
    CHECK(slm_dequantize_row(SLM_QUANT_Q4_0, buf, x, 48) == -1, "dequantize 48");
    CHECK(isnan(slm_quant_dot(SLM_QUANT_Q8_0, buf, x, 40)), "dot 40 is NaN");
    CHECK(slm_quant_matvec(SLM_QUANT_Q8_0, buf, 33, 1, x, y) == -1, "matvec n_in 33");
    CHECK(slm_quant_matvec(SLM_QUANT_Q4_0, buf, 0, 1, x, y) == -1, "matvec n_in 0");
    CHECK(slm_quant_matvec(SLM_QUANT_Q4_0, buf, 32, -1, x, y) == -1, "matvec n_out -1");
    CHECK(slm_quant_matvec_reference(SLM_QUANT_Q8_0, buf, 31, 1, x, y) == -1, "reference n_in 31");
    CHECK(slm_quant_matvec_with("bogus", SLM_QUANT_Q8_0, buf, 32, 1, x, y) == -1, "unknown isa");
    CHECK(y[0] == 7.0f, "rejected matvec wrote nothing");
    CHECK(slm_quant_matvec(SLM_QUANT_Q8_0, buf, 32, 0, x, y) == 0, "n_out 0 is an empty product");
}

int main(void) {
    printf("quant isa: %s\n", slm_quant_isa());
    test_sizes();
    test_layout_q8_0();
    test_layout_q4_0();
    test_round_trip(SLM_QUANT_Q8_0);
    test_round_trip(SLM_QUANT_Q4_0);
    static const int shapes[][2] = {{32, 1}, {32, 7}, {96, 5}, {768, 13}, {256, 4}, {8224, 3}, {3072, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        test_matvec(SLM_QUANT_Q8_0, shapes[s][0], shapes[s][1]);
        test_matvec(SLM_QUANT_Q4_0, shapes[s][0], shapes[s][1]);
    }
    test_rejects();
    TEST_END();
}
