/* make_random_model.c — writes a Hugging Face folder (config.json +
 * model.safetensors, the real key layout) with seeded random weights, for
 * benchmarks that need a model of a real size without downloading one:
 * GPT-2 (GPT2LMHeadModel, tied embeddings) or Phi (PhiForCausalLM as
 * microsoft/phi-1_5: untied lm_head with bias). The tokenizer is not written;
 * copy the real one beside it if needed.
 * usage: make_random_model OUTDIR --shape gpt2-small|gpt2-tiny|phi-1_5|phi-tiny --dtype f32|f16|bf16 [--seed N]
 * Builds with: cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/make_random_model.c
 *   src/formats/safetensors_write.c src/core/tensor.c src/core/error.c -ljansson -lm */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "formats/safetensors_write.h"

typedef enum { FAMILY_GPT2, FAMILY_PHI } model_family;

typedef struct {
    const char *name;
    model_family family;
    int n_embd, n_layer, n_head, n_positions, vocab_size;
    int d_ff; /* the MLP's inner width; GPT-2's is 4 n_embd */
} model_shape;

/* The tiny shapes keep the real vocabulary so the real tokenizer works with
 * them; phi-1_5 is microsoft/phi-1_5's config (1.42B parameters). */
static const model_shape shapes[] = {
    {"gpt2-small", FAMILY_GPT2, 768, 12, 12, 1024, 50257, 3072},
    {"gpt2-tiny", FAMILY_GPT2, 64, 2, 4, 256, 50257, 256},
    {"phi-1_5", FAMILY_PHI, 2048, 24, 32, 2048, 51200, 8192},
    {"phi-tiny", FAMILY_PHI, 64, 2, 4, 2048, 51200, 256},
};

/* How a tensor's values are drawn. */
typedef enum { INIT_NORMAL, INIT_RESIDUAL, INIT_POSITION, INIT_NORM_SCALE } init_kind;

typedef struct {
    char name[64];
    init_kind init;
} tensor_plan;

typedef struct {
    const tensor_plan *plans;
    const slm_tensor_view *tensors;
    slm_dtype dtype;
    uint64_t seed;
    int n_layer;
    float *scratch; /* f32 values of the largest tensor */
} fill_state;

