/* quant_blocks.c — quantize and dequantize one block of each type in ggml's
 * byte layouts (quant.h).
 *
 * The quantizers follow ggml's reference quantizers step by step, with the
 * same f32 operations in the same order, so the bytes are ggml's: the k-quant
 * fits (fit_scale_min for Q4_K, fit_symmetric for Q6_K) are the searches of
 * ggml's make_qkx2_quants and make_qx_quants. This file is compiled without
 * FMA (C11 mode keeps GCC from contracting a * b + c; generic x86-64 has no
 * FMA for clang to contract into), as ggml's reference code is, so rounding
 * agrees too. Dequantizers are ggml's dequantize_row_* expressions. */
#include <math.h>
#include <string.h>

#include "core/quant_impl.h"
#include "core/tensor.h"

static float load_f16(const uint8_t *p) { return slm_f16_to_f32(quant_load_u16(p)); }

static void store_f16(uint8_t *p, float v) {
    uint16_t h = slm_f32_to_f16(v);
    memcpy(p, &h, sizeof h);
}

/* Round to nearest, ties to even, as ggml's nearest_int: for |v| < 2^22, v + 1.5 * 2^23
 * lies in [2^23, 2^24), where floats are the integers, so the f32 addition itself
 * rounds (ties to even) and the low 23 bits hold v's integer plus 2^22. Inline: rintf
 * is a library call at the baseline ISA and made Q4_K quantization ~2x slower. Beyond
 * 2^22 ggml's result is meaningless and every caller clamps, so the clamp here only
 * keeps the conversion defined. */
static int nearest_int(float v) {
    if (!(v > -4194303.0f)) return -4194303; /* also NaN */
    if (v > 4194303.0f) return 4194303;
    float shifted = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- Q8_0 / Q4_0 ---------------------------------------------------------- */

/* d = amax / 127, q = round(x / d) (half away from zero), computed as x * (1/d) in f32. */
static void quantize_q8_0(const float *x, uint8_t *block) {
    float amax = 0.0f;
    for (int i = 0; i < QK; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f;
    float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(block, d);
    for (int i = 0; i < QK; i++) block[2 + i] = (uint8_t)(int8_t)roundf(x[i] * inv_d);
}

/* d = max / -8 where max is the value (with its sign) of largest magnitude, so
 * that value lands exactly on q - 8 = -8 and the 16 levels -8..7 are used in full;
 * q = min(15, trunc(x / d + 8.5)). x / d lies in [-8, 8], so the cast is in range. */
static void quantize_q4_0(const float *x, uint8_t *block) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < QK; i++)
        if (amax < fabsf(x[i])) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    float d = max / -8.0f;
    float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(block, d);
    for (int j = 0; j < QK / 2; j++) {
        int lo = (int)(x[j] * inv_d + 8.5f), hi = (int)(x[j + QK / 2] * inv_d + 8.5f);
        block[2 + j] = (uint8_t)((lo > 15 ? 15 : lo) | (hi > 15 ? 15 : hi) << 4);
    }
}

static void dequantize_q8_0(const uint8_t *block, float *out) {
    float d = load_f16(block);
    for (int i = 0; i < QK; i++) out[i] = (float)(int8_t)block[2 + i] * d;
}

static void dequantize_q4_0(const uint8_t *block, float *out) {
    float d = load_f16(block);
    for (int j = 0; j < QK / 2; j++) {
        out[j] = (float)((block[2 + j] & 0x0F) - 8) * d;
        out[j + QK / 2] = (float)((block[2 + j] >> 4) - 8) * d;
    }
}

/* ---- Q4_K ------------------------------------------------------------------ */

/* Levels L (n, 0..nmax) with x[i] ~= scale * L[i] - the_min, fitted to minimise the
 * weighted squared error (ggml's make_qkx2_quants with use_mad off): start from the
 * grid spanning [min(x, 0), max(x)], then for each of nstep + 1 trial grid densities
 * (nmax + rmin + rdelta * is levels across the range) round, solve the 2x2 least
 * squares for scale and min (min kept <= 0), and keep the best. Returns scale. */
