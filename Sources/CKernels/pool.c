// A persistent thread pool for data-parallel loops. Kernels call it hundreds of times per
// decoded token, so workers spin on a generation counter for a short while before sleeping:
// waking a sleeping thread costs tens of microseconds, a spinning one well under one.
// Spinning turns to sched_yield after a few microseconds, in workers and in the waiting caller:
// when there are more threads than free cores (other programs, or --threads above the core
// count), a waiter that only spins holds the core its awaited thread needs for a whole time
// slice, on every call (generation fell from 70 to 0.4 tokens/s with 4 threads on 2 cores).
#include "ckernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>

#define CK_MAX_THREADS 64
#define CK_SPIN_ROUNDS 200000  // rounds before a worker sleeps
#define CK_PAUSE_ROUNDS 2000   // rounds of `pause` alone before waiters start yielding the core

static inline void ck_wait_round(long round) {
    // After the first rounds, one round in 32 yields: a system call each round would take
    // execution resources from a sibling hardware thread doing the work.
    if (round >= CK_PAUSE_ROUNDS && round % 32 == 0) {
        sched_yield();
        return;
    }
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;   // serializes callers
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static _Atomic long generation = 0;
static _Atomic long next_index = 0;
static _Atomic long finished = 0;
static _Atomic int active_workers = 0;
static _Atomic int exited = 0;  // active workers done with this generation  // workers allowed to take tasks in this generation
static long task_count = 0;
static ck_task_fn task_fn = 0;
static void *task_context = 0;

static void run_tasks(void) {
    long i;
    while ((i = atomic_fetch_add_explicit(&next_index, 1, memory_order_relaxed)) < task_count) {
        task_fn(task_context, i);
        atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
}

static void *worker(void *arg) {
    long id = (long)arg;
    long seen = 0;
    for (;;) {
        long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (++spins < CK_SPIN_ROUNDS) {
                ck_wait_round(spins);
                continue;
            }
            pthread_mutex_lock(&sleep_lock);
            while (atomic_load_explicit(&generation, memory_order_acquire) == seen) pthread_cond_wait(&wake, &sleep_lock);
            pthread_mutex_unlock(&sleep_lock);
            spins = 0;
        }
        seen = g;
        if (id < atomic_load_explicit(&active_workers, memory_order_acquire)) {
            run_tasks();
            // Checked out: this worker touches no counter again until the next generation.
            atomic_fetch_add_explicit(&exited, 1, memory_order_release);
        }
    }
    return 0;
}

static int worker_count = 0;

void ck_pool_parallel(int threads, long count, ck_task_fn fn, void *context) {
    if (threads <= 1 || count <= 1) {
        for (long i = 0; i < count; i++) fn(context, i);
        return;
    }
    if (pthread_mutex_trylock(&pool_lock) != 0) {
        // Another caller holds the pool (or this is a nested call): run serially.
        for (long i = 0; i < count; i++) fn(context, i);
        return;
    }
    if (threads > CK_MAX_THREADS) threads = CK_MAX_THREADS;
    while (worker_count < threads - 1) {
        pthread_t t;
        if (pthread_create(&t, 0, worker, (void *)(long)worker_count) != 0) break;
        pthread_detach(t);
        worker_count++;
    }
    task_count = count;
    task_fn = fn;
    task_context = context;
    atomic_store_explicit(&next_index, 0, memory_order_relaxed);
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    atomic_store_explicit(&active_workers, threads - 1, memory_order_relaxed);
    atomic_store_explicit(&exited, 0, memory_order_relaxed);
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&sleep_lock);
    run_tasks();
    // Wait until every task ran and every active worker has left run_tasks, so none can
    // take an index of the next call with this call's function.
    long round = 0;
    while (atomic_load_explicit(&finished, memory_order_acquire) < count ||
           atomic_load_explicit(&exited, memory_order_acquire) < threads - 1) {
        ck_wait_round(round++);
    }
    pthread_mutex_unlock(&pool_lock);
}
