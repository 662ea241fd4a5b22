/* gguf_vocab.c — a tokenizer from a GGUF file's tokenizer.ggml.* metadata, read the way llama.cpp's
 * llama-vocab.cpp reads it, and run by slm's own encoders:
 *   model "gpt2"   byte-level BPE: tokens spelled in GPT-2's byte alphabet ("Ġworld"), merges "a b" ranked
 *                  by position (the first of a repeated pair wins), and the split regexes llama.cpp uses
 *                  for tokenizer.ggml.pre (PRE_FAMILIES below) -> bpe.c;
 *   model "llama"  SentencePiece BPE by score (llama.cpp's SPM): "▁" marks spaces, <0xXX> tokens are the
 *                  byte fallback -> llama2c_vocab.c, with "▁" turned into " " as llama2.c's tokenizer.bin
 *                  spells it;
 *   model "bert"   WordPiece (llama.cpp's WPM): llama.cpp's converter marks word-start pieces with "▁" and
 *                  leaves continuations bare ("▁play", "ing"); slm turns that back into Hugging Face's
 *                  spelling ("play", "##ing"; "[CLS]"-style tokens stay as they are) -> wordpiece.c.
 * Token types (tokenizer.ggml.token_type): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 * 6 byte, 0 undefined. As llama.cpp's token_to_piece: control, unknown and user-defined tokens decode to
 * their text, normal ones through the model's decoder, byte tokens to their byte, the rest to nothing.
 * Control, unknown and user-defined tokens of gpt2/bert vocabularies are cut out of the text before the
 * model, as Hugging Face does (llama.cpp: user-defined always, control ones with parse_special).
 * Every count, id, type and merge is checked; a bad one is SLM_ERR_FORMAT naming the file and the key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"

enum { MAX_TOKENS = 1 << 24 };
enum { TYPE_UNDEFINED = 0, TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_USER_DEFINED, TYPE_UNUSED, TYPE_BYTE };

static const char KEY_MODEL[] = "tokenizer.ggml.model", KEY_PRE[] = "tokenizer.ggml.pre",
                  KEY_TOKENS[] = "tokenizer.ggml.tokens", KEY_TYPES[] = "tokenizer.ggml.token_type",
                  KEY_SCORES[] = "tokenizer.ggml.scores", KEY_MERGES[] = "tokenizer.ggml.merges";

/* ---- pre-tokenizers: llama.cpp's regexes for each tokenizer.ggml.pre (llama-vocab.cpp) ---- */

#define GPT2_WORDS "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_WORDS                                                                                              \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "       \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_WORDS                                                                                               \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "            \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* Names llama.cpp maps to one pre-tokenizer type; each regex splits every piece the previous one left
 * (matches and the text between them both become pieces). */
typedef struct {
    const char *names[16];   /* NULL-terminated */
    const char *regexes[5];  /* NULL-terminated */
    int ignore_merges;       /* a piece that is a whole token is that token, merges or not */
    int add_bos;             /* llama.cpp's add_bos default for these */
} pre_family;

static const pre_family PRE_FAMILIES[] = {
    {{"default"},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_WORDS, "\\p{N}+", "[0-9][0-9][0-9]"}, 0, 0},
    {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
      "modern-bert", "mpt", "olmo", "jais", "exaone4"},
     {GPT2_WORDS}, 0, 0},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"},
     {LLAMA3_WORDS}, 1, 1},
    {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {QWEN2_WORDS}, 0, 0},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {"\\p{N}", GPT2_WORDS}, 0, 0},
    {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_WORDS, "[0-9][0-9][0-9]"}, 0, 0},
};

int slm_gguf_pre_family(const char *name, int *ignore_merges) {
    for (size_t f = 0; name && f < sizeof PRE_FAMILIES / sizeof *PRE_FAMILIES; f++)
        for (int k = 0; PRE_FAMILIES[f].names[k]; k++)
            if (strcmp(PRE_FAMILIES[f].names[k], name) == 0) {
                if (ignore_merges) *ignore_merges = PRE_FAMILIES[f].ignore_merges;
                return (int)f;
            }
    return -1;
}

/* ---- reading the metadata ---- */

typedef struct {
    const slm_gguf *g;
    const char *path;
    int32_t n;       /* tokens */
    uint8_t *types;  /* (n) TYPE_* */
    float *scores;   /* (n), zeros when the file has none */
    slm_error *err;
} source;

