/* llama2c_vocab_write.c — writing a score-based SentencePiece BPE vocabulary as llama2.c's tokenizer.bin,
 * spelled as llama2.c's tokenizer.py exports it:
 *   int32 max_token_length (the longest entry, in bytes)
 *   then per token: float32 score, int32 len, len bytes
 * with "▁" as " ", byte tokens as "<0xXX>", and BOS / EOS as "\n<s>\n" / "\n</s>\n" (llama2c_vocab.c
 * reads it). Two kinds of tokenizer have that form:
 *   - one read from a llama2.c tokenizer.bin or a GGUF "llama" vocabulary: its own scores;
 *   - a Llama-style Hugging Face BPE (tokenizer.json with byte fallback and "▁" for spaces): scores
 *     derived from its merge ranks (slm_bpe_spm_scores below, shared with gguf_vocab_write.c, which
 *     writes the same vocabulary as a GGUF "llama" one).
 *
 * Why derived scores reproduce the merges. A score-based vocabulary (SentencePiece, llama.cpp's SPM,
 * llama2.c) merges, over and over, the adjacent pair whose concatenation is a piece with the highest
 * score, the leftmost on ties; a Hugging Face BPE merges the adjacent pair of lowest merge rank, the
 * leftmost on ties. Giving every piece that some merge forms the score -(rank of the first merge that
 * forms it), and every other piece (characters, <0xXX> bytes, control tokens, <unk>) a score below all
 * of those, makes the two rules pick the same pair whenever the merges that form one piece are
 * consecutive in rank order. They are in every tokenizer.json converted from a SentencePiece model:
 * transformers' generate_merges (convert_slow_tokenizer.py, used by SentencePieceExtractor) lists, for
 * each piece, every split into two vocabulary pieces, then sorts the list by the merged piece's score
 * (then the longer left half, the longer right half; transformers 5 without scores: by the merged
 * piece's id, then the shorter halves), so one piece's merges sit together, and distinct pieces keep
 * the order of their SentencePiece scores. What can still differ:
 *   - two different splits of the same piece competing in one text ("ab"+"c" at one place, "a"+"bc" at
 *     another): Hugging Face takes the split of lower rank, SentencePiece (and the written vocabulary)
 *     the leftmost position — as SentencePiece itself does, so for a vocabulary that came from
 *     SentencePiece the written file is the closer one;
 *   - pieces whose SentencePiece scores tie: generate_merges interleaves their merges by length, while
 *     the derived scores order them by first rank (Llama 2's scores are all distinct);
 *   - a hand-written tokenizer.json whose merges for one piece are not consecutive, or a piece of two
 *     or more characters that no merge forms (Hugging Face never forms it; the score rule forms it last
 *     when two adjacent symbols spell it).
 * Outside the merges: the score-based readers do not cut control tokens' texts ("<s>") out of the
 * text as Hugging Face does (llama.cpp does with parse_special only); a character whose bytes are not
 * all <0xXX> pieces becomes <unk> in Hugging Face but its present byte pieces and id 0 for each missing
 * byte in slm's reader; and they always put a "▁" in front of the text, as the Prepend normalizer does,
 * while a Metaspace pre-tokenizer skips it when the text already starts with a space. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tokenizer_impl.h"

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581 */

/* ---- a Llama-style Hugging Face BPE as a score-based vocabulary ---- */

int slm_bpe_byte_piece(const slm_token_entry *e) {
    static const char hex[] = "0123456789ABCDEF"; /* bpe.c looks byte tokens up as "<0x%02X>" */
    if (!e->text || e->text_len != 6 || memcmp(e->text, "<0x", 3) != 0 || e->text[5] != '>') return -1;
    const char *hi = memchr(hex, e->text[3], 16), *lo = memchr(hex, e->text[4], 16);
    return hi && lo ? (int)((hi - hex) * 16 + (lo - hex)) : -1;
}

static slm_status refuse(slm_error *err, const char *where, const char *why) {
    return slm_fail(err, SLM_ERR_UNSUPPORTED, "%s: a Hugging Face BPE %s has no score-based SentencePiece form", where,
                    why);
}

static int is_spm_space(const char *s, uint32_t n) { return n == 3 && memcmp(s, SPM_SPACE, 3) == 0; }

