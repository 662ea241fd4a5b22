/* test_tasks.c — the encoder tasks (slm_tasks.h). First their pure parts on hand-made
 * numbers, each expectation derived in a comment; then end to end on the fixture models:
 * sentence embeddings against sentence-transformers' own outputs (sbert_minilm), fill-mask,
 * classification and QA against the reference logits of the bert_tiny heads (with the
 * hand-written vocabulary tests/data/tasks/vocab.txt that puts words at the reference ids);
 * then bad input. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "formats/weights.h"
#include "formats/safetensors_write.h"
#include "slm.h"
#include "slm_tasks.h"
#include "tasks/encoder_tasks.h"

static int near(double a, double b, double atol) { return fabs(a - b) <= atol + 1e-4 * fabs(b); }

/* ---- pure parts ---- */

static void test_numerics(void) {
    /* logits [2.0, 0.5] -> softmax: e^1.5 / (e^1.5 + 1) = 4.4817 / 5.4817 = 0.81757 for 0, 0.18243 for 1. */
    float x[2] = {2.0f, 0.5f};
    slm_task_softmax(x, 2);
    CHECK(near(x[0], 0.8175745, 1e-6) && near(x[1], 0.1824255, 1e-6), "softmax [2, 0.5] = %g %g", x[0], x[1]);
    /* sigmoid(0) = 1/2; sigmoid(2) = 1 / (1 + e^-2) = 0.880797. */
    CHECK(near(slm_task_sigmoid(0), 0.5, 1e-7) && near(slm_task_sigmoid(2), 0.8807971, 1e-6), "sigmoid");
    /* top-3 of [0.1, 0.5, 0.3, 0.5, 0.2]: the two 0.5s (index 1 before 3 on the tie), then 0.3 (index 2). */
    float v[5] = {0.1f, 0.5f, 0.3f, 0.5f, 0.2f};
    int32_t idx[5];
    int k = slm_task_top_k(v, 5, 3, idx);
    CHECK(k == 3 && idx[0] == 1 && idx[1] == 3 && idx[2] == 2, "top-3: %d -> %d %d %d", k, idx[0], idx[1], idx[2]);
    CHECK(slm_task_top_k(v, 5, 9, idx) == 5 && idx[4] == 0, "top-k past n gives all n, smallest last");

    /* transformers' function_to_apply: sigmoid for multi-label or a single output, softmax for several labels. */
    CHECK(slm_task_default_function("multi_label_classification", 3) == SLM_SCORES_SIGMOID, "multi-label -> sigmoid");
    CHECK(slm_task_default_function("", 1) == SLM_SCORES_SIGMOID, "one label -> sigmoid");
    CHECK(slm_task_default_function("regression", 1) == SLM_SCORES_SIGMOID, "regression, one output -> sigmoid");
    CHECK(slm_task_default_function("", 2) == SLM_SCORES_SOFTMAX, "two labels -> softmax");
    CHECK(slm_task_default_function("single_label_classification", 5) == SLM_SCORES_SOFTMAX, "single-label -> softmax");

    /* logits [0, 2, 0] -> softmax e^2 / (e^2 + 2) = 0.78699 for label 1, 1 / (e^2 + 2) = 0.10651 for labels 0
     * and 2, which keep their order (stable sort): 1, 0, 2. */
    float logits[3] = {0, 2, 0};
    slm_label_score s[3];
    slm_task_label_scores(logits, 3, SLM_SCORES_SOFTMAX, s);
    CHECK(s[0].label == 1 && s[1].label == 0 && s[2].label == 2, "sorted labels %d %d %d", s[0].label, s[1].label,
          s[2].label);
    CHECK(near(s[0].score, 0.7869860, 1e-6) && near(s[1].score, 0.1065070, 1e-6), "softmax scores %g %g", s[0].score,
          s[1].score);
    /* sigmoid keeps each logit on its own: sigmoid(2) = 0.880797 first, then sigmoid(0) = 0.5 twice. */
    slm_task_label_scores(logits, 3, SLM_SCORES_SIGMOID, s);
    CHECK(s[0].label == 1 && near(s[0].score, 0.8807971, 1e-6) && near(s[2].score, 0.5, 1e-7), "sigmoid scores");
    slm_task_label_scores(logits, 3, SLM_SCORES_NONE, s);
    CHECK(s[0].score == 2.0f && s[1].score == 0.0f, "none: raw logits");
}

static void test_pooling(void) {
    /* One sequence of 3 tokens, d_model 2: h = [[1,2],[3,4],[5,6]], the third token padding. */
    const float h[6] = {1, 2, 3, 4, 5, 6};
    const int32_t mask[3] = {1, 1, 0};
    struct {
        slm_pooling_mode mode;
        float want[2];
        const char *why;
    } cases[] = {
        {SLM_POOL_CLS, {1, 2}, "cls: the first token"},
        {SLM_POOL_MAX, {3, 4}, "max over the two unmasked tokens (the padded 5, 6 ignored)"},
        {SLM_POOL_MEAN, {2, 3}, "mean: (1+3)/2, (2+4)/2"},
        {SLM_POOL_MEAN_SQRT_LEN, {2.8284271f, 4.2426407f}, "sum / sqrt(2): 4/1.41421, 6/1.41421"},
        {SLM_POOL_WEIGHTED_MEAN, {2.3333333f, 3.3333333f}, "weights 1, 2: (1*1+2*3)/3, (1*2+2*4)/3"},
        {SLM_POOL_LAST_TOKEN, {3, 4}, "the last unmasked token is the second"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        slm_pooling p = {1, {cases[i].mode}, 0, 0};
        float out[2];
        slm_pool(&p, h, mask, 1, 3, 2, out);
        CHECK(near(out[0], cases[i].want[0], 1e-6) && near(out[1], cases[i].want[1], 1e-6), "%s: got %g %g",
              cases[i].why, out[0], out[1]);
    }
    /* cls + mean concatenated in that order: [1, 2, 2, 3]. */
    slm_pooling both = {2, {SLM_POOL_CLS, SLM_POOL_MEAN}, 0, 0};
    float out[4];
    slm_pool(&both, h, mask, 1, 3, 2, out);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 2 && out[3] == 3, "cls+mean concatenated: %g %g %g %g", out[0],
          out[1], out[2], out[3]);
    CHECK(slm_pooling_dim(&both, 2) == 4, "two modes double the width");
    /* No mask = all tokens: mean (1+3+5)/3 = 3, (2+4+6)/3 = 4; last token [5, 6]. */
    slm_pooling mean = {1, {SLM_POOL_MEAN}, 0, 0}, last = {1, {SLM_POOL_LAST_TOKEN}, 0, 0};
    slm_pool(&mean, h, NULL, 1, 3, 2, out);
    CHECK(out[0] == 3 && out[1] == 4, "mean without a mask: %g %g", out[0], out[1]);
    slm_pool(&last, h, NULL, 1, 3, 2, out);
    CHECK(out[0] == 5 && out[1] == 6, "last token without a mask");
    /* Left padding [0, 1, 1]: cls takes the first attended token, [3, 4]. */
    const int32_t left[3] = {0, 1, 1};
    slm_pooling cls = {1, {SLM_POOL_CLS}, 0, 0};
    slm_pool(&cls, h, left, 1, 3, 2, out);
    CHECK(out[0] == 3 && out[1] == 4, "cls with left padding: %g %g", out[0], out[1]);
    /* Two sequences: the second (all tokens) starts after the first's width. */
    const float h2[8] = {1, 1, 3, 3, 10, 20, 30, 40};
    const int32_t m2[4] = {1, 1, 1, 1};
    slm_pool(&mean, h2, m2, 2, 2, 2, out);
    CHECK(out[0] == 2 && out[1] == 2 && out[2] == 20 && out[3] == 30, "batched mean: %g %g %g %g", out[0], out[1],
          out[2], out[3]);
}

