/* make_ggml_reference.c — writes this folder's reference data with ggml itself:
 * the bytes ggml's reference quantizers (quantize_row_{q4_0,q8_0,q4_K,q6_K}_ref,
 * what llama-quantize runs without an importance matrix) produce for the inputs of
 * reference_input(), and ggml's dequantization (dequantize_row_q4_K / q6_K) of
 * pseudo-random k-quant blocks. It loads libggml-base.so at run time; nothing of
 * ggml is compiled into slm.
 *
 *   cc -O2 -o /tmp/make_ggml_reference tests/data/quant/make_ggml_reference.c -ldl
 *   /tmp/make_ggml_reference path/to/libggml-base.so tests/data/quant
 *
 * reference_input() and random_blocks() must stay identical to the copies in
 * tests/test_quant.c, which regenerates the inputs instead of storing them. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_SUPER = 12, N = 256 * N_SUPER, N_RANDOM = 2 };

static float uniform(uint64_t *s) { /* in [-1, 1) */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((*s >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float bell(uint64_t *s) { return (uniform(s) + uniform(s) + uniform(s)) * 0.6f; }

/* 12 super-blocks of 256: typical weights, small weights, all positive, all negative,
 * outliers, zeros, a constant, tiny values (f16-subnormal scales), sub-blocks of very
 * different magnitudes, mostly zeros, uniform, large. */
static void reference_input(float *x) {
    static const float sub_scale[8] = {1e-3f, 1e-2f, 0.1f, 1.0f, 10.0f, 0.5f, 0.05f, 5.0f};
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (int b = 0; b < N_SUPER; b++) {
        float *xb = x + 256 * b;
        for (int i = 0; i < 256; i++) {
            float v = bell(&s);
            switch (b) {
            case 0: xb[i] = v; break;
            case 1: xb[i] = 0.02f * v; break;
            case 2: xb[i] = 0.5f + 0.25f * (uniform(&s) + 1.0f); break;
            case 3: xb[i] = -0.5f - 0.25f * (uniform(&s) + 1.0f); break;
            case 4: xb[i] = i == 37 ? 40.0f : i == 200 ? -25.0f : v; break;
            case 5: xb[i] = 0.0f; break;
            case 6: xb[i] = 0.3f; break;
            case 7: xb[i] = 1e-6f * v; break;
            case 8: xb[i] = sub_scale[i / 32] * v; break;
            case 9: xb[i] = i % 7 == 0 ? v : 0.0f; break;
            case 10: xb[i] = 3.0f * uniform(&s); break;
            default: xb[i] = 1000.0f * v; break;
            }
        }
    }
}

/* n blocks of block_bytes pseudo-random bytes, with the f16 scale fields (at d_offset,
 * and dmin_offset if >= 0) set to ordinary values. */
static void random_blocks(uint8_t *out, int n, int block_bytes, int d_offset, int dmin_offset) {
    static const uint16_t d_bits[2] = {0x3C00, 0x2E66}, dmin_bits[2] = {0x3800, 0x2A3B}; /* 1, ~0.1, 0.5, ~0.05 */
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n * block_bytes; i++) out[i] = (uint8_t)((uniform(&s) + 1.0f) * 128.0f);
    for (int b = 0; b < n; b++) {
        memcpy(out + b * block_bytes + d_offset, &d_bits[b % 2], 2);
        if (dmin_offset >= 0) memcpy(out + b * block_bytes + dmin_offset, &dmin_bits[b % 2], 2);
    }
}

typedef void (*quantize_fn)(const float *, void *, int64_t);
typedef void (*dequantize_fn)(const void *, float *, int64_t);

static int write_file(const char *dir, const char *name, const void *data, size_t bytes) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f)) return fprintf(stderr, "cannot write %s\n", path), 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: %s libggml-base.so OUT_DIR\n", argv[0]), 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) return fprintf(stderr, "%s\n", dlerror()), 1;
    static const struct {
        const char *quantize, *dequantize, *file;
        int block_elems, block_bytes, d_offset, dmin_offset;
    } types[] = {
        {"quantize_row_q4_0_ref", NULL, "q4_0.ggml", 32, 18, 0, -1},
        {"quantize_row_q8_0_ref", NULL, "q8_0.ggml", 32, 34, 0, -1},
        {"quantize_row_q4_K_ref", "dequantize_row_q4_K", "q4_K.ggml", 256, 144, 0, 2},
        {"quantize_row_q6_K_ref", "dequantize_row_q6_K", "q6_K.ggml", 256, 210, 208, -1},
    };
    float *x = malloc(N * sizeof *x), out[N_RANDOM * 256];
    uint8_t *q = malloc(N / 32 * 34);
    reference_input(x);
    int rc = 0;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        quantize_fn quantize = (quantize_fn)dlsym(lib, types[t].quantize);
        if (!quantize) return fprintf(stderr, "no %s\n", types[t].quantize), 1;
        quantize(x, q, N);
        rc |= write_file(argv[2], types[t].file, q, (size_t)N / types[t].block_elems * types[t].block_bytes);
        if (!types[t].dequantize) continue;
        dequantize_fn dequantize = (dequantize_fn)dlsym(lib, types[t].dequantize);
        if (!dequantize) return fprintf(stderr, "no %s\n", types[t].dequantize), 1;
        random_blocks(q, N_RANDOM, types[t].block_bytes, types[t].d_offset, types[t].dmin_offset);
        dequantize(q, out, N_RANDOM * 256);
        char name[64];
        snprintf(name, sizeof name, "%.4s_random.blocks", types[t].file);
        rc |= write_file(argv[2], name, q, (size_t)N_RANDOM * types[t].block_bytes);
        snprintf(name, sizeof name, "%.4s_random.f32", types[t].file);
        rc |= write_file(argv[2], name, out, sizeof out);
    }
    free(x);
    free(q);
    return rc;
}
