/* gguf.c — the GGUF reader (see gguf.h). Layout, all little-endian:
 *   "GGUF", u32 version (2 or 3), u64 tensor count, u64 kv count,
 *   kv count × { string key, u32 value type, value },
 *   tensor count × { string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset },
 *   padding to the alignment (general.alignment, default 32), then the data section;
 *   tensor offsets are relative to its start and multiples of the alignment.
 * A string is u64 length + bytes (no NUL); an array is u32 element type + u64
 * count + elements (arrays may hold arrays). Every count and length is checked
 * against the bytes left before anything is allocated or read. */
#include "formats/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/mapped_file.h"

/* The spec caps keys at 65535 bytes; we hold tensor names to the same. */
#define NAME_LIMIT 65535u

static const struct {
    slm_ggml_type type;
    const char *name;
    size_t block_elements, block_bytes;
} ggml_types[] = {
    {SLM_GGML_F32, "F32", 1, 4},       {SLM_GGML_F16, "F16", 1, 2},       {SLM_GGML_Q4_0, "Q4_0", 32, 18},
    {SLM_GGML_Q4_1, "Q4_1", 32, 20},   {SLM_GGML_Q5_0, "Q5_0", 32, 22},   {SLM_GGML_Q5_1, "Q5_1", 32, 24},
    {SLM_GGML_Q8_0, "Q8_0", 32, 34},   {SLM_GGML_Q8_1, "Q8_1", 32, 36},   {SLM_GGML_Q2_K, "Q2_K", 256, 84},
    {SLM_GGML_Q3_K, "Q3_K", 256, 110}, {SLM_GGML_Q4_K, "Q4_K", 256, 144}, {SLM_GGML_Q5_K, "Q5_K", 256, 176},
    {SLM_GGML_Q6_K, "Q6_K", 256, 210}, {SLM_GGML_Q8_K, "Q8_K", 256, 292}, {SLM_GGML_I8, "I8", 1, 1},
    {SLM_GGML_I16, "I16", 1, 2},       {SLM_GGML_I32, "I32", 1, 4},       {SLM_GGML_I64, "I64", 1, 8},
    {SLM_GGML_F64, "F64", 1, 8},       {SLM_GGML_BF16, "BF16", 1, 2},
};

int slm_ggml_type_block(slm_ggml_type type, size_t *block_elements, size_t *block_bytes) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++) {
        if (ggml_types[i].type == type) {
            if (block_elements) *block_elements = ggml_types[i].block_elements;
            if (block_bytes) *block_bytes = ggml_types[i].block_bytes;
            return 1;
        }
    }
    return 0;
}

const char *slm_ggml_type_name(slm_ggml_type type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++)
        if (ggml_types[i].type == type) return ggml_types[i].name;
    return "unknown";
}

static const char *const value_type_names[SLM_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64",
};
/* Bytes of a scalar value type; 0 for string and array. */
static const size_t value_type_sizes[SLM_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *slm_gguf_type_name(slm_gguf_type type) {
    return (unsigned)type < SLM_GGUF_TYPE_COUNT ? value_type_names[type] : "unknown";
}

typedef struct {
    const char *s; /* into the mapping */
    uint64_t len;
} gguf_string;

typedef struct gguf_value {
    slm_gguf_type type;
    uint64_t offset; /* where the value starts in the file, for messages */
    union {
        uint64_t u; /* unsigned types and bool */
        int64_t i;  /* signed types */
        double f;   /* float32, float64 */
    } num;
    gguf_string str; /* STRING */
    char *str_copy;  /* STRING at the top level: NUL-terminated copy */
    /* ARRAY */
    slm_gguf_type elem_type;
    uint64_t count;
    const uint8_t *elems;     /* scalar elements, raw from the file */
    gguf_string *strings;     /* string elements */
    struct gguf_value *items; /* array elements */
} gguf_value;

typedef struct {
    char *key;
    gguf_value value;
} gguf_kv;

struct slm_gguf {
    slm_mapped_file file;
    uint32_t version;
    size_t alignment;
    int64_t n_kv, n_tensors;
    gguf_kv *kvs;
    slm_gguf_tensor *tensors;
};

/* ---- reading primitives: a cursor over the mapping ---- */

typedef struct {
    const char *path;
    const uint8_t *data;
    size_t size, pos;
    const char *what; /* "header", "key general.name", "tensor blk.0.attn_q.weight": for messages */
} cursor;

static uint64_t load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static size_t left(const cursor *c) { return c->size - c->pos; }

static slm_status need(cursor *c, uint64_t n, const char *item, slm_error *err) {
    if (n > left(c))
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: truncated at offset %zu: %s needs %llu bytes, %zu left", c->path,
                        c->what, c->pos, item, (unsigned long long)n, left(c));
    return SLM_OK;
}

