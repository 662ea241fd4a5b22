/* encode_dump.c — slm's side of parity.py: reads a batch from a file, runs
 * slm_session_encode (last hidden state) and writes it as raw f32.
 * input file: int32 n_seqs, seq_len, then ids, type_ids, attention_mask, each
 * (n_seqs, seq_len) int32. output: (n_seqs, seq_len, d_model) float32.
 * usage: encode_dump MODEL IN.bin OUT.bin [threads] */
#include <stdio.h>
#include <stdlib.h>

#include "slm.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: encode_dump MODEL IN.bin OUT.bin [threads]\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    int32_t dims[2];
    if (!f || fread(dims, sizeof dims[0], 2, f) != 2 || dims[0] <= 0 || dims[1] <= 0) {
        fprintf(stderr, "%s: cannot read the batch\n", argv[2]);
        return 1;
    }
    size_t n = (size_t)dims[0] * (size_t)dims[1];
    int32_t *buf = malloc(3 * n * sizeof *buf);
    if (!buf || fread(buf, sizeof *buf, 3 * n, f) != 3 * n) {
        fprintf(stderr, "%s: short file\n", argv[2]);
        return 1;
    }
    fclose(f);
    slm_error err;
    slm_model_params mp = slm_model_default_params();
    mp.load_tokenizer = 0;
    slm_model *model = slm_model_load(argv[1], &mp, &err);
    if (!model) {
        fprintf(stderr, "slm_model_load: %s\n", err.message);
        return 1;
    }
    slm_session_params sp = slm_session_default_params();
    sp.n_threads = argc > 4 ? atoi(argv[4]) : 2;
    slm_session *s = slm_session_new(model, &sp, &err);
    if (!s) {
        fprintf(stderr, "slm_session_new: %s\n", err.message);
        return 1;
    }
    slm_model_info info = slm_model_get_info(model);
    float *out = malloc(n * (size_t)info.d_model * sizeof *out);
    slm_batch b = {dims[0], dims[1], buf, buf + n, buf + 2 * n};
    if (!out || slm_session_encode(s, &b, SLM_ENCODE_HIDDEN, out, &err)) {
        fprintf(stderr, "slm_session_encode: %s\n", out ? err.message : "out of memory");
        return 1;
    }
    f = fopen(argv[3], "wb");
    if (!f || fwrite(out, sizeof *out, n * (size_t)info.d_model, f) != n * (size_t)info.d_model) {
        fprintf(stderr, "%s: cannot write\n", argv[3]);
        return 1;
    }
    fclose(f);
    free(out);
    free(buf);
    slm_session_free(s);
    slm_model_free(model);
    return 0;
}
