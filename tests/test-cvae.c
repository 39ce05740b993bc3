/* The conditional VAE: finite-difference checks of the whole objective with
 * conditions (both priors, analytic and Monte Carlo KL, IWAE), the score
 * estimator's prior gradient, sampling from p(z|c) against its moments,
 * dataset conditions, checkpoints and every refused call. MNIST acceptance
 * tests are in test-cvae-mnist.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "models/model.h"
#include "optim/optimizer.h"
#include "testutil.h"

enum { D = 6, K = 3, C = 4, N = 3 };

static vae_model_config small_config(int prior, int kl_mode, int samples)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.latent_dim = K;
    c.n_hidden = 1;
    c.hidden[0] = 5;
    c.activation = VAE_ACT_TANH;
    c.kl_mode = kl_mode;
    c.samples = samples;
    c.seed = 11;
    c.cond_dim = C;
    c.prior = prior;
    c.prior_hidden = 4;
    return c;
}

static vae_model *make(const vae_model_config *c)
{
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(c, &m, &err) == VAE_OK, "%s", err.message);
    return m;
}

static void fill(float *v, size_t n, vt_rng *r, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * vt_rng_uniform(r));
}

/* Give the prior heads non-zero values so their gradients are not trivial. */
static void perturb_params(vae_model *m, vt_rng *r)
{
    for (size_t i = 0; i < m->P.total; i++)
        m->P.val[i] += (float)(0.3 * (vt_rng_uniform(r) - 0.5));
}

static double loss_now(vae_model *m)
{
    vg_forward(m->train_g, -1);
    return m->train_g->nodes[m->train_e.loss].val[0];
}

/* Bind x, c and fresh eps to the training graph and run forward + backward. */
static void prepare(vae_model *m, const float *x, const float *c, vt_rng *r)
{
    vg_graph *g = m->train_g;
    ck_assert_int_eq(vg_set_batch(g, N), 0);
    vg_bind(g, m->train_e.x, x);
    ck_assert_int_ge(m->train_e.c, 0);
    vg_bind(g, m->train_e.c, c);
    vg_family_sample(m->cfg.posterior, r, g->nodes[m->train_e.eps].val,
                     (size_t)N * g->samples * K);
    vg_forward(g, -1);
    vg_backward(g, m->train_e.loss);
}

static void fd_check(vae_model_config cfg)
{
    const double h = 1e-2;
    vae_model *m = make(&cfg);
    vt_rng r;
    vt_rng_seed(&r, 77, 0);
    perturb_params(m, &r);
    float x[N * D], c[N * C];
    fill(x, N * D, &r, 0, 1);
    fill(c, N * C, &r, -1, 1);
    prepare(m, x, c, &r);
    float *grad = malloc(m->P.total * sizeof(float));
    memcpy(grad, m->P.grad, m->P.total * sizeof(float));
    int prior_seen = 0;
    for (int p = 0; p < m->P.n; p++) {
        const vn_param *pp = &m->P.p[p];
        prior_seen |= strncmp(pp->name, "prior.", 6) == 0;
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
                          "prior %d kl %d obj %d post %d: %s[%d]: analytic %.6g vs fd %.6g",
                          cfg.prior, cfg.kl_mode, cfg.objective, cfg.posterior, pp->name, i, an,
                          fd);
        }
    }
    ck_assert_int_eq(prior_seen, cfg.prior == VAE_PRIOR_LEARNED);
    free(grad);
    vae_model_free(m);
}

START_TEST(test_fd_standard_prior)
{
    fd_check(small_config(VAE_PRIOR_STANDARD, VAE_KL_ANALYTIC, 1));
    fd_check(small_config(VAE_PRIOR_STANDARD, VAE_KL_MONTE_CARLO, 2));
}
END_TEST

