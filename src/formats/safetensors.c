/* safetensors.c — reading safetensors checkpoints: one file, a sharded set
 * named by model.safetensors.index.json, or a folder holding either.
 *
 * A file is: u64 little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value"}}
 * then the data section; offsets are relative to its start. Tensors become
 * views into the mapping, never copies. Everything read from the file is
 * checked before use; each error names the file and the tensor. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/weights.h"

/* The reference implementation refuses headers over 100 MB; so do we. */
#define HEADER_LIMIT 100000000u

static const struct {
    const char *name;
    slm_dtype dtype;
} dtype_names[] = {
    {"F32", SLM_DTYPE_F32}, {"F16", SLM_DTYPE_F16}, {"BF16", SLM_DTYPE_BF16}, {"F64", SLM_DTYPE_F64},
    {"I64", SLM_DTYPE_I64}, {"I32", SLM_DTYPE_I32}, {"I16", SLM_DTYPE_I16},   {"I8", SLM_DTYPE_I8},
    {"U8", SLM_DTYPE_U8},   {"BOOL", SLM_DTYPE_BOOL},
};

static int parse_dtype(const char *name, slm_dtype *dtype) {
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++) {
        if (strcmp(name, dtype_names[i].name) == 0) {
            *dtype = dtype_names[i].dtype;
            return 1;
        }
    }
    return 0;
}

static uint64_t read_u64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* One tensor's byte range, for the overlap check. */
typedef struct {
    uint64_t begin, end;
    const char *name;
} byte_range;

static int compare_ranges(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Validates one header entry and fills t (name excepted). data_size: the data section's length. */
static slm_status parse_entry(const char *path, const char *name, const json_t *entry, const uint8_t *data,
                              uint64_t data_size, slm_tensor_view *t, byte_range *range, slm_error *err) {
    if (!json_is_object(entry)) return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: entry is not a JSON object", path, name);
    const char *dtype_name = json_string_value(json_object_get(entry, "dtype"));
    if (!dtype_name) return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: missing or non-string \"dtype\"", path, name);
    if (!parse_dtype(dtype_name, &t->dtype))
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "%s: tensor %s: dtype %s is not supported (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)",
                        path, name, dtype_name);

    const json_t *shape = json_object_get(entry, "shape");
    if (!json_is_array(shape)) return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: missing or non-list \"shape\"", path, name);
    size_t ndim = json_array_size(shape);
    if (ndim > SLM_MAX_DIMS)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: tensor %s: %zu dimensions (at most %d supported)", path, name, ndim,
                        SLM_MAX_DIMS);
    t->ndim = (int)ndim;
    int64_t numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        const json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: shape[%zu] is not an integer", path, name, i);
        json_int_t v = json_integer_value(d);
        if (v < 0)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: shape[%zu] = %lld is negative", path, name, i, (long long)v);
        t->shape[i] = (int64_t)v;
        if (v != 0 && numel > INT64_MAX / v)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: element count overflows (shape[%zu] = %lld)", path, name,
                            i, (long long)v);
        numel *= (int64_t)v;
    }
    for (int i = t->ndim; i < SLM_MAX_DIMS; i++) t->shape[i] = 0;
    size_t esize = slm_dtype_size(t->dtype);
    if ((uint64_t)numel > UINT64_MAX / esize)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: byte size overflows (%lld elements)", path, name,
                        (long long)numel);
    uint64_t want = (uint64_t)numel * esize;

    const json_t *offsets = json_object_get(entry, "data_offsets");
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 || !json_is_integer(json_array_get(offsets, 0)) ||
        !json_is_integer(json_array_get(offsets, 1)))
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: \"data_offsets\" is not a list of two integers", path, name);
    json_int_t begin = json_integer_value(json_array_get(offsets, 0));
    json_int_t end = json_integer_value(json_array_get(offsets, 1));
    if (begin < 0 || end < 0)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: negative data_offsets [%lld, %lld)", path, name,
                        (long long)begin, (long long)end);
    if (end < begin)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: data_offsets [%lld, %lld) are reversed", path, name,
                        (long long)begin, (long long)end);
    if ((uint64_t)end > data_size)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: data [%lld, %lld) outside the data section (%llu bytes)", path,
                        name, (long long)begin, (long long)end, (unsigned long long)data_size);
    if ((uint64_t)(end - begin) != want)
        return slm_fail(err, SLM_ERR_FORMAT,
                        "%s: tensor %s: data [%lld, %lld) is %lld bytes but %lld elements of %s need %llu", path, name,
                        (long long)begin, (long long)end, (long long)(end - begin), (long long)numel, dtype_name,
                        (unsigned long long)want);
    /* safetensors guarantees only byte alignment here; see slm_weights_alignment(). */
    t->data = data + begin;
    t->nbytes = (size_t)want;
    range->begin = (uint64_t)begin;
    range->end = (uint64_t)end;
    range->name = name;
    return SLM_OK;
}

