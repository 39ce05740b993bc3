/* Training in pieces (src/api/gradient_api.c): compute_gradients +
 * apply_gradients against train_step bit for bit, the keyed noise that makes
 * shards of a batch reproduce the whole batch, finite differences through the
 * public gradient buffer, reseeding, keyed gathering, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "testutil.h"

#define D 12

static vae_model *model_with(uint64_t seed, int likelihood, int samples)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.latent_dim = 3;
    c.hidden[0] = 8;
    c.seed = seed;
    c.likelihood = likelihood;
    c.samples = samples;
    return tu_model(&c);
}

static vae_model *small_model(uint64_t seed) { return model_with(seed, VAE_LIK_BERNOULLI, 1); }

static vae_optimizer *adam(void)
{
    return tu_optimizer(VAE_OPT_ADAM, 0);
}

/* n rows of binary data, fixed by seed. */
static float *binary_rows(size_t n, uint64_t seed)
{
    float *x = malloc(n * D * sizeof *x);
    vt_rng r;
    vt_rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n * D; i++)
        x[i] = vt_rng_uniform(&r) < 0.3 ? 1.0f : 0.0f;
    return x;
}

/* ||a - b|| / ||b|| over n floats, in double. */
static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

START_TEST(test_pieces_equal_train_step_bitwise)
{
    /* Two identical models and optimizers: one takes train_step, the other
     * compute_gradients + apply_gradients; after 8 steps every bit agrees. */
    vae_model *a = small_model(3), *b = small_model(3);
    vae_optimizer *oa = adam(), *ob = adam();
    float *x = binary_rows(40, 1);
    for (int s = 0; s < 8; s++) {
        vae_elbo_stats sa, sb;
        ck_assert_int_eq(vae_model_train_step(a, oa, x + (s % 4) * 10 * D, 10, &sa), VAE_OK);
        ck_assert_int_eq(vae_model_compute_gradients(b, x + (s % 4) * 10 * D, 10, &sb), VAE_OK);
        ck_assert_int_eq(vae_model_apply_gradients(b, ob), VAE_OK);
        ck_assert(sa.loss == sb.loss && sa.elbo == sb.elbo && sa.n == sb.n);
    }
    size_t P = vae_model_param_count(a);
    ck_assert(memcmp(vae_model_param_data(a), vae_model_param_data(b), P * sizeof(float)) == 0);
    ck_assert(memcmp(a->rng.s, b->rng.s, sizeof a->rng.s) == 0);
    ck_assert_uint_eq(vae_optimizer_steps(oa), 8);
    ck_assert_uint_eq(vae_optimizer_steps(ob), 8);
    free(x);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_model_free(a);
    vae_model_free(b);
}
END_TEST

/* The mean of the gradients of shards [0, 50) and [50, 100) computed with
 * keyed noise equals the keyed gradient of all 100 rows (up to rounding);
 * with the training stream instead the shards see other noise and do not. */
static void shard_check(int likelihood, int samples)
{
    vae_model *m = model_with(11, likelihood, samples);
    size_t P = vae_model_param_count(m);
    float *x = binary_rows(100, 2);
    float *full = malloc(P * sizeof *full), *avg = malloc(P * sizeof *avg);
    vae_elbo_stats sf, s0, s1;
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 100, 5, 0, &sf), VAE_OK);
    memcpy(full, vae_model_gradient_data(m), P * sizeof *full);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 50, 5, 0, &s0), VAE_OK);
    memcpy(avg, vae_model_gradient_data(m), P * sizeof *avg);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x + 50 * D, 50, 5, 50, &s1), VAE_OK);
    const float *g1 = vae_model_gradient_data(m);
    for (size_t i = 0; i < P; i++)
        avg[i] = 0.5f * (avg[i] + g1[i]);
    double err = rel_err(avg, full, P);
    ck_assert_msg(err < 1e-6, "keyed shards: relative error %g", err);
    ck_assert(fabs(0.5 * (s0.loss + s1.loss) - sf.loss) < 1e-5 * fabs(sf.loss));

    /* Control: training-stream noise for the shards gives another gradient. */
    ck_assert_int_eq(vae_model_compute_gradients(m, x, 50, NULL), VAE_OK);
    memcpy(avg, vae_model_gradient_data(m), P * sizeof *avg);
    ck_assert_int_eq(vae_model_compute_gradients(m, x + 50 * D, 50, NULL), VAE_OK);
    for (size_t i = 0; i < P; i++)
        avg[i] = 0.5f * (avg[i] + g1[i]);
    err = rel_err(avg, full, P);
    ck_assert_msg(err > 1e-3, "unkeyed shards: relative error only %g", err);
    free(x);
    free(full);
    free(avg);
    vae_model_free(m);
}

