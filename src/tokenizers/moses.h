/* moses.h — the text pipeline FlauBERT's tokenizer runs before BPE, as transformers'
 * FlaubertTokenizer calls it (moses.c): replace_unicode_punct, sacremoses' MosesPunctNormalizer(lang="fr"),
 * remove_non_printing_char, then MosesTokenizer(lang="fr").tokenize(escape=False) with the French
 * apostrophe rules, the French non-breaking prefixes and no aggressive dash splitting.
 * Private to src/tokenizers/. */
#ifndef SLM_TOKENIZERS_MOSES_H
#define SLM_TOKENIZERS_MOSES_H

#include <stddef.h>
#include <stdint.h>

/* A growable array of code points. */
typedef struct {
    int32_t *data;
    size_t len, cap;
} slm_cp_buf;

int slm_cp_buf_push(slm_cp_buf *b, int32_t cp); /* 0, or -1 when out of memory */
void slm_cp_buf_free(slm_cp_buf *b);

/* Python's str.isspace(), which is what \s and str.split() use in the reference. */
int slm_moses_is_space(int32_t cp);

/* Runs the pipeline on text[0..n) (code points, already NFC and lowercased where the tokenizer
 * lowercases). out gets the Moses words separated by single spaces (U+0020), nothing else.
 * 0, or -1 when out of memory. */
int slm_moses_fr_tokenize(const int32_t *text, size_t n, slm_cp_buf *out);

#endif