static slm_status read_uint(cursor *c, size_t n, uint64_t *v, const char *item, slm_error *err) {
    if (need(c, n, item, err)) return SLM_ERR_FORMAT;
    *v = load_le(c->data + c->pos, n);
    c->pos += n;
    return SLM_OK;
}

static slm_status read_u32(cursor *c, uint32_t *v, const char *item, slm_error *err) {
    uint64_t x;
    if (read_uint(c, 4, &x, item, err)) return SLM_ERR_FORMAT;
    *v = (uint32_t)x;
    return SLM_OK;
}

static slm_status read_string(cursor *c, gguf_string *s, uint64_t limit, const char *item, slm_error *err) {
    size_t at = c->pos;
    uint64_t len;
    if (read_uint(c, 8, &len, item, err)) return SLM_ERR_FORMAT;
    if (len > left(c))
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: %s at offset %zu has length %llu, past the end of the file (%zu bytes left)",
                        c->path, c->what, item, at, (unsigned long long)len, left(c));
    if (len > limit)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: %s at offset %zu has length %llu (at most %llu)", c->path, c->what,
                        item, at, (unsigned long long)len, (unsigned long long)limit);
    s->s = (const char *)c->data + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return SLM_OK;
}

/* A NUL-terminated copy of a name; names holding NUL bytes are refused. */
static char *copy_name(cursor *c, const gguf_string *s, size_t at, const char *item, slm_error *err) {
    if (memchr(s->s, 0, (size_t)s->len)) {
        slm_fail(err, SLM_ERR_FORMAT, "%s: %s at offset %zu contains a NUL byte", c->path, item, at);
        return NULL;
    }
    char *copy = malloc((size_t)s->len + 1);
    if (!copy) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", c->path);
        return NULL;
    }
    memcpy(copy, s->s, (size_t)s->len);
    copy[s->len] = 0;
    return copy;
}

/* ---- metadata values ---- */

static void free_value(gguf_value *v) {
    if (v->items)
        for (uint64_t k = 0; k < v->count; k++) free_value(&v->items[k]);
    free(v->items);
    free(v->strings);
    free(v->str_copy);
}

static slm_status parse_value(cursor *c, slm_gguf_type type, gguf_value *v, int depth, slm_error *err);