static void test_best_span(void) {
    /* Five tokens: [CLS], one question token, three context tokens (allowed 0 0 1 1 1).
     * start [5, 9, 1, 2, 0], end [5, 9, 0, 0, 3]. The question token (logit 9) is masked to -10000;
     * [CLS] stays in the softmax: start denominators e^5 + e^1 + e^2 + e^0 = 159.52 -> p_start(2, 3, 4)
     * = 0.017040, 0.046320, 0.006269; end e^5 + 1 + 1 + e^3 = 170.50 -> p_end = 0.005865, 0.005865,
     * 0.117805. The best product with e >= s: s = 3, e = 4: 0.046320 * 0.117805 = 0.0054568. */
    const float start[5] = {5, 9, 1, 2, 0}, end[5] = {5, 9, 0, 0, 3};
    const uint8_t allowed[5] = {0, 0, 1, 1, 1};
    int s = -1, e = -1;
    float score = 0;
    int found = slm_task_best_span(start, end, allowed, 5, 0, 15, &s, &e, &score);
    CHECK(found && s == 3 && e == 4 && near(score, 0.00545676, 1e-7), "best span %d..%d score %g", s, e, score);
    /* max_answer_len 1: only s == e; p_start * p_end: 0.0000999, 0.0002717, 0.0007385 -> token 4. */
    found = slm_task_best_span(start, end, allowed, 5, 0, 1, &s, &e, &score);
    CHECK(found && s == 4 && e == 4 && near(score, 0.00073849, 1e-8), "one-token span %d..%d %g", s, e, score);
    /* All logits equal: every allowed product ties; the first in row-major order wins: (2, 2). */
    const float flat[5] = {0, 0, 0, 0, 0};
    found = slm_task_best_span(flat, flat, allowed, 5, 0, 15, &s, &e, &score);
    CHECK(found && s == 2 && e == 2, "ties: first span %d..%d", s, e);
    /* end before start is never chosen: start peaks at 4, end at 2 -> the best valid span pairs differently. */
    const float st2[5] = {0, 0, -5, -5, 5}, en2[5] = {0, 0, 5, -5, -5};
    found = slm_task_best_span(st2, en2, allowed, 5, 0, 15, &s, &e, &score);
    CHECK(found && e >= s, "span never ends before it starts: %d..%d", s, e);
}

/* ---- NER aggregation ---- */

static const char *const ner_labels[5] = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};

/* "ann smithson visits parisville": tokens ann | smith ##son | visits | paris ##ville, with
 * scores over (O, B-PER, I-PER, B-LOC, I-LOC) chosen so each strategy differs. */
static const float sc_ann[5] = {0.05f, 0.90f, 0.03f, 0.01f, 0.01f};    /* B-PER .9 */
static const float sc_smith[5] = {0.10f, 0.05f, 0.80f, 0.03f, 0.02f};  /* I-PER .8 */
static const float sc_son[5] = {0.60f, 0.05f, 0.30f, 0.03f, 0.02f};    /* O .6 (subword) */
static const float sc_visits[5] = {0.90f, 0.02f, 0.03f, 0.03f, 0.02f}; /* O .9 */
static const float sc_paris[5] = {0.10f, 0.05f, 0.05f, 0.45f, 0.35f};  /* B-LOC .45 */
static const float sc_ville[5] = {0.05f, 0.05f, 0.05f, 0.05f, 0.80f};  /* I-LOC .8 (subword) */

static const slm_ner_token ner_tokens[6] = {
    {"ann", sc_ann, 0, 3, 1, 0},         {"smith", sc_smith, 4, 9, 2, 0},   {"##son", sc_son, 9, 12, 3, 1},
    {"visits", sc_visits, 13, 19, 4, 0}, {"paris", sc_paris, 20, 25, 5, 0}, {"##ville", sc_ville, 25, 30, 6, 1},
};

typedef struct {
    const char *entity;
    double score;
    const char *word;
    int start, end;
} want_entity;

static void check_entities(slm_aggregation agg, const want_entity *want, int n_want, const char *what) {
    slm_entity *got = NULL;
    int n = 0;
    slm_error err;
    slm_status st = slm_task_ner_aggregate(ner_tokens, 6, 5, ner_labels, agg, &got, &n, &err);
    CHECK(st == SLM_OK && n == n_want, "%s: %d entities, want %d", what, n, n_want);
    for (int i = 0; st == SLM_OK && i < n && i < n_want; i++) {
        CHECK(!strcmp(got[i].entity, want[i].entity) && near(got[i].score, want[i].score, 1e-6) &&
                  !strcmp(got[i].word, want[i].word) && got[i].start == want[i].start && got[i].end == want[i].end,
              "%s[%d]: got %s %g \"%s\" %d-%d, want %s %g \"%s\" %d-%d", what, i, got[i].entity, got[i].score,
              got[i].word, got[i].start, got[i].end, want[i].entity, want[i].score, want[i].word, want[i].start,
              want[i].end);
    }
    slm_entities_free(got, n);
}