START_TEST(test_fd_learned_prior)
{
    fd_check(small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1));
    fd_check(small_config(VAE_PRIOR_LEARNED, VAE_KL_MONTE_CARLO, 2));
    vae_model_config c = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 3);
    c.objective = VAE_OBJ_IWAE;
    fd_check(c);
    c = small_config(VAE_PRIOR_LEARNED, VAE_KL_MONTE_CARLO, 2);
    c.posterior = VAE_POST_LOGISTIC;
    fd_check(c);
    c = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1);
    c.prior_hidden = 0; /* affine prior network */
    c.n_hidden = 0;     /* encoder and decoder single affine maps of [x, c] and [z, c] */
    fd_check(c);
}
END_TEST

/* The score estimator hands the prior network the same gradient as the
 * pathwise estimator for the same z: d/dtheta -beta mean log p(z|c) (reward
 * elbo, Monte Carlo KL) or the exact analytic-KL gradient (reward rec). */
static void score_prior_grad(int reward, int kl_mode)
{
    vae_model_config pc = small_config(VAE_PRIOR_LEARNED, kl_mode, 2);
    pc.beta = 0.7f;
    vae_model_config sc = pc;
    sc.estimator = VAE_EST_SCORE;
    sc.score_reward = reward;
    vae_model *a = make(&pc), *b = make(&sc);
    vt_rng r1, r2;
    vt_rng_seed(&r1, 5, 0);
    perturb_params(a, &r1);
    memcpy(b->P.val, a->P.val, a->P.total * sizeof(float));
    float x[N * D], c[N * C];
    fill(x, N * D, &r1, 0, 1);
    fill(c, N * C, &r1, -1, 1);
    vt_rng_seed(&r1, 6, 0);
    vt_rng_seed(&r2, 6, 0);
    prepare(a, x, c, &r1);
    prepare(b, x, c, &r2);
    int checked = 0;
    for (int p = 0; p < a->P.n; p++) {
        const vn_param *pp = &a->P.p[p];
        if (strncmp(pp->name, "prior.", 6) != 0)
            continue;
        for (int i = 0; i < pp->rows * pp->cols; i++, checked++) {
            float ga = a->P.grad[pp->offset + i], gb = b->P.grad[pp->offset + i];
            ck_assert_msg(fabsf(ga - gb) <= 1e-5f + 1e-4f * fabsf(ga),
                          "%s[%d]: pathwise %g, score %g", pp->name, i, (double)ga, (double)gb);
        }
    }
    ck_assert_int_gt(checked, 0);
    vae_model_free(a);
    vae_model_free(b);
}

START_TEST(test_score_prior_gradient)
{
    score_prior_grad(VAE_REWARD_ELBO, VAE_KL_MONTE_CARLO);
    score_prior_grad(VAE_REWARD_REC, VAE_KL_ANALYTIC);
}
END_TEST

/* At creation the learned prior's heads are zero: p(z|c) = N(0, I), and since
 * its parameters are drawn last, the encoder and decoder equal those of the
 * standard-prior model with the same seed, so the ELBOs agree. */
START_TEST(test_learned_prior_starts_standard)
{
    vae_model_config c1 = small_config(VAE_PRIOR_STANDARD, VAE_KL_ANALYTIC, 1);
    vae_model_config c2 = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1);
    vae_model *a = make(&c1), *b = make(&c2);
    vt_rng r;
    vt_rng_seed(&r, 8, 0);
    float x[N * D], c[N * C], mu[N * K], lv[N * K], ea[N], eb[N];
    fill(x, N * D, &r, 0, 1);
    fill(c, N * C, &r, -1, 1);
    ck_assert_int_eq(vae_model_prior_cond(b, c, N, mu, lv), VAE_OK);
    for (int i = 0; i < N * K; i++) {
        ck_assert_float_eq(mu[i], 0.0f);
        ck_assert_float_eq(lv[i], 0.0f);
    }
    ck_assert_int_eq(vae_model_elbo_cond(a, x, c, N, ea, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_elbo_cond(b, x, c, N, eb, NULL), VAE_OK);
    for (int i = 0; i < N; i++)
        ck_assert_float_eq_tol(ea[i], eb[i], 1e-4f);
    /* The standard prior's parameters are 0 and 0 too. */
    ck_assert_int_eq(vae_model_prior_cond(a, c, N, mu, lv), VAE_OK);
    ck_assert_float_eq(mu[0], 0.0f);
    vae_model_free(a);
    vae_model_free(b);
}
END_TEST

