/* gguf_write.c — the GGUF v3 writer (see gguf.h): header, metadata, tensor
 * infos, zero padding to 32 bytes, then each tensor's data padded to 32 bytes,
 * in the order given. Everything is validated before the file is created. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/gguf.h"

#define WRITE_ALIGNMENT 32u

/* Bytes of a scalar value type in the file (string and array: 0). */
static size_t scalar_size(slm_gguf_type t) {
    switch (t) {
    case SLM_GGUF_UINT8: case SLM_GGUF_INT8: case SLM_GGUF_BOOL: return 1;
    case SLM_GGUF_UINT16: case SLM_GGUF_INT16: return 2;
    case SLM_GGUF_UINT32: case SLM_GGUF_INT32: case SLM_GGUF_FLOAT32: return 4;
    case SLM_GGUF_UINT64: case SLM_GGUF_INT64: case SLM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static const char *find_repeat(const char **names, int64_t n) {
    if (n < 2) return NULL;
    qsort(names, (size_t)n, sizeof *names, compare_strings);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

/* Does an unsigned / signed value fit the scalar type t? */
static int unsigned_fits(slm_gguf_type t, uint64_t u) {
    switch (t) {
    case SLM_GGUF_UINT8: return u <= UINT8_MAX;
    case SLM_GGUF_UINT16: return u <= UINT16_MAX;
    case SLM_GGUF_UINT32: return u <= UINT32_MAX;
    case SLM_GGUF_BOOL: return u <= 1;
    default: return 1;
    }
}

static int signed_fits(slm_gguf_type t, int64_t i) {
    switch (t) {
    case SLM_GGUF_INT8: return i >= INT8_MIN && i <= INT8_MAX;
    case SLM_GGUF_INT16: return i >= INT16_MIN && i <= INT16_MAX;
    case SLM_GGUF_INT32: return i >= INT32_MIN && i <= INT32_MAX;
    default: return 1;
    }
}

static slm_status check_kv(const char *path, const slm_gguf_kv *kv, int64_t index, slm_error *err) {
    if (!kv->key || !kv->key[0])
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: metadata #%lld has no key", path, (long long)index);
    if (strlen(kv->key) > 65535)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %.100s...: longer than 65535 bytes", path, kv->key);
    if (strcmp(kv->key, "general.alignment") == 0 && !(kv->type == SLM_GGUF_UINT32 && kv->u == WRITE_ALIGNMENT))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key general.alignment: the writer aligns to %u only", path,
                        WRITE_ALIGNMENT);
    slm_gguf_type t = kv->type;
    if ((unsigned)t >= SLM_GGUF_TYPE_COUNT)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: invalid type %d", path, kv->key, (int)t);
    if (t == SLM_GGUF_STRING && !kv->string)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: string is NULL", path, kv->key);
    if (!unsigned_fits(t, kv->u) || !signed_fits(t, kv->i))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: value does not fit in %s", path, kv->key,
                        slm_gguf_type_name(t));
    if (t != SLM_GGUF_ARRAY) return SLM_OK;
    slm_gguf_type e = kv->array_type;
    if ((unsigned)e >= SLM_GGUF_TYPE_COUNT || e == SLM_GGUF_ARRAY)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: invalid array element type %d", path, kv->key, (int)e);
    if (kv->array_count && !kv->array)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: array is NULL", path, kv->key);
    for (uint64_t k = 0; k < kv->array_count; k++) {
        if (e == SLM_GGUF_STRING && !((const char *const *)kv->array)[k])
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: string element %llu is NULL", path, kv->key,
                            (unsigned long long)k);
        if (e == SLM_GGUF_BOOL && ((const uint8_t *)kv->array)[k] > 1)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s: bool element %llu is not 0 or 1", path, kv->key,
                            (unsigned long long)k);
    }
    return SLM_OK;
}

