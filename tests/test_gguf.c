/* test_gguf.c — the GGUF reader and writer: llama.cpp's own vocab-only files,
 * a write/read round trip of every metadata type, and one test per kind of
 * malformed file. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "formats/gguf.h"

/* ---- a byte builder for hand-made files ---- */

typedef struct {
    uint8_t bytes[4096];
    size_t len;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->len + n > sizeof b->bytes) abort(); /* test bug, not a library path */
    memcpy(b->bytes + b->len, p, n);
    b->len += n;
}
static void put_le(buf *b, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t x = (uint8_t)(v >> (8 * i));
        put(b, &x, 1);
    }
}
static void put_str(buf *b, const char *s) {
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}
static void pad_to(buf *b, size_t align) {
    while (b->len % align) put_le(b, 0, 1);
}

static char tmp_path[64];

static void write_bytes(const void *p, size_t n) {
    FILE *f = fopen(tmp_path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", tmp_path);
        exit(1);
    }
}

/* What make_file varies; zero fields take the valid default. */
typedef struct {
    const char *magic;
    uint32_t version;
    int set_counts;
    uint64_t n_tensors, n_kv;
    int set_n_dims;
    uint32_t n_dims;
    int set_type;
    uint32_t type;
    int set_offset;
    uint64_t offset;
    int set_key_len;
    uint64_t key_len;
    uint64_t dim0; /* default 8 */
    uint32_t value_type; /* of the second kv; default uint32 */
    uint64_t alignment;  /* when nonzero, a general.alignment kv replaces the second */
    int duplicate_key;
    int drop_data;
} spec;

/* A valid v3 file: kvs "general.architecture" = "llama" and "test.n" = 7 (uint32),
 * one F32 tensor "w" of dims {8, 2} at offset 0, 64 bytes of 0..15. Returns its length. */
static size_t make_file(buf *b, const spec *s) {
    b->len = 0;
    put(b, s->magic ? s->magic : "GGUF", 4);
    put_le(b, s->version ? s->version : 3, 4);
    put_le(b, s->set_counts ? s->n_tensors : 1, 8);
    put_le(b, s->set_counts ? s->n_kv : 2, 8);
    if (s->set_key_len) {
        put_le(b, s->key_len, 8);
        put(b, "general.architecture", 20);
    } else {
        put_str(b, "general.architecture");
    }
    put_le(b, SLM_GGUF_STRING, 4);
    put_str(b, "llama");
    if (s->alignment) {
        put_str(b, "general.alignment");
        put_le(b, SLM_GGUF_UINT32, 4);
        put_le(b, s->alignment, 4);
    } else {
        put_str(b, s->duplicate_key ? "general.architecture" : "test.n");
        put_le(b, s->value_type ? s->value_type : SLM_GGUF_UINT32, 4);
        put_le(b, 7, 4);
    }
    put_str(b, "w");
    uint32_t n_dims = s->set_n_dims ? s->n_dims : 2;
    put_le(b, n_dims, 4);
    for (uint32_t d = 0; d < n_dims; d++) put_le(b, d == 0 ? (s->dim0 ? s->dim0 : 8) : 2, 8);
    put_le(b, s->set_type ? s->type : SLM_GGML_F32, 4);
    put_le(b, s->set_offset ? s->offset : 0, 8);
    pad_to(b, s->alignment && s->alignment <= 1024 ? (size_t)s->alignment : 32);
    if (!s->drop_data)
        for (int i = 0; i < 16; i++) {
            float x = (float)i;
            put(b, &x, 4);
        }
    return b->len;
}

