/* A model's thread team (see pool.h). */
#define _POSIX_C_SOURCE 200809L
#include "tensor/pool.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long an idle worker spins before it sleeps: a training step's next
 * task follows within microseconds; between epochs or calls it sleeps. */
#define SPIN_NS 300000L

/* After this long spinning, a waiting thread yields its core now and then:
 * on a machine busier than the team, the thread it waits for may need it. */
#define YIELD_NS 50000L

/* Parts are claimed, not assigned: the caller and the workers take the next
 * unclaimed part of the current task from `claim` (task generation in the
 * high 32 bits, next part in the low 32) until none is left. A task of
 * vt_pool_run has one part per member of the team; one of vt_pool_run_each
 * has `n` items, claimed one at a time by the members whose index is below
 * its limit. A worker that the OS has descheduled (a busy machine) then
 * costs nothing, or at most the item it holds: the others do the rest. A
 * claim succeeds only by a compare-and-swap on the current generation, so a
 * worker that wakes late can never run a part of a finished task or mix two
 * tasks' fields: the caller publishes a new task only after every part of
 * the previous one is claimed and done, and closes the previous counter
 * (CLAIM_CLOSED) before it writes the new task's fields (see run_parts). */

/* The low half of `claim` when no item is left to claim (above any count). */
#define CLAIM_CLOSED 0xffffffffu

/* A worker's view: its pool and its index in the team (1..started). */
typedef struct worker_arg {
    vt_pool *pool;
    int self;
} worker_arg;

struct vt_pool {
    int parts;                 /* the team size asked for: parts per task */
    int started;               /* workers running */
    pthread_t *tid;
    worker_arg *args;          /* tid[k] runs as member args[k].self = k + 1 */
    pthread_mutex_t mu;        /* guards sleeping workers' wait and wake-up */
    pthread_cond_t cv;
    atomic_uint gen;           /* task generation */
    atomic_ullong claim;       /* gen << 32 | next unclaimed part */
    atomic_int done;           /* parts of the current task finished */
    atomic_int sleepers;       /* workers blocked (or about to block) on cv */
    atomic_int stop;
    atomic_flag busy;          /* held by the caller of vt_pool_run */
    _Atomic(vt_task_fn) fn;    /* the current task: fn (vt_pool_run) or each */
    _Atomic(vt_item_fn) each;  /* (vt_pool_run_each) */
    _Atomic(void *) ctx;
    atomic_int items;          /* its parts or items */
    atomic_int members;        /* members 0..members-1 may claim them */
};

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Wait until gen differs from seen: spin for SPIN_NS (yielding now and
 * then, in case the caller waits for this core), then sleep. The wake-up
 * cannot be lost: a sleeper counts itself in `sleepers` and re-checks gen
 * under mu before waiting; vt_pool_run bumps gen and then reads `sleepers`
 * (both sequentially consistent), and if any, signals under mu. */
static unsigned wait_task(vt_pool *p, unsigned seen)
{
    unsigned g;
    long t0 = 0;
    for (unsigned spins = 0;; spins++) {
        if ((g = atomic_load(&p->gen)) != seen)
            return g;
        cpu_relax();
        if ((spins & 255u) == 0) {
            long t = now_ns();
            if (spins == 0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
            else if (t - t0 > YIELD_NS)
                sched_yield(); /* in case the caller waits for this core */
        }
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->gen)) == seen)
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* Claim and run parts (items) of generation gen until none is left; `self`
 * is the member's index in the team (0: the caller). */
static void run_parts(vt_pool *p, unsigned gen, int self)
{
    unsigned long long c = atomic_load(&p->claim);
    for (;;) {
        if ((unsigned)(c >> 32) != gen)
            return;
        /* The task's fields, read before the claim. A claim that succeeds
         * on (gen, i) proves they were this task's: the caller closes the
         * counter (CLAIM_CLOSED) before it writes the next task's fields,
         * and these acquire loads would see those writes only after the
         * closing, which then makes the claim below fail. Without the
         * closing, a finished task's counter ("all n claimed") read here
         * together with the next task's larger n would look like an
         * unclaimed item, and one item would run twice. */
        unsigned n = (unsigned)atomic_load_explicit(&p->items, memory_order_acquire);
        int members = atomic_load_explicit(&p->members, memory_order_acquire);
        vt_task_fn fn = atomic_load_explicit(&p->fn, memory_order_acquire);
        vt_item_fn each = atomic_load_explicit(&p->each, memory_order_acquire);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_acquire);
        unsigned i = (unsigned)(c & 0xffffffffu);
        if (i >= n || self >= members)
            return;
        if (atomic_compare_exchange_weak(&p->claim, &c, c + 1)) {
            if (each)
                each(ctx, (size_t)i, self);
            else
                fn(ctx, (int)i, p->parts);
            atomic_fetch_add(&p->done, 1);
            c = atomic_load(&p->claim);
        }
    }
}

