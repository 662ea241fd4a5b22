/* tensor.c — dtype sizes, names and scalar half-precision conversion. */
#include "core/tensor.h"

#include "core/quant.h"

size_t slm_dtype_size(slm_dtype dtype) {
    static const size_t sizes[SLM_DTYPE_COUNT] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1, 0, 0, 0, 0};
    return dtype < SLM_DTYPE_COUNT ? sizes[dtype] : 0;
}

int slm_dtype_is_quantized(slm_dtype dtype) { return dtype >= SLM_DTYPE_Q4_0 && dtype < SLM_DTYPE_COUNT; }

int slm_dtype_ggml_type(slm_dtype dtype) {
    static const int ids[SLM_DTYPE_COUNT] = {0, 1, 30, 28, 27, 26, 25, 24, -1, -1, 2, 8, 12, 14};
    return dtype < SLM_DTYPE_COUNT ? ids[dtype] : -1;
}

int slm_dtype_from_ggml_type(int ggml_type, slm_dtype *dtype) {
    for (int d = 0; d < SLM_DTYPE_COUNT; d++)
        if (slm_dtype_ggml_type((slm_dtype)d) == ggml_type && ggml_type >= 0) {
            *dtype = (slm_dtype)d;
            return 1;
        }
    return 0;
}

size_t slm_dtype_row_bytes(slm_dtype dtype, size_t n) {
    if (!slm_dtype_is_quantized(dtype)) return n * slm_dtype_size(dtype);
    return slm_quant_row_bytes((slm_quant_type)slm_dtype_ggml_type(dtype), n);
}

const char *slm_dtype_name(slm_dtype dtype) {
    static const char *names[SLM_DTYPE_COUNT] = {"f32", "f16", "bf16", "f64", "i64",
                                                 "i32", "i16", "i8",   "u8",  "bool",
                                                 "q4_0", "q8_0", "q4_k", "q6_k"};
    return dtype < SLM_DTYPE_COUNT ? names[dtype] : "unknown";
}

int64_t slm_tensor_numel(const slm_tensor_view *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

float slm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400u)) {
                mantissa <<= 1;
                exponent--;
            }
            mantissa &= 0x3ffu;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t slm_f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000u;
    int32_t exponent = (int32_t)((bits >> 23) & 0xffu) - 127 + 15;
    uint32_t mantissa = bits & 0x7fffffu;
    if (((bits >> 23) & 0xffu) == 0xffu) return (uint16_t)(sign | 0x7c00u | (mantissa ? 0x200u : 0));
    if (exponent >= 31) return (uint16_t)(sign | 0x7c00u);
    if (exponent <= 0) {
        if (exponent < -10) return (uint16_t)sign;
        mantissa |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - exponent);
        uint32_t half = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exponent << 10) | (mantissa >> 13);
    uint32_t rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
    return (uint16_t)half;
}

void slm_convert_to_f32(slm_dtype dtype, const void *src, float *dst, size_t n) {
    switch (dtype) {
    case SLM_DTYPE_F32: memcpy(dst, src, n * sizeof(float)); break;
    case SLM_DTYPE_F16: {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = slm_f16_to_f32(s[i]);
        break;
    }
    case SLM_DTYPE_BF16: {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = slm_bf16_to_f32(s[i]);
        break;
    }
    default:
        for (size_t i = 0; i < n; i++) dst[i] = 0.0f; /* callers check dtypes first */
    }
}
