/* Gradient estimators and likelihood estimates against independent oracles:
 *   - the exact ELBO gradient by quadrature over a 1-D latent (finite
 *     differences of the quadrature ELBO) versus the means of S pathwise and
 *     S score-function estimates, within 4 standard errors;
 *   - estimator variances on real MNIST after one epoch;
 *   - ELBO <= IWAE_k <= IWAE_k' for k < k';
 *   - probabilistic PCA, whose log p(x) is known in closed form. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "testutil.h"

/* ---- quadrature oracle ------------------------------------------------------ */

/* Inverse of the standard normal CDF by bisection on erfc (test-only, slow is fine). */
static double norm_quantile(double p)
{
    double lo = -12, hi = 12;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static vae_model *tiny_model(int samples, int estimator, int baseline)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 3;
    c.latent_dim = 1;
    c.n_hidden = 1;
    c.hidden[0] = 3;
    c.activation = VAE_ACT_TANH;
    c.samples = samples;
    c.estimator = estimator;
    c.baseline = baseline;
    c.seed = 11;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    return m;
}

static const float X3[6] = {0.9f, 0.1f, 0.6f, 0.2f, 0.8f, 0.4f}; /* two examples */

/* -ELBO by quadrature: eps fixed to Q normal quantiles per example. */
static double quad_loss(vae_model *q)
{
    vg_forward(q->train_g, -1);
    return q->train_g->nodes[q->train_e.loss].val[0];
}

/* Mean and standard error per coordinate of S gradient draws of model m. */
static void draws(vae_model *m, int S, double *mean, double *se)
{
    size_t P = m->P.total;
    double *m2 = calloc(P, sizeof *m2);
    memset(mean, 0, P * sizeof *mean);
    vg_graph *g = m->train_g;
    vg_set_batch(g, 2);
    vg_bind(g, m->train_e.x, X3);
    for (int s = 0; s < S; s++) {
        vt_rng_normal(&m->rng, g->nodes[m->train_e.eps].val, (size_t)2 * g->samples);
        vg_forward(g, -1);
        vg_backward(g, m->train_e.loss);
        for (size_t i = 0; i < P; i++) {
            double d = m->P.grad[i] - mean[i];
            mean[i] += d / (s + 1);
            m2[i] += d * (m->P.grad[i] - mean[i]);
        }
    }
    for (size_t i = 0; i < P; i++)
        se[i] = sqrt(m2[i] / (S - 1) / S);
    free(m2);
}

START_TEST(test_unbiased_vs_quadrature)
{
    /* Under valgrind (quick mode) a coarser grid and fewer draws keep it to seconds. */
    const int Q = tu_quick() ? 400 : 4000;
    vae_model *q = tiny_model(Q, VAE_EST_PATHWISE, VAE_BASELINE_NONE);
    size_t P = q->P.total;
    vg_graph *g = q->train_g;
    vg_set_batch(g, 2);
    vg_bind(g, q->train_e.x, X3);
    float *eps = g->nodes[q->train_e.eps].val;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < Q; j++)
            eps[i * Q + j] = (float)norm_quantile((j + 0.5) / Q);
    /* Exact gradient: central differences of the quadrature loss. */
    double *exact = malloc(P * sizeof *exact);
    const double h = 1e-2;
    for (size_t i = 0; i < P; i++) {
        float keep = q->P.val[i];
        q->P.val[i] = keep + (float)h;
        double fp = quad_loss(q);
        q->P.val[i] = keep - (float)h;
        double fm = quad_loss(q);
        q->P.val[i] = keep;
        exact[i] = (fp - fm) / (2 * h);
    }
    struct {
        int est, base, samples, S;
    } cases[] = {
        {VAE_EST_PATHWISE, VAE_BASELINE_NONE, 1, 20000},
        {VAE_EST_SCORE, VAE_BASELINE_NONE, 1, 200000},
        {VAE_EST_SCORE, VAE_BASELINE_LOO, 2, 100000},
    };
    double *mean = malloc(P * sizeof *mean), *se = malloc(P * sizeof *se);
    size_t n_cases = tu_quick() ? 1 : sizeof cases / sizeof cases[0];
    for (size_t c = 0; c < n_cases; c++) {
        vae_model *m = tiny_model(cases[c].samples, cases[c].est, cases[c].base);
        memcpy(m->P.val, q->P.val, P * sizeof(float)); /* the same seed gives the same params anyway */
        int S = tu_quick() ? cases[c].S / 10 : cases[c].S;
        draws(m, S, mean, se);
        for (size_t i = 0; i < P; i++)
            ck_assert_msg(fabs(mean[i] - exact[i]) <= 4 * se[i] + 2e-4,
                          "estimator %d baseline %d: coordinate %zu: mean %.5f exact %.5f se %.5f",
                          cases[c].est, cases[c].base, i, mean[i], exact[i], se[i]);
        /* Not a vacuous test: the standard errors are small against the gradients. */
        double sum_se = 0, sum_g = 0;
        for (size_t i = 0; i < P; i++) {
            sum_se += se[i];
            sum_g += fabs(exact[i]);
        }
        if (!tu_quick())
            ck_assert_msg(sum_se < 0.25 * sum_g, "standard errors too large to test anything");
        vae_model_free(m);
    }
    free(mean);
    free(se);
    free(exact);
    vae_model_free(q);
}
END_TEST