static slm_status oom(const source *s) { return slm_fail(s->err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", s->path); }

/* An integer or float array of at least s->n elements (llama.cpp reads the first n; more is allowed). */
static slm_status check_array(const source *s, const char *key, int want_strings, uint64_t *count) {
    slm_gguf_type elem;
    slm_status st = slm_gguf_get_array(s->g, key, &elem, count, s->err);
    if (st != SLM_OK) return st;
    if ((elem == SLM_GGUF_STRING) != want_strings || elem == SLM_GGUF_ARRAY)
        return slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s holds %s elements, not %s", s->path, key,
                        slm_gguf_type_name(elem), want_strings ? "strings" : "numbers");
    return SLM_OK;
}

static slm_status read_types(source *s) {
    s->types = malloc((size_t)s->n);
    if (!s->types) return oom(s);
    memset(s->types, TYPE_NORMAL, (size_t)s->n);
    if (slm_gguf_find_key(s->g, KEY_TYPES) < 0) return SLM_OK; /* every token normal */
    uint64_t count;
    slm_status st = check_array(s, KEY_TYPES, 0, &count);
    if (st == SLM_OK && count < (uint64_t)s->n)
        st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s has %llu entries for %d tokens", s->path, KEY_TYPES,
                      (unsigned long long)count, (int)s->n);
    for (int32_t i = 0; i < s->n && st == SLM_OK; i++) {
        int64_t v;
        st = slm_gguf_array_int(s->g, KEY_TYPES, (uint64_t)i, &v, s->err);
        if (st == SLM_OK && (v < TYPE_UNDEFINED || v > TYPE_BYTE))
            st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s[%d] is %lld, not a token type (0..6)", s->path, KEY_TYPES,
                          (int)i, (long long)v);
        if (st == SLM_OK) s->types[i] = (uint8_t)v;
    }
    return st;
}

static slm_status read_scores(source *s) {
    s->scores = calloc((size_t)s->n, sizeof *s->scores);
    if (!s->scores) return oom(s);
    if (slm_gguf_find_key(s->g, KEY_SCORES) < 0) return SLM_OK;
    uint64_t count;
    slm_status st = check_array(s, KEY_SCORES, 0, &count);
    if (st == SLM_OK && count < (uint64_t)s->n)
        st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s has %llu entries for %d tokens", s->path, KEY_SCORES,
                      (unsigned long long)count, (int)s->n);
    for (int32_t i = 0; i < s->n && st == SLM_OK; i++) {
        int64_t iv;
        /* float32 as llama.cpp writes it; integer scores are accepted too, as llama.cpp does */
        if (slm_gguf_array_float(s->g, KEY_SCORES, (uint64_t)i, &s->scores[i], NULL) != SLM_OK) {
            st = slm_gguf_array_int(s->g, KEY_SCORES, (uint64_t)i, &iv, s->err);
            s->scores[i] = (float)iv;
        }
        if (st == SLM_OK && !isfinite(s->scores[i]))
            st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s[%d] is not finite", s->path, KEY_SCORES, (int)i);
    }
    return st;
}

/* A token id key: absent -> fallback (none when it is outside the vocabulary, as llama.cpp disables it);
 * present -> an integer inside the vocabulary. */
static slm_status read_id(const source *s, const char *key, int32_t fallback, int32_t *id) {
    *id = fallback >= 0 && fallback < s->n ? fallback : -1;
    if (slm_gguf_find_key(s->g, key) < 0) return SLM_OK;
    int64_t v;
    slm_status st = slm_gguf_get_i64(s->g, key, &v, s->err);
    if (st != SLM_OK) return st;
    if (v < 0 || v >= s->n)
        return slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s is %lld, outside the vocabulary of %d tokens", s->path, key,
                        (long long)v, (int)s->n);
    *id = (int32_t)v;
    return SLM_OK;
}

/* Ids llama.cpp reads that slm's encoders do not use: each must still be inside the vocabulary. */
static slm_status check_other_ids(const source *s) {
    static const char *const keys[] = {"tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                       "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
                                       "tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id",
                                       "tokenizer.ggml.eom_token_id"};
    slm_status st = SLM_OK;
    for (size_t k = 0; k < sizeof keys / sizeof *keys && st == SLM_OK; k++) {
        int32_t id;
        st = read_id(s, keys[k], -1, &id);
    }
    return st;
}

