/* test_torch_bin.c — PyTorch pytorch_model.bin checkpoints: every .bin fixture
 * (zip and legacy formats, and a zip with TF-era LayerNorm gamma/beta names)
 * holds the same tensors, byte for byte, as its safetensors twin, and a model
 * loaded from it computes bit-identical outputs; a sharded
 * pytorch_model.bin.index.json; and hostile or broken files written at test
 * time into a mkdtemp folder (pickles built here by hand, opcode by opcode),
 * each of which must fail with a clear message and no side effect. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "formats/weights.h"
#include "slm.h"

static char tmp_dir[64];

static const char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
    return buf;
}

/* ---- byte buffers ---- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u8(bytes *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_le(bytes *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) put_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void put_str(bytes *b, const char *s) { put(b, s, strlen(s)); }

/* ---- pickle opcodes, as protocol 2 writes them ---- */

static void p_unicode(bytes *b, const char *s) { /* BINUNICODE */
    put_u8(b, 'X');
    put_le(b, strlen(s), 4);
    put_str(b, s);
}
static void p_int(bytes *b, unsigned v) { /* BININT1 or BININT2 */
    if (v < 256) {
        put_u8(b, 'K');
        put_u8(b, v);
    } else {
        put_u8(b, 'M');
        put_le(b, v, 2);
    }
}
static void p_global(bytes *b, const char *module, const char *name) {
    put_u8(b, 'c');
    put_str(b, module);
    put_u8(b, '\n');
    put_str(b, name);
    put_u8(b, '\n');
}

/* A state dict {name: tensor of shape (rows, cols) with these strides at storage offset,
 * over storage "0" of numel elements of storage_class}. */
typedef struct {
    const char *storage_class;
    unsigned numel, offset, rows, cols, stride0, stride1;
} tensor_spec;

static void p_state_dict(bytes *b, const char *name, const tensor_spec *t) {
    put(b, "\x80\x02", 2);
    p_global(b, "collections", "OrderedDict");
    put_u8(b, ')');
    put_u8(b, 'R');
    put_u8(b, '(');
    p_unicode(b, name);
    p_global(b, "torch._utils", "_rebuild_tensor_v2");
    put_u8(b, '(');
    put_u8(b, '('); /* the storage reference */
    p_unicode(b, "storage");
    p_global(b, "torch", t->storage_class);
    p_unicode(b, "0");
    p_unicode(b, "cpu");
    p_int(b, t->numel);
    put_u8(b, 't');
    put_u8(b, 'Q');
    p_int(b, t->offset);
    p_int(b, t->rows);
    p_int(b, t->cols);
    put_u8(b, 0x86);
    p_int(b, t->stride0);
    p_int(b, t->stride1);
    put_u8(b, 0x86);
    put_u8(b, 0x89); /* requires_grad False */
    p_global(b, "collections", "OrderedDict");
    put_u8(b, ')');
    put_u8(b, 'R');
    put_u8(b, 't');
    put_u8(b, 'R');
    put_u8(b, 'u');
    put_u8(b, '.');
}

/* ---- zip archives of stored members ---- */

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    unsigned method;     /* 0 stored, 8 deflate (the bytes are not really compressed) */
    long offset_lie;     /* added to the central directory's local header offset */
} zip_member;

static void write_file(const char *path, const bytes *b) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return;
    }
    if (b->len) fwrite(b->data, 1, b->len, f);
    fclose(f);
}

