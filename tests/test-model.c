/* The Gaussian VAE model: finite-difference checks of the whole ELBO with
 * respect to every parameter tensor, for every likelihood and KL mode, and
 * the consistency of encode/decode/reconstruct/sample/evaluate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "optim/optimizer.h"
#include "testutil.h"

static int g_posterior = VAE_POST_GAUSSIAN, g_objective = VAE_OBJ_ELBO;

static vae_model *small_model(int likelihood, int kl_mode, int samples, int act)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 6;
    c.latent_dim = 3;
    c.n_hidden = 2;
    c.hidden[0] = 5;
    c.hidden[1] = 4;
    c.activation = act;
    c.likelihood = likelihood;
    c.gaussian_sigma = 0.7f;
    c.kl_mode = kl_mode;
    c.samples = samples;
    c.seed = 5;
    c.posterior = g_posterior;
    c.objective = g_objective;
    return tu_model(&c);
}

/* Loss of the training graph at the current parameters with the eps already in place. */
static double loss_now(vae_model *m)
{
    vg_forward(m->train_g, -1);
    return m->train_g->nodes[m->train_e.loss].val[0];
}

static void fd_check(int likelihood, int kl_mode, int samples, int act)
{
    const double h = 1e-2;

    vae_model *m = small_model(likelihood, kl_mode, samples, act);
    const int n = 3, D = 6, K = 3;
    float x[18];
    vt_rng r;
    vt_rng_seed(&r, 99, 0);
    for (int i = 0; i < n * D; i++)
        x[i] = (float)vt_rng_uniform(&r);
    vg_graph *g = m->train_g;
    ck_assert_int_eq(vg_set_batch(g, n), 0);
    vg_bind(g, m->train_e.x, x);
    vg_family_sample(g_posterior, &r, g->nodes[m->train_e.eps].val, (size_t)n * samples * K);
    vg_forward(g, -1);
    vg_backward(g, m->train_e.loss);
    float *grad = malloc(m->P.total * sizeof(float));
    memcpy(grad, m->P.grad, m->P.total * sizeof(float));
    for (int p = 0; p < m->P.n; p++) {
        const vn_param *pp = &m->P.p[p];
        float *v = vn_val(&m->P, p);
        for (int i = 0; i < pp->rows * pp->cols; i++) {
            float saved = v[i];
            v[i] = saved + (float)h;
            double fp = loss_now(m);
            v[i] = saved - (float)h;
            double fm = loss_now(m);
            v[i] = saved;
            double fd = (fp - fm) / (2 * h), an = grad[pp->offset + (size_t)i];

            ck_assert_msg(fabs(fd - an) <= 2e-3 + 2e-2 * fabs(fd),
                          "lik %d kl %d L %d: %s[%d]: analytic %.6g vs finite difference %.6g",
                          likelihood, kl_mode, samples, pp->name, i, an, fd);
        }
    }
    free(grad);
    vae_model_free(m);
}

START_TEST(test_fd_bernoulli_analytic) { fd_check(VAE_LIK_BERNOULLI, VAE_KL_ANALYTIC, 1, VAE_ACT_TANH); }
END_TEST
START_TEST(test_fd_bernoulli_mc_L3) { fd_check(VAE_LIK_BERNOULLI, VAE_KL_MONTE_CARLO, 3, VAE_ACT_SOFTPLUS); }
END_TEST
START_TEST(test_fd_gauss_fixed) { fd_check(VAE_LIK_GAUSSIAN_FIXED, VAE_KL_ANALYTIC, 2, VAE_ACT_TANH); }
END_TEST
START_TEST(test_fd_gauss_learned) { fd_check(VAE_LIK_GAUSSIAN_LEARNED, VAE_KL_MONTE_CARLO, 2, VAE_ACT_SIGMOID); }
END_TEST
START_TEST(test_fd_laplace_posterior)
{
    g_posterior = VAE_POST_LAPLACE;
    fd_check(VAE_LIK_BERNOULLI, VAE_KL_MONTE_CARLO, 2, VAE_ACT_TANH);
    g_posterior = VAE_POST_GAUSSIAN;
}
END_TEST
START_TEST(test_fd_logistic_posterior)
{
    g_posterior = VAE_POST_LOGISTIC;
    fd_check(VAE_LIK_GAUSSIAN_LEARNED, VAE_KL_MONTE_CARLO, 2, VAE_ACT_SOFTPLUS);
    g_posterior = VAE_POST_GAUSSIAN;
}
END_TEST
START_TEST(test_fd_iwae)
{
    g_objective = VAE_OBJ_IWAE;
    fd_check(VAE_LIK_BERNOULLI, VAE_KL_ANALYTIC, 5, VAE_ACT_TANH);
    g_posterior = VAE_POST_LOGISTIC;
    fd_check(VAE_LIK_GAUSSIAN_FIXED, VAE_KL_ANALYTIC, 3, VAE_ACT_TANH);
    g_posterior = VAE_POST_GAUSSIAN;
    g_objective = VAE_OBJ_ELBO;
}
END_TEST

