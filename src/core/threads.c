/* threads.c — a fixed pool of persistent worker threads.
 *
 * A run publishes (fn, ctx, n_tasks), bumps a generation counter and wakes
 * the workers; the caller and the workers then claim task indices from one
 * atomic word until none are left, so every task runs exactly once and
 * uneven tasks balance themselves. The word holds the run's tag, task count
 * and next index, so a claim can only succeed in the run it was read in.
 * The caller returns when every task is done, not when every worker has
 * looked in: on a busy host a descheduled worker would otherwise stall each
 * of the ~100 runs of a token for a scheduler slice (measured: Phi-1.5 at 2
 * threads fell from 8 to 2 tok/s while another process held a core). A
 * worker that wakes late finds the run's tasks gone and waits for the next.
 *
 * Decode calls ~100 small matmuls per token, so waking must be cheap: after
 * a run, workers spin (with a pause hint) for a short while watching the
 * generation, and only then sleep on a condition variable. A run costs a few
 * hundred nanoseconds while workers spin, a futex wake-up when they sleep.
 *
 * One run at a time per pool: slm_thread_pool_run is not reentrant, and a
 * task must not call slm_thread_pool_run on the same pool. */
#include "core/threads.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long an idle worker spins before it sleeps: long enough to cover the
 * gap between two matmuls of one token, short enough not to burn a core
 * while the host is doing something else. */
enum { SPIN_NANOSECONDS = 1000 * 1000 };

struct slm_thread_pool {
    int n_threads; /* including the caller */
    pthread_t *workers; /* n_threads - 1 */
    int n_started;
    pthread_mutex_t mutex;
    pthread_cond_t wake;

    /* The current run: written by the caller only while no worker is inside
     * a generation, published by the release increment of generation. */
    slm_task_fn fn;
    void *ctx;

    /* tag (24 bits, the generation's low bits) | n_tasks (20 bits) | next task (20 bits) */
    _Atomic uint64_t claim;
    atomic_int tasks_done;   /* tasks of the current run finished */
    atomic_uint generation;  /* bumped once per run */
    atomic_int stop;         /* set by slm_thread_pool_free */
};

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define TASK_BITS 20
#define TASK_MASK ((1u << TASK_BITS) - 1)
#define TAG_MASK 0xFFFFFFu

static uint64_t claim_word(unsigned generation, int n_tasks, int next) {
    return (uint64_t)(generation & TAG_MASK) << (2 * TASK_BITS) | (uint64_t)n_tasks << TASK_BITS | (uint64_t)next;
}

/* Claims and runs tasks of the run tagged by generation until none are left. A
 * successful claim means the caller is still waiting for that task, so fn and
 * ctx are that run's. */
static void run_tasks(slm_thread_pool *pool, unsigned generation) {
    uint64_t w = atomic_load_explicit(&pool->claim, memory_order_acquire);
    for (;;) {
        if ((unsigned)(w >> (2 * TASK_BITS)) != (generation & TAG_MASK)) return;
        int n = (int)((w >> TASK_BITS) & TASK_MASK), task = (int)(w & TASK_MASK);
        if (task >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &w, w + 1, memory_order_acquire,
                                                   memory_order_acquire))
            continue; /* w now holds the current word */
        pool->fn(pool->ctx, task, n);
        atomic_fetch_add_explicit(&pool->tasks_done, 1, memory_order_release);
        w = atomic_load_explicit(&pool->claim, memory_order_acquire);
    }
}

/* Returns the first generation different from seen (or anything once stop is set). */
static unsigned wait_for_generation(slm_thread_pool *pool, unsigned seen) {
    double spin_until = 0;
    for (unsigned i = 0;; i++) {
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool->stop, memory_order_acquire)) return g;
        cpu_relax();
        if ((i & 255) == 255) {
            double t = now_ns();
            if (spin_until == 0) spin_until = t + SPIN_NANOSECONDS;
            else if (t > spin_until) break;
        }
    }
    pthread_mutex_lock(&pool->mutex);
    unsigned g;
    while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen &&
           !atomic_load_explicit(&pool->stop, memory_order_acquire))
        pthread_cond_wait(&pool->wake, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
    return g;
}

static void *worker_main(void *arg) {
    slm_thread_pool *pool = arg;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_generation(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
        run_tasks(pool, seen);
    }
    return NULL;
}

