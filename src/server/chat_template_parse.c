/* chat_template_parse.c — the chat template's lexer and parser: source text into
 * segments (text, {{ }}, {% %}, {# #}) with Jinja's whitespace rules applied the
 * way Hugging Face configures them (trim_blocks, lstrip_blocks, "-" controls),
 * then each tag's tokens into statements and expressions (chat_template_ast.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/chat_template_ast.h"

enum { MAX_DEPTH = 100 }; /* nesting of expressions and blocks: bounded recursion */

typedef enum { SEG_TEXT, SEG_OUTPUT, SEG_BLOCK, SEG_COMMENT } seg_kind;

typedef struct {
    seg_kind kind;
    const char *start; /* text, or the tag's inside */
    size_t len;
    int strip_before, strip_after; /* "-" on the tag's left / right */
    int keep_before, keep_after;   /* "+" on the tag's left / right */
    int line;
} segment;

typedef enum { T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_END } token_kind;

typedef struct {
    token_kind kind;
    char *text; /* names, operators and decoded strings */
    long long i;
    double f;
} token;

typedef struct {
    segment *segs;
    int n_segs, at;
    token *toks;
    int n_toks, pos;
    char *error;
    size_t error_cap;
    int failed, depth;
    int line; /* of the tag being parsed */
} parser;

static void fail(parser *p, int line, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = 1;
    int n = snprintf(p->error, p->error_cap, "chat_template line %d: ", line);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->error_cap) vsnprintf(p->error + n, p->error_cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static int line_of(const char *source, const char *at) {
    int line = 1;
    for (const char *s = source; s < at; s++) line += *s == '\n';
    return line;
}

/* End of a tag's inside: the closing delimiter outside string literals, or NULL. */
static const char *tag_end(const char *s, char close) {
    char quote = 0;
    for (; *s; s++) {
        if (quote) {
            if (*s == '\\' && s[1]) s++;
            else if (*s == quote) quote = 0;
        } else if (*s == '\'' || *s == '"') {
            quote = *s;
        } else if (*s == close && s[1] == '}') {
            return s;
        }
    }
    return NULL;
}

static int push_segment(parser *p, segment seg) {
    segment *grown = realloc(p->segs, (size_t)(p->n_segs + 1) * sizeof *grown);
    if (!grown) return 0;
    p->segs = grown;
    p->segs[p->n_segs++] = seg;
    return 1;
}

/* Splits the source into text and tags; reads the "-" and "+" markers. */
static int split_segments(parser *p, const char *source) {
    const char *s = source;
    while (*s) {
        const char *open = s;
        while (*open && !(open[0] == '{' && (open[1] == '{' || open[1] == '%' || open[1] == '#'))) open++;
        if (open > s && !push_segment(p, (segment){SEG_TEXT, s, (size_t)(open - s), 0, 0, 0, 0, line_of(source, s)}))
            return 0;
        if (!*open) break;
        char close = open[1] == '{' ? '}' : open[1];
        segment seg = {open[1] == '{' ? SEG_OUTPUT : open[1] == '%' ? SEG_BLOCK : SEG_COMMENT, open + 2, 0, 0, 0, 0, 0,
                       line_of(source, open)};
        const char *end;
        if (seg.kind == SEG_COMMENT) {
            end = strstr(open + 2, "#}");
        } else {
            end = tag_end(open + 2, close);
        }
        if (!end) {
            fail(p, seg.line, "unclosed %.2s", open);
            return 0;
        }
        if (*seg.start == '-' || *seg.start == '+') {
            seg.strip_before = *seg.start == '-';
            seg.keep_before = *seg.start == '+';
            seg.start++;
        }
        if (end > seg.start && (end[-1] == '-' || end[-1] == '+')) {
            seg.strip_after = end[-1] == '-';
            seg.keep_after = end[-1] == '+';
            end--;
        }
        seg.len = end > seg.start ? (size_t)(end - seg.start) : 0;
        if (!push_segment(p, seg)) return 0;
        s = end + (seg.strip_after || seg.keep_after ? 3 : 2);
    }
    return 1;
}

/* Applies the whitespace rules to each text segment from its neighbouring tags. Both
 * ends are decided on the original text, as Jinja's lexer does: lstrip_blocks looks at
 * the source line even when trim_blocks removed the newline before it. */
static void apply_whitespace(parser *p) {
    for (int i = 0; i < p->n_segs; i++) {
        segment *t = &p->segs[i];
        if (t->kind != SEG_TEXT) continue;
        const segment *prev = i > 0 ? &p->segs[i - 1] : NULL, *next = i + 1 < p->n_segs ? &p->segs[i + 1] : NULL;
        size_t front = 0, end = t->len;
        if (prev && prev->strip_after) {
            while (front < t->len && isspace((unsigned char)t->start[front])) front++;
        } else if (prev && prev->kind != SEG_OUTPUT && !prev->keep_after) { /* trim_blocks */
            if (t->len && t->start[0] == '\n') front = 1;
            else if (t->len >= 2 && t->start[0] == '\r' && t->start[1] == '\n') front = 2;
        }
        if (next && next->strip_before) {
            while (end > 0 && isspace((unsigned char)t->start[end - 1])) end--;
        } else if (next && next->kind != SEG_OUTPUT && !next->keep_before) { /* lstrip_blocks */
            size_t k = t->len;
            while (k && (t->start[k - 1] == ' ' || t->start[k - 1] == '\t')) k--;
            if ((k == 0 && !prev) || (k > 0 && t->start[k - 1] == '\n')) end = k;
        }
        t->start += front;
        t->len = end > front ? end - front : 0;
    }
}

/* ---- tokens of one tag ---- */

static void free_tokens(parser *p) {
    for (int i = 0; i < p->n_toks; i++) free(p->toks[i].text);
    free(p->toks);
    p->toks = NULL;
    p->n_toks = p->pos = 0;
}

static int push_token(parser *p, token t) {
    token *grown = realloc(p->toks, (size_t)(p->n_toks + 1) * sizeof *grown);
    if (!grown) {
        free(t.text);
        return 0;
    }
    p->toks = grown;
    p->toks[p->n_toks++] = t;
    return 1;
}

/* A quoted string literal at s (quote included) decoded into *out; returns its length in the source. */
static size_t lex_string(const char *s, size_t n, char **out) {
    char quote = s[0];
    char *buf = malloc(n + 1);
    size_t k = 0, i = 1;
    if (!buf) return 0;
    for (; i < n && s[i] != quote; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        }
        buf[k++] = c;
    }
    buf[k] = '\0';
    if (i >= n) {
        free(buf);
        return 0;
    }
    *out = buf;
    return i + 1;
}