/* Whole-model checks use smooth activations: with ReLU a step of h crosses
 * kinks somewhere in the network and the finite difference is meaningless.
 * relu and leaky_relu are checked op by op in test-graph. */

/* The ELBO the graph reports equals one computed by hand from encode/decode. */
START_TEST(test_elbo_by_hand)
{
    vae_model *m = small_model(VAE_LIK_GAUSSIAN_FIXED, VAE_KL_ANALYTIC, 1, VAE_ACT_TANH);
    const int n = 4, D = 6, K = 3;
    float x[24], mu[12], lv[12], z[12], out[24], per[4];
    vt_rng r;
    vt_rng_seed(&r, 3, 0);
    for (int i = 0; i < n * D; i++)
        x[i] = (float)vt_rng_uniform(&r);
    ck_assert_int_eq(vae_model_encode(m, x, n, mu, lv), VAE_OK);
    /* The evaluation stream is reset per call: replay it to get the same eps. */
    vt_rng er;
    vt_rng_seed(&er, m->cfg.seed, VM_STREAM_EVAL);
    float eps[12];
    vt_rng_normal(&er, eps, (size_t)n * K);
    for (int i = 0; i < n * K; i++)
        z[i] = mu[i] + expf(0.5f * lv[i]) * eps[i];
    ck_assert_int_eq(vae_model_decode(m, z, n, out), VAE_OK);
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_elbo(m, x, n, per, &st), VAE_OK);
    double sigma = 0.7, total = 0.0;
    for (int i = 0; i < n; i++) {
        double rec = 0.0, kl = 0.0;
        for (int j = 0; j < D; j++) {
            double d = x[i * D + j] - out[i * D + j];
            rec += -0.5 * log(2 * 3.14159265358979323846 * sigma * sigma) - d * d / (2 * sigma * sigma);
        }
        for (int j = 0; j < K; j++)
            kl += 0.5 * (mu[i * K + j] * mu[i * K + j] + exp(lv[i * K + j]) - 1 - lv[i * K + j]);
        ck_assert_double_eq_tol(per[i], rec - kl, 1e-4 * (1 + fabs(rec - kl)));
        total += rec - kl;
    }
    ck_assert_double_eq_tol(st.elbo, total / n, 1e-4 * (1 + fabs(total)));
    ck_assert_uint_eq(st.n, n);
    vae_model_free(m);
}
END_TEST

