/* quant.h — block-quantized weights in ggml's (GGUF's) byte layouts, so rows
 * read from a GGUF file are used in place and rows written here load in ggml.
 *
 * Q8_0 and Q4_0 cut a row into blocks of 32 weights, each with its own scale:
 *   Q8_0 (34 bytes): f16 d, int8 q[32];              x[i] = d * q[i]
 *   Q4_0 (18 bytes): f16 d, uint8 nibbles[16];       x[i] = d * (nibble_i - 8)
 *     byte j holds element j in its low nibble and element j + 16 in its high one.
 * The k-quants cut a row into super-blocks of 256 (QK_K):
 *   Q4_K (144 bytes): f16 d, f16 dmin, uint8 scales[12], uint8 qs[128].
 *     8 sub-blocks of 32, each with a 6-bit scale sc and 6-bit min m packed into
 *     the 12 bytes (see quant_impl.h); x[i] = d * sc_s * q_i - dmin * m_s.
 *     qs[32c + l] holds element 64c + l in its low nibble and 64c + 32 + l in its high one.
 *   Q6_K (210 bytes): uint8 ql[128], uint8 qh[64], int8 scales[16], f16 d.
 *     16 sub-blocks of 16; x[i] = d * scales[i / 16] * (q_i - 32), q_i 6 bits: in each
 *     half h of 128 (ql + 64h, qh + 32h), for l < 32, element l is ql[l] low nibble with
 *     qh[l] bits 0-1 above it, l + 32 is ql[l + 32] low with bits 2-3, l + 64 is ql[l]
 *     high with bits 4-5, l + 96 is ql[l + 32] high with bits 6-7.
 * Dequantization is exactly ggml's (dequantize_row_*: the same f32 operations in
 * the same order). Quantizers follow ggml's reference quantizers
 * (quantize_row_{q8_0,q4_0,q4_K,q6_K}_ref, which llama-quantize uses without an
 * importance matrix) operation for operation, so the bytes match what ggml writes;
 * tests/test_quant.c checks that against bytes ggml produced.
 *
 * Dot products. slm_quant_dot is the scalar reference (exact dequantized weights,
 * f32 activations). The fast path quantizes an input row once to 8-bit
 * activations (slm_quant_activations: one f32 scale per 32 inputs for Q4_0/Q8_0,
 * per 256 for the k-quants, as ggml's Q8_0/Q8_K) and takes exact integer dot
 * products (slm_quant_rows: AVX-512 VNNI, AVX2 or plain C, chosen once from the
 * CPU's features). Its error against the reference comes from the activations
 * only: |x_i - dx q_i| <= dx / 2 with dx = amax / 127 over the input's block, so
 * per row |fast - reference| <= sum over activation blocks of dx / 2 * sum |w_i|,
 * plus f32 rounding. */
#ifndef SLM_CORE_QUANT_H
#define SLM_CORE_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* Values are ggml's ggml_type ids, so a GGUF tensor type maps straight across. */
typedef enum { SLM_QUANT_Q4_0 = 2, SLM_QUANT_Q8_0 = 8, SLM_QUANT_Q4_K = 12, SLM_QUANT_Q6_K = 14 } slm_quant_type;

/* Weights per Q4_0 / Q8_0 block (the k-quants' is 256: slm_quant_block_elements). */
#define SLM_QUANT_BLOCK 32

/* Weights per block of type: 32 (Q4_0, Q8_0) or 256 (Q4_K, Q6_K); 0 for an unknown type. */
size_t slm_quant_block_elements(slm_quant_type type);
/* Bytes of one block of type (18, 34, 144, 210); 0 for an unknown type. */
size_t slm_quant_block_bytes(slm_quant_type type);
/* Bytes of a row of n weights; 0 if the type is unknown or n is not a multiple of its block. */
size_t slm_quant_row_bytes(slm_quant_type type, size_t n);
/* "q4_0", "q8_0", "q4_k", "q6_k", or "?" */
const char *slm_quant_type_name(slm_quant_type type);

/* out (row_bytes(type, n)) = x (n) quantized. Returns 0, or -1 if n is not a
 * multiple of the type's block or the type is unknown (out untouched). */
int slm_quantize_row(slm_quant_type type, const float *x, void *out, size_t n);
/* out (n) = in (row_bytes(type, n)) dequantized. Returns 0 or -1 as above. */
int slm_dequantize_row(slm_quant_type type, const void *in, float *out, size_t n);

