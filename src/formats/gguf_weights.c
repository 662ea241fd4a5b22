/* gguf_weights.c — a GGUF file's tensors as an slm_weights set: shapes in
 * PyTorch order (ggml lists dimensions fastest first, so they are reversed)
 * and ggml types as slm dtypes. The views point into the GGUF's own mapping. */
#include <stdio.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/weights.h"

static slm_status view_of(const slm_gguf *g, const slm_gguf_tensor *t, slm_tensor_view *v, slm_error *err) {
    slm_dtype dtype;
    if (!slm_dtype_from_ggml_type((int)t->type, &dtype) || dtype == SLM_DTYPE_BOOL)
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "%s: tensor %s has type %s; slm reads F32, F16, BF16, Q4_0, Q8_0, Q4_K and Q6_K",
                        slm_gguf_path(g), t->name, slm_ggml_type_name(t->type));
    v->name = t->name;
    v->dtype = dtype;
    v->ndim = t->n_dims;
    for (int i = 0; i < t->n_dims; i++) v->shape[i] = (int64_t)t->dims[t->n_dims - 1 - i];
    v->data = t->data;
    v->nbytes = t->nbytes;
    return SLM_OK;
}

slm_weights *slm_gguf_weights(const slm_gguf *g, slm_error *err) {
    slm_weights *w = slm_weights_new(err);
    if (!w) return NULL;
    for (int64_t i = 0; i < slm_gguf_tensor_count(g); i++) {
        slm_tensor_view v;
        if (view_of(g, slm_gguf_tensor_at(g, i), &v, err) || slm_weights_add(w, -1, &v, err)) {
            slm_weights_free(w);
            return NULL;
        }
    }
    if (slm_weights_index(w, err)) {
        slm_weights_free(w);
        return NULL;
    }
    return w;
}
