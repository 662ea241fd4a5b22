/* cli_convert.c — `slm convert` and `slm quantize`: load a model from any
 * format slm reads and write it as GGUF with the chosen weight type. */
#include <string.h>

#include "cli/cli.h"
#include "slm_convert.h"

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
    if (!in || !out) return cli_fail("usage: slm %s IN OUT.gguf --type T", require_type ? "quantize" : "convert");
    if (require_type && !type) return cli_fail("quantize: --type is required (q8_0, q4_0, q4_k, q6_k, f16, ...)");
    size_t n = strlen(out);
    if (n < 5 || strcmp(out + n - 5, ".gguf") != 0) return cli_fail("%s: the output must be a .gguf file", out);
    slm_error err;
    slm_model *model = slm_model_load(in, NULL, &err);
    if (!model) return cli_fail_error(&err);
    if (!type) {
        /* Keep the source's float type; a mixed or quantized source becomes f16. */
        const char *source = slm_model_get_info(model).weight_dtype;
        type = !strcmp(source, "f32") || !strcmp(source, "bf16") ? source : "f16";
    }
    double t0 = cli_now();
    slm_status st = slm_model_save_gguf(model, out, type, &err);
    if (!st) fprintf(stderr, "wrote %s (%s) in %.2f s\n", out, type, cli_now() - t0);
    slm_model_free(model); /* after the message: type may be the model's own dtype name */
    return st ? cli_fail_error(&err) : 0;
}

int cli_convert(int argc, char **argv) { return convert(argc, argv, 0); }
int cli_quantize(int argc, char **argv) { return convert(argc, argv, 1); }
