/* chat_template_render.c — evaluating a parsed chat template against a context of
 * jansson values. Python's semantics where templates rely on them (str() of values,
 * truthiness, negative indexes and slices, + on strings and lists); an undefined
 * variable is NULL and renders as nothing. Work and output are bounded, so a hostile
 * template or request cannot loop forever or exhaust memory. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/chat_template_ast.h"

enum { MAX_STEPS = 1000000, MAX_RANGE = 100000, MAX_SCOPES = 200 };
#define MAX_OUTPUT ((size_t)16 << 20)

typedef struct {
    char *data;
    size_t len, cap;
} text_buffer;

typedef struct {
    json_t *scopes[MAX_SCOPES]; /* innermost last */
    int n_scopes;
    text_buffer out;
    char *error;
    size_t error_cap;
    int failed;
    int loop_control; /* 1 break, 2 continue: unwinding to the enclosing for */
    long steps;
} renderer;

static json_t *eval(renderer *r, const expr *e);

static void render_fail(renderer *r, int line, const char *fmt, ...) {
    if (r->failed) return;
    r->failed = 1;
    int n = line > 0 ? snprintf(r->error, r->error_cap, "chat_template line %d: ", line) : 0;
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < r->error_cap) vsnprintf(r->error + n, r->error_cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static void append(renderer *r, const char *s, size_t n) {
    text_buffer *b = &r->out;
    if (r->failed) return;
    if (b->len + n + 1 > MAX_OUTPUT) {
        render_fail(r, 0, "chat_template: rendered prompt is larger than %zu bytes", MAX_OUTPUT);
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            render_fail(r, 0, "chat_template: out of memory");
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* ---- values ---- */

static int truthy(const json_t *v) {
    if (!v) return 0;
    switch (json_typeof(v)) {
    case JSON_NULL: case JSON_FALSE: return 0;
    case JSON_TRUE: return 1;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_OBJECT: return json_object_size(v) > 0;
    }
    return 0;
}

/* Python's repr of a float: the shortest form that reads back the same, with ".0" when integral. */
static void format_real(double x, char *buf, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (isfinite(x) && !strpbrk(buf, ".e")) strncat(buf, ".0", cap - strlen(buf) - 1);
}

/* str(value) appended to b: strings as they are, True/False/None, numbers as Python prints them. */
static void to_text(renderer *r, const json_t *v) {
    char num[64];
    if (!v) return;
    switch (json_typeof(v)) {
    case JSON_STRING: append(r, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: format_real(json_real_value(v), num, sizeof num); break;
    case JSON_TRUE: snprintf(num, sizeof num, "True"); break;
    case JSON_FALSE: snprintf(num, sizeof num, "False"); break;
    case JSON_NULL: snprintf(num, sizeof num, "None"); break;
    default: {
        char *dump = json_dumps(v, JSON_ENCODE_ANY);
        if (dump) append(r, dump, strlen(dump));
        free(dump);
        return;
    }
    }
    append(r, num, strlen(num));
}

/* str(value) as a new string value. */
static json_t *stringify(renderer *r, const json_t *v) {
    text_buffer saved = r->out;
    r->out = (text_buffer){0};
    to_text(r, v);
    json_t *s = json_stringn(r->out.data ? r->out.data : "", r->out.len);
    free(r->out.data);
    r->out = saved;
    return s;
}

static int is_number(const json_t *v) { return v && (json_is_integer(v) || json_is_real(v)); }
static double number(const json_t *v) { return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v); }

static int values_equal(const json_t *a, const json_t *b) {
    if (!a || !b) return a == b;
    if (is_number(a) && is_number(b)) return number(a) == number(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static json_t *lookup(const renderer *r, const char *name) {
    for (int i = r->n_scopes - 1; i >= 0; i--) {
        json_t *v = json_object_get(r->scopes[i], name);
        if (v) return json_incref(v);
    }
    return NULL;
}

/* Code points of a UTF-8 string (Python's len). */
static size_t utf8_length(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += ((unsigned char)s[i] & 0xc0) != 0x80;
    return count;
}

/* ---- operators ---- */

static json_t *concat_strings(const char *a, size_t na, const char *b, size_t nb) {
    char *buf = malloc(na + nb + 1);
    if (!buf) return NULL;
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    json_t *s = json_stringn(buf, na + nb);
    free(buf);
    return s;
}

static json_t *arithmetic(renderer *r, const expr *e, const json_t *a, const json_t *b) {
    if (!is_number(a) || !is_number(b)) {
        render_fail(r, e->line, "arithmetic on a value that is not a number");
        return NULL;
    }
    int ints = json_is_integer(a) && json_is_integer(b);
    long long x = ints ? json_integer_value(a) : 0, y = ints ? json_integer_value(b) : 0;
    double fx = number(a), fy = number(b);
    switch (e->op) {
    case OP_ADD: return ints ? json_integer(x + y) : json_real(fx + fy);
    case OP_SUB: return ints ? json_integer(x - y) : json_real(fx - fy);
    case OP_MUL: return ints ? json_integer(x * y) : json_real(fx * fy);
    case OP_DIV:
        if (fy == 0) break;
        return json_real(fx / fy);
    case OP_FLOORDIV:
        if (fy == 0) break;
        if (ints) return json_integer(x / y - ((x % y != 0) && ((x < 0) != (y < 0))));
        return json_real(floor(fx / fy));
    case OP_MOD:
        if (fy == 0) break;
        if (ints) return json_integer(((x % y) + y) % y);
        return json_real(fx - fy * floor(fx / fy));
    default: break;
    }
    render_fail(r, e->line, "division by zero");
    return NULL;
}

static json_t *add(renderer *r, const expr *e, const json_t *a, const json_t *b) {
    if (json_is_string(a) && json_is_string(b))
        return concat_strings(json_string_value(a), json_string_length(a), json_string_value(b),
                              json_string_length(b));
    if (json_is_array(a) && json_is_array(b)) {
        json_t *list = json_copy((json_t *)a);
        if (list) json_array_extend(list, (json_t *)b);
        return list;
    }
    if (!a && json_is_string(b)) return json_incref((json_t *)b); /* undefined + "x" */
    if (json_is_string(a) && !b) return json_incref((json_t *)a);
    return arithmetic(r, e, a, b);
}

static int contains(const json_t *item, const json_t *container) {
    if (json_is_string(container) && json_is_string(item))
        return strstr(json_string_value(container), json_string_value(item)) != NULL;
    if (json_is_object(container) && json_is_string(item))
        return json_object_get(container, json_string_value(item)) != NULL;
    if (json_is_array(container)) {
        size_t i;
        json_t *v;
        json_array_foreach(container, i, v) if (values_equal(item, v)) return 1;
    }
    return 0;
}

static json_t *compare(renderer *r, const expr *e, const json_t *a, const json_t *b) {
    int order;
    if (is_number(a) && is_number(b)) {
        order = number(a) < number(b) ? -1 : number(a) > number(b);
    } else if (json_is_string(a) && json_is_string(b)) {
        order = strcmp(json_string_value(a), json_string_value(b));
    } else {
        render_fail(r, e->line, "cannot order these values");
        return NULL;
    }
    int result = e->op == OP_LT ? order < 0 : e->op == OP_LE ? order <= 0 : e->op == OP_GT ? order > 0 : order >= 0;
    return json_boolean(result);
}

static json_t *eval_binary(renderer *r, const expr *e) {
    json_t *a = eval(r, e->a);
    if (r->failed) return NULL;
    if (e->op == OP_AND || e->op == OP_OR) { /* short-circuit, returning the deciding operand */
        if (truthy(a) == (e->op == OP_OR)) return a;
        json_decref(a);
        return eval(r, e->b);
    }
    json_t *b = eval(r, e->b), *result = NULL;
    if (!r->failed) {
        switch (e->op) {
        case OP_EQ: result = json_boolean(values_equal(a, b)); break;
        case OP_NE: result = json_boolean(!values_equal(a, b)); break;
        case OP_IN: result = json_boolean(contains(a, b)); break;
        case OP_NOT_IN: result = json_boolean(!contains(a, b)); break;
        case OP_LT: case OP_LE: case OP_GT: case OP_GE: result = compare(r, e, a, b); break;
        case OP_CONCAT: {
            json_t *sa = stringify(r, a), *sb = stringify(r, b);
            if (sa && sb) result = add(r, e, sa, sb);
            json_decref(sa);
            json_decref(sb);
            break;
        }
        case OP_ADD: result = add(r, e, a, b); break;
        default: result = arithmetic(r, e, a, b); break;
        }
    }
    json_decref(a);
    json_decref(b);
    return result;
}

/* ---- indexing ---- */

static json_t *index_value(renderer *r, const expr *e, const json_t *v, const json_t *key) {
    if (json_is_object(v) && json_is_string(key)) {
        json_t *m = json_object_get(v, json_string_value(key));
        return m ? json_incref(m) : NULL;
    }
    if ((json_is_array(v) || json_is_string(v)) && json_is_integer(key)) {
        long long n = json_is_array(v) ? (long long)json_array_size(v) : (long long)json_string_length(v);
        long long i = json_integer_value(key);
        if (i < 0) i += n;
        if (i < 0 || i >= n) {
            render_fail(r, e->line, "index %lld out of range", (long long)json_integer_value(key));
            return NULL;
        }
        if (json_is_array(v)) return json_incref(json_array_get(v, (size_t)i));
        return json_stringn(json_string_value(v) + i, 1);
    }
    return NULL; /* undefined, as Jinja gives for a missing member */
}

static long long slice_bound(const json_t *b, long long n, long long fallback) {
    if (!json_is_integer(b)) return fallback;
    long long i = json_integer_value(b);
    if (i < 0) i += n;
    return i < 0 ? 0 : i > n ? n : i;
}

static json_t *slice_value(renderer *r, const expr *e, const json_t *v, const json_t *lo, const json_t *hi) {
    long long n = json_is_array(v) ? (long long)json_array_size(v) : json_is_string(v) ? (long long)json_string_length(v) : -1;
    if (n < 0) {
        render_fail(r, e->line, "slice of a value that is not a list or string");
        return NULL;
    }
    long long a = slice_bound(lo, n, 0), b = slice_bound(hi, n, n);
    if (b < a) b = a;
    if (json_is_string(v)) return json_stringn(json_string_value(v) + a, (size_t)(b - a));
    json_t *out = json_array();
    for (long long i = a; out && i < b; i++) json_array_append(out, json_array_get(v, (size_t)i));
    return out;
}

/* ---- functions, methods, filters, tests ---- */

/* Evaluates the arguments of a call into args (positional) and kwargs (by name). */
static int eval_args(renderer *r, const expr *e, json_t **args, int cap, int *n, json_t *kwargs) {
    *n = 0;
    for (int i = 0; i < e->n_args && !r->failed; i++) {
        json_t *v = eval(r, e->args[i]);
        if (e->arg_names && e->arg_names[i]) {
            json_object_set_new(kwargs, e->arg_names[i], v ? v : json_null());
        } else if (*n < cap) {
            args[(*n)++] = v;
        } else {
            json_decref(v);
            render_fail(r, e->line, "too many arguments");
        }
    }
    return !r->failed;
}

static void free_args(json_t **args, int n) {
    for (int i = 0; i < n; i++) json_decref(args[i]);
}

static json_t *range_list(renderer *r, const expr *e, json_t **args, int n) {
    long long start = 0, stop = 0, step = 1;
    for (int i = 0; i < n; i++)
        if (!json_is_integer(args[i])) {
            render_fail(r, e->line, "range() takes integers");
            return NULL;
        }
    if (n == 1) stop = json_integer_value(args[0]);
    else if (n >= 2) start = json_integer_value(args[0]), stop = json_integer_value(args[1]);
    if (n == 3) step = json_integer_value(args[2]);
    if (step == 0 || n < 1 || n > 3) {
        render_fail(r, e->line, "range() arguments");
        return NULL;
    }
    json_t *list = json_array();
    for (long long i = start, k = 0; list && (step > 0 ? i < stop : i > stop); i += step, k++) {
        if (k >= MAX_RANGE) {
            render_fail(r, e->line, "range() longer than %d", MAX_RANGE);
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, json_integer(i));
    }
    return list;
}

static json_t *call_function(renderer *r, const expr *e, const char *name, json_t **args, int n, json_t *kwargs) {
    if (!strcmp(name, "raise_exception")) {
        const char *msg = n > 0 && json_is_string(args[0]) ? json_string_value(args[0]) : "raise_exception()";
        render_fail(r, 0, "%s", msg);
        return NULL;
    }
    if (!strcmp(name, "namespace")) return json_incref(kwargs);
    if (!strcmp(name, "range")) return range_list(r, e, args, n);
    render_fail(r, e->line, "unknown function %s()", name);
    return NULL;
}

static json_t *strip_string(const json_t *v, const json_t *chars, int left, int right) {
    const char *s = json_string_value(v), *set = json_is_string(chars) ? json_string_value(chars) : NULL;
    size_t a = 0, b = json_string_length(v);
    while (left && a < b && (set ? strchr(set, s[a]) != NULL : isspace((unsigned char)s[a]))) a++;
    while (right && b > a && (set ? strchr(set, s[b - 1]) != NULL : isspace((unsigned char)s[b - 1]))) b--;
    return json_stringn(s + a, b - a);
}

static json_t *change_case(const json_t *v, int mode) { /* 0 lower, 1 upper, 2 capitalize */
    char *s = strdup(json_string_value(v));
    if (!s) return NULL;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) continue;
        s[i] = (char)(mode == 1 || (mode == 2 && i == 0) ? toupper(c) : tolower(c));
    }
    json_t *out = json_string(s);
    free(s);
    return out;
}

static json_t *replace_all(const json_t *v, const json_t *from, const json_t *to) {
    const char *s = json_string_value(v), *f = json_string_value(from), *t = json_string_value(to);
    size_t nf = strlen(f), nt = strlen(t);
    if (nf == 0) return json_incref((json_t *)v);
    text_buffer b = {0};
    renderer tmp = {.out = b, .error = NULL};
    char err[8];
    tmp.error = err;
    tmp.error_cap = sizeof err;
    for (const char *at; (at = strstr(s, f)); s = at + nf) {
        append(&tmp, s, (size_t)(at - s));
        append(&tmp, t, nt);
    }
    append(&tmp, s, strlen(s));
    json_t *out = tmp.failed ? NULL : json_stringn(tmp.out.data ? tmp.out.data : "", tmp.out.len);
    free(tmp.out.data);
    return out;
}

static json_t *split_string(const json_t *v, const json_t *sep) {
    json_t *list = json_array();
    const char *s = json_string_value(v);
    if (json_is_string(sep) && json_string_length(sep) > 0) {
        const char *f = json_string_value(sep);
        for (const char *at; (at = strstr(s, f)); s = at + strlen(f)) json_array_append_new(list, json_stringn(s, (size_t)(at - s)));
        json_array_append_new(list, json_string(s));
        return list;
    }
    while (*s) { /* whitespace runs, as str.split() */
        while (isspace((unsigned char)*s)) s++;
        const char *w = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        if (s > w) json_array_append_new(list, json_stringn(w, (size_t)(s - w)));
    }
    return list;
}

static json_t *object_items(const json_t *v, int what) { /* 0 items, 1 keys, 2 values */
    json_t *list = json_array();
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
        if (what == 1) json_array_append_new(list, json_string(k));
        else if (what == 2) json_array_append(list, m);
        else json_array_append_new(list, json_pack("[sO]", k, m));
    }
    return list;
}

static json_t *call_method(renderer *r, const expr *e, const json_t *self, const char *name, json_t **args, int n) {
    const json_t *a0 = n > 0 ? args[0] : NULL, *a1 = n > 1 ? args[1] : NULL;
    if (json_is_string(self)) {
        if (!strcmp(name, "strip")) return strip_string(self, a0, 1, 1);
        if (!strcmp(name, "lstrip")) return strip_string(self, a0, 1, 0);
        if (!strcmp(name, "rstrip")) return strip_string(self, a0, 0, 1);
        if (!strcmp(name, "lower")) return change_case(self, 0);
        if (!strcmp(name, "upper")) return change_case(self, 1);
        if (!strcmp(name, "capitalize")) return change_case(self, 2);
        if (!strcmp(name, "split")) return split_string(self, a0);
        if (!strcmp(name, "replace") && json_is_string(a0) && json_is_string(a1)) return replace_all(self, a0, a1);
        if ((!strcmp(name, "startswith") || !strcmp(name, "endswith")) && json_is_string(a0)) {
            size_t ns = json_string_length(self), np = json_string_length(a0);
            const char *s = json_string_value(self), *pfx = json_string_value(a0);
            int hit = np <= ns && !memcmp(name[0] == 's' ? s : s + ns - np, pfx, np);
            return json_boolean(hit);
        }
    } else if (json_is_object(self)) {
        if (!strcmp(name, "items")) return object_items(self, 0);
        if (!strcmp(name, "keys")) return object_items(self, 1);
        if (!strcmp(name, "values")) return object_items(self, 2);
        if (!strcmp(name, "get") && json_is_string(a0)) {
            json_t *m = json_object_get(self, json_string_value(a0));
            return m ? json_incref(m) : a1 ? json_incref((json_t *)a1) : json_null();
        }
    }
    render_fail(r, e->line, "unsupported method .%s()", name);
    return NULL;
}

static json_t *eval_call(renderer *r, const expr *e) {
    json_t *args[4] = {0}, *kwargs = json_object(), *result = NULL;
    int n = 0;
    if (kwargs && eval_args(r, e, args, 4, &n, kwargs)) {
        if (e->a->kind == E_NAME) {
            result = call_function(r, e, e->a->name, args, n, kwargs);
        } else if (e->a->kind == E_ATTR) {
            json_t *self = eval(r, e->a->a);
            if (!r->failed) result = call_method(r, e, self, e->a->name, args, n);
            json_decref(self);
        } else {
            render_fail(r, e->line, "this expression cannot be called");
        }
    }
    free_args(args, n);
    json_decref(kwargs);
    return result;
}

static json_t *join_list(renderer *r, const json_t *v, const json_t *sep) {
    text_buffer saved = r->out;
    r->out = (text_buffer){0};
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (i > 0 && json_is_string(sep)) append(r, json_string_value(sep), json_string_length(sep));
        to_text(r, item);
    }
    json_t *s = json_stringn(r->out.data ? r->out.data : "", r->out.len);
    free(r->out.data);
    r->out = saved;
    return s;
}

static json_t *apply_filter(renderer *r, const expr *e, json_t *v, json_t **args, int n) {
    const char *f = e->name;
    const json_t *a0 = n > 0 ? args[0] : NULL;
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        int use_default = !v || (n > 1 && truthy(args[1]) && !truthy(v));
        return use_default ? (a0 ? json_incref((json_t *)a0) : json_string("")) : json_incref(v);
    }
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        if (json_is_string(v)) return json_integer((json_int_t)utf8_length(json_string_value(v), json_string_length(v)));
        if (json_is_array(v)) return json_integer((json_int_t)json_array_size(v));
        if (json_is_object(v)) return json_integer((json_int_t)json_object_size(v));
        if (!v) return json_integer(0);
    } else if (!strcmp(f, "string")) {
        return stringify(r, v);
    } else if (!strcmp(f, "tojson")) {
        char *dump = json_dumps(v ? v : json_null(), JSON_ENCODE_ANY);
        json_t *s = dump ? json_string(dump) : NULL;
        free(dump);
        return s;
    } else if (json_is_string(v)) {
        if (!strcmp(f, "trim")) return strip_string(v, NULL, 1, 1);
        if (!strcmp(f, "upper")) return change_case(v, 1);
        if (!strcmp(f, "lower")) return change_case(v, 0);
        if (!strcmp(f, "capitalize")) return change_case(v, 2);
        if (!strcmp(f, "replace") && n == 2 && json_is_string(args[0]) && json_is_string(args[1]))
            return replace_all(v, args[0], args[1]);
        if (!strcmp(f, "int")) return json_integer(strtoll(json_string_value(v), NULL, 10));
    } else if (json_is_array(v)) {
        size_t size = json_array_size(v);
        if (!strcmp(f, "first")) return size ? json_incref(json_array_get(v, 0)) : NULL;
        if (!strcmp(f, "last")) return size ? json_incref(json_array_get(v, size - 1)) : NULL;
        if (!strcmp(f, "join")) return join_list(r, v, a0);
        if (!strcmp(f, "list")) return json_incref(v);
        if (!strcmp(f, "reverse")) {
            json_t *out = json_array();
            for (size_t i = size; out && i > 0; i--) json_array_append(out, json_array_get(v, i - 1));
            return out;
        }
    } else if (json_is_object(v)) {
        if (!strcmp(f, "items")) return object_items(v, 0);
        if (!strcmp(f, "list")) return object_items(v, 1);
    } else if (is_number(v) && !strcmp(f, "int")) {
        return json_integer((json_int_t)number(v));
    }
    render_fail(r, e->line, "unsupported filter '%s' for this value", f);
    return NULL;
}

