/* tensor.h — element types and read-only tensor views over mapped files. */
#ifndef SLM_CORE_TENSOR_H
#define SLM_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    SLM_DTYPE_F32 = 0,
    SLM_DTYPE_F16,
    SLM_DTYPE_BF16,
    SLM_DTYPE_F64,
    SLM_DTYPE_I64,
    SLM_DTYPE_I32,
    SLM_DTYPE_I16,
    SLM_DTYPE_I8,
    SLM_DTYPE_U8,
    SLM_DTYPE_BOOL,
    /* Block-quantized weights in ggml's layouts (core/quant.h): a tensor's last
     * dimension is cut into blocks, each with its own scale. Element size 0. */
    SLM_DTYPE_Q4_0,
    SLM_DTYPE_Q8_0,
    SLM_DTYPE_Q4_K,
    SLM_DTYPE_Q6_K,
    SLM_DTYPE_COUNT
} slm_dtype;

#define SLM_MAX_DIMS 8

/* A view of a tensor stored elsewhere (usually a memory-mapped file). */
typedef struct {
    const char *name;
    slm_dtype dtype;
    int ndim;
    int64_t shape[SLM_MAX_DIMS];
    const void *data; /* row-major, densely packed */
    size_t nbytes;
} slm_tensor_view;

/* Bytes per element; 0 for the block-quantized types (see slm_dtype_row_bytes). */
size_t slm_dtype_size(slm_dtype dtype);
int slm_dtype_is_quantized(slm_dtype dtype);
/* Bytes of a row of n elements; 0 when n does not fill whole blocks. */
size_t slm_dtype_row_bytes(slm_dtype dtype, size_t n);
/* ggml's type id of a dtype (F32 0, F16 1, Q4_0 2, Q8_0 8, Q4_K 12, Q6_K 14, BF16 30, ...;
 * quant.h's slm_quant_type uses the same ids), or -1 when ggml has none. */
int slm_dtype_ggml_type(slm_dtype dtype);
/* The dtype of a ggml type id; 0 when slm has none. */
int slm_dtype_from_ggml_type(int ggml_type, slm_dtype *dtype);
const char *slm_dtype_name(slm_dtype dtype);
int64_t slm_tensor_numel(const slm_tensor_view *t);

static inline float slm_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even, as PyTorch does. */
static inline uint16_t slm_f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40); /* NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

float slm_f16_to_f32(uint16_t h);
uint16_t slm_f32_to_f16(float f);

/* Converts n elements of a float tensor (F32/F16/BF16) to f32. */
void slm_convert_to_f32(slm_dtype dtype, const void *src, float *dst, size_t n);

#endif
