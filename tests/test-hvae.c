/* Hierarchical VAEs (docs/hierarchical.md): the ladder op's gradients, the
 * training loss's gradients for every parameter tensor (bottom-up and
 * ladder), the importance-sampled log-likelihood against the closed-form
 * marginal of a linear-Gaussian two-layer model, the bound ordering,
 * checkpoints, sampling, per-layer statistics and the refusals. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "libvae/vae.h"
#include "models/model.h"
#include "tensor/rng.h"
#include "testutil.h"

/* ---- the ladder combination op ------------------------------------------------ */

/* Finite differences of sum(c * y) for y = merge(...) (mean or log-variance),
 * with mh, lh one row per example and mp, lp one per sample (broadcast). */
static void check_merge(int which)
{
    const int n = 3, L = 2, K = 4;
    vg_graph *g = vg_new(L);
    float mh[12], lh[12], mp[24], lp[24], c[24];
    vt_rng r;
    vt_rng_seed(&r, 7, 1);
    vt_rng_normal(&r, mh, 12);
    vt_rng_normal(&r, lh, 12);
    vt_rng_normal(&r, mp, 24);
    vt_rng_normal(&r, lp, 24);
    vt_rng_normal(&r, c, 24);
    /* Inputs with gradients: the bottom-up pair one row per example, the prior
     * one row per sample (the op broadcasts the first). */
    int a = vg_input(g, VG_ROWS_BATCH, 0, K), b = vg_input(g, VG_ROWS_BATCH, 0, K);
    int p = vg_input(g, VG_ROWS_SAMPLES, 0, K), q = vg_input(g, VG_ROWS_SAMPLES, 0, K);
    int ids[4] = {a, b, p, q};
    for (int t = 0; t < 4; t++)
        g->nodes[ids[t]].need_grad = 1;
    int y = vg_ladder_merge(g, a, b, p, q, which);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(vg_set_batch(g, n), 0);
    /* The output follows the samples: n * L rows. */
    ck_assert_int_eq(g->nodes[y].rows, n * L);
    float *in_vals[4] = {mh, lh, mp, lp};
    for (int t = 0; t < 4; t++) /* copied, not bound: these inputs own gradient buffers */
        memcpy(g->nodes[ids[t]].val, in_vals[t], (size_t)g->nodes[ids[t]].rows * K * sizeof(float));
    float *grads[4] = {g->nodes[a].grad, g->nodes[b].grad, g->nodes[p].grad, g->nodes[q].grad};
    float *vals[4] = {g->nodes[a].val, g->nodes[b].val, g->nodes[p].val, g->nodes[q].val};
    int sizes[4] = {12, 12, 24, 24};
    vg_forward(g, y);
    vg_node *yn = &g->nodes[y];
    for (int k = 0; k < n * L * K; k++)
        yn->grad[k] = c[k];
    yn->grad_ready = 1;
    for (int t = 0; t < 4; t++)
        g->nodes[ids[t]].grad_ready = 0;
    vg_ladder_merge_bwd(g, yn);
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < sizes[t]; k++) {
            float keep = vals[t][k];
            double f[2];
            for (int s = 0; s < 2; s++) {
                vals[t][k] = keep + (s ? -1e-2f : 1e-2f);
                vg_forward(g, y);
                double acc = 0.0;
                for (int j = 0; j < n * L * K; j++)
                    acc += (double)c[j] * yn->val[j];
                f[s] = acc;
            }
            vals[t][k] = keep;
            double fd = (f[0] - f[1]) / 2e-2;
            ck_assert_msg(fabs(fd - grads[t][k]) < 2e-3 * (1.0 + fabs(fd)),
                          "merge %d input %d[%d]: fd %g, backward %g", which, t, k, fd,
                          (double)grads[t][k]);
        }
    /* The formula itself: var_q = 1 / (1/var_h + 1/var_p), mu_q = (mh/var_h + mp/var_p) var_q. */
    vg_forward(g, y);
    for (int rr = 0; rr < n * L; rr++)
        for (int j = 0; j < K; j++) {
            int i = rr / L;
            double vh = exp(lh[i * K + j]), vp = exp(lp[rr * K + j]);
            double vq = 1.0 / (1.0 / vh + 1.0 / vp);
            double mq = (mh[i * K + j] / vh + mp[rr * K + j] / vp) * vq;
            double want = which ? log(vq) : mq;
            ck_assert_msg(fabs(yn->val[rr * K + j] - want) < 1e-5 * (1.0 + fabs(want)),
                          "merge %d row %d: %g vs %g", which, rr, yn->val[rr * K + j], want);
        }
    vg_free(g);
}