/* An array value after its type word: element type, count, elements. depth: this array's nesting (1 = outermost). */
static slm_status parse_array(cursor *c, gguf_value *v, int depth, slm_error *err) {
    if (depth > SLM_GGUF_MAX_ARRAY_DEPTH)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: arrays nested deeper than %d at offset %zu", c->path, c->what,
                        SLM_GGUF_MAX_ARRAY_DEPTH, c->pos);
    size_t at = c->pos;
    uint32_t elem_type;
    if (read_u32(c, &elem_type, "array element type", err) || read_uint(c, 8, &v->count, "array length", err))
        return SLM_ERR_FORMAT;
    if (elem_type >= SLM_GGUF_TYPE_COUNT)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: array at offset %zu has unknown element type %u", c->path, c->what,
                        at, elem_type);
    v->elem_type = (slm_gguf_type)elem_type;
    /* The smallest encoding of one element bounds the count before any allocation. */
    size_t min_size = value_type_sizes[elem_type];
    if (elem_type == SLM_GGUF_STRING) min_size = 8;
    if (elem_type == SLM_GGUF_ARRAY) min_size = 12;
    if (v->count > left(c) / min_size)
        return slm_fail(err, SLM_ERR_FORMAT,
                        "%s: %s: array at offset %zu claims %llu %s elements, more than the %zu bytes left can hold",
                        c->path, c->what, at, (unsigned long long)v->count, value_type_names[elem_type], left(c));
    if (v->count == 0) return SLM_OK;
    if (elem_type == SLM_GGUF_STRING) {
        v->strings = malloc((size_t)v->count * sizeof *v->strings);
        if (!v->strings) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", c->path, c->what);
        for (uint64_t k = 0; k < v->count; k++)
            if (read_string(c, &v->strings[k], UINT64_MAX, "array string", err)) return SLM_ERR_FORMAT;
    } else if (elem_type == SLM_GGUF_ARRAY) {
        v->items = calloc((size_t)v->count, sizeof *v->items);
        if (!v->items) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", c->path, c->what);
        for (uint64_t k = 0; k < v->count; k++) {
            v->items[k].type = SLM_GGUF_ARRAY;
            v->items[k].offset = c->pos;
            if (parse_array(c, &v->items[k], depth + 1, err)) return SLM_ERR_FORMAT;
        }
    } else {
        v->elems = c->data + c->pos;
        c->pos += (size_t)(v->count * min_size);
        if (elem_type == SLM_GGUF_BOOL)
            for (uint64_t k = 0; k < v->count; k++)
                if (v->elems[k] > 1)
                    return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: bool at offset %llu is %u, not 0 or 1", c->path,
                                    c->what, (unsigned long long)(v->elems - c->data + k), v->elems[k]);
    }
    return SLM_OK;
}

static slm_status parse_value(cursor *c, slm_gguf_type type, gguf_value *v, int depth, slm_error *err) {
    v->type = type;
    v->offset = c->pos;
    if (type == SLM_GGUF_STRING) {
        if (read_string(c, &v->str, UINT64_MAX, "string value", err)) return SLM_ERR_FORMAT;
        v->str_copy = malloc((size_t)v->str.len + 1);
        if (!v->str_copy) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: %s: out of memory", c->path, c->what);
        memcpy(v->str_copy, v->str.s, (size_t)v->str.len);
        v->str_copy[v->str.len] = 0;
        return SLM_OK;
    }
    if (type == SLM_GGUF_ARRAY) return parse_array(c, v, depth + 1, err);
    size_t n = value_type_sizes[type];
    uint64_t raw;
    if (read_uint(c, n, &raw, value_type_names[type], err)) return SLM_ERR_FORMAT;
    switch (type) {
    case SLM_GGUF_INT8: v->num.i = (int8_t)(uint8_t)raw; break;
    case SLM_GGUF_INT16: v->num.i = (int16_t)(uint16_t)raw; break;
    case SLM_GGUF_INT32: v->num.i = (int32_t)(uint32_t)raw; break;
    case SLM_GGUF_INT64: v->num.i = (int64_t)raw; break;
    case SLM_GGUF_FLOAT32: {
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, 4);
        v->num.f = f;
        break;
    }
    case SLM_GGUF_FLOAT64: memcpy(&v->num.f, &raw, 8); break;
    case SLM_GGUF_BOOL:
        if (raw > 1)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: bool at offset %llu is %u, not 0 or 1", c->path, c->what,
                            (unsigned long long)v->offset, (unsigned)raw);
        v->num.u = raw;
        break;
    default: v->num.u = raw; break;
    }
    return SLM_OK;
}

static int is_unsigned_type(slm_gguf_type t) {
    return t == SLM_GGUF_UINT8 || t == SLM_GGUF_UINT16 || t == SLM_GGUF_UINT32 || t == SLM_GGUF_UINT64;
}
static int is_signed_type(slm_gguf_type t) {
    return t == SLM_GGUF_INT8 || t == SLM_GGUF_INT16 || t == SLM_GGUF_INT32 || t == SLM_GGUF_INT64;
}

/* An integer value as int64 / uint64; 0 when it is not an integer or does not fit. */
static int value_as_i64(const gguf_value *v, int64_t *out) {
    if (is_signed_type(v->type)) {
        *out = v->num.i;
        return 1;
    }
    if (is_unsigned_type(v->type) && v->num.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->num.u;
        return 1;
    }
    return 0;
}