static void test_ner_aggregation(void) {
    /* none: each token's argmax; the O tokens (##son .6, visits .9) dropped. */
    const want_entity none[] = {{"B-PER", 0.90, "ann", 0, 3},
                                {"I-PER", 0.80, "smith", 4, 9},
                                {"B-LOC", 0.45, "paris", 20, 25},
                                {"I-LOC", 0.80, "##ville", 25, 30}};
    check_entities(SLM_AGGREGATION_NONE, none, 4, "none");
    /* simple: B-PER ann + I-PER smith group (tag PER, smith is I-) -> mean (.9 + .8) / 2 = .85,
     * words joined "ann smith", 0-9; ##son (O) ends it; ##son + visits form an O group, dropped;
     * B-LOC paris + I-LOC ##ville -> LOC (.45 + .8) / 2 = .625, "parisville" (## glued), 20-30. */
    const want_entity simple[] = {{"PER", 0.85, "ann smith", 0, 9}, {"LOC", 0.625, "parisville", 20, 30}};
    check_entities(SLM_AGGREGATION_SIMPLE, simple, 2, "simple");
    /* first: words ann | smithson | visits | parisville take their first token's label:
     * B-PER .9, I-PER .8, O, B-LOC .45 -> PER (.9 + .8) / 2 = .85 "ann smithson" 0-12; LOC .45. */
    const want_entity first[] = {{"PER", 0.85, "ann smithson", 0, 12}, {"LOC", 0.45, "parisville", 20, 30}};
    check_entities(SLM_AGGREGATION_FIRST, first, 2, "first");
    /* average: smithson's mean scores O (.1+.6)/2 = .35, I-PER (.8+.3)/2 = .55 -> I-PER .55;
     * parisville: B-LOC (.45+.05)/2 = .25, I-LOC (.35+.8)/2 = .575 -> I-LOC .575.
     * Groups: PER (.9 + .55) / 2 = .725; LOC .575. */
    const want_entity average[] = {{"PER", 0.725, "ann smithson", 0, 12}, {"LOC", 0.575, "parisville", 20, 30}};
    check_entities(SLM_AGGREGATION_AVERAGE, average, 2, "average");
    /* max: the token with the highest top score decides: smith (.8 > .6) -> I-PER .8;
     * ##ville (.8 > .45) -> I-LOC .8. Groups: PER (.9 + .8) / 2 = .85; LOC .8. */
    const want_entity max[] = {{"PER", 0.85, "ann smithson", 0, 12}, {"LOC", 0.80, "parisville", 20, 30}};
    check_entities(SLM_AGGREGATION_MAX, max, 2, "max");

    /* Two B- tags in a row never merge: B-PER ann, B-PER bob -> two PER groups. */
    const float b1[5] = {0, 1, 0, 0, 0};
    const slm_ner_token two_b[2] = {{"ann", b1, 0, 3, 1, 0}, {"bob", b1, 4, 7, 2, 0}};
    slm_entity *got;
    int n;
    slm_error err;
    CHECK(slm_task_ner_aggregate(two_b, 2, 5, ner_labels, SLM_AGGREGATION_SIMPLE, &got, &n, &err) == SLM_OK && n == 2 &&
              !strcmp(got[0].word, "ann") && !strcmp(got[1].word, "bob"),
          "B- after B- starts a new group");
    slm_entities_free(got, n);
    /* Labels without B-/I- count as I-: "PER", "PER" merge into one group "PER". */
    const char *const plain[2] = {"X", "PER"};
    const float p1[2] = {0.2f, 0.8f};
    const slm_ner_token plain_tokens[2] = {{"new", p1, 0, 3, 1, 0}, {"york", p1, 4, 8, 2, 0}};
    CHECK(slm_task_ner_aggregate(plain_tokens, 2, 2, plain, SLM_AGGREGATION_SIMPLE, &got, &n, &err) == SLM_OK && n == 1 &&
              !strcmp(got[0].entity, "PER") && !strcmp(got[0].word, "new york") && got[0].end == 8,
          "plain labels group like I- tags");
    slm_entities_free(got, n);
    /* No tokens: no entities. */
    CHECK(slm_task_ner_aggregate(NULL, 0, 5, ner_labels, SLM_AGGREGATION_SIMPLE, &got, &n, &err) == SLM_OK && n == 0,
          "no tokens, no entities");
    slm_entities_free(got, n);

    /* The WordPiece decoder: "##" glued, a space before other pieces, " ," -> ",", " n't" -> "n't". */
    const char *const pieces[] = {"hello", ",", "world", "##s", "!", "do", "n't"};
    char *joined = slm_task_join_wordpieces(pieces, 7);
    CHECK(joined && !strcmp(joined, "hello, worlds! don't"), "wordpiece join: \"%s\"", joined ? joined : "(null)");
    free(joined);
    CHECK(slm_aggregation_from_name("average") == SLM_AGGREGATION_AVERAGE && slm_aggregation_from_name("x") == -1,
          "aggregation names");
}

/* ---- end to end ---- */

static char scratch[256];

/* A model folder in the scratch directory: the bert_tiny head's config + weights and the
 * hand-written vocabulary, as symbolic links. */
static const char *task_model(const char *head, char *path, size_t cap) {
    char src[1024], rel[256], *abs;
    snprintf(path, cap, "%s/%s", scratch, head);
    mkdir(path, 0755);
    const char *files[3] = {"config.json", "model.safetensors", NULL};
    for (int i = 0; i < 3; i++) {
        if (files[i]) snprintf(rel, sizeof rel, "fixtures/bert_tiny/%s/%s", head, files[i]);
        else snprintf(rel, sizeof rel, "tasks/vocab.txt");
        abs = realpath(test_path(src, sizeof src, rel), NULL);
        char link[1024];
        snprintf(link, sizeof link, "%s/%s", path, files[i] ? files[i] : "vocab.txt");
        if (abs) (void)!symlink(abs, link);
        free(abs);
    }
    return path;
}

typedef struct {
    slm_model *model;
    slm_session *session;
} loaded;

static int load(loaded *l, const char *path) {
    slm_error err;
    l->session = NULL;
    l->model = slm_model_load(path, NULL, &err);
    CHECK(l->model != NULL, "load %s: %s", path, l->model ? "" : err.message);
    if (!l->model) return 0;
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = 2;
    l->session = slm_session_new(l->model, &sp, &err);
    CHECK(l->session != NULL, "session for %s", path);
    return l->session != NULL;
}

static void unload(loaded *l) {
    slm_session_free(l->session);
    slm_model_free(l->model);
}

static const float *ref_tensor(const slm_weights *w, const char *name, size_t numel) {
    const slm_tensor_view *t = w ? slm_weights_find(w, name) : NULL;
    CHECK(t && t->dtype == SLM_DTYPE_F32 && (size_t)slm_tensor_numel(t) == numel, "reference %s of %zu floats", name,
          numel);
    return t && t->dtype == SLM_DTYPE_F32 && (size_t)slm_tensor_numel(t) == numel ? t->data : NULL;
}

static slm_weights *open_outputs(const char *fixture) {
    char path[512], rel[256];
    snprintf(rel, sizeof rel, "fixtures/%s/outputs.safetensors", fixture);
    slm_weights *w = slm_safetensors_open(test_path(path, sizeof path, rel), NULL);
    CHECK(w != NULL, "%s outputs open", fixture);
    return w;
}