static void write_zip(const char *path, const zip_member *m, int n) {
    bytes z = {0};
    size_t *offsets = calloc((size_t)n, sizeof *offsets);
    for (int i = 0; i < n; i++) {
        offsets[i] = z.len;
        put_le(&z, 0x04034b50u, 4);
        put_le(&z, 20, 2); /* version needed */
        put_le(&z, 0, 2);  /* flags */
        put_le(&z, m[i].method, 2);
        put_le(&z, 0, 4); /* time, date */
        put_le(&z, 0, 4); /* crc (not checked) */
        put_le(&z, m[i].len, 4);
        put_le(&z, m[i].len, 4);
        put_le(&z, strlen(m[i].name), 2);
        put_le(&z, 0, 2);
        put_str(&z, m[i].name);
        put(&z, m[i].data, m[i].len);
    }
    size_t dir = z.len;
    for (int i = 0; i < n; i++) {
        put_le(&z, 0x02014b50u, 4);
        put_le(&z, 20, 2);
        put_le(&z, 20, 2);
        put_le(&z, 0, 2);
        put_le(&z, m[i].method, 2);
        put_le(&z, 0, 4);
        put_le(&z, 0, 4);
        put_le(&z, m[i].len, 4);
        put_le(&z, m[i].len, 4);
        put_le(&z, strlen(m[i].name), 2);
        put_le(&z, 0, 2); /* extra */
        put_le(&z, 0, 2); /* comment */
        put_le(&z, 0, 2); /* disk */
        put_le(&z, 0, 2);
        put_le(&z, 0, 4);
        put_le(&z, (uint64_t)((long)offsets[i] + m[i].offset_lie), 4);
        put_str(&z, m[i].name);
    }
    size_t dir_size = z.len - dir;
    put_le(&z, 0x06054b50u, 4);
    put_le(&z, 0, 4);
    put_le(&z, (uint64_t)n, 2);
    put_le(&z, (uint64_t)n, 2);
    put_le(&z, dir_size, 4);
    put_le(&z, dir, 4);
    put_le(&z, 0, 2);
    write_file(path, &z);
    free(z.data);
    free(offsets);
}

/* A torch-style zip: archive/data.pkl holding pickle, archive/data/0 holding storage_bytes bytes. */
static void write_torch_zip(const char *path, const bytes *pickle, size_t storage_bytes) {
    uint8_t *storage = calloc(storage_bytes + 1, 1);
    for (size_t i = 0; i < storage_bytes; i++) storage[i] = (uint8_t)(i * 7);
    zip_member m[] = {
        {"archive/data.pkl", pickle->data, pickle->len, 0, 0},
        {"archive/byteorder", "little", 6, 0, 0},
        {"archive/data/0", storage, storage_bytes, 0, 0},
    };
    write_zip(path, m, 3);
    free(storage);
}

/* Expects open to fail with status; the message names the file and contains want. */
static void expect_error(const char *label, const char *path, slm_status status, const char *want) {
    slm_error err = {0};
    slm_weights *w = slm_torch_bin_open(path, &err);
    CHECK(w == NULL, "%s: open should fail", label);
    CHECK(err.status == status, "%s: status %s, want %s (%s)", label, slm_status_name(err.status),
          slm_status_name(status), err.message);
    CHECK(strstr(err.message, path) != NULL, "%s: message names the file: %s", label, err.message);
    CHECK(want == NULL || strstr(err.message, want) != NULL, "%s: message has \"%s\": %s", label, want, err.message);
    if (getenv("SLM_TEST_VERBOSE")) printf("  %-24s %s\n", label, err.message);
    slm_weights_free(w);
}

/* ---- the fixtures against their safetensors twins ---- */

/* "x.LayerNorm.gamma" -> "x.LayerNorm.weight", ".beta" -> ".bias" (the twin's names). */
static void modern_name(const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    if (n > 6 && !strcmp(name + n - 6, ".gamma"))
        snprintf(out, cap, "%.*s.weight", (int)(n - 6), name);
    else if (n > 5 && !strcmp(name + n - 5, ".beta"))
        snprintf(out, cap, "%.*s.bias", (int)(n - 5), name);
    else
        snprintf(out, cap, "%s", name);
}

