/* test_batch_decode.c — slm_session_forward_batch, the batched decode step the server's
 * continuous batching runs on. For GPT-2, Llama and Phi fixtures, several sessions at
 * different positions (staggered starts, a shorter prompt, different context sizes,
 * the leading session changing from step to step; up to 7 rows, so both of slm_matmul's
 * regimes, decode for T <= 4 and packed tiles above, are used) advance together, and every row's
 * logits are checked two ways:
 *   - against Hugging Face's own greedy-decoding step logits (gen.manual_cache.step_logits
 *     in the fixture's outputs.safetensors, written by transformers), atol 1e-4 + rtol 1e-4;
 *   - against the same session stepped alone with slm_session_forward (itself checked
 *     against transformers by test_models), within 1e-4 relative (1e-4 absolute near 0).
 * Then the argument errors: a repeated session, a full one, an id outside the
 * vocabulary, an encoder, sessions of two models. */
#include "fixture.h"

enum { N_SESSIONS = 7, MAX_STEPS = 64 };

/* One sequence under test: its batched session, its solo twin, where it is in its script. */
typedef struct {
    slm_session *batched, *solo;
    const int32_t *script; /* tokens to feed, in order */
    int n_script, done;    /* fed so far */
    int start;             /* global step at which it starts feeding */
    int hf_steps;          /* steps with a transformers reference (0: none) */
    float *logits;         /* (n_vocab) the latest batched logits */
} sequence;

static int32_t *int_ids(const fixture *f, const char *name, size_t *n) {
    const slm_tensor_view *t = slm_weights_find(f->inputs, name);
    if (!t) t = slm_weights_find(f->outputs, name);
    if (!t || t->dtype != SLM_DTYPE_I64) return NULL;
    *n = (size_t)slm_tensor_numel(t);
    int32_t *ids = malloc(*n * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)((const int64_t *)t->data)[i];
    return ids;
}

static slm_session *session_with_ctx(const slm_model *m, int n_ctx) {
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = 2;
    sp.n_ctx = n_ctx;
    slm_error err;
    slm_session *s = slm_session_new(m, &sp, &err);
    CHECK(s != NULL, "session of %d positions: %s", n_ctx, err.message);
    return s;
}

