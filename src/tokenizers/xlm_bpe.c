/* xlm_bpe.c — FlauBERT's tokenizer as transformers' FlaubertTokenizer (slow, pure Python) does it:
 *   loading   vocab.json (text -> id) and merges.txt ("a b" per line, an optional "#version" first line),
 *             tokenizer_config.json (tokenizer_class, do_lowercase, special tokens) and
 *             special_tokens_map.json; XLMTokenizer's defaults: <unk>, bos <s>, sep </s>, <pad>,
 *             cls </s>, mask <special1>, additional <special0>..<special9>;
 *   encoding  special tokens are cut out of the raw text first; each piece between them gets
 *             "``"/"''" -> '"', NFC, lowercase (do_lowercase), then moses.c's pipeline, then BPE per
 *             word with "</w>" on the last symbol; a symbol not in the vocabulary is <unk>;
 *   template  "<s> A </s>" and "<s> A </s> B </s>" with token types 0 for "<s> A </s>" and 1 for "B </s>";
 *   decoding  the tokens' texts joined, "</w>" -> " ", stripped.
 * BPE works on strings, as the reference does: a merge may involve symbols that are not in the
 * vocabulary, so merges are interned in their own symbol table rather than by vocabulary id.
 * Offsets: the reference has none; slm aligns each token back to the original text (exact matches
 * first, then a short search forward, then the characters standing where a normalized token is).
 * They are best-effort and not checked against any reference. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizers/moses.h"
#include "tokenizers/tokenizer_impl.h"

enum { MAX_VOCAB = 1 << 24, MAX_SPECIALS = 64 };

static const char EOW[] = "</w>";

struct slm_xlm_bpe {
    char **symbols;          /* (n_symbols) merge symbols, owned; keys of symbol_ids */
    int32_t n_symbols, cap_symbols;
    slm_str_map symbol_ids;  /* symbol text -> index in symbols */
    slm_pair_map merges;     /* (left symbol, right symbol) -> (rank, merged symbol) */
    int do_lowercase;
    int32_t unk, bos, sep, pad, cls, mask;
    int32_t specials[MAX_SPECIALS]; /* every special token, cut out of raw text before tokenizing */
    int n_specials;
};

void slm_xlm_bpe_free(struct slm_xlm_bpe *xlm) {
    if (!xlm) return;
    for (int32_t i = 0; i < xlm->n_symbols; i++) free(xlm->symbols[i]);
    free(xlm->symbols);
    slm_str_map_free(&xlm->symbol_ids);
    slm_pair_map_free(&xlm->merges);
    free(xlm);
}

/* ---- detection ---- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t bigger = cap ? cap * 2 : 1 << 16;
            char *grown = realloc(data, bigger + 1);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
            cap = bigger;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    data[n] = '\0';
    *len = n;
    return data;
}

int slm_xlm_bpe_detect(const char *dir) {
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *config = json_load_file(path, 0, NULL);
    const char *cls = json_string_value(json_object_get(config, "tokenizer_class"));
    int verdict = -1;
    if (cls) verdict = strncmp(cls, "Flaubert", 8) == 0 || strncmp(cls, "XLMTokenizer", 12) == 0;
    json_decref(config);
    if (verdict >= 0) return verdict;
    /* no tokenizer_class: GPT-2's byte-level vocabularies never carry end-of-word markers */
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    size_t len = 0;
    char *vocab = read_file(path, &len);
    int found = vocab && memmem(vocab, len, "</w>\"", 5) != NULL;
    free(vocab);
    return found;
}

/* ---- loading ---- */

