/* main.c — the slm command-line program: subcommand dispatch and shared helpers. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <math.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: slm COMMAND ...\n"
    "  generate MODEL PROMPT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K]\n"
    "           [--min-p P] [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F]\n"
    "           [--seed S] [--stop STR]... [--no-stream] [--threads N] [--ctx N] [--ignore-eos]\n"
    "  tokenize MODEL TEXT [--no-special-tokens]\n"
    "  forward  MODEL --ids 1,2,3 [--type-ids 0,0,1] [--head model|mlm|seqcls|tokcls|qa]\n"
    "           [--output logits|hidden|pooler|start-end|embedding] [--threads N]\n"
    "  info     MODEL\n"
    "  embed    MODEL TEXT... [--input FILE]      (FILE: JSONL strings or {\"text\": ...}, or plain lines)\n"
    "  fill-mask MODEL TEXT [--top-k 5] [--pair TEXT]\n"
    "  classify MODEL TEXT... [--pair TEXT] [--top-k K] [--function softmax|sigmoid|none]\n"
    "  ner      MODEL TEXT [--aggregation none|simple|first|average|max]\n"
    "  qa       MODEL --question Q --context C [--stride N] [--max-answer-len N] [--max-seq-len N]\n"
    "           (the encoder tasks also take --threads N)\n"
    "  perplexity MODEL FILE [--ctx N] [--stride S] [--threads N]   (FILE '-' reads stdin)\n"
    "  serve    MODEL... [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel 4] [--ctx N]\n"
    "           [--threads N] [--queue 64] [--max-body BYTES] [--max-depth 64] [--max-n 8] [--max-tokens 4096]\n"
    "           (MODEL may be NAME=PATH; an OpenAI-compatible HTTP server, see README \"Server\")\n"
    "  convert  MODEL OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k|q6_k]   (GGUF)\n"
    "  convert  MODEL OUT.bin                                (llama2.c checkpoint + tok<vocab>.bin; llama)\n"
    "  convert  MODEL OUT_FOLDER [--type f32|f16|bf16]       (Hugging Face config.json + model.safetensors)\n"
    "  quantize MODEL OUT.gguf --type q8_0|q4_0|q4_k|q6_k|f16|bf16|f32\n"
    "MODEL is a Hugging Face folder, a llama2.c checkpoint, a GGUF file or a tokenizer file.\n"
    "PROMPT or TEXT '-' reads standard input.\n";

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("slm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_error(const slm_error *err) {
    return cli_fail("%s: %s", slm_status_name(err->status), err->message);
}

char *cli_read_stdin(size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int cli_parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_float(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), or 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    uint32_t cp = len == 2 ? (s[0] & 0x1fu) : len == 3 ? (s[0] & 0x0fu) : (s[0] & 0x07u);
    for (size_t i = 1; i < len; i++) cp = (cp << 6) | (s[i] & 0x3fu);
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

void cli_json_string(FILE *out, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fprintf(out, "\\%c", c);
            i++;
        } else if (c < 0x20) {
            fprintf(out, "\\u%04x", c);
            i++;
        } else {
            size_t k = utf8_sequence(p + i, len - i);
            if (k) {
                fwrite(p + i, 1, k, out);
                i += k;
            } else {
                fputs("\\ufffd", out);
                i++;
            }
        }
    }
    fputc('"', out);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate")) return cli_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cli_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "forward")) return cli_forward(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cli_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "embed")) return cli_embed(argc - 2, argv + 2);
    if (!strcmp(cmd, "fill-mask")) return cli_fill_mask(argc - 2, argv + 2);
    if (!strcmp(cmd, "classify")) return cli_classify(argc - 2, argv + 2);
    if (!strcmp(cmd, "ner")) return cli_ner(argc - 2, argv + 2);
    if (!strcmp(cmd, "qa")) return cli_qa(argc - 2, argv + 2);
    if (!strcmp(cmd, "perplexity")) return cli_perplexity(argc - 2, argv + 2);
    if (!strcmp(cmd, "serve")) return cli_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "convert")) return cli_convert(argc - 2, argv + 2);
    if (!strcmp(cmd, "quantize")) return cli_quantize(argc - 2, argv + 2);
    fputs(usage, stderr);
    return cli_fail("unknown command \"%s\"", cmd) + 1;
}