static slm_status read_flag(const source *s, const char *key, int fallback, int *flag) {
    *flag = fallback;
    return slm_gguf_find_key(s->g, key) < 0 ? SLM_OK : slm_gguf_get_bool(s->g, key, flag, s->err);
}

/* ---- token texts ---- */

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's and llama.cpp's word mark */

/* s with every "▁" turned into " " (SentencePiece pieces as llama2.c spells them). */
static int spm_text(slm_text_buf *b, const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int mark = n - i >= 3 && memcmp(s + i, SPM_SPACE, 3) == 0;
        if (slm_text_buf_put(b, mark ? " " : s + i, 1)) return -1;
        i += mark ? 3 : 1;
    }
    return 0;
}

/* llama.cpp's WordPiece spelling back to Hugging Face's: "▁word" -> "word", "[X]" stays, "piece" -> "##piece". */
static int wpm_text(slm_text_buf *b, const char *s, size_t n) {
    if (n >= 3 && memcmp(s, SPM_SPACE, 3) == 0) return slm_text_buf_put(b, s + 3, n - 3);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') return slm_text_buf_put(b, s, n);
    return slm_text_buf_put(b, "##", 2) || slm_text_buf_put(b, s, n);
}

/* Sets every token's text from tokenizer.ggml.tokens, respelled for the model. */
static slm_status set_texts(slm_tokenizer *tok, const source *s, const char *model) {
    slm_text_buf b = {0};
    slm_status st = SLM_OK;
    for (int32_t i = 0; i < s->n && st == SLM_OK; i++) {
        const char *text;
        size_t len;
        char empty[32];
        st = slm_gguf_array_string(s->g, KEY_TOKENS, (uint64_t)i, &text, &len, s->err);
        if (st != SLM_OK) break;
        if (len == 0) { /* llama.cpp names an empty token so that it stays unique */
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%d]", (int)i);
            text = empty;
        }
        if (len > UINT32_MAX / 2) {
            st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s[%d] is %zu bytes long", s->path, KEY_TOKENS, (int)i, len);
            break;
        }
        int special = s->types[i] == TYPE_CONTROL || s->types[i] == TYPE_UNKNOWN || s->types[i] == TYPE_USER_DEFINED;
        int byte = s->types[i] == TYPE_BYTE;
        b.len = 0;
        int rc;
        if (!special && !byte && strcmp(model, "llama") == 0) rc = spm_text(&b, text, len);
        else if (!special && strcmp(model, "bert") == 0) rc = wpm_text(&b, text, len);
        else rc = slm_text_buf_put(&b, text, len);
        if (rc || slm_tokenizer_set_text(tok, i, b.data, b.len)) st = oom(s);
    }
    free(b.data);
    return st;
}

/* The byte of a "<0xXX>" token, or -1. */
static int byte_value(const char *s, size_t n) {
    unsigned v = 0;
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + (unsigned)d;
    }
    return (int)v;
}

/* Flags from the token types; byte tokens decode to their byte, unused/undefined ones to nothing. */
static slm_status set_flags_and_bytes(slm_tokenizer *tok, const source *s) {
    for (int32_t i = 0; i < s->n; i++) {
        slm_token_entry *e = &tok->tokens[i];
        e->score = s->scores[i];
        switch (s->types[i]) {
        case TYPE_UNKNOWN: e->flags |= SLM_TOKEN_SPECIAL | SLM_TOKEN_UNK; break;
        case TYPE_CONTROL: e->flags |= SLM_TOKEN_SPECIAL; break;
        case TYPE_USER_DEFINED: e->flags |= SLM_TOKEN_ADDED; break;
        case TYPE_UNUSED:
        case TYPE_UNDEFINED:
            if (slm_tokenizer_set_piece(tok, i, "", 0)) return oom(s);
            break;
        case TYPE_BYTE: {
            int b = byte_value(e->text, e->text_len);
            if (b < 0)
                return slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s[%d] \"%.20s\" is a byte token (type 6) but not <0xXX>",
                                s->path, KEY_TOKENS, (int)i, e->text);
            unsigned char byte = (unsigned char)b;
            e->flags |= SLM_TOKEN_BYTE;
            if (tok->llama2c.byte_id[byte] < 0) tok->llama2c.byte_id[byte] = i;
            if (slm_tokenizer_set_piece(tok, i, (const char *)&byte, 1)) return oom(s);
            break;
        }
        default: break;
        }
    }
    return SLM_OK;
}