static int32_t intern(struct slm_xlm_bpe *xlm, const char *s, size_t len) {
    int32_t id = slm_str_map_get(&xlm->symbol_ids, s, len);
    if (id >= 0) return id;
    if (xlm->n_symbols == xlm->cap_symbols) {
        int32_t cap = xlm->cap_symbols ? xlm->cap_symbols * 2 : 256;
        char **grown = realloc(xlm->symbols, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        xlm->symbols = grown;
        xlm->cap_symbols = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    id = xlm->n_symbols;
    if (slm_str_map_put(&xlm->symbol_ids, copy, len, id) != 0) {
        free(copy);
        return -1;
    }
    xlm->symbols[xlm->n_symbols++] = copy;
    return id;
}

static int is_field_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* merges.txt: like the reference, only lines ended by "\n" count (it drops what follows the last one). */
static slm_status load_merges(struct slm_xlm_bpe *xlm, const char *path, slm_error *err) {
    size_t len = 0;
    char *data = read_file(path, &len);
    if (!data) return slm_fail(err, SLM_ERR_IO, "%s: cannot read", path);
    slm_status st = SLM_OK;
    if (slm_str_map_init(&xlm->symbol_ids, 1024) != 0 || slm_pair_map_init(&xlm->merges, 1024) != 0)
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    size_t pos = 0;
    int32_t rank = 0;
    for (int line_no = 1; st == SLM_OK; line_no++, rank++) {
        char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl) break;
        const char *line = data + pos, *end = nl;
        pos = (size_t)(nl - data) + 1;
        if (line_no == 1 && end - line >= 8 && strncmp(line, "#version", 8) == 0) continue;
        const char *field[3];
        size_t field_len[3];
        int n_fields = 0;
        for (const char *s = line; s < end;) {
            while (s < end && is_field_space(*s)) s++;
            if (s == end) break;
            const char *start = s;
            while (s < end && !is_field_space(*s)) s++;
            if (n_fields < 3) {
                field[n_fields] = start;
                field_len[n_fields] = (size_t)(s - start);
            }
            n_fields++;
        }
        if (n_fields == 0) continue; /* a blank line merges nothing */
        if (n_fields != 2) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: line %d: \"%.*s\" is not two symbols separated by a space", path,
                          line_no, (int)(end - line > 60 ? 60 : end - line), line);
            break;
        }
        char stack[256];
        size_t joined_len = field_len[0] + field_len[1];
        char *joined = joined_len <= sizeof stack ? stack : malloc(joined_len);
        int32_t a = -1, b = -1, ab = -1;
        if (joined) {
            memcpy(joined, field[0], field_len[0]);
            memcpy(joined + field_len[0], field[1], field_len[1]);
            a = intern(xlm, field[0], field_len[0]);
            b = a >= 0 ? intern(xlm, field[1], field_len[1]) : -1;
            ab = b >= 0 ? intern(xlm, joined, joined_len) : -1;
            if (joined != stack) free(joined);
        }
        if (ab < 0 || slm_pair_map_put(&xlm->merges, a, b, rank, ab) != 0)
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    free(data);
    return st;
}

static slm_status load_vocab(slm_tokenizer *tok, const char *path, slm_error *err) {
    json_error_t jerr;
    json_t *vocab = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!vocab)
        return slm_fail(err, json_error_code(&jerr) == json_error_cannot_open_file ? SLM_ERR_IO : SLM_ERR_FORMAT,
                        "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    slm_status st = SLM_OK;
    const char *key;
    size_t key_len;
    json_t *value;
    int32_t max_id = -1;
    if (!json_is_object(vocab)) st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a JSON object of token -> id", path);
    if (st == SLM_OK) {
        json_object_keylen_foreach(vocab, key, key_len, value) {
            json_int_t id = json_is_integer(value) ? json_integer_value(value) : -1;
            if (id < 0 || id >= MAX_VOCAB) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: entry \"%.*s\" has an id that is not an integer in 0..%d", path,
                              (int)(key_len > 60 ? 60 : key_len), key, MAX_VOCAB - 1);
                break;
            }
            if (id > max_id) max_id = (int32_t)id;
        }
    }
    if (st == SLM_OK && max_id < 0) st = slm_fail(err, SLM_ERR_FORMAT, "%s: the vocabulary is empty", path);
    if (st == SLM_OK && (slm_tokenizer_alloc_tokens(tok, max_id + 1) != 0 ||
                         slm_str_map_init(&tok->lookup, json_object_size(vocab)) != 0))
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (st == SLM_OK) {
        json_object_keylen_foreach(vocab, key, key_len, value) {
            int32_t id = (int32_t)json_integer_value(value);
            if (tok->tokens[id].text)
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: id %d is given to both \"%s\" and \"%.*s\"", path, (int)id,
                              tok->tokens[id].text, (int)(key_len > 60 ? 60 : key_len), key);
            else if (slm_tokenizer_set_text(tok, id, key, key_len) != 0)
                st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            if (st != SLM_OK) break;
        }
    }
    /* the lookup keys point at the entries' texts; a piece is what decoding adds: "</w>" -> " " */
    for (int32_t id = 0; st == SLM_OK && id < tok->n_tokens; id++) {
        slm_token_entry *e = &tok->tokens[id];
        if (!e->text) continue;
        if (slm_str_map_put(&tok->lookup, e->text, e->text_len, id) != 0)
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        size_t n = e->text_len;
        if (st == SLM_OK && n >= 4 && memcmp(e->text + n - 4, EOW, 4) == 0) {
            char *piece = malloc(n - 3);
            if (!piece || (memcpy(piece, e->text, n - 4), piece[n - 4] = ' ', slm_tokenizer_set_piece(tok, id, piece, n - 3)))
                st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            free(piece);
        }
    }
    json_decref(vocab);
    return st;
}

