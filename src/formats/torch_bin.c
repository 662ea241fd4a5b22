/* torch_bin.c — reading PyTorch checkpoints (pytorch_model.bin): the zip
 * format torch.save writes since 1.6, the legacy format before it, and a
 * sharded set named by pytorch_model.bin.index.json.
 *
 * Zip format: an archive of stored members under one folder <archive>/:
 *   data.pkl     the state dict pickle; each tensor is
 *                _rebuild_tensor_v2(storage, offset, size, stride, ...) and
 *                each storage a persistent reference
 *                ("storage", torch.FloatStorage, "<key>", "cpu", numel)
 *   data/<key>   that storage's raw little-endian bytes
 *   byteorder    "little" (absent in older files, which are little-endian)
 * Legacy format: five pickles back to back — the magic number
 * 0x1950a86a20f9469cfc6c, the protocol version 1001, a dict of system info
 * (little_endian, type sizes), the state dict (storage references carry a
 * sixth item, view metadata, always None here), and the sorted list of
 * storage keys — then each listed storage as an int64 element count followed
 * by its bytes.
 *
 * The pickles go through the restricted reader in pickle.c, which executes
 * nothing. Tensors become views into the mapped file, never copies; they may
 * sit at any alignment. Every offset and size is checked against the storage
 * and the file; errors name the file, the entry or tensor, and the offset. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/pickle.h"
#include "formats/weights.h"
#include "formats/zip.h"

#define LEGACY_PROTOCOL_VERSION 1001
/* torch's MAGIC_NUMBER, as the LONG1 opcode stores it (little-endian). */
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

/* Where a storage's bytes are in the file. */
typedef struct {
    const char *key;
    slm_dtype dtype;
    int64_t numel;
    const uint8_t *data; /* NULL until located */
    uint64_t bytes;
} storage_place;

typedef struct {
    storage_place *items;
    size_t count;
} storage_table;

/* The state dict's storages, each key once (the first reference's dtype and size must hold for all). */
static slm_status collect_storages(const char *where, const pickle_value *dict, storage_table *table, slm_error *err) {
    table->items = calloc(dict->n_items / 2 + 1, sizeof *table->items);
    if (!table->items) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    table->count = 0;
    for (size_t i = 0; i + 1 < dict->n_items; i += 2) {
        const pickle_value *name = dict->items[i], *t = dict->items[i + 1];
        if (name->kind != PICKLE_STRING) return slm_fail(err, SLM_ERR_FORMAT, "%s: state dict key %zu is not a string", where, i / 2);
        if (t->kind != PICKLE_TENSOR)
            return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: state dict entry %s is not a tensor", where, name->str);
        const pickle_value *s = t->storage;
        size_t k = 0;
        while (k < table->count && strcmp(table->items[k].key, s->str) != 0) k++;
        if (k == table->count) {
            table->items[k] = (storage_place){.key = s->str, .dtype = s->dtype, .numel = s->integer};
            table->count++;
        } else if (table->items[k].dtype != s->dtype || table->items[k].numel != s->integer) {
            return slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: storage %s is referenced with two types or sizes", where,
                            name->str, s->str);
        }
    }
    return SLM_OK;
}

static storage_place *find_storage(storage_table *table, const char *key) {
    for (size_t k = 0; k < table->count; k++)
        if (strcmp(table->items[k].key, key) == 0) return &table->items[k];
    return NULL;
}

/* Adds the state dict's tensors as views into their located storages. */
static slm_status add_tensors(slm_weights *w, int file_index, const pickle_value *dict,
                              storage_table *table, slm_error *err) {
    for (size_t i = 0; i + 1 < dict->n_items; i += 2) {
        const pickle_value *name = dict->items[i], *t = dict->items[i + 1];
        const storage_place *s = find_storage(table, t->storage->str);
        size_t esize = slm_dtype_size(t->dtype);
        slm_tensor_view view = {.name = name->str, .dtype = t->dtype, .ndim = t->ndim};
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            view.shape[d] = t->shape[d];
            numel *= t->shape[d]; /* the unpickler checked this fits in the storage */
        }
        /* The storage's bytes were checked to hold its declared element count; the view lies within that. */
        view.data = s->data + (uint64_t)t->storage_offset * esize;
        view.nbytes = (size_t)numel * esize;
        slm_status st = slm_weights_add(w, file_index, &view, err);
        if (st) return st;
    }
    return SLM_OK;
}