static json_t *eval_filter(renderer *r, const expr *e) {
    json_t *v = eval(r, e->a), *args[4] = {0}, *kwargs = json_object(), *result = NULL;
    int n = 0;
    if (!r->failed && kwargs && eval_args(r, e, args, 4, &n, kwargs)) result = apply_filter(r, e, v, args, n);
    free_args(args, n);
    json_decref(kwargs);
    json_decref(v);
    return result;
}

static int run_test(renderer *r, const expr *e, const json_t *v) {
    const char *t = e->name;
    if (!strcmp(t, "defined")) return v != NULL;
    if (!strcmp(t, "undefined")) return v == NULL;
    if (!strcmp(t, "none")) return json_is_null(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return is_number(v);
    if (!strcmp(t, "integer")) return json_is_integer(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "true")) return json_is_true(v);
    if (!strcmp(t, "false")) return json_is_false(v);
    if (!strcmp(t, "mapping")) return json_is_object(v);
    if (!strcmp(t, "sequence") || !strcmp(t, "iterable")) return json_is_array(v) || json_is_string(v) || json_is_object(v);
    if (!strcmp(t, "even") || !strcmp(t, "odd")) return json_is_integer(v) && (json_integer_value(v) % 2 == 0) == (t[0] == 'e');
    render_fail(r, e->line, "unsupported test 'is %s'", t);
    return 0;
}

