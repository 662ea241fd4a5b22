/* safetensors_write.c — a safetensors writer (see safetensors_write.h). */
#include "formats/safetensors_write.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const header_dtype[SLM_DTYPE_COUNT] = {"F32", "F16", "BF16", "F64", "I64",
                                                         "I32", "I16", "I8",   "U8",  "BOOL"};

/* What the layout order and the duplicate check sort on (qsort takes no context). */
typedef struct {
    size_t element_size;
    const char *name;
    int index;
} sort_key;

/* Larger elements first, then by name: the reference writer's order. */
static int compare_for_layout(const void *a, const void *b) {
    const sort_key *x = a, *y = b;
    if (x->element_size != y->element_size) return x->element_size > y->element_size ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(((const sort_key *)a)->name, ((const sort_key *)b)->name);
}

static slm_status check_tensor(const char *path, const slm_tensor_view *t, int index, int need_data, slm_error *err) {
    if (!t->name || !t->name[0])
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor #%d has no name", path, index);
    if (strcmp(t->name, "__metadata__") == 0)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: \"__metadata__\" is reserved, not a tensor name", path);
    if ((unsigned)t->dtype >= SLM_DTYPE_COUNT)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: invalid dtype %d", path, t->name, (int)t->dtype);
    if (!header_dtype[t->dtype])
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: tensor %s: safetensors has no %s dtype (write GGUF)", path,
                        t->name, slm_dtype_name(t->dtype));
    if (t->ndim < 0 || t->ndim > SLM_MAX_DIMS)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: ndim %d outside [0, %d]", path, t->name, t->ndim,
                        SLM_MAX_DIMS);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: negative shape[%d]", path, t->name, i);
        if (t->shape[i] && numel > UINT64_MAX / (uint64_t)t->shape[i])
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: element count overflows", path, t->name);
        numel *= (uint64_t)t->shape[i];
    }
    size_t esize = slm_dtype_size(t->dtype);
    if (numel > UINT64_MAX / esize || numel * esize != (uint64_t)t->nbytes)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: nbytes %zu is not %llu elements of %s", path,
                        t->name, t->nbytes, (unsigned long long)numel, slm_dtype_name(t->dtype));
    if (need_data && t->nbytes && !t->data)
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s: data is NULL", path, t->name);
    return SLM_OK;
}

/* The JSON header for tensors in the given order, padded with spaces to a multiple of 8. */
static char *build_header(const char *path, const slm_tensor_view *tensors, const int *order, int n,
                          const char *const *metadata, size_t *len, slm_error *err) {
    json_t *root = json_object();
    int ok = root != NULL;
    if (ok && metadata) {
        json_t *meta = json_object();
        ok = meta && json_object_set_new(root, "__metadata__", meta) == 0;
        for (int i = 0; ok && metadata[i]; i += 2) {
            if (!metadata[i + 1]) {
                json_decref(root);
                slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: metadata key \"%s\" has no value", path, metadata[i]);
                return NULL;
            }
            ok = json_object_set_new(meta, metadata[i], json_string(metadata[i + 1])) == 0;
        }
    }
    uint64_t offset = 0;
    for (int k = 0; ok && k < n; k++) {
        const slm_tensor_view *t = &tensors[order[k]];
        json_t *entry = json_object();
        /* json_object_set_new takes the value even when it fails, so nothing leaks on the way out. */
        ok = entry && json_object_set_new(root, t->name, entry) == 0;
        ok = ok && json_object_set_new(entry, "dtype", json_string(header_dtype[t->dtype])) == 0;
        json_t *shape = ok ? json_array() : NULL;
        ok = ok && json_object_set_new(entry, "shape", shape) == 0;
        for (int i = 0; ok && i < t->ndim; i++) ok = json_array_append_new(shape, json_integer(t->shape[i])) == 0;
        ok = ok && json_object_set_new(entry, "data_offsets",
                                       json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + t->nbytes))) == 0;
        offset += t->nbytes;
    }
    char *text = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT,
                 "%s: cannot build the header: out of memory, or a name or metadata string is not UTF-8", path);
        return NULL;
    }
    size_t n_text = strlen(text), padded = (n_text + 7) / 8 * 8;
    char *header = malloc(padded + 1);
    if (!header) {
        free(text);
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory building the header", path);
        return NULL;
    }
    memcpy(header, text, n_text);
    memset(header + n_text, ' ', padded - n_text);
    header[padded] = '\0';
    free(text);
    *len = padded;
    return header;
}

