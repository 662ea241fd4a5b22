/* test_chat_template.c — the server's chat template renderer (src/server/chat_template_*.c)
 * on published templates and on the Jinja features they use. Expected prompts are derived
 * by hand from Jinja's rules with Hugging Face's settings (trim_blocks, lstrip_blocks):
 * the Zephyr case is the very example printed in Hugging Face's chat templating guide.
 * The renderer lives in the slm program, not in libslm, so its sources are compiled in. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/chat_template_parse.c"
#include "server/chat_template_render.c"

/* Renders source with messages (a JSON array) and the usual variables; NULL on error (message in error). */
static char *render(const char *source, const char *messages_json, char *error, size_t cap) {
    srv_template *t = srv_template_parse(source, error, cap);
    if (!t) return NULL;
    json_t *ctx = json_pack("{s:o,s:b,s:s,s:s}", "messages", json_loads(messages_json, 0, NULL),
                            "add_generation_prompt", 1, "bos_token", "<s>", "eos_token", "</s>");
    char *out = srv_template_render(t, ctx, error, cap);
    json_decref(ctx);
    srv_template_free(t);
    return out;
}

static void expect(const char *what, const char *source, const char *messages, const char *want) {
    char error[256] = "";
    char *got = render(source, messages, error, sizeof error);
    CHECK(got && !strcmp(got, want), "%s:\n  got  [%s]\n  want [%s] %s", what, got ? got : "(null)", want, error);
    free(got);
}

static void expect_error(const char *what, const char *source, const char *messages, const char *needle) {
    char error[256] = "";
    char *got = render(source, messages, error, sizeof error);
    CHECK(!got && strstr(error, needle), "%s: fails naming \"%s\": got [%s] error [%s]", what, needle,
          got ? got : "(null)", error);
    free(got);
}

static const char system_user[] =
    "[{\"role\": \"system\", \"content\": \"You are a friendly chatbot.\"}, {\"role\": \"user\", \"content\": \"Hi\"}]";

/* tokenizer_config.json of HuggingFaceH4/zephyr-7b-beta (also TinyLlama-1.1B-Chat-v1.0). */
static const char zephyr[] =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

/* The ChatML template as published with teknium/OpenHermes-2.5-Mistral-7B. */
static const char chatml[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/* meta-llama/Llama-2-7b-chat-hf: slices, set, modulo, !=, .strip(), raise_exception. */
static const char llama2[] =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

static void published_templates(void) {
    expect("zephyr", zephyr, system_user, "<|system|>\nYou are a friendly chatbot.</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
    expect("chatml", chatml, system_user,
           "<|im_start|>system\nYou are a friendly chatbot.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect("llama-2 chat", llama2,
           "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \" Hi \"},"
           " {\"role\": \"assistant\", \"content\": \"Hello!\"}, {\"role\": \"user\", \"content\": \"Bye\"}]",
           "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi [/INST] Hello! </s><s>[INST] Bye [/INST]");
    expect_error("llama-2 chat: roles that do not alternate", llama2,
                 "[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]",
                 "Conversation roles must alternate");
    expect("the plain template", srv_plain_chat_template, system_user,
           "You are a friendly chatbot.\n\nUser: Hi\nAssistant:");
}

static void jinja_features(void) {
    const char *two = "[{\"role\": \"user\", \"content\": \"  a  \"}, {\"role\": \"assistant\", \"content\": \"b\"}]";
    expect("lstrip_blocks and trim_blocks", "  {% if true %}\n  yes\n  {% endif %}\nend", two, "  yes\nend");
    expect("- strips on both sides", "x  {%- if true -%}  \n y {%- endif %}", two, "xy");
    expect("+ keeps the newline", "{% if true +%}\nz{% endif %}", two, "\nz");
    expect("comments vanish", "a{# note #}b", two, "ab");
    expect("loop variables", "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}"
                             "{% endfor %}", two, "1/2,2/2");
    expect("filters trim and length", "[{{ messages[0].content | trim }}]{{ messages | length }}", two, "[a]2");
    expect("~ joins strings and numbers", "{{ 'n=' ~ 3 ~ ' ' ~ 2.5 ~ ' ' ~ true }}", two, "n=3 2.5 True");
    expect("negative index and slices", "{{ messages[-1].role }} {{ (messages[:1] | first).role }} {{ 'abc'[1:] }}",
           two, "assistant user bc");
    expect("elif and else", "{% for x in [1, 2, 3] %}{% if x == 1 %}a{% elif x == 2 %}b{% else %}c{% endif %}"
                            "{% endfor %}", two, "abc");
    expect("namespace survives the loop", "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + "
                                          "1 %}{% endfor %}{{ ns.n }}", two, "2");
    expect("set in a loop does not leak", "{% set x = 1 %}{% for m in messages %}{% set x = 5 %}{% endfor %}{{ x }}",
           two, "1");
    expect("is defined, in, not in", "{{ tools is defined }} {{ 'user' in ['user'] }} {{ 'z' not in 'abc' }}", two,
           "False True True");
    expect("for with if, else, break", "{% for m in messages if m.role == 'assistant' %}{{ m.content }}{% endfor %}"
                                       "{% for x in [] %}x{% else %}empty{% endfor %}"
                                       "{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
           two, "bempty1");
    expect("items() and dict literals", "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", two, "a=1");
    expect("undefined renders empty", "[{{ nothing }}][{{ nothing.attr }}]", two, "[][]");
    expect("tojson", "{{ {'a': [1, 'x']} | tojson }}", two, "{\"a\": [1, \"x\"]}");
    expect_error("an unclosed tag", "{{ x ", two, "unclosed");
    expect_error("if without endif", "{% if true %}x", two, "if without endif");
    expect_error("an unknown tag", "{% macro m() %}{% endmacro %}", two, "unsupported tag 'macro'");
    expect_error("an unknown filter", "{{ 'a' | frobnicate }}", two, "unsupported filter 'frobnicate'");
    expect_error("range is bounded", "{% for i in range(1000000000) %}{% endfor %}", two, "range() longer");
    expect_error("work is bounded", "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
                 two, "steps");
}

int main(void) {
    published_templates();
    jinja_features();
    TEST_END();
}
