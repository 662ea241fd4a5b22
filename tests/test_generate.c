/* test_generate.c — generation end to end on the bundled stories260K model:
 * the greedy story equals llama2.c's published output, seeds are reproducible,
 * stop strings and max_tokens behave, and bad requests give clear errors. */
#include "check.h"
#include "slm.h"

typedef struct {
    char text[16384];
    size_t len;
    int pieces, invalid_utf8;
} sink;

/* 1 when s[0..n) is complete, valid UTF-8. */
static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3 : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
        if (!len || i + len > n) return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

static int on_piece(const char *piece, size_t len, void *user_data) {
    sink *s = user_data;
    if (!valid_utf8((const unsigned char *)piece, len)) s->invalid_utf8++;
    if (s->len + len < sizeof s->text) {
        memcpy(s->text + s->len, piece, len);
        s->len += len;
        s->text[s->len] = '\0';
    }
    s->pieces++;
    return 0;
}

static int stop_after_three(const char *piece, size_t len, void *user_data) {
    on_piece(piece, len, user_data);
    return ((sink *)user_data)->pieces >= 3;
}

static slm_status run(slm_session *session, const char *prompt, slm_generate_params *p, sink *out,
                      slm_generate_result *r, slm_error *err) {
    memset(out, 0, sizeof *out);
    return slm_generate(session, prompt, p, on_piece, out, r, err);
}

static char *read_text(const char *rel) {
    char path[512];
    FILE *f = fopen(test_path(path, sizeof path, rel), "rb");
    if (!f) return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(void) {
    slm_error err;
    slm_model *model = slm_model_load("models/stories260K/stories260K.bin", NULL, &err);
    CHECK(model != NULL, "stories260K loads: %s", err.message);
    if (!model) TEST_END();
    slm_session *session = slm_session_new(model, NULL, &err);
    CHECK(session != NULL, "session: %s", err.message);
    if (!session) TEST_END();
    sink out;
    slm_generate_result r;

    /* Greedy from BOS reproduces run.c's published story: its 256 steps each print one token. */
    slm_generate_params p = slm_generate_default_params();
    p.temperature = 0;
    p.max_tokens = 256;
    slm_status st = run(session, "", &p, &out, &r, &err);
    CHECK(st == SLM_OK, "greedy story: %s", err.message);
    const char *want = read_text("stories260K_greedy.txt");
    CHECK(want != NULL, "reference story present");
    if (want) {
        size_t want_len = strlen(want);
        while (want_len && want[want_len - 1] == '\n') want_len--; /* the published text ends with a newline */
        CHECK(out.len == want_len && memcmp(out.text, want, want_len) == 0, "greedy story equals llama2.c's:\n%s", out.text);
    }
    CHECK(r.n_prompt_tokens == 1, "empty prompt starts from BOS (%d prompt tokens)", r.n_prompt_tokens);
    CHECK(out.invalid_utf8 == 0, "every streamed piece is complete UTF-8");

    /* The same seed gives the same text; another seed a different one. */
    p = slm_generate_default_params();
    p.temperature = 1.0f;
    p.top_p = 0.9f;
    p.seed = 133742;
    p.max_tokens = 60;
    char first[16384];
    run(session, "Once upon a time", &p, &out, &r, &err);
    memcpy(first, out.text, out.len + 1);
    run(session, "Once upon a time", &p, &out, &r, &err);
    CHECK(strcmp(first, out.text) == 0, "same seed, same text");
    p.seed = 7;
    run(session, "Once upon a time", &p, &out, &r, &err);
    CHECK(strcmp(first, out.text) != 0, "another seed, another text");

    /* A stop string ends generation before it, and never shows. */
    p = slm_generate_default_params();
    p.temperature = 0;
    p.max_tokens = 200;
    const char *stops[] = {"Lily"};
    p.stop = stops;
    p.n_stop = 1;
    st = run(session, "", &p, &out, &r, &err);
    CHECK(st == SLM_OK && r.finish_reason == SLM_FINISH_STOP, "stop string finishes with STOP (%d)", (int)r.finish_reason);
    CHECK(strcmp(out.text, "Once upon a time, there was a little girl named ") == 0, "text cut before the stop string: [%s]", out.text);

    /* max_tokens: 0 generates nothing; a huge value is capped by the context. */
    p = slm_generate_default_params();
    p.temperature = 0;
    p.max_tokens = 0;
    st = run(session, "Once", &p, &out, &r, &err);
    CHECK(st == SLM_OK && r.n_generated_tokens == 0 && out.len == 0, "max_tokens 0 generates nothing");
    p.max_tokens = 1 << 30;
    p.ignore_eos = 1;
    st = run(session, "Once", &p, &out, &r, &err);
    CHECK(st == SLM_OK && r.finish_reason == SLM_FINISH_LENGTH, "huge max_tokens: %s", err.message);
    CHECK(r.n_prompt_tokens + r.n_generated_tokens <= slm_session_n_ctx(session),
          "capped by the context: %d + %d <= %d", r.n_prompt_tokens, r.n_generated_tokens, slm_session_n_ctx(session));

    /* The caller can stop the stream. */
    p = slm_generate_default_params();
    p.max_tokens = 50;
    memset(&out, 0, sizeof out);
    st = slm_generate(session, "Once", &p, stop_after_three, &out, &r, &err);
    CHECK(st == SLM_OK && r.finish_reason == SLM_FINISH_CALLER && out.pieces == 3, "callback stops generation");

    /* Bad requests. */
    p = slm_generate_default_params();
    st = run(session, "Once \xff\xfe upon", &p, &out, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "invalid UTF-8 prompt rejected (%s)", err.message);
    p.max_tokens = -1;
    st = run(session, "Once", &p, &out, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "max_tokens"), "negative max_tokens: %s", err.message);
    p = slm_generate_default_params();
    p.top_p = 1.5f;
    st = run(session, "Once", &p, &out, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "top_p"), "top_p 1.5: %s", err.message);
    p = slm_generate_default_params();
    st = slm_generate(session, NULL, &p, on_piece, &out, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "NULL prompt rejected");

    /* A prompt longer than the context is a clear error. */
    slm_session_params sp = slm_session_default_params();
    sp.n_ctx = 16;
    slm_session *small = slm_session_new(model, &sp, &err);
    CHECK(small != NULL, "small session: %s", err.message);
    if (small) {
        static char long_prompt[4096];
        for (int i = 0; i < 100; i++) strcat(long_prompt, "the cat ");
        st = run(small, long_prompt, &p, &out, &r, &err);
        CHECK(st == SLM_ERR_CONTEXT_FULL, "over-long prompt: %s", err.message);
        slm_session_free(small);
    }
    slm_session_free(session);
    slm_model_free(model);
    TEST_END();
}
