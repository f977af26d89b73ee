/* Persistent thread pool. Workers spin briefly on a generation counter after each job (decode issues
   hundreds of short jobs per token, and a condition-variable wake costs more than a small GEMV), then
   sleep on a condition variable. Items are handed out by an atomic counter; the caller takes part.
   A job started from inside a job runs inline on the calling thread. */
#include "sentio_kernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>

/* Spin this many pause rounds (~0.1 ms), then yield the core this many times (the machine may be
   oversubscribed: a descheduled peer needs the core), then sleep on the condition variable. */
#define SPIN_ROUNDS 2000
#define YIELD_ROUNDS 50

struct sentio_pool {
    int threads;                 /* including the caller */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_mutex_t callers;     /* one job at a time when several threads share the pool */
    pthread_cond_t wake;
    pthread_cond_t done_cv;
    _Atomic long generation;
    _Atomic long next;
    _Atomic int finished;        /* workers that finished the current generation */
    _Atomic int sleeping;
    _Atomic int stop;
    long count;
    void (*fn)(void *, long);
    void *ctx;
    char pad[64];
};

static _Thread_local int tl_in_job = 0;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_items(sentio_pool *p) {
    long count = p->count;
    void (*fn)(void *, long) = p->fn;
    void *ctx = p->ctx;
    for (;;) {
        long i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= count) break;
        fn(ctx, i);
    }
}

static void *worker(void *arg) {
    sentio_pool *p = arg;
    tl_in_job = 1;
    long seen = 0;
    for (;;) {
        long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return NULL;
            if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
            if (spins < SPIN_ROUNDS + YIELD_ROUNDS) { sched_yield(); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        run_items(p);
        if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1 == p->threads - 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

sentio_pool *sentio_pool_create(int threads) {
    if (threads < 1) threads = 1;
    sentio_pool *p = aligned_alloc(64, (sizeof(sentio_pool) + 63) / 64 * 64);
    memset(p, 0, sizeof *p);
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->callers, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->tids = calloc((size_t)threads, sizeof(pthread_t));
    for (int t = 1; t < threads; t++) pthread_create(&p->tids[t], NULL, worker, p);
    return p;
}

void sentio_pool_destroy(sentio_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->threads; t++) pthread_join(p->tids[t], NULL);
    free(p->tids);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->callers);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cv);
    free(p);
}

void sentio_pool_run(sentio_pool *p, long count, void (*fn)(void *, long), void *ctx) {
    if (count <= 0) return;
    if (p->threads == 1 || count == 1 || tl_in_job) {
        for (long i = 0; i < count; i++) fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->callers);
    p->count = count; p->fn = fn; p->ctx = ctx;
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_seq_cst);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    tl_in_job = 1;
    run_items(p);
    tl_in_job = 0;
    int spins = 0;
    while (atomic_load_explicit(&p->finished, memory_order_acquire) != p->threads - 1) {
        if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
        if (spins < SPIN_ROUNDS + YIELD_ROUNDS) { sched_yield(); continue; }
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->finished) != p->threads - 1) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->callers);
}
