/* hf_tokenizer_write.c — a slm tokenizer written as Hugging Face's tokenizer.json and tokenizer_config.json,
 * laid out as transformers' own converters (convert_slow_tokenizer.py) lay out the same kind:
 *   byte-level BPE   model BPE (vocab, merges "a b" in rank order, ignore_merges), ByteLevel pre-tokenizer
 *                    (add_prefix_space false, use_regex true) for GPT-2's split; for llama.cpp's other
 *                    tokenizer.ggml.pre families, its regexes as Split (Isolated) steps before a ByteLevel
 *                    without regex, as Llama 3's and Qwen2's own files do; ByteLevel decoder and
 *                    post-processor, plus a TemplateProcessing when the tokenizer adds BOS/EOS;
 *   SentencePiece    LlamaConverter's "legacy" layout: normalizer Prepend("▁") + Replace(" ", "▁), no
 *   BPE (llama2.c)   pre-tokenizer, BPE with byte_fallback and fuse_unk, decoder Replace("▁", " ") +
 *                    ByteFallback + Fuse + Strip(one leading space), template "<s> $A". The merges are
 *                    SentencePieceExtractor's (generate_merges): every split of a piece into two pieces
 *                    of the vocabulary is a merge, ordered by the merged piece's score (highest first),
 *                    then the longer left half, then the longer right half, then piece id. Control,
 *                    unknown, byte and unused pieces take no part, as in SentencePiece, which never forms
 *                    them from text;
 *   WordPiece        BertNormalizer, BertPreTokenizer, WordPiece ("##", max_input_chars_per_word),
 *                    TemplateProcessing from the tokenizer's single/pair templates, WordPiece decoder.
 *                    A GGUF vocabulary (llama.cpp's WPM, no word-length limit) gets BERT's limit of 100,
 *                    the value of the Hugging Face files llama.cpp converts from.
 * Token texts are Hugging Face's spelling: slm keeps SentencePiece pieces with " " for "▁" (llama2.c's
 * spelling) and a GGUF WordPiece vocabulary already as "word" / "##ing" (gguf_vocab.c).
 * Every text must be valid UTF-8 and unique (a JSON vocab maps text -> id); else SLM_ERR_UNSUPPORTED. */
#include "tokenizers/hf_tokenizer_write.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581 */

typedef struct {
    const slm_tokenizer *tok;
    const char *dir;
    char **texts; /* (n_tokens) Hugging Face spelling of each token, NULL for a hole */
    slm_error *err;
} writer;

static slm_status oom(const writer *w) { return slm_fail(w->err, SLM_ERR_OUT_OF_MEMORY, "%s: tokenizer.json: out of memory", w->dir); }

static slm_status unsupported(const writer *w, const char *why) {
    return slm_fail(w->err, SLM_ERR_UNSUPPORTED, "%s: cannot write tokenizer.json: %s", w->dir, why);
}

/* Sets obj[key] = value, taking the reference; -1 when value is NULL (out of memory or ill-formed UTF-8). */
static int set(json_t *obj, const char *key, json_t *value) { return value ? json_object_set_new(obj, key, value) : -1; }

static json_t *string_n(const char *s, size_t n) { return json_stringn(s, n); }

/* ---- token texts ---- */

static int token_is_control(const slm_token_entry *e) { return (e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_UNK)) != 0; }

