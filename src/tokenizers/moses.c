/* moses.c — FlauBERT's preprocessing before BPE, rewritten from the behaviour of transformers'
 * FlaubertTokenizer.moses_pipeline / moses_tokenize and the sacremoses classes they call:
 *   1. replace_unicode_punct: fullwidth and CJK punctuation to ASCII ("，" -> ",", "。 " -> ". ", ...);
 *   2. MosesPunctNormalizer(lang="fr").normalize: spacing around brackets, curly quotes and dashes,
 *      French guillemets to '"', non-breaking-space rules, ',"' -> '",', digit NBSP digit -> digit,digit;
 *   3. remove_non_printing_char: drops every character of general category C*;
 *   4. MosesTokenizer(lang="fr").tokenize(escape=False): pads everything that is not alphanumeric
 *      (except . ' ` , -), keeps runs of dots together, splits commas except inside numbers,
 *      the French apostrophe rules ("l'homme" -> "l' homme"), the French non-breaking prefixes
 *      for final periods, no aggressive dash splitting, no XML escaping.
 * Every step is one left-to-right pass with Python re.sub's semantics (non-overlapping matches,
 * scanning resumes after a match). Perl's IsAlpha / IsAlnum / IsLower / IsN, which sacremoses reads
 * from its perluniprops data, are general categories plus moses_tables.h; sacremoses also counts the
 * Indic viramas and nuktas as alphanumeric. */
#include "tokenizers/moses.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizers/moses_tables.h"
#include "tokenizers/tokenizer_impl.h"

enum { NBSP = 0xA0 };

int slm_cp_buf_push(slm_cp_buf *b, int32_t cp) {
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *data = realloc(b->data, cap * sizeof *data);
        if (!data) return -1;
        b->data = data;
        b->cap = cap;
    }
    b->data[b->len++] = cp;
    return 0;
}

void slm_cp_buf_free(slm_cp_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- character classes ---- */

int slm_moses_is_space(int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

static int in_ranges(int32_t cp, const slm_cp_range *r, size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].first) hi = mid;
        else if (cp > r[mid].last) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static utf8proc_category_t category(int32_t cp) {
    return cp >= 0 && cp <= 0x10FFFF ? utf8proc_category(cp) : UTF8PROC_CATEGORY_CN;
}

/* sacremoses' indic.py VIRAMAS and NUKTAS, added to its IsAlpha and IsAlnum. */
static const int32_t VIRAMAS_NUKTAS[] = {
    0x093C, 0x094D, 0x09BC, 0x09CD, 0x0A3C, 0x0A4D, 0x0ABC, 0x0ACD, 0x0AFD, 0x0AFE, 0x0AFF, 0x0B3C, 0x0B4D,
    0x0BCD, 0x0C4D, 0x0CBC, 0x0CCD, 0x0D3B, 0x0D3C, 0x0D4D, 0x0DCA, 0x0EBA, 0x1039, 0x1714, 0x1BAB, 0x1C37,
    0xA8C4, 0xA8F3, 0xA8F4, 0xA953, 0xAAF6, 0x10A3F, 0x11046, 0x110B9, 0x110BA, 0x11133, 0x11173, 0x111C0,
    0x111CA, 0x11235, 0x11236, 0x112E9, 0x112EA, 0x1133C, 0x1134D, 0x11442, 0x11446, 0x114C2, 0x114C3, 0x115BF,
    0x115C0, 0x1163F, 0x116B6, 0x116B7, 0x11839, 0x1183A, 0x119E0, 0x11A34, 0x11C3F, 0x11D42, 0x11D45, 0x11D97,
    0x1E94A};

/* Characters whose Unicode names are algorithmic (CJK ideographs, Hangul syllables, Tangut, Khitan,
 * Nushu) are missing from sacremoses' perluniprops lists, so Moses pads them like punctuation
 * ("abc日本" -> "abc 日 本"); its CJK languages add them back, French does not. */
static int has_algorithmic_name(int32_t cp) {
    return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x17000 && cp <= 0x18D8F) || (cp >= 0x1B170 && cp <= 0x1B2FF) ||
           (cp >= 0x20000 && cp <= 0x3134F);
}

