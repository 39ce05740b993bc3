/* The conditional (_cond) gradient, keyed, statistics and diagnostics calls
 * (0.4.0), through the public API: compute_gradients_cond + apply_gradients
 * is train_step_cond bit for bit; the keyed gradient matches finite
 * differences of the keyed loss and does not depend on how a batch is split;
 * diagnostics_cond against an independent computation from encode_cond and
 * prior_cond, and against the unconditional model it reduces to; gradient
 * statistics; gather_cond; the refusals naming the call to use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rng.h"
#include "testutil.h"

#include <libvae/vae.h>

enum { D = 6, K = 3, C = 4, N = 8 };

static vae_model_config small_config(int prior)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.latent_dim = K;
    c.n_hidden = 1;
    c.hidden[0] = 5;
    c.activation = VAE_ACT_TANH;
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

static vae_optimizer *make_opt(void)
{
    return tu_optimizer(VAE_OPT_ADAM, 0.01f);
}

static void fill(float *v, size_t n, vt_rng *r, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * vt_rng_uniform(r));
}

/* Random data in [0, 1] and one-hot conditions. */
static void data(float *x, float *c, size_t n, uint64_t seed)
{
    vt_rng r;
    vt_rng_seed(&r, seed, 0);
    fill(x, n * D, &r, 0, 1);
    memset(c, 0, n * C * sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i * C + i % C] = 1.0f;
}

/* Move every parameter (the learned prior's heads start at zero). */
static void perturb(vae_model *m, uint64_t seed)
{
    size_t P = vae_model_param_count(m);
    float *p = malloc(P * sizeof *p);
    vae_model_get_params(m, p, P);
    vt_rng r;
    vt_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < P; i++)
        p[i] += (float)(0.4 * (vt_rng_uniform(&r) - 0.5));
    ck_assert_int_eq(vae_model_set_params(m, p, P), VAE_OK);
    free(p);
}

static float *params(const vae_model *m)
{
    size_t P = vae_model_param_count(m);
    float *p = malloc(P * sizeof *p);
    ck_assert_int_eq(vae_model_get_params(m, p, P), VAE_OK);
    return p;
}

/* compute_gradients_cond then apply_gradients is train_step_cond, bit for
 * bit: parameters, statistics, and the training stream (same later steps). */
static void check_split_step(int prior)
{
    vae_model_config cfg = small_config(prior);
    vae_model *a = make(&cfg), *b = make(&cfg);
    perturb(a, 5);
    perturb(b, 5);
    vae_optimizer *oa = make_opt(), *ob = make_opt();
    float x[N * D], c[N * C];
    for (int step = 0; step < 5; step++) {
        data(x, c, N, 100 + (uint64_t)step);
        vae_elbo_stats sa, sb;
        ck_assert_int_eq(vae_model_train_step_cond(a, oa, x, c, N, &sa), VAE_OK);
        ck_assert_int_eq(vae_model_compute_gradients_cond(b, x, c, N, &sb), VAE_OK);
        ck_assert_int_eq(vae_model_apply_gradients(b, ob), VAE_OK);
        ck_assert(memcmp(&sa, &sb, sizeof sa) == 0);
    }
    size_t P = vae_model_param_count(a);
    float *pa = params(a), *pb = params(b);
    ck_assert_msg(memcmp(pa, pb, P * sizeof *pa) == 0, "prior %d: parameters differ", prior);
    free(pa);
    free(pb);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_model_free(a);
    vae_model_free(b);
}

START_TEST(test_compute_apply_is_train_step)
{
    check_split_step(VAE_PRIOR_STANDARD);
    check_split_step(VAE_PRIOR_LEARNED);
}
END_TEST

/* The keyed gradient is the derivative of the keyed loss (same noise at
 * every parameter value): central differences on every parameter. */