static slm_status write_all(slm_safetensors_fill_fn fill, void *user_data, const char *path,
                            const slm_tensor_view *tensors, const int *order, int n, const char *header,
                            size_t header_len, slm_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return slm_fail(err, SLM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    uint8_t length[8];
    for (int i = 0; i < 8; i++) length[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    slm_status st = SLM_OK;
    if (fwrite(length, 1, 8, f) != 8 || fwrite(header, 1, header_len, f) != header_len)
        st = slm_fail(err, SLM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    void *buffer = NULL;
    if (!st && fill) {
        size_t largest = 1;
        for (int i = 0; i < n; i++)
            if (tensors[i].nbytes > largest) largest = tensors[i].nbytes;
        buffer = malloc(largest);
        if (!buffer) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory for a %zu-byte tensor", path, largest);
    }
    for (int k = 0; k < n && !st; k++) {
        const slm_tensor_view *t = &tensors[order[k]];
        const void *data = t->data;
        if (fill) {
            st = fill(order[k], buffer, t->nbytes, user_data, err);
            data = buffer;
        }
        if (!st && t->nbytes && fwrite(data, 1, t->nbytes, f) != t->nbytes)
            st = slm_fail(err, SLM_ERR_IO, "%s: tensor %s: write failed: %s", path, t->name, strerror(errno));
    }
    free(buffer);
    if (fclose(f) != 0 && !st) st = slm_fail(err, SLM_ERR_IO, "%s: write failed on close: %s", path, strerror(errno));
    if (st) remove(path);
    return st;
}

slm_status slm_safetensors_write_with(const char *path, const slm_tensor_view *tensors, int n,
                                      const char *const *metadata, slm_safetensors_fill_fn fill, void *user_data,
                                      slm_error *err) {
    if (!path || n < 0 || (n > 0 && !tensors))
        return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_safetensors_write: bad arguments");
    for (int i = 0; i < n; i++) {
        slm_status st = check_tensor(path, &tensors[i], i, fill == NULL, err);
        if (st) return st;
    }
    sort_key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!keys || !order) {
        free(keys);
        free(order);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (int i = 0; i < n; i++) keys[i] = (sort_key){slm_dtype_size(tensors[i].dtype), tensors[i].name, i};
    slm_status st = SLM_OK;
    qsort(keys, (size_t)n, sizeof *keys, compare_names);
    for (int k = 1; k < n && !st; k++)
        if (strcmp(keys[k - 1].name, keys[k].name) == 0)
            st = slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: tensor %s is listed twice", path, keys[k].name);
    qsort(keys, (size_t)n, sizeof *keys, compare_for_layout);
    for (int k = 0; k < n; k++) order[k] = keys[k].index;
    free(keys);
    size_t header_len = 0;
    char *header = st ? NULL : build_header(path, tensors, order, n, metadata, &header_len, err);
    if (!st && !header) st = err ? err->status : SLM_ERR_OUT_OF_MEMORY;
    if (!st) st = write_all(fill, user_data, path, tensors, order, n, header, header_len, err);
    free(header);
    free(order);
    return st;
}

slm_status slm_safetensors_write(const char *path, const slm_tensor_view *tensors, int n, const char *const *metadata,
                                 slm_error *err) {
    return slm_safetensors_write_with(path, tensors, n, metadata, NULL, NULL, err);
}