/* Parses the already adopted file file_index of w and adds its tensors. */
static slm_status parse_file(slm_weights *w, int file_index, slm_error *err) {
    const slm_mapped_file *f = slm_weights_file(w, file_index);
    const char *path = f->path;
    if (f->size == 0) return slm_fail(err, SLM_ERR_FORMAT, "%s: file is empty", path);
    if (f->size < 8)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: %zu bytes, less than the 8-byte header length", path, f->size);
    uint64_t header_len = read_u64_le(f->data);
    if (header_len > f->size - 8)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes): truncated?",
                        path, (unsigned long long)header_len, f->size);
    if (header_len > HEADER_LIMIT)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", path,
                        (unsigned long long)header_len, HEADER_LIMIT);
    json_error_t jerr;
    json_t *header = json_loadb((const char *)f->data + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!header) {
        if (strstr(jerr.text, "duplicate object key"))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: header lists a tensor twice: %s", path, jerr.text);
        return slm_fail(err, SLM_ERR_FORMAT, "%s: header is not valid JSON: %s (header byte %d)", path, jerr.text,
                        jerr.position);
    }
    if (!json_is_object(header)) {
        json_decref(header);
        return slm_fail(err, SLM_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    const uint8_t *data = f->data + 8 + header_len;
    uint64_t data_size = f->size - 8 - header_len;

    size_t n_entries = json_object_size(header);
    byte_range *ranges = malloc((n_entries ? n_entries : 1) * sizeof *ranges);
    if (!ranges) {
        json_decref(header);
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    size_t n_ranges = 0;
    slm_status st = SLM_OK;
    const char *name;
    json_t *entry;
    json_object_foreach(header, name, entry) {
        if (strcmp(name, "__metadata__") == 0) {
            if (!json_is_object(entry)) st = slm_fail(err, SLM_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
        } else {
            slm_tensor_view t = {.name = name};
            st = parse_entry(path, name, entry, data, data_size, &t, &ranges[n_ranges], err);
            if (!st) st = slm_weights_add(w, file_index, &t, err);
            if (!st && t.nbytes > 0) n_ranges++; /* empty tensors occupy no bytes and overlap nothing */
        }
        if (st) break;
    }
    /* Tensors must not share bytes (the reference writer packs them back to back). */
    if (!st && n_ranges > 1) {
        qsort(ranges, n_ranges, sizeof *ranges, compare_ranges);
        for (size_t i = 1; i < n_ranges && !st; i++) {
            if (ranges[i].begin < ranges[i - 1].end)
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: data [%llu, %llu) overlaps tensor %s [%llu, %llu)", path,
                              ranges[i].name, (unsigned long long)ranges[i].begin, (unsigned long long)ranges[i].end,
                              ranges[i - 1].name, (unsigned long long)ranges[i - 1].begin,
                              (unsigned long long)ranges[i - 1].end);
        }
    }
    free(ranges);
    json_decref(header);
    return st;
}

/* Maps path, hands it to w and parses it. Returns the file index or -1. */
static int add_file(slm_weights *w, const char *path, slm_error *err) {
    slm_mapped_file file;
    if (slm_mapped_file_open(&file, path, err)) return -1;
    int index = slm_weights_adopt_file(w, &file, err);
    if (index < 0) {
        slm_mapped_file_close(&file);
        return -1;
    }
    return parse_file(w, index, err) ? -1 : index;
}

static slm_weights *open_single(const char *path, slm_error *err) {
    slm_weights *w = slm_weights_new(err);
    if (!w) return NULL;
    if (add_file(w, path, err) < 0 || slm_weights_index(w, err)) {
        slm_weights_free(w);
        return NULL;
    }
    return w;
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}.
 * Opens each shard once, then checks every listed tensor is in the shard named for it. */
static slm_weights *open_index(const char *index_path, slm_error *err) {
    char *text = slm_read_file(index_path, NULL, err);
    if (!text) return NULL;
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root) {
        slm_fail(err, SLM_ERR_FORMAT, "%s: not valid JSON: %s (line %d)", index_path, jerr.text, jerr.line);
        return NULL;
    }
    slm_weights *w = NULL;
    const char **shards = NULL; /* distinct shard names, pointing into root */
    int *shard_file = NULL;     /* file index in w of each shard */
    size_t n_shards = 0;
    slm_status st = SLM_OK;
    const json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0)
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: no \"weight_map\" object listing tensors", index_path);

    size_t n_listed = json_object_size(map);
    if (!st) {
        shards = malloc(n_listed * sizeof *shards);
        shard_file = malloc(n_listed * sizeof *shard_file);
        w = slm_weights_new(err);
        if (!shards || !shard_file) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", index_path);
        else if (!w) st = SLM_ERR_OUT_OF_MEMORY;
    }
    const char *name;
    json_t *value;
    if (!st) {
        json_object_foreach((json_t *)map, name, value) {
            const char *shard = json_string_value(value);
            if (!shard) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: weight_map value is not a file name", index_path, name);
                break;
            }
            if (!slm_shard_name_ok(shard)) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: shard \"%s\" is not a file inside the index's folder",
                              index_path, name, shard);
                break;
            }
            size_t k = 0;
            while (k < n_shards && strcmp(shards[k], shard) != 0) k++;
            if (k == n_shards) shards[n_shards++] = shard;
        }
    }
    /* The shards live beside the index. */
    const char *slash = strrchr(index_path, '/');
    int dir_len = slash ? (int)(slash - index_path) : 1;
    const char *dir = slash ? index_path : ".";
    for (size_t k = 0; k < n_shards && !st; k++) {
        size_t cap = (size_t)dir_len + strlen(shards[k]) + 2;
        char *path = malloc(cap);
        if (!path) {
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", index_path);
            break;
        }
        snprintf(path, cap, "%.*s/%s", dir_len, dir, shards[k]);
        shard_file[k] = add_file(w, path, err);
        free(path);
        if (shard_file[k] < 0) {
            st = err ? err->status : SLM_ERR_FORMAT;
            if (err) slm_error_prefix(err, index_path);
        }
    }
    if (!st) {
        st = slm_weights_index(w, err);
        if (st && err) slm_error_prefix(err, index_path);
    }
    if (!st) {
        json_object_foreach((json_t *)map, name, value) {
            const char *shard = json_string_value(value);
            size_t k = 0;
            while (strcmp(shards[k], shard) != 0) k++;
            const slm_tensor_view *t = slm_weights_find(w, name);
            const slm_mapped_file *want = slm_weights_file(w, shard_file[k]);
            if (!t) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: listed in shard %s, which does not have it", index_path,
                              name, want->path);
                break;
            }
            int found_in = slm_weights_file_of(w, t);
            if (found_in != shard_file[k]) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: listed in shard %s but found in %s", index_path, name,
                              want->path, slm_weights_file(w, found_in)->path);
                break;
            }
        }
    }
    free(shards);
    free(shard_file);
    json_decref(root);
    if (st) {
        slm_weights_free(w);
        return NULL;
    }
    return w;
}

slm_weights *slm_safetensors_open(const char *path, slm_error *err) {
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_safetensors_open: path is NULL");
        return NULL;
    }
    return slm_weights_open_path(path, "model.safetensors", open_single, open_index, err);
}