static char *copy_text(const char *s, size_t n) {
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static int lex_tag(parser *p, const segment *seg) {
    free_tokens(p);
    p->line = seg->line;
    static const char *ops[] = {"==", "!=", "<=", ">=", "//", "<", ">", "+", "-", "*", "/", "%", "~", "(", ")",
                                "[", "]", "{", "}", ".", ",", ":", "|", "="};
    const char *s = seg->start;
    size_t n = seg->len, i = 0;
    while (i < n) {
        char c = s[i];
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        token t = {T_OP, NULL, 0, 0};
        if (isalpha((unsigned char)c) || c == '_') {
            size_t j = i;
            while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_')) j++;
            t.kind = T_NAME;
            t.text = copy_text(s + i, j - i);
            i = j;
        } else if (isdigit((unsigned char)c)) {
            char *end;
            t.i = strtoll(s + i, &end, 10);
            t.kind = T_INT;
            if (*end == '.' && isdigit((unsigned char)end[1])) {
                t.f = strtod(s + i, &end);
                t.kind = T_FLOAT;
            }
            i = (size_t)(end - s);
        } else if (c == '\'' || c == '"') {
            size_t used = lex_string(s + i, n - i, &t.text);
            if (!used) {
                fail(p, seg->line, "unterminated string");
                return 0;
            }
            t.kind = T_STRING;
            i += used;
        } else {
            size_t k = 0;
            while (k < sizeof ops / sizeof ops[0] && strncmp(s + i, ops[k], strlen(ops[k])) != 0) k++;
            if (k == sizeof ops / sizeof ops[0]) {
                fail(p, seg->line, "unexpected character '%c'", c);
                return 0;
            }
            t.text = copy_text(ops[k], strlen(ops[k]));
            i += strlen(ops[k]);
        }
        if ((t.kind != T_INT && t.kind != T_FLOAT && !t.text) || !push_token(p, t)) {
            fail(p, seg->line, "out of memory");
            return 0;
        }
    }
    p->pos = 0;
    return 1;
}

static const token *peek(const parser *p) {
    static const token end = {T_END, NULL, 0, 0};
    return p->pos < p->n_toks ? &p->toks[p->pos] : &end;
}

static int line_now(const parser *p) { return p->line; }

static int is_op(const parser *p, const char *op) {
    const token *t = peek(p);
    return t->kind == T_OP && !strcmp(t->text, op);
}

static int is_word(const parser *p, const char *word) {
    const token *t = peek(p);
    return t->kind == T_NAME && !strcmp(t->text, word);
}

static int accept_op(parser *p, const char *op) {
    if (!is_op(p, op)) return 0;
    p->pos++;
    return 1;
}

static int accept_word(parser *p, const char *word) {
    if (!is_word(p, word)) return 0;
    p->pos++;
    return 1;
}

static void expect_op(parser *p, const char *op) {
    if (!accept_op(p, op)) fail(p, line_now(p), "expected '%s'", op);
}

static char *expect_name(parser *p) {
    const token *t = peek(p);
    if (t->kind != T_NAME) {
        fail(p, line_now(p), "expected a name");
        return NULL;
    }
    p->pos++;
    return copy_text(t->text, strlen(t->text));
}

/* ---- expressions ---- */

static expr *new_expr(parser *p, expr_kind kind) {
    expr *e = calloc(1, sizeof *e);
    if (!e) fail(p, line_now(p), "out of memory");
    else e->kind = kind, e->line = line_now(p);
    return e;
}

static expr *binary(parser *p, binary_op op, expr *a, expr *b) {
    expr *e = new_expr(p, E_BINARY);
    if (!e) {
        srv_template_free_expr(a);
        srv_template_free_expr(b);
        return NULL;
    }
    e->op = op;
    e->a = a;
    e->b = b;
    return e;
}

static int push_arg(parser *p, expr *e, expr *arg, char *name, expr *key) {
    expr **args = realloc(e->args, (size_t)(e->n_args + 1) * sizeof *args);
    if (args) e->args = args;
    char **names = args ? realloc(e->arg_names, (size_t)(e->n_args + 1) * sizeof *names) : NULL;
    if (names) e->arg_names = names;
    expr **keys = names ? realloc(e->keys, (size_t)(e->n_args + 1) * sizeof *keys) : NULL;
    if (!keys) {
        fail(p, line_now(p), "out of memory");
        srv_template_free_expr(arg);
        srv_template_free_expr(key);
        free(name);
        return 0;
    }
    e->keys = keys;
    e->args[e->n_args] = arg;
    e->arg_names[e->n_args] = name;
    e->keys[e->n_args++] = key;
    return 1;
}

static expr *parse_expression(parser *p);

/* Arguments up to the closing ")" or "]" (already past the opener); name=value allowed when kwargs. */
static void parse_args(parser *p, expr *e, const char *close, int kwargs) {
    while (!p->failed && !accept_op(p, close)) {
        if (e->n_args > 0) expect_op(p, ",");
        if (accept_op(p, close)) break; /* trailing comma */
        char *name = NULL;
        if (kwargs && peek(p)->kind == T_NAME && p->pos + 1 < p->n_toks && p->toks[p->pos + 1].kind == T_OP &&
            !strcmp(p->toks[p->pos + 1].text, "=")) {
            name = expect_name(p);
            p->pos++;
        }
        expr *arg = parse_expression(p);
        if (!arg || !push_arg(p, e, arg, name, NULL)) {
            if (arg == NULL) free(name);
            return;
        }
    }
}

static expr *literal(parser *p, json_t *value) {
    expr *e = new_expr(p, E_LITERAL);
    if (!e || !value) {
        json_decref(value);
        free(e);
        if (!p->failed) fail(p, line_now(p), "out of memory");
        return NULL;
    }
    e->value = value;
    return e;
}

static expr *parse_dict(parser *p) {
    expr *e = new_expr(p, E_DICT);
    while (e && !p->failed && !accept_op(p, "}")) {
        if (e->n_args > 0) expect_op(p, ",");
        expr *key = parse_expression(p);
        expect_op(p, ":");
        expr *value = key && !p->failed ? parse_expression(p) : NULL;
        if (!value) {
            srv_template_free_expr(key);
            break;
        }
        push_arg(p, e, value, NULL, key);
    }
    return e;
}

static expr *parse_primary(parser *p) {
    const token *t = peek(p);
    if (t->kind == T_END) {
        fail(p, line_now(p), "expression expected");
        return NULL;
    }
    p->pos++;
    switch (t->kind) {
    case T_STRING: return literal(p, json_string(t->text));
    case T_INT: return literal(p, json_integer(t->i));
    case T_FLOAT: return literal(p, json_real(t->f));
    case T_NAME:
        if (!strcmp(t->text, "true") || !strcmp(t->text, "True")) return literal(p, json_true());
        if (!strcmp(t->text, "false") || !strcmp(t->text, "False")) return literal(p, json_false());
        if (!strcmp(t->text, "none") || !strcmp(t->text, "None")) return literal(p, json_null());
        {
            expr *e = new_expr(p, E_NAME);
            if (e) e->name = copy_text(t->text, strlen(t->text));
            return e;
        }
    default: break;
    }
    if (!strcmp(t->text, "(")) {
        expr *e = parse_expression(p);
        expect_op(p, ")");
        return e;
    }
    if (!strcmp(t->text, "[")) {
        expr *e = new_expr(p, E_LIST);
        if (e) parse_args(p, e, "]", 0);
        return e;
    }
    if (!strcmp(t->text, "{")) return parse_dict(p);
    fail(p, line_now(p), "unexpected '%s'", t->text);
    return NULL;
}

/* Subscript after "[": an index or a slice a[b:c]. */
static expr *parse_subscript(parser *p, expr *object) {
    expr *e = new_expr(p, E_INDEX);
    if (!e) {
        srv_template_free_expr(object);
        return NULL;
    }
    e->a = object;
    if (!is_op(p, ":")) e->b = parse_expression(p);
    if (accept_op(p, ":")) {
        e->kind = E_SLICE;
        if (!is_op(p, "]")) e->c = parse_expression(p);
    }
    expect_op(p, "]");
    return e;
}

static expr *parse_postfix(parser *p) {
    expr *e = parse_primary(p);
    while (e && !p->failed) {
        if (accept_op(p, ".")) {
            expr *attr = new_expr(p, E_ATTR);
            if (!attr) break;
            attr->a = e;
            attr->name = expect_name(p);
            e = attr;
        } else if (accept_op(p, "[")) {
            e = parse_subscript(p, e);
        } else if (accept_op(p, "(")) {
            expr *call = new_expr(p, E_CALL);
            if (!call) break;
            call->a = e;
            e = call;
            parse_args(p, call, ")", 1);
        } else {
            break;
        }
    }
    return e;
}

/* Filters bind tighter than any operator: a | f(x) | g. */
static expr *parse_filtered(parser *p) {
    expr *e = parse_postfix(p);
    while (e && !p->failed && accept_op(p, "|")) {
        expr *f = new_expr(p, E_FILTER);
        if (!f) break;
        f->a = e;
        f->name = expect_name(p);
        e = f;
        if (accept_op(p, "(")) parse_args(p, f, ")", 1);
    }
    return e;
}

static expr *parse_unary(parser *p) {
    if (accept_op(p, "-")) {
        expr *e = new_expr(p, E_NEGATE);
        if (e) e->a = parse_unary(p);
        return e;
    }
    if (accept_op(p, "+")) return parse_unary(p);
    return parse_filtered(p);
}

static expr *parse_product(parser *p) {
    expr *e = parse_unary(p);
    while (e && !p->failed) {
        binary_op op;
        if (accept_op(p, "*")) op = OP_MUL;
        else if (accept_op(p, "//")) op = OP_FLOORDIV;
        else if (accept_op(p, "/")) op = OP_DIV;
        else if (accept_op(p, "%")) op = OP_MOD;
        else break;
        e = binary(p, op, e, parse_unary(p));
    }
    return e;
}

/* Jinja's order: ~ binds tighter than + and -. */
static expr *parse_concat(parser *p) {
    expr *e = parse_product(p);
    while (e && !p->failed && accept_op(p, "~")) e = binary(p, OP_CONCAT, e, parse_product(p));
    return e;
}

static expr *parse_sum(parser *p) {
    expr *e = parse_concat(p);
    while (e && !p->failed) {
        binary_op op;
        if (accept_op(p, "+")) op = OP_ADD;
        else if (accept_op(p, "-")) op = OP_SUB;
        else break;
        e = binary(p, op, e, parse_concat(p));
    }
    return e;
}

/* "is [not] name" with an optional argument: defined, none, string, ... */
static expr *parse_test(parser *p, expr *subject) {
    expr *e = new_expr(p, E_TEST);
    if (!e) {
        srv_template_free_expr(subject);
        return NULL;
    }
    e->a = subject;
    e->negate = accept_word(p, "not");
    e->name = expect_name(p);
    if (accept_op(p, "(")) parse_args(p, e, ")", 0);
    return e;
}

static expr *parse_comparison(parser *p) {
    expr *e = parse_sum(p);
    while (e && !p->failed) {
        static const struct {
            const char *op;
            binary_op code;
        } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"<", OP_LT}, {">", OP_GT}};
        size_t k = 0;
        while (k < sizeof ops / sizeof ops[0] && !is_op(p, ops[k].op)) k++;
        if (k < sizeof ops / sizeof ops[0]) {
            p->pos++;
            e = binary(p, ops[k].code, e, parse_sum(p));
        } else if (accept_word(p, "in")) {
            e = binary(p, OP_IN, e, parse_sum(p));
        } else if (is_word(p, "not") && p->pos + 1 < p->n_toks && p->toks[p->pos + 1].kind == T_NAME &&
                   !strcmp(p->toks[p->pos + 1].text, "in")) {
            p->pos += 2;
            e = binary(p, OP_NOT_IN, e, parse_sum(p));
        } else if (accept_word(p, "is")) {
            e = parse_test(p, e);
        } else {
            break;
        }
    }
    return e;
}

