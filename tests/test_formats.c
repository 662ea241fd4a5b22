/* test_formats.c — checkpoint readers and the safetensors writer: the gpt2_tiny
 * fixtures in f32 / f16 / bf16, a sharded checkpoint and malformed files
 * written at test time (in a mkdtemp folder, removed at the end), and llama2.c
 * checkpoints (stories260K, plus small legacy / version 1 files whose every
 * float holds its own index, so a view's contents say where it was sliced). */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "formats/safetensors_write.h"
#include "formats/weights.h"

static char tmp_dir[64];

static const char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return;
    }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

/* A safetensors file with this exact header text (no padding) and data_len data bytes valued i % 251. */
static void write_raw_safetensors(const char *path, const char *header, size_t data_len) {
    size_t n = strlen(header);
    uint8_t *buf = malloc(8 + n + data_len);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, n);
    for (size_t i = 0; i < data_len; i++) buf[8 + n + i] = (uint8_t)(i % 251);
    write_bytes(path, buf, 8 + n + data_len);
    free(buf);
}

/* Expects open to fail with status; the message must name the file and contain want. */
static void expect_safetensors_error(const char *label, const char *path, slm_status status, const char *want) {
    slm_error err = {0};
    slm_weights *w = slm_safetensors_open(path, &err);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    CHECK(w == NULL, "%s: open should fail", label);
    CHECK(err.status == status, "%s: status %s, want %s (%s)", label, slm_status_name(err.status),
          slm_status_name(status), err.message);
    CHECK(strstr(err.message, base) != NULL, "%s: message names the file: %s", label, err.message);
    CHECK(want == NULL || strstr(err.message, want) != NULL, "%s: message has \"%s\": %s", label, want, err.message);
    if (getenv("SLM_TEST_VERBOSE")) printf("  %-28s %s\n", label, err.message);
    slm_weights_free(w);
}

static void expect_llama2c_error(const char *label, const char *path, slm_status status, const char *want) {
    slm_error err = {0};
    slm_llama2c_config cfg;
    slm_weights *w = slm_llama2c_open(path, &cfg, &err);
    CHECK(w == NULL, "%s: open should fail", label);
    CHECK(err.status == status, "%s: status %s, want %s (%s)", label, slm_status_name(err.status),
          slm_status_name(status), err.message);
    CHECK(strstr(err.message, path) != NULL, "%s: message names the file: %s", label, err.message);
    CHECK(want == NULL || strstr(err.message, want) != NULL, "%s: message has \"%s\": %s", label, want, err.message);
    if (getenv("SLM_TEST_VERBOSE")) printf("  %-28s %s\n", label, err.message);
    slm_weights_free(w);
}

static int shape_is(const slm_tensor_view *t, int ndim, int64_t d0, int64_t d1) {
    if (!t || t->ndim != ndim) return 0;
    if (ndim >= 1 && t->shape[0] != d0) return 0;
    if (ndim >= 2 && t->shape[1] != d1) return 0;
    return 1;
}

static int inside_mapping(const slm_weights *w, const slm_tensor_view *t) {
    const slm_mapped_file *f = slm_weights_file(w, slm_weights_file_of(w, t));
    return f && (const uint8_t *)t->data >= f->data && (const uint8_t *)t->data + t->nbytes <= f->data + f->size;
}

/* ---- the gpt2_tiny fixtures ---------------------------------------------------------- */

/* Every element of the half-precision tensor against the f32 one: within one rounding
 * step of the format (2^-11 relative for f16, 2^-8 for bf16), plus f16's subnormal step. */
static void compare_to_f32(const char *variant, const slm_weights *half, const slm_weights *full, const char *name,
                           double rel) {
    const slm_tensor_view *h = slm_weights_find(half, name), *f = slm_weights_find(full, name);
    CHECK(h && f, "%s: %s present in both", variant, name);
    if (!h || !f) return;
    size_t n = (size_t)slm_tensor_numel(f);
    CHECK((size_t)slm_tensor_numel(h) == n, "%s: %s same element count", variant, name);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    slm_convert_to_f32(h->dtype, h->data, a, n);
    slm_convert_to_f32(f->dtype, f->data, b, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > rel * fabs((double)b[i]) + 6e-8) bad++;
    CHECK(bad == 0, "%s: %s: %zu of %zu values differ from f32 beyond half precision", variant, name, bad, n);
    free(a);
    free(b);
}