/* Opens a hand-made file; expects failure with status want and a message holding needle. */
static void expect_bad(const spec *s, slm_status want, const char *needle, const char *label) {
    buf b;
    make_file(&b, s);
    write_bytes(b.bytes, b.len);
    slm_error err = {0};
    slm_gguf *g = slm_gguf_open(tmp_path, &err);
    CHECK(g == NULL, "%s: opened a bad file", label);
    CHECK(err.status == want, "%s: status %s, want %s (%s)", label, slm_status_name(err.status), slm_status_name(want),
          err.message);
    CHECK(strstr(err.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err.message, needle);
    CHECK(strstr(err.message, tmp_path) != NULL, "%s: message \"%s\" does not name the file", label, err.message);
    slm_gguf_free(g);
}

/* ---- llama.cpp's vocab files ---- */

static void test_gpt2_vocab(void) {
    char path[512];
    slm_error err = {0};
    slm_gguf *g = slm_gguf_open(test_path(path, sizeof path, "gguf/ggml-vocab-gpt-2.gguf"), &err);
    CHECK(g != NULL, "gpt-2 vocab: %s", err.message);
    if (!g) return;
    CHECK(slm_gguf_version(g) == 3, "version %u", slm_gguf_version(g));
    CHECK(slm_gguf_tensor_count(g) == 0, "%lld tensors", (long long)slm_gguf_tensor_count(g));
    CHECK(slm_gguf_alignment(g) == 32, "alignment %zu", slm_gguf_alignment(g));
    const char *s = NULL;
    size_t len = 0;
    CHECK(slm_gguf_get_string(g, "tokenizer.ggml.model", &s, &len, &err) == SLM_OK && strcmp(s, "gpt2") == 0 && len == 4,
          "tokenizer.ggml.model: %s", s ? s : err.message);
    CHECK(slm_gguf_get_string(g, "general.architecture", &s, NULL, &err) == SLM_OK && strcmp(s, "gpt2") == 0,
          "general.architecture: %s", s);
    slm_gguf_type et;
    uint64_t n = 0;
    CHECK(slm_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n, &err) == SLM_OK && et == SLM_GGUF_STRING && n == 50257,
          "tokens: type %d, %llu", (int)et, (unsigned long long)n);
    CHECK(slm_gguf_array_string(g, "tokenizer.ggml.tokens", 50256, &s, &len, &err) == SLM_OK && len == 13 &&
              memcmp(s, "<|endoftext|>", 13) == 0,
          "token 50256: %.*s", (int)len, s);
    CHECK(slm_gguf_array_string(g, "tokenizer.ggml.tokens", 0, &s, &len, &err) == SLM_OK && len == 1 && s[0] == '!',
          "token 0: %.*s", (int)len, s);
    /* "Ġthe" (U+0120 then "the") is GPT-2's token 262. */
    CHECK(slm_gguf_array_string(g, "tokenizer.ggml.tokens", 262, &s, &len, &err) == SLM_OK && len == 5 &&
              memcmp(s, "\xc4\xa0the", 5) == 0,
          "token 262: %.*s", (int)len, s);
    CHECK(slm_gguf_array_string(g, "tokenizer.ggml.tokens", 50257, &s, &len, &err) == SLM_ERR_INVALID_ARGUMENT,
          "index past the end accepted");
    CHECK(slm_gguf_get_array(g, "tokenizer.ggml.merges", &et, &n, &err) == SLM_OK && et == SLM_GGUF_STRING && n == 50000,
          "merges: type %d, %llu", (int)et, (unsigned long long)n);
    CHECK(slm_gguf_array_string(g, "tokenizer.ggml.merges", 0, &s, &len, &err) == SLM_OK && len == 4 &&
              memcmp(s, "\xc4\xa0 t", 4) == 0,
          "merge 0: %.*s", (int)len, s);
    uint32_t eos = 0;
    CHECK(slm_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos, &err) == SLM_OK && eos == 50256, "eos %u: %s", eos,
          err.message);
    /* Wrong-type and missing lookups are errors naming the key. */
    float f;
    CHECK(slm_gguf_get_f32(g, "tokenizer.ggml.model", &f, &err) == SLM_ERR_FORMAT &&
              strstr(err.message, "tokenizer.ggml.model") && strstr(err.message, "string"),
          "wrong type: %s", err.message);
    CHECK(slm_gguf_get_u32(g, "no.such.key", &eos, &err) == SLM_ERR_FORMAT && strstr(err.message, "no.such.key") &&
              strstr(err.message, "missing"),
          "missing: %s", err.message);
    CHECK(slm_gguf_find_key(g, "no.such.key") == -1, "find_key of a missing key");
    slm_gguf_free(g);
}