/* Worst |a - b| / (1e-4 (1 + |b|)) over n values: <= 1 means within tolerance. */
static double relative_excess(const float *a, const float *b, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (1e-4 * (1.0 + fabs(b[i])));
        if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

static double hf_excess(const float *got, const float *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double r = fabs((double)got[i] - want[i]) / (1e-4 + 1e-4 * fabs(want[i]));
        if (!(r <= worst)) worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

/* Prefills both twins with prompt (n tokens); the batched one keeps its last logits. */
static int prefill(sequence *q, const int32_t *prompt, size_t n, int n_vocab) {
    float *all = malloc(n * n_vocab * sizeof(float));
    slm_error err;
    int ok = all && slm_session_forward(q->batched, prompt, n, SLM_OUTPUT_LOGITS, all, &err) == SLM_OK &&
             slm_session_forward(q->solo, prompt, n, SLM_OUTPUT_LOGITS, NULL, &err) == SLM_OK;
    CHECK(ok, "prefill of %zu tokens: %s", n, err.message);
    if (ok) memcpy(q->logits, all + (n - 1) * n_vocab, n_vocab * sizeof(float));
    free(all);
    return ok;
}

/* Runs the staggered schedule: at each global step every started, unfinished sequence
 * feeds its next token, all in one batched call (leader rotating), and each twin alone. */
static void run_schedule(const fixture *f, sequence *seqs, int n_seqs, int n_vocab, const float *hf_steps) {
    double worst_solo = 0, worst_hf = 0;
    int steps_batched = 0, max_rows = 0, calls_ok = 1, positions_ok = 1;
    slm_session *batch[N_SESSIONS];
    int32_t ids[N_SESSIONS];
    int member[N_SESSIONS];
    float *out = malloc((size_t)N_SESSIONS * n_vocab * sizeof(float));
    float *solo = malloc((size_t)n_vocab * sizeof(float));
    for (int g = 0; g < MAX_STEPS && out && solo; g++) {
        int n = 0;
        for (int k = 0; k < n_seqs; k++) {
            int j = (k + g) % n_seqs; /* a different leader each step */
            sequence *q = &seqs[j];
            if (g < q->start || q->done >= q->n_script) continue;
            /* The logits about to be replaced answer step q->done of the reference. */
            if (q->done < q->hf_steps) {
                double e = hf_excess(q->logits, hf_steps + (size_t)q->done * n_vocab, n_vocab);
                worst_hf = e > worst_hf ? e : worst_hf;
            }
            batch[n] = q->batched;
            ids[n] = q->script[q->done];
            member[n++] = j;
        }
        if (n == 0) continue;
        max_rows = n > max_rows ? n : max_rows;
        slm_error err;
        if (slm_session_forward_batch(batch, ids, n, out, &err) != SLM_OK) {
            CHECK(0, "%s: batched step %d of %d sessions: %s", f->name, g, n, err.message);
            calls_ok = 0;
            break;
        }
        steps_batched++;
        for (int r = 0; r < n; r++) {
            sequence *q = &seqs[member[r]];
            memcpy(q->logits, out + (size_t)r * n_vocab, n_vocab * sizeof(float));
            if (slm_session_forward(q->solo, &ids[r], 1, SLM_OUTPUT_LOGITS, solo, &err) != SLM_OK) {
                CHECK(0, "%s: solo step: %s", f->name, err.message);
                calls_ok = 0;
                continue;
            }
            double e = relative_excess(q->logits, solo, n_vocab);
            worst_solo = e > worst_solo ? e : worst_solo;
            positions_ok &= slm_session_n_past(q->batched) == slm_session_n_past(q->solo);
            q->done++;
        }
    }
    CHECK(calls_ok && steps_batched > 0 && max_rows >= 5, "%s: %d batched steps, up to %d rows at once", f->name,
          steps_batched, max_rows);
    CHECK(positions_ok, "%s: each batched session's n_past advances by one per step", f->name);
    CHECK(worst_solo <= 1, "%s: batched logits = each session alone (worst %.3g of the 1e-4 tolerance)", f->name,
          worst_solo);
    CHECK(worst_hf <= 1, "%s: batched logits = transformers' step logits (worst %.3g of the tolerance)", f->name,
          worst_hf);
    printf("%s: worst %.3g solo, %.3g hf\n", f->name, worst_solo, worst_hf);
    free(out);
    free(solo);
}

static void check_case(const char *name) {
    fixture f;
    if (!open_fixture_files(&f, name)) return;
    slm_model *m = load_fixture_model(&f, "lm");
    size_t n_prompt = 0, n_tokens = 0;
    int32_t *prompt = int_ids(&f, "prompt.input_ids", &n_prompt);
    int32_t *tokens = int_ids(&f, "gen.manual_cache.tokens", &n_tokens);
    const slm_tensor_view *steps = slm_weights_find(f.outputs, "gen.manual_cache.step_logits");
    CHECK(m && prompt && tokens && steps && n_prompt >= 2 && n_tokens >= 2, "%s: model, prompt and greedy steps",
          name);
    if (m && prompt && tokens && steps && n_prompt >= 2 && n_tokens >= 2) {
        slm_model_info info = slm_model_get_info(m);
        int nv = info.n_vocab;
        /* Feeding the reference's greedy token k gives the logits of its step k + 1. */
        sequence seqs[N_SESSIONS];
        memset(seqs, 0, sizeof seqs);
        int ctx[N_SESSIONS] = {(int)(n_prompt + n_tokens), 0, (int)(n_prompt + n_tokens) + 3, 0, 0, 0, 0};
        int ok = 1;
        for (int j = 0; j < N_SESSIONS; j++) {
            sequence *q = &seqs[j];
            q->batched = session_with_ctx(m, ctx[j]);
            q->solo = session_with_ctx(m, ctx[j]);
            q->logits = malloc((size_t)nv * sizeof(float));
            q->start = j / 2; /* staggered: at any step the sequences sit at different positions */
            ok &= q->batched && q->solo && q->logits;
        }
        for (int j = 0; ok && j < N_SESSIONS; j++) {
            sequence *q = &seqs[j];
            if (j < N_SESSIONS - 1) {
                q->script = tokens;
                q->n_script = (int)n_tokens - 1; /* the last token's logits have no reference */
                q->hf_steps = (int)n_tokens;
                ok &= prefill(q, prompt, n_prompt, nv);
            } else { /* a shorter prompt, then the whole prompt again as its script: no HF reference */
                q->script = prompt;
                q->n_script = (int)n_prompt;
                ok &= prefill(q, prompt, n_prompt / 2, nv);
            }
        }
        if (ok) run_schedule(&f, seqs, N_SESSIONS, nv, steps->data);
        for (int j = 0; j < N_SESSIONS; j++) {
            slm_session_free(seqs[j].batched);
            slm_session_free(seqs[j].solo);
            free(seqs[j].logits);
        }
    }
    free(prompt);
    free(tokens);
    slm_model_free(m);
    close_fixture(&f);
}

static void expect_error(slm_session *const *sessions, const int32_t *ids, int n, float *out, slm_status status,
                         const char *needle, const char *what) {
    slm_error err = {0};
    slm_status st = slm_session_forward_batch(sessions, ids, n, out, &err);
    CHECK(st == status && strstr(err.message, needle) != NULL, "%s: %s naming \"%s\": got %s \"%s\"", what,
          slm_status_name(status), needle, slm_status_name(st), err.message);
}

static void check_errors(void) {
    char path[512];
    slm_model *gpt2 = load_model(test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"));
    slm_model *llama = load_model(test_path(path, sizeof path, "fixtures/llama_tied_mha/lm"));
    slm_model *bert = load_model(test_path(path, sizeof path, "fixtures/bert_tiny/model"));
    if (!gpt2 || !llama || !bert) goto done;
    slm_session *a = session_with_ctx(gpt2, 2), *b = session_with_ctx(gpt2, 0);
    slm_session *c = session_with_ctx(llama, 0), *e = open_session(bert, 1);
    int nv = slm_model_get_info(gpt2).n_vocab;
    float *out = malloc(4 * (size_t)nv * sizeof(float));
    if (a && b && c && e && out) {
        slm_session *same[2] = {a, a}, *mixed[2] = {b, c}, *enc[1] = {e}, *pair[2] = {a, b};
        int32_t ids[2] = {1, 2}, bad[2] = {1, nv};
        expect_error(same, ids, 2, out, SLM_ERR_INVALID_ARGUMENT, "sessions[1] is sessions[0]", "a session twice");
        expect_error(mixed, ids, 2, out, SLM_ERR_INVALID_ARGUMENT, "another model", "two models");
        expect_error(enc, ids, 1, out, SLM_ERR_INVALID_ARGUMENT, "encoder", "an encoder session");
        expect_error(pair, bad, 2, out, SLM_ERR_INVALID_ARGUMENT, "sessions[1]: token id", "an id outside the vocabulary");
        expect_error(pair, ids, 0, out, SLM_ERR_INVALID_ARGUMENT, "n: 0", "no sessions");
        slm_error err;
        CHECK(slm_session_forward_batch(pair, ids, 2, out, &err) == SLM_OK, "two sessions: %s", err.message);
        CHECK(slm_session_forward_batch(pair, ids, 2, out, &err) == SLM_OK, "again: %s", err.message);
        /* a has n_ctx 2 and now holds 2 tokens. */
        expect_error(pair, ids, 2, out, SLM_ERR_CONTEXT_FULL, "sessions[0]", "a full session");
        CHECK(slm_session_n_past(b) == 2, "a failed step leaves the other sessions where they were");
    }
    free(out);
    slm_session_free(a);
    slm_session_free(b);
    slm_session_free(c);
    slm_session_free(e);
done:
    slm_model_free(gpt2);
    slm_model_free(llama);
    slm_model_free(bert);
}

int main(void) {
    static const char *cases[] = {"gpt2_tiny", "gpt2_odd", "llama_stories_like", "llama_tied_mha",
                                  "llama_untied_gqa_odd", "phi_tiny", "phi_odd"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(cases[i]);
    check_errors();
    TEST_END();
}
