/* llama2c_vocab_write.c — writing a score-based SentencePiece BPE vocabulary
 * (one read from a llama2.c tokenizer.bin, or from a GGUF "llama" vocabulary)
 * as llama2.c's tokenizer.bin, spelled as llama2.c's tokenizer.py exports it:
 *   int32 max_token_length (the longest entry, in bytes)
 *   then per token: float32 score, int32 len, len bytes
 * with "▁" as " " (already so in slm's llama2.c-kind tokens), byte tokens as
 * "<0xXX>", and BOS / EOS as "\n<s>\n" / "\n</s>\n". llama2c_vocab.c reads it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"

/* llama2.c's run.c and slm's reader fix BOS at 1 and EOS at 2. */
int slm_tokenizer_is_llama2c(const slm_tokenizer *tok) {
    return tok && tok->kind == SLM_TOKENIZER_LLAMA2C && tok->bos == 1 && tok->eos == 2 && tok->n_tokens >= 3;
}

/* BOS and EOS carry newlines around their names in tokenizer.bin; a vocabulary read
 * from GGUF stores the bare name, a tokenizer.bin already has them. */
static int needs_newlines(const slm_tokenizer *tok, int32_t id) {
    const slm_token_entry *e = &tok->tokens[id];
    return (id == tok->bos || id == tok->eos) && e->text_len > 0 && e->text[0] != '\n';
}

static uint32_t entry_length(const slm_tokenizer *tok, int32_t id) {
    if (id >= tok->n_tokens || !tok->tokens[id].text) return 0;
    return tok->tokens[id].text_len + (needs_newlines(tok, id) ? 2u : 0u);
}

static int put_i32(FILE *f, int32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int put_f32(FILE *f, float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t v;
    memcpy(&v, &bits, sizeof v);
    return put_i32(f, v);
}

/* One record; ids past the vocabulary (or holes) are empty entries of score 0. */
static int put_entry(FILE *f, const slm_tokenizer *tok, int32_t id) {
    uint32_t len = entry_length(tok, id);
    const slm_token_entry *e = id < tok->n_tokens ? &tok->tokens[id] : NULL;
    int rc = put_f32(f, e && e->text ? e->score : 0.0f) || put_i32(f, (int32_t)len);
    if (rc || len == 0) return rc;
    if (!needs_newlines(tok, id)) return fwrite(e->text, 1, len, f) == len ? 0 : -1;
    return fputc('\n', f) == EOF || fwrite(e->text, 1, e->text_len, f) != e->text_len || fputc('\n', f) == EOF;
}

slm_status slm_tokenizer_save_llama2c(const slm_tokenizer *tok, int32_t n_entries, const char *path, slm_error *err) {
    if (!tok || !path) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_save_llama2c: tokenizer or path is NULL");
    if (!slm_tokenizer_is_llama2c(tok))
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "%s: only a score-based SentencePiece BPE vocabulary with BOS 1 and EOS 2 has a llama2.c "
                        "tokenizer.bin", path);
    if (n_entries < tok->n_tokens) n_entries = tok->n_tokens;
    uint32_t longest = 1;
    for (int32_t id = 0; id < tok->n_tokens; id++)
        if (entry_length(tok, id) > longest) longest = entry_length(tok, id);
    FILE *f = fopen(path, "wb");
    if (!f) return slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
    int rc = put_i32(f, (int32_t)longest);
    for (int32_t id = 0; id < n_entries && !rc; id++) rc = put_entry(f, tok, id);
    if (fclose(f) != 0) rc = -1;
    if (rc) {
        remove(path);
        return slm_fail(err, SLM_ERR_IO, "%s: write failed", path);
    }
    return SLM_OK;
}