START_TEST(test_keyed_shards_equal_whole_batch) { shard_check(VAE_LIK_BERNOULLI, 1); }
END_TEST

START_TEST(test_keyed_shards_equal_whole_batch_L3_gaussian)
{
    shard_check(VAE_LIK_GAUSSIAN_LEARNED, 3);
}
END_TEST

START_TEST(test_keyed_is_deterministic_and_leaves_stream)
{
    vae_model *m = small_model(4);
    size_t P = vae_model_param_count(m);
    float *x = binary_rows(20, 3);
    float *g = malloc(P * sizeof *g);
    uint64_t before[4];
    memcpy(before, m->rng.s, sizeof before);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 20, 9, 100, NULL), VAE_OK);
    memcpy(g, vae_model_gradient_data(m), P * sizeof *g);
    ck_assert(memcmp(before, m->rng.s, sizeof before) == 0); /* training stream untouched */
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 20, 9, 100, NULL), VAE_OK);
    ck_assert(memcmp(g, vae_model_gradient_data(m), P * sizeof *g) == 0);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 20, 10, 100, NULL), VAE_OK);
    ck_assert(memcmp(g, vae_model_gradient_data(m), P * sizeof *g) != 0); /* another key */
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 20, 9, 101, NULL), VAE_OK);
    ck_assert(memcmp(g, vae_model_gradient_data(m), P * sizeof *g) != 0); /* other indices */
    free(g);
    free(x);
    vae_model_free(m);
}
END_TEST

START_TEST(test_gradient_buffer_is_fd_gradient_of_mean_loss)
{
    /* With keyed noise the loss is a deterministic function of the
     * parameters: central differences of stats.loss, through set_params,
     * against the public gradient buffer (tanh: no kinks for h to cross). */
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.latent_dim = 3;
    c.hidden[0] = 8;
    c.seed = 6;
    c.activation = VAE_ACT_TANH;
    vae_model *m = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    size_t P = vae_model_param_count(m);
    float *x = binary_rows(7, 4);
    float *p = malloc(P * sizeof *p), *g = malloc(P * sizeof *g);
    ck_assert_int_eq(vae_model_get_params(m, p, P), VAE_OK);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 7, 1, 0, NULL), VAE_OK);
    memcpy(g, vae_model_gradient_data(m), P * sizeof *g);
    const double h = 1e-2;
    int checked = 0;
    for (size_t i = 0; i < P; i += 7) {
        float keep = p[i];
        vae_elbo_stats sp, sm;
        p[i] = keep + (float)h;
        vae_model_set_params(m, p, P);
        vae_model_compute_gradients_keyed(m, x, 7, 1, 0, &sp);
        p[i] = keep - (float)h;
        vae_model_set_params(m, p, P);
        vae_model_compute_gradients_keyed(m, x, 7, 1, 0, &sm);
        p[i] = keep;
        double fd = (sp.loss - sm.loss) / (2 * h);
        ck_assert_msg(fabs(fd - g[i]) <= 2e-3 + 2e-2 * fabs(fd), "param %zu: fd %g, grad %g", i, fd,
                      (double)g[i]);
        checked++;
    }
    ck_assert_int_gt(checked, 20);
    free(p);
    free(g);
    free(x);
    vae_model_free(m);
}
END_TEST