/* The text -> id map over the tokens the model may form from text; on a repeated text the last id wins,
 * as in llama.cpp's token_to_id. */
static slm_status build_lookup(slm_tokenizer *tok, const source *s, int normal_only) {
    if (slm_str_map_init(&tok->lookup, (size_t)s->n)) return oom(s);
    for (int32_t i = 0; i < s->n; i++) {
        const slm_token_entry *e = &tok->tokens[i];
        if (normal_only && (e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_BYTE | SLM_TOKEN_ADDED))) continue;
        if (slm_str_map_put(&tok->lookup, e->text, e->text_len, i)) return oom(s);
    }
    return SLM_OK;
}

/* Control, unknown and user-defined tokens become added tokens (cut out of the raw text), in id order. */
static slm_status collect_added(slm_tokenizer *tok, const source *s) {
    int n = 0;
    for (int32_t i = 0; i < s->n; i++) n += (tok->tokens[i].flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_ADDED)) != 0;
    tok->bpe.added = calloc(n ? (size_t)n : 1, sizeof *tok->bpe.added);
    if (!tok->bpe.added) return oom(s);
    for (int32_t i = 0; i < s->n; i++) {
        slm_token_entry *e = &tok->tokens[i];
        if (!(e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_ADDED))) continue;
        e->flags |= SLM_TOKEN_ADDED;
        tok->bpe.added[tok->bpe.n_added++] = (slm_added_token){i, e->text, e->text_len, 0, 0, 0, 0};
    }
    return SLM_OK;
}

/* ---- model "gpt2" ---- */

/* Normal tokens decode through the byte alphabet; one with a character outside it keeps its text. */
static slm_status byte_level_pieces(slm_tokenizer *tok, const source *s) {
    slm_text_buf b = {0};
    slm_status st = SLM_OK;
    for (int32_t i = 0; i < s->n && st == SLM_OK; i++) {
        const slm_token_entry *e = &tok->tokens[i];
        if (s->types[i] != TYPE_NORMAL) continue;
        int decodable = 1, failed = 0;
        b.len = 0;
        for (size_t k = 0, step; k < e->text_len && decodable && !failed; k += step) {
            int32_t cp = slm_utf8_decode((const unsigned char *)e->text + k, e->text_len - k, &step);
            decodable = cp >= 0 && cp < 324 && tok->bpe.char_byte[cp] >= 0;
            char byte = decodable ? (char)tok->bpe.char_byte[cp] : 0;
            failed = decodable && slm_text_buf_put(&b, &byte, 1);
        }
        if (!failed && decodable) failed = slm_tokenizer_set_piece(tok, i, b.data ? b.data : "", b.len);
        if (failed) st = oom(s);
    }
    free(b.data);
    return st;
}

/* Adds the pre-tokenizer steps llama.cpp runs for tokenizer.ggml.pre. */
static slm_status set_pre_tokenizer(slm_tokenizer *tok, const source *s, const char *pre, int *add_bos) {
    if (!pre) pre = "default"; /* llama.cpp's choice (with a warning) when the key is absent */
    int f = slm_gguf_pre_family(pre, NULL);
    if (f < 0 || strlen(pre) >= sizeof tok->gguf_pre)
        return slm_fail(s->err, SLM_ERR_UNSUPPORTED, "%s: %s \"%.60s\" is not a pre-tokenizer slm knows", s->path,
                        KEY_PRE, pre);
    const pre_family *family = &PRE_FAMILIES[f];
    int n = 0;
    while (family->regexes[n]) n++;
    tok->bpe.steps = calloc((size_t)n, sizeof *tok->bpe.steps);
    if (!tok->bpe.steps) return oom(s);
    for (int k = 0; k < n; k++) {
        void *re = slm_regex_compile(family->regexes[k], strlen(family->regexes[k]), 0, s->path, s->err);
        if (!re) return s->err ? s->err->status : SLM_ERR_UNSUPPORTED;
        tok->bpe.steps[tok->bpe.n_steps++] = (slm_pretokenizer_step){.regex = re, .behavior = SLM_SPLIT_ISOLATED};
    }
    snprintf(tok->gguf_pre, sizeof tok->gguf_pre, "%s", pre);
    tok->bpe.ignore_merges = family->ignore_merges;
    *add_bos = family->add_bos;
    return SLM_OK;
}