/* s with every " " as "▁" (SentencePiece's spelling). */
static char *spm_spelling(const char *s, size_t n) {
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    char *out = malloc(n + 2 * spaces + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(o, SPM_SPACE, 3);
            o += 3;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static char *copy_n(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* The length of token id's Hugging Face text (texts of BPE and WordPiece tokens may hold NUL bytes). */
static size_t text_len(const writer *w, int32_t id) {
    return w->tok->kind == SLM_TOKENIZER_LLAMA2C ? strlen(w->texts[id]) : w->tok->tokens[id].text_len;
}

/* Every token's Hugging Face text; checks they are unique. */
static slm_status spell_tokens(writer *w) {
    const slm_tokenizer *tok = w->tok;
    w->texts = calloc((size_t)tok->n_tokens + 1, sizeof *w->texts);
    if (!w->texts) return oom(w);
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        if (!e->text) continue;
        int spm = tok->kind == SLM_TOKENIZER_LLAMA2C;
        if (spm && token_is_control(e)) w->texts[id] = copy_n(e->piece, e->piece_len); /* "\n<s>\n" -> "<s>" */
        else if (spm && !(e->flags & SLM_TOKEN_BYTE)) w->texts[id] = spm_spelling(e->text, e->text_len);
        else w->texts[id] = copy_n(e->text, e->text_len);
        if (!w->texts[id]) return oom(w);
    }
    slm_str_map seen;
    if (slm_str_map_init(&seen, (size_t)tok->n_tokens)) return oom(w);
    slm_status st = SLM_OK;
    char why[160];
    for (int32_t id = 0; id < tok->n_tokens && st == SLM_OK; id++) {
        const char *t = w->texts[id];
        if (!t) continue;
        size_t n = text_len(w, id);
        int32_t other = slm_str_map_get(&seen, t, n);
        if (other >= 0) {
            snprintf(why, sizeof why, "tokens %d and %d are both \"%.40s\"", (int)other, (int)id, t);
            st = unsupported(w, why);
        } else if (slm_str_map_put(&seen, t, n, id)) {
            st = oom(w);
        }
    }
    slm_str_map_free(&seen);
    return st;
}

static json_t *text_json(const writer *w, int32_t id) { return string_n(w->texts[id], text_len(w, id)); }

static slm_status ill_formed(const writer *w, int32_t id) {
    char why[96];
    snprintf(why, sizeof why, "token %d is not valid UTF-8", (int)id);
    return unsupported(w, why);
}

/* {"text": id, ...} over every token that is not a hole. */
static slm_status vocab_json(const writer *w, json_t **out) {
    json_t *vocab = *out = json_object();
    if (!vocab) return oom(w);
    for (int32_t id = 0; id < w->tok->n_tokens; id++) {
        if (!w->texts[id]) continue;
        json_t *v = json_integer(id);
        if (!v || json_object_setn_new(vocab, w->texts[id], text_len(w, id), v)) return v ? ill_formed(w, id) : oom(w);
    }
    return SLM_OK;
}

/* One added_tokens entry. */
static json_t *added_json(const writer *w, int32_t id, int special, int normalized, int lstrip, int rstrip,
                          int single_word) {
    json_t *content = text_json(w, id);
    if (!content) return NULL;
    return json_pack("{s:i, s:o, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)id, "content", content, "single_word",
                     single_word, "lstrip", lstrip, "rstrip", rstrip, "normalized", normalized, "special", special);
}

/* The added tokens of BPE and WordPiece tokenizers (bpe.added), in id order; SentencePiece's control pieces. */
static slm_status added_tokens_json(const writer *w, json_t **out) {
    const slm_tokenizer *tok = w->tok;
    json_t *list = *out = json_array();
    if (!list) return oom(w);
    if (tok->kind == SLM_TOKENIZER_LLAMA2C) {
        for (int32_t id = 0; id < tok->n_tokens; id++)
            if (w->texts[id] && token_is_control(&tok->tokens[id]) && json_array_append_new(list, added_json(w, id, 1, 0, 0, 0, 0)))
                return oom(w);
        return SLM_OK;
    }
    for (int i = 0; i < tok->bpe.n_added; i++) {
        const slm_added_token *a = &tok->bpe.added[i];
        int special = (tok->tokens[a->id].flags & SLM_TOKEN_SPECIAL) != 0;
        if (json_array_append_new(list, added_json(w, a->id, special, a->normalized, a->lstrip, a->rstrip, a->single_word)))
            return oom(w);
    }
    return SLM_OK;
}

/* ---- post-processors ---- */

/* {"SpecialToken": {"id": text, "type_id": t}} or {"Sequence": {"id": "A"|"B", "type_id": t}} */
static json_t *template_item(const writer *w, int32_t id, int32_t type_id) {
    json_t *name = id >= 0 ? text_json(w, id) : json_string(id == SLM_TEMPLATE_A ? "A" : "B");
    if (!name) return NULL;
    return json_pack("{s:{s:o, s:i}}", id >= 0 ? "SpecialToken" : "Sequence", "id", name, "type_id", (json_int_t)type_id);
}

/* Adds {"<text>": {"id": text, "ids": [id], "tokens": [text]}} for a special token of a template. */
static int template_special(const writer *w, json_t *specials, int32_t id) {
    if (id < 0 || json_object_getn(specials, w->texts[id], text_len(w, id))) return 0;
    /* json_pack releases its "o" values when it fails (a NULL one included) */
    json_t *entry = json_pack("{s:o, s:[i], s:[o]}", "id", text_json(w, id), "ids", (json_int_t)id, "tokens", text_json(w, id));
    if (!entry) return -1;
    return json_object_setn_new(specials, w->texts[id], text_len(w, id), entry);
}

/* TemplateProcessing from item lists: single and pair. */
static json_t *template_processing(const writer *w, const slm_template_item *single, int n_single,
                                   const slm_template_item *pair, int n_pair) {
    json_t *s = json_array(), *p = json_array(), *specials = json_object();
    int failed = !s || !p || !specials;
    for (int i = 0; i < n_single && !failed; i++)
        failed = json_array_append_new(s, template_item(w, single[i].id, single[i].type_id)) ||
                 template_special(w, specials, single[i].id);
    for (int i = 0; i < n_pair && !failed; i++)
        failed = json_array_append_new(p, template_item(w, pair[i].id, pair[i].type_id)) ||
                 template_special(w, specials, pair[i].id);
    if (failed) {
        json_decref(s);
        json_decref(p);
        json_decref(specials);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "type", "TemplateProcessing", "single", s, "pair", p, "special_tokens",
                     specials);
}

/* prefix $A suffix, and for a pair prefix $A suffix prefix $B:1 suffix:1 (transformers' Llama template). */
static json_t *prefix_suffix_template(const writer *w, const int32_t *prefix, int n_prefix, const int32_t *suffix,
                                      int n_suffix) {
    int n_single = n_prefix + 1 + n_suffix;
    slm_template_item *items = malloc((size_t)(3 * n_single) * sizeof *items);
    if (!items) return NULL;
    slm_template_item *single = items, *pair = items + n_single;
    int k = 0;
    for (int i = 0; i < n_prefix; i++) single[k++] = (slm_template_item){prefix[i], 0};
    single[k++] = (slm_template_item){SLM_TEMPLATE_A, 0};
    for (int i = 0; i < n_suffix; i++) single[k++] = (slm_template_item){suffix[i], 0};
    memcpy(pair, single, (size_t)n_single * sizeof *pair);
    for (int i = 0; i < n_single; i++) {
        pair[n_single + i] = single[i];
        pair[n_single + i].type_id = 1;
        if (single[i].id == SLM_TEMPLATE_A) pair[n_single + i].id = SLM_TEMPLATE_B;
    }
    json_t *t = template_processing(w, single, n_single, pair, 2 * n_single);
    free(items);
    return t;
}

/* ---- byte-level BPE ---- */

/* llama.cpp's splitting for its tokenizer.ggml.pre families other than GPT-2's (gguf_vocab.c runs the
 * same regexes); each family is found by one of its names. */
typedef struct {
    const char *name;
    const char *regexes[5]; /* NULL-terminated */
} split_family;

#define GPT2_WORDS "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
static const split_family SPLIT_FAMILIES[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_WORDS, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3",
     {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"qwen2",
     {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"starcoder", {"\\p{N}", GPT2_WORDS}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_WORDS, "[0-9][0-9][0-9]"}},
};

static json_t *byte_level(int add_prefix_space, int use_regex) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", add_prefix_space, "trim_offsets",
                     1, "use_regex", use_regex);
}