/* Reference dot of a quantized row w_row (n) with f32 x (n): sum_i w_i x_i with
 * w_i dequantized exactly. Returns NaN if n is not a multiple of the block or the type is unknown. */
float slm_quant_dot(slm_quant_type type, const void *w_row, const float *x, size_t n);

/* ---- the fast path --------------------------------------------------------
 * Activations are quantized once per input row for dotting with weights of
 * `type` (Q8_0-like blocks of 32 for Q4_0/Q8_0, Q8_K-like blocks of 256 with
 * block sums for the k-quants; layout in quant_impl.h). The buffer is best
 * 64-byte aligned; any alignment works. */

/* Bytes of the activations of one input row of n_in (a multiple of 64); 0 if the
 * type is unknown or n_in is not a positive multiple of its block. */
size_t slm_quant_act_bytes(slm_quant_type type, int n_in);
/* act (act_bytes(type, n_in)) = x (n_in) quantized. Returns 0, or -1 as act_bytes gives 0. */
int slm_quant_activations(slm_quant_type type, const float *x, int n_in, void *act);
/* The same with a named ISA, as slm_quant_rows_with (-1 also where this CPU lacks it).
 * Every ISA writes the same bytes. */
int slm_quant_activations_with(const char *isa, slm_quant_type type, const float *x, int n_in, void *act);
/* y[r] for r in [r0, r1) = row r of W (rows of slm_quant_row_bytes(type, n_in),
 * contiguous from W) . x, with x given as act from slm_quant_activations. The
 * fastest implementation for this CPU (AVX-512 VNNI / AVX2 / plain C, chosen once).
 * Thread-safe and allocation-free: threads may run disjoint row ranges at once.
 * On a bad type or n_in (act_bytes 0) or 0 <= r0 <= r1 not holding, y[r0..r1) is set to NaN
 * where that range is valid, and nothing is written otherwise. */
void slm_quant_rows(slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act, float *y);
/* The same with a named ISA: "avx512" (AVX-512 F/BW/VL/VNNI/VBMI), "avx2" (AVX2, FMA,
 * F16C) or "scalar" (the same integer arithmetic in plain C). Returns 0, or -1 (y
 * untouched) if this CPU can't run it or the arguments are bad. For tests and benchmarks. */
int slm_quant_rows_with(const char *isa, slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act,
                        float *y);
/* Activation rows that slm_quant_rows_multi dots with each unpacked weight block. */
#define SLM_QUANT_MULTI_MAX 8

/* Several input rows at once (a prompt): y[t * y_stride + r] for t in [0, n_act) and
 * r in [r0, r1) = row r of W . activation row t (at act + t * act_stride, each from
 * slm_quant_activations). Any n_act >= 0; up to SLM_QUANT_MULTI_MAX activation rows
 * (8 with AVX-512, 4 with AVX2) share each unpacked weight block, so the unpacking is paid once per group rather
 * than once per row. Every y equals what slm_quant_rows gives for that row alone, bit
 * for bit (the same operations in the same order). Thread-safety and bad arguments as
 * slm_quant_rows (NaN written to y[t * y_stride + r] where those are valid). */
void slm_quant_rows_multi(slm_quant_type type, const void *W, int n_in, int r0, int r1, const void *act,
                          size_t act_stride, int n_act, float *y, size_t y_stride);
/* The same with a named ISA, as slm_quant_rows_with. */
int slm_quant_rows_multi_with(const char *isa, slm_quant_type type, const void *W, int n_in, int r0, int r1,
                              const void *act, size_t act_stride, int n_act, float *y, size_t y_stride);
/* The implementation slm_quant_rows uses on this CPU: "avx512", "avx2" or "scalar". */
const char *slm_quant_isa(void);

/* y (n_out) = W (n_out rows of n_in) @ x (n_in) through activations + rows (a thin
 * wrapper; the quantized x is on the stack up to 8192 inputs, else malloc'd).
 * Returns 0, or -1 if n_in is not a positive multiple of the block, n_out < 0,
 * the type is unknown, or scratch cannot be allocated. */
int slm_quant_matvec(slm_quant_type type, const void *W, int n_in, int n_out, const float *x, float *y);
/* The same product through the scalar reference (slm_quant_dot per row). */
int slm_quant_matvec_reference(slm_quant_type type, const void *W, int n_in, int n_out, const float *x, float *y);
/* slm_quant_matvec with a named ISA as in slm_quant_rows_with. */
int slm_quant_matvec_with(const char *isa, slm_quant_type type, const void *W, int n_in, int n_out, const float *x,
                          float *y);

#endif