/* Tied weights torch.save keeps under both names; safetensors keeps the first only. */
static const char *tied_source(const char *name) {
    if (!strcmp(name, "lm_head.weight")) return "transformer.wte.weight";
    if (!strcmp(name, "cls.predictions.decoder.weight")) return "bert.embeddings.word_embeddings.weight";
    return NULL;
}

static void test_same_tensors(const char *bin_rel, const char *twin_rel) {
    char bin_path[512], twin_path[512];
    slm_error err = {0};
    slm_weights *bin = slm_torch_bin_open(test_path(bin_path, sizeof bin_path, bin_rel), &err);
    CHECK(bin != NULL, "%s: %s", bin_rel, err.message);
    slm_weights *twin = slm_safetensors_open(test_path(twin_path, sizeof twin_path, twin_rel), &err);
    CHECK(twin != NULL, "%s: %s", twin_rel, err.message);
    if (bin && twin) {
        int same = 0, tied = 0;
        for (int i = 0; i < slm_weights_count(bin); i++) {
            const slm_tensor_view *a = slm_weights_at(bin, i);
            char name[256];
            modern_name(a->name, name, sizeof name);
            const slm_tensor_view *b = slm_weights_find(twin, name);
            if (!b && tied_source(name)) {
                b = slm_weights_find(twin, tied_source(name));
                tied++;
            }
            int ok = b && a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes &&
                     !memcmp(a->shape, b->shape, sizeof a->shape) && !memcmp(a->data, b->data, a->nbytes);
            CHECK(ok, "%s: tensor %s differs from the twin's %s", bin_rel, a->name, b ? b->name : name);
            same += ok;
        }
        CHECK(slm_weights_count(bin) == slm_weights_count(twin) + tied, "%s: %d tensors (%d tied), twin has %d",
              bin_rel, slm_weights_count(bin), tied, slm_weights_count(twin));
        CHECK(same == slm_weights_count(bin) && same > 10, "%s: %d tensors compared", bin_rel, same);
    }
    slm_weights_free(bin);
    slm_weights_free(twin);
}

static slm_model *load(const char *rel) {
    char path[512];
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_error err = {0};
    slm_model *m = slm_model_load(test_path(path, sizeof path, rel), &mp, &err);
    CHECK(m != NULL, "load %s: %s", rel, err.message);
    return m;
}

/* GPT-2 logits from the .bin folder equal those from safetensors, bit for bit. */
static void test_decoder_logits(const char *bin_rel) {
    slm_model *a = load(bin_rel), *b = load("fixtures/gpt2_tiny/lm");
    if (a && b) {
        int32_t ids[] = {1, 17, 42, 300, 7, 999, 5, 64};
        size_t n = sizeof ids / sizeof ids[0];
        slm_model_info info = slm_model_get_info(a);
        float *out_a = calloc(n * (size_t)info.n_vocab, sizeof(float));
        float *out_b = calloc(n * (size_t)info.n_vocab, sizeof(float));
        slm_session_params sp = slm_session_default_params();
        sp.n_threads = 1;
        slm_error err = {0};
        slm_session *sa = slm_session_new(a, &sp, &err), *sb = slm_session_new(b, &sp, &err);
        CHECK(sa && sb, "sessions: %s", err.message);
        if (sa && sb) {
            CHECK(slm_session_forward(sa, ids, n, SLM_OUTPUT_LOGITS, out_a, &err) == SLM_OK, "%s", err.message);
            CHECK(slm_session_forward(sb, ids, n, SLM_OUTPUT_LOGITS, out_b, &err) == SLM_OK, "%s", err.message);
            CHECK(!memcmp(out_a, out_b, n * (size_t)info.n_vocab * sizeof(float)), "%s: logits differ from safetensors",
                  bin_rel);
        }
        slm_session_free(sa);
        slm_session_free(sb);
        free(out_a);
        free(out_b);
    }
    slm_model_free(a);
    slm_model_free(b);
}