/* The text of a special token given as "text" or {"content": "text"}; NULL otherwise. */
static const char *token_text(json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_string_value(v);
}

/* The special token for key: tokenizer_config.json, else special_tokens_map.json, else fallback. */
static slm_status special_id(slm_tokenizer *tok, const char *key, const char *fallback, json_t *config, json_t *map,
                             int32_t *id, slm_error *err) {
    const char *text = token_text(json_object_get(config, key));
    if (!text) text = token_text(json_object_get(map, key));
    if (!text) text = fallback;
    *id = slm_str_map_get(&tok->lookup, text, strlen(text));
    if (*id < 0)
        return slm_fail(err, SLM_ERR_FORMAT, "%s: %s \"%s\" is not in vocab.json", "FlauBERT tokenizer", key, text);
    return SLM_OK;
}

static void add_special(struct slm_xlm_bpe *xlm, slm_tokenizer *tok, int32_t id) {
    for (int i = 0; i < xlm->n_specials; i++)
        if (xlm->specials[i] == id) return;
    if (xlm->n_specials < MAX_SPECIALS) xlm->specials[xlm->n_specials++] = id;
    tok->tokens[id].flags |= SLM_TOKEN_SPECIAL;
}

static slm_status set_template(slm_template *t, const slm_template_item *items, int n) {
    t->items = malloc((size_t)n * sizeof *items);
    if (!t->items) return SLM_ERR_OUT_OF_MEMORY;
    memcpy(t->items, items, (size_t)n * sizeof *items);
    t->n = n;
    return SLM_OK;
}

