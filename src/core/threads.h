/* threads.h — a small fixed pool of worker threads (pthreads).
 * The calling thread takes part in every run, so a pool of n threads starts n-1 workers. */
#ifndef SLM_CORE_THREADS_H
#define SLM_CORE_THREADS_H

#include "slm.h"

typedef struct slm_thread_pool slm_thread_pool;

/* fn(ctx, task, n_tasks) is called once for every task in [0, n_tasks). */
typedef void (*slm_task_fn)(void *ctx, int task, int n_tasks);

slm_thread_pool *slm_thread_pool_new(int n_threads, slm_error *err);
void slm_thread_pool_free(slm_thread_pool *pool);
int slm_thread_pool_size(const slm_thread_pool *pool);

/* Runs every task and returns when all are done. pool may be NULL (runs inline). */
void slm_thread_pool_run(slm_thread_pool *pool, slm_task_fn fn, void *ctx, int n_tasks);

/* Physical cores of this machine (falls back to online CPUs). */
int slm_physical_cores(void);

#endif