static json_t *eval_list(renderer *r, const expr *e) {
    json_t *out = e->kind == E_LIST ? json_array() : json_object();
    for (int i = 0; out && i < e->n_args && !r->failed; i++) {
        json_t *v = eval(r, e->args[i]);
        if (e->kind == E_LIST) {
            json_array_append_new(out, v ? v : json_null());
            continue;
        }
        json_t *k = eval(r, e->keys[i]);
        if (json_is_string(k)) json_object_set_new(out, json_string_value(k), v ? v : json_null());
        else json_decref(v), render_fail(r, e->line, "dict keys must be strings");
        json_decref(k);
    }
    return out;
}

static json_t *eval(renderer *r, const expr *e) {
    if (r->failed || !e) return NULL;
    if (++r->steps > MAX_STEPS) {
        render_fail(r, e->line, "template does more than %d steps", MAX_STEPS);
        return NULL;
    }
    json_t *a = NULL, *b = NULL, *c = NULL, *result = NULL;
    switch (e->kind) {
    case E_LITERAL: return json_incref(e->value);
    case E_NAME: return lookup(r, e->name);
    case E_ATTR:
        a = eval(r, e->a);
        result = json_is_object(a) && json_object_get(a, e->name) ? json_incref(json_object_get(a, e->name)) : NULL;
        break;
    case E_INDEX:
        a = eval(r, e->a);
        b = eval(r, e->b);
        if (!r->failed) result = index_value(r, e, a, b);
        break;
    case E_SLICE:
        a = eval(r, e->a);
        b = eval(r, e->b);
        c = eval(r, e->c);
        if (!r->failed) result = slice_value(r, e, a, b, c);
        break;
    case E_CALL: return eval_call(r, e);
    case E_FILTER: return eval_filter(r, e);
    case E_TEST:
        a = eval(r, e->a);
        if (!r->failed) result = json_boolean(run_test(r, e, a) != e->negate);
        break;
    case E_BINARY: return eval_binary(r, e);
    case E_NOT:
        a = eval(r, e->a);
        result = json_boolean(!truthy(a));
        break;
    case E_NEGATE:
        a = eval(r, e->a);
        if (json_is_integer(a)) result = json_integer(-json_integer_value(a));
        else if (is_number(a)) result = json_real(-number(a));
        else render_fail(r, e->line, "negation of a value that is not a number");
        break;
    case E_IF:
        a = eval(r, e->a);
        if (!r->failed) result = eval(r, truthy(a) ? e->b : e->c);
        break;
    case E_LIST:
    case E_DICT: return eval_list(r, e);
    }
    json_decref(a);
    json_decref(b);
    json_decref(c);
    if (r->failed) {
        json_decref(result);
        return NULL;
    }
    return result;
}

