/* The thread team (tensor/pool.c) and the split matrix product
 * (tensor/blas.c): every part runs exactly once, partitions tile the range,
 * concurrent callers and late workers are safe, and a product split over a
 * team gives the bits of the unsplit product (where the BLAS kernels allow
 * it, vt_gemm_split_exact; else the same values to rounding). */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "tensor/blas.h"
#include "tensor/pool.h"
#include "tensor/vec.h"
#include "testutil.h"

/* The long sweeps (thousands of repetitions, every product shape) run in
 * the 'slow' suite (test pool-long, VAE_TEST_LONG=1); the 'unit' suite runs
 * short ones so that it stays under a minute on 2 cores; valgrind
 * (VAE_TEST_QUICK) runs the shortest. */
static int short_sweeps(void)
{
    const char *l = getenv("VAE_TEST_LONG");
    return tu_quick() || !(l && *l && strcmp(l, "0") != 0);
}

START_TEST(test_range_tiles)
{
    size_t ns[] = {0, 1, 15, 16, 17, 100, 784, 1000003};
    size_t aligns[] = {1, 16, 64};
    for (size_t a = 0; a < 3; a++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (int parts = 1; parts <= 9; parts++) {
                size_t prev = 0;
                for (int i = 0; i < parts; i++) {
                    size_t lo, hi;
                    vt_pool_range(ns[k], aligns[a], i, parts, &lo, &hi);
                    ck_assert_uint_eq(lo, prev);
                    ck_assert_uint_le(lo, hi);
                    ck_assert(lo % aligns[a] == 0 || lo == ns[k]);
                    prev = hi;
                }
                ck_assert_uint_eq(prev, ns[k]);
            }
}
END_TEST

typedef struct counting {
    atomic_int hits[VT_MAX_PARTS];
    atomic_int calls;
    atomic_int parts_seen; /* every part writes it (atomic: a clean run under TSan) */
} counting;

static void count_part(void *ctx, int part, int parts)
{
    counting *c = ctx;
    atomic_fetch_add(&c->hits[part], 1);
    atomic_fetch_add(&c->calls, 1);
    atomic_store(&c->parts_seen, parts);
}

static void check_once(vt_pool *p, int parts)
{
    counting c;
    memset(&c, 0, sizeof c);
    vt_pool_run(p, count_part, &c);
    ck_assert_int_eq(atomic_load(&c.calls), parts);
    ck_assert_int_eq(atomic_load(&c.parts_seen), parts);
    for (int i = 0; i < parts; i++)
        ck_assert_int_eq(atomic_load(&c.hits[i]), 1);
}

START_TEST(test_each_part_once)
{
    ck_assert_ptr_null(vt_pool_new(1));
    ck_assert_ptr_null(vt_pool_new(0));
    ck_assert_ptr_null(vt_pool_new(VT_MAX_PARTS + 1));
    ck_assert_int_eq(vt_pool_parts(NULL), 1);
    check_once(NULL, 1);
    vt_pool_free(NULL);
    int teams[] = {2, 3, 4, 8};
    int reps = short_sweeps() ? 50 : 2000;
    for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++) {
        vt_pool *p = vt_pool_new(teams[t]);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(vt_pool_parts(p), teams[t]);
        for (int r = 0; r < reps; r++)
            check_once(p, teams[t]);
        vt_pool_free(p);
    }
}
END_TEST

/* After the workers have gone to sleep (past their spin time), a task still
 * wakes them and runs every part; freeing a sleeping team returns. */
START_TEST(test_sleeping_workers)
{
    vt_pool *p = vt_pool_new(3);
    ck_assert_ptr_nonnull(p);
    check_once(p, 3);
    struct timespec ts = {0, 20 * 1000 * 1000}; /* 20 ms: well past the spin time */
    for (int r = 0; r < 3; r++) {
        nanosleep(&ts, NULL);
        check_once(p, 3);
    }
    nanosleep(&ts, NULL);
    vt_pool_free(p);
}
END_TEST

/* vt_pool_run_each: the items a member ran, and the order on one member. */
typedef struct items_seen {
    atomic_int hits[1000];
    atomic_int by[VT_MAX_PARTS];
    atomic_int max_self, out_of_order;
    atomic_size_t last; /* last item + 1, for the in-order check */
    int slow_self;      /* a member that sleeps on its first item, or -1 */
    atomic_int slept;
} items_seen;