static slm_status check_tensor(const char *path, const slm_gguf_tensor *t, int64_t index, slm_error *err) {
    if (!t->name || !t->name[0])
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor #%lld has no name", path, (long long)index);
    if (strlen(t->name) > 65535)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %.100s...: name longer than 65535 bytes", path, t->name);
    size_t block_elements, block_bytes;
    if (!slm_ggml_type_block(t->type, &block_elements, &block_bytes))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: unknown ggml type %d", path, t->name, (int)t->type);
    if (t->n_dims < 0 || t->n_dims > SLM_GGUF_MAX_DIMS)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: n_dims %d (at most %d)", path, t->name, t->n_dims,
                        SLM_GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) {
        if (t->dims[d] > (uint64_t)INT64_MAX || (t->dims[d] && n > (uint64_t)INT64_MAX / t->dims[d]))
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: element count overflows", path, t->name);
        n *= t->dims[d];
    }
    uint64_t row = t->n_dims ? t->dims[0] : 1;
    if (row % block_elements)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: row length %llu is not a multiple of the %s block (%zu)",
                        path, t->name, (unsigned long long)row, slm_ggml_type_name(t->type), block_elements);
    uint64_t want = n / block_elements * block_bytes;
    if (t->nbytes != want)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: %zu bytes given, %llu elements of %s need %llu", path,
                        t->name, t->nbytes, (unsigned long long)n, slm_ggml_type_name(t->type), (unsigned long long)want);
    if (t->nbytes && !t->data)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: data is NULL", path, t->name);
    return SLM_OK;
}

/* A FILE plus the bytes written so far; the first failure sticks. */
typedef struct {
    FILE *f;
    uint64_t pos;
    int failed;
} writer;

static void put_bytes(writer *w, const void *p, size_t n) {
    if (w->failed || n == 0) return;
    if (fwrite(p, 1, n, w->f) != n) w->failed = 1;
    w->pos += n;
}

static void put_le(writer *w, uint64_t v, size_t n) {
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, b, n);
}

static void put_string(writer *w, const char *s) {
    size_t n = strlen(s);
    put_le(w, n, 8);
    put_bytes(w, s, n);
}

static void put_padding(writer *w) {
    static const uint8_t zeros[WRITE_ALIGNMENT];
    put_bytes(w, zeros, (WRITE_ALIGNMENT - w->pos % WRITE_ALIGNMENT) % WRITE_ALIGNMENT);
}

/* One scalar in type t from the C value the caller gave (see slm_gguf_kv). */
static void put_scalar(writer *w, slm_gguf_type t, uint64_t u, int64_t i, double f) {
    if (t == SLM_GGUF_FLOAT32) {
        float x = (float)f;
        uint32_t bits;
        memcpy(&bits, &x, 4);
        put_le(w, bits, 4);
    } else if (t == SLM_GGUF_FLOAT64) {
        uint64_t bits;
        memcpy(&bits, &f, 8);
        put_le(w, bits, 8);
    } else if (t == SLM_GGUF_INT8 || t == SLM_GGUF_INT16 || t == SLM_GGUF_INT32 || t == SLM_GGUF_INT64) {
        put_le(w, (uint64_t)i, scalar_size(t));
    } else {
        put_le(w, u, scalar_size(t));
    }
}

/* Element k of a caller's array, written in type e. */
static void put_element(writer *w, slm_gguf_type e, const void *array, uint64_t k) {
    switch (e) {
    case SLM_GGUF_UINT8: case SLM_GGUF_BOOL: put_le(w, ((const uint8_t *)array)[k], 1); break;
    case SLM_GGUF_INT8: put_le(w, (uint8_t)((const int8_t *)array)[k], 1); break;
    case SLM_GGUF_UINT16: put_le(w, ((const uint16_t *)array)[k], 2); break;
    case SLM_GGUF_INT16: put_le(w, (uint16_t)((const int16_t *)array)[k], 2); break;
    case SLM_GGUF_UINT32: put_le(w, ((const uint32_t *)array)[k], 4); break;
    case SLM_GGUF_INT32: put_le(w, (uint32_t)((const int32_t *)array)[k], 4); break;
    case SLM_GGUF_UINT64: put_le(w, ((const uint64_t *)array)[k], 8); break;
    case SLM_GGUF_INT64: put_le(w, (uint64_t)((const int64_t *)array)[k], 8); break;
    case SLM_GGUF_FLOAT32: put_scalar(w, e, 0, 0, ((const float *)array)[k]); break;
    case SLM_GGUF_FLOAT64: put_scalar(w, e, 0, 0, ((const double *)array)[k]); break;
    case SLM_GGUF_STRING: put_string(w, ((const char *const *)array)[k]); break;
    default: break;
    }
}