START_TEST(test_apply_uses_the_buffer_as_changed)
{
    /* SGD with lr 0.5 on a gradient written by the caller: p <- p - 0.5 g exactly. */
    vae_model *m = small_model(8);
    size_t P = vae_model_param_count(m);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_SGD);
    oc.lr = 0.5f;
    vae_optimizer *o = NULL;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    float *before = malloc(P * sizeof *before);
    memcpy(before, vae_model_param_data(m), P * sizeof *before);
    float *g = vae_model_gradient_data(m);
    ck_assert_ptr_nonnull(g);
    /* Entries of at most 1/8: an update within the divergence bound (it may
     * not be longer than the parameters, see vae_optimizer_config). */
    for (size_t i = 0; i < P; i++)
        g[i] = ((float)(i % 5) - 2.0f) / 16.0f;
    ck_assert_int_eq(vae_model_apply_gradients(m, o), VAE_OK);
    const float *p = vae_model_param_data(m);
    for (size_t i = 0; i < P; i++)
        ck_assert(p[i] == before[i] - 0.5f * (((float)(i % 5) - 2.0f) / 16.0f));
    ck_assert_ptr_eq(g, vae_model_gradient_data(m)); /* stable address */
    free(before);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

START_TEST(test_apply_refuses_nonfinite_gradient)
{
    vae_model *m = small_model(9);
    vae_optimizer *o = adam();
    size_t P = vae_model_param_count(m);
    float *x = binary_rows(10, 5);
    ck_assert_int_eq(vae_model_train_step(m, o, x, 10, NULL), VAE_OK);
    float *before = malloc(P * sizeof *before);
    memcpy(before, vae_model_param_data(m), P * sizeof *before);
    ck_assert_int_eq(vae_model_compute_gradients(m, x, 10, NULL), VAE_OK);
    vae_model_gradient_data(m)[P / 2] = NAN;
    ck_assert_int_eq(vae_model_apply_gradients(m, o), VAE_ERR_DIVERGED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "step 2: the gradient is not finite"));
    ck_assert(memcmp(before, vae_model_param_data(m), P * sizeof *before) == 0);
    ck_assert_uint_eq(vae_optimizer_steps(o), 1);
    vae_model_gradient_data(m)[P / 2] = INFINITY;
    ck_assert_int_eq(vae_model_apply_gradients(m, o), VAE_ERR_DIVERGED);
    /* the optimizer still works after the refusal */
    ck_assert_int_eq(vae_model_compute_gradients(m, x, 10, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_apply_gradients(m, o), VAE_OK);
    ck_assert_uint_eq(vae_optimizer_steps(o), 2);
    free(before);
    free(x);
    vae_optimizer_free(o);
    vae_model_free(m);
}
END_TEST

START_TEST(test_bad_input)
{
    vae_model *m = small_model(10), *other = model_with(10, VAE_LIK_GAUSSIAN_LEARNED, 1);
    vae_optimizer *o = adam();
    size_t P = vae_model_param_count(m);
    float *x = binary_rows(4, 6);
    float *p0 = malloc(P * sizeof *p0);
    memcpy(p0, vae_model_param_data(m), P * sizeof *p0);
    ck_assert_int_eq(vae_model_compute_gradients(NULL, x, 4, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(NULL, x, 4, 0, 0, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_compute_gradients(m, NULL, 4, NULL), VAE_ERR_NULL);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "x is NULL"));
    ck_assert_int_eq(vae_model_compute_gradients(m, x, 0, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_compute_gradients(m, x, (size_t)1 << 29, NULL), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 4, 0, UINT64_MAX - 2, NULL),
                     VAE_ERR_INVALID);
    x[5] = NAN;
    ck_assert_int_eq(vae_model_compute_gradients(m, x, 4, NULL), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "x[0][5] = nan"));
    x[5] = 2.0f;
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 4, 0, 0, NULL), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "[0, 1]"));
    x[5] = 1.0f;
    ck_assert_int_eq(vae_model_apply_gradients(NULL, o), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_apply_gradients(m, NULL), VAE_ERR_NULL);
    ck_assert_ptr_null(vae_model_gradient_data(NULL));
    ck_assert_ptr_null(vae_model_param_data(NULL));
    /* an optimizer bound to a model of another size */
    ck_assert_int_eq(vae_model_compute_gradients(other, x, 4, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_apply_gradients(other, o), VAE_OK);
    ck_assert_int_eq(vae_model_compute_gradients(m, x, 4, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_apply_gradients(m, o), VAE_ERR_SHAPE);
    ck_assert(memcmp(p0, vae_model_param_data(m), P * sizeof *p0) == 0);
    ck_assert_int_eq(vae_model_reseed(NULL, 1, 0), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_reseed(m, 1, (uint64_t)1 << 63), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "below 2^63"));
    free(p0);
    free(x);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_model_free(other);
}
END_TEST