static expr *parse_not(parser *p) {
    if (accept_word(p, "not")) {
        expr *e = new_expr(p, E_NOT);
        if (e) e->a = parse_not(p);
        return e;
    }
    return parse_comparison(p);
}

static expr *parse_and(parser *p) {
    expr *e = parse_not(p);
    while (e && !p->failed && accept_word(p, "and")) e = binary(p, OP_AND, e, parse_not(p));
    return e;
}

static expr *parse_or(parser *p) {
    expr *e = parse_and(p);
    while (e && !p->failed && accept_word(p, "or")) e = binary(p, OP_OR, e, parse_and(p));
    return e;
}

/* then if cond [else other] */
static expr *parse_expression(parser *p) {
    if (++p->depth > MAX_DEPTH) {
        fail(p, line_now(p), "expression nested deeper than %d", MAX_DEPTH);
        p->depth--;
        return NULL;
    }
    expr *e = parse_or(p);
    if (e && !p->failed && accept_word(p, "if")) {
        expr *c = new_expr(p, E_IF);
        if (c) {
            c->b = e;
            c->a = parse_or(p);
            if (accept_word(p, "else")) c->c = parse_expression(p);
            e = c;
        }
    }
    p->depth--;
    if (p->failed) {
        srv_template_free_expr(e);
        return NULL;
    }
    return e;
}