/* The pre-tokenizer; *gpt2_split is set when it is GPT-2's own (ByteLevel with its regex). */
static slm_status bpe_pre_tokenizer(const writer *w, json_t **out, int *gpt2_split) {
    const slm_bpe *bpe = &w->tok->bpe;
    const char *pre = w->tok->gguf_pre;
    *gpt2_split = 0;
    if (pre[0]) { /* read from GGUF: the family's regexes */
        int family = slm_gguf_pre_family(pre, NULL);
        if (family >= 0 && family == slm_gguf_pre_family("gpt-2", NULL)) {
            *gpt2_split = 1;
            return (*out = byte_level(0, 1)) ? SLM_OK : oom(w);
        }
        for (size_t f = 0; family >= 0 && f < sizeof SPLIT_FAMILIES / sizeof *SPLIT_FAMILIES; f++) {
            if (slm_gguf_pre_family(SPLIT_FAMILIES[f].name, NULL) != family) continue;
            json_t *steps = json_array();
            for (int k = 0; steps && SPLIT_FAMILIES[f].regexes[k]; k++)
                if (json_array_append_new(steps, json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern",
                                                           "Regex", SPLIT_FAMILIES[f].regexes[k], "behavior",
                                                           "Isolated", "invert", 0))) {
                    json_decref(steps);
                    steps = NULL;
                }
            if (steps && json_array_append_new(steps, byte_level(0, 0))) {
                json_decref(steps);
                steps = NULL;
            }
            *out = steps ? json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", steps) : NULL;
            return *out ? SLM_OK : oom(w);
        }
        char why[120];
        snprintf(why, sizeof why, "tokenizer.ggml.pre \"%s\" has no Hugging Face pre-tokenizer here", pre);
        return unsupported(w, why);
    }
    /* read from Hugging Face files: a ByteLevel step's regex is always GPT-2's; a Split's pattern is not kept */
    if (bpe->n_steps != 1 || !bpe->steps[0].is_byte_level || !bpe->steps[0].regex)
        return unsupported(w, "only GPT-2's ByteLevel pre-tokenizer is written for a byte-level BPE read from "
                              "Hugging Face files (Split patterns are not kept after loading)");
    *gpt2_split = !bpe->steps[0].add_prefix_space;
    return (*out = byte_level(bpe->steps[0].add_prefix_space, 1)) ? SLM_OK : oom(w);
}

