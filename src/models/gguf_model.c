/* gguf_model.c — loading a GGUF model as llama.cpp writes it (gpt2, llama,
 * phi2, bert). The family loaders are the same ones Hugging Face folders use: the
 * GGUF's metadata is restated as the config.json keys they read, and their
 * tensor names are translated to llama.cpp's ("model.layers.3.mlp.up_proj.weight"
 * -> "blk.3.ffn_up.weight"). Differences from the HF checkpoints that matter:
 *   - every matrix is stored (n_out, n_in) (GPT-2's Conv1D is transposed by llama.cpp's converter);
 *   - llama's q/k rows are permuted to Meta's interleaved-pairs rotary layout (as llama2.c's). */
#include <stdio.h>
#include <string.h>

#include "formats/gguf.h"
#include "models/family.h"
#include "models/gguf_model.h"

typedef struct {
    const char *hf, *gguf;
} name_pair;

/* Per-layer tensors, after "h.N." (GPT-2), "model.layers.N." (Llama, Phi) or "encoder.layer.N." (BERT). */
static const name_pair layer_names[] = {
    {"ln_1", "attn_norm"},
    {"attn.c_attn", "attn_qkv"},
    {"attn.c_proj", "attn_output"},
    {"ln_2", "ffn_norm"},
    {"mlp.c_fc", "ffn_up"},
    {"mlp.c_proj", "ffn_down"},
    {"input_layernorm", "attn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.dense", "attn_output"},
    {"self_attn.qkv_proj", "attn_qkv"},
    {"post_attention_layernorm", "ffn_norm"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
    {"mlp.fc1", "ffn_up"},
    {"mlp.fc2", "ffn_down"},
    {"attention.self.query", "attn_q"},
    {"attention.self.key", "attn_k"},
    {"attention.self.value", "attn_v"},
    {"attention.output.dense", "attn_output"},
    {"attention.output.LayerNorm", "attn_output_norm"},
    {"intermediate.dense", "ffn_up"},
    {"output.dense", "ffn_down"},
    {"output.LayerNorm", "layer_output_norm"},
};

static const name_pair model_names[] = {
    {"wte", "token_embd"},        {"wpe", "position_embd"},  {"ln_f", "output_norm"},
    {"model.embed_tokens", "token_embd"}, {"model.norm", "output_norm"}, {"model.final_layernorm", "output_norm"},
    {"lm_head", "output"},
    {"embeddings.word_embeddings", "token_embd"}, {"embeddings.position_embeddings", "position_embd"},
    {"embeddings.token_type_embeddings", "token_types"}, {"embeddings.LayerNorm", "token_embd_norm"},
};

static const char *lookup(const name_pair *pairs, size_t n, const char *hf, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(pairs[i].hf) == len && !strncmp(pairs[i].hf, hf, len)) return pairs[i].gguf;
    return NULL;
}

/* slm_loader's rename hook: "h.2.attn.c_attn.bias" -> "blk.2.attn_qkv.bias". */
static int gguf_name(const char *name, char *out, size_t cap) {
    const char *kind = strrchr(name, '.'); /* ".weight" or ".bias" */
    if (!kind) return 0;
    int layer = -1, used = 0;
    static const char *const layer_prefixes[] = {"h.%d.%n", "model.layers.%d.%n", "encoder.layer.%d.%n"};
    for (size_t i = 0; i < 3 && layer < 0; i++) {
        used = 0;
        if (sscanf(name, layer_prefixes[i], &layer, &used) != 1 || used == 0) layer = -1;
    }
    const char *stem = layer >= 0 ? name + used : name;
    if (stem >= kind) return 0;
    size_t len = (size_t)(kind - stem);
    const char *mapped = layer >= 0 ? lookup(layer_names, sizeof layer_names / sizeof *layer_names, stem, len)
                                    : lookup(model_names, sizeof model_names / sizeof *model_names, stem, len);
    if (!mapped) return 0;
    int n = layer >= 0 ? snprintf(out, cap, "blk.%d.%s%s", layer, mapped, kind) : snprintf(out, cap, "%s%s", mapped, kind);
    return n > 0 && (size_t)n < cap;
}

/* ---- metadata -> config ---- */

typedef struct {
    const slm_gguf *g;
    const char *arch;
    json_t *cfg;
    slm_status status;
    slm_error *err;
} config_builder;

