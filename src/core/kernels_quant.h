/* kernels_quant.h — private to src/core: slm_matmul and slm_matrix_row for
 * matrices whose dtype is block-quantized (always SLM_LAYOUT_OUT_IN: blocks
 * run along a row of n_in weights, as in GGUF). */
#ifndef SLM_CORE_KERNELS_QUANT_H
#define SLM_CORE_KERNELS_QUANT_H

#include "core/kernels.h"

void slm_matmul_quantized(slm_thread_pool *pool, float *y, const float *x, int T, const slm_matrix *W,
                          const float *bias);
void slm_matrix_row_quantized(const slm_matrix *W, int r, float *out);

#endif