slm_thread_pool *slm_thread_pool_new(int n_threads, slm_error *err) {
    if (n_threads < 1) {
        slm_fail(err, SLM_ERR_INVALID_ARGUMENT, "thread pool: n_threads is %d, expected >= 1", n_threads);
        return NULL;
    }
    slm_thread_pool *pool = calloc(1, sizeof *pool);
    if (!pool) {
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "thread pool: out of memory");
        return NULL;
    }
    pool->n_threads = n_threads;
    atomic_init(&pool->claim, 0);
    atomic_init(&pool->tasks_done, 0);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->stop, 0);
    if (pthread_mutex_init(&pool->mutex, NULL) != 0) {
        free(pool);
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "thread pool: cannot create a mutex");
        return NULL;
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->mutex);
        free(pool);
        slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "thread pool: cannot create a condition variable");
        return NULL;
    }
    if (n_threads > 1) {
        pool->workers = calloc((size_t)(n_threads - 1), sizeof *pool->workers);
        if (!pool->workers) {
            slm_thread_pool_free(pool);
            slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "thread pool: out of memory for %d threads", n_threads);
            return NULL;
        }
        for (int i = 0; i < n_threads - 1; i++) {
            int rc = pthread_create(&pool->workers[i], NULL, worker_main, pool);
            if (rc != 0) {
                slm_thread_pool_free(pool);
                slm_fail(err, SLM_ERR_OUT_OF_MEMORY, "thread pool: cannot start thread %d of %d: %s",
                         i + 1, n_threads - 1, strerror(rc));
                return NULL;
            }
            pool->n_started++;
        }
    }
    return pool;
}

void slm_thread_pool_free(slm_thread_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store_explicit(&pool->stop, 1, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->n_started; i++) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool);
}

int slm_thread_pool_size(const slm_thread_pool *pool) {
    return pool ? pool->n_threads : 1;
}

void slm_thread_pool_run(slm_thread_pool *pool, slm_task_fn fn, void *ctx, int n_tasks) {
    if (n_tasks <= 0) return;
    if (!pool || pool->n_threads == 1 || n_tasks == 1 || n_tasks > (int)TASK_MASK) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, n_tasks);
        return;
    }
    /* Every task of the previous run is done, so nobody reads these now. */
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->tasks_done, 0, memory_order_relaxed);
    unsigned generation = atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->claim, claim_word(generation, n_tasks, 0), memory_order_release);

    /* Under the mutex so a worker between its check and its wait cannot miss it. */
    pthread_mutex_lock(&pool->mutex);
    atomic_store_explicit(&pool->generation, generation, memory_order_release);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);

    run_tasks(pool, generation);

    for (unsigned i = 0; atomic_load_explicit(&pool->tasks_done, memory_order_acquire) < n_tasks; i++) {
        if (i < 100000) cpu_relax();
        else sched_yield();
    }
}

/* ---- counting physical cores ------------------------------------------- */

static int read_int_file(const char *path, int *value) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fscanf(f, "%d", value) == 1;
    fclose(f);
    return ok;
}

typedef struct {
    int package, core;
} core_key;

static int add_unique(core_key *keys, int n, core_key k) {
    for (int i = 0; i < n; i++)
        if (keys[i].package == k.package && keys[i].core == k.core) return n;
    keys[n] = k;
    return n + 1;
}

/* Unique (package, core) pairs among the CPUs this process may run on, from sysfs. */
static int cores_from_sysfs(void) {
    cpu_set_t allowed;
    int have_mask = sched_getaffinity(0, sizeof allowed, &allowed) == 0;
    enum { MAX_CPUS = 1024 };
    core_key *keys = malloc(MAX_CPUS * sizeof *keys);
    if (!keys) return 0;
    int n_keys = 0;
    for (int cpu = 0; cpu < MAX_CPUS; cpu++) {
        if (have_mask && cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed)) continue;
        char path[128];
        core_key k;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        if (!read_int_file(path, &k.core)) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        if (!read_int_file(path, &k.package)) k.package = 0;
        n_keys = add_unique(keys, n_keys, k);
    }
    free(keys);
    return n_keys;
}

/* Unique (physical id, core id) pairs listed in /proc/cpuinfo. */
static int cores_from_cpuinfo(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    enum { MAX_CORES = 1024 };
    core_key *keys = malloc(MAX_CORES * sizeof *keys);
    if (!keys) {
        fclose(f);
        return 0;
    }
    int n_keys = 0, package = -1, core = -1;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) package = v;
        else if (sscanf(line, "core id : %d", &v) == 1) core = v;
        if (package >= 0 && core >= 0) {
            if (n_keys < MAX_CORES) n_keys = add_unique(keys, n_keys, (core_key){package, core});
            package = core = -1;
        }
    }
    fclose(f);
    free(keys);
    return n_keys;
}

int slm_physical_cores(void) {
    int n = cores_from_sysfs();
    if (n <= 0) n = cores_from_cpuinfo();
    if (n <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    return n;
}