static float fit_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                           float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    uint8_t trial[QK];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            trial[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * trial[i] + this_min - x[i];
            error += weights[i] * (diff * diff);
        }
        if (error < best_error) {
            memcpy(L, trial, (size_t)n);
            best_error = error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

/* Packs sub-block j's 6-bit scale ls and min lm into the 12 bytes (quant_q4_K_scales reads them). */
static void pack_q4_K_scale(uint8_t *packed, int j, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        packed[j] = ls;
        packed[j + 4] = lm;
    } else {
        packed[j + 4] = (uint8_t)((ls & 0x0F) | (lm & 0x0F) << 4);
        packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
        packed[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* ggml's quantize_row_q4_K_ref: fit each sub-block of 32 (weights favour large |x|),
 * quantize the 8 scales and 8 mins to 6 bits against their maxima (d = max_scale / 63,
 * dmin = max_min / 63), then re-round every x to the grid the stored scales give. */
static void quantize_q4_K(const float *x, uint8_t *block) {
    uint8_t L[QK_K];
    float weights[32], scales[8], mins[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, 15, xs, weights, L + 32 * j, &mins[j], -1.0f, 0.1f, 20);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t *packed = block + 4, *qs = block + 16;
    memset(packed, 0, 12);
    for (int j = 0; j < 8; j++) {
        /* As ggml: the int goes through uint8_t before the clamp to 63. */
        uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
        pack_q4_K_scale(packed, j, ls < 63 ? ls : 63, lm < 63 ? lm : 63);
    }
    store_f16(block, max_scale / 63.0f);
    store_f16(block + 2, max_min / 63.0f);
    uint8_t sm[16];
    quant_q4_K_scales(packed, sm);
    for (int j = 0; j < 8; j++) {
        float d = load_f16(block) * sm[j];
        if (!d) continue; /* keeps the fitted levels, as ggml does */
        float dm = load_f16(block + 2) * sm[8 + j];
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, 15);
    }
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

static void dequantize_q4_K(const uint8_t *block, float *out) {
    float d = load_f16(block), dmin = load_f16(block + 2);
    uint8_t sm[16];
    quant_q4_K_scales(block + 4, sm);
    const uint8_t *qs = block + 16;
    for (int c = 0; c < 4; c++, qs += 32, out += 64) {
        float d1 = d * sm[2 * c], m1 = dmin * sm[8 + 2 * c];
        float d2 = d * sm[2 * c + 1], m2 = dmin * sm[8 + 2 * c + 1];
        for (int l = 0; l < 32; l++) out[l] = d1 * (qs[l] & 0x0F) - m1;
        for (int l = 0; l < 32; l++) out[32 + l] = d2 * (qs[l] >> 4) - m2;
    }
}

/* ---- Q6_K ------------------------------------------------------------------ */

/* Symmetric levels L (n, stored as l + nmax, l in -nmax..nmax-1) with x ~= scale * l,
 * fitted to minimise sum x^2 (x - scale l)^2 (ggml's make_qx_quants, rmse_type 1, no
 * importance weights): the value of largest magnitude sets the first grid (it lands
 * on -nmax), 18 nearby grid densities are tried, and each is refitted by least
 * squares. Returns scale; an all-zero input gives L = 0 and scale 0. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    if (amax < 1e-15f) { /* ggml's GROUP_MAX_EPS */
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ggml's quantize_row_q6_K_ref: fit each sub-block of 16, quantize the 16 scales to
 * int8 against the one of largest magnitude (which lands on -128; d = its scale / -128),
 * then re-round every x to the grid the stored scales give. */
static void quantize_q6_K(const float *x, uint8_t *block) {
    int8_t L[QK_K];
    float scales[16], max_scale = 0, max_abs_scale = 0;
    for (int k = 0; k < 16; k++) {
        scales[k] = fit_symmetric(16, 32, x + 16 * k, L + 16 * k);
        if (fabsf(scales[k]) > max_abs_scale) {
            max_abs_scale = fabsf(scales[k]);
            max_scale = scales[k];
        }
    }
    uint8_t *ql = block, *qh = block + 128, *sc = block + 192, *dp = block + 208;
    if (max_abs_scale < 1e-15f) {
        memset(block, 0, Q6_K_BYTES); /* d = +0 */
        return;
    }
    float iscale = -128.0f / max_scale;
    store_f16(dp, 1 / iscale);
    for (int k = 0; k < 16; k++) {
        int s = nearest_int(iscale * scales[k]);
        sc[k] = (uint8_t)(int8_t)(s < 127 ? s : 127);
    }
    for (int k = 0; k < 16; k++) {
        float d = load_f16(dp) * (int8_t)sc[k];
        if (!d) continue; /* keeps the fitted levels, as ggml does */
        for (int i = 0; i < 16; i++) L[16 * k + i] = (int8_t)(clamp_int(nearest_int(x[16 * k + i] / d), -32, 31) + 32);
    }
    for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
        const int8_t *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((Lh[l] & 0x0F) | (Lh[l + 64] & 0x0F) << 4);
            ql[l + 32] = (uint8_t)((Lh[l + 32] & 0x0F) | (Lh[l + 96] & 0x0F) << 4);
            qh[l] = (uint8_t)(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 | (Lh[l + 96] >> 4) << 6);
        }
    }
}

static void dequantize_q6_K(const uint8_t *block, float *out) {
    float d = load_f16(block + 208);
    const uint8_t *ql = block, *qh = block + 128;
    const int8_t *sc = (const int8_t *)(block + 192);
    for (int h = 0; h < 2; h++, ql += 64, qh += 32, sc += 8, out += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32;
            int q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32;
            int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
            int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
            out[l] = d * sc[is] * q1;
            out[l + 32] = d * sc[is + 2] * q2;
            out[l + 64] = d * sc[is + 4] * q3;
            out[l + 96] = d * sc[is + 6] * q4;
        }
    }
}

/* ---- rows -------------------------------------------------------------------- */

int slm_quantize_row(slm_quant_type type, const float *x, void *out, size_t n) {
    size_t block_bytes = slm_quant_block_bytes(type), per = slm_quant_block_elements(type);
    if (!block_bytes || n % per) return -1;
    uint8_t *block = out;
    for (size_t b = 0; b < n / per; b++, block += block_bytes, x += per) {
        switch (type) {
        case SLM_QUANT_Q4_0: quantize_q4_0(x, block); break;
        case SLM_QUANT_Q8_0: quantize_q8_0(x, block); break;
        case SLM_QUANT_Q4_K: quantize_q4_K(x, block); break;
        case SLM_QUANT_Q6_K: quantize_q6_K(x, block); break;
        }
    }
    return 0;
}

int slm_dequantize_row(slm_quant_type type, const void *in, float *out, size_t n) {
    size_t block_bytes = slm_quant_block_bytes(type), per = slm_quant_block_elements(type);
    if (!block_bytes || n % per) return -1;
    const uint8_t *block = in;
    for (size_t b = 0; b < n / per; b++, block += block_bytes, out += per) {
        switch (type) {
        case SLM_QUANT_Q4_0: dequantize_q4_0(block, out); break;
        case SLM_QUANT_Q8_0: dequantize_q8_0(block, out); break;
        case SLM_QUANT_Q4_K: dequantize_q4_K(block, out); break;
        case SLM_QUANT_Q6_K: dequantize_q6_K(block, out); break;
        }
    }
    return 0;
}