/* Set a named parameter tensor to values. */
static void set_tensor(vae_model *m, const char *name, const float *v)
{
    for (int p = 0; p < m->P.n; p++)
        if (strcmp(m->P.p[p].name, name) == 0) {
            memcpy(vn_val(&m->P, p), v, (size_t)m->P.p[p].rows * m->P.p[p].cols * sizeof(float));
            return;
        }
    ck_abort_msg("no tensor %s", name);
}

static void zero_all(vae_model *m) { memset(m->P.val, 0, m->P.total * sizeof(float)); }

/* sample_cond draws z ~ N(mu_p(c), e^lv_p(c)): with a decoder that outputs z
 * itself (Gaussian likelihood, no hidden layer, identity weights) the sample
 * means and variances match the prior's within 4 standard errors. */
START_TEST(test_sample_cond_moments)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1);
    cfg.input_dim = 2;
    cfg.latent_dim = 2;
    cfg.cond_dim = 2;
    cfg.n_hidden = 0;
    cfg.prior_hidden = 0;
    cfg.likelihood = VAE_LIK_GAUSSIAN_FIXED;
    vae_model *m = make(&cfg);
    zero_all(m);
    /* decoder [z, c] (4 x 2): identity on z, zero on c */
    const float wdec[8] = {1, 0, 0, 1, 0, 0, 0, 0};
    set_tensor(m, "dec.out.W", wdec);
    /* prior: mu = c W + b with W = 2 I, b = (1, -2); lv = b' = (log 0.25, 0.5) */
    const float wmu[4] = {2, 0, 0, 2}, bmu[2] = {1, -2}, blv[2] = {logf(0.25f), 0.5f};
    set_tensor(m, "prior.mu.W", wmu);
    set_tensor(m, "prior.mu.b", bmu);
    set_tensor(m, "prior.logvar.b", blv);
    const size_t S = 20000;
    float *c = malloc(S * 2 * sizeof *c), *out = malloc(S * 2 * sizeof *out);
    for (size_t i = 0; i < S; i++)
        c[2 * i] = 0.5f, c[2 * i + 1] = -1.0f;
    ck_assert_int_eq(vae_model_sample_cond(m, c, S, out), VAE_OK);
    const double emu[2] = {1 + 2 * 0.5, -2 + 2 * -1.0}, evar[2] = {0.25, exp(0.5)};
    for (int j = 0; j < 2; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < S; i++)
            s += out[2 * i + j], s2 += (double)out[2 * i + j] * out[2 * i + j];
        double mean = s / S, var = s2 / S - mean * mean;
        double se_m = sqrt(evar[j] / S), se_v = evar[j] * sqrt(2.0 / S);
        ck_assert_msg(fabs(mean - emu[j]) < 4 * se_m, "dim %d mean %g vs %g", j, mean, emu[j]);
        ck_assert_msg(fabs(var - evar[j]) < 4 * se_v, "dim %d var %g vs %g", j, var, evar[j]);
    }
    /* decode_cond is the same map at given z. */
    float z[2] = {0.3f, -0.7f}, o[2];
    ck_assert_int_eq(vae_model_decode_cond(m, z, c, 1, o), VAE_OK);
    ck_assert_float_eq_tol(o[0], 0.3f, 1e-6f);
    ck_assert_float_eq_tol(o[1], -0.7f, 1e-6f);
    free(c);
    free(out);
    vae_model_free(m);
}
END_TEST

/* The condition changes what the decoder and encoder compute (it is wired in),
 * and the bound ordering ELBO <= log p(x|c) estimate holds on average. */