static void test_embeddings(void) {
    char path[512];
    loaded l;
    if (!load(&l, test_path(path, sizeof path, "fixtures/sbert_minilm/st_model"))) return;
    slm_error err;
    slm_pooling p;
    CHECK(slm_pooling_from_model(l.model, &p, &err) == SLM_OK && p.n_modes == 1 && p.modes[0] == SLM_POOL_MEAN &&
              p.normalize == 1,
          "st_model: modules.json gives mean pooling + Normalize");

    /* The six texts sentence-transformers encoded (case.json st_texts) -> st.encode.sentence_embedding. */
    json_t *cj = json_load_file(test_path(path, sizeof path, "fixtures/sbert_minilm/case.json"), 0, NULL);
    json_t *texts_j = json_object_get(cj, "st_texts");
    int n = (int)json_array_size(texts_j);
    const char *texts[16];
    for (int i = 0; i < n && i < 16; i++) texts[i] = json_string_value(json_array_get(texts_j, (size_t)i));
    slm_weights *out = open_outputs("sbert_minilm");
    const float *want = ref_tensor(out, "st.encode.sentence_embedding", (size_t)n * 48);
    float *vec = NULL;
    int dim = 0;
    slm_status st = slm_embed(l.session, texts, n, &vec, &dim, &err);
    CHECK(n == 6 && st == SLM_OK && dim == 48, "slm_embed of the st_texts: %s", st ? err.message : "ok");
    if (st == SLM_OK && want) {
        double worst = 0;
        for (int i = 0; i < n * 48; i++) worst = fmax(worst, fabs(vec[i] - want[i]));
        CHECK(worst <= 1e-4, "slm_embed = st.encode sentence embeddings (max |diff| %g)", worst);
        double norm = 0;
        for (int j = 0; j < 48; j++) norm += (double)vec[j] * vec[j];
        CHECK(near(sqrt(norm), 1.0, 1e-5), "normalised: |v| = %g", sqrt(norm));
    }
    slm_free(vec);

    /* slm_embed_batch on the fixture's own batch (2 x 13, right padded) -> manual.sentence_embedding. */
    char ipath[512];
    slm_weights *in = slm_safetensors_open(test_path(ipath, sizeof ipath, "fixtures/sbert_minilm/inputs.safetensors"), NULL);
    const slm_tensor_view *ids_t = in ? slm_weights_find(in, "input_ids") : NULL;
    const slm_tensor_view *mask_t = in ? slm_weights_find(in, "attention_mask") : NULL;
    if (ids_t && mask_t && ids_t->dtype == SLM_DTYPE_I64) {
        int32_t ids[26], mask[26];
        for (int i = 0; i < 26; i++) {
            ids[i] = (int32_t)((const int64_t *)ids_t->data)[i];
            mask[i] = (int32_t)((const int64_t *)mask_t->data)[i];
        }
        slm_batch batch = {2, 13, ids, NULL, mask};
        float got[96];
        const float *manual = ref_tensor(out, "manual.sentence_embedding", 96);
        st = slm_embed_batch(l.session, &batch, got, &dim, &err);
        CHECK(st == SLM_OK && dim == 48, "slm_embed_batch: %s", st ? err.message : "ok");
        if (st == SLM_OK && manual) {
            double worst = 0;
            for (int i = 0; i < 96; i++) worst = fmax(worst, fabs(got[i] - manual[i]));
            CHECK(worst <= 1e-4, "slm_embed_batch = manual.sentence_embedding (max |diff| %g)", worst);
        }
        CHECK(slm_embed_batch(l.session, &batch, NULL, &dim, &err) == SLM_OK && dim == 48, "out NULL asks the width");
        /* The plain BertModel folder (no modules.json): mean pooling, no normalisation -> manual.mean_pooled. */
        loaded plain;
        if (load(&plain, test_path(path, sizeof path, "fixtures/sbert_minilm/hf"))) {
            const float *pooled = ref_tensor(out, "manual.mean_pooled", 96);
            st = slm_embed_batch(plain.session, &batch, got, &dim, &err);
            double worst = 0;
            for (int i = 0; st == SLM_OK && pooled && i < 96; i++) worst = fmax(worst, fabs(got[i] - pooled[i]));
            CHECK(st == SLM_OK && pooled && worst <= 1e-4, "no modules.json: mean pooling, unnormalised (max |diff| %g)",
                  worst);
        }
        unload(&plain);
    }
    CHECK(ids_t && mask_t, "sbert inputs present");
    slm_weights_free(in);

    /* Empty and whitespace-only texts are [CLS] [SEP] (as sentence-transformers gives them);
     * a 100 KB text is truncated to the model's 64 tokens; invalid UTF-8 is an error. */
    char *big = malloc(100001);
    for (int i = 0; i < 100000; i++) big[i] = i % 6 == 5 ? ' ' : "hello"[i % 6];
    big[100000] = '\0';
    const char *odd[3] = {"", "   ", big};
    st = slm_embed(l.session, odd, 3, &vec, &dim, &err);
    CHECK(st == SLM_OK, "empty, blank and 100 KB texts embed: %s", st ? err.message : "ok");
    if (st == SLM_OK) {
        int same = 1;
        for (int j = 0; j < 48; j++) same &= vec[j] == vec[48 + j];
        CHECK(same, "empty and whitespace-only texts give the same vector");
    }
    slm_free(vec);
    free(big);
    const char *bad[1] = {"bad \xff utf8"};
    st = slm_embed(l.session, bad, 1, &vec, &dim, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && vec == NULL, "invalid UTF-8 is an error: %s", err.message);
    CHECK(slm_embed(l.session, NULL, 0, &vec, &dim, &err) == SLM_OK && vec == NULL, "no texts, no vectors");
    slm_weights_free(out);
    json_decref(cj);
    unload(&l);
}

/* modules.json variants, each in a scratch folder beside links to the st_model files. */
static slm_status pooling_of(const char *name, const char *modules, const char *pooling_config, slm_pooling *p,
                             slm_error *err) {
    char dir[512], file[1024], src[1024];
    snprintf(dir, sizeof dir, "%s/%s", scratch, name);
    mkdir(dir, 0755);
    const char *links[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "fixtures/sbert_minilm/st_model/%s", links[i]);
        char *abs = realpath(test_path(src, sizeof src, rel), NULL);
        snprintf(file, sizeof file, "%s/%s", dir, links[i]);
        if (abs) (void)!symlink(abs, file);
        free(abs);
    }
    if (modules) {
        snprintf(file, sizeof file, "%s/modules.json", dir);
        FILE *f = fopen(file, "w");
        if (f) fputs(modules, f), fclose(f);
    }
    if (pooling_config) {
        snprintf(file, sizeof file, "%s/1_Pooling", dir);
        mkdir(file, 0755);
        snprintf(file, sizeof file, "%s/1_Pooling/config.json", dir);
        FILE *f = fopen(file, "w");
        if (f) fputs(pooling_config, f), fclose(f);
    }
    slm_model *m = slm_model_load(dir, NULL, err);
    if (!m) return err->status;
    slm_status st = slm_pooling_from_model(m, p, err);
    slm_model_free(m);
    return st;
}

