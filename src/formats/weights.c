/* weights.c — the slm_weights set: tensor views with owned names, the mapped
 * files they point into, a by-name index (sorted array + binary search), and
 * slm_read_file for small text files. */
#include "formats/weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

struct slm_weights {
    slm_mapped_file *files; /* [n_files], owned mappings */
    int n_files, cap_files;
    slm_tensor_view *tensors; /* [count], in the order added; names owned */
    int *file_of;             /* [count] index into files */
    int count, cap;
    const slm_tensor_view **by_name; /* [count] sorted by name, built by slm_weights_index */
    size_t total_bytes;
};

slm_weights *slm_weights_new(slm_error *err) {
    slm_weights *w = calloc(1, sizeof *w);
    if (!w) slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "out of memory allocating a weight set");
    return w;
}

void slm_weights_free(slm_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) free((char *)w->tensors[i].name);
    for (int i = 0; i < w->n_files; i++) slm_mapped_file_close(&w->files[i]);
    free(w->tensors);
    free(w->file_of);
    free(w->files);
    free(w->by_name);
    free(w);
}

int slm_weights_adopt_file(slm_weights *w, slm_mapped_file *file, slm_error *err) {
    if (w->n_files == w->cap_files) {
        int cap = w->cap_files ? 2 * w->cap_files : 4;
        slm_mapped_file *files = realloc(w->files, (size_t)cap * sizeof *files);
        if (!files) {
            slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", file->path);
            return -1;
        }
        w->files = files;
        w->cap_files = cap;
    }
    w->files[w->n_files] = *file;
    memset(file, 0, sizeof *file);
    return w->n_files++;
}

const slm_mapped_file *slm_weights_file(const slm_weights *w, int file_index) {
    return file_index >= 0 && file_index < w->n_files ? &w->files[file_index] : NULL;
}

slm_status slm_weights_add(slm_weights *w, int file_index, const slm_tensor_view *t, slm_error *err) {
    const char *path = file_index >= 0 && file_index < w->n_files ? w->files[file_index].path : "weights";
    if (w->count == w->cap) {
        if (w->cap > (1 << 28)) return slm_fail(err, SLM_ERR_FORMAT, "%s: too many tensors", path);
        int cap = w->cap ? 2 * w->cap : 64;
        slm_tensor_view *tensors = realloc(w->tensors, (size_t)cap * sizeof *tensors);
        if (!tensors) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        w->tensors = tensors;
        int *file_of = realloc(w->file_of, (size_t)cap * sizeof *file_of);
        if (!file_of) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        w->file_of = file_of;
        w->cap = cap;
    }
    char *name = strdup(t->name);
    if (!name) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    slm_tensor_view *dst = &w->tensors[w->count];
    *dst = *t;
    dst->name = name;
    w->file_of[w->count] = file_index;
    w->count++;
    w->total_bytes += t->nbytes;
    return SLM_OK;
}

static int compare_names(const void *a, const void *b) {
    const slm_tensor_view *x = *(const slm_tensor_view *const *)a;
    const slm_tensor_view *y = *(const slm_tensor_view *const *)b;
    return strcmp(x->name, y->name);
}

slm_status slm_weights_index(slm_weights *w, slm_error *err) {
    free(w->by_name);
    w->by_name = malloc((size_t)(w->count ? w->count : 1) * sizeof *w->by_name);
    if (!w->by_name) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "out of memory indexing %d tensors", w->count);
    for (int i = 0; i < w->count; i++) w->by_name[i] = &w->tensors[i];
    qsort(w->by_name, (size_t)w->count, sizeof *w->by_name, compare_names);
    for (int i = 1; i < w->count; i++) {
        if (strcmp(w->by_name[i - 1]->name, w->by_name[i]->name) == 0) {
            const slm_mapped_file *a = slm_weights_file(w, slm_weights_file_of(w, w->by_name[i - 1]));
            const slm_mapped_file *b = slm_weights_file(w, slm_weights_file_of(w, w->by_name[i]));
            slm_status st = slm_fail(err, SLM_ERR_FORMAT, "tensor %s appears twice: in %s and in %s",
                                     w->by_name[i]->name, a ? a->path : "?", b ? b->path : "?");
            free(w->by_name);
            w->by_name = NULL;
            return st;
        }
    }
    return SLM_OK;
}

int slm_weights_file_of(const slm_weights *w, const slm_tensor_view *t) {
    if (t < w->tensors || t >= w->tensors + w->count) return -1;
    return w->file_of[t - w->tensors];
}

const slm_tensor_view *slm_weights_find(const slm_weights *w, const char *name) {
    if (!w || !name || !w->by_name) return NULL;
    size_t lo = 0, hi = (size_t)w->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->by_name[mid]->name);
        if (c == 0) return w->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

int slm_weights_count(const slm_weights *w) { return w ? w->count : 0; }

const slm_tensor_view *slm_weights_at(const slm_weights *w, int i) {
    return w && i >= 0 && i < w->count ? &w->tensors[i] : NULL;
}

size_t slm_weights_bytes(const slm_weights *w) { return w ? w->total_bytes : 0; }

size_t slm_weights_alignment(const slm_weights *w) {
    size_t align = 64;
    for (int i = 0; w && i < w->count; i++) {
        if (w->tensors[i].nbytes == 0) continue; /* an empty tensor's address is never read */
        uintptr_t address = (uintptr_t)w->tensors[i].data;
        while (align > 1 && address % align) align /= 2;
    }
    return align;
}

char *slm_read_file(const char *path, size_t *len, slm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        slm_fail(err, SLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t used = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (used < cap - 1) break; /* short read: end of file or error, told apart below */
        if (cap > SIZE_MAX / 2) {
            free(buf);
            buf = NULL;
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory reading the file", path);
        return NULL;
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(buf);
        slm_fail(err, SLM_ERR_IO, "%s: read failed: %s", path, strerror(e));
        return NULL;
    }
    fclose(f);
    buf[used] = '\0';
    if (len) *len = used;
    return buf;
}

int slm_shard_name_ok(const char *name) {
    if (!name[0] || name[0] == '/') return 0;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 0;
        p += len + (slash ? 1 : 0);
    }
    return 1;
}

static int is_regular_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

slm_weights *slm_weights_open_path(const char *path, const char *file_name, slm_weights_opener open_single,
                                   slm_weights_opener open_index, slm_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        slm_fail(err, SLM_ERR_IO, "%s: no such file or folder", path);
        return NULL;
    }
    size_t n = strlen(path);
    if (!S_ISDIR(st.st_mode))
        return n >= 5 && !strcmp(path + n - 5, ".json") ? open_index(path, err) : open_single(path, err);
    size_t cap = n + 1 + strlen(file_name) + sizeof ".index.json";
    char *candidate = malloc(cap);
    if (!candidate) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        return NULL;
    }
    slm_weights *w = NULL;
    snprintf(candidate, cap, "%s/%s", path, file_name);
    if (is_regular_file(candidate)) {
        w = open_single(candidate, err);
    } else {
        snprintf(candidate, cap, "%s/%s.index.json", path, file_name);
        if (is_regular_file(candidate))
            w = open_index(candidate, err);
        else
            slm_fail(err, SLM_ERR_IO, "%s: folder has neither %s nor %s.index.json", path, file_name, file_name);
    }
    free(candidate);
    return w;
}