/* One merge: "a b", or ["a", "b"] when a half holds a space. */
static json_t *merge_json(const writer *w, int32_t left, int32_t right) {
    size_t a = text_len(w, left), b = text_len(w, right);
    if (!memchr(w->texts[left], ' ', a) && !memchr(w->texts[right], ' ', b)) {
        char *line = malloc(a + b + 2);
        if (!line) return NULL;
        memcpy(line, w->texts[left], a);
        line[a] = ' ';
        memcpy(line + a + 1, w->texts[right], b);
        json_t *s = json_stringn(line, a + b + 1);
        free(line);
        return s;
    }
    return json_pack("[o, o]", text_json(w, left), text_json(w, right));
}

/* The BPE's merges in rank order. */
static slm_status bpe_merges(const writer *w, json_t **out) {
    json_t *merges = *out = json_array();
    size_t n;
    slm_pair_map_slot *sorted = slm_pair_map_by_rank(&w->tok->bpe.merges, &n);
    if (!merges || !sorted) {
        free(sorted);
        return oom(w);
    }
    slm_status st = SLM_OK;
    for (size_t k = 0; k < n && st == SLM_OK; k++) {
        int32_t left = (int32_t)(sorted[k].key >> 32), right = (int32_t)(uint32_t)sorted[k].key;
        if (json_array_append_new(merges, merge_json(w, left, right))) st = oom(w);
    }
    free(sorted);
    return st;
}