/* The storage's declared bytes must fit in what the file holds for it. */
static slm_status check_storage_bytes(const char *path, const char *entry, const storage_place *s, uint64_t available,
                                      uint64_t offset, slm_error *err) {
    uint64_t declared = (uint64_t)s->numel * slm_dtype_size(s->dtype);
    if (declared > available)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s: storage %s at offset %llu: %lld elements of %s need %llu bytes, the file holds %llu",
                        path, entry, s->key, (unsigned long long)offset, (long long)s->numel, slm_dtype_name(s->dtype),
                        (unsigned long long)declared, (unsigned long long)available);
    return SLM_OK;
}

/* The top-level value must be the state dict: a dict (or OrderedDict) of tensors. */
static slm_status expect_state_dict(const char *where, const pickle_value *v, slm_error *err) {
    if (v->kind != PICKLE_DICT)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: the pickle holds a %s, not a state dict", where,
                        v->kind == PICKLE_LIST ? "list" : v->kind == PICKLE_TUPLE ? "tuple" : "non-dict value");
    return SLM_OK;
}

static slm_status parse_zip(slm_weights *w, int file_index, slm_error *err) {
    const slm_mapped_file *f = slm_weights_file(w, file_index);
    slm_zip zip;
    slm_status st = slm_zip_open(&zip, f, err);
    if (st) return st;
    /* The archive's one top-level folder holds data.pkl. */
    const slm_zip_entry *pkl = NULL;
    for (size_t i = 0; i < zip.count && !pkl; i++) {
        const char *slash = strchr(zip.entries[i].name, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) pkl = &zip.entries[i];
    }
    if (!pkl) {
        slm_zip_close(&zip);
        return slm_fail(err, SLM_ERR_FORMAT, "%s: zip archive has no <archive>/data.pkl: not a torch.save file", f->path);
    }
    size_t prefix_len = (size_t)(strchr(pkl->name, '/') - pkl->name);
    char *entry_name = malloc(prefix_len + 64 + 1);
    char *where = malloc(strlen(f->path) + strlen(pkl->name) + 3);
    if (!entry_name || !where) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
    if (!st) {
        sprintf(where, "%s: %s", f->path, pkl->name);
        snprintf(entry_name, prefix_len + 64, "%.*s/byteorder", (int)prefix_len, pkl->name);
        const slm_zip_entry *order = slm_zip_find(&zip, entry_name);
        if (order && !(order->size == 6 && memcmp(f->data + order->offset, "little", 6) == 0))
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: %s: only little-endian checkpoints are supported", f->path,
                          entry_name);
    }
    pickle_reader reader = {0};
    pickle_value *dict = NULL;
    storage_table table = {0};
    if (!st) st = pickle_load(&reader, f->data + pkl->offset, (size_t)pkl->size, (size_t)pkl->offset, where, &dict, err);
    if (!st) st = expect_state_dict(where, dict, err);
    if (!st) st = collect_storages(where, dict, &table, err);
    for (size_t k = 0; k < table.count && !st; k++) {
        storage_place *s = &table.items[k];
        char *name = malloc(prefix_len + strlen(s->key) + 8);
        if (!name) {
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", f->path);
            break;
        }
        sprintf(name, "%.*s/data/%s", (int)prefix_len, pkl->name, s->key);
        const slm_zip_entry *e = slm_zip_find(&zip, name);
        if (!e) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: storage %s: the archive has no entry %s", f->path, s->key, name);
        } else {
            s->data = f->data + e->offset;
            s->bytes = e->size;
            st = check_storage_bytes(f->path, name, s, e->size, e->offset, err);
        }
        free(name);
    }
    if (!st) st = add_tensors(w, file_index, dict, &table, err);
    free(table.items);
    pickle_free(&reader);
    free(entry_name);
    free(where);
    slm_zip_close(&zip);
    return st;
}