static void test_llama_vocab(void) {
    char path[512];
    slm_error err = {0};
    slm_gguf *g = slm_gguf_open(test_path(path, sizeof path, "gguf/ggml-vocab-llama-spm.gguf"), &err);
    CHECK(g != NULL, "llama vocab: %s", err.message);
    if (!g) return;
    CHECK(slm_gguf_version(g) == 3, "version %u", slm_gguf_version(g));
    CHECK(slm_gguf_tensor_count(g) == 0, "%lld tensors", (long long)slm_gguf_tensor_count(g));
    const char *s = NULL;
    size_t len = 0;
    CHECK(slm_gguf_get_string(g, "tokenizer.ggml.model", &s, &len, &err) == SLM_OK && strcmp(s, "llama") == 0,
          "tokenizer.ggml.model: %s", s ? s : err.message);
    slm_gguf_type et;
    uint64_t n = 0;
    CHECK(slm_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &n, &err) == SLM_OK && et == SLM_GGUF_STRING && n == 32000,
          "tokens: %llu", (unsigned long long)n);
    static const char *const first[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++)
        CHECK(slm_gguf_array_string(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len, &err) == SLM_OK &&
                  len == strlen(first[i]) && memcmp(s, first[i], len) == 0,
              "token %d: %.*s", i, (int)len, s);
    CHECK(slm_gguf_get_array(g, "tokenizer.ggml.scores", &et, &n, &err) == SLM_OK && et == SLM_GGUF_FLOAT32 && n == 32000,
          "scores: type %d, %llu", (int)et, (unsigned long long)n);
    float score = 1;
    CHECK(slm_gguf_array_float(g, "tokenizer.ggml.scores", 0, &score, &err) == SLM_OK && score == 0.0f, "score 0: %g",
          score);
    CHECK(slm_gguf_get_array(g, "tokenizer.ggml.token_type", &et, &n, &err) == SLM_OK && et == SLM_GGUF_INT32 && n == 32000,
          "token_type: type %d, %llu", (int)et, (unsigned long long)n);
    int64_t type = 0;
    /* SentencePiece types: 2 = unknown, 3 = control, 6 = byte, 1 = normal. */
    CHECK(slm_gguf_array_int(g, "tokenizer.ggml.token_type", 0, &type, &err) == SLM_OK && type == 2, "type 0: %lld",
          (long long)type);
    CHECK(slm_gguf_array_int(g, "tokenizer.ggml.token_type", 1, &type, &err) == SLM_OK && type == 3, "type 1: %lld",
          (long long)type);
    CHECK(slm_gguf_array_int(g, "tokenizer.ggml.token_type", 3, &type, &err) == SLM_OK && type == 6, "type 3: %lld",
          (long long)type);
    CHECK(slm_gguf_array_string(g, "tokenizer.ggml.tokens", 3, &s, &len, &err) == SLM_OK && len == 6 &&
              memcmp(s, "<0x00>", 6) == 0,
          "token 3: %.*s", (int)len, s);
    uint32_t bos = 0;
    CHECK(slm_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos, &err) == SLM_OK && bos == 1, "bos %u", bos);
    slm_gguf_free(g);
}

/* ---- round trip ---- */