static int is_alpha(int32_t cp) {
    if (has_algorithmic_name(cp)) return 0;
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
        return 1;
    default:
        break;
    }
    if (in_ranges(cp, OTHER_ALPHABETIC, sizeof OTHER_ALPHABETIC / sizeof *OTHER_ALPHABETIC)) return 1;
    for (size_t i = 0; i < sizeof VIRAMAS_NUKTAS / sizeof *VIRAMAS_NUKTAS; i++)
        if (VIRAMAS_NUKTAS[i] == cp) return 1;
    return 0;
}

static int is_digit(int32_t cp) { return category(cp) == UTF8PROC_CATEGORY_ND; } /* Python's \d */
static int is_alnum(int32_t cp) { return is_digit(cp) || is_alpha(cp); }
static int is_number(int32_t cp) {
    utf8proc_category_t c = category(cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}
static int is_lower(int32_t cp) {
    return category(cp) == UTF8PROC_CATEGORY_LL ||
           in_ranges(cp, OTHER_LOWERCASE, sizeof OTHER_LOWERCASE / sizeof *OTHER_LOWERCASE);
}
static int is_ascii_letter(int32_t cp) { return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'); }

/* ---- a pass: read cur, write next, swap ---- */

typedef struct {
    slm_cp_buf bufs[2];
    slm_cp_buf *cur, *next;
    int oom;
} pass;

static void emit(pass *p, int32_t cp) {
    if (!p->oom && slm_cp_buf_push(p->next, cp)) p->oom = 1;
}

static void emit_str(pass *p, const char *ascii) {
    while (*ascii) emit(p, (unsigned char)*ascii++);
}

static void finish(pass *p) {
    slm_cp_buf *t = p->cur;
    p->cur = p->next;
    p->next = t;
    p->next->len = 0;
}

/* Decodes a short UTF-8 literal into cps (room for 8); returns the count. */
static size_t literal(const char *utf8, int32_t *cps) {
    size_t n = 0, i = 0, len = strlen(utf8);
    while (i < len && n < 8) {
        size_t k;
        cps[n++] = slm_utf8_decode((const unsigned char *)utf8 + i, len - i, &k);
        i += k;
    }
    return n;
}

static int match_at(const slm_cp_buf *b, size_t i, const int32_t *pat, size_t n) {
    return i + n <= b->len && memcmp(b->data + i, pat, n * sizeof *pat) == 0;
}

/* re.sub(from, to) for literal from and to. */
static void replace(pass *p, const char *from, const char *to) {
    int32_t pat[8], rep[8];
    size_t np = literal(from, pat), nr = literal(to, rep);
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len;) {
        if (match_at(c, i, pat, np)) {
            for (size_t k = 0; k < nr; k++) emit(p, rep[k]);
            i += np;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
}

/* " +" -> " " */
static void squeeze_spaces(pass *p) {
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len; i++)
        if (!(c->data[i] == ' ' && i > 0 && c->data[i - 1] == ' ')) emit(p, c->data[i]);
    finish(p);
}

/* "\s+" -> " " */
static void squeeze_whitespace(pass *p) {
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len; i++) {
        if (!slm_moses_is_space(c->data[i])) emit(p, c->data[i]);
        else if (i == 0 || !slm_moses_is_space(c->data[i - 1])) emit(p, ' ');
    }
    finish(p);
}

/* str.strip() */
static void strip(pass *p) {
    const slm_cp_buf *c = p->cur;
    size_t a = 0, b = c->len;
    while (a < b && slm_moses_is_space(c->data[a])) a++;
    while (b > a && slm_moses_is_space(c->data[b - 1])) b--;
    for (size_t i = a; i < b; i++) emit(p, c->data[i]);
    finish(p);
}

/* A three-character rule "(L)X(R)" -> "L" out "R", where L and R are tests and X a character. */
typedef int (*cp_test)(int32_t cp);
static void replace_between(pass *p, cp_test left, int32_t middle, cp_test right, const char *out) {
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len;) {
        if (i + 2 < c->len && c->data[i + 1] == middle && left(c->data[i]) && right(c->data[i + 2])) {
            emit(p, c->data[i]);
            emit_str(p, out);
            emit(p, c->data[i + 2]);
            i += 3;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
}

static int not_alpha(int32_t cp) { return !is_alpha(cp); }

/* ---- 1. replace_unicode_punct ---- */

static const char *const UNICODE_PUNCT[][2] = {
    {"，", ","}, {"、", ","}, {"”", "\""}, {"“", "\""}, {"∶", ":"}, {"：", ":"}, {"？", "?"}, {"《", "\""},
    {"》", "\""}, {"）", ")"}, {"！", "!"}, {"（", "("}, {"；", ";"}, {"１", "1"}, {"」", "\""}, {"「", "\""},
    {"０", "0"}, {"３", "3"}, {"２", "2"}, {"５", "5"}, {"６", "6"}, {"９", "9"}, {"７", "7"}, {"８", "8"},
    {"４", "4"}, {"～", "~"}, {"’", "'"}, {"…", "..."}, {"━", "-"}, {"〈", "<"}, {"〉", ">"}, {"【", "["},
    {"】", "]"}, {"％", "%"}};

/* Every replacement maps one non-ASCII character to ASCII, so one pass equals the reference's chain;
 * "。" and "．" also swallow the whitespace after them ("。\s*" -> ". "). */
static void replace_unicode_punct(pass *p) {
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len;) {
        int32_t cp = c->data[i++];
        if (cp == 0x3002 || cp == 0xFF0E) {
            emit_str(p, ". ");
            while (i < c->len && slm_moses_is_space(c->data[i])) i++;
            continue;
        }
        const char *to = NULL;
        for (size_t k = 0; k < sizeof UNICODE_PUNCT / sizeof *UNICODE_PUNCT && !to; k++) {
            int32_t from[8];
            literal(UNICODE_PUNCT[k][0], from);
            if (from[0] == cp) to = UNICODE_PUNCT[k][1];
        }
        if (to) emit_str(p, to);
        else emit(p, cp);
    }
    finish(p);
}

/* ---- 2. MosesPunctNormalizer(lang="fr") ---- */

static int is_close_punct(int32_t cp) { return cp && strchr(".!:?;,", cp) != NULL && cp < 128; }

static void punct_normalize_fr(pass *p) {
    const slm_cp_buf *c;
    /* extra whitespace */
    replace(p, "\r", "");
    replace(p, "(", " (");
    replace(p, ")", ") ");
    squeeze_spaces(p);
    c = p->cur; /* "\) ([.!:?;,])" -> ")\1" */
    for (size_t i = 0; i < c->len;) {
        if (c->data[i] == ')' && i + 2 < c->len && c->data[i + 1] == ' ' && is_close_punct(c->data[i + 2])) {
            emit(p, ')');
            emit(p, c->data[i + 2]);
            i += 3;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
    replace(p, "( ", "(");
    replace(p, " )", ")");
    c = p->cur; /* "(\d) %" -> "\1%" */
    for (size_t i = 0; i < c->len;) {
        if (i + 2 < c->len && is_digit(c->data[i]) && c->data[i + 1] == ' ' && c->data[i + 2] == '%') {
            emit(p, c->data[i]);
            emit(p, '%');
            i += 3;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
    replace(p, " :", ":");
    replace(p, " ;", ";");
    /* Penn quotes (penn=True) */
    replace(p, "`", "'");
    replace(p, "''", " \" ");
    /* unicode quotes and dashes */
    replace(p, "„", "\"");
    replace(p, "“", "\"");
    replace(p, "”", "\"");
    replace(p, "–", "-");
    replace(p, "—", " - ");
    squeeze_spaces(p);
    replace(p, "´", "'");
    replace_between(p, is_ascii_letter, 0x2018, is_ascii_letter, "'");
    replace_between(p, is_ascii_letter, 0x2019, is_ascii_letter, "'");
    replace(p, "‘", "'");
    replace(p, "‚", "'");
    replace(p, "’", "'");
    replace(p, "''", "\"");
    replace(p, "´´", "\"");
    replace(p, "…", "...");
    /* French quotes */
    replace(p, "\u00A0«\u00A0", "\"");
    replace(p, "«\u00A0", "\"");
    replace(p, "«", "\"");
    replace(p, "\u00A0»\u00A0", "\"");
    replace(p, "\u00A0»", "\"");
    replace(p, "»", "\"");
    /* pseudo-spaces */
    replace(p, "\u00A0%", "%");
    replace(p, "nº\u00A0", "nº ");
    replace(p, "\u00A0:", ":");
    replace(p, "\u00A0ºC", " ºC");
    replace(p, "\u00A0cm", " cm");
    replace(p, "\u00A0?", "?");
    replace(p, "\u00A0!", "!");
    replace(p, "\u00A0;", ";");
    replace(p, ",\u00A0", ", ");
    squeeze_spaces(p);
    /* quotation followed by comma (de, es, fr) */
    replace(p, ",\"", "\",");
    c = p->cur; /* '(\.+)"(\s*[^<])' -> '"\1\2' */
    for (size_t i = 0; i < c->len;) {
        size_t dots = 0;
        while (i + dots < c->len && c->data[i + dots] == '.') dots++;
        size_t q = i + dots, ws = 0;
        if (dots > 0 && q < c->len && c->data[q] == '"') {
            while (q + 1 + ws < c->len && slm_moses_is_space(c->data[q + 1 + ws])) ws++;
            size_t after = q + 1 + ws; /* [^<] takes the next character, or gives back the last space */
            size_t end = after < c->len && c->data[after] != '<' ? after + 1 : ws > 0 ? after : 0;
            if (end > 0) {
                emit(p, '"');
                for (size_t k = i; k < q; k++) emit(p, '.');
                for (size_t k = q + 1; k < end; k++) emit(p, c->data[k]);
                i = end;
                continue;
            }
        }
        emit(p, c->data[i++]);
    }
    finish(p);
    /* numbers (de, es, cz, cs, fr): "(\d)\u00A0(\d)" -> "\1,\2" */
    c = p->cur;
    for (size_t i = 0; i < c->len;) {
        if (i + 2 < c->len && is_digit(c->data[i]) && c->data[i + 1] == NBSP && is_digit(c->data[i + 2])) {
            emit(p, c->data[i]);
            emit(p, ',');
            emit(p, c->data[i + 2]);
            i += 3;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
    strip(p);
}

/* ---- 3. remove_non_printing_char ---- */

static void remove_non_printing(pass *p) {
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len; i++) {
        switch (category(c->data[i])) {
        case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
            break;
        default:
            emit(p, c->data[i]);
        }
    }
    finish(p);
}

/* ---- 4. MosesTokenizer(lang="fr").tokenize(escape=False) ---- */

/* nonbreaking_prefix.fr as sacremoses reads it (comment lines dropped: "#a" is not a prefix). */
static const char *const FRENCH_PREFIXES[] = {
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U",
    "V", "W", "X", "Y", "Z", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
    "r", "s", "t", "u", "v", "w", "x", "y", "z", "A.C.N", "A.M", "art", "ann", "apr", "av", "auj", "lib",
    "B.P", "boul", "ca", "c.-à-d", "cf", "ch.-l", "chap", "contr", "C.P.I", "C.Q.F.D", "C.N", "C.N.S", "C.S",
    "dir", "éd", "e.g", "env", "al", "etc", "E.V", "ex", "fasc", "fém", "fig", "fr", "hab", "ibid", "id", "i.e",
    "inf", "LL.AA", "LL.AA.II", "LL.AA.RR", "LL.AA.SS", "L.D", "LL.EE", "LL.MM", "LL.MM.II.RR", "loc.cit",
    "masc", "MM", "ms", "N.B", "N.D.A", "N.D.L.R", "N.D.T", "n/réf", "NN.SS", "N.S", "N.D", "N.P.A.I", "p.c.c",
    "pl", "pp", "p.ex", "p.j", "P.S", "R.A.S", "R.-V", "R.P", "R.I.P", "SS", "S.S", "S.A", "S.A.I", "S.A.R",
    "S.A.S", "S.E", "sec", "sect", "sing", "S.M", "S.M.I.R", "sq", "sqq", "suiv", "sup", "suppl", "tél",
    "T.S.V.P", "vb", "vol", "vs", "X.O", "Z.I"};

static int is_french_prefix(const int32_t *cps, size_t n) {
    char utf8[64];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (len + 4 >= sizeof utf8) return 0;
        len += slm_utf8_encode(cps[i], utf8 + len);
    }
    utf8[len] = '\0';
    for (size_t k = 0; k < sizeof FRENCH_PREFIXES / sizeof *FRENCH_PREFIXES; k++)
        if (strcmp(FRENCH_PREFIXES[k], utf8) == 0) return 1;
    return 0;
}

/* "([^IsAlnum\s\.'\`\,\-])" -> " \1 " */
static void pad_not_alnum(pass *p) {
    const slm_cp_buf *c = p->cur;
    for (size_t i = 0; i < c->len; i++) {
        int32_t cp = c->data[i];
        if (is_alnum(cp) || slm_moses_is_space(cp) || cp == '.' || cp == '\'' || cp == '`' || cp == ',' ||
            cp == '-') {
            emit(p, cp);
        } else {
            emit(p, ' ');
            emit(p, cp);
            emit(p, ' ');
        }
    }
    finish(p);
}

/* Runs of dots stay together: the reference's DOTMULTI / DOTDOTMULTI literal-string dance. */
static int contains(const slm_cp_buf *b, const int32_t *pat, size_t n) {
    for (size_t i = 0; i + n <= b->len; i++)
        if (match_at(b, i, pat, n)) return 1;
    return 0;
}

static void replace_multidots(pass *p) {
    const slm_cp_buf *c = p->cur; /* "\.([\.]+)" -> " DOTMULTI\1" */
    for (size_t i = 0; i < c->len;) {
        if (c->data[i] == '.' && i + 1 < c->len && c->data[i + 1] == '.') {
            emit_str(p, " DOTMULTI");
            i++;
            while (i < c->len && c->data[i] == '.') emit(p, c->data[i++]);
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
    int32_t dotmulti_dot[9];
    literal("DOTMULTI.", dotmulti_dot);
    while (!p->oom && contains(p->cur, dotmulti_dot, 9)) {
        c = p->cur; /* "DOTMULTI\.([^\.])" -> "DOTDOTMULTI \1" */
        for (size_t i = 0; i < c->len;) {
            if (match_at(c, i, dotmulti_dot, 9) && i + 9 < c->len && c->data[i + 9] != '.') {
                emit_str(p, "DOTDOTMULTI ");
                emit(p, c->data[i + 9]);
                i += 10;
            } else {
                emit(p, c->data[i++]);
            }
        }
        finish(p);
        replace(p, "DOTMULTI.", "DOTDOTMULTI");
    }
}

static void restore_multidots(pass *p) {
    int32_t dotdot[11];
    literal("DOTDOTMULTI", dotdot);
    while (!p->oom && contains(p->cur, dotdot, 11)) replace(p, "DOTDOTMULTI", "DOTMULTI.");
    replace(p, "DOTMULTI", ".");
}

/* Splits a final period off each word unless the word is a known abbreviation, contains another
 * period and a letter, or the next word starts lowercase. */
static void nonbreaking_prefixes(pass *p) {
    const slm_cp_buf *c = p->cur;
    size_t i = 0;
    int first = 1;
    while (i < c->len) {
        while (i < c->len && slm_moses_is_space(c->data[i])) i++;
        if (i == c->len) break;
        size_t start = i;
        while (i < c->len && !slm_moses_is_space(c->data[i])) i++;
        size_t end = i, next = i;
        while (next < c->len && slm_moses_is_space(c->data[next])) next++;
        if (!first) emit(p, ' ');
        first = 0;
        int split = 0;
        if (end - start >= 2 && c->data[end - 1] == '.') {
            const int32_t *prefix = c->data + start;
            size_t n = end - start - 1;
            int has_dot = 0, has_alpha = 0;
            for (size_t k = 0; k < n; k++) {
                has_dot |= prefix[k] == '.';
                has_alpha |= is_alpha(prefix[k]);
            }
            int keep = (has_dot && has_alpha) || is_french_prefix(prefix, n) ||
                       (next < c->len && is_lower(c->data[next]));
            split = !keep; /* French has no #NUMERIC_ONLY# prefixes */
        }
        for (size_t k = start; k < end - (size_t)split; k++) emit(p, c->data[k]);
        if (split) emit_str(p, " .");
    }
    finish(p);
}

static void moses_tokenize_fr(pass *p) {
    squeeze_whitespace(p);
    const slm_cp_buf *c = p->cur; /* ASCII junk */
    for (size_t i = 0; i < c->len; i++)
        if (c->data[i] < 0 || c->data[i] > 0x1F) emit(p, c->data[i]);
    finish(p);
    strip(p);
    pad_not_alnum(p);
    replace_multidots(p);
    /* commas, except inside numbers */
    c = p->cur; /* "([^IsN])[,]" -> "\1 , " */
    for (size_t i = 0; i < c->len;) {
        if (i + 1 < c->len && c->data[i + 1] == ',' && !is_number(c->data[i])) {
            emit(p, c->data[i]);
            emit_str(p, " , ");
            i += 2;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
    c = p->cur; /* "[,]([^IsN])" -> " , \1" */
    for (size_t i = 0; i < c->len;) {
        if (c->data[i] == ',' && i + 1 < c->len && !is_number(c->data[i + 1])) {
            emit_str(p, " , ");
            emit(p, c->data[i + 1]);
            i += 2;
        } else {
            emit(p, c->data[i++]);
        }
    }
    finish(p);
    c = p->cur; /* "([IsN])[,]$" -> "\1 , " */
    if (c->len >= 2 && c->data[c->len - 1] == ',' && is_number(c->data[c->len - 2])) {
        for (size_t i = 0; i + 1 < c->len; i++) emit(p, c->data[i]);
        emit_str(p, " , ");
        finish(p);
    }
    /* French and Italian apostrophes */
    replace_between(p, not_alpha, '\'', not_alpha, " ' ");
    replace_between(p, not_alpha, '\'', is_alpha, " ' ");
    replace_between(p, is_alpha, '\'', not_alpha, " ' ");
    replace_between(p, is_alpha, '\'', is_alpha, "' ");
    nonbreaking_prefixes(p);
    squeeze_whitespace(p);
    strip(p);
    c = p->cur; /* "\.' ?$" -> " . ' " (the text is stripped: no trailing space) */
    if (c->len >= 2 && c->data[c->len - 2] == '.' && c->data[c->len - 1] == '\'') {
        for (size_t i = 0; i + 2 < c->len; i++) emit(p, c->data[i]);
        emit_str(p, " . ' ");
        finish(p);
    }
    restore_multidots(p);
    /* the caller splits on whitespace: leave single spaces between words and none around */
    squeeze_whitespace(p);
    strip(p);
}

int slm_moses_fr_tokenize(const int32_t *text, size_t n, slm_cp_buf *out) {
    pass p;
    memset(&p, 0, sizeof p);
    p.cur = &p.bufs[0];
    p.next = &p.bufs[1];
    for (size_t i = 0; i < n; i++) emit(&p, text[i]);
    finish(&p);
    replace_unicode_punct(&p);
    punct_normalize_fr(&p);
    remove_non_printing(&p);
    moses_tokenize_fr(&p);
    slm_cp_buf_free(p.next);
    if (p.oom) {
        slm_cp_buf_free(p.cur);
        return -1;
    }
    *out = *p.cur;
    return 0;
}