slm_status slm_bpe_spm_check(const slm_tokenizer *tok, const char *where, slm_error *err) {
    const slm_bpe *bpe = &tok->bpe;
    if (tok->kind != SLM_TOKENIZER_BPE || bpe->byte_level) return refuse(err, where, "that is byte-level");
    if (!bpe->byte_fallback)
        return refuse(err, where, "without byte_fallback (characters outside the vocabulary would become <unk>, "
                                  "not byte pieces)");
    const slm_bpe_norm_step *nm = bpe->normalizers;
    int legacy = bpe->n_normalizers == 2 && bpe->n_steps == 0 && nm[0].kind == SLM_BPE_NORM_PREPEND &&
                 is_spm_space(nm[0].text, nm[0].text_len) && nm[1].kind == SLM_BPE_NORM_REPLACE &&
                 nm[1].text_len == 1 && nm[1].text[0] == ' ' && is_spm_space(nm[1].content, nm[1].content_len);
    const slm_pretokenizer_step *s = bpe->steps;
    int metaspace = bpe->n_normalizers == 0 && bpe->n_steps == 1 && s[0].is_metaspace && !s[0].split &&
                    s[0].prepend != SLM_PREPEND_NEVER && strcmp(s[0].replacement, SPM_SPACE) == 0;
    if (!legacy && !metaspace)
        return refuse(err, where, "whose normalizer and pre-tokenizer are not Llama's (Prepend(\"▁\") + Replace(\" \", "
                                  "\"▁\"), or Metaspace \"▁\" with prepend_scheme first/always and split false)");
    if (bpe->ignore_merges) return refuse(err, where, "with ignore_merges");
    if (bpe->n_prefix != 1 || bpe->n_suffix != 0 || (tok->bos >= 0 && bpe->prefix_ids[0] != tok->bos))
        return refuse(err, where, "that does not add exactly BOS before the text and nothing after it");
    if (bpe->unk_id != 0) return refuse(err, where, "whose unk_token is not token 0 (the readers fall back to id 0)");
    for (int i = 0; i < bpe->n_added; i++)
        if (!(tok->tokens[bpe->added[i].id].flags & SLM_TOKEN_SPECIAL))
            return refuse(err, where, "with added tokens that are not special");
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        if (e->text && !(e->flags & SLM_TOKEN_SPECIAL) && memchr(e->text, ' ', e->text_len))
            return refuse(err, where, "with a piece holding a space (SentencePiece spells it \"▁\")");
    }
    if (bpe->merges.count >= (1u << 24)) return refuse(err, where, "with 2^24 merges or more");
    return SLM_OK;
}

slm_status slm_bpe_spm_scores(const slm_tokenizer *tok, float *scores, slm_error *err) {
    int32_t *first = malloc((size_t)(tok->n_tokens ? tok->n_tokens : 1) * sizeof *first);
    if (!first) return slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "deriving piece scores: out of memory");
    for (int32_t id = 0; id < tok->n_tokens; id++) first[id] = INT32_MAX;
    int32_t last_rank = -1;
    const slm_pair_map *m = &tok->bpe.merges;
    for (size_t i = 0; i < m->cap; i++) {
        const slm_pair_map_slot *slot = &m->slots[i];
        if (slot->key == UINT64_MAX) continue;
        if (slot->rank < first[slot->merged]) first[slot->merged] = slot->rank;
        if (slot->rank > last_rank) last_rank = slot->rank;
    }
    for (int32_t id = 0; id < tok->n_tokens; id++) {
        const slm_token_entry *e = &tok->tokens[id];
        int formed = first[id] != INT32_MAX && !(e->flags & (SLM_TOKEN_SPECIAL | SLM_TOKEN_UNK)) &&
                     slm_bpe_byte_piece(e) < 0;
        scores[id] = (float)-(formed ? first[id] : last_rank + 1); /* exact: ranks are below 2^24 */
    }
    free(first);
    return SLM_OK;
}

/* ---- tokenizer.bin ---- */

static int is_spm_bpe(const slm_tokenizer *tok) { return tok && tok->kind == SLM_TOKENIZER_BPE; }

/* llama2.c's run.c and slm's reader fix <unk> at 0 (a Hugging Face BPE's check says so), BOS at 1 and
 * EOS at 2; every other control token would be read back as a plain piece. */
static slm_status check_bpe_ids(const slm_tokenizer *tok, const char *where, slm_error *err) {
    slm_status st = slm_bpe_spm_check(tok, where, err);
    if (st != SLM_OK) return st;
    if (tok->bos != 1 || tok->eos != 2 || tok->bpe.prefix_ids[0] != 1)
        return refuse(err, where, "whose BOS and EOS are not tokens 1 and 2 (llama2.c fixes them)");
    for (int32_t id = 3; id < tok->n_tokens; id++)
        if (tok->tokens[id].flags & SLM_TOKEN_SPECIAL)
            return refuse(err, where, "with control tokens besides <unk>, BOS and EOS (tokenizer.bin cannot mark them)");
    return SLM_OK;
}