/* ---- MNIST: variances after one epoch, and the bound ordering ----------------- */

static vae_model *g_trained;
static vae_dataset *g_test;

static void trained_setup(void)
{
    char path[4096];
    /* MNIST-sized products under valgrind take many minutes; the code paths
     * are the ones the oracle tests cover, so quick mode skips these. */
    if (tu_quick() || !tu_mnist_file(path, "t10k-images-idx3-ubyte.gz"))
        return;
    vae_dataset *all, *train;
    ck_assert_int_eq(vae_dataset_load_idx(path, NULL, NULL, &all, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 0, 9000, &train, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 9000, 1000, &g_test, NULL), VAE_OK);
    vae_model_config c;
    vae_model_config_init(&c);
    c.threads = 2;
    ck_assert_int_eq(vae_model_create(&c, &g_trained, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_train_epoch(g_trained, o, train, 100, NULL, NULL, NULL), VAE_OK);
    vae_optimizer_free(o);
    vae_dataset_free(train);
    vae_dataset_free(all);
}

static void trained_teardown(void)
{
    vae_model_free(g_trained);
    vae_dataset_free(g_test);
    g_trained = NULL;
    g_test = NULL;
}

START_TEST(test_variance_ordering_mnist)
{
    if (!g_trained) {
        if (!tu_quick()) /* quick mode leaves it out on purpose */
            tu_skip("test_variance_ordering_mnist", "MNIST files not found ($VAE_MNIST_DIR)");
        return;
    }
    const float *x = vae_dataset_data(g_test);
    vae_model_config c;
    c.struct_size = sizeof c;
    vae_model_get_config(g_trained, &c);
    c.samples = 4;
    const int S = tu_quick() ? 6 : 40;
    struct {
        int est, base;
        double var;
    } e[4] = {{VAE_EST_PATHWISE, VAE_BASELINE_NONE, 0},
              {VAE_EST_SCORE, VAE_BASELINE_NONE, 0},
              {VAE_EST_SCORE, VAE_BASELINE_EMA, 0},
              {VAE_EST_SCORE, VAE_BASELINE_LOO, 0}};
    for (int i = 0; i < 4; i++) {
        c.estimator = e[i].est;
        c.baseline = e[i].base;
        vae_grad_stats enc, all, per[64];
        size_t T = vae_model_param_tensor_count(g_trained);
        ck_assert_uint_le(T, 64);
        ck_assert_int_eq(vae_model_gradient_stats(g_trained, x, 100, &c, S, per, &enc, &all, NULL),
                         VAE_OK);
        e[i].var = enc.total_variance;
        /* The encoder's and the overall figures must be those of their
         * tensors: variances add over coordinates, squared mean norms too.
         * ("encoder <= total", asserted here before, held by construction.)
         * Checked to fail by a mutation of src/models/estimates.c that drops
         * the last encoder tensor from the encoder's range (enc_end =
         * p->offset instead of p->offset + cnt): "encoder variance ... the
         * sum of its tensors ..." failed; reverted. The decoder's share must
         * be positive: enc_end = P (every tensor counted as the encoder's)
         * fails the strict inequality. */
        double enc_var = 0, enc_n2 = 0, all_var = 0, all_n2 = 0;
        for (size_t t = 0; t < T; t++) {
            const char *name;
            size_t rows, cols, off;
            ck_assert_int_eq(vae_model_param_tensor_info(g_trained, t, &name, &rows, &cols, &off),
                             VAE_OK);
            all_var += per[t].total_variance;
            all_n2 += per[t].mean_norm * per[t].mean_norm;
            if (strncmp(name, "enc.", 4) == 0) {
                enc_var += per[t].total_variance;
                enc_n2 += per[t].mean_norm * per[t].mean_norm;
            }
        }
        ck_assert_msg(fabs(enc.total_variance - enc_var) <= 1e-9 * enc_var,
                      "encoder variance %.9g, the sum of its tensors' %.9g", enc.total_variance,
                      enc_var);
        ck_assert_msg(fabs(enc.mean_norm * enc.mean_norm - enc_n2) <= 1e-9 * enc_n2,
                      "encoder |mean|^2 %.9g, the sum of its tensors' %.9g",
                      enc.mean_norm * enc.mean_norm, enc_n2);
        ck_assert_msg(fabs(all.total_variance - all_var) <= 1e-9 * all_var,
                      "overall variance %.9g, the sum of all tensors' %.9g", all.total_variance,
                      all_var);
        ck_assert_msg(fabs(all.mean_norm * all.mean_norm - all_n2) <= 1e-9 * all_n2,
                      "overall |mean|^2 %.9g, the sum of all tensors' %.9g",
                      all.mean_norm * all.mean_norm, all_n2);
        ck_assert_msg(all.total_variance - enc.total_variance > 0,
                      "the decoder's gradients must vary too: overall %.9g, encoder %.9g",
                      all.total_variance, enc.total_variance);
    }
    ck_assert_msg(e[1].var > 10 * e[0].var, "score %.4g vs pathwise %.4g", e[1].var, e[0].var);
    ck_assert_msg(e[2].var < e[1].var, "EMA baseline %.4g vs none %.4g", e[2].var, e[1].var);
    ck_assert_msg(e[3].var < e[1].var, "LOO baseline %.4g vs none %.4g", e[3].var, e[1].var);
}
END_TEST

START_TEST(test_bound_ordering)
{
    if (!g_trained) {
        if (!tu_quick())
            tu_skip("test_bound_ordering", "MNIST files not found ($VAE_MNIST_DIR)");
        return;
    }
    const size_t n = tu_quick() ? 10 : 200;
    const float *x = vae_dataset_data(g_test);
    const int ks[4] = {1, 5, 50, 500};
    float *v[4];
    for (int j = 0; j < 4; j++) {
        v[j] = malloc(n * sizeof(float));
        ck_assert_int_eq(vae_model_log_likelihood(g_trained, x, n, ks[j], v[j], NULL), VAE_OK);
    }
    /* The analytic-KL ELBO and IWAE_1 (Monte Carlo KL) estimate the same bound:
     * their per-example difference has mean 0 within its standard error. */
    float *elbo = malloc(n * sizeof(float));
    ck_assert_int_eq(vae_model_elbo(g_trained, x, n, elbo, NULL), VAE_OK);
    double sd = 0, sd2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = v[0][i] - elbo[i];
        sd += d;
        sd2 += d * d;
    }
    double md = sd / n, se_d = sqrt((sd2 / n - md * md) / n);
    ck_assert_msg(fabs(md) < 4 * se_d + 0.1, "IWAE_1 - ELBO = %.3f (se %.3f)", md, se_d);
    free(elbo);
    for (int j = 0; j + 1 < 4; j++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            double d = v[j + 1][i] - v[j][i];
            s += d;
            s2 += d * d;
        }
        double mean = s / n, se = sqrt((s2 / n - mean * mean) / n);
        ck_assert_msg(mean > -4 * se, "IWAE_%d - IWAE_%d = %.4f (se %.4f)", ks[j + 1], ks[j], mean, se);
        ck_assert_msg(mean > 0, "the bound should tighten: IWAE_%d - IWAE_%d = %.4f", ks[j + 1],
                      ks[j], mean);
    }
    for (int j = 0; j < 4; j++)
        free(v[j]);
}
END_TEST