START_TEST(test_ladder_merge_op)
{
    check_merge(0);
    check_merge(1);
}
END_TEST

/* ---- models ------------------------------------------------------------------ */

static vae_model *make(int inference, int likelihood, uint64_t seed, const char *enc,
                       const char *dec, const char *hier, int D, int K1, int K2)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.latent_dim = K1;
    c.n_hidden = 1;
    c.hidden[0] = 6;
    c.activation = VAE_ACT_TANH;
    c.likelihood = likelihood;
    c.latent_layers = 2;
    c.latent_sizes[1] = K2;
    c.inference = inference;
    c.encoder = enc;
    c.decoder = dec;
    c.hier_network = hier;
    c.seed = seed;
    vae_model *m = NULL;
    vae_error err;
    int rc = vae_model_create(&c, &m, &err);
    ck_assert_msg(rc == VAE_OK, "create: %s", err.message);
    return m;
}

static void random_data(float *x, size_t n, uint64_t seed, int binary)
{
    vt_rng r;
    vt_rng_seed(&r, seed, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = binary ? (vt_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f) : (float)vt_rng_uniform(&r);
}

/* The training loss (keyed noise: the same eps at every call) and its gradient. */
static double loss_at(vae_model *m, const float *x, size_t n)
{
    vm_noise noise = {1, 99, 0};
    vae_elbo_stats st;
    double norm2;
    ck_assert_int_eq(vm_compute_gradients(m, x, NULL, n, &noise, &st, &norm2), VAE_OK);
    return st.loss;
}

static void check_fd(int inference, int likelihood)
{
    const int D = 5, n = 4;
    vae_model *m = make(inference, likelihood, 3, NULL, NULL, NULL, D, 3, 2);
    /* Not at the zero-initialised prior heads: a generic point. */
    vt_rng r;
    vt_rng_seed(&r, 5, 1);
    for (size_t i = 0; i < m->P.total; i++)
        m->P.val[i] += 0.3f * (float)(vt_rng_uniform(&r) - 0.5);
    float x[20];
    random_data(x, sizeof x / sizeof x[0], 11, likelihood == VAE_LIK_BERNOULLI);
    loss_at(m, x, n);
    float *an = malloc(m->P.total * sizeof *an);
    memcpy(an, m->P.grad, m->P.total * sizeof *an);
    int tensors = 0;
    for (int t = 0; t < m->P.n; t++) {
        const vn_param *p = &m->P.p[t];
        size_t cnt = (size_t)p->rows * p->cols;
        for (size_t k = 0; k < cnt; k += (cnt > 3 ? cnt / 3 : 1)) {
            size_t i = p->offset + k;
            float keep = m->P.val[i];
            const float h = 1e-2f;
            m->P.val[i] = keep + h;
            double up = loss_at(m, x, n);
            m->P.val[i] = keep - h;
            double down = loss_at(m, x, n);
            m->P.val[i] = keep;
            double fd = (up - down) / (2.0 * h);
            ck_assert_msg(fabs(fd - an[i]) < 3e-3 + 2e-2 * fabs(fd),
                          "inference %d: %s[%zu]: fd %.6g, backward %.6g", inference, p->name, k,
                          fd, (double)an[i]);
        }
        tensors++;
    }
    /* every tensor was checked, the extra layers' among them */
    ck_assert_int_eq(tensors, m->P.n);
    int found_enc2 = 0, found_prior = 0;
    for (int t = 0; t < m->P.n; t++) {
        found_enc2 |= strncmp(m->P.p[t].name, "enc.l2.", 7) == 0;
        found_prior |= strncmp(m->P.p[t].name, "prior.l1.", 9) == 0;
    }
    ck_assert(found_enc2 && found_prior);
    free(an);
    vae_model_free(m);
}

START_TEST(test_fd_bottom_up)
{
    check_fd(VAE_INFER_BOTTOM_UP, VAE_LIK_BERNOULLI);
    check_fd(VAE_INFER_BOTTOM_UP, VAE_LIK_GAUSSIAN_LEARNED);
}
END_TEST

START_TEST(test_fd_ladder)
{
    check_fd(VAE_INFER_LADDER, VAE_LIK_BERNOULLI);
    check_fd(VAE_INFER_LADDER, VAE_LIK_GAUSSIAN_LEARNED);
}
END_TEST

/* ---- the linear-Gaussian model: p(x) in closed form ----------------------------
 * With identity networks, p(z_1|z_2) = N(z_2 A + a, diag e^s) (A = prior.l1.mu.W,
 * a = its bias, s = prior.l1.logvar.b, the logvar weights zero), z_2 ~ N(0, I)
 * and p(x|z_1) = N(z_1 W + b, sigma^2 I) (W = dec.out.W):
 *   x ~ N(a W + b, W^T (A^T A + diag e^s) W + sigma^2 I). */

static float *param(vae_model *m, const char *name, int *rows, int *cols)
{
    for (int t = 0; t < m->P.n; t++)
        if (strcmp(m->P.p[t].name, name) == 0) {
            if (rows)
                *rows = m->P.p[t].rows;
            if (cols)
                *cols = m->P.p[t].cols;
            return vn_val(&m->P, t);
        }
    ck_abort_msg("no parameter %s", name);
    return NULL;
}

enum { LG_D = 4, LG_K1 = 3, LG_K2 = 2 };

/* The parameters of the test model: a broad q (zero weights, log-variance 1). */
static void set_linear_gaussian(vae_model *m)
{
    memset(m->P.val, 0, m->P.total * sizeof(float));
    vt_rng r;
    vt_rng_seed(&r, 42, 1);
    const char *rnd[] = {"dec.out.W", "dec.out.b", "prior.l1.mu.W", "prior.l1.mu.b",
                         "prior.l1.logvar.b"};
    for (int k = 0; k < 5; k++) {
        int rows, cols;
        float *v = param(m, rnd[k], &rows, &cols);
        for (int i = 0; i < rows * cols; i++)
            v[i] = (float)(vt_rng_uniform(&r) * 1.6 - 0.8);
    }
    param(m, "enc.logvar.b", NULL, NULL)[0] = 1.0f;
    for (int j = 0; j < LG_K1; j++)
        param(m, "enc.logvar.b", NULL, NULL)[j] = 1.0f;
    for (int j = 0; j < LG_K2; j++)
        param(m, "enc.l2.logvar.b", NULL, NULL)[j] = 1.0f;
}

/* log N(x; mean, cov) of the model (drop_layer2: a wrong variant without z_2's part). */
static void exact_moments(vae_model *m, double mean[LG_D], double cov[LG_D][LG_D], int drop_layer2)
{
    const float *W = param(m, "dec.out.W", NULL, NULL), *b = param(m, "dec.out.b", NULL, NULL);
    const float *A = param(m, "prior.l1.mu.W", NULL, NULL);
    const float *a = param(m, "prior.l1.mu.b", NULL, NULL);
    const float *s = param(m, "prior.l1.logvar.b", NULL, NULL);
    double C1[LG_K1][LG_K1];
    for (int i = 0; i < LG_K1; i++)
        for (int j = 0; j < LG_K1; j++) {
            double acc = i == j ? exp(s[i]) : 0.0;
            for (int k = 0; k < LG_K2 && !drop_layer2; k++)
                acc += (double)A[k * LG_K1 + i] * A[k * LG_K1 + j];
            C1[i][j] = acc;
        }
    for (int d = 0; d < LG_D; d++) {
        double acc = b[d];
        for (int i = 0; i < LG_K1; i++)
            acc += (double)a[i] * W[i * LG_D + d];
        mean[d] = acc;
    }
    for (int d = 0; d < LG_D; d++)
        for (int e = 0; e < LG_D; e++) {
            double acc = d == e ? 1.0 : 0.0; /* sigma = 1 */
            for (int i = 0; i < LG_K1; i++)
                for (int j = 0; j < LG_K1; j++)
                    acc += (double)W[i * LG_D + d] * C1[i][j] * W[j * LG_D + e];
            cov[d][e] = acc;
        }
}

static double log_normal(const float *x, const double mean[LG_D], double cov[LG_D][LG_D])
{
    double Lc[LG_D][LG_D] = {{0}}, y[LG_D], logdet = 0.0, q = 0.0;
    for (int i = 0; i < LG_D; i++)
        for (int j = 0; j <= i; j++) {
            double acc = cov[i][j];
            for (int k = 0; k < j; k++)
                acc -= Lc[i][k] * Lc[j][k];
            Lc[i][j] = i == j ? sqrt(acc) : acc / Lc[j][j];
        }
    for (int i = 0; i < LG_D; i++) {
        double acc = x[i] - mean[i];
        for (int k = 0; k < i; k++)
            acc -= Lc[i][k] * y[k];
        y[i] = acc / Lc[i][i];
        q += y[i] * y[i];
        logdet += 2.0 * log(Lc[i][i]);
    }
    return -0.5 * (LG_D * log(6.283185307179586) + logdet + q);
}

static void check_linear_gaussian(int inference)
{
    enum { N = 6, R = 4, K_IS = 50000 };
    float x[N * LG_D];
    vt_rng rr;
    vt_rng_seed(&rr, 8, 1);
    vt_rng_normal(&rr, x, N * LG_D);
    vae_model *probe = make(inference, VAE_LIK_GAUSSIAN_FIXED, 1, "identity", "dense(4)",
                            "identity", LG_D, LG_K1, LG_K2);
    set_linear_gaussian(probe);
    double mean[LG_D], cov[LG_D][LG_D], wmean[LG_D], wcov[LG_D][LG_D];
    exact_moments(probe, mean, cov, 0);
    exact_moments(probe, wmean, wcov, 1);
    /* R independent importance-sampling runs (models differing only in seed,
     * hence in their estimation stream) with the same parameters. */
    double est[R][N];
    int rejected = 0;
    for (int k = 0; k < R; k++) {
        vae_model *m = make(inference, VAE_LIK_GAUSSIAN_FIXED, 100 + k, "identity", "dense(4)",
                            "identity", LG_D, LG_K1, LG_K2);
        memcpy(m->P.val, probe->P.val, m->P.total * sizeof(float));
        float ll[N];
        double mean_ll;
        ck_assert_int_eq(vae_model_log_likelihood(m, x, N, K_IS, ll, &mean_ll), VAE_OK);
        for (int i = 0; i < N; i++)
            est[k][i] = ll[i];
        vae_model_free(m);
    }
    for (int i = 0; i < N; i++) {
        double mu = 0.0, var = 0.0;
        for (int k = 0; k < R; k++)
            mu += est[k][i] / R;
        for (int k = 0; k < R; k++)
            var += (est[k][i] - mu) * (est[k][i] - mu) / (R - 1);
        /* The standard error of the mean of R runs, and a floor for float rounding. */
        double se = sqrt(var / R), tol = 5.0 * se + 2e-3;
        double exact = log_normal(x + i * LG_D, mean, cov);
        double wrong = log_normal(x + i * LG_D, wmean, wcov);
        ck_assert_msg(fabs(mu - exact) < tol,
                      "inference %d example %d: IS %.5f (se %.2g) vs exact %.5f", inference, i,
                      mu, se, exact);
        /* The test has the power to see z_2's contribution: the wrong
         * variant must fail the same check on most examples. */
        rejected += fabs(mu - wrong) >= tol;
        ck_assert_msg(se < 0.05, "example %d: se %.3g too large for a sharp test", i, se);
    }
    ck_assert_msg(rejected >= N / 2, "the wrong variant passes on %d of %d examples",
                  N - rejected, N);
    /* ELBO <= IWAE_10 <= IWAE_1000 <= log p(x) (averages over the examples). */
    double e1, e10, e1000, exact_mean = 0.0;
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_log_likelihood(probe, x, N, 10, NULL, &e10), VAE_OK);
    ck_assert_int_eq(vae_model_log_likelihood(probe, x, N, 1000, NULL, &e1000), VAE_OK);
    ck_assert_int_eq(vae_model_log_likelihood(probe, x, N, 1, NULL, &e1), VAE_OK);
    ck_assert_int_eq(vae_model_elbo(probe, x, N, NULL, &st), VAE_OK);
    for (int i = 0; i < N; i++)
        exact_mean += log_normal(x + i * LG_D, mean, cov) / N;
    ck_assert_msg(e10 < e1000 && e1000 < exact_mean + 0.01 && st.elbo < e1000,
                  "bounds: elbo %.4f, IWAE_1 %.4f, IWAE_10 %.4f, IWAE_1000 %.4f, exact %.4f",
                  st.elbo, e1, e10, e1000, exact_mean);
    vae_model_free(probe);
}