int slm_tokenizer_is_llama2c(const slm_tokenizer *tok) {
    return tok && tok->kind == SLM_TOKENIZER_LLAMA2C && tok->bos == 1 && tok->eos == 2 && tok->n_tokens >= 3;
}

int slm_tokenizer_has_llama2c_form(const slm_tokenizer *tok) {
    return slm_tokenizer_is_llama2c(tok) || (is_spm_bpe(tok) && check_bpe_ids(tok, "", NULL) == SLM_OK);
}

/* One entry's bytes as tokenizer.bin spells them, in buf (cap: 3 * the longest text + 2). */
static uint32_t entry_text(const slm_tokenizer *tok, int32_t id, char *buf) {
    const slm_token_entry *e = id < tok->n_tokens ? &tok->tokens[id] : NULL;
    if (!e || !e->text) return 0; /* ids past the vocabulary, holes: empty entries */
    uint32_t n = 0;
    int control = id == tok->bos || id == tok->eos;
    if (control && e->text_len > 0 && e->text[0] != '\n') buf[n++] = '\n'; /* a GGUF or tokenizer.json name */
    int respell = is_spm_bpe(tok) && !(e->flags & SLM_TOKEN_SPECIAL) && slm_bpe_byte_piece(e) < 0;
    for (uint32_t i = 0; i < e->text_len;) {
        if (respell && e->text_len - i >= 3 && memcmp(e->text + i, SPM_SPACE, 3) == 0) {
            buf[n++] = ' ';
            i += 3;
        } else {
            buf[n++] = e->text[i++];
        }
    }
    if (control && e->text_len > 0 && e->text[0] != '\n') buf[n++] = '\n';
    return n;
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

slm_status slm_tokenizer_save_llama2c(const slm_tokenizer *tok, int32_t n_entries, const char *path, slm_error *err) {
    if (!tok || !path) return slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "slm_tokenizer_save_llama2c: tokenizer or path is NULL");
    if (is_spm_bpe(tok)) {
        slm_status st = check_bpe_ids(tok, path, err);
        if (st != SLM_OK) return st;
    } else if (!slm_tokenizer_is_llama2c(tok)) {
        return slm_fail(err, SLM_ERR_UNSUPPORTED,
                        "%s: only a score-based SentencePiece BPE vocabulary with BOS 1 and EOS 2 (or a Llama-style "
                        "Hugging Face BPE) has a llama2.c tokenizer.bin", path);
    }
    if (n_entries < tok->n_tokens) n_entries = tok->n_tokens;
    uint32_t longest_text = 0;
    for (int32_t id = 0; id < tok->n_tokens; id++)
        if (tok->tokens[id].text && tok->tokens[id].text_len > longest_text) longest_text = tok->tokens[id].text_len;
    float *scores = malloc((size_t)tok->n_tokens * sizeof *scores);
    char *buf = malloc((size_t)longest_text + 3);
    slm_status st = scores && buf ? SLM_OK : slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int32_t id = 0; st == SLM_OK && id < tok->n_tokens; id++) scores[id] = tok->tokens[id].text ? tok->tokens[id].score : 0.0f;
    if (st == SLM_OK && is_spm_bpe(tok)) st = slm_bpe_spm_scores(tok, scores, err);
    uint32_t longest = 1;
    for (int32_t id = 0; st == SLM_OK && id < tok->n_tokens; id++) {
        uint32_t n = entry_text(tok, id, buf);
        if (n > longest) longest = n;
    }
    FILE *f = st == SLM_OK ? fopen(path, "wb") : NULL;
    if (st == SLM_OK && !f) st = slm_fail(err, SLM_ERR_IO, "%s: %s", path, strerror(errno));
    if (f) {
        int rc = put_i32(f, (int32_t)longest);
        for (int32_t id = 0; id < n_entries && !rc; id++) {
            uint32_t n = entry_text(tok, id, buf);
            float score = id < tok->n_tokens && tok->tokens[id].text ? scores[id] : 0.0f;
            rc = put_f32(f, score) || put_i32(f, (int32_t)n) || (n && fwrite(buf, 1, n, f) != n);
        }
        if (fclose(f) != 0) rc = -1;
        if (rc) {
            remove(path);
            st = slm_fail(err, SLM_ERR_IO, "%s: write failed", path);
        }
    }
    free(scores);
    free(buf);
    return st;
}