static void test_round_trip(void) {
    static const char *const strings[] = {"a", "", "\xc4\xa0the"};
    static const float floats[] = {0.5f, -2.25f, 1e-3f};
    static const int32_t ints[] = {-7, 0, 2147483647};
    static const uint8_t bools[] = {1, 0};
    static const uint16_t u16s[] = {1, 65535};
    static const double f64s[] = {3.5, -1e300};
    slm_gguf_kv kvs[] = {
        {.key = "general.architecture", .type = SLM_GGUF_STRING, .string = "llama"},
        {.key = "t.u8", .type = SLM_GGUF_UINT8, .u = 200},
        {.key = "t.i8", .type = SLM_GGUF_INT8, .i = -100},
        {.key = "t.u16", .type = SLM_GGUF_UINT16, .u = 60000},
        {.key = "t.i16", .type = SLM_GGUF_INT16, .i = -30000},
        {.key = "t.u32", .type = SLM_GGUF_UINT32, .u = 4000000000u},
        {.key = "t.i32", .type = SLM_GGUF_INT32, .i = -2000000000},
        {.key = "t.f32", .type = SLM_GGUF_FLOAT32, .f = 1e-5},
        {.key = "t.bool", .type = SLM_GGUF_BOOL, .u = 1},
        {.key = "t.u64", .type = SLM_GGUF_UINT64, .u = UINT64_MAX},
        {.key = "t.i64", .type = SLM_GGUF_INT64, .i = INT64_MIN},
        {.key = "t.f64", .type = SLM_GGUF_FLOAT64, .f = 0.1},
        {.key = "t.strings", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING, .array_count = 3, .array = strings},
        {.key = "t.floats", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_FLOAT32, .array_count = 3, .array = floats},
        {.key = "t.ints", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_INT32, .array_count = 3, .array = ints},
        {.key = "t.bools", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_BOOL, .array_count = 2, .array = bools},
        {.key = "t.u16s", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_UINT16, .array_count = 2, .array = u16s},
        {.key = "t.f64s", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_FLOAT64, .array_count = 2, .array = f64s},
        {.key = "t.empty", .type = SLM_GGUF_ARRAY, .array_type = SLM_GGUF_STRING, .array_count = 0},
    };
    int n_kv = (int)(sizeof kvs / sizeof kvs[0]);
    float f32_data[6] = {1, 2, 3, 4, 5, -6.5f};
    uint8_t f16_data[8], q8_data[2 * 34], q4_data[18];
    for (size_t i = 0; i < sizeof f16_data; i++) f16_data[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof q8_data; i++) q8_data[i] = (uint8_t)(i * 13 + 5);
    for (size_t i = 0; i < sizeof q4_data; i++) q4_data[i] = (uint8_t)(255 - i);
    slm_gguf_tensor tensors[] = {
        {.name = "w.f32", .type = SLM_GGML_F32, .n_dims = 2, .dims = {3, 2}, .data = f32_data, .nbytes = sizeof f32_data},
        {.name = "w.f16", .type = SLM_GGML_F16, .n_dims = 1, .dims = {4}, .data = f16_data, .nbytes = sizeof f16_data},
        {.name = "w.q8", .type = SLM_GGML_Q8_0, .n_dims = 2, .dims = {32, 2}, .data = q8_data, .nbytes = sizeof q8_data},
        {.name = "w.q4", .type = SLM_GGML_Q4_0, .n_dims = 1, .dims = {32}, .data = q4_data, .nbytes = sizeof q4_data},
    };
    slm_error err = {0};
    CHECK(slm_gguf_write(tmp_path, kvs, n_kv, tensors, 4, &err) == SLM_OK, "write: %s", err.message);
    slm_gguf *g = slm_gguf_open(tmp_path, &err);
    CHECK(g != NULL, "read back: %s", err.message);
    if (!g) return;
    CHECK(slm_gguf_version(g) == 3 && slm_gguf_alignment(g) == 32, "version %u alignment %zu", slm_gguf_version(g),
          slm_gguf_alignment(g));
    CHECK(slm_gguf_kv_count(g) == n_kv, "%lld kvs", (long long)slm_gguf_kv_count(g));
    for (int k = 0; k < n_kv; k++)
        CHECK(slm_gguf_kv_key(g, k) && strcmp(slm_gguf_kv_key(g, k), kvs[k].key) == 0 && slm_gguf_kv_type(g, k) == kvs[k].type,
              "kv %d", k);
    const char *s;
    size_t len;
    CHECK(slm_gguf_get_string(g, "general.architecture", &s, &len, &err) == SLM_OK && strcmp(s, "llama") == 0, "arch");
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f;
    int b;
    CHECK(slm_gguf_get_u32(g, "t.u8", &u32, &err) == SLM_OK && u32 == 200, "u8 %u", u32);
    CHECK(slm_gguf_get_i32(g, "t.i8", &i32, &err) == SLM_OK && i32 == -100, "i8 %d", i32);
    CHECK(slm_gguf_get_u32(g, "t.u16", &u32, &err) == SLM_OK && u32 == 60000, "u16 %u", u32);
    CHECK(slm_gguf_get_i32(g, "t.i16", &i32, &err) == SLM_OK && i32 == -30000, "i16 %d", i32);
    CHECK(slm_gguf_get_u32(g, "t.u32", &u32, &err) == SLM_OK && u32 == 4000000000u, "u32 %u", u32);
    CHECK(slm_gguf_get_i32(g, "t.u32", &i32, &err) == SLM_ERR_FORMAT && strstr(err.message, "int32"),
          "u32 4e9 read as i32: %s", err.message);
    CHECK(slm_gguf_get_u32(g, "t.i8", &u32, &err) == SLM_ERR_FORMAT, "negative read as u32");
    CHECK(slm_gguf_get_i32(g, "t.i32", &i32, &err) == SLM_OK && i32 == -2000000000, "i32 %d", i32);
    CHECK(slm_gguf_get_f32(g, "t.f32", &f, &err) == SLM_OK && f == 1e-5f, "f32 %g", f);
    CHECK(slm_gguf_get_bool(g, "t.bool", &b, &err) == SLM_OK && b == 1, "bool %d", b);
    CHECK(slm_gguf_get_u64(g, "t.u64", &u64, &err) == SLM_OK && u64 == UINT64_MAX, "u64");
    CHECK(slm_gguf_get_i64(g, "t.u64", &i64, &err) == SLM_ERR_FORMAT, "u64 max read as i64");
    CHECK(slm_gguf_get_i64(g, "t.i64", &i64, &err) == SLM_OK && i64 == INT64_MIN, "i64");
    CHECK(slm_gguf_get_f32(g, "t.f64", &f, &err) == SLM_OK && f == 0.1f, "f64 %g", f);
    slm_gguf_type et;
    uint64_t n;
    CHECK(slm_gguf_get_array(g, "t.strings", &et, &n, &err) == SLM_OK && et == SLM_GGUF_STRING && n == 3, "strings");
    for (int i = 0; i < 3; i++)
        CHECK(slm_gguf_array_string(g, "t.strings", (uint64_t)i, &s, &len, &err) == SLM_OK && len == strlen(strings[i]) &&
                  memcmp(s, strings[i], len) == 0,
              "string %d", i);
    for (int i = 0; i < 3; i++) {
        CHECK(slm_gguf_array_float(g, "t.floats", (uint64_t)i, &f, &err) == SLM_OK && f == floats[i], "float %d: %g", i, f);
        CHECK(slm_gguf_array_int(g, "t.ints", (uint64_t)i, &i64, &err) == SLM_OK && i64 == ints[i], "int %d: %lld", i,
              (long long)i64);
    }
    CHECK(slm_gguf_array_int(g, "t.bools", 0, &i64, &err) == SLM_OK && i64 == 1, "bool[0]");
    CHECK(slm_gguf_array_int(g, "t.u16s", 1, &i64, &err) == SLM_OK && i64 == 65535, "u16[1]");
    CHECK(slm_gguf_array_float(g, "t.f64s", 1, &f, &err) == SLM_OK && isinf(f) && f < 0, "f64[1] to float: %g", f);
    CHECK(slm_gguf_array_float(g, "t.ints", 0, &f, &err) == SLM_ERR_FORMAT && strstr(err.message, "int32"),
          "int array read as floats: %s", err.message);
    CHECK(slm_gguf_get_array(g, "t.empty", &et, &n, &err) == SLM_OK && n == 0, "empty array");
    CHECK(slm_gguf_get_array(g, "t.u8", &et, &n, &err) == SLM_ERR_FORMAT, "scalar read as array");

    CHECK(slm_gguf_tensor_count(g) == 4, "%lld tensors", (long long)slm_gguf_tensor_count(g));
    for (int i = 0; i < 4; i++) {
        const slm_gguf_tensor *t = slm_gguf_find_tensor(g, tensors[i].name);
        CHECK(t != NULL, "tensor %s missing", tensors[i].name);
        if (!t) continue;
        CHECK(t == slm_gguf_tensor_at(g, i), "tensor %d order", i);
        CHECK(t->type == tensors[i].type && t->n_dims == tensors[i].n_dims && t->dims[0] == tensors[i].dims[0] &&
                  t->dims[1] == (tensors[i].n_dims > 1 ? tensors[i].dims[1] : 1),
              "tensor %s header", t->name);
        CHECK(t->nbytes == tensors[i].nbytes && memcmp(t->data, tensors[i].data, t->nbytes) == 0, "tensor %s data",
              t->name);
        CHECK((uintptr_t)t->data % 32 == 0 && t->offset % 32 == 0, "tensor %s not aligned", t->name);
    }
    CHECK(slm_gguf_find_tensor(g, "nope") == NULL && slm_gguf_tensor_at(g, 4) == NULL, "absent tensor found");
    slm_gguf_free(g);

    /* Every cut short of the last tensor's data is caught as truncation. */
    FILE *fp = fopen(tmp_path, "rb");
    static uint8_t whole[8192];
    size_t size = fp ? fread(whole, 1, sizeof whole, fp) : 0;
    if (fp) fclose(fp);
    size_t data_end = size - (32 - sizeof q4_data); /* the file ends with q4's 18 bytes and 14 of padding */
    int accepted = 0, unnamed = 0;
    for (size_t cut = 0; cut < data_end; cut++) {
        write_bytes(whole, cut);
        slm_error e = {0};
        slm_gguf *t = slm_gguf_open(tmp_path, &e);
        if (t || e.status != SLM_ERR_FORMAT) accepted++;
        if (!strstr(e.message, tmp_path)) unnamed++;
        slm_gguf_free(t);
    }
    CHECK(accepted == 0, "%d of %zu truncated files accepted", accepted, data_end);
    CHECK(unnamed == 0, "%d truncation messages do not name the file", unnamed);
    const size_t cuts[] = {3, 10, 30, size / 2, data_end - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(whole, cuts[i]);
        slm_error e = {0};
        slm_gguf *t = slm_gguf_open(tmp_path, &e);
        CHECK(!t && strstr(e.message, "truncated") && (cuts[i] < 4 || strstr(e.message, "offset")),
              "cut at %zu: %s", cuts[i], e.message);
        slm_gguf_free(t);
    }
    write_bytes(whole, data_end);
    g = slm_gguf_open(tmp_path, &err);
    CHECK(g != NULL, "file without trailing padding: %s", err.message);
    slm_gguf_free(g);
}