static int value_as_u64(const gguf_value *v, uint64_t *out) {
    if (is_unsigned_type(v->type)) {
        *out = v->num.u;
        return 1;
    }
    if (is_signed_type(v->type) && v->num.i >= 0) {
        *out = (uint64_t)v->num.i;
        return 1;
    }
    return 0;
}

/* ---- the file ---- */

static int compare_strings(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The first name that appears twice in names[0..n), or NULL. Sorts names. */
static const char *find_repeat(const char **names, int64_t n) {
    if (n < 2) return NULL;
    qsort(names, (size_t)n, sizeof *names, compare_strings);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} byte_range;

static int compare_ranges(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static slm_status parse_header(slm_gguf *g, cursor *c, slm_error *err) {
    const char *path = c->path;
    if (c->size < 4) return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: %zu bytes, too short for the GGUF magic", path, c->size);
    if (memcmp(c->data, "GGUF", 4) != 0)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: not a GGUF file: magic at offset 0 is %02x %02x %02x %02x, not \"GGUF\"",
                        path, c->data[0], c->data[1], c->data[2], c->data[3]);
    c->pos = 4;
    uint64_t n_tensors, n_kv;
    if (read_u32(c, &g->version, "version", err)) return SLM_ERR_FORMAT;
    if (g->version != 2 && g->version != 3)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: GGUF version %u at offset 4 is not supported (2 and 3 are)", path,
                        g->version);
    if (read_uint(c, 8, &n_tensors, "tensor count", err) || read_uint(c, 8, &n_kv, "metadata count", err))
        return SLM_ERR_FORMAT;
    /* A kv takes at least 13 bytes (key length, type, one-byte value), a tensor info at least 24. */
    if (n_kv > left(c) / 13)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: metadata count %llu at offset 16 cannot fit in the %zu bytes left: truncated or corrupt",
                        path, (unsigned long long)n_kv, left(c));
    if (n_tensors > left(c) / 24 || n_kv * 13 + n_tensors * 24 > left(c))
        return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor count %llu at offset 8 cannot fit in the %zu bytes left: truncated or corrupt",
                        path, (unsigned long long)n_tensors, left(c));
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    return SLM_OK;
}

static slm_status parse_metadata(slm_gguf *g, cursor *c, slm_error *err) {
    char what[300];
    if (g->n_kv) {
        g->kvs = calloc((size_t)g->n_kv, sizeof *g->kvs);
        if (!g->kvs) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", c->path);
    }
    for (int64_t k = 0; k < g->n_kv; k++) {
        snprintf(what, sizeof what, "metadata #%lld", (long long)k);
        c->what = what;
        size_t at = c->pos;
        gguf_string key;
        if (read_string(c, &key, NAME_LIMIT, "key", err)) return SLM_ERR_FORMAT;
        if (!(g->kvs[k].key = copy_name(c, &key, at, "key", err))) return err ? err->status : SLM_ERR_FORMAT;
        snprintf(what, sizeof what, "key %.200s", g->kvs[k].key);
        at = c->pos;
        uint32_t type;
        if (read_u32(c, &type, "value type", err)) return SLM_ERR_FORMAT;
        if (type >= SLM_GGUF_TYPE_COUNT)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: unknown value type %u at offset %zu", c->path, what, type, at);
        if (parse_value(c, (slm_gguf_type)type, &g->kvs[k].value, 0, err)) return SLM_ERR_FORMAT;
    }
    c->what = "metadata";
    const char **keys = malloc((g->n_kv ? (size_t)g->n_kv : 1) * sizeof *keys);
    if (!keys) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", c->path);
    for (int64_t k = 0; k < g->n_kv; k++) keys[k] = g->kvs[k].key;
    const char *repeat = find_repeat(keys, g->n_kv);
    slm_status st = repeat ? slm_fail(err, SLM_ERR_FORMAT, "%s: key %s appears twice", c->path, repeat) : SLM_OK;
    free(keys);
    if (st) return st;

    g->alignment = SLM_GGUF_DEFAULT_ALIGNMENT;
    int64_t a = slm_gguf_find_key(g, "general.alignment");
    if (a >= 0) {
        const gguf_value *v = &g->kvs[a].value;
        uint64_t align;
        if (!value_as_u64(v, &align))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: key general.alignment (offset %llu) is %s, not an unsigned integer",
                            c->path, (unsigned long long)v->offset, value_type_names[v->type]);
        if (align == 0 || (align & (align - 1)) || align > (1u << 30))
            return slm_fail(err, SLM_ERR_FORMAT,
                            "%s: key general.alignment (offset %llu) is %llu, not a power of two up to 2^30", c->path,
                            (unsigned long long)v->offset, (unsigned long long)align);
        g->alignment = (size_t)align;
    }
    return SLM_OK;
}