/* tokenizer.ggml.merges: "left right", split at the first space after the first byte (llama.cpp's rule). */
static slm_status read_merges(slm_tokenizer *tok, const source *s) {
    uint64_t count;
    slm_status st = check_array(s, KEY_MERGES, 1, &count);
    if (st == SLM_OK && count > (uint64_t)MAX_TOKENS * 4)
        st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s has %llu entries", s->path, KEY_MERGES, (unsigned long long)count);
    if (st == SLM_OK && slm_pair_map_init(&tok->bpe.merges, (size_t)count)) st = oom(s);
    slm_text_buf joined = {0};
    for (uint64_t r = 0; r < count && st == SLM_OK; r++) {
        const char *m;
        size_t len;
        st = slm_gguf_array_string(s->g, KEY_MERGES, r, &m, &len, s->err);
        if (st != SLM_OK) break;
        const char *space = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        if (!space) {
            st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s[%llu] \"%.*s\" is not two tokens separated by a space",
                          s->path, KEY_MERGES, (unsigned long long)r, (int)(len > 40 ? 40 : len), m);
            break;
        }
        size_t a_len = (size_t)(space - m), b_len = len - a_len - 1;
        joined.len = 0;
        if (slm_text_buf_put(&joined, m, a_len) || slm_text_buf_put(&joined, space + 1, b_len)) {
            st = oom(s);
            break;
        }
        int32_t left = slm_str_map_get(&tok->lookup, m, a_len), right = slm_str_map_get(&tok->lookup, space + 1, b_len);
        int32_t merged = slm_str_map_get(&tok->lookup, joined.data, joined.len);
        if (left < 0 || right < 0 || merged < 0)
            st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s[%llu] \"%.*s\" uses a token not in the vocabulary", s->path,
                          KEY_MERGES, (unsigned long long)r, (int)(len > 40 ? 40 : len), m);
        else if (!slm_pair_map_get(&tok->bpe.merges, left, right) && /* the first rank of a repeated pair */
                 slm_pair_map_put(&tok->bpe.merges, left, right, (int32_t)r, merged))
            st = oom(s);
    }
    free(joined.data);
    return st;
}

static slm_status push_id(const source *s, int32_t **ids, int *n, int32_t id, const char *what) {
    if (id < 0) return slm_fail(s->err, SLM_ERR_FORMAT, "%s: tokenizer.ggml.add_%s_token is true but there is no %s token",
                                s->path, what, what);
    int32_t *grown = realloc(*ids, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return oom(s);
    grown[(*n)++] = id;
    *ids = grown;
    return SLM_OK;
}

static slm_status load_gpt2(slm_tokenizer *tok, const source *s, const char *pre) {
    int add_bos = 0, add_eos = 0;
    slm_bpe_init_byte_alphabet(&tok->bpe);
    tok->bpe.byte_level = 1;
    slm_status st = set_pre_tokenizer(tok, s, pre, &add_bos);
    if (st == SLM_OK) st = build_lookup(tok, s, 0);
    if (st == SLM_OK) st = read_merges(tok, s);
    if (st == SLM_OK) st = collect_added(tok, s);
    if (st == SLM_OK) st = byte_level_pieces(tok, s);
    /* llama.cpp's BPE defaults: bos = eos = 11 unless the file says otherwise */
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.bos_token_id", 11, &tok->bos);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.eos_token_id", 11, &tok->eos);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.add_bos_token", add_bos, &add_bos);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.add_eos_token", 0, &add_eos);
    /* llama.cpp's BPE never emits the unknown token; it is only marked */
    int32_t unk = -1;
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.unknown_token_id", -1, &unk);
    if (st == SLM_OK && unk >= 0) tok->tokens[unk].flags |= SLM_TOKEN_UNK;
    if (st == SLM_OK && add_bos) st = push_id(s, &tok->bpe.prefix_ids, &tok->bpe.n_prefix, tok->bos, "bos");
    if (st == SLM_OK && add_eos) st = push_id(s, &tok->bpe.suffix_ids, &tok->bpe.n_suffix, tok->eos, "eos");
    return st;
}

/* ---- model "llama" ---- */