/* Parameters after 3 train steps of a seed-1 model reseeded to (seed, stream). */
static void run_stream(int reseed, uint64_t seed, uint64_t stream, float *out, size_t P)
{
    vae_model *m = small_model(1);
    vae_optimizer *o = adam();
    float *x = binary_rows(10, 7);
    if (reseed)
        ck_assert_int_eq(vae_model_reseed(m, seed, stream), VAE_OK);
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(vae_model_train_step(m, o, x, 10, NULL), VAE_OK);
    memcpy(out, vae_model_param_data(m), P * sizeof *out);
    free(x);
    vae_optimizer_free(o);
    vae_model_free(m);
}

START_TEST(test_reseed_streams)
{
    vae_model *m = small_model(1);
    size_t P = vae_model_param_count(m);
    vae_model_free(m);
    float *a = malloc(P * sizeof *a), *b = malloc(P * sizeof *b), *c = malloc(P * sizeof *c),
          *d = malloc(P * sizeof *d);
    run_stream(1, 1, 0, a, P);
    run_stream(1, 1, 0, b, P);
    ck_assert(memcmp(a, b, P * sizeof *a) == 0); /* same stream, same run */
    run_stream(1, 1, 1, b, P);
    ck_assert(memcmp(a, b, P * sizeof *a) != 0); /* rank 1's stream differs from rank 0's */
    run_stream(1, 2, 0, c, P);
    ck_assert(memcmp(a, c, P * sizeof *a) != 0); /* and another seed */
    run_stream(0, 0, 0, d, P);
    ck_assert(memcmp(a, d, P * sizeof *a) != 0); /* and the model's own stream */
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(test_gather)
{
    const size_t n = 6, d = 400;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)((i % 7) + 1) / 8.0f; /* in (0, 1) */
    vae_dataset_options opt;
    vae_dataset_options_init(&opt);
    vae_dataset *ds = NULL;
    ck_assert_int_eq(vae_dataset_from_array(x, n, d, NULL, VAE_ARRAY_COPY, &opt, &ds, NULL), VAE_OK);
    float *out = malloc(3 * d * sizeof *out), *again = malloc(3 * d * sizeof *again);
    size_t rows[3] = {4, 1, 4};
    /* no binarisation: a copy */
    ck_assert_int_eq(vae_dataset_gather(ds, rows, 3, 1, 0, out, NULL), VAE_OK);
    ck_assert(memcmp(out, x + 4 * d, d * sizeof *out) == 0);
    ck_assert(memcmp(out + d, x + d, d * sizeof *out) == 0);
    /* threshold */
    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_THRESHOLD, 0.5f), VAE_OK);
    ck_assert_int_eq(vae_dataset_gather(ds, rows, 3, 1, 0, out, NULL), VAE_OK);
    for (size_t j = 0; j < d; j++)
        ck_assert(out[d + j] == (x[d + j] > 0.5f ? 1.0f : 0.0f));
    /* dynamic: a row gets the same bits in any position (rows 0 and 2 are both row 4),
     * in any batch, for a given key; other bits for another key */
    ck_assert_int_eq(vae_dataset_set_binarize(ds, VAE_BINARIZE_DYNAMIC, 0.5f), VAE_OK);
    ck_assert_int_eq(vae_dataset_gather(ds, rows, 3, 1, 42, out, NULL), VAE_OK);
    ck_assert(memcmp(out, out + 2 * d, d * sizeof *out) == 0);
    ck_assert_int_eq(vae_dataset_gather(ds, rows + 1, 1, 1, 42, again, NULL), VAE_OK);
    ck_assert(memcmp(out + d, again, d * sizeof *out) == 0);
    ck_assert_int_eq(vae_dataset_gather(ds, rows + 1, 1, 1, 43, again, NULL), VAE_OK);
    ck_assert(memcmp(out + d, again, d * sizeof *out) != 0);
    /* the bits are Bernoulli(x): mean over 2000 draws of row 1 within 5 standard errors */
    double sum = 0.0, var = 0.0;
    for (uint64_t key = 0; key < 2000; key++) {
        ck_assert_int_eq(vae_dataset_gather(ds, rows + 1, 1, 1, key, again, NULL), VAE_OK);
        for (size_t j = 0; j < d; j++)
            sum += again[j];
    }
    double mean_x = 0.0;
    for (size_t j = 0; j < d; j++) {
        mean_x += x[d + j];
        var += x[d + j] * (1.0 - x[d + j]);
    }
    double se = sqrt(var * 2000.0);
    ck_assert_msg(fabs(sum - 2000.0 * mean_x) < 5 * se, "sum %g, expected %g +- %g", sum,
                  2000.0 * mean_x, se);
    /* bad input */
    vae_error err;
    size_t bad[2] = {1, 6};
    ck_assert_int_eq(vae_dataset_gather(ds, bad, 2, 1, 0, out, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "rows[1] = 6"));
    ck_assert_int_eq(vae_dataset_gather(NULL, rows, 1, 1, 0, out, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_gather(ds, NULL, 1, 1, 0, out, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_gather(ds, rows, 1, 1, 0, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_gather(ds, rows, (size_t)1 << 29, 1, 0, out, NULL), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_dataset_gather(ds, rows, 0, 1, 0, out, &err), VAE_OK);
    free(out);
    free(again);
    free(x);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_elbo_keyed_shards)
{
    /* Per-example ELBOs of rows [0,30) equal those of the shards [0,13) and
     * [13,30) evaluated apart, bit for bit; the mean matches vae_model_elbo's
     * to Monte Carlo accuracy (same estimator, other noise). */
    vae_model *m = small_model(12);
    float *x = binary_rows(30, 8);
    float whole[30], part[30];
    vae_elbo_stats st, ref;
    ck_assert_int_eq(vae_model_elbo_keyed(m, x, 30, 77, 0, whole, &st), VAE_OK);
    ck_assert_int_eq(vae_model_elbo_keyed(m, x, 13, 77, 0, part, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_elbo_keyed(m, x + 13 * D, 17, 77, 13, part + 13, NULL), VAE_OK);
    ck_assert(memcmp(whole, part, sizeof whole) == 0);
    double mean = 0.0;
    for (int i = 0; i < 30; i++)
        mean += whole[i] / 30.0;
    ck_assert(fabs(mean - st.elbo) < 1e-5 * fabs(st.elbo));
    ck_assert_int_eq(vae_model_elbo_keyed(m, x, 30, 78, 0, part, NULL), VAE_OK);
    ck_assert(memcmp(whole, part, sizeof whole) != 0);
    /* same estimator as vae_model_elbo: their means over 200 keys agree within 5 s.e. */
    double s1 = 0.0, s2 = 0.0;
    for (uint64_t k = 0; k < 200; k++) {
        ck_assert_int_eq(vae_model_elbo_keyed(m, x, 30, k, 0, NULL, &st), VAE_OK);
        s1 += st.elbo;
        s2 += st.elbo * st.elbo;
    }
    double mu = s1 / 200, sd = sqrt(s2 / 200 - mu * mu);
    ck_assert_int_eq(vae_model_elbo(m, x, 30, NULL, &ref), VAE_OK);
    ck_assert_msg(fabs(ref.elbo - mu) < 5 * sd, "elbo %g vs keyed %g +- %g", ref.elbo, mu, sd);
    ck_assert_int_eq(vae_model_elbo_keyed(NULL, x, 30, 0, 0, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_elbo_keyed(m, NULL, 30, 0, 0, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_elbo_keyed(m, x, 0, 0, 0, NULL, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_elbo_keyed(m, x, 30, 0, UINT64_MAX, NULL, NULL), VAE_ERR_INVALID);
    free(x);
    vae_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gradients");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pieces_equal_train_step_bitwise);
    tcase_add_test(tc, test_keyed_shards_equal_whole_batch);
    tcase_add_test(tc, test_keyed_shards_equal_whole_batch_L3_gaussian);
    tcase_add_test(tc, test_keyed_is_deterministic_and_leaves_stream);
    tcase_add_test(tc, test_gradient_buffer_is_fd_gradient_of_mean_loss);
    tcase_add_test(tc, test_apply_uses_the_buffer_as_changed);
    tcase_add_test(tc, test_apply_refuses_nonfinite_gradient);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_reseed_streams);
    tcase_add_test(tc, test_gather);
    tcase_add_test(tc, test_elbo_keyed_shards);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