static slm_status parse_tensor_info(slm_gguf *g, cursor *c, slm_gguf_tensor *t, slm_error *err) {
    const char *path = c->path;
    size_t at = c->pos;
    gguf_string name;
    if (read_string(c, &name, NAME_LIMIT, "tensor name", err)) return SLM_ERR_FORMAT;
    char *copy = copy_name(c, &name, at, "tensor name", err);
    if (!copy) return err ? err->status : SLM_ERR_FORMAT;
    t->name = copy;
    char what[300];
    snprintf(what, sizeof what, "tensor %.200s", copy);
    c->what = what;

    at = c->pos;
    uint32_t n_dims, type;
    if (read_u32(c, &n_dims, "n_dims", err)) return SLM_ERR_FORMAT;
    if (n_dims > SLM_GGUF_MAX_DIMS)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: n_dims %u at offset %zu (at most %d)", path, what, n_dims, at,
                        SLM_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    uint64_t n = 1;
    for (int d = 0; d < SLM_GGUF_MAX_DIMS; d++) t->dims[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        at = c->pos;
        if (read_uint(c, 8, &t->dims[d], "dimension", err)) return SLM_ERR_FORMAT;
        if (t->dims[d] > (uint64_t)INT64_MAX || (t->dims[d] && n > (uint64_t)INT64_MAX / t->dims[d]))
            return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: element count overflows at dims[%u] = %llu (offset %zu)", path,
                            what, d, (unsigned long long)t->dims[d], at);
        n *= t->dims[d];
    }
    t->n_elements = n;
    at = c->pos;
    if (read_u32(c, &type, "tensor type", err)) return SLM_ERR_FORMAT;
    size_t block_elements, block_bytes;
    if (!slm_ggml_type_block((slm_ggml_type)type, &block_elements, &block_bytes))
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: %s: unknown ggml type %u at offset %zu", path, what, type, at);
    t->type = (slm_ggml_type)type;
    if (t->dims[0] % block_elements)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: row length %llu is not a multiple of the %s block (%zu)", path,
                        what, (unsigned long long)t->dims[0], slm_ggml_type_name(t->type), block_elements);
    uint64_t blocks = n / block_elements;
    if (blocks > SIZE_MAX / block_bytes)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: byte size overflows (%llu elements)", path, what,
                        (unsigned long long)n);
    t->nbytes = (size_t)(blocks * block_bytes);
    at = c->pos;
    if (read_uint(c, 8, &t->offset, "data offset", err)) return SLM_ERR_FORMAT;
    if (t->offset % g->alignment)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: data offset %llu (at offset %zu) is not a multiple of the alignment %zu",
                        path, what, (unsigned long long)t->offset, at, g->alignment);
    return SLM_OK;
}