static slm_status load_llama(slm_tokenizer *tok, const source *s) {
    int32_t unk;
    int add_bos, add_eos, space_prefix;
    slm_status st = read_id(s, "tokenizer.ggml.bos_token_id", 1, &tok->bos);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.eos_token_id", 2, &tok->eos);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.unknown_token_id", 0, &unk);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.add_bos_token", 1, &add_bos);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.add_eos_token", 0, &add_eos);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.add_space_prefix", 1, &space_prefix);
    if (st != SLM_OK) return st;
    /* llama2c_vocab.c's encoder adds BOS alone and always the dummy space prefix */
    if (!add_bos || add_eos || !space_prefix || tok->bos < 0)
        return slm_fail(s->err, SLM_ERR_UNSUPPORTED,
                        "%s: a llama vocabulary with add_bos_token %d, add_eos_token %d, add_space_prefix %d%s is not "
                        "supported (only BOS and the space prefix are)", s->path, add_bos, add_eos, space_prefix,
                        tok->bos < 0 ? " and no BOS" : "");
    for (int32_t i = 0; i < s->n; i++)
        if (s->types[i] == TYPE_USER_DEFINED)
            return slm_fail(s->err, SLM_ERR_UNSUPPORTED, "%s: user-defined token %d in a llama vocabulary is not supported",
                            s->path, (int)i);
    if (unk >= 0) tok->tokens[unk].flags |= SLM_TOKEN_UNK | SLM_TOKEN_SPECIAL;
    st = build_lookup(tok, s, 1);
    for (int32_t i = 0; i < s->n && st == SLM_OK; i++) {
        const slm_token_entry *e = &tok->tokens[i];
        if (!(e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_BYTE)) && (int)e->text_len > tok->llama2c.max_token_length)
            tok->llama2c.max_token_length = (int)e->text_len;
    }
    if (tok->llama2c.max_token_length == 0) tok->llama2c.max_token_length = 1;
    return st;
}

/* ---- model "bert" ---- */

/* Streaming pieces as wordpiece_load.c makes them: " word", and "##ing" -> "ing". */
static slm_status wordpiece_pieces(slm_tokenizer *tok, const source *s) {
    slm_text_buf b = {0};
    for (int32_t i = 0; i < s->n; i++) {
        const slm_token_entry *e = &tok->tokens[i];
        int continuation = e->text_len >= 2 && memcmp(e->text, "##", 2) == 0;
        b.len = 0;
        int rc = continuation ? slm_text_buf_put(&b, e->text + 2, e->text_len - 2) : slm_text_buf_put(&b, " ", 1) || slm_text_buf_put(&b, e->text, e->text_len);
        if (rc || slm_tokenizer_set_piece(tok, i, b.data, b.len)) {
            free(b.data);
            return oom(s);
        }
    }
    free(b.data);
    return SLM_OK;
}

/* [CLS] $A [SEP] and [CLS] $A [SEP] $B:1 [SEP]:1, as llama.cpp's WPM adds them (BOS and SEP). */
static slm_status bert_templates(slm_tokenizer *tok, const source *s, int32_t cls, int32_t sep) {
    static const int32_t A = SLM_TEMPLATE_A, B = SLM_TEMPLATE_B;
    const slm_template_item single[] = {{cls, 0}, {A, 0}, {sep, 0}};
    const slm_template_item pair[] = {{cls, 0}, {A, 0}, {sep, 0}, {B, 1}, {sep, 1}};
    tok->single.items = malloc(sizeof single);
    tok->pair.items = malloc(sizeof pair);
    if (!tok->single.items || !tok->pair.items) return oom(s);
    memcpy(tok->single.items, single, sizeof single);
    memcpy(tok->pair.items, pair, sizeof pair);
    tok->single.n = 3;
    tok->pair.n = 5;
    return SLM_OK;
}

