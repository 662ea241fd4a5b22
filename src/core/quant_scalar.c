/* quant_scalar.c — the row kernels in plain C: exact integer dot products of
 * the weights' integers with the 8-bit activations (layout in quant_impl.h),
 * scaled and summed in f32 per block. Runs anywhere; the vector kernels do the
 * same arithmetic and are tested against it. */
#include "core/quant_impl.h"
#include "core/tensor.h"

static float load_f16(const uint8_t *p) { return slm_f16_to_f32(quant_load_u16(p)); }

static float row_q4_0(const uint8_t *row, int n_in, const uint8_t *act) {
    float sum = 0.0f;
    for (int b = 0; b < n_in / QK; b++, row += Q4_0_BYTES) {
        const uint8_t *rec = act + (size_t)(b / ACT_GROUP_BLOCKS) * ACT_Q4_0_RECORD;
        const int8_t *x = (const int8_t *)rec + 16 * (b % ACT_GROUP_BLOCKS);
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) isum += (row[2 + j] & 0x0F) * x[j] + (row[2 + j] >> 4) * x[64 + j];
        isum += (int32_t)quant_load_u32(rec + ACT_Q4_0_CORR + 4 * (b % 4));
        sum += load_f16(row) * quant_load_f32(rec + ACT_Q4_0_DX + 4 * (b % 4)) * (float)isum;
    }
    return sum;
}

static float row_q8_0(const uint8_t *row, int n_in, const uint8_t *act) {
    float sum = 0.0f;
    for (int b = 0; b < n_in / QK; b++, row += Q8_0_BYTES) {
        const uint8_t *rec = act + (size_t)(b / ACT_GROUP_BLOCKS) * ACT_Q8_0_RECORD;
        const int8_t *x = (const int8_t *)rec + QK * (b % ACT_GROUP_BLOCKS);
        int32_t isum = 0;
        for (int j = 0; j < QK; j++) isum += (int8_t)row[2 + j] * x[j];
        sum += load_f16(row) * quant_load_f32(rec + ACT_Q8_0_DX + 4 * (b % 4)) * (float)isum;
    }
    return sum;
}

/* sum w x = dx (d sum_s sc_s sum_{i in s} q_i x_i - dmin sum_s m_s bsum_s). */
static float row_q4_K(const uint8_t *row, int n_in, const uint8_t *act) {
    float sum = 0.0f;
    for (int b = 0; b < n_in / QK_K; b++, row += Q4_K_BYTES, act += ACT_K_RECORD) {
        uint8_t sm[16];
        quant_q4_K_scales(row + 4, sm);
        int32_t isum = 0, msum = 0;
        for (int s = 0; s < 8; s++) {
            const uint8_t *qs = row + 16 + 32 * (s / 2);
            const int8_t *x = (const int8_t *)act + quant_q4_K_act_offset(s);
            int shift = 4 * (s % 2), ssum = 0;
            for (int l = 0; l < 32; l++) ssum += ((qs[l] >> shift) & 0x0F) * x[l];
            int16_t bsum;
            memcpy(&bsum, act + ACT_K_BSUM + 2 * s, sizeof bsum);
            isum += sm[s] * ssum;
            msum += sm[8 + s] * bsum;
        }
        float dx = quant_load_f32(act + ACT_K_DX);
        sum += load_f16(row) * dx * (float)isum - load_f16(row + 2) * dx * (float)msum;
    }
    return sum;
}

/* The 256 levels q - 32 of a Q6_K block, in element order (layout in quant.h). */
static void q6_K_levels(const uint8_t *block, int8_t *q) {
    const uint8_t *ql = block, *qh = block + 128;
    for (int h = 0; h < 2; h++, ql += 64, qh += 32, q += 128)
        for (int l = 0; l < 32; l++) {
            q[l] = (int8_t)(((ql[l] & 0x0F) | (qh[l] & 3) << 4) - 32);
            q[l + 32] = (int8_t)(((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32);
            q[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
}

static float row_q6_K(const uint8_t *row, int n_in, const uint8_t *act) {
    float sum = 0.0f;
    for (int b = 0; b < n_in / QK_K; b++, row += Q6_K_BYTES, act += ACT_K_RECORD) {
        const int8_t *x = (const int8_t *)act, *sc = (const int8_t *)(row + 192);
        int8_t q[QK_K];
        q6_K_levels(row, q);
        int32_t isum = 0;
        for (int k = 0; k < 16; k++) {
            int32_t ksum = 0;
            for (int i = 16 * k; i < 16 * k + 16; i++) ksum += q[i] * x[i];
            isum += sc[k] * ksum;
        }
        sum += load_f16(row + 208) * quant_load_f32(act + ACT_K_DX) * (float)isum;
    }
    return sum;
}

int quant_rows_scalar(slm_quant_type type, const quant_rows_job *job) {
    float (*row_dot)(const uint8_t *, int, const uint8_t *) = NULL;
    switch (type) {
    case SLM_QUANT_Q4_0: row_dot = row_q4_0; break;
    case SLM_QUANT_Q8_0: row_dot = row_q8_0; break;
    case SLM_QUANT_Q4_K: row_dot = row_q4_K; break;
    case SLM_QUANT_Q6_K: row_dot = row_q6_K; break;
    }
    if (!row_dot) return -1;
    /* Plain C gains nothing from sharing unpacked weights: each activation row in turn. */
    for (int t = 0; t < job->n_act; t++) {
        const uint8_t *act = job->act + (size_t)t * job->act_stride;
        float *y = job->y + (size_t)t * job->y_stride;
        for (int r = job->r0; r < job->r1; r++) y[r] = row_dot(job->W + (size_t)r * job->row_bytes, job->n_in, act);
    }
    return 0;
}