static slm_status check_bpe(const writer *w) {
    const slm_bpe *bpe = &w->tok->bpe;
    if (!bpe->byte_level || bpe->byte_fallback)
        return unsupported(w, "a BPE that is not byte-level, or has byte fallback, is not written");
    if (bpe->n_normalizers > 1 || (bpe->n_normalizers == 1 && bpe->normalizers[0].kind != SLM_BPE_NORM_NFC))
        return unsupported(w, "a byte-level BPE normalizer other than NFC is not written");
    return SLM_OK;
}

/* model, normalizer, pre_tokenizer, post_processor, decoder of a byte-level BPE; *gpt2_class: the
 * tokenizer is GPT-2's pipeline exactly (transformers' GPT2Tokenizer adds nothing around the text). */
static slm_status bpe_sections(const writer *w, json_t *root, int *gpt2_class) {
    const slm_tokenizer *tok = w->tok;
    const slm_bpe *bpe = &tok->bpe;
    json_t *vocab = NULL, *merges = NULL, *pre = NULL;
    int gpt2_split = 0;
    slm_status st = check_bpe(w);
    if (st == SLM_OK) st = vocab_json(w, &vocab);
    if (st == SLM_OK) st = bpe_merges(w, &merges);
    if (st == SLM_OK) st = bpe_pre_tokenizer(w, &pre, &gpt2_split);
    if (st != SLM_OK) {
        json_decref(vocab);
        json_decref(merges);
        json_decref(pre);
        return st;
    }
    json_t *unk = bpe->unk_id >= 0 ? text_json(w, bpe->unk_id) : json_null();
    json_t *model = json_pack("{s:s, s:n, s:o, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                              unk, "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", bpe->fuse_unk,
                              "byte_fallback", 0, "ignore_merges", bpe->ignore_merges, "vocab", vocab, "merges", merges);
    json_t *post = byte_level(1, 1);
    /* transformers' GPT-2 post-processor is ByteLevel (trim_offsets false); BOS/EOS come from a template */
    if (post) json_object_set_new(post, "trim_offsets", json_false());
    if (post && (bpe->n_prefix || bpe->n_suffix)) {
        json_t *t = prefix_suffix_template(w, bpe->prefix_ids, bpe->n_prefix, bpe->suffix_ids, bpe->n_suffix);
        post = json_pack("{s:s, s:[o, o]}", "type", "Sequence", "processors", post, t);
    }
    json_t *normalizer = bpe->n_normalizers ? json_pack("{s:s}", "type", "NFC") : json_null(); /* check_bpe: NFC alone */
    if (set(root, "normalizer", normalizer) || set(root, "pre_tokenizer", pre) || set(root, "post_processor", post) ||
        set(root, "decoder", byte_level(1, 1)) || set(root, "model", model))
        return oom(w);
    *gpt2_class = gpt2_split && !bpe->n_prefix && !bpe->n_suffix && bpe->n_normalizers == 0 &&
                  !bpe->ignore_merges;
    return SLM_OK;
}

/* ---- SentencePiece BPE ---- */

typedef struct {
    int32_t left, right, merged;
    float score;
    int left_chars, right_chars;
} spm_merge;

static int utf8_chars(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* generate_merges' order: score, left length, right length (all descending), then the merged piece's id. */
static int by_merge_order(const void *pa, const void *pb) {
    const spm_merge *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->left_chars != b->left_chars) return a->left_chars > b->left_chars ? -1 : 1;
    if (a->right_chars != b->right_chars) return a->right_chars > b->right_chars ? -1 : 1;
    if (a->merged != b->merged) return a->merged < b->merged ? -1 : 1;
    return (a->left > b->left) - (a->left < b->left);
}

/* Pieces text can form: not control, unknown, byte or unused. */
static int spm_mergeable(const slm_token_entry *e) {
    return e->text && !(e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_UNK | SLM_TOKEN_BYTE | SLM_TOKEN_ADDED)) &&
           e->piece_len > 0;
}