START_TEST(test_keyed_gradient_finite_differences)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED);
    vae_model *m = make(&cfg);
    perturb(m, 9);
    float x[N * D], c[N * C];
    data(x, c, N, 3);
    size_t P = vae_model_param_count(m);
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x, c, N, 7, 40, &st), VAE_OK);
    float *grad = malloc(P * sizeof *grad), *p = params(m);
    memcpy(grad, vae_model_gradient_data(m), P * sizeof *grad);
    const double h = 1e-2;
    int prior_seen = 0;
    for (size_t t = 0; t < vae_model_param_tensor_count(m); t++) {
        const char *name;
        size_t rows, cols, off;
        vae_model_param_tensor_info(m, t, &name, &rows, &cols, &off);
        prior_seen |= strncmp(name, "prior.", 6) == 0;
        for (size_t i = off; i < off + rows * cols; i++) {
            float saved = p[i];
            double f[2];
            for (int s = 0; s < 2; s++) {
                p[i] = saved + (float)(s ? -h : h);
                ck_assert_int_eq(vae_model_set_params(m, p, P), VAE_OK);
                ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x, c, N, 7, 40, &st),
                                 VAE_OK);
                f[s] = st.loss;
            }
            p[i] = saved;
            double fd = (f[0] - f[1]) / (2 * h), an = grad[i];
            ck_assert_msg(fabs(fd - an) <= 2e-3 + 2e-2 * fabs(fd),
                          "%s[%zu]: analytic %.6g, fd %.6g", name, i - off, an, fd);
        }
    }
    ck_assert(prior_seen);
    free(p);
    free(grad);
    vae_model_free(m);
}
END_TEST

/* Keyed noise belongs to the row: shards computed apart give the whole
 * batch's gradient (to rounding) and exactly its per-example ELBOs. */
