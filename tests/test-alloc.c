/* Steady-state training allocates nothing: after the first batch, a
 * training step (and an epoch's batches) makes no malloc/calloc/realloc call.
 *
 * The test interposes malloc, calloc and realloc in this executable (glibc
 * exports the real ones as __libc_*). The library is linked statically
 * into this executable, so a call whose return address lies in the
 * executable's text is libvae's (or the test's own). OpenBLAS, a separate
 * shared object, keeps small per-call work buffers of its own; those are
 * counted apart and reported, not failed: they are the BLAS's business.
 * Sanitizers and valgrind replace the allocator themselves, so those runs
 * skip this test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "libvae/vae.h"
#include "tensor/pool.h"
#include "testutil.h"

#if !TU_SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

extern char __executable_start[], etext[];

static volatile long n_allocs;      /* from this executable: libvae and the test */
static volatile long n_foreign;     /* from shared libraries (OpenBLAS, libc internals) */

static void count(void *caller)
{
    if ((char *)caller >= __executable_start && (char *)caller < etext)
        n_allocs++;
    else
        n_foreign++;
}

void *malloc(size_t n)
{
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    count(__builtin_return_address(0));
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
#else
static volatile long n_allocs, n_foreign;
#endif

static int sanitized(void)
{
    return TU_SANITIZED || tu_quick(); /* tu_quick: the valgrind setup */
}

static void steady_state(int threads, int likelihood, int samples)
{
    if (sanitized())
        return;
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 784;
    c.threads = threads;
    c.likelihood = likelihood;
    c.samples = samples;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.clip_norm = 100.0f;
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    const size_t n = 300;
    float *x = malloc(n * 784 * sizeof(float));
    for (size_t i = 0; i < n * 784; i++)
        x[i] = (float)((i * 2654435761u) % 256) / 255.0f;
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = VAE_BINARIZE_DYNAMIC;
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, n, 784, NULL, VAE_ARRAY_BORROW, &dopt, &ds, NULL), VAE_OK);
    /* First batch and first epoch: buffers are sized here. */
    ck_assert_int_eq(vae_model_train_step(m, o, x, 100, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 100, NULL, NULL, NULL), VAE_OK);
    /* No Check assertion inside the measured window: Check itself allocates. */
    int rc[8], k = 0;
    long before = n_allocs, foreign = n_foreign;
    for (int s = 0; s < 5; s++)
        rc[k++] = vae_model_train_step(m, o, x + (size_t)s * 784, 100, NULL);
    rc[k++] = vae_model_train_step(m, o, x, 37, NULL); /* a smaller batch reuses buffers */
    for (int e = 0; e < 2; e++)
        rc[k++] = vae_model_train_epoch(m, o, ds, 100, NULL, NULL, NULL);
    long during = n_allocs - before;
    fprintf(stderr, "threads %d: %ld allocations by libvae, %ld by shared libraries (BLAS)\n",
            threads, during, n_foreign - foreign);
    for (int i = 0; i < k; i++)
        ck_assert_int_eq(rc[i], VAE_OK);
    ck_assert_msg(during == 0, "%ld allocations in steady-state training (threads %d)", during,
                  threads);
    vae_dataset_free(ds);
    vae_optimizer_free(o);
    vae_model_free(m);
    free(x);
}

START_TEST(test_no_alloc_1_thread) { steady_state(1, VAE_LIK_BERNOULLI, 1); }
END_TEST
START_TEST(test_no_alloc_2_threads) { steady_state(2, VAE_LIK_GAUSSIAN_LEARNED, 2); }
END_TEST

/* A convolutional graph (conv2d, relu, layernorm, convT2d, reshape, the
 * hwc permutations) runs forward and backward without allocating once its
 * batch size has been seen: the convolutions' im2col and dW block scratch
 * is sized by vg_set_batch and reused. */
static void conv_steady_state(int threads)
{
    if (sanitized())
        return;
    vt_pool *pool = threads > 1 ? vt_pool_new(threads) : NULL;
    vg_graph *g = vg_new(2);
    g->pool = pool;
    const size_t np = 2 * 16 * 8 + 8 + 8 + 8 + 8 * 16 * 2 + 2;
    float *p = calloc(np, sizeof(float)), *d = calloc(np, sizeof(float));
    for (size_t i = 0; i < np; i++)
        p[i] = (float)((i * 2654435761u) % 200) / 1000.0f - 0.1f;
    int x = vg_input(g, VG_ROWS_SAMPLES, 0, 2 * 14 * 12);
    vg_set_shape(g, x, 2, 14, 12);
    float *q = p, *dq = d;
    int w1 = vg_param(g, 8, 2 * 16, q, dq);
    int b1 = vg_param(g, 1, 8, q += 256, dq += 256);
    int gm = vg_param(g, 1, 8, q += 8, dq += 8);
    int bt = vg_param(g, 1, 8, q += 8, dq += 8);
    int w2 = vg_param(g, 8, 2 * 16, q += 8, dq += 8);
    int b2 = vg_param(g, 1, 2, q + 256, dq + 256);
    int c = vg_conv2d(g, x, w1, b1, 8, 4, 2, 1);
    int a = vg_unary(g, VG_OP_RELU, c, 0, 0);
    int l = vg_layernorm(g, a, gm, bt, 1e-5f);
    int h = vg_hwc_to_chw(g, vg_chw_to_hwc(g, l), 8, 7, 6);
    int f = vg_reshape(g, vg_reshape(g, h, 8 * 7 * 6, 1, 1), 8, 7, 6);
    int y = vg_convt2d(g, f, w2, b2, 2, 4, 2, 1, 0);
    int loss = vg_mean(g, vg_logp_std(g, y));
    ck_assert_int_ge(loss, 0);
    ck_assert_int_eq(vg_set_batch(g, 20), 0);
    float *xv = g->nodes[x].val;
    for (int i = 0; i < g->nodes[x].rows * g->nodes[x].cols; i++)
        xv[i] = (float)(i % 17) / 17.0f;
    vg_forward(g, -1);
    vg_backward(g, loss);
    long before = n_allocs;
    for (int s = 0; s < 3; s++) {
        vg_forward(g, -1);
        vg_backward(g, loss);
    }
    int rc = vg_set_batch(g, 7); /* a smaller batch reuses the buffers */
    vg_forward(g, -1);
    vg_backward(g, loss);
    long during = n_allocs - before;
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(during == 0, "%ld allocations in a steady-state conv step (threads %d)",
                  during, threads);
    float gn = 0.0f;
    for (size_t i = 0; i < np; i++)
        gn += d[i] * d[i];
    ck_assert(gn > 0.0f);
    vg_free(g);
    vt_pool_free(pool);
    free(p);
    free(d);
}

START_TEST(test_conv_no_alloc_1_thread) { conv_steady_state(1); }
END_TEST
START_TEST(test_conv_no_alloc_2_threads) { conv_steady_state(2); }
END_TEST

/* The counter works: a model creation does allocate. */
START_TEST(test_counter_counts)
{
    if (sanitized())
        return;
    long before = n_allocs;
    vae_model_config c;
    vae_model_config_init(&c);
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    ck_assert_int_gt(n_allocs - before, 0);
    vae_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_counter_counts);
    tcase_add_test(tc, test_no_alloc_1_thread);
    tcase_add_test(tc, test_no_alloc_2_threads);
    tcase_add_test(tc, test_conv_no_alloc_1_thread);
    tcase_add_test(tc, test_conv_no_alloc_2_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