static slm_status spm_merges(const writer *w, json_t **out) {
    const slm_tokenizer *tok = w->tok;
    slm_str_map pieces;
    spm_merge *list = NULL;
    size_t n = 0, cap = 0;
    json_t *merges = *out = json_array();
    if (!merges || slm_str_map_init(&pieces, (size_t)tok->n_tokens)) return oom(w);
    slm_status st = SLM_OK;
    for (int32_t id = 0; id < tok->n_tokens && st == SLM_OK; id++)
        if (spm_mergeable(&tok->tokens[id]) && slm_str_map_put(&pieces, w->texts[id], strlen(w->texts[id]), id)) st = oom(w);
    for (int32_t id = 0; id < tok->n_tokens && st == SLM_OK; id++) {
        if (!spm_mergeable(&tok->tokens[id])) continue;
        const char *s = w->texts[id];
        size_t len = strlen(s);
        for (size_t cut = 1; cut < len && st == SLM_OK; cut++) {
            if (((unsigned char)s[cut] & 0xC0) == 0x80) continue; /* inside a character */
            int32_t left = slm_str_map_get(&pieces, s, cut), right = slm_str_map_get(&pieces, s + cut, len - cut);
            if (left < 0 || right < 0) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                spm_merge *grown = realloc(list, cap * sizeof *grown);
                if (!grown) {
                    st = oom(w);
                    break;
                }
                list = grown;
            }
            list[n++] = (spm_merge){left, right, id, tok->tokens[id].score, utf8_chars(s, cut), utf8_chars(s + cut, len - cut)};
        }
    }
    if (st == SLM_OK && n) qsort(list, n, sizeof *list, by_merge_order);
    for (size_t k = 0; k < n && st == SLM_OK; k++)
        if (json_array_append_new(merges, merge_json(w, list[k].left, list[k].right))) st = oom(w);
    free(list);
    slm_str_map_free(&pieces);
    return st;
}

/* Why a SentencePiece BPE cannot be written, or NULL when it can. */
static const char *spm_unwritable(const slm_tokenizer *tok) {
    int32_t unk = slm_tokenizer_special(tok, "unk");
    if (tok->bos < 0 || unk < 0 || unk >= tok->n_tokens || !tok->tokens[unk].text)
        return "a SentencePiece BPE without BOS or <unk> is not written";
    for (int b = 0; b < 256; b++)
        if (tok->llama2c.byte_id[b] < 0)
            return "a SentencePiece BPE without all 256 <0xXX> byte tokens is not written (byte_fallback)";
    return NULL;
}

static slm_status spm_sections(const writer *w, json_t *root) {
    const slm_tokenizer *tok = w->tok;
    int32_t unk = slm_tokenizer_special(tok, "unk");
    if (spm_unwritable(tok)) return unsupported(w, spm_unwritable(tok));
    json_t *vocab = NULL, *merges = NULL;
    slm_status st = vocab_json(w, &vocab);
    if (st == SLM_OK) st = spm_merges(w, &merges);
    if (st != SLM_OK) {
        json_decref(vocab);
        json_decref(merges);
        return st;
    }
    json_t *model = json_pack("{s:s, s:n, s:o, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                              text_json(w, unk), "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 1,
                              "byte_fallback", 1, "ignore_merges", 0, "vocab", vocab, "merges", merges);
    json_t *normalizer = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers", "type",
                                   "Prepend", "prepend", SPM_SPACE, "type", "Replace", "pattern", "String", " ",
                                   "content", SPM_SPACE);
    json_t *decoder = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}", "type", "Sequence",
                                "decoders", "type", "Replace", "pattern", "String", SPM_SPACE, "content", " ", "type",
                                "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ", "start", (json_int_t)1,
                                "stop", (json_int_t)0);
    /* llama2c_vocab.c adds BOS alone (GGUF llama vocabularies that add more are refused by gguf_vocab.c) */
    json_t *post = prefix_suffix_template(w, &tok->bos, 1, NULL, 0);
    if (set(root, "normalizer", normalizer) || set(root, "pre_tokenizer", json_null()) ||
        set(root, "post_processor", post) || set(root, "decoder", decoder) || set(root, "model", model))
        return oom(w);
    return SLM_OK;
}