/* ---- statements ---- */

static void render_list(renderer *r, const stmt_list *l);

static int push_scope(renderer *r) {
    if (r->n_scopes == MAX_SCOPES) {
        render_fail(r, 0, "chat_template: scopes nested deeper than %d", MAX_SCOPES);
        return 0;
    }
    r->scopes[r->n_scopes] = json_object();
    if (!r->scopes[r->n_scopes]) return 0;
    r->n_scopes++;
    return 1;
}

static void pop_scope(renderer *r) { json_decref(r->scopes[--r->n_scopes]); }

/* The items a for loop walks: a list's elements, an object's keys, a string's bytes. */
static json_t *iteration_items(renderer *r, const stmt *s, json_t *v) {
    if (json_is_array(v)) return json_incref(v);
    if (json_is_object(v)) return object_items(v, 1);
    if (json_is_string(v)) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < json_string_length(v); i++)
            json_array_append_new(list, json_stringn(json_string_value(v) + i, 1));
        return list;
    }
    if (!v) return json_array(); /* iterating an undefined variable renders nothing */
    render_fail(r, s->line, "for: the value is not iterable");
    return NULL;
}

static void bind_loop_vars(renderer *r, const stmt *s, json_t *item) {
    json_t *scope = r->scopes[r->n_scopes - 1];
    if (s->var2) {
        if (!json_is_array(item) || json_array_size(item) != 2) {
            render_fail(r, s->line, "for %s, %s: the item is not a pair", s->var, s->var2);
            return;
        }
        json_object_set(scope, s->var, json_array_get(item, 0));
        json_object_set(scope, s->var2, json_array_get(item, 1));
    } else {
        json_object_set(scope, s->var, item);
    }
}