static void test_pooling_config(void) {
    const char *modules = "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                          "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}]";
    slm_pooling p;
    slm_error err;
    /* Legacy booleans: cls and mean true -> concatenated as sentence-transformers orders them: cls, mean. */
    slm_status st = pooling_of("legacy", modules,
                               "{\"word_embedding_dimension\": 48, \"pooling_mode_mean_tokens\": true, "
                               "\"pooling_mode_cls_token\": true, \"pooling_mode_max_tokens\": false}",
                               &p, &err);
    CHECK(st == SLM_OK && p.n_modes == 2 && p.modes[0] == SLM_POOL_CLS && p.modes[1] == SLM_POOL_MEAN && !p.normalize,
          "legacy booleans: cls then mean, no Normalize module: %s", st ? err.message : "ok");
    /* The new list form keeps its own order: max, then cls. */
    st = pooling_of("list", modules, "{\"embedding_dimension\": 48, \"pooling_mode\": [\"max\", \"cls\"]}", &p, &err);
    CHECK(st == SLM_OK && p.n_modes == 2 && p.modes[0] == SLM_POOL_MAX && p.modes[1] == SLM_POOL_CLS,
          "pooling_mode list: max, cls");
    /* No mode at all: sentence-transformers' default, mean. */
    st = pooling_of("nomode", modules, "{\"word_embedding_dimension\": 48}", &p, &err);
    CHECK(st == SLM_OK && p.n_modes == 1 && p.modes[0] == SLM_POOL_MEAN, "no mode given: mean");
    st = pooling_of("badmode", modules, "{\"pooling_mode\": \"median\"}", &p, &err);
    CHECK(st == SLM_ERR_UNSUPPORTED && strstr(err.message, "median"), "unknown pooling mode: %s", err.message);
    /* A Dense module slm does not run is an error, not silently skipped. */
    const char *dense = "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                        "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                        "{\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]";
    st = pooling_of("dense", dense, "{\"pooling_mode\": \"mean\"}", &p, &err);
    CHECK(st == SLM_ERR_UNSUPPORTED && strstr(err.message, "Dense"), "Dense module: %s", err.message);
    /* No modules.json: the documented default, mean without normalisation. */
    st = pooling_of("none", NULL, NULL, &p, &err);
    CHECK(st == SLM_OK && p.n_modes == 1 && p.modes[0] == SLM_POOL_MEAN && !p.normalize, "no modules.json: mean");
    st = pooling_of("broken", "[{", NULL, &p, &err);
    CHECK(st == SLM_ERR_FORMAT, "malformed modules.json: %s", err.message);
}

/* The top 5 of softmax(logits) by a plain scan, for the fill-mask expectations. */
static void reference_top5(const float *logits, int n, int32_t *ids, double *probs) {
    double max = logits[0], sum = 0;
    for (int i = 1; i < n; i++) max = fmax(max, logits[i]);
    for (int i = 0; i < n; i++) sum += exp(logits[i] - max);
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= ids[j] == i;
            if (!taken && (best < 0 || logits[i] > logits[best])) best = i;
        }
        ids[k] = best;
        probs[k] = exp(logits[best] - max) / sum;
    }
}

static void test_fill_mask(void) {
    char path[512];
    loaded l;
    if (!load(&l, task_model("mlm", path, sizeof path))) return;
    slm_weights *out = open_outputs("bert_tiny");
    const float *logits = ref_tensor(out, "mlm.logits", 2 * 13 * 512);
    /* Row 1 of the reference batch is "[CLS] where [MASK] did fox sleep [SEP] under the old oak tree [SEP]"
     * with the second segment of type 1: the mask at position 2; its 512 logits -> softmax -> top 5. */
    const struct {
        const char *text, *pair;
        int row;
    } cases[2] = {{"where [MASK] did fox sleep", "under the old oak tree", 1}, {"hello [MASK]", "big world", 0}};
    for (int c = 0; c < 2 && logits; c++) {
        slm_fill_mask_result *r = NULL;
        slm_error err;
        slm_status st = slm_fill_mask(l.session, cases[c].text, cases[c].pair, 5, &r, &err);
        CHECK(st == SLM_OK && r && r->n_masks == 1 && r->masks[0].position == 2 && r->masks[0].n_candidates == 5,
              "fill-mask row %d: %s", cases[c].row, st ? err.message : "ok");
        if (st || !r || r->n_masks != 1) {
            slm_fill_mask_result_free(r);
            continue;
        }
        int32_t ids[5];
        double probs[5];
        reference_top5(logits + ((size_t)cases[c].row * 13 + 2) * 512, 512, ids, probs);
        for (int k = 0; k < 5; k++) {
            const slm_fill_mask_candidate *cand = &r->masks[0].candidates[k];
            CHECK(cand->token == ids[k] && near(cand->score, probs[k], 1e-4), "row %d top %d: token %d %g, want %d %g",
                  cases[c].row, k, cand->token, cand->score, ids[k], probs[k]);
        }
        /* "sequence": the whole input decoded without special tokens, the token in the mask's place. */
        const slm_fill_mask_candidate *top = &r->masks[0].candidates[0];
        char want[256];
        if (c == 0) snprintf(want, sizeof want, "where %s did fox sleep under the old oak tree", top->token_str);
        else snprintf(want, sizeof want, "hello %s big world", top->token_str);
        CHECK(!strcmp(top->sequence, want), "sequence \"%s\", want \"%s\"", top->sequence, want);
        slm_fill_mask_result_free(r);
    }

    /* Two masks: each scored on its own; sequences keep the specials so the other mask shows. */
    slm_fill_mask_result *r = NULL;
    slm_error err;
    slm_status st = slm_fill_mask(l.session, "hello [MASK] big [MASK]", NULL, 3, &r, &err);
    CHECK(st == SLM_OK && r && r->n_masks == 2 && r->masks[0].position == 2 && r->masks[1].position == 4 &&
              r->masks[1].n_candidates == 3,
          "two masks: %s", st ? err.message : "ok");
    if (st == SLM_OK && r && r->n_masks == 2)
        CHECK(!strncmp(r->masks[0].candidates[0].sequence, "[CLS] hello ", 12) &&
                  strstr(r->masks[0].candidates[0].sequence, "[MASK]"),
              "multi-mask sequence keeps [CLS] and the other [MASK]: \"%s\"", r->masks[0].candidates[0].sequence);
    slm_fill_mask_result_free(r);

    /* Bad input. */
    st = slm_fill_mask(l.session, "hello big world", NULL, 5, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "no [MASK] token in the text"), "no mask: %s",
          err.message);
    st = slm_fill_mask(l.session, "", NULL, 5, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "empty text: no mask");
    char *long_text = malloc(100 * 6 + 16);
    long_text[0] = '\0';
    for (int i = 0; i < 100; i++) strcat(long_text, "hello ");
    strcat(long_text, "[MASK]");
    st = slm_fill_mask(l.session, long_text, NULL, 5, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "truncated"), "mask past the limit: %s", err.message);
    memcpy(long_text, "[MASK]", 6); /* now a mask leads; the trailing one is truncated away */
    st = slm_fill_mask(l.session, long_text, NULL, 5, &r, &err);
    CHECK(st == SLM_OK && r && r->n_masks == 1 && r->masks[0].position == 1, "long text truncated, mask kept: %s",
          st ? err.message : "ok");
    slm_fill_mask_result_free(r);
    free(long_text);
    st = slm_fill_mask(l.session, "bad \xff [MASK]", NULL, 5, &r, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "invalid UTF-8: %s", err.message);
    slm_weights_free(out);
    unload(&l);

    /* A model without the masked-LM head. */
    if (load(&l, task_model("seqcls", path, sizeof path))) {
        st = slm_fill_mask(l.session, "hello [MASK]", NULL, 5, &r, &err);
        CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "masked-LM"), "no MLM head: %s", err.message);
    }
    unload(&l);
}