/* ---- WordPiece ---- */

static slm_status wordpiece_sections(const writer *w, json_t *root) {
    const slm_tokenizer *tok = w->tok;
    const slm_wordpiece *wp = &tok->wordpiece;
    if (tok->single.n == 0) return unsupported(w, "a WordPiece without a post-processor template is not written");
    json_t *vocab = NULL;
    slm_status st = vocab_json(w, &vocab);
    if (st != SLM_OK) {
        json_decref(vocab);
        return st;
    }
    int max_chars = wp->llamacpp_normalizer ? 100 : wp->max_input_chars_per_word;
    json_t *model = json_pack("{s:s, s:o, s:s, s:i, s:o}", "type", "WordPiece", "unk_token",
                              wp->unk_id >= 0 ? text_json(w, wp->unk_id) : json_null(), "continuing_subword_prefix",
                              wp->prefix, "max_input_chars_per_word", (json_int_t)max_chars, "vocab", vocab);
    json_t *normalizer = json_pack("{s:s, s:b, s:b, s:b, s:b}", "type", "BertNormalizer", "clean_text", wp->clean_text,
                                   "handle_chinese_chars", wp->handle_chinese_chars, "strip_accents", wp->strip_accents,
                                   "lowercase", wp->lowercase);
    json_t *post = template_processing(w, tok->single.items, tok->single.n, tok->pair.items, tok->pair.n);
    json_t *decoder = json_pack("{s:s, s:s, s:b}", "type", "WordPiece", "prefix", wp->prefix, "cleanup", wp->decoder_cleanup);
    if (set(root, "normalizer", normalizer) || set(root, "pre_tokenizer", json_pack("{s:s}", "type", "BertPreTokenizer")) ||
        set(root, "post_processor", post) || set(root, "decoder", decoder) || set(root, "model", model))
        return oom(w);
    return SLM_OK;
}

/* ---- tokenizer_config.json ---- */

/* config[key] = token id's text, when id is a token. */
static int config_token(const writer *w, json_t *config, const char *key, int32_t id) {
    if (id < 0 || id >= w->tok->n_tokens || !w->texts[id]) return 0;
    return set(config, key, text_json(w, id));
}