/* cfg[hf_key] = the integer at "<arch>.<suffix>"; required keys must exist. */
static void put_int(config_builder *b, const char *hf_key, const char *suffix, int required) {
    if (b->status) return;
    char key[128];
    snprintf(key, sizeof key, "%s.%s", b->arch, suffix);
    if (slm_gguf_find_key(b->g, key) < 0) {
        if (required) b->status = slm_fail(b->err, SLM_ERR_FORMAT, "%s: missing metadata %s", slm_gguf_path(b->g), key);
        return;
    }
    uint32_t v;
    b->status = slm_gguf_get_u32(b->g, key, &v, b->err);
    if (!b->status && v > (1u << 30))
        b->status = slm_fail(b->err, SLM_ERR_FORMAT, "%s: %s = %u is implausible", slm_gguf_path(b->g), key, v);
    if (!b->status) json_object_set_new(b->cfg, hf_key, json_integer(v));
}

static void put_float(config_builder *b, const char *hf_key, const char *suffix) {
    if (b->status) return;
    char key[128];
    snprintf(key, sizeof key, "%s.%s", b->arch, suffix);
    if (slm_gguf_find_key(b->g, key) < 0) return;
    float v;
    b->status = slm_gguf_get_f32(b->g, key, &v, b->err);
    if (!b->status) json_object_set_new(b->cfg, hf_key, json_real(v));
}

/* The width of the head rows llama.cpp rotates (rope.dimension_count) as Phi's factor. */
static void put_rotary_factor(config_builder *b) {
    char key[128];
    snprintf(key, sizeof key, "%s.rope.dimension_count", b->arch);
    uint32_t rot, d, heads;
    if (b->status || slm_gguf_find_key(b->g, key) < 0) return;
    b->status = slm_gguf_get_u32(b->g, key, &rot, b->err);
    json_int_t width = json_integer_value(json_object_get(b->cfg, "hidden_size"));
    json_int_t n_heads = json_integer_value(json_object_get(b->cfg, "num_attention_heads"));
    if (b->status || n_heads <= 0 || width <= 0) return;
    d = (uint32_t)width;
    heads = (uint32_t)n_heads;
    json_object_set_new(b->cfg, "partial_rotary_factor", json_real((double)rot / (double)(d / heads)));
}

/* The config.json a family loader would read for this file. */
static json_t *config_from_metadata(const slm_gguf *g, const char *arch, const slm_weights *w, slm_error *err) {
    config_builder b = {g, arch, json_object(), SLM_OK, err};
    if (!b.cfg) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "config");
        return NULL;
    }
    const slm_tensor_view *embed = slm_weights_find(w, "token_embd.weight");
    if (!embed || embed->ndim != 2) {
        slm_fail(err, SLM_ERR_FORMAT, "%s: missing tensor token_embd.weight (2-D)", slm_gguf_path(g));
        json_decref(b.cfg);
        return NULL;
    }
    json_object_set_new(b.cfg, "vocab_size", json_integer(embed->shape[0]));
    json_object_set_new(b.cfg, "tie_word_embeddings", json_boolean(!slm_weights_find(w, "output.weight")));
    if (!strcmp(arch, "bert")) {
        put_int(&b, "hidden_size", "embedding_length", 1);
        put_int(&b, "num_hidden_layers", "block_count", 1);
        put_int(&b, "num_attention_heads", "attention.head_count", 1);
        put_int(&b, "intermediate_size", "feed_forward_length", 1);
        put_int(&b, "max_position_embeddings", "context_length", 1);
        put_float(&b, "layer_norm_eps", "attention.layer_norm_epsilon");
        const slm_tensor_view *types = slm_weights_find(w, "token_types.weight");
        if (types && types->ndim == 2) json_object_set_new(b.cfg, "type_vocab_size", json_integer(types->shape[0]));
    } else if (!strcmp(arch, "gpt2")) {
        put_int(&b, "n_embd", "embedding_length", 1);
        put_int(&b, "n_layer", "block_count", 1);
        put_int(&b, "n_head", "attention.head_count", 1);
        put_int(&b, "n_positions", "context_length", 1);
        put_int(&b, "n_inner", "feed_forward_length", 0);
        put_float(&b, "layer_norm_epsilon", "attention.layer_norm_epsilon");
    } else {
        put_int(&b, "hidden_size", "embedding_length", 1);
        put_int(&b, "num_hidden_layers", "block_count", 1);
        put_int(&b, "num_attention_heads", "attention.head_count", 1);
        put_int(&b, "num_key_value_heads", "attention.head_count_kv", 0);
        put_int(&b, "max_position_embeddings", "context_length", 1);
        put_int(&b, "intermediate_size", "feed_forward_length", 1);
        put_float(&b, "rope_theta", "rope.freq_base");
        if (!strcmp(arch, "llama")) {
            put_float(&b, "rms_norm_eps", "attention.layer_norm_rms_epsilon");
            put_int(&b, "head_dim", "attention.key_length", 0);
        } else {
            put_float(&b, "layer_norm_eps", "attention.layer_norm_epsilon");
            put_rotary_factor(&b);
        }
    }
    if (b.status) {
        json_decref(b.cfg);
        return NULL;
    }
    return b.cfg;
}