/* The items that pass the loop's `if` filter (all of them without one). */
static json_t *filtered_items(renderer *r, const stmt *s, json_t *items) {
    if (!s->filter) return json_incref(items);
    json_t *kept = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        if (r->failed || !push_scope(r)) break;
        bind_loop_vars(r, s, item);
        json_t *keep = eval(r, s->filter);
        if (truthy(keep)) json_array_append(kept, item);
        json_decref(keep);
        pop_scope(r);
    }
    return kept;
}

static void render_for(renderer *r, const stmt *s) {
    json_t *v = eval(r, s->value);
    json_t *all = r->failed ? NULL : iteration_items(r, s, v);
    json_t *items = all ? filtered_items(r, s, all) : NULL;
    size_t n = items ? json_array_size(items) : 0;
    for (size_t i = 0; i < n && !r->failed; i++) {
        if (++r->steps > MAX_STEPS) {
            render_fail(r, s->line, "template does more than %d steps", MAX_STEPS);
            break;
        }
        if (!push_scope(r)) break;
        bind_loop_vars(r, s, json_array_get(items, i));
        json_object_set_new(r->scopes[r->n_scopes - 1], "loop",
                            json_pack("{sIsIsIsIsbsbsI}", "index", (json_int_t)i + 1, "index0", (json_int_t)i,
                                      "revindex", (json_int_t)(n - i), "revindex0", (json_int_t)(n - i - 1), "first",
                                      i == 0, "last", i + 1 == n, "length", (json_int_t)n));
        render_list(r, &s->body);
        pop_scope(r);
        int control = r->loop_control;
        r->loop_control = 0;
        if (control == 1) break;
    }
    if (items && n == 0 && !r->failed) render_list(r, &s->else_body);
    json_decref(items);
    json_decref(all);
    json_decref(v);
}

