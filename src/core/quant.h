/* quant.h — block-quantized weights in ggml's (GGUF's) byte layouts, so rows
 * read from a GGUF file are used in place and rows written here load in ggml.
 *
 * Both formats cut a row into blocks of 32 weights, each with its own scale:
 *   Q8_0 (34 bytes): f16 d, int8 q[32];              x[i] = d * q[i]
 *   Q4_0 (18 bytes): f16 d, uint8 nibbles[16];       x[i] = d * (nibble_i - 8)
 *     byte j holds element j in its low nibble and element j + 16 in its high one.
 * Quantizers round as ggml's reference quantizers (quantize_row_q8_0_ref,
 * quantize_row_q4_0_ref) do, so the bytes match what ggml writes.
 *
 * slm_quant_dot and slm_quant_matvec_reference are the scalar reference
 * (exact dequantized weights, f32 activations). slm_quant_matvec is the fast
 * decode path: it quantizes x once to 8-bit blocks (f32 scale, as ggml's Q8
 * activations but with an f32 rather than f16 scale) and takes integer dot
 * products (AVX-512 VNNI or AVX2, chosen at run time; plain C otherwise). */
#ifndef SLM_CORE_QUANT_H
#define SLM_CORE_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* Values are ggml's ggml_type ids, so a GGUF tensor type maps straight across. */
typedef enum { SLM_QUANT_Q4_0 = 2, SLM_QUANT_Q8_0 = 8 } slm_quant_type;

/* Weights per block, for every type here. */
#define SLM_QUANT_BLOCK 32

/* Bytes of one block of type (34 for Q8_0, 18 for Q4_0); 0 for an unknown type. */
size_t slm_quant_block_bytes(slm_quant_type type);
/* Bytes of a row of n weights; 0 if the type is unknown or n is not a multiple of 32. */
size_t slm_quant_row_bytes(slm_quant_type type, size_t n);
/* "q8_0", "q4_0", or "?" */
const char *slm_quant_type_name(slm_quant_type type);

/* out (row_bytes(type, n)) = x (n) quantized. Returns 0, or -1 if n is not a
 * multiple of 32 or the type is unknown (out untouched). */
int slm_quantize_row(slm_quant_type type, const float *x, void *out, size_t n);
/* out (n) = in (row_bytes(type, n)) dequantized. Returns 0 or -1 as above. */
int slm_dequantize_row(slm_quant_type type, const void *in, float *out, size_t n);

/* Reference dot of a quantized row w_row (n) with f32 x (n): sum_i w_i x_i with
 * w_i dequantized exactly. Returns NaN if n is not a multiple of 32 or the type is unknown. */
float slm_quant_dot(slm_quant_type type, const void *w_row, const float *x, size_t n);

/* y (n_out) = W (n_out rows of n_in, each row_bytes(type, n_in), contiguous) @ x (n_in).
 * Fast path (decode): x is quantized to 8 bits per 32-block, so y differs from the
 * reference by at most sum_blocks (amax_block(x) / 254) * sum_block |w| per row
 * plus f32 rounding. Returns 0, or -1 if n_in is not a positive multiple of 32,
 * n_out < 0, the type is unknown, or scratch for the quantized x cannot be allocated. */
int slm_quant_matvec(slm_quant_type type, const void *W, int n_in, int n_out, const float *x, float *y);
/* The same product through the scalar reference (slm_quant_dot per row). */
int slm_quant_matvec_reference(slm_quant_type type, const void *W, int n_in, int n_out, const float *x,
                               float *y);
/* slm_quant_matvec with a named implementation: "avx512" (VNNI), "avx2" or "scalar"
 * (the integer path in plain C). Returns -1 also when this CPU cannot run it. */
int slm_quant_matvec_with(const char *isa, slm_quant_type type, const void *W, int n_in, int n_out,
                          const float *x, float *y);
/* The implementation slm_quant_matvec uses on this CPU: "avx512", "avx2" or "scalar". */
const char *slm_quant_isa(void);

#endif
