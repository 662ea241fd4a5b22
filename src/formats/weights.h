/* weights.h — a named set of tensors from one checkpoint, whatever its format.
 * Files stay memory-mapped for the life of the set; views point into them. */
#ifndef SLM_FORMATS_WEIGHTS_H
#define SLM_FORMATS_WEIGHTS_H

#include "core/tensor.h"
#include "formats/mapped_file.h"
#include "slm.h"

typedef struct slm_weights slm_weights;

/* Opens a safetensors checkpoint. path: a .safetensors file, a
 * model.safetensors.index.json, or a folder holding either. Every offset,
 * length, dtype and shape is validated; errors name the file and tensor. */
slm_weights *slm_safetensors_open(const char *path, slm_error *err);

/* Opens a PyTorch checkpoint. path: a pytorch_model.bin (the zip format of
 * torch >= 1.6 with stored members, or the legacy format), a
 * pytorch_model.bin.index.json, or a folder holding either. The pickles are
 * read by a restricted unpickler that executes nothing and accepts only what
 * a state dict of dense tensors needs; tensors are views into the mapping. */
slm_weights *slm_torch_bin_open(const char *path, slm_error *err);

struct slm_gguf;
/* The tensors of an open GGUF file (formats/gguf.h) under their GGUF names
 * ("blk.0.attn_q.weight"), shapes in PyTorch order ((n_out, n_in) for a
 * matrix), quantized types as SLM_DTYPE_Q*. The views point into the GGUF's
 * mapping: free the set before the slm_gguf. A type slm cannot run
 * (Q5_K, ...) is SLM_ERR_UNSUPPORTED naming the tensor. */
slm_weights *slm_gguf_weights(const struct slm_gguf *g, slm_error *err);

/* The llama2.c checkpoint's hyperparameters (from its header). */
typedef struct {
    int version; /* 0 = legacy header, 1 = "ak42" version 1 */
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier;
} slm_llama2c_config;

/* Opens a llama2.c checkpoint (legacy or versioned v1 header, f32) and exposes
 * its tensors under Hugging Face Llama names: model.embed_tokens.weight,
 * model.layers.N.{input_layernorm,post_attention_layernorm}.weight,
 * model.layers.N.self_attn.{q,k,v,o}_proj.weight, model.layers.N.mlp.{gate,up,down}_proj.weight,
 * model.norm.weight and (when not shared) lm_head.weight. */
slm_weights *slm_llama2c_open(const char *path, slm_llama2c_config *config, slm_error *err);

/* NULL when absent. */
const slm_tensor_view *slm_weights_find(const slm_weights *w, const char *name);
int slm_weights_count(const slm_weights *w);
const slm_tensor_view *slm_weights_at(const slm_weights *w, int i);
/* Total bytes of tensor data. */
size_t slm_weights_bytes(const slm_weights *w);
void slm_weights_free(slm_weights *w);

/* The largest power of two, at most 64, that divides every tensor's data
 * address. safetensors only promises 1-byte alignment of the data relative
 * to the file (our writer and the reference one give 8), so kernels must use
 * unaligned loads unless this says otherwise. */
size_t slm_weights_alignment(const slm_weights *w);

/* ---- building a set: for the format readers (safetensors.c, llama2c.c) ---- */

slm_weights *slm_weights_new(slm_error *err);
/* Takes ownership of *file (zeroing it; the set unmaps it when freed).
 * Returns the file's index in the set, or -1 with err set. */
int slm_weights_adopt_file(slm_weights *w, slm_mapped_file *file, slm_error *err);
const slm_mapped_file *slm_weights_file(const slm_weights *w, int file_index);
/* Adds a view whose data lies inside file file_index; t->name is copied. */
slm_status slm_weights_add(slm_weights *w, int file_index, const slm_tensor_view *t, slm_error *err);
/* Builds the name index once the last tensor is added; a name added twice is
 * an SLM_ERR_FORMAT naming the tensor and both files. slm_weights_find works after this. */
slm_status slm_weights_index(slm_weights *w, slm_error *err);
/* Index of the file a tensor of this set came from. */
int slm_weights_file_of(const slm_weights *w, const slm_tensor_view *t);

/* 1 when a shard file named in an index (safetensors or pytorch_model.bin) stays inside
 * the index's folder: not absolute, no ".." component. */
int slm_shard_name_ok(const char *name);

/* How a checkpoint reader takes a path (safetensors.c, torch_bin.c): a file is
 * opened by open_single, or by open_index when it ends in ".json"; a folder must
 * hold file_name (open_single) or file_name + ".index.json" (open_index). */
typedef slm_weights *(*slm_weights_opener)(const char *path, slm_error *err);
slm_weights *slm_weights_open_path(const char *path, const char *file_name, slm_weights_opener open_single,
                                   slm_weights_opener open_index, slm_error *err);

/* Reads a whole small file (config.json, tokenizer.json) into a NUL-terminated buffer. */
char *slm_read_file(const char *path, size_t *len, slm_error *err);

#endif