/* ---- statements ---- */

static stmt *new_stmt(parser *p, stmt_kind kind) {
    stmt *s = calloc(1, sizeof *s);
    if (!s) fail(p, line_now(p), "out of memory");
    else s->kind = kind, s->line = line_now(p);
    return s;
}

static int push_stmt(parser *p, stmt_list *l, stmt *s) {
    stmt **grown = realloc(l->items, (size_t)(l->n + 1) * sizeof *grown);
    if (!grown) {
        fail(p, line_now(p), "out of memory");
        return 0;
    }
    l->items = grown;
    l->items[l->n++] = s;
    return 1;
}

static void free_stmt(stmt *s);

static void expect_tag_end(parser *p) {
    if (!p->failed && peek(p)->kind != T_END) fail(p, line_now(p), "unexpected '%s' before %%}", peek(p)->text ? peek(p)->text : "number");
}

/* Parses statements into out until a block tag starting with one of the words in ends
 * (NULL-terminated); returns that word's index with the tag's tokens loaded past the word,
 * or -1 at the end of the template (an error when ends is non-empty). */
static int parse_body(parser *p, stmt_list *out, const char *const *ends);

static stmt *parse_if(parser *p) {
    stmt *s = new_stmt(p, S_IF);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    expr *cond = s ? parse_expression(p) : NULL;
    int word = 0;
    while (s && !p->failed) {
        expect_tag_end(p);
        expr **conds = realloc(s->conditions, (size_t)(s->n_branches + 1) * sizeof *conds);
        if (conds) s->conditions = conds;
        stmt_list *bodies = conds ? realloc(s->bodies, (size_t)(s->n_branches + 1) * sizeof *bodies) : NULL;
        if (!bodies) {
            srv_template_free_expr(cond);
            fail(p, line_now(p), "out of memory");
            break;
        }
        s->bodies = bodies;
        s->conditions[s->n_branches] = cond;
        memset(&s->bodies[s->n_branches], 0, sizeof *bodies);
        s->n_branches++;
        cond = NULL;
        if (word == 1) { /* the else branch: only endif may follow */
            static const char *const endif[] = {"endif", NULL};
            if (parse_body(p, &s->bodies[s->n_branches - 1], endif) < 0) fail(p, s->line, "if without endif");
            break;
        }
        word = parse_body(p, &s->bodies[s->n_branches - 1], ends);
        if (word < 0) {
            fail(p, s->line, "if without endif");
            break;
        }
        if (word == 2) break;
        if (word == 0) cond = parse_expression(p);
    }
    expect_tag_end(p);
    return s;
}