static slm_status parse_tensors(slm_gguf *g, cursor *c, slm_error *err) {
    const char *path = c->path;
    if (g->n_tensors) {
        g->tensors = calloc((size_t)g->n_tensors, sizeof *g->tensors);
        if (!g->tensors) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    char what[64];
    for (int64_t i = 0; i < g->n_tensors; i++) {
        snprintf(what, sizeof what, "tensor info #%lld", (long long)i);
        c->what = what;
        slm_status st = parse_tensor_info(g, c, &g->tensors[i], err);
        c->what = "tensor infos"; /* parse_tensor_info pointed it at its own buffer */
        if (st) return st;
    }
    /* The data section starts at the next multiple of the alignment. */
    size_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    size_t data_start = c->pos + pad;
    if (g->n_tensors && data_start > c->size)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: truncated: the data section would start at offset %zu, past the end (%zu bytes)",
                        path, data_start, c->size);
    uint64_t data_size = data_start <= c->size ? c->size - data_start : 0;

    slm_status st = SLM_OK;
    byte_range *ranges = malloc((g->n_tensors ? (size_t)g->n_tensors : 1) * sizeof *ranges);
    const char **names = malloc((g->n_tensors ? (size_t)g->n_tensors : 1) * sizeof *names);
    if (!ranges || !names) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    int64_t n_ranges = 0;
    for (int64_t i = 0; i < g->n_tensors && !st; i++) {
        slm_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            st = slm_fail(err, SLM_ERR_FORMAT,
                          "%s: tensor %s: data [%llu, %llu) of the data section (file offset %zu) runs past the end of the "
                          "file (%llu data bytes): truncated?",
                          path, t->name, (unsigned long long)t->offset, (unsigned long long)t->offset + t->nbytes,
                          data_start, (unsigned long long)data_size);
            break;
        }
        t->data = c->data + data_start + t->offset;
        names[i] = t->name;
        if (t->nbytes) ranges[n_ranges++] = (byte_range){t->offset, t->offset + t->nbytes, t->name};
    }
    if (!st) {
        const char *repeat = find_repeat(names, g->n_tensors);
        if (repeat) st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s appears twice", path, repeat);
    }
    if (!st && n_ranges > 1) {
        qsort(ranges, (size_t)n_ranges, sizeof *ranges, compare_ranges);
        for (int64_t i = 1; i < n_ranges && !st; i++)
            if (ranges[i].begin < ranges[i - 1].end)
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: data [%llu, %llu) overlaps tensor %s [%llu, %llu)", path,
                              ranges[i].name, (unsigned long long)ranges[i].begin, (unsigned long long)ranges[i].end,
                              ranges[i - 1].name, (unsigned long long)ranges[i - 1].begin,
                              (unsigned long long)ranges[i - 1].end);
    }
    free(ranges);
    free(names);
    return st;
}

slm_gguf *slm_gguf_open(const char *path, slm_error *err) {
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_gguf_open: path is NULL");
        return NULL;
    }
    slm_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        return NULL;
    }
    if (slm_mapped_file_open(&g->file, path, err)) {
        free(g);
        return NULL;
    }
    cursor c = {.path = g->file.path, .data = g->file.data, .size = g->file.size, .what = "header"};
    slm_status st = parse_header(g, &c, err);
    if (!st) st = parse_metadata(g, &c, err);
    if (!st) st = parse_tensors(g, &c, err);
    if (st) {
        slm_gguf_free(g);
        return NULL;
    }
    return g;
}