/* ---- probabilistic PCA ---------------------------------------------------------- */

enum { PD = 5, PK = 2 };
static const double PW[PD][PK] = {{2.0, 0.0}, {0.0, 1.5}, {1.0, 0.0}, {0.0, -1.0}, {0.5, 0.0}};
static const double PB[PD] = {0.1, -0.2, 0.3, 0.0, 0.5};
static const double PSIGMA = 0.5;

/* Cholesky of a PD x PD matrix in place (lower); returns log det. */
static double cholesky(double a[PD][PD])
{
    double logdet = 0;
    for (int j = 0; j < PD; j++) {
        for (int k = 0; k < j; k++)
            a[j][j] -= a[j][k] * a[j][k];
        a[j][j] = sqrt(a[j][j]);
        logdet += 2 * log(a[j][j]);
        for (int i = j + 1; i < PD; i++) {
            for (int k = 0; k < j; k++)
                a[i][j] -= a[i][k] * a[j][k];
            a[i][j] /= a[j][j];
        }
    }
    return logdet;
}

/* Mean log N(x; mu, C) over n rows, C given. */
static double gauss_ll(const float *x, size_t n, const double *mu, double C[PD][PD])
{
    double L[PD][PD];
    memcpy(L, C, sizeof L);
    double logdet = cholesky(L), total = 0;
    for (size_t r = 0; r < n; r++) {
        double y[PD];
        for (int i = 0; i < PD; i++) { /* solve L y = x - mu */
            y[i] = x[r * PD + i] - mu[i];
            for (int k = 0; k < i; k++)
                y[i] -= L[i][k] * y[k];
            y[i] /= L[i][i];
        }
        double q = 0;
        for (int i = 0; i < PD; i++)
            q += y[i] * y[i];
        total += -0.5 * (PD * log(2 * 3.14159265358979323846) + logdet + q);
    }
    return total / n;
}