/* BERT masked-LM logits from the gamma/beta .bin folder equal those from safetensors. */
static void test_encoder_logits(const char *bin_rel) {
    slm_model *a = load(bin_rel), *b = load("fixtures/bert_tiny/mlm");
    if (a && b) {
        int32_t ids[] = {2, 11, 45, 300, 12, 7, 3, 0, 2, 40, 41, 42, 3, 0, 0, 0};
        int32_t mask[] = {1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0};
        slm_batch batch = {2, 8, ids, NULL, mask};
        slm_model_info info = slm_model_get_info(a);
        size_t n = 16 * (size_t)info.n_vocab;
        float *out_a = calloc(n, sizeof(float)), *out_b = calloc(n, sizeof(float));
        slm_session_params sp = slm_session_default_params();
        sp.n_threads = 1;
        slm_error err = {0};
        slm_session *sa = slm_session_new(a, &sp, &err), *sb = slm_session_new(b, &sp, &err);
        CHECK(sa && sb, "sessions: %s", err.message);
        if (sa && sb) {
            CHECK(slm_session_encode(sa, &batch, SLM_ENCODE_MLM, out_a, &err) == SLM_OK, "%s", err.message);
            CHECK(slm_session_encode(sb, &batch, SLM_ENCODE_MLM, out_b, &err) == SLM_OK, "%s", err.message);
            CHECK(!memcmp(out_a, out_b, n * sizeof(float)), "%s: MLM logits differ from safetensors", bin_rel);
        }
        slm_session_free(sa);
        slm_session_free(sb);
        free(out_a);
        free(out_b);
    }
    slm_model_free(a);
    slm_model_free(b);
}

/* ---- files written here ---- */

static const tensor_spec good = {"FloatStorage", 12, 2, 2, 5, 5, 1};

/* A hand-built zip round-trips: the view sits at the storage offset, with arbitrary alignment. */
static void test_handmade_zip(void) {
    char path[128];
    bytes p = {0};
    p_state_dict(&p, "w", &good);
    write_torch_zip(tmp_path(path, sizeof path, "good.bin"), &p, 48);
    slm_error err = {0};
    slm_weights *w = slm_torch_bin_open(path, &err);
    CHECK(w != NULL, "handmade zip: %s", err.message);
    const slm_tensor_view *t = w ? slm_weights_find(w, "w") : NULL;
    CHECK(t && t->dtype == SLM_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 5 && t->nbytes == 40,
          "handmade zip: tensor w of f32 [2, 5]");
    if (t) CHECK(((const uint8_t *)t->data)[0] == (uint8_t)(8 * 7), "handmade zip: view starts at storage byte 8");
    slm_weights_free(w);
    free(p.data);
}

/* A sharded index over two shards. */
static void test_sharded_index(void) {
    char path[128], index[128];
    bytes a = {0}, b = {0};
    p_state_dict(&a, "first", &good);
    p_state_dict(&b, "second", &good);
    write_torch_zip(tmp_path(path, sizeof path, "pytorch_model-00001-of-00002.bin"), &a, 48);
    write_torch_zip(tmp_path(path, sizeof path, "pytorch_model-00002-of-00002.bin"), &b, 48);
    bytes json = {0};
    put_str(&json, "{\"metadata\": {}, \"weight_map\": {\"first\": \"pytorch_model-00001-of-00002.bin\", "
                   "\"second\": \"pytorch_model-00002-of-00002.bin\"}}");
    write_file(tmp_path(index, sizeof index, "pytorch_model.bin.index.json"), &json);
    slm_error err = {0};
    slm_weights *w = slm_torch_bin_open(tmp_dir, &err);
    CHECK(w != NULL, "sharded: %s", err.message);
    CHECK(w && slm_weights_count(w) == 2 && slm_weights_find(w, "first") && slm_weights_find(w, "second"),
          "sharded: both tensors");
    slm_weights_free(w);
    /* An index that names the wrong shard. */
    json.len = 0;
    put_str(&json, "{\"weight_map\": {\"first\": \"pytorch_model-00002-of-00002.bin\"}}");
    write_file(tmp_path(path, sizeof path, "wrong.index.json"), &json);
    expect_error("index names wrong shard", path, SLM_ERR_FORMAT, "does not have it");
    json.len = 0;
    put_str(&json, "{\"weight_map\": {\"first\": \"../pytorch_model.bin\"}}");
    write_file(tmp_path(path, sizeof path, "escape.index.json"), &json);
    expect_error("index shard escapes", path, SLM_ERR_FORMAT, "inside the index's folder");
    unlink(index);
    unlink(tmp_path(path, sizeof path, "pytorch_model-00001-of-00002.bin"));
    unlink(tmp_path(path, sizeof path, "pytorch_model-00002-of-00002.bin"));
    free(a.data);
    free(b.data);
    free(json.data);
}

