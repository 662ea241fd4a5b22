/* quant_bench.c — single-thread speed of slm_quant_rows (src/core/quant.h) for
 * every quantized type and every ISA this CPU runs, on a Phi-1.5 MLP matrix
 * (8192 rows of 2048 by default), reported as weight bytes read per second.
 *
 * "hot": the same matrix again and again (it fits in L3 on most machines, so this
 * is the kernel's compute speed); "cold": a rotation over enough copies that each
 * pass comes from DRAM; "mapped": the same from the pages of a memory-mapped file
 * (in $TMPDIR, else /tmp; deleted at once), which is how decode reads GGUF weights
 * and which the hardware prefetchers follow differently. Compare with bench/membw.
 * "rows1" and "multi": a prompt of PROMPT_ROWS inputs against the same matrix as
 * kernels_quant.c runs it (16 weight rows at a time, dotted with every input),
 * one input at a time (slm_quant_rows) or SLM_QUANT_MULTI_MAX at a time
 * (slm_quant_rows_multi); GB/s of weights times inputs.
 * Time is the thread's CPU time, best of 3.
 *
 *   make build/libslm.a && cc -O2 -Isrc -o build/quant_bench bench/quant_bench.c build/libslm.a -lm -pthread
 *   build/quant_bench [n_out n_in [seconds]] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/quant.h"

/* This thread's CPU time: on a shared machine, time the kernel spent descheduled
 * does not count against it (other processes still share caches and DRAM). */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Random weight bytes with every f16 scale field set to an ordinary value (1/64), so
 * the kernels see real pages and finite numbers; values do not matter for speed. */
static void fill_weights(slm_quant_type type, uint8_t *W, size_t bytes, uint64_t seed) {
    for (size_t i = 0; i < bytes; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        W[i] = (uint8_t)(seed >> 56);
    }
    size_t block = slm_quant_block_bytes(type);
    const uint16_t scale = 0x2400;
    for (size_t b = 0; b + block <= bytes; b += block) {
        if (type == SLM_QUANT_Q6_K) {
            memcpy(W + b + 208, &scale, 2);
        } else {
            memcpy(W + b, &scale, 2);
            if (type == SLM_QUANT_Q4_K) memcpy(W + b + 2, &scale, 2);
        }
    }
}

/* Bytes per second of weights through slm_quant_rows_with over `copies` matrices in turn. */
static double measure(const char *isa, slm_quant_type type, uint8_t *const *mats, int copies, int n_out, int n_in,
                      const void *act, float *y, double seconds) {
    size_t bytes = slm_quant_row_bytes(type, (size_t)n_in) * (size_t)n_out;
    if (slm_quant_rows_with(isa, type, mats[0], n_in, 0, n_out, act, y) != 0) return -1;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        int passes = 0;
        double t0 = now(), t;
        do {
            slm_quant_rows_with(isa, type, mats[passes % copies], n_in, 0, n_out, act, y);
            passes++;
            t = now();
        } while (t - t0 < seconds / 3);
        double rate = (double)bytes * passes / (t - t0);
        if (rate > best) best = rate;
    }
    return best;
}

enum { PROMPT_ROWS = 32, STEP_ROWS = 16 };

/* The copies, written to an unlinked temporary file and mapped read-only as
 * slm maps a model; NULL if that fails. Unmap with munmap(base, copies * bytes). */