static stmt *parse_for(parser *p) {
    stmt *s = new_stmt(p, S_FOR);
    if (!s) return NULL;
    s->var = expect_name(p);
    if (accept_op(p, ",")) s->var2 = expect_name(p);
    if (!accept_word(p, "in")) fail(p, line_now(p), "expected 'in' in for");
    if (!p->failed) s->value = parse_or(p); /* not parse_expression: a trailing "if" filters */
    if (!p->failed && accept_word(p, "if")) s->filter = parse_expression(p);
    expect_tag_end(p);
    static const char *const ends[] = {"else", "endfor", NULL};
    int word = p->failed ? -1 : parse_body(p, &s->body, ends);
    if (word == 0) {
        static const char *const endfor[] = {"endfor", NULL};
        expect_tag_end(p);
        word = parse_body(p, &s->else_body, endfor);
    }
    if (word < 0) fail(p, s->line, "for without endfor");
    expect_tag_end(p);
    return s;
}

static stmt *parse_set(parser *p) {
    stmt *s = new_stmt(p, S_SET);
    if (!s) return NULL;
    s->target = expect_name(p);
    if (accept_op(p, ".")) s->attr = expect_name(p);
    expect_op(p, "=");
    if (!p->failed) s->value = parse_expression(p);
    expect_tag_end(p);
    return s;
}

