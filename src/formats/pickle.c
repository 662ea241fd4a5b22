/* pickle.c — the restricted unpickler behind the torch .bin reader.
 *
 * A pickle is a program for a stack machine: each opcode pushes a value,
 * builds a container from values above the last MARK, stores to or loads from
 * the memo, or calls a callable found by GLOBAL (REDUCE). This reader runs
 * that program over plain C values. It knows the opcodes torch.save emits for
 * a state dict (protocol 2, plus the protocol 4 framing opcodes) and resolves
 * GLOBAL against a fixed table; every call it "performs" is one it understands
 * and builds the result of itself. Anything else stops the read with an error
 * that names the opcode and its byte offset. */
#include "formats/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* The callables a state dict may name. */
static const struct {
    const char *module, *name, *full;
    pickle_global global;
    slm_dtype dtype;
} allowed_globals[] = {
    {"collections", "OrderedDict", "collections.OrderedDict", PICKLE_GLOBAL_ORDERED_DICT, SLM_DTYPE_F32},
    {"torch._utils", "_rebuild_tensor_v2", "torch._utils._rebuild_tensor_v2", PICKLE_GLOBAL_REBUILD_TENSOR_V2,
     SLM_DTYPE_F32},
    {"torch._utils", "_rebuild_parameter", "torch._utils._rebuild_parameter", PICKLE_GLOBAL_REBUILD_PARAMETER,
     SLM_DTYPE_F32},
    {"torch", "FloatStorage", "torch.FloatStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_F32},
    {"torch", "HalfStorage", "torch.HalfStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_F16},
    {"torch", "BFloat16Storage", "torch.BFloat16Storage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_BF16},
    {"torch", "DoubleStorage", "torch.DoubleStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_F64},
    {"torch", "LongStorage", "torch.LongStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_I64},
    {"torch", "IntStorage", "torch.IntStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_I32},
    {"torch", "ShortStorage", "torch.ShortStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_I16},
    {"torch", "CharStorage", "torch.CharStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_I8},
    {"torch", "ByteStorage", "torch.ByteStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_U8},
    {"torch", "BoolStorage", "torch.BoolStorage", PICKLE_GLOBAL_STORAGE_CLASS, SLM_DTYPE_BOOL},
};

/* Fails with the reader's location prefixed: "<where>: pickle byte N (file offset M): ...". */
#define FAIL(r, at, status, ...) fail_at((r), (at), (status), err, __VA_ARGS__)

static slm_status fail_at(const pickle_reader *r, size_t at, slm_status status, slm_error *err, const char *fmt, ...)
    SLM_PRINTF(5, 6);

static slm_status fail_at(const pickle_reader *r, size_t at, slm_status status, slm_error *err, const char *fmt, ...) {
    char message[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return slm_fail(err, status, "%s: pickle byte %zu (file offset %zu): %s", r->where, at, r->file_offset + at,
                    message);
}

static pickle_value *new_value(pickle_reader *r, pickle_kind kind) {
    pickle_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    v->next_allocated = r->allocated;
    r->allocated = v;
    return v;
}

void pickle_free(pickle_reader *r) {
    pickle_value *v = r->allocated;
    while (v) {
        pickle_value *next = v->next_allocated;
        free(v->str);
        free(v->items);
        free(v);
        v = next;
    }
    free(r->stack);
    free(r->memo);
    r->allocated = NULL;
    r->stack = NULL;
    r->memo = NULL;
    r->depth = r->cap_stack = r->n_memo = 0;
}

static int append_item(pickle_value *container, pickle_value *item) {
    if (container->n_items == container->cap_items) {
        size_t cap = container->cap_items ? 2 * container->cap_items : 4;
        pickle_value **items = realloc(container->items, cap * sizeof *items);
        if (!items) return 0;
        container->items = items;
        container->cap_items = cap;
    }
    container->items[container->n_items++] = item;
    return 1;
}

static int push(pickle_reader *r, pickle_value *v) {
    if (!v) return 0;
    if (r->depth == r->cap_stack) {
        size_t cap = r->cap_stack ? 2 * r->cap_stack : 64;
        pickle_value **stack = realloc(r->stack, cap * sizeof *stack);
        if (!stack) return 0;
        r->stack = stack;
        r->cap_stack = cap;
    }
    r->stack[r->depth++] = v;
    return 1;
}

static const char *kind_name(pickle_kind kind) {
    static const char *names[] = {"None", "bool",  "int",    "int",     "str",    "tuple",
                                  "list", "dict",  "global", "storage", "tensor", "MARK"};
    return names[kind];
}

/* Index of the topmost MARK on the stack, or -1. */
static long find_mark(const pickle_reader *r) {
    for (size_t i = r->depth; i > 0; i--)
        if (r->stack[i - 1]->kind == PICKLE_MARK) return (long)(i - 1);
    return -1;
}

static uint64_t read_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A tuple of non-negative ints (a size or stride) into out[ndim]. */
static int int_tuple(const pickle_value *v, int64_t *out, int *ndim) {
    if (v->kind != PICKLE_TUPLE || v->n_items > SLM_MAX_DIMS) return 0;
    for (size_t i = 0; i < v->n_items; i++) {
        if (v->items[i]->kind != PICKLE_INT || v->items[i]->integer < 0) return 0;
        out[i] = v->items[i]->integer;
    }
    *ndim = (int)v->n_items;
    return 1;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
static slm_status rebuild_tensor(pickle_reader *r, size_t at, const pickle_value *args, pickle_value **out,
                                 slm_error *err) {
    if (args->n_items != 6 && args->n_items != 7)
        return FAIL(r, at, SLM_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %zu", args->n_items);
    const pickle_value *storage = args->items[0], *offset = args->items[1];
    if (storage->kind != PICKLE_STORAGE)
        return FAIL(r, at, SLM_ERR_FORMAT, "_rebuild_tensor_v2: first argument is a %s, not a storage",
                    kind_name(storage->kind));
    if (offset->kind != PICKLE_INT || offset->integer < 0)
        return FAIL(r, at, SLM_ERR_FORMAT, "_rebuild_tensor_v2: storage offset is not a non-negative int");
    pickle_value *t = new_value(r, PICKLE_TENSOR);
    if (!t) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
    int stride_ndim = 0;
    if (!int_tuple(args->items[2], t->shape, &t->ndim))
        return FAIL(r, at, SLM_ERR_UNSUPPORTED,
                    "_rebuild_tensor_v2: size is not a tuple of at most %d non-negative ints", SLM_MAX_DIMS);
    if (!int_tuple(args->items[3], t->stride, &stride_ndim) || stride_ndim != t->ndim)
        return FAIL(r, at, SLM_ERR_UNSUPPORTED, "_rebuild_tensor_v2: stride is not a tuple of %d non-negative ints",
                    t->ndim);
    t->storage = storage;
    t->dtype = storage->dtype;
    t->storage_offset = offset->integer;

    /* Only dense row-major views: the stride of a dimension is the product of the sizes after it. */
    int64_t numel = 1, expected = 1;
    int contiguous = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expected) contiguous = 0;
        if (t->shape[d] != 0 && expected > INT64_MAX / t->shape[d])
            return FAIL(r, at, SLM_ERR_FORMAT, "_rebuild_tensor_v2: element count overflows");
        expected *= t->shape[d];
    }
    numel = expected;
    if (!contiguous && numel > 0)
        return FAIL(r, at, SLM_ERR_UNSUPPORTED,
                    "_rebuild_tensor_v2: tensor of %d dimensions is not contiguous row-major (only dense tensors are "
                    "supported)", t->ndim);
    if (t->storage_offset > storage->integer || numel > storage->integer - t->storage_offset)
        return FAIL(r, at, SLM_ERR_FORMAT,
                    "_rebuild_tensor_v2: view [%lld, %lld + %lld) runs past the end of storage %s (%lld elements)",
                    (long long)t->storage_offset, (long long)t->storage_offset, (long long)numel, storage->str,
                    (long long)storage->integer);
    *out = t;
    return SLM_OK;
}

/* REDUCE: callable(*args) for the callables we know. */
static slm_status reduce(pickle_reader *r, size_t at, const pickle_value *callable, const pickle_value *args,
                         pickle_value **out, slm_error *err) {
    if (callable->kind != PICKLE_GLOBAL)
        return FAIL(r, at, SLM_ERR_FORMAT, "REDUCE of a %s, which is not a known callable", kind_name(callable->kind));
    if (args->kind != PICKLE_TUPLE)
        return FAIL(r, at, SLM_ERR_FORMAT, "REDUCE of %s with a %s for arguments", callable->global_name,
                    kind_name(args->kind));
    switch ((pickle_global)callable->integer) {
    case PICKLE_GLOBAL_ORDERED_DICT:
        if (args->n_items != 0)
            return FAIL(r, at, SLM_ERR_UNSUPPORTED, "collections.OrderedDict called with %zu arguments (only () is supported)",
                        args->n_items);
        *out = new_value(r, PICKLE_DICT);
        return *out ? SLM_OK : FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
    case PICKLE_GLOBAL_REBUILD_TENSOR_V2:
        return rebuild_tensor(r, at, args, out, err);
    case PICKLE_GLOBAL_REBUILD_PARAMETER:
        /* _rebuild_parameter(data, requires_grad, backward_hooks): the parameter is its data. */
        if (args->n_items != 3 || args->items[0]->kind != PICKLE_TENSOR)
            return FAIL(r, at, SLM_ERR_FORMAT, "_rebuild_parameter takes (tensor, requires_grad, hooks)");
        *out = args->items[0];
        return SLM_OK;
    case PICKLE_GLOBAL_STORAGE_CLASS:
        break;
    }
    return FAIL(r, at, SLM_ERR_UNSUPPORTED, "REDUCE of %s is not supported (storages are only named by references)",
                callable->global_name);
}

/* BINPERSID: torch's storage reference ("storage", storage class, key, location, numel[, view metadata]). */
static slm_status persistent_load(pickle_reader *r, size_t at, const pickle_value *pid, pickle_value **out,
                                  slm_error *err) {
    if (pid->kind != PICKLE_TUPLE || (pid->n_items != 5 && pid->n_items != 6) ||
        pid->items[0]->kind != PICKLE_STRING || strcmp(pid->items[0]->str, "storage") != 0)
        return FAIL(r, at, SLM_ERR_UNSUPPORTED,
                    "persistent id is not a storage reference (\"storage\", class, key, location, size)");
    const pickle_value *cls = pid->items[1], *key = pid->items[2], *location = pid->items[3], *numel = pid->items[4];
    if (cls->kind != PICKLE_GLOBAL || cls->integer != PICKLE_GLOBAL_STORAGE_CLASS)
        return FAIL(r, at, SLM_ERR_UNSUPPORTED, "storage reference names a %s, not a storage class",
                    cls->kind == PICKLE_GLOBAL ? cls->global_name : kind_name(cls->kind));
    if (key->kind != PICKLE_STRING || location->kind != PICKLE_STRING)
        return FAIL(r, at, SLM_ERR_FORMAT, "storage reference: key and location must be strings");
    if (numel->kind != PICKLE_INT || numel->integer < 0)
        return FAIL(r, at, SLM_ERR_FORMAT, "storage %s: size is not a non-negative int", key->str);
    if (pid->n_items == 6 && pid->items[5]->kind != PICKLE_NONE)
        return FAIL(r, at, SLM_ERR_UNSUPPORTED, "storage %s: views of storages (legacy view metadata) are not supported",
                    key->str);
    if ((uint64_t)numel->integer > UINT64_MAX / 8)
        return FAIL(r, at, SLM_ERR_FORMAT, "storage %s: size %lld overflows", key->str, (long long)numel->integer);
    pickle_value *s = new_value(r, PICKLE_STORAGE);
    if (!s || !(s->str = strdup(key->str))) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
    s->len = key->len;
    s->dtype = cls->dtype;
    s->integer = numel->integer;
    *out = s;
    return SLM_OK;
}

/* GLOBAL "module\nname\n": only the allowed table resolves. */
static slm_status find_global(pickle_reader *r, size_t at, const char *module, size_t module_len, const char *name,
                              size_t name_len, pickle_value **out, slm_error *err) {
    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        if (strlen(allowed_globals[i].module) == module_len && !memcmp(allowed_globals[i].module, module, module_len) &&
            strlen(allowed_globals[i].name) == name_len && !memcmp(allowed_globals[i].name, name, name_len)) {
            pickle_value *g = new_value(r, PICKLE_GLOBAL);
            if (!g) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
            g->integer = allowed_globals[i].global;
            g->dtype = allowed_globals[i].dtype;
            g->global_name = allowed_globals[i].full;
            *out = g;
            return SLM_OK;
        }
    }
    /* Print the name safely: it comes from the file. */
    char shown[160];
    size_t n = 0;
    for (size_t i = 0; i < module_len + 1 + name_len && n + 5 < sizeof shown; i++) {
        unsigned char c = i < module_len ? (unsigned char)module[i] : i == module_len ? '.' : (unsigned char)name[i - module_len - 1];
        if (c >= 0x20 && c < 0x7f)
            shown[n++] = (char)c;
        else
            n += (size_t)snprintf(shown + n, sizeof shown - n, "\\x%02x", c);
    }
    shown[n] = '\0';
    return FAIL(r, at, SLM_ERR_UNSUPPORTED,
                "GLOBAL %s is not allowed (a state dict names only collections.OrderedDict, torch._utils._rebuild_* "
                "and torch storage classes); nothing was executed",
                shown);
}

static slm_status memo_put(pickle_reader *r, size_t at, uint64_t index, slm_error *err) {
    if (r->depth == 0) return FAIL(r, at, SLM_ERR_FORMAT, "memo store with an empty stack");
    /* A pickler numbers its memo from 0 up; any index beyond the pickle's length is a lie. */
    if (index > r->size) return FAIL(r, at, SLM_ERR_FORMAT, "memo index %llu is out of range", (unsigned long long)index);
    if (index >= r->n_memo) {
        size_t n = (size_t)index + 1 > 2 * r->n_memo ? (size_t)index + 1 : 2 * r->n_memo;
        pickle_value **memo = realloc(r->memo, n * sizeof *memo);
        if (!memo) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
        memset(memo + r->n_memo, 0, (n - r->n_memo) * sizeof *memo);
        r->memo = memo;
        r->n_memo = n;
    }
    if (r->stack[r->depth - 1]->kind == PICKLE_MARK) return FAIL(r, at, SLM_ERR_FORMAT, "memo store of a MARK");
    r->memo[index] = r->stack[r->depth - 1];
    return SLM_OK;
}

slm_status pickle_load(pickle_reader *r, const uint8_t *data, size_t size, size_t file_offset, const char *where,
                       pickle_value **result, slm_error *err) {
    r->data = data;
    r->size = size;
    r->file_offset = file_offset;
    r->where = where;
    r->depth = 0;
    *result = NULL;
    size_t pos = 0;
    for (;;) {
        if (pos >= size) return FAIL(r, pos, SLM_ERR_FORMAT, "truncated: the pickle ends before its STOP opcode");
        size_t at = pos;
        uint8_t op = data[pos++];
        size_t left = size - pos;
        /* The argument length of fixed-width opcodes. */
        size_t need = 0;
        switch (op) {
        case 0x80: case 'K': case 'q': case 'h': case 0x8a: case 0x8c: need = 1; break;
        case 'M': need = 2; break;
        case 'J': case 'X': case 'r': case 'j': need = 4; break;
        case 0x95: case 0x8d: need = 8; break;
        default: break;
        }
        if (left < need) return FAIL(r, at, SLM_ERR_FORMAT, "truncated: opcode 0x%02x needs %zu more bytes", op, need);
        pickle_value *v = NULL;
        slm_status st = SLM_OK;
        switch (op) {
        case 0x80: /* PROTO */
            if (data[pos] > 5) return FAIL(r, at, SLM_ERR_UNSUPPORTED, "pickle protocol %d is not supported", data[pos]);
            pos += 1;
            break;
        case 0x95: /* FRAME: a length hint only */
            pos += 8;
            break;
        case '.': /* STOP */
            if (r->depth != 1 || r->stack[0]->kind == PICKLE_MARK)
                return FAIL(r, at, SLM_ERR_FORMAT, "STOP with %zu values on the stack (want 1)", r->depth);
            *result = r->stack[0];
            r->end = pos;
            return SLM_OK;
        case '(': /* MARK */
            if (!push(r, new_value(r, PICKLE_MARK))) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        case 'N': v = new_value(r, PICKLE_NONE); break;
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            if ((v = new_value(r, PICKLE_BOOL))) v->integer = op == 0x88;
            break;
        case 'K': case 'M': case 'J': { /* BININT1, BININT2, BININT */
            int width = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            uint64_t raw = read_le(data + pos, width);
            pos += (size_t)width;
            if ((v = new_value(r, PICKLE_INT))) v->integer = op == 'J' ? (int64_t)(int32_t)(uint32_t)raw : (int64_t)raw;
            break;
        }
        case 0x8a: { /* LONG1: n bytes of little-endian two's complement */
            size_t n = data[pos++];
            if (size - pos < n) return FAIL(r, at, SLM_ERR_FORMAT, "truncated: LONG1 of %zu bytes", n);
            if (n <= 8) {
                uint64_t raw = read_le(data + pos, (int)n);
                if (n > 0 && n < 8 && (data[pos + n - 1] & 0x80)) raw |= ~(uint64_t)0 << (8 * n); /* sign-extend */
                if ((v = new_value(r, PICKLE_INT))) v->integer = (int64_t)raw;
            } else if ((v = new_value(r, PICKLE_BIG_INT))) {
                v->str = malloc(n);
                if (v->str) memcpy(v->str, data + pos, n);
                v->len = n;
                if (!v->str) v = NULL;
            }
            pos += n;
            break;
        }
        case 'X': case 0x8c: case 0x8d: { /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
            int width = op == 0x8c ? 1 : op == 'X' ? 4 : 8;
            uint64_t n = read_le(data + pos, width);
            pos += (size_t)width;
            if (n > size - pos)
                return FAIL(r, at, SLM_ERR_FORMAT, "truncated: a string of %llu bytes runs past the end",
                            (unsigned long long)n);
            if ((v = new_value(r, PICKLE_STRING)) && (v->str = malloc((size_t)n + 1))) {
                memcpy(v->str, data + pos, (size_t)n);
                v->str[n] = '\0';
                v->len = (size_t)n;
                if (strlen(v->str) != v->len)
                    return FAIL(r, at, SLM_ERR_UNSUPPORTED, "a string holds a NUL character");
            } else {
                v = NULL;
            }
            pos += (size_t)n;
            break;
        }
        case ')': v = new_value(r, PICKLE_TUPLE); break;
        case ']': v = new_value(r, PICKLE_LIST); break;
        case '}': v = new_value(r, PICKLE_DICT); break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            size_t n = (size_t)(op - 0x84);
            if (r->depth < n) return FAIL(r, at, SLM_ERR_FORMAT, "TUPLE%zu with %zu values on the stack", n, r->depth);
            if (!(v = new_value(r, PICKLE_TUPLE))) break;
            for (size_t i = r->depth - n; i < r->depth; i++) {
                if (r->stack[i]->kind == PICKLE_MARK) return FAIL(r, at, SLM_ERR_FORMAT, "TUPLE%zu over a MARK", n);
                if (!append_item(v, r->stack[i])) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
            }
            r->depth -= n;
            break;
        }
        case 't': case 'e': case 'u': { /* TUPLE, APPENDS, SETITEMS: the values above the last MARK */
            long mark = find_mark(r);
            if (mark < 0) return FAIL(r, at, SLM_ERR_FORMAT, "opcode '%c' without a MARK", op);
            size_t first = (size_t)mark + 1;
            pickle_value *target;
            if (op == 't') {
                if (!(target = v = new_value(r, PICKLE_TUPLE))) break;
            } else {
                if (mark == 0) return FAIL(r, at, SLM_ERR_FORMAT, "opcode '%c' with nothing to add to", op);
                target = r->stack[mark - 1];
                pickle_kind want = op == 'e' ? PICKLE_LIST : PICKLE_DICT;
                if (target->kind != want)
                    return FAIL(r, at, SLM_ERR_FORMAT, "%s onto a %s", op == 'e' ? "APPENDS" : "SETITEMS",
                                kind_name(target->kind));
                if (op == 'u' && (r->depth - first) % 2)
                    return FAIL(r, at, SLM_ERR_FORMAT, "SETITEMS with an odd number of values");
            }
            for (size_t i = first; i < r->depth; i++)
                if (!append_item(target, r->stack[i])) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
            r->depth = (size_t)mark;
            break;
        }
        case 'a': case 's': { /* APPEND, SETITEM */
            size_t n = op == 'a' ? 1 : 2;
            if (r->depth < n + 1) return FAIL(r, at, SLM_ERR_FORMAT, "'%c' with too few values on the stack", op);
            pickle_value *target = r->stack[r->depth - n - 1];
            if (target->kind != (op == 'a' ? PICKLE_LIST : PICKLE_DICT))
                return FAIL(r, at, SLM_ERR_FORMAT, "%s onto a %s", op == 'a' ? "APPEND" : "SETITEM", kind_name(target->kind));
            for (size_t i = r->depth - n; i < r->depth; i++) {
                if (r->stack[i]->kind == PICKLE_MARK) return FAIL(r, at, SLM_ERR_FORMAT, "'%c' of a MARK", op);
                if (!append_item(target, r->stack[i])) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
            }
            r->depth -= n;
            break;
        }
        case 'q': case 'r': { /* BINPUT, LONG_BINPUT */
            int width = op == 'q' ? 1 : 4;
            uint64_t index = read_le(data + pos, width);
            pos += (size_t)width;
            if ((st = memo_put(r, at, index, err))) return st;
            break;
        }
        case 0x94: /* MEMOIZE */
            if ((st = memo_put(r, at, r->n_memo, err))) return st;
            break;
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            int width = op == 'h' ? 1 : 4;
            uint64_t index = read_le(data + pos, width);
            pos += (size_t)width;
            if (index >= r->n_memo || !r->memo[index])
                return FAIL(r, at, SLM_ERR_FORMAT, "memo %llu was never stored", (unsigned long long)index);
            v = r->memo[index];
            break;
        }
        case 'c': { /* GLOBAL module\nname\n */
            const char *module = (const char *)data + pos;
            const char *nl1 = memchr(module, '\n', size - pos);
            if (!nl1) return FAIL(r, at, SLM_ERR_FORMAT, "truncated GLOBAL");
            const char *name = nl1 + 1;
            const char *nl2 = memchr(name, '\n', size - (size_t)((const uint8_t *)name - data));
            if (!nl2) return FAIL(r, at, SLM_ERR_FORMAT, "truncated GLOBAL");
            if ((st = find_global(r, at, module, (size_t)(nl1 - module), name, (size_t)(nl2 - name), &v, err)))
                return st;
            pos = (size_t)((const uint8_t *)nl2 - data) + 1;
            break;
        }
        case 'R': { /* REDUCE */
            if (r->depth < 2) return FAIL(r, at, SLM_ERR_FORMAT, "REDUCE with too few values on the stack");
            if ((st = reduce(r, at, r->stack[r->depth - 2], r->stack[r->depth - 1], &v, err))) return st;
            r->depth -= 2;
            break;
        }
        case 'Q': { /* BINPERSID */
            if (r->depth < 1) return FAIL(r, at, SLM_ERR_FORMAT, "BINPERSID with an empty stack");
            if ((st = persistent_load(r, at, r->stack[r->depth - 1], &v, err))) return st;
            r->depth -= 1;
            break;
        }
        case 'b': { /* BUILD: only an OrderedDict's attributes (torch's _metadata), which we drop */
            if (r->depth < 2) return FAIL(r, at, SLM_ERR_FORMAT, "BUILD with too few values on the stack");
            const pickle_value *target = r->stack[r->depth - 2], *state = r->stack[r->depth - 1];
            if (target->kind != PICKLE_DICT || (state->kind != PICKLE_DICT && state->kind != PICKLE_NONE))
                return FAIL(r, at, SLM_ERR_UNSUPPORTED, "BUILD of a %s from a %s is not supported (only a dict's attributes)",
                            kind_name(target->kind), kind_name(state->kind));
            r->depth -= 1;
            break;
        }
        default:
            if (op >= 0x20 && op < 0x7f)
                return FAIL(r, at, SLM_ERR_UNSUPPORTED, "opcode 0x%02x ('%c') is not supported in a state dict", op, op);
            return FAIL(r, at, SLM_ERR_UNSUPPORTED, "opcode 0x%02x is not supported in a state dict", op);
        }
        /* Opcodes that produce a value set v; a NULL v from them means allocation failed. */
        switch (op) {
        case 'N': case 0x88: case 0x89: case 'K': case 'M': case 'J': case 0x8a: case 'X': case 0x8c: case 0x8d:
        case ')': case ']': case '}': case 0x85: case 0x86: case 0x87: case 't': case 'h': case 'j': case 'c':
        case 'R': case 'Q':
            if (!push(r, v)) return FAIL(r, at, SLM_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        default:
            break;
        }
    }
}
