/* llama_quantize.c — quantizes a GGUF file with llama.cpp's own quantizer
 * (llama_model_quantize in the libllama that node-llama-cpp ships), so slm
 * can be checked on GGUF files llama.cpp wrote. Loaded with dlopen: the
 * interop check builds against nothing of llama.cpp's but its public C ABI.
 * usage: llama_quantize LIBLLAMA.so IN.gguf OUT.gguf FTYPE
 *   FTYPE: llama_ftype number (1 F16, 2 Q4_0, 7 Q8_0, 14 Q4_K_S, 18 Q6_K). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The leading fields of llama_model_quantize_params (llama.h): nthread,
 * ftype, output_tensor_type, token_embedding_type, then the bools
 * allow_requantize, quantize_output_tensor, only_copy, pure, ... The rest
 * is room: the struct is returned through memory, and the callee writes
 * only its own size. */
typedef struct {
    int32_t nthread, ftype, output_tensor_type, token_embedding_type;
    uint8_t allow_requantize, quantize_output_tensor, only_copy, pure;
    uint8_t rest[512];
} quantize_params;

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s LIBLLAMA.so IN.gguf OUT.gguf FTYPE\n", argv[0]);
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    quantize_params (*defaults)(void) = (quantize_params(*)(void))dlsym(lib, "llama_model_quantize_default_params");
    uint32_t (*quantize)(const char *, const char *, const quantize_params *) =
        (uint32_t(*)(const char *, const char *, const quantize_params *))dlsym(lib, "llama_model_quantize");
    void (*backend_init)(void) = (void (*)(void))dlsym(lib, "llama_backend_init");
    if (!defaults || !quantize) {
        fprintf(stderr, "libllama lacks llama_model_quantize\n");
        return 1;
    }
    if (backend_init) backend_init();
    quantize_params p = defaults();
    p.nthread = 2;
    p.ftype = atoi(argv[4]);
    p.pure = 1; /* every matrix in the one type: the comparison is of that type alone */
    uint32_t rc = quantize(argv[2], argv[3], &p);
    if (rc) fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
    return rc ? 1 : 0;
}