static void *worker_main(void *arg)
{
    const worker_arg *w = arg;
    vt_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_task(p, seen);
        if (atomic_load(&p->stop))
            return NULL;
        run_parts(p, seen, w->self);
    }
}

vt_pool *vt_pool_new(int threads)
{
    if (threads <= 1 || threads > VT_MAX_PARTS)
        return NULL;
    vt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->tid = calloc((size_t)threads, sizeof *p->tid);
    p->args = calloc((size_t)threads, sizeof *p->args);
    if (!p->tid || !p->args || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->tid);
        free(p->args);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->tid);
        free(p->args);
        free(p);
        return NULL;
    }
    p->parts = threads;
    atomic_init(&p->gen, 0);
    atomic_init(&p->claim, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->each, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->items, 0);
    atomic_init(&p->members, 0);
    atomic_flag_clear(&p->busy);
    for (int k = 1; k < threads; k++) {
        worker_arg *w = &p->args[p->started];
        *w = (worker_arg){p, p->started + 1};
        if (pthread_create(&p->tid[p->started], NULL, worker_main, w) != 0)
            break;
        p->started++;
    }
    return p;
}

void vt_pool_free(vt_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < p->started; k++)
        pthread_join(p->tid[k], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p->args);
    free(p);
}

int vt_pool_parts(const vt_pool *p) { return p ? p->parts : 1; }

/* Publish a task of n parts or items for members 0..members-1, run the
 * caller's share and wait for the rest. 0, or -1 when the team cannot take
 * it (no workers, or busy with another caller's task): nothing ran. */
static int run_task(vt_pool *p, vt_task_fn fn, vt_item_fn each, void *ctx, int n, int members)
{
    if (p->started == 0 || atomic_flag_test_and_set(&p->busy))
        return -1;
    unsigned gen = atomic_load(&p->gen) + 1u;
    /* Close the finished task's counter first (see run_parts). */
    atomic_store(&p->claim, (unsigned long long)(gen - 1u) << 32 | CLAIM_CLOSED);
    atomic_store_explicit(&p->fn, fn, memory_order_release);
    atomic_store_explicit(&p->each, each, memory_order_release);
    atomic_store_explicit(&p->ctx, ctx, memory_order_release);
    atomic_store_explicit(&p->items, n, memory_order_release);
    atomic_store_explicit(&p->members, members, memory_order_release);
    atomic_store(&p->done, 0);
    atomic_store(&p->claim, (unsigned long long)gen << 32);
    atomic_store(&p->gen, gen);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_parts(p, gen, 0);
    /* Parts claimed by workers and still running. */
    long t0 = 0;
    for (unsigned spins = 1; atomic_load(&p->done) < n; spins++) {
        cpu_relax();
        if ((spins & 255u) == 0) {
            /* Waiting long (tens of microseconds): the worker may have been
             * descheduled on a busy machine; give it the core. */
            long t = now_ns();
            if (t0 == 0)
                t0 = t;
            else if (t - t0 > YIELD_NS)
                sched_yield();
        }
    }
    atomic_flag_clear(&p->busy);
    return 0;
}

void vt_pool_run(vt_pool *p, vt_task_fn fn, void *ctx)
{
    if (!p) {
        fn(ctx, 0, 1);
        return;
    }
    if (run_task(p, fn, NULL, ctx, p->parts, p->parts) != 0)
        /* No workers, or another thread is running a task on this team:
         * every part here, in order (same results, one core). */
        for (int i = 0; i < p->parts; i++)
            fn(ctx, i, p->parts);
}

void vt_pool_run_each(vt_pool *p, vt_item_fn fn, void *ctx, size_t n, int members)
{
    int team = vt_pool_parts(p);
    if (members > team)
        members = team;
    if (n == 0)
        return;
    if (!p || members <= 1 || n > (size_t)INT_MAX ||
        run_task(p, NULL, fn, ctx, (int)n, members) != 0)
        for (size_t i = 0; i < n; i++)
            fn(ctx, i, 0);
}

void vt_pool_range(size_t n, size_t align, int part, int parts, size_t *lo, size_t *hi)
{
    if (align < 1)
        align = 1;
    /* Cut i at ceil(blocks * i / parts): the first parts are the larger
     * ones, and part 0 is the caller's, which starts without a wake-up. */
    size_t blocks = (n + align - 1) / align, P = (size_t)parts;
    size_t b0 = (blocks * (size_t)part + P - 1) / P, b1 = (blocks * (size_t)(part + 1) + P - 1) / P;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}
