/* chat_template.h — rendering a model's chat_template (tokenizer_config.json) into the
 * prompt text, with a small subset of Jinja: the part Hugging Face chat templates use.
 *
 * Supported: text, {{ expr }}, {% if/elif/else/endif %}, {% for x in xs [if cond] %}
 * (with else, loop.index/index0/revindex/revindex0/first/last/length, break, continue,
 * `for k, v in d.items()`), {% set x = expr %} and {% set ns.attr = expr %} with
 * namespace(), {% generation %} blocks (rendered as their body), comments, the "-"
 * whitespace controls, and Hugging Face's environment settings trim_blocks and
 * lstrip_blocks. Expressions: string/number/true/false/none literals, lists, dicts,
 * variables, member and index access, slices, ~ and + (strings, numbers, lists),
 * - * / // %, comparisons, in / not in, and / or / not, `a if c else b`, the tests
 * defined/undefined/none/string/number/mapping/sequence/iterable/true/false/even/odd,
 * the filters trim, length, count, upper, lower, capitalize, first, last, join,
 * default, string, int, tojson, replace, list, reverse, items, the string methods
 * strip/lstrip/rstrip/upper/lower/startswith/endswith/split, dict .items()/.keys()/
 * .values()/.get(), and the functions raise_exception(msg), namespace(...), range(...).
 * Anything else is a parse or render error, never undefined behaviour.
 *
 * Values are jansson values; an undefined variable renders as the empty string. */
#ifndef SLM_SERVER_CHAT_TEMPLATE_H
#define SLM_SERVER_CHAT_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

typedef struct srv_template srv_template;

/* Parses source; NULL with a message ("line 3: expected %}") in error on failure. */
srv_template *srv_template_parse(const char *source, char *error, size_t error_cap);
void srv_template_free(srv_template *t);

/* Renders with the variables of context (an object: messages, add_generation_prompt,
 * bos_token, ...). Returns a malloc'd NUL-terminated string, or NULL with the message in
 * error (raise_exception's own message when the template raised). */
char *srv_template_render(const srv_template *t, const json_t *context, char *error, size_t error_cap);

/* The documented plain template for models without a chat_template (GPT-2, Phi-1.5,
 * llama2.c): a system message's content followed by a blank line, then "User: ...\n"
 * and "Assistant: ...\n" turns, and "Assistant:" when a reply is to follow. */
extern const char srv_plain_chat_template[];

#endif
