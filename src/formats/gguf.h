/* gguf.h — reading and writing GGUF files (versions 2 and 3), the format of
 * llama.cpp / ggml: a header, typed key-value metadata, tensor infos and an
 * aligned data section. The reader maps the file and validates every count,
 * length, type, shape and offset before use; tensors are views into the
 * mapping. Multi-byte values are little-endian (big-endian GGUF is rejected:
 * its version field reads as an unknown version). */
#ifndef SLM_FORMATS_GGUF_H
#define SLM_FORMATS_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "slm.h"

/* Metadata value types, numbered as in the file. */
typedef enum {
    SLM_GGUF_UINT8 = 0,
    SLM_GGUF_INT8 = 1,
    SLM_GGUF_UINT16 = 2,
    SLM_GGUF_INT16 = 3,
    SLM_GGUF_UINT32 = 4,
    SLM_GGUF_INT32 = 5,
    SLM_GGUF_FLOAT32 = 6,
    SLM_GGUF_BOOL = 7,
    SLM_GGUF_STRING = 8,
    SLM_GGUF_ARRAY = 9,
    SLM_GGUF_UINT64 = 10,
    SLM_GGUF_INT64 = 11,
    SLM_GGUF_FLOAT64 = 12,
    SLM_GGUF_TYPE_COUNT
} slm_gguf_type;

/* ggml tensor types, numbered as in the file (gaps are retired types). */
typedef enum {
    SLM_GGML_F32 = 0,
    SLM_GGML_F16 = 1,
    SLM_GGML_Q4_0 = 2,
    SLM_GGML_Q4_1 = 3,
    SLM_GGML_Q5_0 = 6,
    SLM_GGML_Q5_1 = 7,
    SLM_GGML_Q8_0 = 8,
    SLM_GGML_Q8_1 = 9,
    SLM_GGML_Q2_K = 10,
    SLM_GGML_Q3_K = 11,
    SLM_GGML_Q4_K = 12,
    SLM_GGML_Q5_K = 13,
    SLM_GGML_Q6_K = 14,
    SLM_GGML_Q8_K = 15,
    SLM_GGML_I8 = 24,
    SLM_GGML_I16 = 25,
    SLM_GGML_I32 = 26,
    SLM_GGML_I64 = 27,
    SLM_GGML_F64 = 28,
    SLM_GGML_BF16 = 30
} slm_ggml_type;

#define SLM_GGUF_MAX_DIMS 4
#define SLM_GGUF_DEFAULT_ALIGNMENT 32
/* Arrays of arrays nest at most this deep (an array of scalars is depth 1). */
#define SLM_GGUF_MAX_ARRAY_DEPTH 8

/* Elements per block and bytes per block of a ggml type (1 and the element
 * size for the plain types). Returns 0 for a type slm cannot size. */
int slm_ggml_type_block(slm_ggml_type type, size_t *block_elements, size_t *block_bytes);
/* "F32", "Q4_K", ...; "unknown" for others. */
const char *slm_ggml_type_name(slm_ggml_type type);
/* "uint8", "string", "array", ...; "unknown" for others. */
const char *slm_gguf_type_name(slm_gguf_type type);

/* One tensor. dims are in ggml order: dims[0] varies fastest (the row
 * length), so a PyTorch [out, in] matrix has dims {in, out}. */
typedef struct {
    const char *name;
    slm_ggml_type type;
    int n_dims;                        /* 0..4; unused dims are 1 */
    uint64_t dims[SLM_GGUF_MAX_DIMS];
    uint64_t n_elements;               /* reader: product of dims; writer: ignored */
    uint64_t offset;                   /* reader: offset in the data section; writer: ignored */
    const void *data;                  /* reader: into the mapping; writer: the bytes to write */
    size_t nbytes;                     /* n_elements / block_elements * block_bytes */
} slm_gguf_tensor;

typedef struct slm_gguf slm_gguf;

/* ---- reading ---- */

/* Maps and validates path. NULL with err set (naming the file, the key or
 * tensor, and the byte offset) on any problem. */
slm_gguf *slm_gguf_open(const char *path, slm_error *err);
void slm_gguf_free(slm_gguf *g);