START_TEST(test_condition_matters_and_bound)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1);
    vae_model *m = make(&cfg);
    vt_rng r;
    vt_rng_seed(&r, 3, 0);
    perturb_params(m, &r);
    float x[N * D], c1[N * C], c2[N * C], z[N * K], o1[N * D], o2[N * D], mu1[N * K], mu2[N * K];
    fill(x, N * D, &r, 0, 1);
    fill(z, N * K, &r, -1, 1);
    fill(c1, N * C, &r, -1, 1);
    fill(c2, N * C, &r, -1, 1);
    ck_assert_int_eq(vae_model_decode_cond(m, z, c1, N, o1), VAE_OK);
    ck_assert_int_eq(vae_model_decode_cond(m, z, c2, N, o2), VAE_OK);
    ck_assert(memcmp(o1, o2, sizeof o1) != 0);
    ck_assert_int_eq(vae_model_encode_cond(m, x, c1, N, mu1, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_encode_cond(m, x, c2, N, mu2, NULL), VAE_OK);
    ck_assert(memcmp(mu1, mu2, sizeof mu1) != 0);
    /* reconstruct_cond = decode_cond(encode_cond mean) */
    float rec[N * D];
    ck_assert_int_eq(vae_model_reconstruct_cond(m, x, c1, N, rec), VAE_OK);
    ck_assert_int_eq(vae_model_decode_cond(m, mu1, c1, N, o1), VAE_OK);
    for (int i = 0; i < N * D; i++)
        ck_assert_float_eq_tol(rec[i], o1[i], 1e-6f);
    vae_elbo_stats st;
    double ll;
    ck_assert_int_eq(vae_model_elbo_cond(m, x, c1, N, NULL, &st), VAE_OK);
    ck_assert_int_eq(vae_model_log_likelihood_cond(m, x, c1, N, 2000, NULL, &ll), VAE_OK);
    ck_assert_msg(ll >= st.elbo - 0.05, "log p(x|c) %g < elbo %g", ll, st.elbo);
    ck_assert(isfinite(ll));
    vae_model_free(m);
}
END_TEST

/* Training moves the prior and gives a finite loss; training with the array
 * call equals training with the dataset call on a one-batch epoch in the
 * same (unshuffled for n = 1) order. */
START_TEST(test_train_step_and_epoch)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1);
    vae_model *a = make(&cfg), *b = make(&cfg);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer *oa, *ob;
    ck_assert_int_eq(vae_optimizer_create(&oc, &oa, NULL), VAE_OK);
    ck_assert_int_eq(vae_optimizer_create(&oc, &ob, NULL), VAE_OK);
    float x[D] = {0.1f, 0.9f, 0.4f, 0.0f, 1.0f, 0.5f}, c[C] = {0, 1, 0, 0};
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, 1, D, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_train_epoch(b, ob, ds, 10, NULL, NULL, NULL), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(b), "no conditions"));
    ck_assert_int_eq(vae_dataset_set_conditions(ds, c, 1, C), VAE_OK);
    /* The shuffle of one row draws nothing, so both see the same noise. */
    vae_elbo_stats sa, sb;
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(vae_model_train_step_cond(a, oa, x, c, 1, &sa), VAE_OK);
        ck_assert_int_eq(vae_model_train_epoch(b, ob, ds, 10, NULL, NULL, &sb), VAE_OK);
        ck_assert_double_eq_tol(sa.elbo, sb.elbo, 1e-6);
    }
    vae_elbo_stats ea, eb;
    ck_assert_int_eq(vae_model_elbo_cond(a, x, c, 1, NULL, &ea), VAE_OK);
    ck_assert_int_eq(vae_model_evaluate(b, ds, 5, &eb), VAE_OK);
    ck_assert_double_eq_tol(ea.elbo, eb.elbo, 1e-6);
    float mu[K];
    ck_assert_int_eq(vae_model_prior_cond(a, c, 1, mu, NULL), VAE_OK);
    ck_assert(mu[0] != 0.0f || mu[1] != 0.0f);
    vae_dataset_free(ds);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_model_free(a);
    vae_model_free(b);
}
END_TEST