static float *ppca_data(size_t n)
{
    float *x = malloc(n * PD * sizeof *x);
    vt_rng r;
    vt_rng_seed(&r, 2024, 0);
    for (size_t i = 0; i < n; i++) {
        float z[PK], e[PD];
        vt_rng_normal(&r, z, PK);
        vt_rng_normal(&r, e, PD);
        for (int d = 0; d < PD; d++) {
            double v = PB[d] + PSIGMA * e[d];
            for (int k = 0; k < PK; k++)
                v += PW[d][k] * z[k];
            x[i * PD + d] = (float)v;
        }
    }
    return x;
}

static vae_model *linear_vae(int likelihood)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = PD;
    c.latent_dim = PK;
    c.n_hidden = 0;
    c.likelihood = likelihood;
    c.gaussian_sigma = (float)PSIGMA;
    vae_model *m;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    return m;
}

static float *tensor(vae_model *m, float *params, const char *want)
{
    for (size_t i = 0; i < vae_model_param_tensor_count(m); i++) {
        const char *name;
        size_t off;
        vae_model_param_tensor_info(m, i, &name, NULL, NULL, &off);
        if (strcmp(name, want) == 0)
            return params + off;
    }
    ck_abort_msg("no tensor %s", want);
    return NULL;
}

START_TEST(test_ppca_exact_posterior)
{
    const size_t n = 500;
    float *x = ppca_data(n);
    vae_model *m = linear_vae(VAE_LIK_GAUSSIAN_FIXED);
    float *p = calloc(vae_model_param_count(m), sizeof *p);
    /* Posterior: M = W^T W + s^2 I (diagonal: W's columns are orthogonal),
     * mean M^-1 W^T (x - b), covariance s^2 M^-1. */
    float *A = tensor(m, p, "enc.mu.W"), *c = tensor(m, p, "enc.mu.b");
    float *lvb = tensor(m, p, "enc.logvar.b");
    float *Wd = tensor(m, p, "dec.out.W"), *bd = tensor(m, p, "dec.out.b");
    for (int k = 0; k < PK; k++) {
        double Mkk = PSIGMA * PSIGMA, cb = 0;
        for (int d = 0; d < PD; d++)
            Mkk += PW[d][k] * PW[d][k];
        for (int d = 0; d < PD; d++) {
            A[d * PK + k] = (float)(PW[d][k] / Mkk);
            cb -= PB[d] * PW[d][k] / Mkk;
            Wd[k * PD + d] = (float)PW[d][k];
        }
        c[k] = (float)cb;
        lvb[k] = (float)log(PSIGMA * PSIGMA / Mkk);
    }
    for (int d = 0; d < PD; d++)
        bd[d] = (float)PB[d];
    ck_assert_int_eq(vae_model_set_params(m, p, vae_model_param_count(m)), VAE_OK);
    double C[PD][PD];
    for (int i = 0; i < PD; i++)
        for (int j = 0; j < PD; j++) {
            C[i][j] = (i == j) * PSIGMA * PSIGMA;
            for (int k = 0; k < PK; k++)
                C[i][j] += PW[i][k] * PW[j][k];
        }
    double exact = gauss_ll(x, n, PB, C), est;
    ck_assert_int_eq(vae_model_log_likelihood(m, x, n, 100, NULL, &est), VAE_OK);
    ck_assert_msg(fabs(est - exact) < 0.05, "estimate %.4f vs closed form %.4f", est, exact);
    /* With the exact posterior the ELBO is tight too. */
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_elbo(m, x, n, NULL, &st), VAE_OK);
    ck_assert_msg(fabs(st.elbo - exact) < 0.05, "ELBO %.4f vs closed form %.4f", st.elbo, exact);
    free(p);
    free(x);
    vae_model_free(m);
}
END_TEST