static void see_item(void *ctx, size_t item, int self)
{
    items_seen *c = ctx;
    atomic_fetch_add(&c->hits[item], 1);
    atomic_fetch_add(&c->by[self], 1);
    int m = atomic_load(&c->max_self);
    while (self > m && !atomic_compare_exchange_weak(&c->max_self, &m, self))
        ;
    if (atomic_exchange(&c->last, item + 1) != item)
        atomic_fetch_add(&c->out_of_order, 1);
    if (self == c->slow_self && atomic_exchange(&c->slept, 1) == 0) {
        struct timespec ts = {0, 200 * 1000 * 1000}; /* a member the OS took away */
        nanosleep(&ts, NULL);
    }
}

typedef struct caller_arg {
    vt_pool *pool;
    int reps, failures;
} caller_arg;

static void *hammer(void *arg)
{
    caller_arg *a = arg;
    for (int r = 0; r < a->reps; r++) {
        counting c;
        memset(&c, 0, sizeof c);
        vt_pool_run(a->pool, count_part, &c);
        int parts = vt_pool_parts(a->pool);
        if (atomic_load(&c.calls) != parts)
            a->failures++;
        for (int i = 0; i < parts; i++)
            if (atomic_load(&c.hits[i]) != 1)
                a->failures++;
        items_seen *e = calloc(1, sizeof *e); /* a busy team: the caller runs them */
        e->slow_self = -1;
        vt_pool_run_each(a->pool, see_item, e, 50, 2);
        for (int i = 0; i < 50; i++)
            if (atomic_load(&e->hits[i]) != 1)
                a->failures++;
        free(e);
    }
    return NULL;
}

/* Three threads running tasks on one team at once (the busy caller runs its
 * parts itself): every task still runs each part exactly once. */
