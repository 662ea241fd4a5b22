/* test_text_stream.c — what the text stream lets through, push by push. */
#include <stdint.h>

#include "check.h"
#include "tasks/text_stream.h"

/* What the callback saw. */
typedef struct {
    char text[4096];
    size_t len;
    int calls;
    int stop_after; /* return 1 on this call (1-based); 0 = never */
    int bad_pieces; /* pieces that were not complete, valid UTF-8 */
} sink;

/* An independent check of well-formed UTF-8 (Unicode table 3-7). */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b < 0x80) len = 1;
        else if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b == 0xE0) len = 3, lo = 0xA0;
        else if (b == 0xED) len = 3, hi = 0x9F;
        else if (b >= 0xE1 && b <= 0xEF) len = 3;
        else if (b == 0xF0) len = 4, lo = 0x90;
        else if (b == 0xF4) len = 4, hi = 0x8F;
        else if (b >= 0xF1 && b <= 0xF3) len = 4;
        else return 0;
        if (i + len > n) return 0;
        for (size_t j = 1; j < len; j++) {
            unsigned char c = s[i + j];
            unsigned char l = j == 1 ? lo : 0x80, h = j == 1 ? hi : 0xBF;
            if (c < l || c > h) return 0;
        }
        i += len;
    }
    return 1;
}

static int on_piece(const char *piece, size_t len, void *user_data) {
    sink *k = user_data;
    k->calls++;
    if (len == 0 || !valid_utf8((const unsigned char *)piece, len)) k->bad_pieces++;
    if (k->len + len < sizeof k->text) {
        memcpy(k->text + k->len, piece, len);
        k->len += len;
        k->text[k->len] = '\0';
    }
    return k->stop_after && k->calls == k->stop_after;
}

static slm_text_stream *open_stream(sink *k, const char *const *stop, int n_stop) {
    memset(k, 0, sizeof *k);
    slm_error err = {0};
    slm_text_stream *ts = slm_text_stream_new(stop, n_stop, on_piece, k, &err);
    if (!ts) CHECK(ts != NULL, "text_stream_new: %s", err.message);
    return ts;
}

static slm_stream_state push(slm_text_stream *ts, const char *s) { return slm_text_stream_push(ts, s, strlen(s)); }

/* The callback's text and slm_text_stream_text agree and equal want. */
static void expect_text(const char *what, const sink *k, const slm_text_stream *ts, const char *want) {
    size_t len = 0;
    const char *all = slm_text_stream_text(ts, &len);
    CHECK(k->len == strlen(want) && memcmp(k->text, want, k->len) == 0, "%s: callback saw \"%s\", want \"%s\"",
          what, k->text, want);
    CHECK(len == strlen(want) && strcmp(all, want) == 0, "%s: stream text \"%s\", want \"%s\"", what, all, want);
    CHECK(k->bad_pieces == 0, "%s: %d pieces were empty or not valid UTF-8", what, k->bad_pieces);
}

static void test_utf8_split(void) {
    sink k;
    slm_text_stream *ts = open_stream(&k, NULL, 0);
    if (!ts) return;
    CHECK(push(ts, "\xC3") == SLM_STREAM_CONTINUE, "first byte of é");
    CHECK(k.calls == 0 && k.len == 0, "half an é was emitted");
    push(ts, "\xA9");
    expect_text("é in two pushes", &k, ts, "\xC3\xA9");
    push(ts, "\xF0");
    CHECK(k.len == 2, "the first byte of an emoji was emitted");
    push(ts, "\x9F\x98\x80");
    expect_text("emoji 1+3", &k, ts, "\xC3\xA9\xF0\x9F\x98\x80");
    push(ts, "\xE2\x82");
    CHECK(k.len == 6, "two bytes of € were emitted");
    push(ts, "\xAC ok");
    CHECK(slm_text_stream_finish(ts) == SLM_STREAM_CONTINUE, "finish");
    expect_text("€ 2+1", &k, ts, "\xC3\xA9\xF0\x9F\x98\x80\xE2\x82\xAC ok");
    slm_text_stream_free(ts);
}