/* A pickle that would call module.name("touch <tmp>/pwned") must fail, and nothing may run. */
static void test_hostile_global(const char *module, const char *name) {
    char path[128], pwned[128], command[256], label[64];
    snprintf(label, sizeof label, "GLOBAL %s.%s", module, name);
    snprintf(command, sizeof command, "touch %s", tmp_path(pwned, sizeof pwned, "pwned"));
    bytes p = {0};
    put(&p, "\x80\x02", 2);
    p_global(&p, module, name);
    p_unicode(&p, command);
    put_u8(&p, 0x85);
    put_u8(&p, 'R');
    put_u8(&p, '.');
    write_torch_zip(tmp_path(path, sizeof path, "hostile.bin"), &p, 48);
    char want[64];
    snprintf(want, sizeof want, "GLOBAL %s.%s is not allowed", module, name);
    expect_error(label, path, SLM_ERR_UNSUPPORTED, want);
    struct stat st;
    CHECK(stat(pwned, &st) != 0, "%s: nothing may run, but %s exists", label, pwned);
    unlink(pwned);
    free(p.data);
}

/* The same in the legacy format's system-info pickle. */
static void test_hostile_legacy(void) {
    char path[128];
    bytes p = {0};
    put(&p, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
    put(&p, "\x80\x02M\xe9\x03.", 6);
    put(&p, "\x80\x02", 2);
    p_global(&p, "os", "system");
    p_unicode(&p, "true");
    put_u8(&p, 0x85);
    put_u8(&p, 'R');
    put_u8(&p, '.');
    write_file(tmp_path(path, sizeof path, "legacy_hostile.bin"), &p);
    expect_error("legacy GLOBAL os.system", path, SLM_ERR_UNSUPPORTED, "os.system is not allowed");
    /* Wrong magic number. */
    p.data[4] ^= 1;
    write_file(path, &p);
    expect_error("legacy wrong magic", path, SLM_ERR_FORMAT, "magic number");
    free(p.data);
}

static void test_reduce_unknown_callable(void) {
    char path[128];
    bytes p = {0};
    put(&p, "\x80\x02", 2);
    p_global(&p, "torch", "FloatStorage");
    put_u8(&p, ')');
    put_u8(&p, 'R');
    put_u8(&p, '.');
    write_torch_zip(tmp_path(path, sizeof path, "reduce.bin"), &p, 0);
    expect_error("REDUCE of a storage class", path, SLM_ERR_UNSUPPORTED, "REDUCE of torch.FloatStorage");
    p.len = 2;
    p_unicode(&p, "eval");
    put_u8(&p, ')');
    put_u8(&p, 'R');
    put_u8(&p, '.');
    write_torch_zip(path, &p, 0);
    expect_error("REDUCE of a string", path, SLM_ERR_FORMAT, "not a known callable");
    free(p.data);
}

static void test_storage_past_end(void) {
    char path[128];
    bytes p = {0};
    tensor_spec t = good;
    t.offset = 3; /* 3 + 10 elements > 12 */
    p_state_dict(&p, "w", &t);
    write_torch_zip(tmp_path(path, sizeof path, "past_end.bin"), &p, 48);
    expect_error("view past the storage", path, SLM_ERR_FORMAT, "runs past the end of storage 0");
    /* The storage claims 12 floats but its entry holds 40 bytes. */
    p.len = 0;
    p_state_dict(&p, "w", &good);
    write_torch_zip(path, &p, 40);
    expect_error("storage entry too short", path, SLM_ERR_FORMAT, "need 48 bytes, the file holds 40");
    /* Not row-major. */
    p.len = 0;
    t = good;
    t.stride0 = 1;
    t.stride1 = 2;
    p_state_dict(&p, "w", &t);
    write_torch_zip(path, &p, 48);
    expect_error("non-contiguous view", path, SLM_ERR_UNSUPPORTED, "not contiguous");
    free(p.data);
}

static void test_unknown_opcode(void) {
    char path[128];
    bytes p = {0};
    put(&p, "\x80\x02", 2);
    put_u8(&p, 0x93); /* STACK_GLOBAL */
    put_u8(&p, '.');
    write_torch_zip(tmp_path(path, sizeof path, "opcode.bin"), &p, 0);
    expect_error("unknown opcode", path, SLM_ERR_UNSUPPORTED, "opcode 0x93");
    free(p.data);
}

static void test_truncated_pickle(void) {
    char path[128];
    bytes p = {0};
    p_state_dict(&p, "w", &good);
    for (size_t cut = 1; cut < p.len; cut += 7) {
        bytes q = {p.data, cut, cut};
        write_torch_zip(tmp_path(path, sizeof path, "truncated.bin"), &q, 48);
        slm_error err = {0};
        slm_weights *w = slm_torch_bin_open(path, &err);
        CHECK(w == NULL && err.status == SLM_ERR_FORMAT && strstr(err.message, "truncated"),
              "pickle cut at %zu: %s", cut, err.message);
        slm_weights_free(w);
    }
    bytes q = {p.data, p.len / 2, p.len / 2};
    write_torch_zip(path, &q, 48);
    expect_error("truncated pickle", path, SLM_ERR_FORMAT, "truncated");
    free(p.data);
}

static void test_zip_escape(void) {
    char path[128];
    bytes p = {0};
    p_state_dict(&p, "w", &good);
    zip_member m[] = {{"archive/data.pkl", p.data, p.len, 0, 0}, {"../evil", "x", 1, 0, 0}};
    write_zip(tmp_path(path, sizeof path, "escape.bin"), m, 2);
    expect_error("zip entry ../evil", path, SLM_ERR_FORMAT, "\"../evil\"");
    m[1].name = "/etc/evil";
    write_zip(path, m, 2);
    expect_error("zip entry /etc/evil", path, SLM_ERR_FORMAT, "escapes");
    m[1].name = "archive/../../evil";
    write_zip(path, m, 2);
    expect_error("zip entry a/../../evil", path, SLM_ERR_FORMAT, "escapes");
    free(p.data);
}

static void test_zip_lies(void) {
    char path[128];
    bytes p = {0};
    p_state_dict(&p, "w", &good);
    uint8_t storage[48] = {0};
    zip_member m[] = {{"archive/data.pkl", p.data, p.len, 0, 0}, {"archive/data/0", storage, 48, 0, 5}};
    write_zip(tmp_path(path, sizeof path, "lies.bin"), m, 2);
    expect_error("central offset lies", path, SLM_ERR_FORMAT, "is not a local header");
    m[1].offset_lie = 1 << 20;
    write_zip(path, m, 2);
    expect_error("central offset past the file", path, SLM_ERR_FORMAT, "is not a local header");
    /* The end record points the directory past the file. */
    m[1].offset_lie = 0;
    write_zip(path, m, 2);
    bytes z = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        uint8_t buf[4096];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0) put(&z, buf, got);
        fclose(f);
    }
    if (z.len > 22) {
        z.data[z.len - 22 + 16] ^= 0x40; /* directory offset */
        write_file(path, &z);
        expect_error("directory offset lies", path, SLM_ERR_FORMAT, "central");
        z.data[z.len - 22 + 16] ^= 0x40;
        z.len -= 5; /* cut into the end record */
        write_file(path, &z);
        expect_error("truncated zip", path, SLM_ERR_FORMAT, "end-of-central-directory");
    }
    free(z.data);
    free(p.data);
}