static void test_writer_errors(void) {
    slm_error err = {0};
    uint8_t data[34] = {0};
    slm_gguf_kv big = {.key = "k", .type = SLM_GGUF_UINT8, .u = 256};
    CHECK(slm_gguf_write(tmp_path, &big, 1, NULL, 0, &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "k"),
          "uint8 256: %s", err.message);
    slm_gguf_kv twice[] = {{.key = "k", .type = SLM_GGUF_BOOL}, {.key = "k", .type = SLM_GGUF_BOOL}};
    CHECK(slm_gguf_write(tmp_path, twice, 2, NULL, 0, &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "twice"),
          "repeated key: %s", err.message);
    slm_gguf_tensor bad = {.name = "q", .type = SLM_GGML_Q8_0, .n_dims = 1, .dims = {32}, .data = data, .nbytes = 32};
    CHECK(slm_gguf_write(tmp_path, NULL, 0, &bad, 1, &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "34"),
          "wrong nbytes: %s", err.message);
    bad.dims[0] = 16;
    bad.nbytes = 17;
    CHECK(slm_gguf_write(tmp_path, NULL, 0, &bad, 1, &err) == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "block"),
          "partial block: %s", err.message);
}

/* ---- sizing of the k-quant and other types ---- */

static void test_type_sizes(void) {
    static const struct {
        slm_ggml_type type;
        uint64_t dim0;
        size_t nbytes;
    } cases[] = {
        {SLM_GGML_F32, 8, 64},     {SLM_GGML_F16, 8, 32},     {SLM_GGML_BF16, 8, 32},   {SLM_GGML_Q8_0, 32, 68},
        {SLM_GGML_Q4_0, 64, 72},   {SLM_GGML_Q4_K, 256, 288}, {SLM_GGML_Q6_K, 512, 840},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b;
        spec s = {.set_type = 1, .type = cases[i].type, .dim0 = cases[i].dim0, .drop_data = 1};
        make_file(&b, &s);
        for (size_t k = 0; k < cases[i].nbytes; k++) put_le(&b, 0, 1);
        write_bytes(b.bytes, b.len);
        slm_error err = {0};
        slm_gguf *g = slm_gguf_open(tmp_path, &err);
        const slm_gguf_tensor *t = g ? slm_gguf_tensor_at(g, 0) : NULL;
        CHECK(t && t->nbytes == cases[i].nbytes && t->n_elements == cases[i].dim0 * 2, "%s: %zu bytes (%s)",
              slm_ggml_type_name(cases[i].type), t ? t->nbytes : 0, err.message);
        slm_gguf_free(g);
    }
}