/* One of the legacy file's leading pickles, read at *pos. */
static slm_status legacy_pickle(pickle_reader *r, const slm_mapped_file *f, size_t *pos, const char *where,
                                pickle_value **v, slm_error *err) {
    slm_status st = pickle_load(r, f->data + *pos, f->size - *pos, *pos, where, v, err);
    if (!st) *pos += r->end;
    return st;
}

static slm_status parse_legacy(slm_weights *w, int file_index, slm_error *err) {
    const slm_mapped_file *f = slm_weights_file(w, file_index);
    size_t pos = 0;
    pickle_reader header = {0}, main = {0}, keys_reader = {0};
    pickle_value *v = NULL, *dict = NULL, *keys = NULL;
    storage_table table = {0};
    char where[600];
    snprintf(where, sizeof where, "%s: magic number", f->path);
    slm_status st = legacy_pickle(&header, f, &pos, where, &v, err);
    if (!st && !(v->kind == PICKLE_BIG_INT && v->len == sizeof legacy_magic && !memcmp(v->str, legacy_magic, v->len)))
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a PyTorch checkpoint (wrong magic number at offset 0)", f->path);
    pickle_free(&header);
    if (!st) {
        snprintf(where, sizeof where, "%s: protocol version", f->path);
        st = legacy_pickle(&header, f, &pos, where, &v, err);
        if (!st && !(v->kind == PICKLE_INT && v->integer == LEGACY_PROTOCOL_VERSION))
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: legacy protocol version %lld is not supported (want %d)", f->path,
                          v->kind == PICKLE_INT ? (long long)v->integer : -1LL, LEGACY_PROTOCOL_VERSION);
        pickle_free(&header);
    }
    if (!st) {
        snprintf(where, sizeof where, "%s: system info", f->path);
        st = legacy_pickle(&header, f, &pos, where, &v, err);
        if (!st && v->kind != PICKLE_DICT) st = slm_fail(err, SLM_ERR_FORMAT, "%s: system info is not a dict", where);
        for (size_t i = 0; !st && i + 1 < v->n_items; i += 2) {
            const pickle_value *key = v->items[i], *value = v->items[i + 1];
            if (key->kind == PICKLE_STRING && !strcmp(key->str, "little_endian") &&
                !(value->kind == PICKLE_BOOL && value->integer))
                st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: only little-endian checkpoints are supported", where);
        }
        pickle_free(&header);
    }
    if (!st) {
        snprintf(where, sizeof where, "%s: state dict", f->path);
        st = legacy_pickle(&main, f, &pos, where, &dict, err);
        if (!st) st = expect_state_dict(where, dict, err);
        if (!st) st = collect_storages(where, dict, &table, err);
    }
    if (!st) {
        snprintf(where, sizeof where, "%s: storage keys", f->path);
        st = legacy_pickle(&keys_reader, f, &pos, where, &keys, err);
        if (!st && keys->kind != PICKLE_LIST) st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a list", where);
    }
    /* The storages follow in the listed order: int64 element count, then the bytes. */
    for (size_t i = 0; !st && i < keys->n_items; i++) {
        const pickle_value *key = keys->items[i];
        if (key->kind != PICKLE_STRING) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: storage key %zu is not a string", where, i);
            break;
        }
        storage_place *s = find_storage(&table, key->str);
        if (!s) {
            st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: storage %s is used by no tensor, so its element size is unknown",
                          f->path, key->str);
            break;
        }
        if (s->data) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: storage %s is listed twice", f->path, key->str);
            break;
        }
        if (f->size - pos < 8) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: storage %s: truncated at offset %zu (no element count)", f->path,
                          key->str, pos);
            break;
        }
        uint64_t numel = 0;
        for (int b = 7; b >= 0; b--) numel = (numel << 8) | f->data[pos + (size_t)b];
        if (numel != (uint64_t)s->numel) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: storage %s at offset %zu holds %llu elements but is referenced with %lld",
                          f->path, key->str, pos, (unsigned long long)numel, (long long)s->numel);
            break;
        }
        pos += 8;
        if ((st = check_storage_bytes(f->path, "storage data", s, f->size - pos, pos, err))) break;
        s->data = f->data + pos;
        s->bytes = (uint64_t)s->numel * slm_dtype_size(s->dtype);
        pos += (size_t)s->bytes;
    }
    for (size_t k = 0; !st && k < table.count; k++)
        if (!table.items[k].data)
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: storage %s is used by a tensor but missing from the storage list",
                          f->path, table.items[k].key);
    if (!st) st = add_tensors(w, file_index, dict, &table, err);
    free(table.items);
    pickle_free(&main);
    pickle_free(&keys_reader);
    return st;
}