START_TEST(test_linear_gaussian_bottom_up)
{
    check_linear_gaussian(VAE_INFER_BOTTOM_UP);
}
END_TEST

START_TEST(test_linear_gaussian_ladder)
{
    check_linear_gaussian(VAE_INFER_LADDER);
}
END_TEST

/* ---- training, checkpoints, sampling, statistics ------------------------------ */

START_TEST(test_train_checkpoint_sample_stats)
{
    for (int inf = 0; inf < 2; inf++) {
        const int D = 12, n = 40;
        vae_model *m = make(inf, VAE_LIK_BERNOULLI, 9, NULL, NULL, NULL, D, 4, 3);
        float x[40 * 12];
        random_data(x, sizeof x / sizeof x[0], 13, 1);
        vae_optimizer_config oc;
        vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
        oc.lr = 1e-2f;
        vae_optimizer *opt = NULL;
        ck_assert_int_eq(vae_optimizer_create(&oc, &opt, NULL), VAE_OK);
        vae_elbo_stats first, last;
        for (int s = 0; s < 60; s++)
            ck_assert_int_eq(vae_model_train_step(m, opt, x, n, s == 0 ? &first : &last), VAE_OK);
        ck_assert_msg(last.loss < first.loss, "loss %g -> %g", first.loss, last.loss);
        /* checkpoint round trip: the same configuration and outputs */
        char path[512];
        tu_tmp_path(path, sizeof path, inf ? "hvae-ladder.ckpt" : "hvae-bu.ckpt");
        ck_assert_int_eq(vae_model_save(m, NULL, path), VAE_OK);
        vae_model *back = NULL;
        ck_assert_int_eq(vae_model_load(path, &back, NULL, NULL), VAE_OK);
        vae_model_config a, b;
        a.struct_size = b.struct_size = sizeof a;
        vae_model_get_config(m, &a);
        vae_model_get_config(back, &b);
        ck_assert_int_eq(b.latent_layers, 2);
        ck_assert_int_eq(b.latent_sizes[1], 3);
        ck_assert_int_eq(b.inference, inf);
        ck_assert_str_eq(a.hier_network, b.hier_network);
        float e1[40], e2[40], mu1[160], mu2[160];
        ck_assert_int_eq(vae_model_elbo(m, x, n, e1, NULL), VAE_OK);
        ck_assert_int_eq(vae_model_elbo(back, x, n, e2, NULL), VAE_OK);
        ck_assert_int_eq(memcmp(e1, e2, sizeof e1), 0);
        ck_assert_int_eq(vae_model_encode(m, x, n, mu1, NULL), VAE_OK);
        ck_assert_int_eq(vae_model_encode(back, x, n, mu2, NULL), VAE_OK);
        ck_assert_int_eq(memcmp(mu1, mu2, sizeof mu1), 0);
        double l1, l2;
        ck_assert_int_eq(vae_model_log_likelihood(m, x, 5, 50, NULL, &l1), VAE_OK);
        ck_assert_int_eq(vae_model_log_likelihood(back, x, 5, 50, NULL, &l2), VAE_OK);
        ck_assert(l1 == l2);
        /* sampling: shape and range */
        float smp[7 * 12];
        for (int i = 0; i < 7 * 12; i++)
            smp[i] = -1.0f;
        ck_assert_int_eq(vae_model_sample(back, 7, smp), VAE_OK);
        for (int i = 0; i < 7 * 12; i++)
            ck_assert(isfinite(smp[i]) && smp[i] >= 0.0f && smp[i] <= 1.0f);
        /* per-layer statistics: KLs sum to the ELBO's KL (same estimator up to MC noise) */
        vae_layer_stats ls[3];
        memset(ls, 0x5a, sizeof ls);
        ls[0].struct_size = sizeof ls[0];
        ck_assert_int_eq(vae_model_layer_stats(back, x, n, ls, 3), VAE_OK);
        vae_elbo_stats st;
        ck_assert_int_eq(vae_model_elbo(back, x, n, NULL, &st), VAE_OK);
        ck_assert_int_eq(ls[0].layer, 1);
        ck_assert_int_eq(ls[1].layer, 2);
        ck_assert_int_eq(ls[1].dims, 3);
        ck_assert(ls[0].kl >= 0.0 && ls[1].kl >= 0.0);
        ck_assert_msg(fabs(ls[0].kl + ls[1].kl - st.kl) < 0.15 * st.kl + 0.2,
                      "layer KLs %g + %g vs %g", ls[0].kl, ls[1].kl, st.kl);
        ck_assert(ls[0].active_units >= 0 && ls[0].active_units <= 4);
        ck_assert(ls[0].kl_dim_max >= ls[0].kl_dim_mean && ls[0].kl_dim_min <= ls[0].kl_dim_mean);
        /* the third struct is untouched */
        ck_assert_int_eq(((unsigned char *)&ls[2])[0], 0x5a);
        vae_model_free(back);
        vae_model_free(m);
        vae_optimizer_free(opt);
        remove(path);
    }
}
END_TEST