static void test_stop_split(void) {
    const char *stop[] = {"o w"};
    sink k;
    slm_text_stream *ts = open_stream(&k, stop, 1);
    if (!ts) return;
    CHECK(push(ts, "Hel") == SLM_STREAM_CONTINUE, "Hel");
    expect_text("Hel", &k, ts, "Hel");
    CHECK(push(ts, "lo wor") == SLM_STREAM_STOP_STRING, "lo wor should hit the stop string");
    expect_text("Hel + lo wor", &k, ts, "Hell");
    CHECK(push(ts, "ld") == SLM_STREAM_STOP_STRING, "stays stopped");
    CHECK(slm_text_stream_finish(ts) == SLM_STREAM_STOP_STRING, "finish after stop");
    expect_text("after stop", &k, ts, "Hell");
    slm_text_stream_free(ts);

    /* the stop string split across three pushes, one character each */
    ts = open_stream(&k, stop, 1);
    if (!ts) return;
    push(ts, "Hello");
    expect_text("Hello holds o", &k, ts, "Hell");
    push(ts, " ");
    expect_text("Hello_ holds o_", &k, ts, "Hell");
    CHECK(push(ts, "w") == SLM_STREAM_STOP_STRING, "o + _ + w");
    expect_text("one by one", &k, ts, "Hell");
    slm_text_stream_free(ts);
}

static void test_partial_released(void) {
    const char *stop[] = {"o w"};
    sink k;
    slm_text_stream *ts = open_stream(&k, stop, 1);
    if (!ts) return;
    push(ts, "Hello");
    push(ts, " ");
    CHECK(push(ts, "x") == SLM_STREAM_CONTINUE, "o x is not a stop");
    expect_text("released", &k, ts, "Hello x");
    push(ts, "oo");
    expect_text("holds the last o only", &k, ts, "Hello xo");
    push(ts, "!");
    expect_text("o!", &k, ts, "Hello xoo!");
    slm_text_stream_free(ts);

    /* a held prefix that stops matching one stop may still match another */
    const char *two[] = {"abc", "bd"};
    ts = open_stream(&k, two, 2);
    if (!ts) return;
    push(ts, "xab");
    expect_text("holds ab", &k, ts, "x");
    CHECK(push(ts, "d") == SLM_STREAM_STOP_STRING, "abd contains bd");
    expect_text("bd inside abd", &k, ts, "xa");
    slm_text_stream_free(ts);
}

static void test_several_stops(void) {
    const char *stop[] = {"END", "\n\n"};
    sink k;
    slm_text_stream *ts = open_stream(&k, stop, 2);
    if (!ts) return;
    push(ts, "abc\n");
    expect_text("holds newline", &k, ts, "abc");
    CHECK(push(ts, "\nmore END") == SLM_STREAM_STOP_STRING, "blank line");
    expect_text("two stops", &k, ts, "abc");
    slm_text_stream_free(ts);

    /* the earliest match wins, whatever the order of the list */
    const char *later_first[] = {"xyz", "b"};
    ts = open_stream(&k, later_first, 2);
    if (!ts) return;
    CHECK(push(ts, "abxyz") == SLM_STREAM_STOP_STRING, "earliest");
    expect_text("earliest", &k, ts, "a");
    slm_text_stream_free(ts);

    const char *overlap[] = {"abcd", "bce"};
    ts = open_stream(&k, overlap, 2);
    if (!ts) return;
    push(ts, "ab");
    push(ts, "c");
    expect_text("abc held", &k, ts, "");
    CHECK(push(ts, "e") == SLM_STREAM_STOP_STRING, "bce");
    expect_text("overlap", &k, ts, "a");
    slm_text_stream_free(ts);
}

static void test_stop_at_start(void) {
    const char *stop[] = {"STOP"};
    sink k;
    slm_text_stream *ts = open_stream(&k, stop, 1);
    if (!ts) return;
    CHECK(push(ts, "STOP and more") == SLM_STREAM_STOP_STRING, "stop at start");
    CHECK(k.calls == 0, "callback called %d times for nothing", k.calls);
    expect_text("stop at start", &k, ts, "");
    slm_text_stream_free(ts);
}

