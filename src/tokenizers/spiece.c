/* spiece.c — a SentencePiece model file (spiece.model, tokenizer.model: a serialized ModelProto) read
 * with a small protobuf wire-format reader: every varint and length is checked against the bytes left,
 * so a truncated or foreign file is an SLM_ERR_FORMAT that says where. The fields slm uses:
 *   ModelProto      1 pieces (repeated), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece, 2 score (float), 3 type (NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE)
 *   TrainerSpec     3 model_type (only UNIGRAM = 1), 24 treat_whitespace_as_suffix, 35 byte_fallback, 40 unk_id
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
 *                   5 escape_whitespaces
 * Loaded as a file, the model runs as SentencePiece itself does; loaded from a model folder, as
 * transformers' AlbertTokenizer does with tokenizer_config.json's do_lower_case, keep_accents and
 * remove_space (see unigram.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/unigram.h"

enum { MAX_MODEL_BYTES = 1 << 30, MAX_PIECES = 1 << 24 };

/* ---- protobuf wire format ---- */

typedef struct {
    const uint8_t *data; /* the whole file, for positions in messages */
    const uint8_t *p, *end;
} pb_reader;

typedef struct {
    uint32_t field;
    int wire;           /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    uint64_t value;     /* varint, fixed32, fixed64 */
    const uint8_t *bytes; /* length-delimited */
    size_t len;
} pb_field;

static size_t pb_pos(const pb_reader *r) { return (size_t)(r->p - r->data); }

static int pb_varint(pb_reader *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* Reads the next field; 0, or -1 with why set. */
static int pb_next(pb_reader *r, pb_field *f, const char **why) {
    uint64_t key;
    if (pb_varint(r, &key)) {
        *why = "truncated or overlong field key";
        return -1;
    }
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->field == 0 || (key >> 3) > 0x1FFFFFFF) {
        *why = "field number 0 or beyond 2^29";
        return -1;
    }
    switch (f->wire) {
    case 0:
        if (pb_varint(r, &f->value)) {
            *why = "truncated varint";
            return -1;
        }
        return 0;
    case 1:
    case 5: {
        size_t n = f->wire == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) {
            *why = "truncated fixed-width value";
            return -1;
        }
        f->value = 0;
        for (size_t k = 0; k < n; k++) f->value |= (uint64_t)r->p[k] << (8 * k);
        r->p += n;
        return 0;
    }
    case 2: {
        uint64_t len;
        if (pb_varint(r, &len)) {
            *why = "truncated length";
            return -1;
        }
        if (len > (uint64_t)(r->end - r->p)) {
            *why = "length runs past the end of its message";
            return -1;
        }
        f->bytes = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 0;
    }
    default:
        *why = "unsupported wire type (groups or not protobuf)";
        return -1;
    }
}

/* ---- the ModelProto ---- */

typedef struct {
    const uint8_t *text;
    size_t len;
    float score;
    int type;
} sp_piece;

typedef struct {
    sp_piece *pieces;
    size_t n, cap;
    int model_type, suffix_ws, byte_fallback;
    const uint8_t *charsmap;
    size_t charsmap_len;
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
} sp_model;

static slm_status bad(slm_error *err, const char *where, const pb_reader *r, const char *what, const char *why) {
    return slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: %s at byte %zu: %s", where, what,
                    pb_pos(r), why);
}

static slm_status parse_piece(sp_model *m, const char *where, pb_reader *outer, const pb_field *f, slm_error *err) {
    pb_reader r = {outer->data, f->bytes, f->bytes + f->len};
    sp_piece piece = {NULL, 0, 0.0f, SLM_SP_NORMAL};
    int has_text = 0;
    pb_field g;
    const char *why;
    while (r.p < r.end) {
        if (pb_next(&r, &g, &why)) return bad(err, where, &r, "a piece", why);
        if (g.field == 1 && g.wire == 2) {
            piece.text = g.bytes;
            piece.len = g.len;
            has_text = 1;
        } else if (g.field == 2 && g.wire == 5) {
            uint32_t bits = (uint32_t)g.value;
            memcpy(&piece.score, &bits, sizeof piece.score);
        } else if (g.field == 3 && g.wire == 0) {
            if (g.value < SLM_SP_NORMAL || g.value > SLM_SP_BYTE)
                return bad(err, where, &r, "a piece", "unknown piece type");
            piece.type = (int)g.value;
        } else if (g.field <= 3) {
            return bad(err, where, &r, "a piece", "field with the wrong wire type");
        }
    }
    if (!has_text) return bad(err, where, &r, "a piece", "no piece text");
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        if (cap > MAX_PIECES) return bad(err, where, &r, "the pieces", "too many pieces");
        sp_piece *p = realloc(m->pieces, cap * sizeof *p);
        if (!p) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        m->pieces = p;
        m->cap = cap;
    }
    m->pieces[m->n++] = piece;
    return SLM_OK;
}