START_TEST(test_keyed_independent_of_split)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED);
    vae_model *m = make(&cfg);
    perturb(m, 13);
    float x[N * D], c[N * C];
    data(x, c, N, 4);
    size_t P = vae_model_param_count(m);
    vae_elbo_stats whole, s1, s2;
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x, c, N, 3, 0, &whole), VAE_OK);
    float *g = malloc(P * sizeof *g), *acc = calloc(P, sizeof *acc);
    memcpy(g, vae_model_gradient_data(m), P * sizeof *g);
    const size_t a = 3; /* shards [0, 3) and [3, 8) */
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x, c, a, 3, 0, &s1), VAE_OK);
    for (size_t i = 0; i < P; i++)
        acc[i] += (float)a / N * vae_model_gradient_data(m)[i];
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x + a * D, c + a * C, N - a, 3, a,
                                                           &s2),
                     VAE_OK);
    double num = 0, den = 0;
    for (size_t i = 0; i < P; i++) {
        acc[i] += (float)(N - a) / N * vae_model_gradient_data(m)[i];
        num += ((double)acc[i] - g[i]) * ((double)acc[i] - g[i]);
        den += (double)g[i] * g[i];
    }
    ck_assert_msg(sqrt(num / den) < 1e-5, "shards vs whole: relative error %g", sqrt(num / den));
    double loss = (s1.loss * a + s2.loss * (N - a)) / N;
    ck_assert_msg(fabs(loss - whole.loss) < 1e-4 * (1 + fabs(whole.loss)), "%g vs %g", loss,
                  whole.loss);
    /* a different key changes the noise */
    vae_elbo_stats other;
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x, c, N, 4, 0, &other), VAE_OK);
    ck_assert(other.loss != whole.loss);
    /* per-example ELBOs: bit for bit, whatever the split */
    float pe[N], pa[N];
    ck_assert_int_eq(vae_model_elbo_keyed_cond(m, x, c, N, 99, 10, pe, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_elbo_keyed_cond(m, x, c, a, 99, 10, pa, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_elbo_keyed_cond(m, x + a * D, c + a * C, N - a, 99, 10 + a, pa + a,
                                               NULL),
                     VAE_OK);
    ck_assert(memcmp(pe, pa, sizeof pe) == 0);
    /* one row alone gets its own noise too */
    float one;
    ck_assert_int_eq(vae_model_elbo_keyed_cond(m, x + 5 * D, c + 5 * C, 1, 99, 15, &one, NULL),
                     VAE_OK);
    ck_assert(memcmp(&one, &pe[5], sizeof one) == 0);
    /* the conditions matter */
    float c2[N * C];
    for (size_t i = 0; i < N * C; i++)
        c2[i] = c[(i + C) % (N * C)];
    float pc[N];
    ck_assert_int_eq(vae_model_elbo_keyed_cond(m, x, c2, N, 99, 10, pc, NULL), VAE_OK);
    ck_assert(memcmp(pe, pc, sizeof pe) != 0);
    free(g);
    free(acc);
    vae_model_free(m);
}
END_TEST

/* diagnostics_cond from encode_cond and prior_cond, computed here in
 * double: KL to N(mu_p, e^lv_p) per dimension, Var of mu, active units. */
START_TEST(test_diagnostics_independent)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED);
    vae_model *m = make(&cfg);
    perturb(m, 21);
    enum { M = 40 };
    float x[M * D], c[M * C], mu[M * K], lv[M * K], mp[M * K], lp[M * K];
    data(x, c, M, 8);
    ck_assert_int_eq(vae_model_encode_cond(m, x, c, M, mu, lv), VAE_OK);
    ck_assert_int_eq(vae_model_prior_cond(m, c, M, mp, lp), VAE_OK);
    double kl[K] = {0}, mean[K] = {0}, var[K] = {0};
    for (size_t i = 0; i < M; i++)
        for (size_t d = 0; d < K; d++) {
            size_t j = i * K + d;
            /* KL(N(mu, e^lv) || N(mp, e^lp)) */
            kl[d] += 0.5 * (lp[j] - lv[j] + (exp(lv[j]) + pow(mu[j] - mp[j], 2)) * exp(-lp[j]) - 1);
            mean[d] += mu[j] / (double)M;
        }
    for (size_t i = 0; i < M; i++)
        for (size_t d = 0; d < K; d++)
            var[d] += pow(mu[i * K + d] - mean[d], 2) / (M - 1);
    vae_diagnostics dg = {.struct_size = sizeof dg};
    float klp[K], muv[K];
    ck_assert_int_eq(vae_model_diagnostics_cond(m, x, c, M, &dg, klp, muv), VAE_OK);
    double total = 0;
    int active = 0;
    for (size_t d = 0; d < K; d++) {
        kl[d] /= M;
        total += kl[d];
        active += var[d] > VAE_ACTIVE_UNIT_THRESHOLD;
        ck_assert_msg(fabs(klp[d] - kl[d]) < 1e-5 * (1 + kl[d]), "kl[%zu] %g vs %g", d,
                      (double)klp[d], kl[d]);
        ck_assert_msg(fabs(muv[d] - var[d]) < 1e-5 * (1 + var[d]), "var[%zu]", d);
    }
    ck_assert(fabs(dg.kl - total) < 1e-5 * (1 + total));
    ck_assert_int_eq(dg.active_units, active);
    ck_assert_uint_eq(dg.n, M);
    ck_assert(isfinite(dg.mi) && dg.mi < log((double)M) + 0.5);
    /* aggressive_update_cond reports the same MI (same evaluation stream) */
    double mi;
    int on = -1;
    ck_assert_int_eq(vae_model_aggressive_update_cond(m, x, c, M, &mi, &on), VAE_OK);
    ck_assert(mi == dg.mi);
    ck_assert_int_eq(on, 0); /* aggressive training is off in this model */
    vae_model_free(m);
}
END_TEST

/* A conditional model whose conditions are all zero, with the standard
 * prior and an unconditional model's weights (the c rows of the first
 * layers zero or anything: c = 0), is that unconditional model: its
 * diagnostics, MI included, agree to rounding. */