static slm_status write_config(const writer *w, int gpt2_class) {
    const slm_tokenizer *tok = w->tok;
    json_t *config = json_object();
    if (!config) return oom(w);
    int rc = 0;
    if (tok->kind == SLM_TOKENIZER_WORDPIECE) {
        const slm_wordpiece *wp = &tok->wordpiece;
        rc = set(config, "tokenizer_class", json_string("BertTokenizer")) ||
             set(config, "do_lower_case", json_boolean(wp->lowercase)) ||
             set(config, "strip_accents", wp->strip_accents == wp->lowercase ? json_null() : json_boolean(wp->strip_accents)) ||
             set(config, "tokenize_chinese_chars", json_boolean(wp->handle_chinese_chars)) ||
             config_token(w, config, "unk_token", wp->unk_id) ||
             config_token(w, config, "cls_token", slm_tokenizer_special(tok, "cls")) ||
             config_token(w, config, "sep_token", slm_tokenizer_special(tok, "sep")) ||
             config_token(w, config, "pad_token", slm_tokenizer_special(tok, "pad")) ||
             config_token(w, config, "mask_token", slm_tokenizer_special(tok, "mask"));
    } else if (tok->kind == SLM_TOKENIZER_LLAMA2C) {
        rc = set(config, "tokenizer_class", json_string("LlamaTokenizer")) ||
             set(config, "add_bos_token", json_true()) || set(config, "add_eos_token", json_false()) ||
             set(config, "legacy", json_true()) || config_token(w, config, "unk_token", slm_tokenizer_special(tok, "unk")) ||
             config_token(w, config, "bos_token", tok->bos) || config_token(w, config, "eos_token", tok->eos) ||
             set(config, "pad_token", json_null());
    } else {
        /* GPT2Tokenizer adds nothing around the text and splits as GPT-2; anything else runs tokenizer.json as it is */
        rc = set(config, "tokenizer_class", json_string(gpt2_class ? "GPT2Tokenizer" : "PreTrainedTokenizerFast")) ||
             config_token(w, config, "bos_token", tok->bos) || config_token(w, config, "eos_token", tok->eos) ||
             config_token(w, config, "unk_token", tok->bpe.unk_id);
        if (!rc && gpt2_class) rc = set(config, "add_prefix_space", json_false());
    }
    if (!rc) rc = set(config, "clean_up_tokenization_spaces", json_boolean(tok->clean_up_tokenization_spaces));
    if (!rc && tok->model_max_length > 0) rc = set(config, "model_max_length", json_integer(tok->model_max_length));
    slm_status st = rc ? oom(w) : SLM_OK;
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", w->dir);
    if (st == SLM_OK && json_dump_file(config, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        st = slm_fail(w->err, SLM_ERR_IO, "%s: cannot write", path);
    json_decref(config);
    return st;
}

/* ---- entry points ---- */

int slm_tokenizer_hf_reloadable(const slm_tokenizer *tok) {
    return tok && (tok->kind == SLM_TOKENIZER_BPE || tok->kind == SLM_TOKENIZER_WORDPIECE ||
                   (tok->kind == SLM_TOKENIZER_LLAMA2C && !spm_unwritable(tok)));
}

slm_status slm_tokenizer_save_hf(const slm_tokenizer *tok, const char *dir, slm_error *err) {
    slm_error_clear(err);
    if (!tok || !dir) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_save_hf: tokenizer or folder is NULL");
    writer w = {.tok = tok, .dir = dir, .err = err};
    if (tok->kind != SLM_TOKENIZER_BPE && tok->kind != SLM_TOKENIZER_LLAMA2C && tok->kind != SLM_TOKENIZER_WORDPIECE)
        return unsupported(&w, "only byte-level BPE, SentencePiece BPE (llama2.c, GGUF llama) and WordPiece "
                               "tokenizers are written");
    slm_status st = spell_tokens(&w);
    json_t *root = st == SLM_OK ? json_object() : NULL, *added = NULL;
    if (st == SLM_OK && !root) st = oom(&w);
    if (st == SLM_OK) st = added_tokens_json(&w, &added);
    if (st == SLM_OK && (set(root, "version", json_string("1.0")) || set(root, "truncation", json_null()) ||
                         set(root, "padding", json_null())))
        st = oom(&w);
    if (st == SLM_OK) st = set(root, "added_tokens", added) ? oom(&w) : SLM_OK; /* takes added, even on failure */
    else json_decref(added);
    int gpt2_class = 0;
    if (st == SLM_OK && tok->kind == SLM_TOKENIZER_BPE) st = bpe_sections(&w, root, &gpt2_class);
    else if (st == SLM_OK && tok->kind == SLM_TOKENIZER_LLAMA2C) st = spm_sections(&w, root);
    else if (st == SLM_OK) st = wordpiece_sections(&w, root);
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (st == SLM_OK && json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
        st = slm_fail(err, SLM_ERR_IO, "%s: cannot write", path);
    if (st == SLM_OK) st = write_config(&w, gpt2_class);
    if (st != SLM_OK) remove(path); /* no half-written tokenizer */
    json_decref(root);
    for (int32_t id = 0; w.texts && id < tok->n_tokens; id++) free(w.texts[id]);
    free(w.texts);
    return st;
}