/* ---- nested arrays ---- */

/* A file with one kv "n": depth levels of arrays, the innermost holding two int32 (1, 2). */
static void write_nested(int depth) {
    buf b = {.len = 0};
    put(&b, "GGUF", 4);
    put_le(&b, 2, 4); /* version 2 is read too */
    put_le(&b, 0, 8);
    put_le(&b, 1, 8);
    put_str(&b, "n");
    put_le(&b, SLM_GGUF_ARRAY, 4);
    for (int d = 1; d < depth; d++) {
        put_le(&b, SLM_GGUF_ARRAY, 4);
        put_le(&b, 1, 8);
    }
    put_le(&b, SLM_GGUF_INT32, 4);
    put_le(&b, 2, 8);
    put_le(&b, 1, 4);
    put_le(&b, 2, 4);
    write_bytes(b.bytes, b.len);
}

static void test_nested_arrays(void) {
    slm_error err = {0};
    write_nested(3);
    slm_gguf *g = slm_gguf_open(tmp_path, &err);
    CHECK(g != NULL, "nested arrays: %s", err.message);
    if (g) {
        slm_gguf_type et;
        uint64_t n;
        CHECK(slm_gguf_version(g) == 2, "version %u", slm_gguf_version(g));
        CHECK(slm_gguf_get_array(g, "n", &et, &n, &err) == SLM_OK && et == SLM_GGUF_ARRAY && n == 1, "outer array");
        slm_gguf_free(g);
    }
    write_nested(SLM_GGUF_MAX_ARRAY_DEPTH);
    g = slm_gguf_open(tmp_path, &err);
    CHECK(g != NULL, "arrays nested %d deep: %s", SLM_GGUF_MAX_ARRAY_DEPTH, err.message);
    slm_gguf_free(g);
    write_nested(SLM_GGUF_MAX_ARRAY_DEPTH + 1);
    g = slm_gguf_open(tmp_path, &err);
    CHECK(g == NULL && strstr(err.message, "nested deeper") && strstr(err.message, "key n"), "too deep: %s", err.message);
    slm_gguf_free(g);
}

