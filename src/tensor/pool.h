/* A fixed team of threads owned by one model: the caller plus T - 1
 * workers that run the parts of one task at a time.
 *
 * Why. With two cores, the matrix products alone bound a training step at
 * about half the machine; OpenBLAS's own threading gains little on the
 * small products of a VAE (its threads are woken per call and split work
 * by its own rules), and everything between the products (activations,
 * the likelihood, the optimizer) ran on one core. A model with threads = T
 * splits each such piece of work into T parts with a fixed partition and
 * runs them on its team.
 *
 * Results never depend on how the parts are scheduled: a task is written
 * so that part i computes the same bits whichever thread runs it and in
 * whatever order, and the partition depends only on the sizes and on T.
 * A pool that could not start its workers, or that is busy (another thread
 * running a call on the same model, which the thread rules forbid for
 * training but allow for some read-only calls), runs the parts one after
 * the other on the caller: slower, same bits.
 *
 * Waiting. Workers spin (with a CPU pause) for a short while after each
 * task, because the next one follows within microseconds in a training
 * step and waking a sleeping thread costs tens of microseconds; then they
 * sleep on a condition variable, so an idle model costs no CPU.
 *
 * No globals: each pool is its own; vt_pool_free joins its workers. */
#ifndef VAE_TENSOR_POOL_H
#define VAE_TENSOR_POOL_H

#include <stddef.h>

/* Largest team (the threads limit of the model configurations). */
#define VT_MAX_PARTS 256

typedef struct vt_pool vt_pool;

/* fn(ctx, part, parts): do part `part` of `parts` of the task. */
typedef void (*vt_task_fn)(void *ctx, int part, int parts);

/* A team of `threads` (1..256): threads - 1 workers are started. Returns
 * NULL when threads <= 1 or out of memory; a pool whose workers could not
 * all start keeps those that did (NULL pools and short teams are valid
 * arguments below and give the same results). */
vt_pool *vt_pool_new(int threads);

/* Stops and joins the workers. NULL is a no-op. */
void vt_pool_free(vt_pool *p);

/* Parts a task is split into: the `threads` given to vt_pool_new, 1 for NULL. */
int vt_pool_parts(const vt_pool *p);

/* Runs fn(ctx, i, parts) for every i in 0..parts-1 and returns when all
 * are done; part 0 runs on the caller. Never allocates. */
void vt_pool_run(vt_pool *p, vt_task_fn fn, void *ctx);

/* fn(ctx, item, self): do item `item` of a task, on the team's member
 * `self` (0 is the caller; every member runs one item at a time, so `self`
 * can index per-member work space). */
typedef void (*vt_item_fn)(void *ctx, size_t item, int self);

/* Runs fn(ctx, i, self) for every i in 0..n-1 and returns when all are
 * done. Items are claimed one at a time, in order, by the members whose
 * index is below `members` (clamped to the team; <= 1: the caller alone),
 * so a member the OS has descheduled delays at most the item it holds,
 * and members that finish early take more. Which member runs an item, and
 * in what order items finish, is scheduling: fn must give the same bits
 * whatever `self` is. n beyond INT_MAX runs on the caller. Never allocates. */
void vt_pool_run_each(vt_pool *p, vt_item_fn fn, void *ctx, size_t n, int members);

/* The half-open range [*lo, *hi) of part `part` of `parts` over n items,
 * cut at multiples of `align` (>= 1) so vector loops keep whole blocks. */
void vt_pool_range(size_t n, size_t align, int part, int parts, size_t *lo, size_t *hi);

#endif
