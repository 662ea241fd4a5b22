/* cli_convert.c — `slm convert` and `slm quantize`: load a model from any
 * format slm reads and write it as GGUF with the chosen weight type, or (convert
 * only) as a llama2.c checkpoint (OUT ending in .bin) or a Hugging Face folder
 * (any other OUT). */
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "slm_convert.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Says on stderr what became of the tokenizer, which only some targets can carry. */
static void report_tokenizer(const slm_model *model, const char *out, int llama2c) {
    char path[4200];
    if (llama2c) {
        if (slm_model_llama2c_tokenizer_path(model, out, path, sizeof path))
            fprintf(stderr, "wrote %s\n", path);
        else
            fprintf(stderr, "note: no tokenizer written: the model's tokenizer is not llama2.c's kind\n");
        return;
    }
    static const char *const markers[] = {"tokenizer.json", "vocab.json", "vocab.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", out, markers[i]);
        if (is_file(path)) return;
    }
    fprintf(stderr, "note: no tokenizer files in %s: the source has no Hugging Face tokenizer files to copy (slm "
                    "has no writer for a tokenizer read from GGUF or tokenizer.bin)\n", out);
}

/* Writes the model as OUT's format says: .gguf, .bin (llama2.c), else a Hugging Face folder. */
static slm_status save(const slm_model *model, const char *out, const char *type, slm_error *err) {
    if (ends_with(out, ".gguf")) return slm_model_save_gguf(model, out, type, err);
    if (ends_with(out, ".bin")) return slm_model_save_llama2c(model, out, err);
    return slm_model_save_hf(model, out, type, err);
}

/* IN OUT [--type T]; quantize insists on --type, convert defaults to the source's float type. */
static int convert(int argc, char **argv, int require_type) {
    const char *in = NULL, *out = NULL, *type = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            type = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail("unknown or incomplete option %s", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            return cli_fail("unexpected argument %s", argv[i]);
        }
    }
    if (!in || !out)
        return cli_fail(require_type ? "usage: slm quantize IN OUT.gguf --type T"
                                     : "usage: slm convert IN OUT.gguf|OUT.bin|OUT_FOLDER [--type T]");
    if (require_type && !type) return cli_fail("quantize: --type is required (q8_0, q4_0, q4_k, q6_k, f16, ...)");
    int gguf = ends_with(out, ".gguf"), llama2c = !gguf && ends_with(out, ".bin");
    if (require_type && !gguf) return cli_fail("%s: the output must be a .gguf file", out);
    if (llama2c && type && strcmp(type, "f32") != 0)
        return cli_fail("%s: llama2.c checkpoints are f32; --type %s does not apply", out, type);
    slm_error err;
    slm_model *model = slm_model_load(in, NULL, &err);
    if (!model) return cli_fail_error(&err);
    const char *source = slm_model_get_info(model).weight_dtype;
    int float_source = !strcmp(source, "f32") || !strcmp(source, "f16") || !strcmp(source, "bf16");
    if (!type && gguf) {
        /* Keep the source's float type; a mixed or quantized source becomes f16. */
        type = !strcmp(source, "f32") || !strcmp(source, "bf16") ? source : "f16";
    } else if (!type) {
        /* Keep the source's float type; a quantized one is dequantized exactly into f32. */
        type = float_source ? source : "f32";
    }
    double t0 = cli_now();
    slm_status st = save(model, out, type, &err);
    if (!st) fprintf(stderr, "wrote %s (%s) in %.2f s\n", out, llama2c ? "f32" : type, cli_now() - t0);
    if (!st && !gguf) report_tokenizer(model, out, llama2c);
    slm_model_free(model); /* after the message: type may be the model's own dtype name */
    return st ? cli_fail_error(&err) : 0;
}

int cli_convert(int argc, char **argv) { return convert(argc, argv, 0); }
int cli_quantize(int argc, char **argv) { return convert(argc, argv, 1); }
