/* chat_template_ast.h — the parsed form of a chat template, shared by the parser
 * (chat_template_parse.c) and the renderer (chat_template_render.c). */
#ifndef SLM_SERVER_CHAT_TEMPLATE_AST_H
#define SLM_SERVER_CHAT_TEMPLATE_AST_H

#include "server/chat_template.h"

typedef enum {
    E_LITERAL, /* value */
    E_NAME,    /* name */
    E_ATTR,    /* a.name */
    E_INDEX,   /* a[b] */
    E_SLICE,   /* a[b:c] (b, c may be NULL) */
    E_CALL,    /* a(args) where a is a name or an attribute (a method) */
    E_FILTER,  /* a | name(args) */
    E_TEST,    /* a is [not] name */
    E_BINARY,  /* a op b */
    E_NOT,     /* not a */
    E_NEGATE,  /* -a */
    E_IF,      /* b if a else c */
    E_LIST,    /* [args] */
    E_DICT     /* {keys: args} */
} expr_kind;

typedef enum {
    OP_OR, OP_AND, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOT_IN,
    OP_ADD, OP_SUB, OP_CONCAT, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD
} binary_op;

typedef struct expr expr;
struct expr {
    expr_kind kind;
    binary_op op;
    int negate;      /* E_TEST: "is not" */
    char *name;      /* E_NAME, E_ATTR, E_FILTER, E_TEST, and kwarg names are in arg_names */
    json_t *value;   /* E_LITERAL */
    expr *a, *b, *c; /* operands */
    int n_args;
    expr **args;     /* E_CALL, E_FILTER, E_TEST, E_LIST, E_DICT values */
    char **arg_names;/* E_CALL keyword names (NULL entries for positional); E_DICT: NULL */
    expr **keys;     /* E_DICT keys */
    int line;
};

typedef enum { S_TEXT, S_OUTPUT, S_IF, S_FOR, S_SET, S_BREAK, S_CONTINUE, S_BLOCK } stmt_kind;

typedef struct stmt stmt;
typedef struct {
    int n;
    stmt **items;
} stmt_list;

struct stmt {
    stmt_kind kind;
    int line;
    char *text;        /* S_TEXT */
    size_t text_len;
    expr *value;       /* S_OUTPUT, S_SET value, S_FOR iterable */
    /* S_IF: conditions[i] guards bodies[i]; a trailing body without condition is the else. */
    int n_branches;
    expr **conditions; /* NULL entry = else */
    stmt_list *bodies;
    /* S_FOR */
    char *var, *var2;  /* var2: the second name of `for k, v in` (or NULL) */
    expr *filter;      /* `for x in xs if cond` */
    stmt_list body, else_body;
    /* S_SET: target name, or target.attr */
    char *target, *attr;
};

struct srv_template {
    stmt_list body;
};

void srv_template_free_expr(expr *e);
void srv_template_free_list(stmt_list *l);

#endif