static slm_status validate(const char *path, const slm_gguf_kv *kvs, int64_t n_kv, const slm_gguf_tensor *tensors,
                           int64_t n_tensors, slm_error *err) {
    if (n_kv < 0 || n_tensors < 0 || (n_kv && !kvs) || (n_tensors && !tensors))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: invalid metadata or tensor list", path);
    for (int64_t k = 0; k < n_kv; k++)
        if (check_kv(path, &kvs[k], k, err)) return SLM_ERR_INVALID_ARGUMENT;
    for (int64_t i = 0; i < n_tensors; i++)
        if (check_tensor(path, &tensors[i], i, err)) return SLM_ERR_INVALID_ARGUMENT;
    int64_t most = n_kv > n_tensors ? n_kv : n_tensors;
    const char **names = malloc((most ? (size_t)most : 1) * sizeof *names);
    if (!names) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int64_t k = 0; k < n_kv; k++) names[k] = kvs[k].key;
    const char *repeat = find_repeat(names, n_kv);
    slm_status st = repeat ? slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s given twice", path, repeat) : SLM_OK;
    if (!st) {
        for (int64_t i = 0; i < n_tensors; i++) names[i] = tensors[i].name;
        repeat = find_repeat(names, n_tensors);
        if (repeat) st = slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s given twice", path, repeat);
    }
    free(names);
    return st;
}

slm_status slm_gguf_write(const char *path, const slm_gguf_kv *kvs, int64_t n_kv, const slm_gguf_tensor *tensors,
                          int64_t n_tensors, slm_error *err) {
    if (!path) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_gguf_write: path is NULL");
    slm_status st = validate(path, kvs, n_kv, tensors, n_tensors, err);
    if (st) return st;
    writer w = {.f = fopen(path, "wb")};
    if (!w.f) return slm_fail(err, SLM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));

    put_bytes(&w, "GGUF", 4);
    put_le(&w, 3, 4);
    put_le(&w, (uint64_t)n_tensors, 8);
    put_le(&w, (uint64_t)n_kv, 8);
    for (int64_t k = 0; k < n_kv; k++) {
        const slm_gguf_kv *kv = &kvs[k];
        put_string(&w, kv->key);
        put_le(&w, (uint32_t)kv->type, 4);
        if (kv->type == SLM_GGUF_STRING) {
            put_string(&w, kv->string);
        } else if (kv->type == SLM_GGUF_ARRAY) {
            put_le(&w, (uint32_t)kv->array_type, 4);
            put_le(&w, kv->array_count, 8);
            for (uint64_t e = 0; e < kv->array_count; e++) put_element(&w, kv->array_type, kv->array, e);
        } else {
            put_scalar(&w, kv->type, kv->u, kv->i, kv->f);
        }
    }
    uint64_t offset = 0; /* in the data section */
    for (int64_t i = 0; i < n_tensors; i++) {
        const slm_gguf_tensor *t = &tensors[i];
        put_string(&w, t->name);
        put_le(&w, (uint32_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(&w, t->dims[d], 8);
        put_le(&w, (uint32_t)t->type, 4);
        put_le(&w, offset, 8);
        offset += (t->nbytes + WRITE_ALIGNMENT - 1) / WRITE_ALIGNMENT * WRITE_ALIGNMENT;
    }
    put_padding(&w);
    for (int64_t i = 0; i < n_tensors; i++) {
        put_bytes(&w, tensors[i].data, tensors[i].nbytes);
        put_padding(&w);
    }
    if (w.failed) st = slm_fail(err, SLM_ERR_IO, "%s: write failed at offset %llu: %s", path, (unsigned long long)w.pos,
                                strerror(errno));
    if (fclose(w.f) != 0 && !st) st = slm_fail(err, SLM_ERR_IO, "%s: write failed on close: %s", path, strerror(errno));
    if (st) remove(path);
    return st;
}