static slm_status load_bert(slm_tokenizer *tok, const source *s) {
    slm_wordpiece *wp = &tok->wordpiece;
    int32_t cls, sep, pad, mask;
    int lowercase, strip_accents;
    /* llama.cpp's WPM defaults; the CLS token is its BOS (older files name it cls_token_id) */
    slm_status st = read_id(s, "tokenizer.ggml.cls_token_id", 101, &cls);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.bos_token_id", cls, &cls);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.seperator_token_id", 102, &sep);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.unknown_token_id", 100, &wp->unk_id);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.padding_token_id", 0, &pad);
    if (st == SLM_OK) st = read_id(s, "tokenizer.ggml.mask_token_id", 103, &mask);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.normalizer.lowercase", 1, &lowercase);
    if (st == SLM_OK) st = read_flag(s, "tokenizer.ggml.normalizer.strip_accents", lowercase, &strip_accents);
    if (st == SLM_OK && (cls < 0 || sep < 0))
        st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: a bert vocabulary needs CLS (bos_token_id) and seperator_token_id",
                      s->path);
    if (st != SLM_OK) return st;
    wp->clean_text = wp->handle_chinese_chars = 1;
    wp->lowercase = lowercase;
    wp->strip_accents = strip_accents;
    snprintf(wp->prefix, sizeof wp->prefix, "##");
    wp->max_input_chars_per_word = 1 << 30; /* llama.cpp's WPM has no word-length limit */
    wp->decoder_cleanup = 1;
    wp->llamacpp_normalizer = 1;
    tok->clean_up_tokenization_spaces = 1; /* llama.cpp's clean_spaces for WPM */
    if (wp->unk_id >= 0) tok->tokens[wp->unk_id].flags |= SLM_TOKEN_UNK | SLM_TOKEN_SPECIAL;
    st = build_lookup(tok, s, 0);
    if (st == SLM_OK) st = collect_added(tok, s);
    if (st == SLM_OK) st = wordpiece_pieces(tok, s);
    if (st == SLM_OK) st = bert_templates(tok, s, cls, sep);
    return st;
}

/* ---- entry points ---- */

static slm_status load_common(slm_tokenizer *tok, source *s, const char *model) {
    uint64_t count;
    slm_status st = check_array(s, KEY_TOKENS, 1, &count);
    if (st == SLM_OK && (count == 0 || count > MAX_TOKENS))
        st = slm_fail(s->err, SLM_ERR_FORMAT, "%s: %s has %llu tokens, not 1..%d", s->path, KEY_TOKENS,
                      (unsigned long long)count, MAX_TOKENS);
    if (st != SLM_OK) return st;
    s->n = (int32_t)count;
    if (slm_tokenizer_alloc_tokens(tok, s->n)) return oom(s);
    st = read_types(s);
    if (st == SLM_OK) st = read_scores(s);
    if (st == SLM_OK) st = set_texts(tok, s, model);
    if (st == SLM_OK) st = set_flags_and_bytes(tok, s);
    return st;
}

slm_tokenizer *slm_tokenizer_load_gguf(const slm_gguf *g, slm_error *err) {
    slm_error_clear(err);
    if (!g) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_load_gguf: NULL file");
        return NULL;
    }
    source s = {g, slm_gguf_path(g), 0, NULL, NULL, err};
    const char *model = NULL, *pre = NULL;
    size_t model_len = 0;
    slm_status st = slm_gguf_get_string(g, KEY_MODEL, &model, &model_len, err);
    if (st == SLM_OK && strlen(model) != model_len) model = "(a name with a NUL byte)";
    if (st == SLM_OK && slm_gguf_find_key(g, KEY_PRE) >= 0) st = slm_gguf_get_string(g, KEY_PRE, &pre, NULL, err);
    slm_tokenizer_kind kind = SLM_TOKENIZER_BPE;
    if (st == SLM_OK && strcmp(model, "llama") == 0) kind = SLM_TOKENIZER_LLAMA2C;
    else if (st == SLM_OK && strcmp(model, "bert") == 0) kind = SLM_TOKENIZER_WORDPIECE;
    else if (st == SLM_OK && strcmp(model, "gpt2") != 0)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: %s \"%.60s\" is not supported (gpt2, llama and bert are)", s.path,
                      KEY_MODEL, model);
    if (st != SLM_OK) return NULL;
    slm_tokenizer *tok = slm_tokenizer_alloc(kind);
    if (!tok) {
        oom(&s);
        return NULL;
    }
    st = load_common(tok, &s, model);
    if (st == SLM_OK) st = check_other_ids(&s);
    if (st == SLM_OK) {
        if (kind == SLM_TOKENIZER_BPE) st = load_gpt2(tok, &s, pre);
        else if (kind == SLM_TOKENIZER_LLAMA2C) st = load_llama(tok, &s);
        else st = load_bert(tok, &s);
    }
    free(s.types);
    free(s.scores);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

slm_tokenizer *slm_tokenizer_load_gguf_file(const char *path, slm_error *err) {
    slm_gguf *g = slm_gguf_open(path, err);
    if (!g) return NULL;
    slm_tokenizer *tok = slm_tokenizer_load_gguf(g, err); /* the tokenizer copies what it keeps */
    slm_gguf_free(g);
    return tok;
}