START_TEST(test_diagnostics_reduce_to_unconditional)
{
    vae_model_config cc = small_config(VAE_PRIOR_STANDARD), uc = cc;
    uc.cond_dim = 0;
    vae_model *m = make(&cc), *u = make(&uc);
    perturb(u, 33);
    perturb(m, 34); /* the c rows keep these (unused) values */
    float *pu = params(u), *pm = params(m);
    ck_assert_uint_eq(vae_model_param_tensor_count(u), vae_model_param_tensor_count(m));
    for (size_t t = 0; t < vae_model_param_tensor_count(u); t++) {
        const char *nu, *nm;
        size_t ru, cu, ou, rm, cm, om;
        vae_model_param_tensor_info(u, t, &nu, &ru, &cu, &ou);
        vae_model_param_tensor_info(m, t, &nm, &rm, &cm, &om);
        ck_assert_str_eq(nu, nm);
        ck_assert_uint_eq(cu, cm);
        ck_assert(rm == ru || rm == ru + C); /* [x, c] or [z, c] inputs: c's rows last */
        memcpy(pm + om, pu + ou, ru * cu * sizeof *pm);
    }
    ck_assert_int_eq(vae_model_set_params(m, pm, vae_model_param_count(m)), VAE_OK);
    enum { M = 30 };
    float x[M * D], c[M * C];
    data(x, c, M, 12);
    memset(c, 0, sizeof c);
    vae_diagnostics dm = {.struct_size = sizeof dm}, du = {.struct_size = sizeof du};
    float km[K], ku[K];
    ck_assert_int_eq(vae_model_diagnostics_cond(m, x, c, M, &dm, km, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_diagnostics(u, x, M, &du, ku, NULL), VAE_OK);
    for (int d = 0; d < K; d++)
        ck_assert_msg(fabs(km[d] - ku[d]) < 1e-5 * (1 + fabs(ku[d])), "kl[%d]", d);
    ck_assert_int_eq(dm.active_units, du.active_units);
    ck_assert_msg(fabs(dm.mi - du.mi) < 1e-4 * (1 + fabs(du.mi)), "mi %g vs %g", dm.mi, du.mi);
    free(pu);
    free(pm);
    vae_model_free(m);
    vae_model_free(u);
}
END_TEST

START_TEST(test_gradient_stats_cond)
{
    vae_model_config cfg = small_config(VAE_PRIOR_LEARNED);
    vae_model *m = make(&cfg);
    perturb(m, 41);
    float x[N * D], c[N * C];
    data(x, c, N, 5);
    size_t T = vae_model_param_tensor_count(m), P = vae_model_param_count(m);
    vae_grad_stats *per = malloc(T * sizeof *per), enc, all;
    float *mean = malloc(P * sizeof *mean), *before = params(m);
    ck_assert_int_eq(vae_model_gradient_stats_cond(m, x, c, N, NULL, 6, per, &enc, &all, mean),
                     VAE_OK);
    ck_assert(isfinite(all.mean_norm) && all.mean_norm > 0 && all.total_variance > 0);
    ck_assert(enc.mean_norm > 0 && enc.mean_norm <= all.mean_norm);
    for (size_t t = 0; t < T; t++) {
        const char *name;
        vae_model_param_tensor_info(m, t, &name, NULL, NULL, NULL);
        if (strncmp(name, "prior.", 6) == 0 && strstr(name, ".W"))
            ck_assert_msg(per[t].mean_norm > 0, "%s receives no gradient", name);
    }
    /* parameters unchanged; the score estimator runs too */
    float *after = params(m);
    ck_assert(memcmp(before, after, P * sizeof *after) == 0);
    vae_model_config tr = cfg;
    tr.estimator = VAE_EST_SCORE;
    tr.baseline = VAE_BASELINE_EMA;
    tr.kl_mode = VAE_KL_MONTE_CARLO;
    ck_assert_int_eq(vae_model_gradient_stats_cond(m, x, c, N, &tr, 4, NULL, NULL, &all, NULL),
                     VAE_OK);
    ck_assert(isfinite(all.snr));
    free(per);
    free(mean);
    free(before);
    free(after);
    vae_model_free(m);
}
END_TEST

START_TEST(test_gather_cond)
{
    float x[N * D], c[N * C];
    data(x, c, N, 6);
    vae_dataset *ds = NULL;
    ck_assert_int_eq(vae_dataset_from_array(x, N, D, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL),
                     VAE_OK);
    vae_error err;
    size_t rows[3] = {5, 0, 7};
    float out[3 * C];
    ck_assert_int_eq(vae_dataset_gather_cond(ds, rows, 3, out, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "no conditions"));
    ck_assert_int_eq(vae_dataset_set_conditions(ds, c, N, C), VAE_OK);
    ck_assert_int_eq(vae_dataset_gather_cond(ds, rows, 3, out, &err), VAE_OK);
    for (int i = 0; i < 3; i++)
        ck_assert(memcmp(out + i * C, c + rows[i] * C, C * sizeof *out) == 0);
    rows[1] = N;
    ck_assert_int_eq(vae_dataset_gather_cond(ds, rows, 3, out, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "rows[1]"));
    ck_assert_int_eq(vae_dataset_gather_cond(NULL, rows, 3, out, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_dataset_gather_cond(ds, rows, 3, NULL, NULL), VAE_ERR_NULL);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(test_refusals)
{
    vae_model_config cc = small_config(VAE_PRIOR_LEARNED), uc = cc;
    uc.cond_dim = 0;
    uc.prior = VAE_PRIOR_STANDARD;
    vae_model *m = make(&cc), *u = make(&uc);
    float x[N * D], c[N * C];
    data(x, c, N, 2);
    vae_diagnostics dg = {.struct_size = sizeof dg};
    const int U = VAE_ERR_UNSUPPORTED;
    /* plain calls on a conditional model name their _cond call */
    ck_assert_int_eq(vae_model_compute_gradients(m, x, N, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_compute_gradients_cond"));
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, N, 1, 0, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_compute_gradients_keyed_cond"));
    ck_assert_int_eq(vae_model_elbo_keyed(m, x, N, 1, 0, NULL, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_elbo_keyed_cond"));
    ck_assert_int_eq(vae_model_gradient_stats(m, x, N, NULL, 2, NULL, NULL, NULL, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_gradient_stats_cond"));
    ck_assert_int_eq(vae_model_diagnostics(m, x, N, &dg, NULL, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_diagnostics_cond"));
    ck_assert_int_eq(vae_model_aggressive_update(m, x, N, NULL, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "vae_model_aggressive_update_cond"));
    /* _cond calls on an unconditional model name the plain call */
    ck_assert_int_eq(vae_model_compute_gradients_cond(u, x, c, N, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(u), "use vae_model_compute_gradients"));
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(u, x, c, N, 1, 0, NULL), U);
    ck_assert_int_eq(vae_model_elbo_keyed_cond(u, x, c, N, 1, 0, NULL, NULL), U);
    ck_assert_int_eq(vae_model_gradient_stats_cond(u, x, c, N, NULL, 2, NULL, NULL, NULL, NULL), U);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(u), "unconditional"));
    ck_assert_int_eq(vae_model_diagnostics_cond(u, x, c, N, &dg, NULL, NULL), U);
    ck_assert_int_eq(vae_model_aggressive_update_cond(u, x, c, N, NULL, NULL), U);
    /* bad arguments; the gradient buffer and parameters stay */
    ck_assert_int_eq(vae_model_compute_gradients_cond(NULL, x, c, N, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_compute_gradients_cond(m, x, NULL, N, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_compute_gradients_cond(m, NULL, c, N, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_compute_gradients_cond(m, x, c, 0, NULL), VAE_ERR_INVALID);
    float bad[N * C];
    memcpy(bad, c, sizeof bad);
    bad[2 * C + 1] = NAN;
    ck_assert_int_eq(vae_model_compute_gradients_keyed_cond(m, x, bad, N, 1, 0, NULL),
                     VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "c[2][1]"));
    ck_assert_int_eq(vae_model_elbo_keyed_cond(m, x, c, N, 1, UINT64_MAX, NULL, NULL),
                     VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_diagnostics_cond(m, x, bad, N, &dg, NULL, NULL), VAE_ERR_NONFINITE);
    ck_assert_int_eq(vae_model_diagnostics_cond(m, x, NULL, N, &dg, NULL, NULL), VAE_ERR_NULL);
    ck_assert_int_eq(vae_model_diagnostics_cond(m, x, c, 1, &dg, NULL, NULL), VAE_ERR_INVALID);
    ck_assert_int_eq(vae_model_gradient_stats_cond(m, x, bad, N, NULL, 2, NULL, NULL, NULL, NULL),
                     VAE_ERR_NONFINITE);
    ck_assert_int_eq(vae_model_gradient_stats_cond(m, x, c, N, NULL, 1, NULL, NULL, NULL, NULL),
                     VAE_ERR_INVALID);
    vae_model_free(m);
    vae_model_free(u);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cvae-gradients");
    TCase *tc = tcase_create("cvae-gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_compute_apply_is_train_step);
    tcase_add_test(tc, test_keyed_gradient_finite_differences);
    tcase_add_test(tc, test_keyed_independent_of_split);
    tcase_add_test(tc, test_diagnostics_independent);
    tcase_add_test(tc, test_diagnostics_reduce_to_unconditional);
    tcase_add_test(tc, test_gradient_stats_cond);
    tcase_add_test(tc, test_gather_cond);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