void slm_gguf_free(slm_gguf *g) {
    if (!g) return;
    if (g->kvs)
        for (int64_t k = 0; k < g->n_kv; k++) {
            free(g->kvs[k].key);
            free_value(&g->kvs[k].value);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    slm_mapped_file_close(&g->file);
    free(g);
}

/* ---- accessors ---- */

const char *slm_gguf_path(const slm_gguf *g) { return g->file.path; }
uint32_t slm_gguf_version(const slm_gguf *g) { return g->version; }
size_t slm_gguf_alignment(const slm_gguf *g) { return g->alignment; }
int64_t slm_gguf_kv_count(const slm_gguf *g) { return g->n_kv; }

const char *slm_gguf_kv_key(const slm_gguf *g, int64_t i) { return i >= 0 && i < g->n_kv ? g->kvs[i].key : NULL; }

slm_gguf_type slm_gguf_kv_type(const slm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kvs[i].value.type : SLM_GGUF_TYPE_COUNT;
}

int64_t slm_gguf_find_key(const slm_gguf *g, const char *key) {
    if (!g->kvs) return -1;
    for (int64_t k = 0; k < g->n_kv; k++)
        if (g->kvs[k].key && strcmp(g->kvs[k].key, key) == 0) return k;
    return -1;
}

static const gguf_value *lookup(const slm_gguf *g, const char *key, slm_error *err) {
    int64_t k = slm_gguf_find_key(g, key);
    if (k < 0) {
        slm_fail(err, SLM_ERR_FORMAT, "%s: key %s: missing", g->file.path, key);
        return NULL;
    }
    return &g->kvs[k].value;
}

static slm_status wrong_type(const slm_gguf *g, const char *key, const gguf_value *v, const char *want, slm_error *err) {
    return slm_fail(err, SLM_ERR_FORMAT, "%s: key %s (offset %llu): is %s, not %s", g->file.path, key,
                    (unsigned long long)v->offset, value_type_names[v->type], want);
}

static slm_status out_of_range(const slm_gguf *g, const char *key, const gguf_value *v, const char *want, slm_error *err) {
    return slm_fail(err, SLM_ERR_FORMAT, "%s: key %s (offset %llu): value does not fit in %s", g->file.path, key,
                    (unsigned long long)v->offset, want);
}

slm_status slm_gguf_get_string(const slm_gguf *g, const char *key, const char **s, size_t *len, slm_error *err) {
    const gguf_value *v = lookup(g, key, err);
    if (!v) return SLM_ERR_FORMAT;
    if (v->type != SLM_GGUF_STRING) return wrong_type(g, key, v, "string", err);
    *s = v->str_copy;
    if (len) *len = (size_t)v->str.len;
    return SLM_OK;
}

slm_status slm_gguf_get_u64(const slm_gguf *g, const char *key, uint64_t *out, slm_error *err) {
    const gguf_value *v = lookup(g, key, err);
    if (!v) return SLM_ERR_FORMAT;
    if (!is_signed_type(v->type) && !is_unsigned_type(v->type)) return wrong_type(g, key, v, "an integer", err);
    if (!value_as_u64(v, out)) return out_of_range(g, key, v, "uint64", err);
    return SLM_OK;
}

slm_status slm_gguf_get_i64(const slm_gguf *g, const char *key, int64_t *out, slm_error *err) {
    const gguf_value *v = lookup(g, key, err);
    if (!v) return SLM_ERR_FORMAT;
    if (!is_signed_type(v->type) && !is_unsigned_type(v->type)) return wrong_type(g, key, v, "an integer", err);
    if (!value_as_i64(v, out)) return out_of_range(g, key, v, "int64", err);
    return SLM_OK;
}

slm_status slm_gguf_get_u32(const slm_gguf *g, const char *key, uint32_t *out, slm_error *err) {
    uint64_t x;
    if (slm_gguf_get_u64(g, key, &x, err)) return err ? err->status : SLM_ERR_FORMAT;
    if (x > UINT32_MAX) return out_of_range(g, key, lookup(g, key, err), "uint32", err);
    *out = (uint32_t)x;
    return SLM_OK;
}

slm_status slm_gguf_get_i32(const slm_gguf *g, const char *key, int32_t *out, slm_error *err) {
    int64_t x;
    if (slm_gguf_get_i64(g, key, &x, err)) return err ? err->status : SLM_ERR_FORMAT;
    if (x < INT32_MIN || x > INT32_MAX) return out_of_range(g, key, lookup(g, key, err), "int32", err);
    *out = (int32_t)x;
    return SLM_OK;
}

slm_status slm_gguf_get_f32(const slm_gguf *g, const char *key, float *out, slm_error *err) {
    const gguf_value *v = lookup(g, key, err);
    if (!v) return SLM_ERR_FORMAT;
    if (v->type != SLM_GGUF_FLOAT32 && v->type != SLM_GGUF_FLOAT64) return wrong_type(g, key, v, "a float", err);
    *out = (float)v->num.f;
    return SLM_OK;
}

slm_status slm_gguf_get_bool(const slm_gguf *g, const char *key, int *out, slm_error *err) {
    const gguf_value *v = lookup(g, key, err);
    if (!v) return SLM_ERR_FORMAT;
    if (v->type != SLM_GGUF_BOOL) return wrong_type(g, key, v, "bool", err);
    *out = (int)v->num.u;
    return SLM_OK;
}

static const gguf_value *lookup_array(const slm_gguf *g, const char *key, slm_error *err) {
    const gguf_value *v = lookup(g, key, err);
    if (v && v->type != SLM_GGUF_ARRAY) {
        wrong_type(g, key, v, "array", err);
        return NULL;
    }
    return v;
}

slm_status slm_gguf_get_array(const slm_gguf *g, const char *key, slm_gguf_type *elem_type, uint64_t *count,
                              slm_error *err) {
    const gguf_value *v = lookup_array(g, key, err);
    if (!v) return err ? err->status : SLM_ERR_FORMAT;
    if (elem_type) *elem_type = v->elem_type;
    if (count) *count = v->count;
    return SLM_OK;
}

/* The array at key, checked to have element i. */
static const gguf_value *array_element(const slm_gguf *g, const char *key, uint64_t i, slm_error *err) {
    const gguf_value *v = lookup_array(g, key, err);
    if (v && i >= v->count) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "%s: key %s (offset %llu): index %llu past the array's %llu elements",
                 g->file.path, key, (unsigned long long)v->offset, (unsigned long long)i, (unsigned long long)v->count);
        return NULL;
    }
    return v;
}