/* Maps path, hands it to w and parses it (zip or legacy). Returns the file index or -1. */
static int add_file(slm_weights *w, const char *path, slm_error *err) {
    slm_mapped_file file;
    if (slm_mapped_file_open(&file, path, err)) return -1;
    int index = slm_weights_adopt_file(w, &file, err);
    if (index < 0) {
        slm_mapped_file_close(&file);
        return -1;
    }
    const slm_mapped_file *f = slm_weights_file(w, index);
    slm_status st;
    if (f->size == 0)
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: file is empty", path);
    else if (slm_zip_looks_like(f->data, f->size))
        st = parse_zip(w, index, err);
    else if (f->data[0] == 0x80)
        st = parse_legacy(w, index, err);
    else
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: neither a zip archive nor a legacy pickle: not a PyTorch checkpoint", path);
    return st ? -1 : index;
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

/* pytorch_model.bin.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}.
 * Each shard is opened once; every listed tensor must be in the shard named for it. */
static slm_weights *open_index(const char *index_path, slm_error *err) {
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        slm_fail(err, SLM_ERR_FORMAT, "%s: not valid JSON: %s (line %d)", index_path, jerr.text, jerr.line);
        return NULL;
    }
    const json_t *map = json_object_get(root, "weight_map");
    slm_weights *w = NULL;
    json_t *shard_file = json_object(); /* shard name -> file index in w */
    slm_status st = shard_file ? SLM_OK : slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", index_path);
    if (!st && (!json_is_object(map) || json_object_size(map) == 0))
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: no \"weight_map\" object listing tensors", index_path);
    if (!st && !(w = slm_weights_new(err))) st = SLM_ERR_OUT_OF_MEMORY;
    const char *slash = strrchr(index_path, '/');
    int dir_len = slash ? (int)(slash - index_path) : 1;
    const char *dir = slash ? index_path : ".";
    const char *name;
    json_t *value;
    if (!st) {
        json_object_foreach((json_t *)map, name, value) {
            const char *shard = json_string_value(value);
            if (!shard || !slm_shard_name_ok(shard)) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: shard is not a file name inside the index's folder",
                              index_path, name);
                break;
            }
            if (json_object_get(shard_file, shard)) continue;
            size_t cap = (size_t)dir_len + strlen(shard) + 2;
            char *path = malloc(cap);
            if (!path) {
                st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", index_path);
                break;
            }
            snprintf(path, cap, "%.*s/%s", dir_len, dir, shard);
            int index = add_file(w, path, err);
            free(path);
            if (index < 0) {
                st = err ? err->status : SLM_ERR_FORMAT;
                if (err) slm_error_prefix(err, index_path);
                break;
            }
            json_object_set_new(shard_file, shard, json_integer(index));
        }
    }
    if (!st && (st = slm_weights_index(w, err)) && err) slm_error_prefix(err, index_path);
    if (!st) {
        json_object_foreach((json_t *)map, name, value) {
            int want = (int)json_integer_value(json_object_get(shard_file, json_string_value(value)));
            const slm_tensor_view *t = slm_weights_find(w, name);
            if (!t || slm_weights_file_of(w, t) != want) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: tensor %s: listed in shard %s, which does not have it", index_path,
                              name, slm_weights_file(w, want)->path);
                break;
            }
        }
    }
    json_decref(shard_file);
    json_decref(root);
    if (st) {
        slm_weights_free(w);
        return NULL;
    }
    return w;
}

slm_weights *slm_torch_bin_open(const char *path, slm_error *err) {
    if (!path) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_torch_bin_open: path is NULL");
        return NULL;
    }
    return slm_weights_open_path(path, "pytorch_model.bin", open_single, open_index, err);
}