/* The plain VAE is unchanged and has one layer in layer_stats. */
START_TEST(test_plain_layer_stats)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = 10;
    c.latent_dim = 3;
    c.hidden[0] = 8;
    vae_model *m = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    float x[20 * 10];
    random_data(x, 200, 3, 1);
    vae_layer_stats ls[2];
    ls[0].struct_size = sizeof ls[0];
    ck_assert_int_eq(vae_model_layer_stats(m, x, 20, ls, 2), VAE_OK);
    vae_diagnostics d;
    d.struct_size = sizeof d;
    ck_assert_int_eq(vae_model_diagnostics(m, x, 20, &d, NULL, NULL), VAE_OK);
    ck_assert_msg(fabs(ls[0].kl - d.kl) < 1e-4 * (1.0 + d.kl), "%g vs %g", ls[0].kl, d.kl);
    ck_assert_int_eq(ls[0].active_units, d.active_units);
    vae_model_free(m);
}
END_TEST

START_TEST(test_refusals)
{
    struct {
        const char *field;
        void (*set)(vae_model_config *);
    } cases[] = {
        {"estimator", NULL}, {"free_bits", NULL}, {"capacity_gamma", NULL}, {"aggressive", NULL},
        {"posterior", NULL}, {"cond_dim", NULL}, {"latent_sizes[1]", NULL}, {"family", NULL},
        {"corruption", NULL}, {"latent_layers", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        vae_model_config c;
        vae_model_config_init(&c);
        c.input_dim = 10;
        c.latent_dim = 3;
        c.latent_layers = 2;
        c.latent_sizes[1] = 2;
        switch (k) {
        case 0: c.estimator = VAE_EST_SCORE; break;
        case 1: c.free_bits = 0.5f; break;
        case 2: c.capacity_gamma = 10.0f; break;
        case 3: c.aggressive = 1; break;
        case 4: c.posterior = VAE_POST_LAPLACE; c.kl_mode = VAE_KL_MONTE_CARLO; break;
        case 5: c.cond_dim = 2; break;
        case 6: c.latent_sizes[1] = 0; break;
        case 7: c.family = VAE_FAMILY_AE; break;
        case 8: c.corruption = VAE_CORRUPT_MASK; c.corruption_level = 0.5f; break;
        default: c.latent_layers = VAE_MAX_LATENT_LAYERS + 1; break;
        }
        vae_model *m = NULL;
        vae_error err;
        ck_assert_int_ne(vae_model_create(&c, &m, &err), VAE_OK);
        ck_assert_msg(strstr(err.message, cases[k].field) != NULL, "case %zu: '%s'", k,
                      err.message);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hvae");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_ladder_merge_op);
    tcase_add_test(tc, test_fd_bottom_up);
    tcase_add_test(tc, test_fd_ladder);
    tcase_add_test(tc, test_linear_gaussian_bottom_up);
    tcase_add_test(tc, test_linear_gaussian_ladder);
    tcase_add_test(tc, test_train_checkpoint_sample_stats);
    tcase_add_test(tc, test_plain_layer_stats);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