static slm_status load_specials(slm_tokenizer *tok, const char *dir, json_t *config, slm_error *err) {
    struct slm_xlm_bpe *xlm = tok->xlm;
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    json_t *map = json_load_file(path, 0, NULL);
    slm_status st = special_id(tok, "unk_token", "<unk>", config, map, &xlm->unk, err);
    if (st == SLM_OK) st = special_id(tok, "bos_token", "<s>", config, map, &xlm->bos, err);
    if (st == SLM_OK) st = special_id(tok, "sep_token", "</s>", config, map, &xlm->sep, err);
    if (st == SLM_OK) st = special_id(tok, "pad_token", "<pad>", config, map, &xlm->pad, err);
    if (st == SLM_OK) st = special_id(tok, "cls_token", "</s>", config, map, &xlm->cls, err);
    if (st == SLM_OK) st = special_id(tok, "mask_token", "<special1>", config, map, &xlm->mask, err);
    if (st == SLM_OK) {
        const int32_t named[] = {xlm->unk, xlm->bos, xlm->sep, xlm->pad, xlm->cls, xlm->mask};
        for (size_t i = 0; i < sizeof named / sizeof *named; i++) add_special(xlm, tok, named[i]);
        tok->tokens[xlm->unk].flags |= SLM_TOKEN_UNK;
        json_t *extra = json_object_get(config, "additional_special_tokens");
        if (!json_is_array(extra)) extra = json_object_get(map, "additional_special_tokens");
        size_t i;
        json_t *v;
        if (json_is_array(extra)) {
            json_array_foreach(extra, i, v) {
                const char *text = token_text(v);
                int32_t id = text ? slm_str_map_get(&tok->lookup, text, strlen(text)) : -1;
                if (id >= 0) add_special(xlm, tok, id); /* one absent from the vocabulary can never be produced */
            }
        } else {
            for (int k = 0; k < 10; k++) {
                char name[24];
                snprintf(name, sizeof name, "<special%d>", k);
                int32_t id = slm_str_map_get(&tok->lookup, name, strlen(name));
                if (id >= 0) add_special(xlm, tok, id);
            }
        }
    }
    json_decref(map);
    if (st != SLM_OK) return st;
    tok->bos = xlm->bos;
    tok->eos = -1; /* FlauBERT has no eos_token; </s> is its separator */
    const slm_template_item single[] = {{xlm->bos, 0}, {SLM_TEMPLATE_A, 0}, {xlm->sep, 0}};
    const slm_template_item pair[] = {{xlm->bos, 0}, {SLM_TEMPLATE_A, 0}, {xlm->sep, 0}, {SLM_TEMPLATE_B, 1}, {xlm->sep, 1}};
    if (set_template(&tok->single, single, 3) != SLM_OK || set_template(&tok->pair, pair, 5) != SLM_OK)
        return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    return SLM_OK;
}

slm_tokenizer *slm_xlm_bpe_load(const char *dir, slm_error *err) {
    char path[4096 + 64];
    slm_tokenizer *tok = slm_tokenizer_alloc(SLM_TOKENIZER_XLM_BPE);
    struct slm_xlm_bpe *xlm = calloc(1, sizeof *xlm);
    if (!tok || !xlm) {
        free(xlm);
        slm_tokenizer_free(tok);
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        return NULL;
    }
    tok->xlm = xlm;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_error_t jerr;
    json_t *config = json_load_file(path, 0, &jerr);
    slm_status st = SLM_OK;
    if (!config && json_error_code(&jerr) != json_error_cannot_open_file)
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
    const char *cls = json_string_value(json_object_get(config, "tokenizer_class"));
    if (st == SLM_OK && cls && strncmp(cls, "XLMTokenizer", 12) == 0)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED,
                      "%s: XLMTokenizer (language-specific Moses rules, lowercase_and_remove_accent) is not supported; "
                      "slm reads FlaubertTokenizer's XLM-style BPE", path);
    json_t *lower = json_object_get(config, "do_lowercase");
    xlm->do_lowercase = json_is_true(lower);
    if (st == SLM_OK) {
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        st = load_vocab(tok, path, err);
    }
    if (st == SLM_OK) {
        snprintf(path, sizeof path, "%s/merges.txt", dir);
        st = load_merges(xlm, path, err);
    }
    if (st == SLM_OK) st = load_specials(tok, dir, config, err);
    json_decref(config);
    if (st == SLM_OK) st = slm_tokenizer_read_config(tok, dir, 0, err);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

/* ---- BPE ---- */

/* One symbol of a word being merged: chars [start, end) of the word, its merge-symbol id (-1 when the
 * string takes part in no merge) and whether it ends the word (then its text ends in "</w>"). */
typedef struct {
    size_t start, end;
    int32_t sym;
} bpe_symbol;

/* Writes the UTF-8 of word[start, end) (+ "</w>") into buf; returns its length, or 0 when it does not fit. */
static size_t symbol_text(const int32_t *word, size_t start, size_t end, int eow, char *buf, size_t cap) {
    size_t n = 0;
    for (size_t i = start; i < end; i++) {
        if (n + 4 > cap) return 0;
        n += slm_utf8_encode(word[i], buf + n);
    }
    if (eow) {
        if (n + 4 > cap) return 0;
        memcpy(buf + n, EOW, 4);
        n += 4;
    }
    return n;
}