static void test_compressed_entry(void) {
    char path[128];
    bytes p = {0};
    p_state_dict(&p, "w", &good);
    uint8_t storage[48] = {0};
    zip_member m[] = {{"archive/data.pkl", p.data, p.len, 0, 0}, {"archive/data/0", storage, 48, 8, 0}};
    write_zip(tmp_path(path, sizeof path, "compressed.bin"), m, 2);
    expect_error("compressed entry", path, SLM_ERR_UNSUPPORTED, "archive/data/0 is compressed (method 8)");
    free(p.data);
}

static void test_not_a_checkpoint(void) {
    char path[128];
    bytes p = {0};
    put_str(&p, "hello, not a checkpoint");
    write_file(tmp_path(path, sizeof path, "text.bin"), &p);
    expect_error("not a checkpoint", path, SLM_ERR_FORMAT, "not a PyTorch checkpoint");
    /* A zip without data.pkl. */
    zip_member m[] = {{"archive/other", "x", 1, 0, 0}};
    write_zip(path, m, 1);
    expect_error("zip without data.pkl", path, SLM_ERR_FORMAT, "data.pkl");
    /* A state dict whose tensor's storage entry is missing. */
    p.len = 0;
    p_state_dict(&p, "w", &good);
    zip_member n[] = {{"archive/data.pkl", p.data, p.len, 0, 0}};
    write_zip(path, n, 1);
    expect_error("missing storage entry", path, SLM_ERR_FORMAT, "no entry archive/data/0");
    free(p.data);
}

