/* Persistent thread pool. Workers spin briefly on a generation counter after each job (decode issues
   hundreds of short jobs per token, and a condition-variable wake costs more than a small GEMV), then
   sleep on a condition variable. Items are handed out by an atomic ticket (generation | index); the
   caller takes part and waits only for items that other threads actually claimed.
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
    /* (job generation << 32) | next item index. Workers claim items with a CAS that fails once the
       generation moves on, so a worker that wakes late can never take an item of a newer job it has
       not read the parameters of. */
    _Atomic uint64_t ticket;
    _Atomic long done;           /* items finished in the current job */
    _Atomic long count;
    _Atomic int sleeping;
    _Atomic int caller_sleeping;
    _Atomic int stop;
    void (*_Atomic fn)(void *, long);
    void *_Atomic ctx;
    char pad[64];
};

static _Thread_local int tl_in_job = 0;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline uint32_t gen_of(uint64_t t) { return (uint32_t)(t >> 32); }

static void item_done(sentio_pool *p, long count) {
    if (atomic_fetch_add(&p->done, 1) + 1 == count && atomic_load(&p->caller_sleeping)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Worker side: claim and run items of generation g until none are left (or the job changed). */
static void worker_items(sentio_pool *p, uint32_t g) {
    for (;;) {
        uint64_t t = atomic_load(&p->ticket);
        if (gen_of(t) != g) return;
        long i = (long)(uint32_t)t, count = atomic_load(&p->count);
        if (i >= count) return;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue;
        /* the item is ours: the caller keeps fn/ctx/count until done == count */
        atomic_load(&p->fn)(atomic_load(&p->ctx), i);
        item_done(p, count);
    }
}

static void *worker(void *arg) {
    sentio_pool *p = arg;
    tl_in_job = 1;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = gen_of(atomic_load_explicit(&p->ticket, memory_order_acquire))) == seen) {
            if (atomic_load_explicit(&p->stop, memory_order_relaxed)) return NULL;
            if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
            if (spins < SPIN_ROUNDS + YIELD_ROUNDS) { sched_yield(); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while (gen_of(atomic_load(&p->ticket)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        worker_items(p, g);
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

/* The caller publishes the job, runs items itself and then waits only for items other threads have
   claimed: a worker that is not running (oversubscribed machine) costs nothing, the caller simply
   takes its share. */
void sentio_pool_run(sentio_pool *p, long count, void (*fn)(void *, long), void *ctx) {
    if (count <= 0) return;
    if (p->threads == 1 || count == 1 || tl_in_job || count >= (1L << 31)) {
        for (long i = 0; i < count; i++) fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->callers);
    /* Close the previous generation before publishing count/fn/ctx: a worker that read an old ticket
       (index >= the old count) and then the new, larger count must not claim that index with the new
       job's fn (its item_done would push done past count and the caller would wait forever). Its CAS
       now fails and a re-read sees index 0xFFFFFFFF >= count. */
    atomic_store(&p->ticket, (atomic_load(&p->ticket) & 0xFFFFFFFF00000000ull) | 0xFFFFFFFFull);
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->count, count);
    atomic_store(&p->done, 0);
    uint32_t g = gen_of(atomic_load(&p->ticket)) + 1;
    atomic_store(&p->ticket, (uint64_t)g << 32);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    tl_in_job = 1;
    long mine = 0;
    for (;;) {   /* only this thread changes the generation: a plain fetch_add claims */
        long i = (long)(uint32_t)atomic_fetch_add(&p->ticket, 1);
        if (i >= count) break;
        fn(ctx, i);
        mine++;
    }
    tl_in_job = 0;
    atomic_fetch_add(&p->done, mine);
    int spins = 0;
    while (atomic_load(&p->done) != count) {
        if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
        if (spins < SPIN_ROUNDS + YIELD_ROUNDS) { sched_yield(); continue; }
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeping, 1);
        while (atomic_load(&p->done) != count) pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->caller_sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&p->callers);
}