START_TEST(test_reconstruct_is_decode_of_mu)
{
    vae_model *m = small_model(VAE_LIK_BERNOULLI, VAE_KL_ANALYTIC, 1, VAE_ACT_RELU);
    float x[30], mu[15], a[30], b[30];
    for (int i = 0; i < 30; i++)
        x[i] = (float)(i % 7) / 7.0f;
    ck_assert_int_eq(vae_model_encode(m, x, 5, mu, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_decode(m, mu, 5, a), VAE_OK);
    ck_assert_int_eq(vae_model_reconstruct(m, x, 5, b), VAE_OK);
    ck_assert_mem_eq(a, b, sizeof a);
    for (int i = 0; i < 30; i++)
        ck_assert(a[i] > 0.0f && a[i] < 1.0f); /* Bernoulli probabilities */
    ck_assert_int_eq(vae_model_sample(m, 5, b), VAE_OK);
    for (int i = 0; i < 30; i++)
        ck_assert(b[i] >= 0.0f && b[i] <= 1.0f);
    vae_model_free(m);
}
END_TEST

/* Results do not depend on how calls chunk the rows (VM_CHUNK) or on the batch size of evaluate. */
START_TEST(test_chunking_invariance)
{
    vae_model *m = small_model(VAE_LIK_BERNOULLI, VAE_KL_ANALYTIC, 1, VAE_ACT_RELU);
    size_t n = VM_CHUNK + 37;
    float *x = malloc(n * 6 * sizeof(float)), *mu = malloc(n * 3 * sizeof(float));
    float *mu1 = malloc(3 * sizeof(float));
    for (size_t i = 0; i < n * 6; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    ck_assert_int_eq(vae_model_encode(m, x, n, mu, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_encode(m, x + (n - 1) * 6, 1, mu1, NULL), VAE_OK);
    for (int j = 0; j < 3; j++)
        ck_assert_float_eq_tol(mu[(n - 1) * 3 + j], mu1[j], 1e-6);
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, n, 6, NULL, VAE_ARRAY_BORROW, NULL, &ds, NULL), VAE_OK);
    vae_elbo_stats a, b, c;
    ck_assert_int_eq(vae_model_evaluate(m, ds, 100, &a), VAE_OK);
    ck_assert_int_eq(vae_model_evaluate(m, ds, 64, &b), VAE_OK);
    ck_assert_int_eq(vae_model_elbo(m, x, n, NULL, &c), VAE_OK);
    ck_assert_double_eq_tol(a.elbo, b.elbo, 1e-4);
    ck_assert_double_eq_tol(a.elbo, c.elbo, 1e-4);
    /* Evaluation is a function of the parameters: the same call twice gives the same bits. */
    ck_assert_int_eq(vae_model_evaluate(m, ds, 100, &b), VAE_OK);
    ck_assert(a.elbo == b.elbo);
    vae_dataset_free(ds);
    free(x);
    free(mu);
    free(mu1);
    vae_model_free(m);
}
END_TEST

/* Training on structured synthetic data raises the ELBO. */
START_TEST(test_training_improves)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 16;
    c.hidden[0] = 32;
    c.latent_dim = 2;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    const size_t n = 512;
    float *x = malloc(n * 16 * sizeof(float));
    vt_rng r;
    vt_rng_seed(&r, 1, 1);
    for (size_t i = 0; i < n; i++) {
        int k = (int)vt_rng_below(&r, 4);
        for (int j = 0; j < 16; j++)
            x[i * 16 + j] = (j / 4 == k) ? 0.95f : 0.05f;
    }
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, n, 16, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.lr = 1e-2f;
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    vae_elbo_stats before, after, ep;
    ck_assert_int_eq(vae_model_evaluate(m, ds, 64, &before), VAE_OK);
    for (int e = 0; e < 20; e++)
        ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 32, NULL, NULL, &ep), VAE_OK);
    ck_assert_int_eq(vae_model_evaluate(m, ds, 64, &after), VAE_OK);
    ck_assert_msg(after.elbo > before.elbo + 2.0, "ELBO %.3f -> %.3f", before.elbo, after.elbo);
    /* The optimum: 4 equally likely patterns cost log 4 nats plus the pixel entropy. */
    double h = -(0.95 * log(0.95) + 0.05 * log(0.05)) * 16;
    ck_assert_msg(after.elbo > -(h + log(4.0)) - 1.5, "ELBO %.3f far from the optimum %.3f",
                  after.elbo, -(h + log(4.0)));
    ck_assert_uint_eq(vae_optimizer_steps(o), 20 * 16);
    vae_optimizer_free(o);
    vae_dataset_free(ds);
    free(x);
    vae_model_free(m);
}
END_TEST

static int count_calls(void *user, size_t batch, size_t n_batches, double running)
{
    size_t *calls = user;
    ck_assert_uint_eq(batch, *calls);
    ck_assert_uint_eq(n_batches, 4);
    ck_assert(isfinite(running));
    return ++*calls == 2; /* stop after the second batch */
}

START_TEST(test_progress_cancel)
{
    vae_model *m = small_model(VAE_LIK_BERNOULLI, VAE_KL_ANALYTIC, 1, VAE_ACT_RELU);
    float x[60];
    for (int i = 0; i < 60; i++)
        x[i] = (float)(i % 3) / 2.0f;
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, 10, 6, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_SGD);
    vae_optimizer *o;
    vae_optimizer_create(&oc, &o, NULL);
    size_t calls = 0;
    ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 3, count_calls, &calls, NULL), VAE_ERR_CANCELLED);
    ck_assert_uint_eq(calls, 2);
    ck_assert_uint_eq(vae_optimizer_steps(o), 2);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "cancelled"));
    vae_optimizer_free(o);
    vae_dataset_free(ds);
    vae_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fd_bernoulli_analytic);
    tcase_add_test(tc, test_fd_bernoulli_mc_L3);
    tcase_add_test(tc, test_fd_gauss_fixed);
    tcase_add_test(tc, test_fd_gauss_learned);
    tcase_add_test(tc, test_fd_laplace_posterior);
    tcase_add_test(tc, test_fd_logistic_posterior);
    tcase_add_test(tc, test_fd_iwae);
    tcase_add_test(tc, test_elbo_by_hand);
    tcase_add_test(tc, test_reconstruct_is_decode_of_mu);
    tcase_add_test(tc, test_chunking_invariance);
    tcase_add_test(tc, test_training_improves);
    tcase_add_test(tc, test_progress_cancel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
