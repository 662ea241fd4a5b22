/* cli.h — helpers shared by the slm command-line subcommands. Only the CLI exits. */
#ifndef SLM_CLI_H
#define SLM_CLI_H

#include <stdio.h>

#include "slm.h"

int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_forward(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_embed(int argc, char **argv);
int cli_fill_mask(int argc, char **argv);
int cli_classify(int argc, char **argv);
int cli_ner(int argc, char **argv);
int cli_qa(int argc, char **argv);
int cli_perplexity(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_convert(int argc, char **argv);
int cli_quantize(int argc, char **argv);

/* Prints "slm: message" to stderr and returns 1 (the exit status). */
int cli_fail(const char *fmt, ...);
int cli_fail_error(const slm_error *err);

/* Reads all of standard input (raw bytes, NUL-terminated); NULL on failure. */
char *cli_read_stdin(size_t *len);

/* Parses a whole decimal number; returns 0 on success. */
int cli_parse_int(const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *s, double *out);

/* Writes s (len bytes) as a JSON string literal; invalid UTF-8 becomes \ufffd. */
void cli_json_string(FILE *out, const char *s, size_t len);

double cli_now(void);

#endif