/* The reference's loop: merge every occurrence of the lowest-ranked adjacent pair, left to right,
 * until no adjacent pair is a merge. */
static int bpe_word(const struct slm_xlm_bpe *xlm, const int32_t *word, size_t n, bpe_symbol *sym, size_t *n_sym,
                    char *buf, size_t cap) {
    for (size_t i = 0; i < n; i++) {
        size_t len = symbol_text(word, i, i + 1, i + 1 == n, buf, cap);
        sym[i] = (bpe_symbol){i, i + 1, len ? slm_str_map_get(&xlm->symbol_ids, buf, len) : -1};
    }
    size_t count = n;
    while (count > 1) {
        int32_t best_rank = INT32_MAX, left = -1, right = -1, merged = -1;
        for (size_t i = 0; i + 1 < count; i++) {
            if (sym[i].sym < 0 || sym[i + 1].sym < 0) continue;
            const slm_pair_map_slot *m = slm_pair_map_get(&xlm->merges, sym[i].sym, sym[i + 1].sym);
            if (m && m->rank < best_rank) {
                best_rank = m->rank;
                left = sym[i].sym;
                right = sym[i + 1].sym;
                merged = m->merged;
            }
        }
        if (left < 0) break;
        size_t out = 0;
        for (size_t i = 0; i < count;) {
            if (i + 1 < count && sym[i].sym == left && sym[i + 1].sym == right) {
                sym[out++] = (bpe_symbol){sym[i].start, sym[i + 1].end, merged};
                i += 2;
            } else {
                sym[out++] = sym[i++];
            }
        }
        count = out;
    }
    *n_sym = count;
    return 0;
}

/* ---- offsets (best-effort) ---- */

typedef struct {
    const int32_t *orig; /* the original text's code points */
    size_t end;          /* end of the current piece of text */
    size_t cursor;
    int lower;
    int last_was_guess;
    int32_t last_start, last_end;
} aligner;

static int same_char(const aligner *a, int32_t x, int32_t y) {
    return x == y || (a->lower && utf8proc_tolower(x) == utf8proc_tolower(y));
}

static int matches(const aligner *a, size_t at, const int32_t *piece, size_t n) {
    if (at + n > a->end) return 0;
    for (size_t k = 0; k < n; k++)
        if (!same_char(a, a->orig[at + k], piece[k])) return 0;
    return 1;
}

static int skippable(int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return slm_moses_is_space(cp) || c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF ||
           c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN;
}

static void align(aligner *a, const int32_t *piece, size_t n, int32_t *start, int32_t *end) {
    size_t c = a->cursor;
    while (c < a->end && skippable(a->orig[c])) c++;
    if (matches(a, c, piece, n)) {
        *start = (int32_t)c;
        a->cursor = c + n;
        a->last_was_guess = 0;
    } else {
        size_t found = 0;
        for (size_t j = c + 1; j < a->end && j <= c + 16 && !found && n > 1; j++)
            if (matches(a, j, piece, n)) found = j;
        if (found) {
            *start = (int32_t)found;
            a->cursor = found + n;
            a->last_was_guess = 0;
        } else if (a->last_was_guess && a->cursor == (size_t)a->last_end) {
            *start = a->last_start; /* more output from the same normalized character ("…" -> "...") */
            *end = a->last_end;
            return;
        } else {
            *start = (int32_t)c;
            a->cursor = c + n < a->end ? c + n : a->end;
            a->last_was_guess = 1;
        }
    }
    if ((size_t)*start > a->cursor) a->cursor = (size_t)*start;
    *end = (int32_t)a->cursor;
    a->last_start = *start;
    a->last_end = *end;
}

/* ---- encoding ---- */