START_TEST(test_concurrent_callers)
{
    vt_pool *p = vt_pool_new(2);
    ck_assert_ptr_nonnull(p);
    caller_arg a[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (caller_arg){p, short_sweeps() ? 30 : 3000, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(a[i].failures, 0);
    }
    vt_pool_free(p);
}
END_TEST

static void check_each(vt_pool *p, size_t n, int members)
{
    static items_seen c;
    memset(&c, 0, sizeof c);
    c.slow_self = -1;
    vt_pool_run_each(p, see_item, &c, n, members);
    int team = vt_pool_parts(p), allowed = members < team ? members : team;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(atomic_load(&c.hits[i]), 1);
    ck_assert_int_lt(atomic_load(&c.max_self), allowed > 1 ? allowed : 1);
    if (allowed <= 1) /* the caller alone, in order */
        ck_assert_int_eq(atomic_load(&c.out_of_order), 0);
}

/* Every item runs once, on a member below the limit; one member (or no
 * team) runs them in order on the caller. */
START_TEST(test_each_item_once)
{
    size_t ns[] = {0, 1, 2, 7, 14, 100, 1000};
    int members[] = {-1, 0, 1, 2, 3, 8, 300};
    int reps = short_sweeps() ? 3 : 100;
    for (int t = 0; t < 5; t++) {
        int teams[] = {1, 2, 3, 4, 8};
        vt_pool *p = vt_pool_new(teams[t]);
        for (int r = 0; r < reps; r++)
            for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
                for (size_t m = 0; m < sizeof members / sizeof members[0]; m++)
                    check_each(p, ns[k], members[m]);
        vt_pool_free(p);
    }
}
END_TEST

/* Tasks of very different sizes back to back (1 item, then 64, parts of
 * vt_pool_run between): a worker still looking at a finished task's claim
 * counter must not take an item of the next, larger task with it (a stale
 * "all claimed" counter of a 1-item task is an unclaimed index of a 64-item
 * one). Every item of every task runs exactly once. */
START_TEST(test_each_sizes_back_to_back)
{
    vt_pool *p = vt_pool_new(2);
    ck_assert_ptr_nonnull(p);
    static items_seen c;
    int reps = tu_quick() ? 2000 : short_sweeps() ? 300000 : 3000000;
    int bad = 0;
    for (int r = 0; r < reps && !bad; r++) {
        size_t n = r % 3 == 0 ? 1 : r % 3 == 1 ? 64 : 2;
        memset(&c, 0, sizeof c);
        c.slow_self = -1;
        if (n == 2) {
            counting k;
            memset(&k, 0, sizeof k);
            vt_pool_run(p, count_part, &k);
            bad = atomic_load(&k.hits[0]) != 1 || atomic_load(&k.hits[1]) != 1;
            continue;
        }
        vt_pool_run_each(p, see_item, &c, n, 2);
        for (size_t i = 0; i < n; i++)
            bad |= atomic_load(&c.hits[i]) != 1;
    }
    ck_assert_msg(!bad, "an item ran other than once");
    vt_pool_free(p);
}
END_TEST

/* Items are claimed one at a time: when the caller is held up on its first
 * item (200 ms, as when the OS takes its core away), the worker runs all
 * the others instead of waiting with half of them (a fixed split gives
 * the caller 10 of 20), and a held-up worker delays only the item it holds. */
START_TEST(test_each_slow_member)
{
    vt_pool *p = vt_pool_new(2);
    ck_assert_ptr_nonnull(p);
    static items_seen c;
    for (int slow = 0; slow < 2; slow++) {
        memset(&c, 0, sizeof c);
        c.slow_self = slow;
        vt_pool_run_each(p, see_item, &c, 20, 2);
        for (int i = 0; i < 20; i++)
            ck_assert_int_eq(atomic_load(&c.hits[i]), 1);
        if (atomic_load(&c.slept))
            ck_assert_int_eq(atomic_load(&c.by[slow]), 1);
    }
    vt_pool_free(p);
}
END_TEST

static float *filled(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return x;
}

/* vt_gemm on teams of 2..4 equals the unsplit product bit for bit, for the
 * shapes and transposes of a training step (784-400-20 and 784-1024-512-64
 * at batch 32/100/256) and odd sizes; vt_gemm_bias equals bias + product. */
START_TEST(test_split_gemm_bits)
{
    int shapes[][3] = {
        {100, 400, 784}, {784, 400, 100}, {100, 784, 400}, {100, 20, 400}, {400, 20, 100},
        {100, 400, 20},  {32, 400, 784},  {256, 784, 400}, {100, 1024, 784}, {1024, 512, 100},
        {100, 512, 1024}, {100, 64, 512}, {33, 47, 5},     {17, 300, 129},  {300, 17, 129},
    };
    size_t ns = sizeof shapes / sizeof shapes[0];
    int combos = 2;
    if (tu_quick()) { /* valgrind: one product shape, no transposes (minutes otherwise) */
        ns = 1;
        combos = 1;
    } else if (short_sweeps()) { /* unit suite: the MNIST-sized shape and the odd ones */
        int keep[4][3] = {{100, 400, 784}, {33, 47, 5}, {17, 300, 129}, {300, 17, 129}};
        memcpy(shapes, keep, sizeof keep);
        ns = 4;
    }
    vt_pool *pools[3] = {vt_pool_new(2), vt_pool_new(3), vt_pool_new(4)};
    /* Bit for bit with every kernel: where a split changes an element's
     * rounding (vt_gemm_split_exact() == 0), vt_gemm cuts products into the
     * same fixed blocks at every team size, the caller alone included. */
    int exact = 1;
    for (size_t s = 0; s < ns; s++)
        for (int ta = 0; ta < combos; ta++)
            for (int tb = 0; tb < combos; tb++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                int lda = ta ? M : K, ldb = tb ? K : N;
                float *A = filled((size_t)M * K, 1u + (unsigned)s), *B = filled((size_t)K * N, 7u);
                float *C0 = filled((size_t)M * N, 3u), *C1 = malloc((size_t)M * N * sizeof(float));
                float *bias = filled((size_t)N, 5u);
                float *ref = malloc((size_t)M * N * sizeof(float));
                memcpy(ref, C0, (size_t)M * N * sizeof(float));
                vt_gemm(NULL, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, ref, N);
                for (int k = 0; k < 3; k++) {
                    memcpy(C1, C0, (size_t)M * N * sizeof(float));
                    vt_gemm(pools[k], ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, C1, N);
                    if (exact)
                        ck_assert_msg(memcmp(ref, C1, (size_t)M * N * sizeof(float)) == 0,
                                      "%dx%dx%d ta %d tb %d team %d: bits differ", M, N, K, ta,
                                      tb, k + 2);
                    else /* rounding only: |error| <= K ulp-ish of sum |a b| (entries in [-1, 1]) */
                        for (size_t i = 0; i < (size_t)M * N; i++)
                            ck_assert_msg(fabsf(ref[i] - C1[i]) <= 1e-6f * (float)K + 1e-6f,
                                          "%dx%dx%d ta %d tb %d team %d: element %zu off by %g", M,
                                          N, K, ta, tb, k + 2, i, (double)fabsf(ref[i] - C1[i]));
                }
                if (!ta && !tb) {
                    for (int r = 0; r < M; r++)
                        memcpy(ref + (size_t)r * N, bias, (size_t)N * sizeof(float));
                    vt_gemm(NULL, 0, 0, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, ref, N);
                    for (int k = 0; k < 3; k++) {
                        vt_gemm_bias(k == 0 ? NULL : pools[k], M, N, K, A, lda, B, ldb, bias, C1, N);
                        for (size_t i = 0; i < (size_t)M * N; i++)
                            ck_assert(exact || k == 0 ? ref[i] == C1[i]
                                                      : fabsf(ref[i] - C1[i]) <= 1e-6f * (float)K + 1e-6f);
                    }
                }
                free(A);
                free(B);
                free(C0);
                free(C1);
                free(bias);
                free(ref);
            }
    for (int k = 0; k < 3; k++)
        vt_pool_free(pools[k]);
}
END_TEST

/* The blocked sum of squares and the max |x| give the same bits on teams of
 * 1..4; the sum agrees with a long double oracle to rounding; NaN and
 * infinity show. */
/* vt_find_bad against a direct loop: every special value (NaN, +-inf,
 * -0, subnormals, just above 1, negatives) at every position of a block
 * and its tail, in both modes. */
START_TEST(test_find_bad)
{
    enum { N = 2100 }; /* two 1024 blocks and a tail */
    static float x[N];
    const float special[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1.0f, 0x1.000002p0f, -0x1p-149f,
                             0x1p-149f, -1.0f, 2.0f, 0.5f, FLT_MAX, -FLT_MAX};
    const size_t pos[] = {0, 1, 15, 16, 1023, 1024, 1025, 2047, 2048, 2099};
    for (size_t i = 0; i < N; i++)
        x[i] = (float)(i % 97) / 96.0f;
    ck_assert_uint_eq(vt_find_bad(x, N, 1), N);
    ck_assert_uint_eq(vt_find_bad(x, N, 0), N);
    for (size_t a = 0; a < sizeof special / sizeof special[0]; a++)
        for (size_t b = 0; b < sizeof pos / sizeof pos[0]; b++) {
            float keep = x[pos[b]];
            x[pos[b]] = special[a];
            for (int unit = 0; unit <= 1; unit++) {
                size_t want = N;
                for (size_t i = 0; i < N && want == N; i++)
                    if (!isfinite(x[i]) || (unit && !(x[i] >= 0.0f && x[i] <= 1.0f)))
                        want = i;
                ck_assert_msg(vt_find_bad(x, N, unit) == want, "value %a at %zu, unit %d", (double)special[a],
                              pos[b], unit);
            }
            x[pos[b]] = keep;
        }
}
END_TEST

START_TEST(test_reductions_on_teams)
{
    size_t ns[] = {0, 1, 17, 65536, 65537, 652824, 2000003};
    vt_pool *pools[4] = {NULL, vt_pool_new(2), vt_pool_new(3), vt_pool_new(4)};
    size_t count = short_sweeps() ? 5 : sizeof ns / sizeof ns[0]; /* short: up to 65537 */
    for (size_t k = 0; k < count; k++) {
        size_t n = ns[k];
        float *x = filled(n ? n : 1, 11u);
        long double oracle = 0.0L;
        float amax = 0.0f;
        for (size_t i = 0; i < n; i++) {
            oracle += (long double)x[i] * x[i];
            amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
        }
        double s0 = vt_sum_squares(x, n);
        ck_assert(fabsl((long double)s0 - oracle) <= 1e-12L * (oracle + 1e-300L));
        for (int t = 0; t < 4; t++) {
            double s = vt_sum_squares_on(pools[t], x, n);
            ck_assert(memcmp(&s, &s0, sizeof s) == 0);
            ck_assert(vt_abs_max_on(pools[t], x, n) == amax);
        }
        if (n > 1) {
            x[n - 1] = NAN;
            for (int t = 0; t < 4; t++) {
                ck_assert(isnan(vt_sum_squares_on(pools[t], x, n)));
                ck_assert(isnan(vt_abs_max_on(pools[t], x, n)));
            }
            x[n / 2] = -INFINITY;
            x[n - 1] = 0.0f;
            for (int t = 0; t < 4; t++) {
                ck_assert(isinf(vt_sum_squares_on(pools[t], x, n)));
                ck_assert(isinf(vt_abs_max_on(pools[t], x, n)));
            }
        }
        free(x);
    }
    ck_assert_uint_eq(vt_sum_block(10), 65536);
    ck_assert_uint_le(100000000 / vt_sum_block(100000000), VT_SUM_BLOCKS);
    for (int t = 1; t < 4; t++)
        vt_pool_free(pools[t]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_range_tiles);
    tcase_add_test(tc, test_each_part_once);
    tcase_add_test(tc, test_sleeping_workers);
    tcase_add_test(tc, test_concurrent_callers);
    tcase_add_test(tc, test_each_item_once);
    tcase_add_test(tc, test_each_slow_member);
    tcase_add_test(tc, test_each_sizes_back_to_back);
    tcase_add_test(tc, test_split_gemm_bits);
    tcase_add_test(tc, test_reductions_on_teams);
    tcase_add_test(tc, test_find_bad);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