static uint8_t *map_copies(uint8_t *const *mats, int copies, size_t bytes) {
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[4096];
    snprintf(path, sizeof path, "%s/quant_bench.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    unlink(path);
    int ok = 1;
    for (int c = 0; c < copies && ok; c++) ok = write(fd, mats[c], bytes) == (ssize_t)bytes;
    void *base = ok ? mmap(NULL, (size_t)copies * bytes, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    return base == MAP_FAILED ? NULL : base;
}



/* One prompt's pass over the matrix, as kernels_quant.c makes it. */
static int prompt_pass(const char *isa, int multi, slm_quant_type type, const uint8_t *W, int n_out, int n_in,
                       const uint8_t *act, size_t act_bytes, float *y) {
    for (int r0 = 0; r0 < n_out; r0 += STEP_ROWS) {
        int r1 = r0 + STEP_ROWS < n_out ? r0 + STEP_ROWS : n_out;
        if (multi) {
            if (slm_quant_rows_multi_with(isa, type, W, n_in, r0, r1, act, act_bytes, PROMPT_ROWS, y, (size_t)n_out))
                return -1;
            continue;
        }
        for (int t = 0; t < PROMPT_ROWS; t++)
            if (slm_quant_rows_with(isa, type, W, n_in, r0, r1, act + (size_t)t * act_bytes, y + (size_t)t * n_out))
                return -1;
    }
    return 0;
}

/* Weight bytes times prompt rows per second, best of 3. */
static double measure_prompt(const char *isa, int multi, slm_quant_type type, const uint8_t *W, int n_out, int n_in,
                             const uint8_t *act, size_t act_bytes, float *y, double seconds) {
    size_t bytes = slm_quant_row_bytes(type, (size_t)n_in) * (size_t)n_out * PROMPT_ROWS;
    if (prompt_pass(isa, multi, type, W, n_out, n_in, act, act_bytes, y) != 0) return -1;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        int passes = 0;
        double t0 = now(), t;
        do {
            prompt_pass(isa, multi, type, W, n_out, n_in, act, act_bytes, y);
            passes++;
            t = now();
        } while (t - t0 < seconds / 3);
        double rate = (double)bytes * passes / (t - t0);
        if (rate > best) best = rate;
    }
    return best;
}

int main(int argc, char **argv) {
    int n_out = argc > 2 ? atoi(argv[1]) : 8192, n_in = argc > 2 ? atoi(argv[2]) : 2048;
    double seconds = argc > 3 ? atof(argv[3]) : 0.6;
    static const slm_quant_type types[] = {SLM_QUANT_Q4_0, SLM_QUANT_Q8_0, SLM_QUANT_Q4_K, SLM_QUANT_Q6_K};
    static const char *const isas[] = {"avx512", "avx2", "scalar"};
    printf("slm_quant_rows, 1 thread, %d x %d (n_out x n_in), default ISA %s; GB/s of weights\n", n_out, n_in,
           slm_quant_isa());
    printf("%-5s %-7s %9s %9s %9s %9s %9s %9s\n", "type", "isa", "MB", "hot", "cold", "mapped", "rows1", "multi");
    float *x = malloc((size_t)n_in * PROMPT_ROWS * sizeof *x), *y = malloc((size_t)n_out * PROMPT_ROWS * sizeof *y);
    for (int i = 0; i < n_in * PROMPT_ROWS; i++) x[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t bytes = slm_quant_row_bytes(types[t], (size_t)n_in) * (size_t)n_out;
        if (!bytes) continue;
        int copies = (int)((256u << 20) / bytes) + 1; /* >= 256 MB: well past any L3 */
        uint8_t **mats = malloc((size_t)copies * sizeof *mats);
        for (int c = 0; c < copies; c++) {
            mats[c] = malloc(bytes);
            fill_weights(types[t], mats[c], bytes, 1234 + (uint64_t)c);
        }
        uint8_t *mapped = map_copies(mats, copies, bytes);
        uint8_t **mapped_mats = malloc((size_t)copies * sizeof *mapped_mats);
        for (int c = 0; c < copies; c++) mapped_mats[c] = mapped ? mapped + (size_t)c * bytes : NULL;
        size_t act_bytes = slm_quant_act_bytes(types[t], n_in);
        uint8_t *act = aligned_alloc(64, act_bytes * PROMPT_ROWS);
        for (int p = 0; p < PROMPT_ROWS; p++)
            slm_quant_activations(types[t], x + (size_t)p * n_in, n_in, act + (size_t)p * act_bytes);
        for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
            double hot = measure(isas[k], types[t], mats, 1, n_out, n_in, act, y, seconds);
            if (hot < 0) continue; /* this CPU cannot run it */
            double cold = measure(isas[k], types[t], mats, copies, n_out, n_in, act, y, seconds);
            double from_file = mapped ? measure(isas[k], types[t], mapped_mats, copies, n_out, n_in, act, y, seconds) : 0;
            double rows1 = measure_prompt(isas[k], 0, types[t], mats[0], n_out, n_in, act, act_bytes, y, seconds);
            double multi = measure_prompt(isas[k], 1, types[t], mats[0], n_out, n_in, act, act_bytes, y, seconds);
            printf("%-5s %-7s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", slm_quant_type_name(types[t]), isas[k],
                   bytes / 1e6, hot / 1e9, cold / 1e9, from_file / 1e9, rows1 / 1e9, multi / 1e9);
            fflush(stdout);
        }
        for (int c = 0; c < copies; c++) free(mats[c]);
        if (mapped) munmap(mapped, (size_t)copies * bytes);
        free(mapped_mats);
        free(mats);
        free(act);
    }
    free(x);
    free(y);
    return 0;
}