/* ---- malformed files ---- */

static void test_bad_files(void) {
    spec ok = {0};
    buf b;
    make_file(&b, &ok);
    write_bytes(b.bytes, b.len);
    slm_error err = {0};
    slm_gguf *g = slm_gguf_open(tmp_path, &err);
    CHECK(g != NULL, "the valid base file: %s", err.message);
    if (g) {
        const slm_gguf_tensor *t = slm_gguf_tensor_at(g, 0);
        CHECK(t && t->n_elements == 16 && ((const float *)t->data)[15] == 15.0f, "base tensor");
        slm_gguf_free(g);
    }

    expect_bad(&(spec){.magic = "GGML"}, SLM_ERR_FORMAT, "magic", "bad magic");
    expect_bad(&(spec){.version = 1}, SLM_ERR_UNSUPPORTED, "version 1", "version 1");
    expect_bad(&(spec){.version = 4}, SLM_ERR_UNSUPPORTED, "version 4", "version 4");
    expect_bad(&(spec){.set_counts = 1, .n_tensors = 1, .n_kv = 1ull << 60}, SLM_ERR_FORMAT, "metadata count",
               "absurd kv count");
    expect_bad(&(spec){.set_counts = 1, .n_tensors = UINT64_MAX, .n_kv = 2}, SLM_ERR_FORMAT, "tensor count",
               "absurd tensor count");
    expect_bad(&(spec){.set_counts = 1, .n_tensors = 1, .n_kv = 3}, SLM_ERR_FORMAT, "offset", "one kv too many");
    expect_bad(&(spec){.set_n_dims = 1, .n_dims = 9}, SLM_ERR_FORMAT, "n_dims 9", "n_dims 9");
    expect_bad(&(spec){.set_key_len = 1, .key_len = 1ull << 40}, SLM_ERR_FORMAT, "past the end", "key length");
    expect_bad(&(spec){.set_offset = 1, .offset = 1024}, SLM_ERR_FORMAT, "tensor w", "tensor data past the end");
    expect_bad(&(spec){.drop_data = 1}, SLM_ERR_FORMAT, "past the end", "tensor data missing");
    expect_bad(&(spec){.set_type = 1, .type = 99}, SLM_ERR_UNSUPPORTED, "unknown ggml type 99", "unknown tensor type");
    expect_bad(&(spec){.set_type = 1, .type = 4}, SLM_ERR_UNSUPPORTED, "type 4", "retired tensor type");
    expect_bad(&(spec){.set_offset = 1, .offset = 8}, SLM_ERR_FORMAT, "not a multiple of the alignment", "misaligned");
    expect_bad(&(spec){.set_type = 1, .type = SLM_GGML_Q8_0}, SLM_ERR_FORMAT, "block", "row not whole blocks");
    expect_bad(&(spec){.dim0 = 1ull << 62}, SLM_ERR_FORMAT, "overflows", "overflowing dims");
    expect_bad(&(spec){.value_type = 13}, SLM_ERR_FORMAT, "unknown value type 13", "unknown value type");
    expect_bad(&(spec){.value_type = SLM_GGUF_BOOL}, SLM_ERR_FORMAT, "bool", "bool value 7");
    expect_bad(&(spec){.duplicate_key = 1}, SLM_ERR_FORMAT, "twice", "duplicate key");
    expect_bad(&(spec){.alignment = 24}, SLM_ERR_FORMAT, "power of two", "alignment 24");
    expect_bad(&(spec){.alignment = 0x80000000u}, SLM_ERR_FORMAT, "power of two", "alignment 2^31");

    /* A non-default alignment is honoured. */
    make_file(&b, &(spec){.alignment = 64});
    write_bytes(b.bytes, b.len);
    g = slm_gguf_open(tmp_path, &err);
    CHECK(g && slm_gguf_alignment(g) == 64 && (uintptr_t)slm_gguf_tensor_at(g, 0)->data % 64 == 0, "alignment 64: %s",
          g ? "" : err.message);
    slm_gguf_free(g);

    /* An array claiming more elements than the file holds fails before allocating. */
    buf a = {.len = 0};
    put(&a, "GGUF", 4);
    put_le(&a, 3, 4);
    put_le(&a, 0, 8);
    put_le(&a, 1, 8);
    put_str(&a, "tokenizer.ggml.tokens");
    put_le(&a, SLM_GGUF_ARRAY, 4);
    put_le(&a, SLM_GGUF_STRING, 4);
    put_le(&a, 1ull << 61, 8);
    write_bytes(a.bytes, a.len);
    g = slm_gguf_open(tmp_path, &err);
    CHECK(!g && strstr(err.message, "tokenizer.ggml.tokens") && strstr(err.message, "claims"), "absurd array: %s",
          err.message);
    slm_gguf_free(g);

    g = slm_gguf_open("tests/data/gguf/does-not-exist.gguf", &err);
    CHECK(!g && err.status == SLM_ERR_IO, "missing file: %s", err.message);
    write_bytes("", 0);
    g = slm_gguf_open(tmp_path, &err);
    CHECK(!g && err.status == SLM_ERR_FORMAT, "empty file: %s", err.message);
}

int main(void) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/slm_test_gguf_XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    test_gpt2_vocab();
    test_llama_vocab();
    test_round_trip();
    test_writer_errors();
    test_type_sizes();
    test_nested_arrays();
    test_bad_files();
    remove(tmp_path);
    TEST_END();
}