static slm_status wrong_elem_type(const slm_gguf *g, const char *key, const gguf_value *v, const char *want,
                                  slm_error *err) {
    return slm_fail(err, SLM_ERR_FORMAT, "%s: key %s (offset %llu): array of %s, not of %s", g->file.path, key,
                    (unsigned long long)v->offset, value_type_names[v->elem_type], want);
}

slm_status slm_gguf_array_string(const slm_gguf *g, const char *key, uint64_t i, const char **s, size_t *len,
                                 slm_error *err) {
    const gguf_value *v = array_element(g, key, i, err);
    if (!v) return err ? err->status : SLM_ERR_FORMAT;
    if (v->elem_type != SLM_GGUF_STRING) return wrong_elem_type(g, key, v, "string", err);
    *s = v->strings[i].s;
    if (len) *len = (size_t)v->strings[i].len;
    return SLM_OK;
}

slm_status slm_gguf_array_int(const slm_gguf *g, const char *key, uint64_t i, int64_t *out, slm_error *err) {
    const gguf_value *v = array_element(g, key, i, err);
    if (!v) return err ? err->status : SLM_ERR_FORMAT;
    slm_gguf_type t = v->elem_type;
    if (!is_signed_type(t) && !is_unsigned_type(t) && t != SLM_GGUF_BOOL) return wrong_elem_type(g, key, v, "integers", err);
    size_t n = value_type_sizes[t];
    uint64_t raw = load_le(v->elems + i * n, n);
    switch (t) {
    case SLM_GGUF_INT8: *out = (int8_t)(uint8_t)raw; break;
    case SLM_GGUF_INT16: *out = (int16_t)(uint16_t)raw; break;
    case SLM_GGUF_INT32: *out = (int32_t)(uint32_t)raw; break;
    case SLM_GGUF_INT64: *out = (int64_t)raw; break;
    default:
        if (raw > (uint64_t)INT64_MAX)
            return slm_fail(err, SLM_ERR_FORMAT, "%s: key %s (offset %llu): element %llu does not fit in int64",
                            g->file.path, key, (unsigned long long)v->offset, (unsigned long long)i);
        *out = (int64_t)raw;
        break;
    }
    return SLM_OK;
}

slm_status slm_gguf_array_float(const slm_gguf *g, const char *key, uint64_t i, float *out, slm_error *err) {
    const gguf_value *v = array_element(g, key, i, err);
    if (!v) return err ? err->status : SLM_ERR_FORMAT;
    if (v->elem_type == SLM_GGUF_FLOAT32) {
        uint32_t bits = (uint32_t)load_le(v->elems + i * 4, 4);
        memcpy(out, &bits, 4);
    } else if (v->elem_type == SLM_GGUF_FLOAT64) {
        uint64_t bits = load_le(v->elems + i * 8, 8);
        double d;
        memcpy(&d, &bits, 8);
        *out = (float)d;
    } else {
        return wrong_elem_type(g, key, v, "floats", err);
    }
    return SLM_OK;
}

int64_t slm_gguf_tensor_count(const slm_gguf *g) { return g->n_tensors; }

const slm_gguf_tensor *slm_gguf_tensor_at(const slm_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const slm_gguf_tensor *slm_gguf_find_tensor(const slm_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}
