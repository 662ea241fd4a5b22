/* test_model_errors.c — checkpoints that lie or that slm does not handle give a
 * clear error naming the file and tensor, never a crash. Each case edits a copy
 * of a real fixture's config.json in a temporary folder. */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "slm.h"

static char tmpdir[] = "/tmp/slm-model-errors-XXXXXX";

/* A folder holding gpt2_tiny's weights (symlinked) and a config edited by `edit`. */
static const char *variant(const char *name, const char *source, void (*edit)(json_t *cfg)) {
    static char dir[512];
    char src[512], path[1024], rel[256];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    if (mkdir(dir, 0700) != 0) return NULL;
    snprintf(rel, sizeof rel, "fixtures/%s/model.safetensors", source);
    char *abs = realpath(test_path(src, sizeof src, rel), NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!abs || symlink(abs, path) != 0) {
        free(abs);
        return NULL;
    }
    free(abs);
    snprintf(rel, sizeof rel, "fixtures/%s/config.json", source);
    json_t *cfg = json_load_file(test_path(src, sizeof src, rel), 0, NULL);
    if (!cfg) return NULL;
    edit(cfg);
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_dump_file(cfg, path, 0);
    json_decref(cfg);
    return dir;
}

static void wider(json_t *c) { json_object_set_new(c, "n_embd", json_integer(96)); }
static void more_layers(json_t *c) { json_object_set_new(c, "n_layer", json_integer(3)); }
static void unknown_arch(json_t *c) { json_object_set_new(c, "model_type", json_string("mamba9")); }
static void no_type(json_t *c) {
    json_object_del(c, "model_type");
    json_object_del(c, "architectures");
}
static void bad_heads(json_t *c) { json_object_set_new(c, "n_head", json_integer(5)); }
static void string_vocab(json_t *c) { json_object_set_new(c, "vocab_size", json_string("1000")); }
static void bad_activation(json_t *c) { json_object_set_new(c, "activation_function", json_string("swish9")); }
static void llama_kv(json_t *c) { json_object_set_new(c, "num_key_value_heads", json_integer(3)); }
static void llama_rope(json_t *c) {
    json_t *r = json_object();
    json_object_set_new(r, "rope_type", json_string("yarn"));
    json_object_set_new(c, "rope_parameters", r);
}

static void expect_failure(const char *what, const char *dir, slm_status status, const char *needle) {
    slm_error err = {0};
    CHECK(dir != NULL, "%s: test folder created", what);
    if (!dir) return;
    slm_model *m = slm_model_load(dir, NULL, &err);
    CHECK(m == NULL, "%s: load fails", what);
    CHECK(err.status == status, "%s: status %s (%s)", what, slm_status_name(err.status), err.message);
    CHECK(strstr(err.message, needle) != NULL, "%s: message names \"%s\": %s", what, needle, err.message);
    slm_model_free(m);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp");
        TEST_END();
    }
    expect_failure("config wider than tensors", variant("wider", "gpt2_tiny/lm", wider), SLM_ERR_FORMAT, "wte.weight: shape [1000, 64] expected [1000, 96]");
    expect_failure("config with more layers", variant("layers", "gpt2_tiny/lm", more_layers), SLM_ERR_FORMAT, "missing tensor transformer.h.2.ln_1.weight");
    expect_failure("unknown architecture", variant("arch", "gpt2_tiny/lm", unknown_arch), SLM_ERR_UNSUPPORTED, "mamba9");
    expect_failure("no model_type", variant("notype", "gpt2_tiny/lm", no_type), SLM_ERR_UNSUPPORTED, "unknown architecture");
    expect_failure("heads not dividing width", variant("heads", "gpt2_tiny/lm", bad_heads), SLM_ERR_FORMAT, "n_head 5");
    expect_failure("vocab_size not a number", variant("vocab", "gpt2_tiny/lm", string_vocab), SLM_ERR_FORMAT, "vocab_size");
    expect_failure("unknown activation", variant("act", "gpt2_tiny/lm", bad_activation), SLM_ERR_UNSUPPORTED, "swish9");
    expect_failure("kv heads not dividing heads", variant("kv", "llama_tied_mha/lm", llama_kv), SLM_ERR_FORMAT, "key/value heads");
    expect_failure("unsupported rope scaling", variant("rope", "llama_tied_mha/lm", llama_rope), SLM_ERR_UNSUPPORTED, "yarn");
    expect_failure("missing folder", "/nonexistent/model", SLM_ERR_IO, "/nonexistent/model");
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", tmpdir);
    mkdir(empty, 0700);
    expect_failure("folder without config", empty, SLM_ERR_IO, "config.json");

    /* Token ids outside the vocabulary and requests past the context. */
    char path[512];
    slm_error err;
    slm_model *m = slm_model_load(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"), NULL, &err);
    CHECK(m != NULL, "gpt2_tiny loads: %s", err.message);
    if (m) {
        slm_session_params sp = slm_session_default_params();
        sp.n_ctx = 4;
        slm_session *s = slm_session_new(m, &sp, &err);
        int32_t ids[5] = {1, 2, 1000, 3, 4};
        float logits[5 * 1000];
        CHECK(slm_session_forward(s, ids, 3, SLM_OUTPUT_LOGITS, logits, &err) == SLM_ERR_INVALID_ARGUMENT &&
                  strstr(err.message, "1000"), "token id outside vocabulary: %s", err.message);
        ids[2] = 5;
        CHECK(slm_session_forward(s, ids, 5, SLM_OUTPUT_LOGITS, logits, &err) == SLM_ERR_CONTEXT_FULL,
              "more tokens than the context: %s", err.message);
        sp.n_ctx = 100000;
        CHECK(slm_session_new(m, &sp, &err) == NULL && err.status == SLM_ERR_INVALID_ARGUMENT, "n_ctx beyond training: %s", err.message);
        slm_session_free(s);
        slm_model_free(m);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0, "cleanup");
    TEST_END();
}