static void remove_tmp_dir(void) {
    static const char *names[] = {"good.bin", "hostile.bin", "legacy_hostile.bin", "reduce.bin", "past_end.bin",
                                  "opcode.bin", "truncated.bin", "escape.bin", "lies.bin", "compressed.bin",
                                  "text.bin", "wrong.index.json", "escape.index.json", "pwned"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(tmp_path(path, sizeof path, names[i]));
    CHECK(rmdir(tmp_dir) == 0, "remove %s (left a file behind?)", tmp_dir);
}

int main(void) {
    test_same_tensors("fixtures/gpt2_tiny/lm_bin_zip/pytorch_model.bin", "fixtures/gpt2_tiny/lm");
    test_same_tensors("fixtures/gpt2_tiny/lm_bin_legacy/pytorch_model.bin", "fixtures/gpt2_tiny/lm");
    test_same_tensors("fixtures/bert_tiny/mlm_bin_gamma_beta", "fixtures/bert_tiny/mlm");
    test_decoder_logits("fixtures/gpt2_tiny/lm_bin_zip");
    test_decoder_logits("fixtures/gpt2_tiny/lm_bin_legacy");
    test_encoder_logits("fixtures/bert_tiny/mlm_bin_gamma_beta");

    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/slm_torch_bin_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_handmade_zip();
    test_sharded_index();
    test_hostile_global("os", "system");
    test_hostile_global("posix", "system");
    test_hostile_global("builtins", "eval");
    test_hostile_legacy();
    test_reduce_unknown_callable();
    test_storage_past_end();
    test_unknown_opcode();
    test_truncated_pickle();
    test_zip_escape();
    test_zip_lies();
    test_compressed_entry();
    test_not_a_checkpoint();
    remove_tmp_dir();
    TEST_END();
}