static void test_fixtures(void) {
    char path[512];
    slm_error err = {0};
    slm_weights *f32 = slm_safetensors_open(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"), &err);
    CHECK(f32 != NULL, "gpt2_tiny/lm opens: %s", err.message);
    if (!f32) return;
    CHECK(slm_weights_count(f32) == 28, "gpt2_tiny/lm has 28 tensors, got %d", slm_weights_count(f32));
    const slm_tensor_view *wte = slm_weights_find(f32, "transformer.wte.weight");
    CHECK(shape_is(wte, 2, 1000, 64) && wte->dtype == SLM_DTYPE_F32, "wte is f32 [1000, 64]");
    const slm_tensor_view *c_attn = slm_weights_find(f32, "transformer.h.1.attn.c_attn.weight");
    CHECK(shape_is(c_attn, 2, 64, 192), "c_attn.weight is [64, 192]");
    CHECK(shape_is(slm_weights_find(f32, "transformer.h.0.mlp.c_fc.bias"), 1, 256, 0), "c_fc.bias is [256]");
    CHECK(shape_is(slm_weights_find(f32, "transformer.wpe.weight"), 2, 64, 64), "wpe is [64, 64]");
    CHECK(slm_weights_find(f32, "lm_head.weight") == NULL, "tied: no lm_head.weight");
    CHECK(slm_weights_find(f32, "__metadata__") == NULL, "__metadata__ is not a tensor");
    CHECK(slm_weights_find(f32, "transformer.wte") == NULL, "a prefix does not match");
    /* The data section of 675400 bytes minus the 8 + 2624 header bytes holds every tensor. */
    CHECK(slm_weights_bytes(f32) == 675400 - 8 - 2624, "f32 bytes %zu", slm_weights_bytes(f32));
    CHECK(slm_weights_alignment(f32) >= 8, "views at least 8-byte aligned, got %zu", slm_weights_alignment(f32));
    size_t outside = 0, sum = 0;
    for (int i = 0; i < slm_weights_count(f32); i++) {
        const slm_tensor_view *t = slm_weights_at(f32, i);
        outside += !inside_mapping(f32, t);
        sum += t->nbytes;
        CHECK(slm_weights_find(f32, t->name) == t, "find(at(%d)) is the same view", i);
    }
    CHECK(outside == 0, "every view points into the mapping (none copied)");
    CHECK(sum == slm_weights_bytes(f32), "bytes is the sum of the views");
    CHECK(slm_weights_at(f32, -1) == NULL && slm_weights_at(f32, 28) == NULL, "at() out of range is NULL");

    /* The file itself opens the same as its folder. */
    slm_weights *direct = slm_safetensors_open(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm/model.safetensors"), &err);
    CHECK(direct && slm_weights_count(direct) == 28, "model.safetensors opens directly: %s", err.message);
    slm_weights_free(direct);

    static const struct {
        const char *dir;
        slm_dtype dtype;
        double rel;
    } variants[] = {{"fixtures/gpt2_tiny/lm_fp16", SLM_DTYPE_F16, 1.0 / 2048},
                    {"fixtures/gpt2_tiny/lm_bf16", SLM_DTYPE_BF16, 1.0 / 256}};
    for (int v = 0; v < 2; v++) {
        slm_weights *half = slm_safetensors_open(test_path(path, sizeof path, variants[v].dir), &err);
        CHECK(half != NULL, "%s opens: %s", variants[v].dir, err.message);
        if (!half) continue;
        CHECK(slm_weights_count(half) == 28, "%s: 28 tensors", variants[v].dir);
        int same_dtype = 1, same_shape = 1;
        for (int i = 0; i < slm_weights_count(half); i++) {
            const slm_tensor_view *t = slm_weights_at(half, i), *f = slm_weights_find(f32, t->name);
            same_dtype &= t->dtype == variants[v].dtype;
            same_shape &= f && f->ndim == t->ndim && !memcmp(f->shape, t->shape, sizeof t->shape);
        }
        CHECK(same_dtype, "%s: every tensor is %s", variants[v].dir, slm_dtype_name(variants[v].dtype));
        CHECK(same_shape, "%s: shapes equal the f32 file's", variants[v].dir);
        CHECK(slm_weights_bytes(half) * 2 == slm_weights_bytes(f32), "%s: half the bytes", variants[v].dir);
        compare_to_f32(variants[v].dir, half, f32, "transformer.wte.weight", variants[v].rel);
        compare_to_f32(variants[v].dir, half, f32, "transformer.h.1.attn.c_attn.weight", variants[v].rel);
        compare_to_f32(variants[v].dir, half, f32, "transformer.ln_f.bias", variants[v].rel);
        slm_weights_free(half);
    }
    slm_weights_free(f32);
}

/* ---- the writer ------------------------------------------------------------------------ */

static slm_tensor_view view(const char *name, slm_dtype dtype, const void *data, int ndim, int64_t d0, int64_t d1) {
    slm_tensor_view t = {.name = name, .dtype = dtype, .ndim = ndim, .data = data};
    t.shape[0] = d0;
    t.shape[1] = d1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= t.shape[i];
    t.nbytes = (size_t)n * slm_dtype_size(dtype);
    return t;
}

static slm_status fill_counting(int index, void *buf, size_t nbytes, void *user_data, slm_error *err) {
    (void)err;
    (*(int *)user_data)++;
    for (size_t i = 0; i < nbytes; i++) ((uint8_t *)buf)[i] = (uint8_t)(index * 16 + i);
    return SLM_OK;
}

static void test_writer(void) {
    char path[512];
    float a[6] = {1, 2, 3, 4, 5, -6};
    uint16_t h[3] = {slm_f32_to_f16(0.5f), slm_f32_to_f16(-2.0f), slm_f32_to_f16(65504.0f)};
    int64_t ids[2] = {7, -9};
    uint8_t flags[3] = {1, 0, 1};
    float scalar = 3.25f;
    slm_tensor_view tensors[] = {
        view("b.half", SLM_DTYPE_F16, h, 1, 3, 0),   view("a.matrix", SLM_DTYPE_F32, a, 2, 2, 3),
        view("c.flags", SLM_DTYPE_BOOL, flags, 1, 3, 0), view("d.ids", SLM_DTYPE_I64, ids, 1, 2, 0),
        view("e.scalar", SLM_DTYPE_F32, &scalar, 0, 0, 0), view("f.empty", SLM_DTYPE_F32, NULL, 2, 0, 5),
    };
    const char *metadata[] = {"format", "pt", "note", "written by test_formats", NULL};
    slm_error err = {0};
    tmp_path(path, sizeof path, "written.safetensors");
    slm_status st = slm_safetensors_write(path, tensors, 6, metadata, &err);
    CHECK(st == SLM_OK, "writer: %s", err.message);
    slm_weights *w = slm_safetensors_open(path, &err);
    CHECK(w != NULL, "written file opens: %s", err.message);
    if (w) {
        CHECK(slm_weights_count(w) == 6, "6 tensors back");
        int same = 1;
        for (int i = 0; i < 6; i++) {
            const slm_tensor_view *t = slm_weights_find(w, tensors[i].name);
            same &= t && t->dtype == tensors[i].dtype && t->ndim == tensors[i].ndim && t->nbytes == tensors[i].nbytes &&
                    !memcmp(t->shape, tensors[i].shape, (size_t)t->ndim * sizeof t->shape[0]) &&
                    (t->nbytes == 0 || !memcmp(t->data, tensors[i].data, t->nbytes));
            /* The reference layout aligns every tensor to its element size within the file. */
            const slm_mapped_file *f = slm_weights_file(w, 0);
            if (t && t->nbytes) same &= ((const uint8_t *)t->data - f->data) % slm_dtype_size(t->dtype) == 0;
        }
        CHECK(same, "dtypes, shapes, bytes and element alignment survive the round trip");
        const slm_mapped_file *f = slm_weights_file(w, 0);
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | f->data[i];
        CHECK(n % 8 == 0 && f->data[8 + n - 1] == ' ', "header padded with spaces to a multiple of 8 (%llu)",
              (unsigned long long)n);
        static const char meta_first[] = "{\"__metadata__\":{\"format\":\"pt\",\"note\":";
        CHECK(!memcmp(f->data + 8, meta_first, sizeof meta_first - 1), "metadata written first");
        /* i64 (8 bytes) is laid out before f32, f32 before f16, f16 before bool. */
        const uint8_t *p_ids = slm_weights_find(w, "d.ids")->data, *p_a = slm_weights_find(w, "a.matrix")->data;
        const uint8_t *p_h = slm_weights_find(w, "b.half")->data, *p_b = slm_weights_find(w, "c.flags")->data;
        CHECK(p_ids < p_a && p_a < p_h && p_h < p_b, "larger elements first");
        CHECK(slm_weights_find(w, "e.scalar")->ndim == 0 && *(const float *)slm_weights_find(w, "e.scalar")->data == 3.25f,
              "a 0-d tensor round-trips");
        slm_weights_free(w);
    }

    /* Streaming through a fill callback. */
    int calls = 0;
    st = slm_safetensors_write_with(tmp_path(path, sizeof path, "filled.safetensors"), tensors, 6, NULL, fill_counting,
                                    &calls, &err);
    CHECK(st == SLM_OK && calls == 6, "write_with calls fill once per tensor: %d (%s)", calls, err.message);
    w = slm_safetensors_open(path, &err);
    const slm_tensor_view *t = w ? slm_weights_find(w, "d.ids") : NULL;
    CHECK(t && ((const uint8_t *)t->data)[5] == 3 * 16 + 5, "fill's bytes are what was written");
    slm_weights_free(w);

    /* Errors. */
    slm_tensor_view bad = view("bad", SLM_DTYPE_F32, a, 1, 6, 0);
    bad.nbytes = 20;
    st = slm_safetensors_write(tmp_path(path, sizeof path, "bad.safetensors"), &bad, 1, NULL, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "bad"), "nbytes not numel x size: %s", err.message);
    CHECK(access(path, F_OK) != 0, "nothing written on a rejected tensor");
    slm_tensor_view twice[2] = {view("x", SLM_DTYPE_F32, a, 1, 2, 0), view("x", SLM_DTYPE_F32, a, 1, 3, 0)};
    st = slm_safetensors_write(path, twice, 2, NULL, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "twice"), "duplicate name: %s", err.message);
    slm_tensor_view reserved = view("__metadata__", SLM_DTYPE_F32, a, 1, 2, 0);
    st = slm_safetensors_write(path, &reserved, 1, NULL, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "__metadata__ is reserved: %s", err.message);
    st = slm_safetensors_write(tmp_path(path, sizeof path, "no/such/folder/x.safetensors"), tensors, 1, NULL, &err);
    CHECK(st == SLM_ERR_IO && strstr(err.message, "no/such/folder"), "unwritable path is an i/o error: %s", err.message);
    if (access("/dev/full", W_OK) == 0) {
        st = slm_safetensors_write("/dev/full", tensors, 6, NULL, &err);
        CHECK(st == SLM_ERR_IO, "a full device is an i/o error: %s", err.message);
    }
}