static void test_classify(void) {
    char path[512];
    loaded l;
    if (!load(&l, task_model("seqcls", path, sizeof path))) return;
    slm_weights *out = open_outputs("bert_tiny");
    const float *logits = ref_tensor(out, "seqcls.logits", 4);
    const char *texts[2][2] = {{"hello [MASK]", "big world"}, {"where [MASK] did fox sleep", "under the old oak tree"}};
    for (int row = 0; row < 2 && logits; row++) {
        slm_label_score *s = NULL;
        int n = 0;
        slm_error err;
        slm_status st = slm_classify(l.session, texts[row][0], texts[row][1], SLM_SCORES_AUTO, &s, &n, &err);
        CHECK(st == SLM_OK && n == 2, "classify row %d: %s", row, st ? err.message : "ok");
        if (st) continue;
        /* Two labels, problem_type unset -> softmax: p1 = 1 / (1 + e^(l0 - l1)). */
        double p1 = 1.0 / (1.0 + exp(logits[2 * row] - logits[2 * row + 1]));
        int top = p1 >= 0.5 ? 1 : 0;
        CHECK(s[0].label == top && near(s[0].score, top ? p1 : 1 - p1, 1e-4) && near(s[0].score + s[1].score, 1, 1e-6),
              "row %d: %s %g, want LABEL_%d %g", row, s[0].name, s[0].score, top, top ? p1 : 1 - p1);
        CHECK(s[0].name && !strncmp(s[0].name, "LABEL_", 6), "labels named from config id2label");
        slm_free(s);
        /* Forced sigmoid: each label on its own. */
        st = slm_classify(l.session, texts[row][0], texts[row][1], SLM_SCORES_SIGMOID, &s, &n, &err);
        CHECK(st == SLM_OK && near(s[0].score, 1 / (1 + exp(-logits[2 * row + s[0].label])), 1e-4), "sigmoid scores");
        slm_free(s);
    }
    slm_label_score *s = NULL;
    int n = 0;
    slm_error err;
    char *big = malloc(100001);
    for (int i = 0; i < 100000; i++) big[i] = i % 6 == 5 ? ' ' : "hello"[i % 6];
    big[100000] = '\0';
    const char *odd[3] = {"", "   \t\n", big};
    for (int i = 0; i < 3; i++) {
        slm_status st = slm_classify(l.session, odd[i], NULL, SLM_SCORES_AUTO, &s, &n, &err);
        CHECK(st == SLM_OK && n == 2 && near(s[0].score + s[1].score, 1, 1e-6), "odd text %d classifies: %s", i,
              st ? err.message : "ok");
        slm_free(s);
    }
    free(big);
    CHECK(slm_classify(l.session, "\xc3\x28", NULL, SLM_SCORES_AUTO, &s, &n, &err) == SLM_ERR_INVALID_ARGUMENT,
          "invalid UTF-8");
    slm_weights_free(out);
    unload(&l);
    if (load(&l, task_model("mlm", path, sizeof path))) {
        slm_status st = slm_classify(l.session, "hello", NULL, SLM_SCORES_AUTO, &s, &n, &err);
        CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "sequence-classification"), "no SEQCLS head: %s",
              err.message);
    }
    unload(&l);
}

