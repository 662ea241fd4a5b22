/* pickle.h — a restricted reader of the Python pickles PyTorch writes for a
 * state dict (protocol 2; private to the torch .bin reader).
 *
 * It builds plain values (None, bools, ints, strings, tuples, lists, dicts)
 * and understands exactly four callables: collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, and the
 * typed storage classes (torch.FloatStorage, ...) named in storage references
 * (BINPERSID). Nothing is ever executed: any other global, opcode or call is
 * an error naming the opcode and its offset. */
#ifndef SLM_FORMATS_PICKLE_H
#define SLM_FORMATS_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "slm.h"

typedef enum {
    PICKLE_NONE,
    PICKLE_BOOL,
    PICKLE_INT,     /* integer: int64 (LONG1 beyond 64 bits is big_int) */
    PICKLE_BIG_INT, /* LONG1 wider than 8 bytes: bytes kept in str/len (little-endian two's complement) */
    PICKLE_STRING,  /* str, NUL-terminated copy */
    PICKLE_TUPLE,
    PICKLE_LIST,
    PICKLE_DICT,    /* items: key, value, key, value, ... */
    PICKLE_GLOBAL,  /* one of the allowed callables: integer holds its pickle_global */
    PICKLE_STORAGE, /* a storage reference: dtype, key in str, integer = element count */
    PICKLE_TENSOR,  /* a view of a storage */
    PICKLE_MARK     /* internal: the MARK opcode's stack marker */
} pickle_kind;

typedef enum {
    PICKLE_GLOBAL_ORDERED_DICT,
    PICKLE_GLOBAL_REBUILD_TENSOR_V2,
    PICKLE_GLOBAL_REBUILD_PARAMETER,
    PICKLE_GLOBAL_STORAGE_CLASS /* dtype says which */
} pickle_global;

typedef struct pickle_value pickle_value;
struct pickle_value {
    pickle_kind kind;
    int64_t integer;
    char *str; /* owned; NUL-terminated */
    size_t len;
    pickle_value **items; /* owned array of borrowed pointers (tuples, lists, dicts) */
    size_t n_items, cap_items;
    slm_dtype dtype;           /* storages and storage classes */
    const pickle_value *storage; /* tensors */
    int64_t storage_offset;    /* tensors: in elements */
    int ndim;
    int64_t shape[SLM_MAX_DIMS], stride[SLM_MAX_DIMS];
    const char *global_name; /* "module.name" for messages (static) */
    pickle_value *next_allocated;
};

/* A pickle being read: values are owned by it until pickle_free. */
typedef struct {
    const uint8_t *data; /* the pickle bytes */
    size_t size;
    size_t file_offset; /* where data starts in the file, for messages */
    const char *where;  /* "file: entry" for messages */
    size_t end;         /* after a successful load: bytes consumed (through STOP) */
    pickle_value *allocated;
    pickle_value **stack;
    size_t depth, cap_stack;
    pickle_value **memo;
    size_t n_memo;
} pickle_reader;

/* Reads one pickle (up to STOP) from data[0, size). *result is owned by the reader. */
slm_status pickle_load(pickle_reader *r, const uint8_t *data, size_t size, size_t file_offset, const char *where,
                       pickle_value **result, slm_error *err);
/* Frees every value the reader made; safe on a zeroed reader. */
void pickle_free(pickle_reader *r);

#endif