/* "``" and "''" -> '"', NFC, lowercase: the reference's preprocess_text. */
static int preprocess(const int32_t *text, size_t n, int lower, slm_cp_buf *out) {
    slm_cp_buf quoted = {0};
    int oom = 0;
    for (int round = 0; round < 2 && !oom; round++) {
        const int32_t *src = round == 0 ? text : quoted.data;
        size_t len = round == 0 ? n : quoted.len;
        slm_cp_buf next = {0};
        int32_t q = round == 0 ? '`' : '\'';
        for (size_t i = 0; i < len && !oom;) {
            if (i + 1 < len && src[i] == q && src[i + 1] == q) {
                oom = slm_cp_buf_push(&next, '"');
                i += 2;
            } else {
                oom = slm_cp_buf_push(&next, src[i++]);
            }
        }
        slm_cp_buf_free(&quoted);
        quoted = next;
    }
    char *utf8 = oom ? NULL : malloc(quoted.len * 4 + 1);
    size_t len = 0;
    for (size_t i = 0; utf8 && i < quoted.len; i++) len += slm_utf8_encode(quoted.data[i], utf8 + len);
    slm_cp_buf_free(&quoted);
    if (!utf8) return -1;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)utf8, (utf8proc_ssize_t)len, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(utf8);
    if (m < 0) return -1;
    for (utf8proc_ssize_t i = 0; i < m && !oom;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(nfc + i, m - i, &cp);
        if (k <= 0) break;
        oom = slm_cp_buf_push(out, lower ? utf8proc_tolower(cp) : cp);
        i += k;
    }
    free(nfc);
    return oom ? -1 : 0;
}

/* Tokenizes orig[start, end), a piece of text without special tokens. */
static slm_status encode_piece(const slm_tokenizer *tok, const int32_t *orig, size_t start, size_t end,
                               slm_token_vec *out, slm_error *err) {
    const struct slm_xlm_bpe *xlm = tok->xlm;
    slm_cp_buf pre = {0}, words = {0};
    bpe_symbol *sym = NULL;
    char *buf = NULL;
    slm_status st = SLM_OK;
    if (preprocess(orig + start, end - start, xlm->do_lowercase, &pre) != 0 ||
        slm_moses_fr_tokenize(pre.data, pre.len, &words) != 0)
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
    size_t cap = words.len * 4 + 8;
    if (st == SLM_OK) {
        sym = malloc((words.len + 1) * sizeof *sym);
        buf = malloc(cap);
        if (!sym || !buf) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
    }
    aligner a = {orig, end, start, xlm->do_lowercase, 0, 0, 0};
    for (size_t i = 0; st == SLM_OK && i < words.len;) {
        size_t w = i;
        while (w < words.len && words.data[w] != ' ') w++;
        const int32_t *word = words.data + i;
        size_t n = w - i, n_sym = 0;
        bpe_word(xlm, word, n, sym, &n_sym, buf, cap);
        for (size_t s = 0; s < n_sym && st == SLM_OK; s++) {
            size_t len = symbol_text(word, sym[s].start, sym[s].end, s + 1 == n_sym, buf, cap);
            int32_t id = slm_str_map_get(&tok->lookup, buf, len);
            if (id < 0) id = xlm->unk;
            int32_t span_start, span_end;
            align(&a, word + sym[s].start, sym[s].end - sym[s].start, &span_start, &span_end);
            if (slm_token_vec_push(out, id, span_start, span_end) != 0)
                st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
        }
        i = w + 1;
    }
    free(sym);
    free(buf);
    slm_cp_buf_free(&pre);
    slm_cp_buf_free(&words);
    return st;
}