/* ---- sharded checkpoints ------------------------------------------------------------- */

static void test_sharded(void) {
    char path[512], dir[256];
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[3] = {7, 8, 9};
    slm_tensor_view shard1[2] = {view("model.a", SLM_DTYPE_F32, a, 2, 2, 2), view("model.b", SLM_DTYPE_F32, b, 1, 2, 0)};
    slm_tensor_view shard2[1] = {view("model.c", SLM_DTYPE_F32, c, 1, 3, 0)};
    slm_error err = {0};
    snprintf(dir, sizeof dir, "%s/sharded", tmp_dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    CHECK(slm_safetensors_write(path, shard1, 2, NULL, &err) == SLM_OK, "shard 1: %s", err.message);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    CHECK(slm_safetensors_write(path, shard2, 1, NULL, &err) == SLM_OK, "shard 2: %s", err.message);
    static const char index[] =
        "{\"metadata\": {\"total_size\": 36}, \"weight_map\": {"
        "\"model.a\": \"model-00001-of-00002.safetensors\", \"model.c\": \"model-00002-of-00002.safetensors\", "
        "\"model.b\": \"model-00001-of-00002.safetensors\"}}";
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_bytes(path, index, strlen(index));

    const char *how[2] = {path, dir};
    for (int k = 0; k < 2; k++) {
        slm_weights *w = slm_safetensors_open(how[k], &err);
        CHECK(w != NULL, "sharded opens from %s: %s", k ? "its folder" : "index.json", err.message);
        if (!w) continue;
        CHECK(slm_weights_count(w) == 3, "3 tensors across 2 shards");
        const slm_tensor_view *ta = slm_weights_find(w, "model.a"), *tc = slm_weights_find(w, "model.c");
        CHECK(ta && tc && ((const float *)tc->data)[2] == 9.0f && ((const float *)ta->data)[3] == 4.0f,
              "values from both shards");
        CHECK(ta && tc && slm_weights_file_of(w, ta) != slm_weights_file_of(w, tc), "tensors keep their shard");
        CHECK(slm_weights_bytes(w) == 36, "36 bytes in all");
        slm_weights_free(w);
    }

    /* A folder holding both prefers model.safetensors. */
    char both[512];
    snprintf(both, sizeof both, "%s/model.safetensors", dir);
    CHECK(slm_safetensors_write(both, shard2, 1, NULL, &err) == SLM_OK, "single file beside the index");
    slm_weights *w = slm_safetensors_open(dir, &err);
    CHECK(w && slm_weights_count(w) == 1, "folder prefers model.safetensors over the index");
    slm_weights_free(w);
    remove(both);

    /* Malformed indexes. Each rewrites the index and restores nothing else. */
    static const struct {
        const char *label, *text, *want;
        slm_status status;
    } cases[] = {
        {"missing shard",
         "{\"weight_map\": {\"model.a\": \"model-00001-of-00002.safetensors\", \"model.z\": \"model-00003-of-00003.safetensors\"}}",
         "model-00003-of-00003.safetensors", SLM_ERR_IO},
        {"tensor the shard lacks",
         "{\"weight_map\": {\"model.a\": \"model-00001-of-00002.safetensors\", \"model.q\": \"model-00002-of-00002.safetensors\"}}",
         "model.q", SLM_ERR_FORMAT},
        {"tensor in another shard",
         "{\"weight_map\": {\"model.a\": \"model-00002-of-00002.safetensors\", \"model.c\": \"model-00002-of-00002.safetensors\","
         " \"model.b\": \"model-00001-of-00002.safetensors\"}}",
         "model.a", SLM_ERR_FORMAT},
        {"index not JSON", "{\"weight_map\": {", "JSON", SLM_ERR_FORMAT},
        {"index without weight_map", "{\"metadata\": {}}", "weight_map", SLM_ERR_FORMAT},
        {"empty weight_map", "{\"weight_map\": {}}", "weight_map", SLM_ERR_FORMAT},
        {"shard not a string", "{\"weight_map\": {\"model.a\": 3}}", "model.a", SLM_ERR_FORMAT},
        {"shard outside folder", "{\"weight_map\": {\"model.a\": \"../../etc/passwd\"}}", "../../etc/passwd", SLM_ERR_FORMAT},
        {"absolute shard path", "{\"weight_map\": {\"model.a\": \"/etc/passwd\"}}", "/etc/passwd", SLM_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_bytes(path, cases[i].text, strlen(cases[i].text));
        expect_safetensors_error(cases[i].label, path, cases[i].status, cases[i].want);
    }

    /* The same tensor in two shards. */
    snprintf(both, sizeof both, "%s/model-00003-of-00003.safetensors", dir);
    CHECK(slm_safetensors_write(both, shard1, 1, NULL, &err) == SLM_OK, "third shard repeating model.a");
    static const char dup[] =
        "{\"weight_map\": {\"model.a\": \"model-00001-of-00002.safetensors\", \"model.x\": \"model-00003-of-00003.safetensors\"}}";
    write_bytes(path, dup, strlen(dup));
    expect_safetensors_error("tensor in two shards", path, SLM_ERR_FORMAT, "appears twice");

    /* A bad shard: its own error, prefixed by the index. */
    snprintf(both, sizeof both, "%s/model-00002-of-00002.safetensors", dir);
    write_raw_safetensors(both, "{\"model.c\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", 4);
    write_bytes(path, index, strlen(index));
    expect_safetensors_error("bad shard", path, SLM_ERR_FORMAT, "model-00002-of-00002.safetensors: tensor model.c");

    /* A folder with neither file. */
    snprintf(path, sizeof path, "%s/empty_folder", tmp_dir);
    mkdir(path, 0700);
    expect_safetensors_error("folder with no checkpoint", path, SLM_ERR_IO, "neither model.safetensors");
}

/* ---- malformed safetensors files --------------------------------------------------------- */

static void test_bad_safetensors(void) {
    char path[512];
    slm_error err = {0};
    float a[6] = {1, 2, 3, 4, 5, 6};
    slm_tensor_view good[2] = {view("h.0.w", SLM_DTYPE_F32, a, 2, 2, 2), view("h.0.b", SLM_DTYPE_F32, a + 4, 1, 2, 0)};
    tmp_path(path, sizeof path, "good.safetensors");
    CHECK(slm_safetensors_write(path, good, 2, NULL, &err) == SLM_OK, "good file: %s", err.message);
    FILE *f = fopen(path, "rb");
    uint8_t bytes[4096];
    size_t size = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    size_t header_len = bytes[0] | (size_t)bytes[1] << 8;
    CHECK(size == 8 + header_len + 24, "good file is %zu bytes", size);

    /* Truncated at chosen points, then at every point. */
    static const struct {
        const char *label;
        int cut;
        const char *want;
    } cuts[] = {{"cut inside the length", 3, "truncated"},
                {"cut after the length", 8, "runs past the end"},
                {"cut inside the header", -2, "runs past the end"},
                {"cut at the data", -1, "outside the data section"},
                {"cut inside the data", -3, "outside the data section"}};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t at = cuts[i].cut == -1   ? 8 + header_len
                    : cuts[i].cut == -2 ? 8 + header_len / 2
                    : cuts[i].cut == -3 ? size - 5
                                        : (size_t)cuts[i].cut;
        write_bytes(tmp_path(path, sizeof path, "cut.safetensors"), bytes, at);
        expect_safetensors_error(cuts[i].label, path, SLM_ERR_FORMAT, cuts[i].want);
    }
    int all_fail = 1;
    for (size_t at = 0; at < size; at++) {
        write_bytes(path, bytes, at);
        slm_weights *w = slm_safetensors_open(path, &err);
        all_fail &= w == NULL && err.status == SLM_ERR_FORMAT;
        slm_weights_free(w);
    }
    CHECK(all_fail, "every truncation of a valid file is a format error");

    write_bytes(tmp_path(path, sizeof path, "empty.safetensors"), "", 0);
    expect_safetensors_error("empty file", path, SLM_ERR_FORMAT, "empty");

    uint8_t huge[16] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
    write_bytes(tmp_path(path, sizeof path, "huge_len.safetensors"), huge, sizeof huge);
    expect_safetensors_error("header length past the end", path, SLM_ERR_FORMAT, "runs past the end");
    memset(huge, 0xff, 8);
    write_bytes(path, huge, sizeof huge);
    expect_safetensors_error("header length 2^64-1", path, SLM_ERR_FORMAT, "runs past the end");

    static const struct {
        const char *label, *header;
        size_t data;
        slm_status status;
        const char *want;
    } cases[] = {
        {"header not JSON", "{\"a\": {\"dtype\": ", 0, SLM_ERR_FORMAT, "not valid JSON"},
        {"header garbage", "\x01\x02\x03 not json at all", 0, SLM_ERR_FORMAT, "not valid JSON"},
        {"header an array", "[1, 2, 3]", 0, SLM_ERR_FORMAT, "not a JSON object"},
        {"entry not an object", "{\"t.w\": [1]}", 0, SLM_ERR_FORMAT, "tensor t.w: entry is not"},
        {"missing dtype", "{\"t.w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, SLM_ERR_FORMAT, "t.w"},
        {"shape not a list", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16,
         SLM_ERR_FORMAT, "shape"},
        {"shape not integers", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", 8,
         SLM_ERR_FORMAT, "not an integer"},
        {"offsets past the end", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 16,
         SLM_ERR_FORMAT, "tensor t.w: data [8, 24) outside the data section (16 bytes)"},
        {"offsets reversed", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 16,
         SLM_ERR_FORMAT, "reversed"},
        {"offsets negative", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 16,
         SLM_ERR_FORMAT, "negative"},
        {"offsets not a pair", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 16,
         SLM_ERR_FORMAT, "two integers"},
        {"offsets overlap",
         "{\"t.a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"t.b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
         16, SLM_ERR_FORMAT, "overlaps"},
        {"size not shape x dtype", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 16,
         SLM_ERR_FORMAT, "tensor t.w: data [0, 8) is 8 bytes but 3 elements of F32 need 12"},
        {"unsupported dtype", "{\"t.w\": {\"dtype\": \"F8_E4M3\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4,
         SLM_ERR_UNSUPPORTED, "tensor t.w: dtype F8_E4M3"},
        {"unknown dtype", "{\"t.w\": {\"dtype\": \"Q4\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4,
         SLM_ERR_UNSUPPORTED, "Q4"},
        {"negative shape", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [-1, 4], \"data_offsets\": [0, 16]}}", 16,
         SLM_ERR_FORMAT, "negative"},
        {"shape overflows",
         "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 16]}}",
         16, SLM_ERR_FORMAT, "overflows"},
        {"byte size overflows",
         "{\"t.w\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 16]}}", 16,
         SLM_ERR_FORMAT, "overflows"},
        {"absurd shape", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [1000000, 1000000], \"data_offsets\": [0, 16]}}",
         16, SLM_ERR_FORMAT, "t.w"},
        {"shape too big for JSON", "{\"t.w\": {\"dtype\": \"F32\", \"shape\": [99999999999999999999], \"data_offsets\": [0, 16]}}",
         16, SLM_ERR_FORMAT, "not valid JSON"},
        {"too many dimensions",
         "{\"t.w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1,
         SLM_ERR_UNSUPPORTED, "9 dimensions"},
        {"duplicate tensor",
         "{\"t.w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
         " \"t.w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
         2, SLM_ERR_FORMAT, "t.w"},
        {"metadata not an object", "{\"__metadata__\": [1]}", 0, SLM_ERR_FORMAT, "__metadata__"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_raw_safetensors(tmp_path(path, sizeof path, "bad.safetensors"), cases[i].header, cases[i].data);
        expect_safetensors_error(cases[i].label, path, cases[i].status, cases[i].want);
    }

    /* Valid oddities: an empty header object, an empty tensor, byte-aligned data. */
    write_raw_safetensors(tmp_path(path, sizeof path, "odd.safetensors"), "{}", 0);
    slm_weights *w = slm_safetensors_open(path, &err);
    CHECK(w && slm_weights_count(w) == 0, "an empty checkpoint opens: %s", err.message);
    slm_weights_free(w);
    /* Padded to an odd length so the data section starts at an odd offset. */
    char odd[160];
    snprintf(odd, sizeof odd, "%s", "{\"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
                                   " \"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}");
    if (strlen(odd) % 2 == 0) strcat(odd, " ");
    write_raw_safetensors(path, odd, 8);
    w = slm_safetensors_open(path, &err);
    CHECK(w && slm_weights_count(w) == 2, "an empty tensor inside another's bytes is no overlap: %s", err.message);
    CHECK(w && slm_weights_alignment(w) == 1, "an odd-length header leaves the data 1-byte aligned, and we say so");
    slm_weights_free(w);

    expect_safetensors_error("no such file", tmp_path(path, sizeof path, "missing.safetensors"), SLM_ERR_IO, "no such");
    CHECK(slm_safetensors_open("/nonexistent/x", NULL) == NULL, "a NULL error pointer is fine");
}

/* ---- llama2.c ----------------------------------------------------------------------------- */

static void test_stories260k(void) {
    const char *path = "models/stories260K/stories260K.bin";
    if (access(path, R_OK) != 0) {
        CHECK(0, "%s not found (run from the repository root)", path);
        return;
    }
    slm_llama2c_config c;
    slm_error err = {0};
    slm_weights *w = slm_llama2c_open(path, &c, &err);
    CHECK(w != NULL, "stories260K opens: %s", err.message);
    if (!w) return;
    printf("stories260K: version %d dim %d hidden_dim %d n_layers %d n_heads %d n_kv_heads %d vocab %d seq_len %d shared %d\n",
           c.version, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len,
           c.shared_classifier);
    CHECK(c.version == 0 && c.dim == 64 && c.hidden_dim == 172 && c.n_layers == 5 && c.n_heads == 8 &&
              c.n_kv_heads == 4 && c.vocab_size == 512 && c.seq_len == 512 && c.shared_classifier == 1,
          "stories260K header");
    CHECK(slm_weights_count(w) == 1 + 9 * 5 + 1, "47 tensors, got %d", slm_weights_count(w));
    CHECK(slm_weights_find(w, "lm_head.weight") == NULL, "shared classifier: no lm_head.weight");
    CHECK(shape_is(slm_weights_find(w, "model.embed_tokens.weight"), 2, 512, 64), "embed [512, 64]");
    CHECK(shape_is(slm_weights_find(w, "model.layers.4.self_attn.k_proj.weight"), 2, 32, 64), "k_proj [32, 64]");
    CHECK(shape_is(slm_weights_find(w, "model.layers.2.mlp.down_proj.weight"), 2, 64, 172), "down_proj [64, 172]");
    CHECK(shape_is(slm_weights_find(w, "model.layers.2.mlp.up_proj.weight"), 2, 172, 64), "up_proj [172, 64]");
    CHECK(shape_is(slm_weights_find(w, "model.norm.weight"), 1, 64, 0), "norm [64]");
    /* Positions in run.c's order: 28-byte header, embed, rms_att, then wq stacked over layers. */
    const slm_mapped_file *f = slm_weights_file(w, 0);
    const uint8_t *q1 = (const uint8_t *)slm_weights_find(w, "model.layers.1.self_attn.q_proj.weight")->data;
    CHECK(q1 == f->data + 28 + (512 * 64 + 5 * 64 + 64 * 64) * 4, "layer 1 q_proj sliced at its offset");
    const uint8_t *norm = (const uint8_t *)slm_weights_find(w, "model.norm.weight")->data;
    CHECK(norm + 64 * 4 + 2 * 512 * 4 * 4 == f->data + f->size, "final norm, then freq_cis, end the file");
    /* Excluding freq_cis (2 x 512 x 4 floats) and the header, every byte is exposed. */
    CHECK(slm_weights_bytes(w) == f->size - 28 - 2 * 512 * 4 * 4, "weight bytes %zu", slm_weights_bytes(w));
    slm_weights_free(w);
}

typedef struct {
    int dim, hidden, layers, heads, kv_heads, vocab, seq;
} l2c_params;

/* Writes a llama2.c file whose floats each hold their own index; extra (may be negative)
 * adds or removes floats. Returns the float count of a correct file. The layout is worked
 * out here independently of llama2c.c. */
static long write_llama2c(const char *path, int version, l2c_params p, int shared, long extra) {
    long dim = p.dim, kv = (long)p.dim * p.kv_heads / p.heads, L = p.layers, hidden = p.hidden;
    long vocab = p.vocab < 0 ? -p.vocab : p.vocab;
    long n = vocab * dim + L * dim * 2 + dim + L * (2 * dim * dim + 2 * kv * dim + 3 * hidden * dim);
    if (version == 0) n += 2L * p.seq * (dim / p.heads / 2);
    if (!shared) n += vocab * dim;
    uint8_t header[256] = {0};
    int32_t params[7] = {p.dim, p.hidden, p.layers, p.heads, p.kv_heads, p.vocab, p.seq};
    size_t header_len;
    if (version == 0) {
        memcpy(header, params, sizeof params);
        header_len = 28;
    } else {
        uint32_t magic = 0x616b3432u;
        int32_t v = version;
        memcpy(header, &magic, 4);
        memcpy(header + 4, &v, 4);
        memcpy(header + 8, params, sizeof params);
        header[36] = (uint8_t)shared;
        header_len = 256;
    }
    long total = n + extra < 0 ? 0 : n + extra;
    float *data = malloc((size_t)(total ? total : 1) * sizeof *data);
    for (long i = 0; i < total; i++) data[i] = (float)i;
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(header, 1, header_len, f);
        fwrite(data, sizeof *data, (size_t)total, f);
        fclose(f);
    }
    free(data);
    return n;
}

static float first(const slm_weights *w, const char *name) {
    const slm_tensor_view *t = slm_weights_find(w, name);
    return t ? *(const float *)t->data : -1.0f;
}

static void test_llama2c_synthetic(void) {
    char path[512];
    slm_error err = {0};
    slm_llama2c_config c;
    l2c_params p = {8, 12, 2, 2, 1, 10, 4}; /* dim 8, kv_dim 4, head_size 4 */
    const long D = 8, KV = 4, H = 12, V = 10, L = 2;

    /* Legacy, unshared (negative vocab). */
    long n = write_llama2c(tmp_path(path, sizeof path, "legacy.bin"), 0, (l2c_params){8, 12, 2, 2, 1, -10, 4}, 0, 0);
    slm_weights *w = slm_llama2c_open(path, &c, &err);
    CHECK(w != NULL, "legacy unshared opens: %s", err.message);
    if (w) {
        CHECK(c.version == 0 && c.vocab_size == 10 && c.shared_classifier == 0, "legacy: vocab 10, unshared");
        long wq = V * D + L * D, wk = wq + L * D * D, wv = wk + L * KV * D, wo = wv + L * KV * D;
        long rms_ffn = wo + L * D * D, w1 = rms_ffn + L * D, w2 = w1 + L * H * D, w3 = w2 + L * D * H;
        long norm = w3 + L * H * D, wcls = norm + D + 2 * 4 * 2;
        CHECK(first(w, "model.embed_tokens.weight") == 0, "embed at 0");
        CHECK(first(w, "model.layers.1.input_layernorm.weight") == V * D + D, "rms_att[1]");
        CHECK(first(w, "model.layers.1.self_attn.q_proj.weight") == wq + D * D, "wq[1]");
        CHECK(first(w, "model.layers.1.self_attn.k_proj.weight") == wk + KV * D, "wk[1]");
        CHECK(first(w, "model.layers.0.self_attn.v_proj.weight") == wv, "wv[0]");
        CHECK(first(w, "model.layers.1.self_attn.o_proj.weight") == wo + D * D, "wo[1]");
        CHECK(first(w, "model.layers.1.post_attention_layernorm.weight") == rms_ffn + D, "rms_ffn[1]");
        CHECK(first(w, "model.layers.1.mlp.gate_proj.weight") == w1 + H * D, "w1[1] is gate");
        CHECK(first(w, "model.layers.1.mlp.down_proj.weight") == w2 + D * H, "w2[1] is down");
        CHECK(first(w, "model.layers.1.mlp.up_proj.weight") == w3 + H * D, "w3[1] is up");
        CHECK(first(w, "model.norm.weight") == norm, "final norm");
        CHECK(first(w, "lm_head.weight") == wcls && wcls + V * D == n, "lm_head after freq_cis, ending the file");
        CHECK(shape_is(slm_weights_find(w, "lm_head.weight"), 2, 10, 8), "lm_head [10, 8]");
        slm_weights_free(w);
    }

    /* Version 1, unshared and shared. */
    n = write_llama2c(tmp_path(path, sizeof path, "v1.bin"), 1, p, 0, 0);
    w = slm_llama2c_open(path, &c, &err);
    CHECK(w != NULL, "version 1 opens: %s", err.message);
    if (w) {
        CHECK(c.version == 1 && c.vocab_size == 10 && c.shared_classifier == 0 && c.seq_len == 4, "v1 config");
        long embed = 2 * L * D + D, wq = embed + V * D, w1 = wq + L * (2 * D * D + 2 * KV * D);
        CHECK(first(w, "model.layers.0.input_layernorm.weight") == 0, "v1: attention norms first");
        CHECK(first(w, "model.layers.1.post_attention_layernorm.weight") == L * D + D, "v1: ffn norms next");
        CHECK(first(w, "model.norm.weight") == 2 * L * D, "v1: final norm");
        CHECK(first(w, "model.embed_tokens.weight") == embed, "v1: then embeddings");
        CHECK(first(w, "model.layers.0.self_attn.q_proj.weight") == wq, "v1: then wq");
        CHECK(first(w, "model.layers.0.mlp.gate_proj.weight") == w1, "v1: gate = w1");
        CHECK(first(w, "lm_head.weight") == n - V * D, "v1: output weight last");
        CHECK(slm_weights_alignment(w) >= 4, "f32 views are 4-byte aligned");
        slm_weights_free(w);
    }
    write_llama2c(path, 1, p, 1, 0);
    w = slm_llama2c_open(path, &c, &err);
    CHECK(w && c.shared_classifier == 1 && !slm_weights_find(w, "lm_head.weight"), "v1 shared: no lm_head (%s)",
          err.message);
    slm_weights_free(w);

    /* Bad files. */
    tmp_path(path, sizeof path, "bad.bin");
    write_llama2c(path, 0, p, 1, -1);
    expect_llama2c_error("llama2c truncated", path, SLM_ERR_FORMAT, "truncated");
    write_llama2c(path, 1, p, 0, -(V * D));
    expect_llama2c_error("llama2c v1 missing lm_head", path, SLM_ERR_FORMAT, "truncated");
    write_llama2c(path, 0, p, 1, 3);
    expect_llama2c_error("llama2c trailing bytes", path, SLM_ERR_FORMAT, "trailing");
    write_bytes(path, "\x08\0\0\0\x0c\0\0\0\x02\0", 10);
    expect_llama2c_error("llama2c inside the header", path, SLM_ERR_FORMAT, "truncated");
    write_bytes(path, "", 0);
    expect_llama2c_error("llama2c empty file", path, SLM_ERR_FORMAT, "truncated");
    write_bytes(path, "\x32\x34\x6b\x61\x01\0\0\0\x08\0\0\0", 12);
    expect_llama2c_error("llama2c v1 short header", path, SLM_ERR_FORMAT, "256-byte");

    static const struct {
        const char *label;
        l2c_params p;
        const char *want;
    } absurd[] = {
        {"llama2c negative dim", {-8, 12, 2, 2, 1, 10, 4}, "dim = -8"},
        {"llama2c zero layers", {8, 12, 0, 2, 1, 10, 4}, "n_layers = 0"},
        {"llama2c huge dim", {0x7fffffff, 12, 2, 2, 1, 10, 4}, "dim"},
        {"llama2c huge everything", {1 << 20, 1 << 22, 4096, 1 << 19, 1 << 19, 1 << 24, 1 << 24}, "truncated"},
        {"llama2c heads not dividing dim", {8, 12, 2, 3, 1, 10, 4}, "n_heads = 3 does not divide dim = 8"},
        {"llama2c kv not dividing heads", {12, 12, 2, 4, 3, 10, 4}, "n_kv_heads = 3 does not divide n_heads = 4"},
        {"llama2c more kv heads", {8, 12, 2, 2, 4, 10, 4}, "n_kv_heads = 4"},
        {"llama2c odd head size", {6, 12, 2, 2, 1, 10, 4}, "odd"},
        {"llama2c zero seq_len", {8, 12, 2, 2, 1, 10, 0}, "seq_len"},
    };
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        /* A header followed by a few floats is enough: validation must come before any size is trusted. */
        int32_t params[7] = {absurd[i].p.dim, absurd[i].p.hidden, absurd[i].p.layers, absurd[i].p.heads,
                             absurd[i].p.kv_heads, absurd[i].p.vocab, absurd[i].p.seq};
        uint8_t buf[64] = {0};
        memcpy(buf, params, sizeof params);
        write_bytes(path, buf, sizeof buf);
        expect_llama2c_error(absurd[i].label, path, SLM_ERR_FORMAT, absurd[i].want);
    }
    int32_t min_vocab[7] = {8, 12, 2, 2, 1, INT32_MIN, 4};
    write_bytes(path, min_vocab, sizeof min_vocab);
    expect_llama2c_error("llama2c vocab INT32_MIN", path, SLM_ERR_FORMAT, "vocab_size");

    write_llama2c(path, 2, p, 1, 0);
    expect_llama2c_error("llama2c version 2", path, SLM_ERR_UNSUPPORTED, "version 2");
    write_llama2c(path, 7, p, 1, 0);
    expect_llama2c_error("llama2c version 7", path, SLM_ERR_UNSUPPORTED, "version 7");
    write_llama2c(path, 1, p, 5, 0);
    expect_llama2c_error("llama2c bad shared flag", path, SLM_ERR_FORMAT, "shared_classifier");
    expect_llama2c_error("llama2c missing file", tmp_path(path, sizeof path, "none.bin"), SLM_ERR_IO, NULL);
}

/* ---- slm_read_file -------------------------------------------------------------------- */

static void test_read_file(void) {
    char path[512];
    slm_error err = {0};
    write_bytes(tmp_path(path, sizeof path, "text.json"), "{\"a\": 1}", 8);
    size_t len = 0;
    char *text = slm_read_file(path, &len, &err);
    CHECK(text && len == 8 && !strcmp(text, "{\"a\": 1}"), "read_file reads and NUL-terminates");
    free(text);
    /* Larger than the first buffer. */
    size_t big = 200000;
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++) data[i] = (char)('a' + i % 26);
    write_bytes(path, data, big);
    text = slm_read_file(path, &len, &err);
    CHECK(text && len == big && !memcmp(text, data, big) && text[big] == 0, "read_file grows its buffer");
    free(text);
    free(data);
    write_bytes(path, "", 0);
    text = slm_read_file(path, &len, &err);
    CHECK(text && len == 0 && text[0] == 0, "an empty file reads as \"\"");
    free(text);
    text = slm_read_file(tmp_path(path, sizeof path, "absent.json"), &len, &err);
    CHECK(!text && err.status == SLM_ERR_IO && strstr(err.message, "absent.json"), "missing file: %s", err.message);
    text = slm_read_file(tmp_dir, &len, &err);
    CHECK(!text && err.status == SLM_ERR_IO, "a folder is an i/o error: %s", err.message);
}

/* Removes tmp_dir and everything in it (two levels deep is all the tests make). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0) remove_tree(path);
    }
    closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_test_formats_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_fixtures();
    test_writer();
    test_sharded();
    test_bad_safetensors();
    test_stories260k();
    test_llama2c_synthetic();
    test_read_file();
    remove_tree(tmp_dir);
    TEST_END();
}