static void test_empty_stop_ignored(void) {
    const char *stop[] = {"", "x"};
    sink k;
    slm_text_stream *ts = open_stream(&k, stop, 2);
    if (!ts) return;
    CHECK(push(ts, "ab") == SLM_STREAM_CONTINUE, "empty stop matched");
    expect_text("empty stop", &k, ts, "ab");
    slm_text_stream_free(ts);
}

static void test_caller_stop(void) {
    sink k;
    slm_text_stream *ts = open_stream(&k, NULL, 0);
    if (!ts) return;
    k.stop_after = 2;
    CHECK(push(ts, "one ") == SLM_STREAM_CONTINUE, "first piece");
    CHECK(push(ts, "two ") == SLM_STREAM_CALLER_STOP, "callback returned 1");
    CHECK(push(ts, "three") == SLM_STREAM_CALLER_STOP, "stays stopped");
    CHECK(slm_text_stream_finish(ts) == SLM_STREAM_CALLER_STOP, "finish after caller stop");
    CHECK(k.calls == 2, "callback called %d times", k.calls);
    expect_text("caller stop", &k, ts, "one two ");
    slm_text_stream_free(ts);
}

static void test_invalid_bytes(void) {
    struct {
        const char *in, *out;
    } cases[] = {
        {"a\x80" "b", "a\xEF\xBF\xBD" "b"},                       /* lone continuation */
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong lead, then a continuation */
        {"\xE2\x82" "A", "\xEF\xBF\xBD" "A"},                     /* truncated, one U+FFFD */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
        {"\xF5z", "\xEF\xBF\xBDz"},                               /* beyond U+10FFFF */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xFF", "\xEF\xBF\xBD"},
        {"\xC3\xC3\xA9", "\xEF\xBF\xBD\xC3\xA9"}, /* a new lead breaks the first */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sink k;
        slm_text_stream *ts = open_stream(&k, NULL, 0);
        if (!ts) return;
        push(ts, cases[i].in);
        slm_text_stream_finish(ts);
        char what[32];
        snprintf(what, sizeof what, "invalid case %zu", i);
        expect_text(what, &k, ts, cases[i].out);
        slm_text_stream_free(ts);
    }
}

static void test_finish(void) {
    sink k;
    slm_text_stream *ts = open_stream(&k, NULL, 0);
    if (!ts) return;
    push(ts, "ab\xC3");
    expect_text("before finish", &k, ts, "ab");
    CHECK(slm_text_stream_finish(ts) == SLM_STREAM_CONTINUE, "finish");
    expect_text("incomplete tail", &k, ts, "ab\xEF\xBF\xBD");
    CHECK(slm_text_stream_finish(ts) == SLM_STREAM_CONTINUE, "finish twice");
    expect_text("finish twice", &k, ts, "ab\xEF\xBF\xBD");
    slm_text_stream_free(ts);

    const char *stop[] = {"xyz"};
    ts = open_stream(&k, stop, 1);
    if (!ts) return;
    push(ts, "abxy");
    expect_text("held xy", &k, ts, "ab");
    slm_text_stream_finish(ts);
    expect_text("flushed xy", &k, ts, "abxy");
    slm_text_stream_free(ts);

    /* a stop string made of a whole multi-byte character */
    const char *accent[] = {"\xC3\xA9!"};
    ts = open_stream(&k, accent, 1);
    if (!ts) return;
    push(ts, "caf\xC3");
    push(ts, "\xA9");
    expect_text("é held as a stop prefix", &k, ts, "caf");
    CHECK(push(ts, "!") == SLM_STREAM_STOP_STRING, "é!");
    expect_text("é!", &k, ts, "caf");
    slm_text_stream_free(ts);

    /* no callback at all */
    ts = slm_text_stream_new(NULL, 0, NULL, NULL, NULL);
    CHECK(ts != NULL, "no callback");
    if (!ts) return;
    push(ts, "quiet");
    slm_text_stream_finish(ts);
    size_t len = 0;
    CHECK(strcmp(slm_text_stream_text(ts, &len), "quiet") == 0 && len == 5, "text without a callback");
    slm_text_stream_free(ts);
}