START_TEST(test_checkpoint_roundtrip)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED, VAE_KL_ANALYTIC, 1);
    vae_model *m = make(&cfg);
    vt_rng r;
    vt_rng_seed(&r, 4, 0);
    perturb_params(m, &r);
    char path[4096];
    tu_tmp_path(path, sizeof path, "cvae.ckpt");
    ck_assert_int_eq(vae_model_save(m, NULL, path), VAE_OK);
    vae_model *l;
    vae_error err;
    ck_assert_msg(vae_model_load(path, &l, NULL, &err) == VAE_OK, "%s", err.message);
    vae_model_config lc;
    lc.struct_size = sizeof lc;
    ck_assert_int_eq(vae_model_get_config(l, &lc), VAE_OK);
    ck_assert_int_eq(lc.cond_dim, C);
    ck_assert_int_eq(lc.prior, VAE_PRIOR_LEARNED);
    ck_assert_int_eq(lc.prior_hidden, 4);
    ck_assert_uint_eq(vae_model_param_count(l), vae_model_param_count(m));
    ck_assert(memcmp(l->P.val, m->P.val, m->P.total * sizeof(float)) == 0);
    float c[C] = {1, 0, 0, 0}, mu1[K], mu2[K];
    ck_assert_int_eq(vae_model_prior_cond(m, c, 1, mu1, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_prior_cond(l, c, 1, mu2, NULL), VAE_OK);
    ck_assert(memcmp(mu1, mu2, sizeof mu1) == 0);
    ck_assert(mu1[0] != 0.0f);
    vae_model_free(l);
    vae_model_free(m);
    remove(path);
}
END_TEST