static slm_status parse_model(sp_model *m, const char *where, const uint8_t *data, size_t size, slm_error *err) {
    pb_reader r = {data, data, data + size};
    pb_field f, g;
    const char *why;
    m->model_type = 1; /* TrainerSpec's default: UNIGRAM */
    m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = 1;
    int has_normalizer = 0;
    while (r.p < r.end) {
        if (pb_next(&r, &f, &why)) return bad(err, where, &r, "the model", why);
        if (f.field >= 1 && f.field <= 3 && f.wire != 2)
            return bad(err, where, &r, "the model", "a message field that is not length-delimited");
        if (f.field == 1) {
            slm_status st = parse_piece(m, where, &r, &f, err);
            if (st != SLM_OK) return st;
        } else if (f.field == 2 || f.field == 3) {
            pb_reader s = {data, f.bytes, f.bytes + f.len};
            if (f.field == 3) has_normalizer = 1;
            while (s.p < s.end) {
                if (pb_next(&s, &g, &why))
                    return bad(err, where, &s, f.field == 2 ? "trainer_spec" : "normalizer_spec", why);
                if (f.field == 2 && g.wire == 0) {
                    if (g.field == 3) m->model_type = (int)g.value;
                    if (g.field == 24) m->suffix_ws = g.value != 0;
                    if (g.field == 35) m->byte_fallback = g.value != 0;
                } else if (f.field == 3) {
                    if (g.field == 2 && g.wire == 2) {
                        m->charsmap = g.bytes;
                        m->charsmap_len = g.len;
                    } else if (g.wire == 0 && g.field == 3) {
                        m->add_dummy_prefix = g.value != 0;
                    } else if (g.wire == 0 && g.field == 4) {
                        m->remove_extra_whitespaces = g.value != 0;
                    } else if (g.wire == 0 && g.field == 5) {
                        m->escape_whitespaces = g.value != 0;
                    }
                }
            }
        }
    }
    if (m->n == 0) return slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: it has no pieces", where);
    (void)has_normalizer;
    return SLM_OK;
}

/* ---- loading ---- */