/* xorshift64* — small, seeded, and the same on every machine. */
static uint64_t next_u64(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in (0, 1): 53 random bits, never 0 so log() is safe. */
static double next_uniform(uint64_t *s) { return ((double)(next_u64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

/* Standard normal by Box-Muller (one of the pair is enough here). */
static double next_normal(uint64_t *s) {
    double u = next_uniform(s), v = next_uniform(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Each tensor has its own stream, so its values do not depend on the order it is written in. */
static slm_status fill_tensor(int index, void *buf, size_t nbytes, void *user_data, slm_error *err) {
    (void)err;
    fill_state *st = user_data;
    size_t n = nbytes / slm_dtype_size(st->dtype);
    uint64_t rng = st->seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(index + 1));
    if (!rng) rng = 1;
    for (int i = 0; i < 4; i++) next_u64(&rng); /* let nearby seeds diverge */
    /* GPT-2's init: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer). */
    double std = 0.02, mean = 0.0;
    switch (st->plans[index].init) {
    case INIT_NORMAL: break;
    case INIT_RESIDUAL: std = 0.02 / sqrt(2.0 * st->n_layer); break;
    case INIT_POSITION: std = 0.01; break;
    case INIT_NORM_SCALE: mean = 1.0; break;
    }
    float *v = st->scratch;
    for (size_t i = 0; i < n; i++) v[i] = (float)(mean + std * next_normal(&rng));
    uint16_t *half = buf;
    switch (st->dtype) {
    case SLM_DTYPE_F16:
        for (size_t i = 0; i < n; i++) half[i] = slm_f32_to_f16(v[i]);
        break;
    case SLM_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) half[i] = slm_f32_to_bf16(v[i]);
        break;
    default: memcpy(buf, v, n * sizeof *v); break;
    }
    return SLM_OK;
}

static int write_gpt2_config(const char *path, const model_shape *s, const char *dtype_word) {
    json_t *cfg = json_object();
    if (!cfg) return -1;
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("GPT2LMHeadModel"));
    json_object_set_new(cfg, "architectures", arch);
    json_object_set_new(cfg, "model_type", json_string("gpt2"));
    json_object_set_new(cfg, "n_embd", json_integer(s->n_embd));
    json_object_set_new(cfg, "n_layer", json_integer(s->n_layer));
    json_object_set_new(cfg, "n_head", json_integer(s->n_head));
    json_object_set_new(cfg, "n_positions", json_integer(s->n_positions));
    json_object_set_new(cfg, "n_ctx", json_integer(s->n_positions));
    json_object_set_new(cfg, "n_inner", json_null());
    json_object_set_new(cfg, "vocab_size", json_integer(s->vocab_size));
    json_object_set_new(cfg, "layer_norm_epsilon", json_real(1e-5));
    json_object_set_new(cfg, "activation_function", json_string("gelu_new"));
    json_object_set_new(cfg, "tie_word_embeddings", json_true());
    json_object_set_new(cfg, "scale_attn_weights", json_true());
    json_object_set_new(cfg, "use_cache", json_true());
    json_object_set_new(cfg, "bos_token_id", json_integer(50256));
    json_object_set_new(cfg, "eos_token_id", json_integer(50256));
    json_object_set_new(cfg, "initializer_range", json_real(0.02));
    json_object_set_new(cfg, "dtype", json_string(dtype_word));
    int rc = json_dump_file(cfg, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(cfg);
    return rc;
}

/* microsoft/phi-1_5's config.json with the shape's sizes (its nulls kept: no
 * bos/eos ids, no separate key/value head count, no rope scaling). */
static int write_phi_config(const char *path, const model_shape *s, const char *dtype_word) {
    json_t *cfg = json_object();
    if (!cfg) return -1;
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("PhiForCausalLM"));
    json_object_set_new(cfg, "architectures", arch);
    json_object_set_new(cfg, "model_type", json_string("phi"));
    json_object_set_new(cfg, "hidden_size", json_integer(s->n_embd));
    json_object_set_new(cfg, "intermediate_size", json_integer(s->d_ff));
    json_object_set_new(cfg, "num_hidden_layers", json_integer(s->n_layer));
    json_object_set_new(cfg, "num_attention_heads", json_integer(s->n_head));
    json_object_set_new(cfg, "num_key_value_heads", json_null());
    json_object_set_new(cfg, "max_position_embeddings", json_integer(s->n_positions));
    json_object_set_new(cfg, "vocab_size", json_integer(s->vocab_size));
    json_object_set_new(cfg, "hidden_act", json_string("gelu_new"));
    json_object_set_new(cfg, "layer_norm_eps", json_real(1e-5));
    json_object_set_new(cfg, "partial_rotary_factor", json_real(0.5));
    json_object_set_new(cfg, "rope_theta", json_real(10000.0));
    json_object_set_new(cfg, "rope_scaling", json_null());
    json_object_set_new(cfg, "qk_layernorm", json_false());
    json_object_set_new(cfg, "tie_word_embeddings", json_false());
    json_object_set_new(cfg, "bos_token_id", json_null());
    json_object_set_new(cfg, "eos_token_id", json_null());
    json_object_set_new(cfg, "initializer_range", json_real(0.02));
    json_object_set_new(cfg, "use_cache", json_true());
    json_object_set_new(cfg, "torch_dtype", json_string(dtype_word));
    int rc = json_dump_file(cfg, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(cfg);
    return rc;
}

typedef struct {
    tensor_plan *plans;
    slm_tensor_view *tensors;
    slm_dtype dtype;
    int count;
} planner;

/* Appends a tensor of shape (d0) or (d0, d1) named printf(fmt, layer). */
static void plan(planner *p, init_kind init, int64_t d0, int64_t d1, const char *fmt, ...) SLM_PRINTF(5, 6);
static void plan(planner *p, init_kind init, int64_t d0, int64_t d1, const char *fmt, ...) {
    tensor_plan *tp = &p->plans[p->count];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tp->name, sizeof tp->name, fmt, ap);
    va_end(ap);
    tp->init = init;
    slm_tensor_view *t = &p->tensors[p->count++];
    *t = (slm_tensor_view){.name = tp->name, .dtype = p->dtype, .ndim = d1 ? 2 : 1};
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->nbytes = (size_t)(d0 * (d1 ? d1 : 1)) * slm_dtype_size(p->dtype);
}

/* GPT-2's tensors in its state-dict order; shapes as Hugging Face stores them (Conv1D: (in, out)). */
static void plan_gpt2(planner *t, const model_shape *s) {
    int64_t C = s->n_embd, F = s->d_ff;
    plan(t, INIT_NORMAL, s->vocab_size, C, "transformer.wte.weight");
    plan(t, INIT_POSITION, s->n_positions, C, "transformer.wpe.weight");
    for (int l = 0; l < s->n_layer; l++) {
        plan(t, INIT_NORM_SCALE, C, 0, "transformer.h.%d.ln_1.weight", l);
        plan(t, INIT_NORMAL, C, 0, "transformer.h.%d.ln_1.bias", l);
        plan(t, INIT_NORMAL, C, 3 * C, "transformer.h.%d.attn.c_attn.weight", l);
        plan(t, INIT_NORMAL, 3 * C, 0, "transformer.h.%d.attn.c_attn.bias", l);
        plan(t, INIT_RESIDUAL, C, C, "transformer.h.%d.attn.c_proj.weight", l);
        plan(t, INIT_NORMAL, C, 0, "transformer.h.%d.attn.c_proj.bias", l);
        plan(t, INIT_NORM_SCALE, C, 0, "transformer.h.%d.ln_2.weight", l);
        plan(t, INIT_NORMAL, C, 0, "transformer.h.%d.ln_2.bias", l);
        plan(t, INIT_NORMAL, C, F, "transformer.h.%d.mlp.c_fc.weight", l);
        plan(t, INIT_NORMAL, F, 0, "transformer.h.%d.mlp.c_fc.bias", l);
        plan(t, INIT_RESIDUAL, F, C, "transformer.h.%d.mlp.c_proj.weight", l);
        plan(t, INIT_NORMAL, C, 0, "transformer.h.%d.mlp.c_proj.bias", l);
    }
    plan(t, INIT_NORM_SCALE, C, 0, "transformer.ln_f.weight");
    plan(t, INIT_NORMAL, C, 0, "transformer.ln_f.bias");
}

/* Phi's tensors in its state-dict order; nn.Linear stores (out, in). Phi
 * initialises every linear layer with N(0, 0.02) and no residual scaling. */
static void plan_phi(planner *t, const model_shape *s) {
    int64_t C = s->n_embd, F = s->d_ff;
    plan(t, INIT_NORMAL, s->vocab_size, C, "model.embed_tokens.weight");
    for (int l = 0; l < s->n_layer; l++) {
        plan(t, INIT_NORM_SCALE, C, 0, "model.layers.%d.input_layernorm.weight", l);
        plan(t, INIT_NORMAL, C, 0, "model.layers.%d.input_layernorm.bias", l);
        static const char *const projections[] = {"q_proj", "k_proj", "v_proj", "dense"};
        for (int p = 0; p < 4; p++) {
            plan(t, INIT_NORMAL, C, C, "model.layers.%d.self_attn.%s.weight", l, projections[p]);
            plan(t, INIT_NORMAL, C, 0, "model.layers.%d.self_attn.%s.bias", l, projections[p]);
        }
        plan(t, INIT_NORMAL, F, C, "model.layers.%d.mlp.fc1.weight", l);
        plan(t, INIT_NORMAL, F, 0, "model.layers.%d.mlp.fc1.bias", l);
        plan(t, INIT_NORMAL, C, F, "model.layers.%d.mlp.fc2.weight", l);
        plan(t, INIT_NORMAL, C, 0, "model.layers.%d.mlp.fc2.bias", l);
    }
    plan(t, INIT_NORM_SCALE, C, 0, "model.final_layernorm.weight");
    plan(t, INIT_NORMAL, C, 0, "model.final_layernorm.bias");
    plan(t, INIT_NORMAL, s->vocab_size, C, "lm_head.weight");
    plan(t, INIT_NORMAL, s->vocab_size, 0, "lm_head.bias");
}

static void usage(void) {
    fprintf(stderr, "usage: make_random_model OUTDIR --shape gpt2-small|gpt2-tiny|phi-1_5|phi-tiny --dtype f32|f16|bf16 "
                    "[--seed N]\n");
}

int main(int argc, char **argv) {
    const char *out = NULL, *shape_name = NULL, *dtype_name = NULL;
    uint64_t seed = 1234;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--shape") && i + 1 < argc) shape_name = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc) dtype_name = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || end == argv[i]) {
                fprintf(stderr, "make_random_model: --seed wants a non-negative integer, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] != '-' && !out) out = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if (!out || !shape_name || !dtype_name) {
        usage();
        return 2;
    }
    const model_shape *s = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shape_name, shapes[i].name)) s = &shapes[i];
    static const struct {
        const char *flag, *config_word;
        slm_dtype dtype;
    } dtypes[] = {{"f32", "float32", SLM_DTYPE_F32}, {"f16", "float16", SLM_DTYPE_F16}, {"bf16", "bfloat16", SLM_DTYPE_BF16}};
    int d = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(dtype_name, dtypes[i].flag)) d = i;
    if (!s || d < 0) {
        usage();
        return 2;
    }
    slm_dtype dtype = dtypes[d].dtype;
    const char *dtype_word = dtypes[d].config_word;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_random_model: %s: cannot create: %s\n", out, strerror(errno));
        return 1;
    }

    int n = s->family == FAMILY_GPT2 ? 2 + 12 * s->n_layer + 2 : 1 + 14 * s->n_layer + 4;
    tensor_plan *plans = calloc((size_t)n, sizeof *plans);
    slm_tensor_view *tensors = calloc((size_t)n, sizeof *tensors);
    if (!plans || !tensors) {
        fprintf(stderr, "make_random_model: out of memory\n");
        return 1;
    }
    planner t = {plans, tensors, dtype, 0};
    if (s->family == FAMILY_GPT2) plan_gpt2(&t, s);
    else plan_phi(&t, s);

    int64_t n_params = 0, largest = 0;
    for (int i = 0; i < n; i++) {
        int64_t numel = slm_tensor_numel(&tensors[i]);
        n_params += numel;
        if (numel > largest) largest = numel;
    }
    fill_state state = {plans, tensors, dtype, seed, s->n_layer, malloc((size_t)largest * sizeof(float))};
    int rc = 0;
    char path[4096];
    slm_error err = {0};
    const char *metadata[] = {"format", "pt", NULL};
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if (!state.scratch) {
        fprintf(stderr, "make_random_model: out of memory\n");
        rc = 1;
    } else if (slm_safetensors_write_with(path, tensors, n, metadata, fill_tensor, &state, &err) != SLM_OK) {
        fprintf(stderr, "make_random_model: %s\n", err.message);
        rc = 1;
    }
    snprintf(path, sizeof path, "%s/config.json", out);
    int (*write_config)(const char *, const model_shape *, const char *) =
        s->family == FAMILY_GPT2 ? write_gpt2_config : write_phi_config;
    if (!rc && write_config(path, s, dtype_word) != 0) {
        fprintf(stderr, "make_random_model: %s: cannot write\n", path);
        rc = 1;
    }
    if (!rc)
        printf("%s: %s %s, %lld parameters, %d tensors, seed %llu\n", out, s->name, dtype_name, (long long)n_params, n,
               (unsigned long long)seed);
    free(state.scratch);
    free(plans);
    free(tensors);
    return rc;
}