START_TEST(test_refusals)
{
    vae_model_config cfg = small_config(VAE_PRIOR_STANDARD, VAE_KL_ANALYTIC, 1);
    vae_model *m = make(&cfg);
    vae_model_config uc = cfg;
    uc.cond_dim = 0;
    vae_model *u = make(&uc);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    float x[D] = {0}, c[C] = {1, 0, 0, 0}, z[K] = {0}, out[D], mu[K];
    double ll;
    /* plain calls on a conditional model */
    ck_assert_int_eq(vae_model_train_step(m, o, x, 1, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_train_step_cond"));
    ck_assert_int_eq(vae_model_elbo(m, x, 1, NULL, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_encode(m, x, 1, mu, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_decode(m, z, 1, out), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_reconstruct(m, x, 1, out), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_sample(m, 1, out), VAE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_sample_cond"));
    ck_assert_int_eq(vae_model_log_likelihood(m, x, 1, 4, NULL, &ll), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_gradient_stats(m, x, 1, NULL, 2, NULL, NULL, NULL, NULL),
                     VAE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "conditional"));
    /* _cond calls on an unconditional model */
    ck_assert_int_eq(vae_model_train_step_cond(u, o, x, c, 1, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(u), "unconditional"));
    ck_assert_int_eq(vae_model_elbo_cond(u, x, c, 1, NULL, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_encode_cond(u, x, c, 1, mu, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_decode_cond(u, z, c, 1, out), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_reconstruct_cond(u, x, c, 1, out), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_sample_cond(u, c, 1, out), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_prior_cond(u, c, 1, mu, NULL), VAE_ERR_UNSUPPORTED);
    ck_assert_int_eq(vae_model_log_likelihood_cond(u, x, c, 1, 4, NULL, &ll), VAE_ERR_UNSUPPORTED);
    /* bad conditions */
    ck_assert_int_eq(vae_model_sample_cond(NULL, c, 1, out), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_sample_cond(m, NULL, 1, out), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_sample_cond(m, c, 1, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_sample_cond(m, c, 0, out), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_train_step_cond(m, o, x, NULL, 1, NULL), VAE_ERR_NULL);
    float bad[C] = {0, NAN, 0, 0};
    ck_assert_int_eq(vae_model_train_step_cond(m, o, x, bad, 1, NULL), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "c[0][1]"));
    ck_assert_uint_eq(vae_optimizer_steps(o), 0);
    float xbad[D] = {2};
    ck_assert_int_eq(vae_model_train_step_cond(m, o, xbad, c, 1, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_log_likelihood_cond(m, x, c, 1, 0, NULL, &ll), VAE_ERR_INVALID);
    /* configurations */
    vae_model *bad_m = NULL;
    vae_error err;
    vae_model_config bc = uc;
    bc.prior = VAE_PRIOR_LEARNED;
    ck_assert_int_eq(vae_model_create(&bc, &bad_m, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "cond_dim"));
    bc = cfg;
    bc.cond_dim = -1;
    ck_assert_int_eq(vae_model_create(&bc, &bad_m, &err), VAE_ERR_INVALID);
    bc.cond_dim = 1 << 20;
    ck_assert_int_eq(vae_model_create(&bc, &bad_m, &err), VAE_ERR_INVALID);
    bc = cfg;
    bc.prior = 7;
    ck_assert_int_eq(vae_model_create(&bc, &bad_m, &err), VAE_ERR_INVALID);
    bc = cfg;
    bc.prior_hidden = -3;
    ck_assert_int_eq(vae_model_create(&bc, &bad_m, &err), VAE_ERR_INVALID);
    ck_assert_ptr_null(bad_m);
    /* set_training cannot change the conditional architecture */
    bc = cfg;
    bc.cond_dim = 5;
    ck_assert_int_eq(vae_model_set_training(m, &bc), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "cond_dim"));
    bc = cfg;
    bc.prior = VAE_PRIOR_LEARNED;
    ck_assert_int_eq(vae_model_set_training(m, &bc), VAE_ERR_INVALID);
    /* an older, smaller config struct gives an unconditional model */
    vae_model_config old = uc;
    old.struct_size = offsetof(vae_model_config, cond_dim);
    old.cond_dim = 99; /* beyond struct_size: ignored */
    vae_model *om;
    ck_assert_int_eq(vae_model_create(&old, &om, NULL), VAE_OK);
    vae_model_config got;
    got.struct_size = sizeof got;
    vae_model_get_config(om, &got);
    ck_assert_int_eq(got.cond_dim, 0);
    ck_assert_int_eq(got.prior_hidden, 64);
    vae_model_free(om);
    /* a dataset with conditions of the wrong size */
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, 1, D, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_set_conditions(ds, c, 1, 3), VAE_OK);
    ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 1, NULL, NULL, NULL), VAE_ERR_SHAPE);
    ck_assert_int_eq(vae_model_evaluate(m, ds, 1, NULL), VAE_ERR_SHAPE);
    /* an unconditional model ignores a dataset's conditions */
    ck_assert_int_eq(vae_model_train_epoch(u, o, ds, 1, NULL, NULL, NULL), VAE_OK);
    vae_dataset_free(ds);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_model_free(u);
}
END_TEST

/* ---- dataset conditions -------------------------------------------------------- */

START_TEST(test_dataset_conditions)
{
    enum { R = 7 };
    float x[R * 2];
    int lab[R] = {0, 2, 1, 2, 0, 1, 2};
    for (int i = 0; i < R * 2; i++)
        x[i] = (float)i;
    vae_dataset *ds, *sub;
    ck_assert_int_eq(vae_dataset_from_array(x, R, 2, lab, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    ck_assert_uint_eq(vae_dataset_cond_dim(ds), 0);
    ck_assert_ptr_null(vae_dataset_conditions(ds));
    ck_assert_int_eq(vae_dataset_set_onehot(ds, 2), VAE_ERR_INVALID); /* label 2 >= 2 */
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(ds), "label 2 of example 1"));
    ck_assert_uint_eq(vae_dataset_cond_dim(ds), 0);
    ck_assert_int_eq(vae_dataset_set_onehot(ds, 0), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_dataset_set_onehot(NULL, 3), VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_set_onehot(ds, 3), VAE_OK);
    ck_assert_uint_eq(vae_dataset_cond_dim(ds), 3);
    const float *c = vae_dataset_conditions(ds);
    for (int i = 0; i < R; i++)
        for (int k = 0; k < 3; k++)
            ck_assert_float_eq(c[i * 3 + k], k == lab[i] ? 1.0f : 0.0f);
    /* subsets keep rows and conditions together */
    ck_assert_int_eq(vae_dataset_subset(ds, 3, 4, &sub, NULL), VAE_OK);
    ck_assert_uint_eq(vae_dataset_cond_dim(sub), 3);
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(vae_dataset_data(sub)[i * 2], (float)((3 + i) * 2));
        ck_assert_float_eq(vae_dataset_conditions(sub)[i * 3 + lab[3 + i]], 1.0f);
    }
    vae_dataset_free(sub);
    /* the batch gatherer (used by train_epoch with the shuffled order) keeps them aligned */
    size_t idx[4] = {6, 0, 3, 1};
    float xb[8], cb[12];
    vt_rng r;
    vt_rng_seed(&r, 1, 0);
    vds_gather(ds, idx, 4, xb, &r);
    vds_gather_cond(ds, idx, 4, cb);
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(xb[i * 2], (float)(idx[i] * 2));
        ck_assert_float_eq(cb[i * 3 + lab[idx[i]]], 1.0f);
    }
    /* caller's vectors: copied; NaN, wrong count and sizes refused, old kept */
    float cv[R * 2];
    for (int i = 0; i < R * 2; i++)
        cv[i] = 0.5f * (float)i;
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cv, R - 1, 2), VAE_ERR_SHAPE);
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cv, R, 0), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cv, R, (size_t)1 << 20), VAE_ERR_LIMIT);
    ck_assert_int_eq(vae_dataset_set_conditions(ds, NULL, R, 2), VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_set_conditions(NULL, cv, R, 2), VAE_ERR_NULL);
    cv[5] = NAN;
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cv, R, 2), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(ds), "c[2][1]"));
    ck_assert_uint_eq(vae_dataset_cond_dim(ds), 3);
    cv[5] = INFINITY;
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cv, R, 2), VAE_ERR_NONFINITE);
    cv[5] = 2.5f;
    ck_assert_int_eq(vae_dataset_set_conditions(ds, cv, R, 2), VAE_OK);
    cv[0] = 99.0f; /* the dataset holds a copy */
    ck_assert_uint_eq(vae_dataset_cond_dim(ds), 2);
    ck_assert_float_eq(vae_dataset_conditions(ds)[0], 0.0f);
    ck_assert_float_eq(vae_dataset_conditions(ds)[5], 2.5f);
    vae_dataset_free(ds);
    /* no labels: one-hot refused */
    ck_assert_int_eq(vae_dataset_from_array(x, R, 2, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_set_onehot(ds, 3), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(vae_dataset_errmsg(ds), "no labels"));
    ck_assert_uint_eq(vae_dataset_cond_dim(NULL), 0);
    ck_assert_ptr_null(vae_dataset_conditions(NULL));
    vae_dataset_free(ds);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cvae");
    TCase *tc = tcase_create("cvae");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fd_standard_prior);
    tcase_add_test(tc, test_fd_learned_prior);
    tcase_add_test(tc, test_score_prior_gradient);
    tcase_add_test(tc, test_learned_prior_starts_standard);
    tcase_add_test(tc, test_sample_cond_moments);
    tcase_add_test(tc, test_condition_matters_and_bound);
    tcase_add_test(tc, test_train_step_and_epoch);
    tcase_add_test(tc, test_checkpoint_roundtrip);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_dataset_conditions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