static uint8_t *read_file(const char *path, size_t *size, slm_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        slm_fail(err, SLM_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    uint8_t *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || n > MAX_MODEL_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        slm_fail(err, n > MAX_MODEL_BYTES ? SLM_ERR_FORMAT : SLM_ERR_IO, "%s: cannot read (or larger than 1 GiB)", path);
        return NULL;
    }
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        slm_fail(err, buf ? SLM_ERR_IO : SLM_ERR_OUT_OF_MEMORY, "%s: cannot read", path);
        return NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static int get_bool(json_t *obj, const char *key, int fallback) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

/* A special token's id from the config ("text" or {"content": ...}) or the usual text. */
static int32_t config_token(const slm_tokenizer *tok, json_t *config, const char *key, const char *usual) {
    json_t *v = json_object_get(config, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    const char *text = json_is_string(v) ? json_string_value(v) : usual;
    return slm_str_map_get(&tok->lookup, text, strlen(text));
}

static slm_status albert_settings(slm_tokenizer *tok, const char *dir, slm_error *err) {
    slm_unigram *u = tok->unigram;
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *config = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        json_error_t jerr;
        config = json_load_file(path, 0, &jerr);
        if (!config) return slm_fail(err, SLM_ERR_FORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
    }
    u->do_lower_case = get_bool(config, "do_lower_case", 1);
    u->keep_accents = get_bool(config, "keep_accents", 0);
    u->remove_space = get_bool(config, "remove_space", 1);
    u->cls_id = config_token(tok, config, "cls_token", "[CLS]");
    u->sep_id = config_token(tok, config, "sep_token", "[SEP]");
    u->pad_id = config_token(tok, config, "pad_token", "<pad>");
    u->mask_id = config_token(tok, config, "mask_token", "[MASK]");
    json_decref(config);
    slm_status st = SLM_OK;
    /* [CLS] $A [SEP] and [CLS] $A [SEP] $B:1 [SEP]:1 */
    if (u->cls_id >= 0 && u->sep_id >= 0) {
        tok->single.items = malloc(3 * sizeof *tok->single.items);
        tok->pair.items = malloc(5 * sizeof *tok->pair.items);
        if (!tok->single.items || !tok->pair.items) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        slm_template_item s[3] = {{u->cls_id, 0}, {SLM_TEMPLATE_A, 0}, {u->sep_id, 0}};
        slm_template_item p[5] = {{u->cls_id, 0}, {SLM_TEMPLATE_A, 0}, {u->sep_id, 0}, {SLM_TEMPLATE_B, 1}, {u->sep_id, 1}};
        memcpy(tok->single.items, s, sizeof s);
        memcpy(tok->pair.items, p, sizeof p);
        tok->single.n = 3;
        tok->pair.n = 5;
    }
    for (int32_t id = 0; id < tok->n_tokens && st == SLM_OK; id++) {
        uint8_t type = u->types[id];
        int special = type == SLM_SP_CONTROL || type == SLM_SP_UNKNOWN || id == u->mask_id || id == u->pad_id;
        if (special || type == SLM_SP_USER_DEFINED) st = slm_unigram_add_raw_token(tok, dir, id, special, err);
    }
    if (st == SLM_OK) st = slm_tokenizer_read_config(tok, dir, 0, err);
    return st;
}

slm_tokenizer *slm_spiece_load(const char *path, const char *dir, slm_error *err) {
    size_t size = 0;
    uint8_t *data = read_file(path, &size, err);
    if (!data) return NULL;
    sp_model m;
    memset(&m, 0, sizeof m);
    slm_tokenizer *tok = slm_tokenizer_alloc(SLM_TOKENIZER_UNIGRAM);
    slm_status st = tok ? SLM_OK : slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (st == SLM_OK) {
        tok->unigram = slm_unigram_alloc(dir ? SLM_UNIGRAM_ALBERT : SLM_UNIGRAM_SP);
        if (!tok->unigram) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    if (st == SLM_OK) st = parse_model(&m, path, data, size, err);
    if (st == SLM_OK && m.model_type != 1)
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: SentencePiece model type %d is not supported (only UNIGRAM = 1)",
                      path, m.model_type);
    if (st == SLM_OK && (m.suffix_ws || m.byte_fallback))
        st = slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: SentencePiece %s is not supported", path,
                      m.suffix_ws ? "treat_whitespace_as_suffix" : "byte_fallback");
    slm_unigram *u = tok ? tok->unigram : NULL;
    if (st == SLM_OK && slm_tokenizer_alloc_tokens(tok, (int32_t)m.n))
        st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (st == SLM_OK) {
        u->scores = calloc(m.n, sizeof *u->scores);
        u->types = calloc(m.n, 1);
        if (!u->scores || !u->types) st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (size_t i = 0; st == SLM_OK && i < m.n; i++) {
        const sp_piece *p = &m.pieces[i];
        if (p->len == 0) {
            st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: piece %zu is empty", path, i);
            break;
        }
        for (size_t k = 0; k < p->len;) {
            size_t n;
            if (slm_utf8_decode(p->text + k, p->len - k, &n) < 0) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: piece %zu is not UTF-8", path, i);
                break;
            }
            k += n;
        }
        if (st != SLM_OK) break;
        if (slm_tokenizer_set_text(tok, (int32_t)i, (const char *)p->text, p->len)) {
            st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            break;
        }
        u->scores[i] = p->score;
        u->types[i] = (uint8_t)p->type;
        if (p->type == SLM_SP_UNKNOWN) {
            if (u->unk_id >= 0) {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: two unknown pieces (%d, %zu)",
                              path, (int)u->unk_id, i);
                break;
            }
            u->unk_id = (int32_t)i;
        }
        if (p->type == SLM_SP_BYTE) {
            unsigned v;
            char tail;
            if (p->len != 6 || sscanf((const char *)tok->tokens[i].text, "<0x%2X%c", &v, &tail) != 2 || tail != '>') {
                st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: byte piece %zu is not <0xXX>", path, i);
                break;
            }
            unsigned char byte = (unsigned char)v;
            tok->tokens[i].flags |= SLM_TOKEN_BYTE;
            if (slm_tokenizer_set_piece(tok, (int32_t)i, (const char *)&byte, 1)) {
                st = slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                break;
            }
        }
    }
    if (st == SLM_OK && u->unk_id < 0)
        st = slm_fail(err, SLM_ERR_FORMAT, "%s: not a valid SentencePiece model: no unknown piece", path);
    if (st == SLM_OK && m.charsmap_len > 0) st = slm_unigram_set_charsmap(u, path, m.charsmap, m.charsmap_len, err);
    if (st == SLM_OK) {
        u->add_dummy_prefix = m.add_dummy_prefix;
        u->remove_extra_whitespaces = m.remove_extra_whitespaces;
        u->escape_whitespaces = m.escape_whitespaces;
        u->decoder_metaspace = 1;
        u->prepend = m.add_dummy_prefix ? SLM_PREPEND_ALWAYS : SLM_PREPEND_NEVER;
        st = slm_unigram_finish(tok, path, err);
    }
    if (st == SLM_OK && !dir) { /* SentencePiece alone: user-defined pieces are matched in its normalizer */
        for (int32_t id = 0; id < tok->n_tokens && st == SLM_OK; id++)
            if (u->types[id] == SLM_SP_USER_DEFINED) st = slm_unigram_add_raw_token(tok, path, id, 0, err);
        for (int32_t id = 0; id < tok->n_tokens; id++)
            if (u->types[id] == SLM_SP_CONTROL && strcmp(tok->tokens[id].text, "<pad>") == 0) u->pad_id = id;
    }
    if (st == SLM_OK && dir) st = albert_settings(tok, dir, err);
    free(m.pieces);
    free(data);
    if (st != SLM_OK) {
        slm_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}