const char *slm_gguf_path(const slm_gguf *g);
uint32_t slm_gguf_version(const slm_gguf *g);
/* general.alignment, or 32 when absent. */
size_t slm_gguf_alignment(const slm_gguf *g);

/* Metadata by position: 0 <= i < slm_gguf_kv_count(). */
int64_t slm_gguf_kv_count(const slm_gguf *g);
const char *slm_gguf_kv_key(const slm_gguf *g, int64_t i);
slm_gguf_type slm_gguf_kv_type(const slm_gguf *g, int64_t i);
/* Index of key, or -1 when absent. */
int64_t slm_gguf_find_key(const slm_gguf *g, const char *key);

/* Typed getters. An absent key is SLM_ERR_FORMAT "missing"; a value of
 * another type is SLM_ERR_FORMAT naming both types. Integer getters accept
 * any integer type whose value fits; get_f32 accepts float32 and float64.
 * Strings point into the mapping (not NUL-terminated there); get_string
 * returns a NUL-terminated copy owned by g, with its length (it may hold NULs). */
slm_status slm_gguf_get_string(const slm_gguf *g, const char *key, const char **s, size_t *len, slm_error *err);
slm_status slm_gguf_get_u32(const slm_gguf *g, const char *key, uint32_t *v, slm_error *err);
slm_status slm_gguf_get_i32(const slm_gguf *g, const char *key, int32_t *v, slm_error *err);
slm_status slm_gguf_get_u64(const slm_gguf *g, const char *key, uint64_t *v, slm_error *err);
slm_status slm_gguf_get_i64(const slm_gguf *g, const char *key, int64_t *v, slm_error *err);
slm_status slm_gguf_get_f32(const slm_gguf *g, const char *key, float *v, slm_error *err);
slm_status slm_gguf_get_bool(const slm_gguf *g, const char *key, int *v, slm_error *err);

/* Arrays: element type and length. */
slm_status slm_gguf_get_array(const slm_gguf *g, const char *key, slm_gguf_type *elem_type, uint64_t *count,
                              slm_error *err);
/* Element i of a string array: pointer into the mapping and length (not NUL-terminated). */
slm_status slm_gguf_array_string(const slm_gguf *g, const char *key, uint64_t i, const char **s, size_t *len,
                                 slm_error *err);
/* Element i of an integer or bool array (uint64 values above INT64_MAX are an error). */
slm_status slm_gguf_array_int(const slm_gguf *g, const char *key, uint64_t i, int64_t *v, slm_error *err);
/* Element i of a float32 or float64 array. */
slm_status slm_gguf_array_float(const slm_gguf *g, const char *key, uint64_t i, float *v, slm_error *err);

int64_t slm_gguf_tensor_count(const slm_gguf *g);
/* NULL when out of range. */
const slm_gguf_tensor *slm_gguf_tensor_at(const slm_gguf *g, int64_t i);
/* NULL when absent. */
const slm_gguf_tensor *slm_gguf_find_tensor(const slm_gguf *g, const char *name);

/* ---- writing (gguf_write.c) ---- */

/* One metadata entry to write. Set the field matching type:
 *   UINT8..UINT64, BOOL -> u;  INT8..INT64 -> i;  FLOAT32, FLOAT64 -> f;  STRING -> string;
 *   ARRAY -> array_type (any type but ARRAY), array_count and array, which points to
 *   array_count elements of uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float,
 *   uint8_t (bool), const char * (string), uint64_t, int64_t or double. */
typedef struct {
    const char *key;
    slm_gguf_type type;
    uint64_t u;
    int64_t i;
    double f;
    const char *string;
    slm_gguf_type array_type;
    uint64_t array_count;
    const void *array;
} slm_gguf_kv;

/* Writes a GGUF v3 file with alignment 32 (general.alignment must not be in
 * kvs). Each tensor's name, type, n_dims, dims, data and nbytes are used;
 * nbytes must match the type and dims, and dims[0] must be a multiple of the
 * type's block. A repeated key or tensor name, a value out of its type's range,
 * or a failed write is an error; a partly written file is removed. */
slm_status slm_gguf_write(const char *path, const slm_gguf_kv *kvs, int64_t n_kv, const slm_gguf_tensor *tensors,
                          int64_t n_tensors, slm_error *err);

#endif