/* bos/eos from the tokenizer metadata, which is where llama.cpp keeps them. */
static void special_tokens(slm_model *m, const slm_gguf *g) {
    uint32_t id;
    if (slm_gguf_find_key(g, "tokenizer.ggml.bos_token_id") >= 0 &&
        !slm_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &id, NULL) && id < (uint32_t)m->n_vocab)
        m->bos = (int32_t)id;
    if (slm_gguf_find_key(g, "tokenizer.ggml.eos_token_id") >= 0 &&
        !slm_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &id, NULL) && id < (uint32_t)m->n_vocab) {
        m->end_tokens[0] = (int32_t)id;
        m->n_end_tokens = 1;
    }
}

/* llama.cpp's bert.pooling_type (1 mean, 2 cls, 3 last token) for the embed task;
 * absent or 0 (none) leaves sentence-transformers' default, mean. */
static slm_status read_pooling(slm_model *m, const slm_gguf *g, slm_error *err) {
    if (slm_gguf_find_key(g, "bert.pooling_type") < 0) return SLM_OK;
    uint32_t kind;
    slm_status st = slm_gguf_get_u32(g, "bert.pooling_type", &kind, err);
    if (st) return st;
    if (kind > 3)
        return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: bert.pooling_type %u (slm knows 0 none, 1 mean, 2 cls, 3 last)",
                        slm_gguf_path(g), kind);
    m->gguf_pooling = (int)kind;
    return SLM_OK;
}

slm_status slm_gguf_model_load(slm_model *m, const char *path, slm_error *err) {
    m->gguf = slm_gguf_open(path, err);
    if (!m->gguf) return err ? err->status : SLM_ERR_FORMAT;
    const char *arch;
    size_t arch_len;
    slm_status st = slm_gguf_get_string(m->gguf, "general.architecture", &arch, &arch_len, err);
    if (st) return st;
    if (strcmp(arch, "gpt2") != 0 && strcmp(arch, "llama") != 0 && strcmp(arch, "phi2") != 0 &&
        strcmp(arch, "bert") != 0)
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "%s: unknown architecture \"%s\" (GGUF models slm runs: gpt2, llama, phi2, bert)", path, arch);
    m->weights = slm_gguf_weights(m->gguf, err);
    if (!m->weights) return err ? err->status : SLM_ERR_FORMAT;
    json_t *cfg = config_from_metadata(m->gguf, arch, m->weights, err);
    if (!cfg) return err ? err->status : SLM_ERR_FORMAT;
    slm_loader ld = {.model = m, .weights = m->weights, .source = path, .rename = gguf_name, .out_in_only = 1,
                     .err = err};
    if (!strcmp(arch, "gpt2")) {
        slm_gpt2_load(&ld, cfg);
    } else if (!strcmp(arch, "bert")) {
        slm_bert_load(&ld, cfg);
        if (!ld.status) ld.status = read_pooling(m, m->gguf, err);
    } else if (!strcmp(arch, "llama")) {
        slm_llama_load(&ld, cfg);
        m->rope.interleaved = 1; /* llama.cpp's converter permuted q/k to Meta's layout */
    } else {
        slm_phi_load(&ld, cfg);
    }
    json_decref(cfg);
    if (!ld.status) special_tokens(m, m->gguf);
    return ld.status;
}