/* One block tag whose tokens are loaded: a statement, or NULL for a tag that adds nothing. */
static stmt *parse_block(parser *p) {
    char *word = expect_name(p);
    stmt *s = NULL;
    if (!word) return NULL;
    if (!strcmp(word, "if")) s = parse_if(p);
    else if (!strcmp(word, "for")) s = parse_for(p);
    else if (!strcmp(word, "set")) s = parse_set(p);
    else if (!strcmp(word, "break") || !strcmp(word, "continue")) {
        s = new_stmt(p, word[0] == 'b' ? S_BREAK : S_CONTINUE);
        expect_tag_end(p);
    } else if (!strcmp(word, "generation")) { /* HF's assistant-mask marker: render the body */
        static const char *const ends[] = {"endgeneration", NULL};
        s = new_stmt(p, S_BLOCK);
        expect_tag_end(p);
        if (s && parse_body(p, &s->body, ends) < 0) fail(p, s->line, "generation without endgeneration");
        expect_tag_end(p);
    } else {
        fail(p, line_now(p), "unsupported tag '%s'", word);
    }
    free(word);
    if (p->failed) {
        free_stmt(s);
        return NULL;
    }
    return s;
}

static int parse_body(parser *p, stmt_list *out, const char *const *ends) {
    if (++p->depth > MAX_DEPTH) {
        fail(p, line_now(p), "blocks nested deeper than %d", MAX_DEPTH);
        return -1;
    }
    int found = -1;
    /* Each segment is consumed here; a block statement's parser consumes its body and end tag. */
    while (!p->failed && p->at < p->n_segs) {
        const segment *seg = &p->segs[p->at++];
        stmt *s = NULL;
        if (seg->kind == SEG_COMMENT) continue;
        if (seg->kind == SEG_TEXT) {
            if (!seg->len) continue;
            s = new_stmt(p, S_TEXT);
            if (s) s->text = copy_text(seg->start, seg->len), s->text_len = seg->len;
        } else {
            if (!lex_tag(p, seg)) break;
            if (seg->kind == SEG_OUTPUT) {
                s = new_stmt(p, S_OUTPUT);
                if (s) s->value = parse_expression(p);
                expect_tag_end(p);
            } else {
                for (int k = 0; ends && ends[k] && found < 0; k++)
                    if (is_word(p, ends[k])) found = k;
                if (found >= 0) {
                    p->pos++;
                    break;
                }
                s = parse_block(p);
                if (!s && !p->failed) continue;
            }
        }
        if (!s || p->failed || !push_stmt(p, out, s)) {
            free_stmt(s);
            break;
        }
    }
    p->depth--;
    return p->failed ? -1 : found;
}

