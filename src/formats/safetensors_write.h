/* safetensors_write.h — writing safetensors files, as the reference writer
 * does: header padded with spaces to a multiple of 8 bytes, tensors sorted by
 * element size (largest first) then name and packed back to back, so every
 * tensor is aligned to its element size relative to the file. */
#ifndef SLM_FORMATS_SAFETENSORS_WRITE_H
#define SLM_FORMATS_SAFETENSORS_WRITE_H

#include "core/tensor.h"
#include "slm.h"

/* Writes n tensors (name, dtype, ndim, shape, data, nbytes each) to path.
 * metadata: NULL, or a NULL-terminated list of key, value strings for "__metadata__".
 * A tensor whose nbytes is not numel × dtype size, a repeated or reserved name,
 * or a failed write is an error; a partly written file is removed. */
slm_status slm_safetensors_write(const char *path, const slm_tensor_view *tensors, int n, const char *const *metadata,
                                 slm_error *err);

/* Produces tensor index's nbytes of data into buf (for tensors too big to hold at once). */
typedef slm_status (*slm_safetensors_fill_fn)(int index, void *buf, size_t nbytes, void *user_data, slm_error *err);

/* As slm_safetensors_write, but the data of tensors[i] comes from fill(i, ...)
 * just before it is written; tensors[i].data is ignored. One buffer of the
 * largest tensor's size is used. */
slm_status slm_safetensors_write_with(const char *path, const slm_tensor_view *tensors, int n,
                                      const char *const *metadata, slm_safetensors_fill_fn fill, void *user_data,
                                      slm_error *err);

#endif