/* Jacobi eigenvalues of a symmetric PD x PD matrix (in place; returns them in ev). */
static void jacobi_eigen(double a[PD][PD], double *ev)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int i = 0; i < PD; i++)
            for (int j = i + 1; j < PD; j++)
                off += a[i][j] * a[i][j];
        if (off < 1e-22)
            break;
        for (int p = 0; p < PD; p++)
            for (int q = p + 1; q < PD; q++) {
                if (fabs(a[p][q]) < 1e-300)
                    continue;
                double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (int k = 0; k < PD; k++) { /* A <- J^T A J */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = cs * akp - sn * akq;
                    a[k][q] = sn * akp + cs * akq;
                }
                for (int k = 0; k < PD; k++) {
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = cs * apk - sn * aqk;
                    a[q][k] = sn * apk + cs * aqk;
                }
            }
    }
    for (int i = 0; i < PD; i++)
        ev[i] = a[i][i];
}

START_TEST(test_ppca_trained_reaches_ml)
{
    const size_t n = 2000;
    float *x = ppca_data(n);
    /* The PPCA maximum likelihood (Tipping & Bishop 1999), from the sample
     * covariance S's eigenvalues l_1 >= ... >= l_D: sigma^2 = mean of the
     * D - K smallest, and
     * max mean log p = -1/2 (D log 2pi + sum_{k<=K} log l_k + (D-K) log sigma^2 + D). */
    double mean[PD] = {0}, S[PD][PD] = {{0}}, ev[PD];
    for (size_t r = 0; r < n; r++)
        for (int i = 0; i < PD; i++)
            mean[i] += x[r * PD + i] / (double)n;
    for (size_t r = 0; r < n; r++)
        for (int i = 0; i < PD; i++)
            for (int j = 0; j < PD; j++)
                S[i][j] += (x[r * PD + i] - mean[i]) * (x[r * PD + j] - mean[j]) / (double)n;
    jacobi_eigen(S, ev);
    for (int i = 0; i < PD; i++) /* sort descending */
        for (int j = i + 1; j < PD; j++)
            if (ev[j] > ev[i]) {
                double t = ev[i];
                ev[i] = ev[j];
                ev[j] = t;
            }
    double s2 = 0, logdet = 0;
    for (int i = PK; i < PD; i++)
        s2 += ev[i] / (PD - PK);
    for (int i = 0; i < PK; i++)
        logdet += log(ev[i]);
    double ml = -0.5 * (PD * log(2 * 3.14159265358979323846) + logdet + (PD - PK) * log(s2) + PD);

    vae_model *m = linear_vae(VAE_LIK_GAUSSIAN_LEARNED);
    vae_dataset *ds;
    ck_assert_int_eq(vae_dataset_from_array(x, n, PD, NULL, VAE_ARRAY_BORROW, NULL, &ds, NULL), VAE_OK);
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    oc.lr = 1e-2f;
    vae_optimizer *o;
    ck_assert_int_eq(vae_optimizer_create(&oc, &o, NULL), VAE_OK);
    int epochs = tu_quick() ? 60 : 150;
    for (int e = 0; e < epochs; e++) {
        if (e == epochs * 2 / 3)
            vae_optimizer_set_lr(o, 1e-3f);
        ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 100, NULL, NULL, NULL), VAE_OK);
    }
    double ll;
    ck_assert_int_eq(vae_model_log_likelihood(m, x, tu_quick() ? 200 : n, tu_quick() ? 200 : 1000,
                                              NULL, &ll), VAE_OK);
    double tol = tu_quick() ? 1.0 : 0.5; /* quick: fewer epochs and a subset of the data */
    ck_assert_msg(fabs(ll - ml) < tol, "trained VAE log p(x) %.4f vs PPCA maximum likelihood %.4f",
                  ll, ml);
    vae_optimizer_free(o);
    vae_dataset_free(ds);
    vae_model_free(m);
    free(x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("estimators");
    TCase *tc = tcase_create("oracles");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_unbiased_vs_quadrature);
    tcase_add_test(tc, test_ppca_exact_posterior);
    tcase_add_test(tc, test_ppca_trained_reaches_ml);
    suite_add_tcase(s, tc);
    TCase *mn = tcase_create("mnist");
    tcase_set_timeout(mn, 600);
    tcase_add_unchecked_fixture(mn, trained_setup, trained_teardown);
    tcase_add_test(mn, test_variance_ordering_mnist);
    tcase_add_test(mn, test_bound_ordering);
    suite_add_tcase(s, mn);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