static void test_qa(void) {
    char path[512];
    loaded l;
    if (!load(&l, task_model("qa", path, sizeof path))) return;
    slm_weights *out = open_outputs("bert_tiny");
    const float *start = ref_tensor(out, "qa.start_logits", 26), *end = ref_tensor(out, "qa.end_logits", 26);
    /* Row 1: [CLS] where [MASK] did fox sleep [SEP] under the old oak tree [SEP]; the context is
     * tokens 7..11 (one word each). Expected, by brute force over the reference logits: softmax over
     * [CLS] + the context, [CLS] then zeroed, best p_start[s] * p_end[e] with s <= e. Row 0 likewise
     * ([CLS] hello [MASK] [SEP] big world [SEP], context tokens 4..5). */
    const struct {
        const char *q, *c;
        int row, first, n_ctx;
        const char *words[5];
    } cases[2] = {{"where [MASK] did fox sleep", "under the old oak tree", 1, 7, 5, {"under", "the", "old", "oak", "tree"}},
                  {"hello [MASK]", "big world", 0, 4, 2, {"big", "world"}}};
    for (int c = 0; c < 2 && start && end; c++) {
        const float *sl = start + 13 * cases[c].row, *el = end + 13 * cases[c].row;
        double ps[13], pe[13], zs = exp(sl[0]), ze = exp(el[0]);
        for (int i = cases[c].first; i < cases[c].first + cases[c].n_ctx; i++) zs += exp(sl[i]), ze += exp(el[i]);
        double best = 0;
        int bs = -1, be = -1;
        for (int s = cases[c].first; s < cases[c].first + cases[c].n_ctx; s++) {
            ps[s] = exp(sl[s]) / zs;
            for (int e = s; e < cases[c].first + cases[c].n_ctx; e++) {
                pe[e] = exp(el[e]) / ze;
                if (ps[s] * pe[e] > best) best = ps[s] * pe[e], bs = s, be = e;
            }
        }
        char want[128] = "";
        for (int i = bs; i <= be; i++) {
            if (i > bs) strcat(want, " ");
            strcat(want, cases[c].words[i - cases[c].first]);
        }
        slm_qa_answer a;
        slm_error err;
        slm_status st = slm_qa(l.session, cases[c].q, cases[c].c, NULL, &a, &err);
        CHECK(st == SLM_OK && a.answer && !strcmp(a.answer, want) && near(a.score, best, 1e-4),
              "qa row %d: \"%s\" %g, want \"%s\" %g", cases[c].row, st ? err.message : a.answer, a.score, want, best);
        if (st == SLM_OK)
            CHECK(!strncmp(cases[c].c + a.start, a.answer, strlen(a.answer)) && a.end - a.start == (int)strlen(a.answer),
                  "answer = context[start:end] (ASCII, so code points = bytes)");
        slm_qa_answer_clear(&a);
    }

    slm_qa_answer a;
    slm_error err;
    slm_qa_params p = slm_qa_default_params();
    /* max_answer_len 1: a single word. */
    p.max_answer_len = 1;
    slm_status st = slm_qa(l.session, "where [MASK] did fox sleep", "under the old oak tree", &p, &a, &err);
    CHECK(st == SLM_OK && a.answer && !strchr(a.answer, ' ') && a.answer[0], "max_answer_len 1: \"%s\"",
          a.answer ? a.answer : "");
    slm_qa_answer_clear(&a);
    /* A context of 300 words (many times the 64-token limit) runs in overlapping windows. */
    char *long_ctx = malloc(300 * 12 + 1);
    long_ctx[0] = '\0';
    const char *words[6] = {"under ", "the ", "old ", "oak ", "tree ", "parisville "};
    for (int i = 0; i < 300; i++) strcat(long_ctx, words[i % 6]);
    p = slm_qa_default_params();
    st = slm_qa(l.session, "where did fox sleep", long_ctx, &p, &a, &err);
    CHECK(st == SLM_OK && a.answer && a.end > a.start && (size_t)a.end <= strlen(long_ctx) &&
              !strncmp(long_ctx + a.start, a.answer, strlen(a.answer)),
          "long context in windows: %s", st ? err.message : a.answer);
    slm_qa_answer_clear(&a);
    p.doc_stride = 10;
    st = slm_qa(l.session, "where did fox sleep", long_ctx, &p, &a, &err);
    CHECK(st == SLM_OK && a.answer, "stride 10: %s", st ? err.message : "ok");
    slm_qa_answer_clear(&a);
    /* Stride as large as a window's context room: an error, not a loop that never ends. */
    p.doc_stride = 60;
    st = slm_qa(l.session, "where did fox sleep", long_ctx, &p, &a, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "doc_stride"), "stride too large: %s", err.message);
    free(long_ctx);
    /* Windows, checked through their own parts: "where" takes 4 tokens with [CLS] [SEP] .. [SEP], so
     * max_seq_len 12 leaves 8 context tokens a window and stride 3 moves 5: the 14 one-token words
     * t50..t63 fall in windows [0, 8), [5, 13), [10, 14). Each window is exactly what slm_qa sees for
     * that slice of words alone (same tokens, positions and types), so its best span and score are
     * slm_qa of the slice; the pipeline keeps the best, adding the scores of equal answer texts. */
    {
        char ctx[128] = "", piece[16];
        for (int i = 0; i < 14; i++) {
            snprintf(piece, sizeof piece, "%st%d", i ? " " : "", 50 + i);
            strcat(ctx, piece);
        }
        slm_qa_params wp = slm_qa_default_params();
        wp.max_seq_len = 12;
        wp.doc_stride = 3;
        const int w_first[3] = {0, 5, 10}, w_stop[3] = {8, 13, 14};
        char texts[3][64];
        float scores[3];
        int n_c = 0, ok = 1;
        for (int w = 0; w < 3; w++) {
            char sub[64] = "";
            for (int i = w_first[w]; i < w_stop[w]; i++) {
                snprintf(piece, sizeof piece, "%st%d", i > w_first[w] ? " " : "", 50 + i);
                strcat(sub, piece);
            }
            slm_qa_answer wa;
            ok &= slm_qa(l.session, "where", sub, &wp, &wa, &err) == SLM_OK;
            int merged = 0;
            for (int c = 0; c < n_c; c++)
                if (wa.answer && !strcmp(texts[c], wa.answer)) scores[c] += wa.score, merged = 1;
            if (!merged && wa.answer) {
                snprintf(texts[n_c], sizeof texts[n_c], "%s", wa.answer);
                scores[n_c++] = wa.score;
            }
            slm_qa_answer_clear(&wa);
        }
        int best = 0;
        for (int c = 1; c < n_c; c++)
            if (scores[c] > scores[best]) best = c;
        st = slm_qa(l.session, "where", ctx, &wp, &a, &err);
        CHECK(ok && st == SLM_OK && n_c > 0 && !strcmp(a.answer, texts[best]) && near(a.score, scores[best], 1e-5) &&
                  !strncmp(ctx + a.start, a.answer, strlen(a.answer)),
              "windows: \"%s\" %g, want \"%s\" %g", st ? err.message : a.answer, a.score, n_c ? texts[best] : "",
              n_c ? scores[best] : 0);
        slm_qa_answer_clear(&a);
    }
    /* A "##" piece widens to its whole word: parisville = paris ##ville. */
    p = slm_qa_default_params();
    st = slm_qa(l.session, "where", "parisville parisville", &p, &a, &err);
    CHECK(st == SLM_OK && a.answer && strstr(a.answer, "parisville") && (a.end - a.start) % 11 != 5,
          "spans align to words: \"%s\"", a.answer ? a.answer : "");
    slm_qa_answer_clear(&a);

    /* Bad input. */
    st = slm_qa(l.session, "where", "", NULL, &a, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "context is empty"), "empty context: %s", err.message);
    st = slm_qa(l.session, "where", " \t ", NULL, &a, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "no tokens"), "blank context: %s", err.message);
    st = slm_qa(l.session, "", "under the tree", NULL, &a, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "empty question: %s", err.message);
    st = slm_qa(l.session, "where", "under \xff tree", NULL, &a, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "invalid UTF-8 context: %s", err.message);
    char *long_q = malloc(100 * 6 + 1);
    long_q[0] = '\0';
    for (int i = 0; i < 100; i++) strcat(long_q, "where ");
    st = slm_qa(l.session, long_q, "under the tree", NULL, &a, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "question"), "question longer than the model: %s",
          err.message);
    free(long_q);
    slm_weights_free(out);
    unload(&l);
    if (load(&l, task_model("tokcls", path, sizeof path))) {
        st = slm_qa(l.session, "where", "under the tree", NULL, &a, &err);
        CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "question-answering"), "no QA head: %s", err.message);
    }
    unload(&l);
}