static void test_bad_arguments(void) {
    slm_error err = {0};
    CHECK(slm_text_stream_new(NULL, -1, NULL, NULL, &err) == NULL && strncmp(err.message, "n_stop:", 7) == 0,
          "n_stop -1: %s", err.message);
    CHECK(slm_text_stream_new(NULL, 1, NULL, NULL, &err) == NULL && strncmp(err.message, "stop:", 5) == 0,
          "stop NULL: %s", err.message);
    const char *stop[] = {"a", NULL};
    CHECK(slm_text_stream_new(stop, 2, NULL, NULL, &err) == NULL && strncmp(err.message, "stop[1]:", 8) == 0,
          "stop[1] NULL: %s", err.message);
    CHECK(err.status == SLM_ERR_INVALID_ARGUMENT, "status %d", err.status);
}

/* Pushing a text in random pieces emits the same as pushing it at once. */
static void test_random_splits(void) {
    const char *text = "Hello w\xC3\xB6rld \xF0\x9F\x98\x80 o wait\x80 the END of it\n\nmore";
    const char *stop_sets[3][2] = {{"o w", "END"}, {"END", "\n\n"}, {"zzz", "\xF0\x9F\x98\x80 o"}};
    size_t n = strlen(text);
    uint64_t x = 2024;
    int mismatches = 0, invalid = 0;
    for (int set = 0; set < 3; set++) {
        sink whole, parts;
        slm_text_stream *ts = open_stream(&whole, stop_sets[set], 2);
        if (!ts) return;
        slm_text_stream_push(ts, text, n);
        slm_stream_state want = slm_text_stream_finish(ts);
        slm_text_stream_free(ts);
        for (int trial = 0; trial < 200; trial++) {
            ts = open_stream(&parts, stop_sets[set], 2);
            if (!ts) return;
            for (size_t at = 0; at < n;) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                size_t step = 1 + (size_t)((x >> 33) % 5);
                if (step > n - at) step = n - at;
                slm_text_stream_push(ts, text + at, step);
                at += step;
            }
            slm_stream_state got = slm_text_stream_finish(ts);
            if (got != want || parts.len != whole.len || memcmp(parts.text, whole.text, whole.len) != 0)
                mismatches++;
            if (parts.bad_pieces) invalid++;
            slm_text_stream_free(ts);
        }
    }
    CHECK(mismatches == 0, "%d split pushes differed from the whole push", mismatches);
    CHECK(invalid == 0, "%d runs emitted a piece that was not valid UTF-8", invalid);

    /* random bytes: whatever comes in, only valid UTF-8 comes out */
    int bad = 0;
    for (int trial = 0; trial < 300; trial++) {
        sink k;
        const char *stop[] = {"\xC3\xA9"};
        slm_text_stream *ts = open_stream(&k, stop, trial % 2);
        if (!ts) return;
        for (int i = 0; i < 40; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            char b[3] = {(char)(x >> 56), (char)(x >> 48), (char)(x >> 40)};
            slm_text_stream_push(ts, b, 1 + (size_t)((x >> 20) % 3));
        }
        slm_text_stream_finish(ts);
        size_t len;
        const char *all = slm_text_stream_text(ts, &len);
        if (k.bad_pieces || !valid_utf8((const unsigned char *)all, len)) bad++;
        slm_text_stream_free(ts);
    }
    CHECK(bad == 0, "%d random byte streams produced invalid UTF-8", bad);
}

int main(void) {
    test_utf8_split();
    test_stop_split();
    test_partial_released();
    test_several_stops();
    test_stop_at_start();
    test_empty_stop_ignored();
    test_caller_stop();
    test_invalid_bytes();
    test_finish();
    test_bad_arguments();
    test_random_splits();
    TEST_END();
}
