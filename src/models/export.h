/* export.h — what the model writers (gguf_export.c, hf_export.c,
 * llama2c_export.c) share: the rotary row orders and the guard against
 * overwriting a file the model is mapped from. */
#ifndef SLM_MODELS_EXPORT_H
#define SLM_MODELS_EXPORT_H

#include <sys/stat.h>

#include "formats/gguf.h"
#include "models/family.h"

/* Rotary projections come in two row orders within each head of hd rows:
 * Hugging Face's rotate-half (row a * hd/2 + i is pair i's half a) and Meta's /
 * llama2.c's / llama.cpp's interleaved pairs (row 2i + a). */

/* The rotate-half row that interleaved row r comes from (head_dim 0: r). */
static inline int slm_interleaved_from_halves(int r, int head_dim) {
    if (!head_dim) return r;
    int head = r / head_dim, j = r % head_dim;
    return head * head_dim + (j % 2) * (head_dim / 2) + j / 2;
}

/* The interleaved row that rotate-half row r comes from (head_dim 0: r). */
static inline int slm_halves_from_interleaved(int r, int head_dim) {
    if (!head_dim) return r;
    int head = r / head_dim, j = r % head_dim, half = head_dim / 2;
    return head * head_dim + 2 * (j % half) + j / half;
}

static inline int slm_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* 1 when path (followed through links) is a file the model's weights are mapped
 * from: rewriting it in place would pull the weights away while they are read. */
static inline int slm_model_is_source_file(const slm_model *m, const char *path) {
    if (m->gguf && slm_same_file(path, slm_gguf_path(m->gguf))) return 1;
    const slm_mapped_file *f;
    for (int i = 0; m->weights && (f = slm_weights_file(m->weights, i)) != NULL; i++)
        if (f->path && slm_same_file(path, f->path)) return 1;
    return 0;
}

#endif