static void test_ner(void) {
    char path[512];
    loaded l;
    if (!load(&l, task_model("tokcls", path, sizeof path))) return;
    /* "jumping parisville new york" -> [CLS] jump ##ing paris ##ville new york [SEP] (ids 2 102 100 104
     * 105 106 107 3). The expectation: each token's softmax over the head's logits, the logits taken
     * from slm_session_encode (checked against the reference by test_encoders), none aggregation keeps
     * every token (no label is "O"), offsets in the original text. */
    const char *text = "Jumping Parisville new york";
    const int32_t ids[8] = {2, 102, 100, 104, 105, 106, 107, 3};
    const int starts[6] = {0, 4, 8, 13, 19, 23}, ends[6] = {4, 7, 13, 18, 22, 27};
    float logits[8 * 5];
    slm_batch batch = {1, 8, ids, NULL, NULL};
    slm_error err;
    slm_status st = slm_session_encode(l.session, &batch, SLM_ENCODE_TOKCLS, logits, &err);
    CHECK(st == SLM_OK, "tokcls logits: %s", st ? err.message : "ok");
    slm_entity *ents = NULL;
    int n = 0;
    st = slm_ner(l.session, text, SLM_AGGREGATION_NONE, &ents, &n, &err);
    CHECK(st == SLM_OK && n == 6, "ner none: %d entities: %s", n, st ? err.message : "ok");
    for (int i = 0; st == SLM_OK && i < n && i < 6; i++) {
        const float *lg = logits + (i + 1) * 5;
        int best = 0;
        double z = 0;
        for (int k = 0; k < 5; k++) {
            z += exp(lg[k]);
            if (lg[k] > lg[best]) best = k;
        }
        char label[32];
        snprintf(label, sizeof label, "LABEL_%d", best);
        CHECK(!strcmp(ents[i].entity, label) && near(ents[i].score, exp(lg[best]) / z, 1e-5) && ents[i].index == i + 1 &&
                  ents[i].start == starts[i] && ents[i].end == ends[i],
              "token %d: %s %g [%d, %d), want %s %g [%d, %d)", i, ents[i].entity, ents[i].score, ents[i].start,
              ents[i].end, label, exp(lg[best]) / z, starts[i], ends[i]);
    }
    slm_entities_free(ents, n);
    /* first: the words are Jumping (jump ##ing), Parisville (paris ##ville), new, york; groups of
     * words may merge (equal LABEL_i tags count as I-), but never split a word: every entity starts
     * at a word start (0, 8, 19, 23) and ends at a word end (7, 18, 22, 27); "##" pieces are glued. */
    st = slm_ner(l.session, text, SLM_AGGREGATION_FIRST, &ents, &n, &err);
    int whole_words = 1, covered = 0;
    for (int i = 0; st == SLM_OK && i < n; i++) {
        whole_words &= (ents[i].start == 0 || ents[i].start == 8 || ents[i].start == 19 || ents[i].start == 23) &&
                       (ents[i].end == 7 || ents[i].end == 18 || ents[i].end == 22 || ents[i].end == 27) &&
                       !strstr(ents[i].word, "##");
        covered += ents[i].start <= 8 && ents[i].end >= 18 && strstr(ents[i].word, "parisville") != NULL;
    }
    CHECK(st == SLM_OK && n >= 1 && n <= 4 && whole_words && covered == 1, "ner first: %d groups of whole words", n);
    slm_entities_free(ents, n);
    /* Offsets are code points of the original text: "日" ([UNK] here) is three bytes but one offset. */
    st = slm_ner(l.session, "\xe6\x97\xa5 york", SLM_AGGREGATION_NONE, &ents, &n, &err);
    CHECK(st == SLM_OK && n == 2 && ents[1].start == 2 && ents[1].end == 6, "code-point offsets: york at %d-%d",
          n == 2 ? ents[1].start : -1, n == 2 ? ents[1].end : -1);
    CHECK(st == SLM_OK && n == 2 && !strcmp(ents[0].word, "\xe6\x97\xa5"), "[UNK] token's word is the original text");
    slm_entities_free(ents, n);

    /* Odd input: empty / blank text -> no entities; 100 KB -> truncated; invalid UTF-8 -> error. */
    st = slm_ner(l.session, "", SLM_AGGREGATION_SIMPLE, &ents, &n, &err);
    CHECK(st == SLM_OK && n == 0, "empty text: no entities");
    slm_entities_free(ents, n);
    st = slm_ner(l.session, "  \n ", SLM_AGGREGATION_SIMPLE, &ents, &n, &err);
    CHECK(st == SLM_OK && n == 0, "blank text: no entities");
    slm_entities_free(ents, n);
    char *big = malloc(100001);
    for (int i = 0; i < 100000; i++) big[i] = i % 5 == 4 ? ' ' : "york"[i % 5];
    big[100000] = '\0';
    st = slm_ner(l.session, big, SLM_AGGREGATION_NONE, &ents, &n, &err);
    CHECK(st == SLM_OK && n == 62, "100 KB text truncated to 64 tokens: %d entities", n);
    slm_entities_free(ents, n);
    free(big);
    st = slm_ner(l.session, "\xed\xa0\x80", SLM_AGGREGATION_NONE, &ents, &n, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT, "invalid UTF-8 (a surrogate): %s", err.message);
    CHECK(slm_ner(l.session, "york", (slm_aggregation)9, &ents, &n, &err) == SLM_ERR_INVALID_ARGUMENT,
          "unknown aggregation");
    unload(&l);
    if (load(&l, task_model("qa", path, sizeof path))) {
        st = slm_ner(l.session, "york", SLM_AGGREGATION_NONE, &ents, &n, &err);
        CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "token-classification"), "no TOKCLS head: %s",
              err.message);
    }
    unload(&l);
}

static void test_decoder_model(void) {
    char path[512];
    loaded l;
    if (!load(&l, test_path(path, sizeof path, "fixtures/gpt2_tiny/lm"))) return;
    float *vec = NULL;
    int dim;
    slm_error err;
    const char *t[1] = {"hello"};
    slm_status st = slm_embed(l.session, t, 1, &vec, &dim, &err);
    CHECK(st == SLM_ERR_INVALID_ARGUMENT && strstr(err.message, "not an encoder"), "embed on GPT-2: %s", err.message);
    unload(&l);
}

int main(void) {
    snprintf(scratch, sizeof scratch, "/tmp/slm-test-tasks-XXXXXX");
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "cannot create a scratch directory\n");
        return 1;
    }
    test_numerics();
    test_pooling();
    test_best_span();
    test_ner_aggregation();
    test_pooling_config();
    test_embeddings();
    test_fill_mask();
    test_classify();
    test_qa();
    test_ner();
    test_decoder_model();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
    TEST_END();
}