/* ---- freeing ---- */

void srv_template_free_expr(expr *e) {
    if (!e) return;
    free(e->name);
    json_decref(e->value);
    srv_template_free_expr(e->a);
    srv_template_free_expr(e->b);
    srv_template_free_expr(e->c);
    for (int i = 0; i < e->n_args; i++) {
        srv_template_free_expr(e->args[i]);
        if (e->arg_names) free(e->arg_names[i]);
        if (e->keys) srv_template_free_expr(e->keys[i]);
    }
    free(e->args);
    free(e->arg_names);
    free(e->keys);
    free(e);
}

static void free_stmt(stmt *s) {
    if (!s) return;
    free(s->text);
    srv_template_free_expr(s->value);
    for (int i = 0; i < s->n_branches; i++) {
        srv_template_free_expr(s->conditions[i]);
        srv_template_free_list(&s->bodies[i]);
    }
    free(s->conditions);
    free(s->bodies);
    free(s->var);
    free(s->var2);
    srv_template_free_expr(s->filter);
    srv_template_free_list(&s->body);
    srv_template_free_list(&s->else_body);
    free(s->target);
    free(s->attr);
    free(s);
}

void srv_template_free_list(stmt_list *l) {
    for (int i = 0; i < l->n; i++) free_stmt(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

void srv_template_free(srv_template *t) {
    if (!t) return;
    srv_template_free_list(&t->body);
    free(t);
}

srv_template *srv_template_parse(const char *source, char *error, size_t error_cap) {
    char scratch[8];
    parser p = {.error = error ? error : scratch, .error_cap = error ? error_cap : sizeof scratch};
    srv_template *t = calloc(1, sizeof *t);
    if (!t || !source) {
        fail(&p, 0, t ? "no template" : "out of memory");
        free(t);
        return NULL;
    }
    if (split_segments(&p, source)) {
        apply_whitespace(&p);
        parse_body(&p, &t->body, NULL);
    } else if (!p.failed) {
        fail(&p, 0, "out of memory");
    }
    free_tokens(&p);
    free(p.segs);
    if (p.failed) {
        srv_template_free(t);
        return NULL;
    }
    return t;
}

const char srv_plain_chat_template[] =
    "{% for message in messages %}"
    "{% if message.role == 'system' %}{{ message.content }}\n\n"
    "{% elif message.role == 'user' %}User: {{ message.content }}\n"
    "{% else %}Assistant: {{ message.content }}\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}";