static void render_set(renderer *r, const stmt *s) {
    json_t *v = eval(r, s->value);
    if (r->failed) return;
    if (!v) v = json_null();
    if (s->attr) {
        json_t *target = lookup(r, s->target);
        if (json_is_object(target)) json_object_set(target, s->attr, v);
        else render_fail(r, s->line, "set %s.%s: %s is not a namespace", s->target, s->attr, s->target);
        json_decref(target);
    } else {
        json_object_set(r->scopes[r->n_scopes - 1], s->target, v);
    }
    json_decref(v);
}

static void render_stmt(renderer *r, const stmt *s) {
    if (++r->steps > MAX_STEPS) {
        render_fail(r, s->line, "template does more than %d steps", MAX_STEPS);
        return;
    }
    switch (s->kind) {
    case S_TEXT: append(r, s->text, s->text_len); break;
    case S_OUTPUT: {
        json_t *v = eval(r, s->value);
        to_text(r, v);
        json_decref(v);
        break;
    }
    case S_IF:
        for (int i = 0; i < s->n_branches && !r->failed; i++) {
            json_t *c = s->conditions[i] ? eval(r, s->conditions[i]) : NULL;
            int take = !s->conditions[i] || truthy(c);
            json_decref(c);
            if (take) {
                render_list(r, &s->bodies[i]);
                break;
            }
        }
        break;
    case S_FOR: render_for(r, s); break;
    case S_SET: render_set(r, s); break;
    case S_BREAK: r->loop_control = 1; break;
    case S_CONTINUE: r->loop_control = 2; break;
    case S_BLOCK: render_list(r, &s->body); break;
    }
}

static void render_list(renderer *r, const stmt_list *l) {
    for (int i = 0; i < l->n && !r->failed && !r->loop_control; i++) render_stmt(r, l->items[i]);
}

char *srv_template_render(const srv_template *t, const json_t *context, char *error, size_t error_cap) {
    char scratch[8];
    renderer r = {.error = error ? error : scratch, .error_cap = error ? error_cap : sizeof scratch};
    r.scopes[0] = json_is_object(context) ? json_copy((json_t *)context) : json_object();
    r.n_scopes = r.scopes[0] ? 1 : 0;
    if (!t || !r.n_scopes) render_fail(&r, 0, "chat_template: nothing to render");
    else render_list(&r, &t->body);
    while (r.n_scopes > 0) pop_scope(&r);
    if (!r.failed && !r.out.data) append(&r, "", 0);
    if (r.failed) {
        free(r.out.data);
        return NULL;
    }
    return r.out.data;
}