slm_status slm_xlm_bpe_encode(const slm_tokenizer *tok, const char *text, size_t len, slm_token_vec *out,
                              slm_error *err) {
    const struct slm_xlm_bpe *xlm = tok->xlm;
    slm_cp_buf cps = {0};
    for (size_t i = 0; i < len;) {
        size_t k;
        int32_t cp = slm_utf8_decode((const unsigned char *)text + i, len - i, &k);
        if (cp < 0) {
            slm_cp_buf_free(&cps);
            return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_encode: text is not valid UTF-8 at byte offset %zu", i);
        }
        if (slm_cp_buf_push(&cps, cp) != 0) {
            slm_cp_buf_free(&cps);
            return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
        }
        i += k;
    }
    /* special tokens are cut out of the raw text first, the longest match at the earliest place */
    int32_t special_cps[MAX_SPECIALS][32];
    size_t special_n[MAX_SPECIALS];
    for (int s = 0; s < xlm->n_specials; s++) {
        const slm_token_entry *e = &tok->tokens[xlm->specials[s]];
        special_n[s] = 0;
        for (size_t i = 0; i < e->text_len && special_n[s] < 32;) {
            size_t k;
            special_cps[s][special_n[s]++] = slm_utf8_decode((const unsigned char *)e->text + i, e->text_len - i, &k);
            i += k;
        }
    }
    slm_status st = SLM_OK;
    size_t piece_start = 0;
    for (size_t i = 0; i <= cps.len && st == SLM_OK;) {
        int best = -1;
        for (int s = 0; s < xlm->n_specials && i < cps.len; s++) {
            size_t n = special_n[s];
            if (n > 0 && i + n <= cps.len && memcmp(cps.data + i, special_cps[s], n * sizeof(int32_t)) == 0 &&
                (best < 0 || n > special_n[best]))
                best = s;
        }
        if (best < 0 && i < cps.len) {
            i++;
            continue;
        }
        if (i > piece_start) st = encode_piece(tok, cps.data, piece_start, i, out, err);
        if (best < 0) break;
        if (st == SLM_OK && slm_token_vec_push(out, xlm->specials[best], (int32_t)i, (int32_t)(i + special_n[best])) != 0)
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_encode: out of memory");
        i += special_n[best];
        piece_start = i;
    }
    slm_cp_buf_free(&cps);
    return st;
}

/* ---- decoding and special tokens ---- */

slm_status slm_xlm_bpe_decode(const slm_tokenizer *tok, const int32_t *ids, size_t n_ids, int skip_special,
                              char **text, slm_error *err) {
    size_t total = 1;
    for (size_t i = 0; i < n_ids; i++) total += tok->tokens[ids[i]].text_len;
    char *joined = malloc(total);
    if (!joined) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "slm_detokenize: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const slm_token_entry *e = &tok->tokens[ids[i]];
        if (skip_special && (e->flags & SLM_TOKEN_SPECIAL)) continue;
        memcpy(joined + n, e->text, e->text_len);
        n += e->text_len;
    }
    /* "</w>" -> " " over the joined text, then Python's strip() */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 4 <= n && memcmp(joined + i, EOW, 4) == 0) {
            joined[o++] = ' ';
            i += 4;
        } else {
            joined[o++] = joined[i++];
        }
    }
    size_t a = 0, b = o, k;
    while (a < b) {
        int32_t cp = slm_utf8_decode((const unsigned char *)joined + a, b - a, &k);
        if (cp < 0 || !slm_moses_is_space(cp)) break;
        a += k;
    }
    while (b > a) { /* step back over one UTF-8 character */
        size_t s = b - 1;
        while (s > a && ((unsigned char)joined[s] & 0xC0) == 0x80) s--;
        int32_t cp = slm_utf8_decode((const unsigned char *)joined + s, b - s, &k);
        if (cp < 0 || !slm_moses_is_space(cp)) break;
        b = s;
    }
    memmove(joined, joined + a, b - a);
    joined[b - a] = '\0';
    *text = joined;
    return SLM_OK;
}

int32_t slm_xlm_bpe_special(const slm_tokenizer *tok, const char *role) {
    const struct slm_xlm_bpe *xlm = tok->xlm;
    if (!xlm) return -1;
    if (strcmp(role, "unk") == 0) return xlm->unk;
    if (strcmp(role, "cls") == 0) return xlm->cls;
    if (strcmp(role, "sep") == 0) return xlm->sep;
    if (strcmp(role, "pad") == 0) return xlm->pad;
    if (strcmp(role, "mask") == 0) return xlm->mask;
    return -1;
}
