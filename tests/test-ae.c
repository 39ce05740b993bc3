/* Autoencoders and denoising (src/models/ae.c, src/objectives/ae.c): the
 * row-sum-of-squares op and the AE loss against finite differences, the
 * calls an AE supports or refuses, checkpoints of an AE and of a denoising
 * VAE, fresh deterministic corruption, a linear AE against PCA (the
 * reconstruction error and the principal subspace) and, on MNIST, denoising
 * (case "mnist", suite slow). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "models/model.h"
#include "pca/symeig.h"
#include "tensor/rng.h"
#include "testutil.h"

#define D 12

static vae_model *ae_with(int likelihood, int activation, float code_l2, uint64_t seed)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.family = VAE_FAMILY_AE;
    c.input_dim = D;
    c.latent_dim = 3;
    c.hidden[0] = 8;
    c.seed = seed;
    c.likelihood = likelihood;
    c.activation = activation;
    c.code_l2 = code_l2;
    return tu_model(&c);
}

static vae_optimizer *adam(float lr)
{
    return tu_optimizer(VAE_OPT_ADAM, lr);
}

static float *unit_rows(size_t n, size_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    vt_rng r;
    vt_rng_seed(&r, seed, 7);
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)vt_rng_uniform(&r);
    return x;
}

START_TEST(test_rowsumsq_fd)
{
    /* L = mean_r a sum_j x_rj^2 against central differences. */
    vg_graph *g = vg_new(1);
    float val[12], grad[12];
    for (int i = 0; i < 12; i++)
        val[i] = 0.3f * (float)i - 1.4f;
    int x = vg_param(g, 3, 4, val, grad);
    int y = vg_rowsumsq(g, x, 0.7f);
    int l = vg_mean(g, y);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(vg_set_batch(g, 1), 0);
    vg_forward(g, -1);
    vg_backward(g, l);
    for (int i = 0; i < 12; i++) {
        double h = 1e-3, keep = val[i];
        val[i] = (float)(keep + h);
        vg_forward(g, -1);
        double lp = g->nodes[l].val[0];
        val[i] = (float)(keep - h);
        vg_forward(g, -1);
        double lm = g->nodes[l].val[0];
        val[i] = (float)keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(fd - grad[i]) < 1e-3, "x[%d]: fd %g, grad %g", i, fd, (double)grad[i]);
        ck_assert(fabs(grad[i] - 2 * 0.7 * keep / 3.0) < 1e-5);
    }
    vg_free(g);
}
END_TEST

/* Central differences of the AE loss through set_params, for a few entries
 * of every parameter tensor (tanh: no kinks). */
static void ae_fd_check(int likelihood)
{
    vae_model *m = ae_with(likelihood, VAE_ACT_TANH, 0.3f, 6);
    size_t P = vae_model_param_count(m), n = 7;
    float *x = unit_rows(n, D, 4);
    float *p = malloc(P * sizeof *p), *g = malloc(P * sizeof *g);
    ck_assert_int_eq(vae_model_get_params(m, p, P), VAE_OK);
    ck_assert_int_eq(vae_model_compute_gradients(m, x, n, NULL), VAE_OK);
    memcpy(g, vae_model_gradient_data(m), P * sizeof *g);
    size_t T = vae_model_param_tensor_count(m);
    ck_assert_int_eq((int)T, 8); /* enc.0, enc.mu, dec.0, dec.out: W and b */
    for (size_t t = 0; t < T; t++) {
        const char *name;
        size_t rows, cols, off;
        ck_assert_int_eq(vae_model_param_tensor_info(m, t, &name, &rows, &cols, &off), VAE_OK);
        ck_assert_ptr_null(strstr(name, "logvar"));
        for (size_t k = 0; k < rows * cols; k += 1 + rows * cols / 5) {
            size_t i = off + k;
            const double h = 1e-2;
            float keep = p[i];
            vae_elbo_stats sp, sm;
            p[i] = keep + (float)h;
            vae_model_set_params(m, p, P);
            vae_model_compute_gradients(m, x, n, &sp);
            p[i] = keep - (float)h;
            vae_model_set_params(m, p, P);
            vae_model_compute_gradients(m, x, n, &sm);
            p[i] = keep;
            double fd = (sp.loss - sm.loss) / (2 * h);
            ck_assert_msg(fabs(fd - g[i]) <= 2e-3 + 2e-2 * fabs(fd), "%s[%zu]: fd %g, grad %g",
                          name, k, fd, (double)g[i]);
        }
    }
    free(p);
    free(g);
    free(x);
    vae_model_free(m);
}

START_TEST(test_ae_loss_fd_gaussian) { ae_fd_check(VAE_LIK_GAUSSIAN_FIXED); }
END_TEST

START_TEST(test_ae_loss_fd_bernoulli) { ae_fd_check(VAE_LIK_BERNOULLI); }
END_TEST

START_TEST(test_ae_calls)
{
    vae_model *m = ae_with(VAE_LIK_GAUSSIAN_FIXED, VAE_ACT_RELU, 0.5f, 2);
    size_t n = 5;
    float *x = unit_rows(n, D, 9);
    float mu[5 * 3], lv[5 * 3], r1[5 * D], r2[5 * D];
    memset(lv, 0x7f, sizeof lv);
    ck_assert_int_eq(vae_model_encode(m, x, n, mu, lv), VAE_OK);
    for (size_t i = 0; i < n * 3; i++)
        ck_assert(lv[i] == 0.0f);
    ck_assert_int_eq(vae_model_reconstruct(m, x, n, r1), VAE_OK);
    ck_assert_int_eq(vae_model_denoise(m, x, n, r2), VAE_OK);
    ck_assert(memcmp(r1, r2, sizeof r1) == 0);
    /* The figures: rec = mean log N(x; x_hat, 1), kl = 0.5 mean sum z^2, loss = -elbo. */
    vae_elbo_stats st;
    ck_assert_int_eq(vae_model_elbo(m, x, n, NULL, &st), VAE_OK);
    double pen = 0.0, rec = 0.0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            pen += 0.5 * mu[i * 3 + j] * mu[i * 3 + j] / (double)n;
    for (size_t i = 0; i < n * D; i++)
        rec += (-0.5 * (x[i] - r1[i]) * (x[i] - r1[i]) - 0.91893853320467274) / (double)n;
    ck_assert_msg(fabs(st.kl - pen) < 1e-4 && fabs(st.rec - rec) < 1e-3, "kl %g/%g rec %g/%g",
                  st.kl, pen, st.rec, rec);
    ck_assert(fabs(st.loss + st.elbo) < 1e-9);
    /* The calls that need a posterior or a prior. */
    float out[5 * D];
    ck_assert_int_eq(vae_model_sample(m, 2, out), VAE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "autoencoder"));
    ck_assert_int_eq(vae_model_log_likelihood(m, x, n, 5, NULL, NULL), VAE_ERR_UNSUPPORTED);
    vae_grad_stats gs;
    ck_assert_int_eq(vae_model_gradient_stats(m, x, n, NULL, 3, NULL, NULL, &gs, NULL),
                     VAE_ERR_UNSUPPORTED);
    vae_diagnostics dg;
    dg.struct_size = sizeof dg;
    ck_assert_int_eq(vae_model_diagnostics(m, x, n, &dg, NULL, NULL), VAE_ERR_UNSUPPORTED);
    double mi;
    int active;
    ck_assert_int_eq(vae_model_aggressive_update(m, x, n, &mi, &active), VAE_ERR_UNSUPPORTED);
    /* Regression: layer_stats read the absent log-variance head (a crash). */
    vae_layer_stats ls[1];
    ls[0].struct_size = sizeof ls[0];
    ck_assert_int_eq(vae_model_layer_stats(m, x, n, ls, 1), VAE_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(vae_model_errmsg(m), "autoencoder"));
    /* Configurations that do not apply. */
    vae_model_config c;
    c.struct_size = sizeof c;
    vae_model_get_config(m, &c);
    ck_assert_int_eq(c.family, VAE_FAMILY_AE);
    vae_model_config bad = c;
    bad.objective = VAE_OBJ_IWAE;
    vae_error err;
    vae_model *m2 = NULL;
    ck_assert_int_eq(vae_model_create(&bad, &m2, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "IWAE"));
    bad = c;
    bad.family = VAE_FAMILY_VAE;
    ck_assert_int_eq(vae_model_create(&bad, &m2, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "code_l2"));
    bad = c;
    bad.corruption = VAE_CORRUPT_MASK;
    bad.corruption_level = 1.5f;
    ck_assert_int_eq(vae_model_create(&bad, &m2, &err), VAE_ERR_INVALID);
    /* A VAE of the same networks has the log-variance head in addition. */
    bad = c;
    bad.family = VAE_FAMILY_VAE;
    bad.code_l2 = 0.0f;
    ck_assert_int_eq(vae_model_create(&bad, &m2, &err), VAE_OK);
    ck_assert_uint_eq(vae_model_param_count(m2), vae_model_param_count(m) + 8 * 3 + 3);
    vae_model_free(m2);
    free(x);
    vae_model_free(m);
}
END_TEST

static vae_model *denoising_vae(uint64_t seed, int corruption, float level)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.latent_dim = 3;
    c.hidden[0] = 8;
    c.seed = seed;
    c.corruption = corruption;
    c.corruption_level = level;
    return tu_model(&c);
}

START_TEST(test_denoising_fresh_and_deterministic)
{
    vae_model *a = denoising_vae(3, VAE_CORRUPT_MASK, 0.5f);
    vae_model *b = denoising_vae(3, VAE_CORRUPT_MASK, 0.5f);
    vae_model *clean = denoising_vae(3, VAE_CORRUPT_NONE, 0.0f);
    vae_optimizer *oa = adam(1e-2f), *ob = adam(1e-2f), *oc = adam(1e-2f);
    float *x = unit_rows(20, D, 1);
    for (size_t i = 0; i < 20 * D; i++)
        x[i] = x[i] < 0.4f ? 1.0f : 0.0f;
    const float *buf = NULL;
    vae_elbo_stats s1, s2;
    for (int s = 0; s < 6; s++) {
        ck_assert_int_eq(vae_model_train_step(a, oa, x, 20, &s1), VAE_OK);
        ck_assert_int_eq(vae_model_train_step(b, ob, x, 20, &s2), VAE_OK);
        ck_assert_int_eq(vae_model_train_step(clean, oc, x, 20, NULL), VAE_OK);
        ck_assert(s1.loss == s2.loss);
        if (s == 0)
            buf = a->noisy;
        ck_assert_ptr_eq(a->noisy, buf); /* no allocation after the first batch */
    }
    /* The corruption is fresh every step: the last batch's copy differs from a new one. */
    float *again = malloc(20 * D * sizeof *again);
    memcpy(again, a->noisy, 20 * D * sizeof *again);
    ck_assert_int_eq(vae_model_train_step(a, oa, x, 20, NULL), VAE_OK);
    ck_assert(memcmp(again, a->noisy, 20 * D * sizeof *again) != 0);
    size_t P = vae_model_param_count(a);
    ck_assert(memcmp(vae_model_param_data(b), vae_model_param_data(clean), P * 4) != 0);
    /* Evaluation is on the clean input: the same figure as the model without corruption's
     * graph would give with the same parameters. */
    ck_assert_int_eq(vae_model_set_params(clean, vae_model_param_data(b), P), VAE_OK);
    vae_elbo_stats e1, e2;
    ck_assert_int_eq(vae_model_elbo(b, x, 20, NULL, &e1), VAE_OK);
    ck_assert_int_eq(vae_model_elbo(clean, x, 20, NULL, &e2), VAE_OK);
    ck_assert(e1.elbo == e2.elbo);
    free(again);
    free(x);
    vae_optimizer_free(oa);
    vae_optimizer_free(ob);
    vae_optimizer_free(oc);
    vae_model_free(a);
    vae_model_free(b);
    vae_model_free(clean);
}
END_TEST

START_TEST(test_denoising_keyed_shards_and_set_training)
{
    /* Keyed gradients (MPI's shards): the corruption of a row does not depend
     * on which rows share its batch, so the mean of two halves' gradients is
     * the whole batch's. */
    vae_model *m = denoising_vae(5, VAE_CORRUPT_GAUSSIAN, 0.3f);
    float *x = unit_rows(8, D, 3);
    size_t P = vae_model_param_count(m);
    float *whole = malloc(P * sizeof *whole), *half = malloc(P * sizeof *half);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 8, 7, 0, NULL), VAE_OK);
    memcpy(whole, vae_model_gradient_data(m), P * sizeof *whole);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x, 4, 7, 0, NULL), VAE_OK);
    memcpy(half, vae_model_gradient_data(m), P * sizeof *half);
    ck_assert_int_eq(vae_model_compute_gradients_keyed(m, x + 4 * D, 4, 7, 4, NULL), VAE_OK);
    const float *g2 = vae_model_gradient_data(m);
    for (size_t i = 0; i < P; i++)
        ck_assert_msg(fabsf(0.5f * (half[i] + g2[i]) - whole[i]) <= 1e-4f + 1e-3f * fabsf(whole[i]),
                      "param %zu", i);
    /* The corruption is a training setting: switch it off and on again. */
    vae_model_config c;
    c.struct_size = sizeof c;
    vae_model_get_config(m, &c);
    c.corruption = VAE_CORRUPT_NONE;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_OK);
    ck_assert_int_eq(m->train_e.x_in, m->train_e.x);
    c.corruption = VAE_CORRUPT_MASK;
    c.corruption_level = 0.25f;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_OK);
    ck_assert_int_ne(m->train_e.x_in, m->train_e.x);
    vae_optimizer *o = adam(1e-3f);
    ck_assert_int_eq(vae_model_train_step(m, o, x, 8, NULL), VAE_OK);
    c.code_l2 = 1.0f;
    ck_assert_int_eq(vae_model_set_training(m, &c), VAE_ERR_INVALID);
    vae_optimizer_free(o);
    free(whole);
    free(half);
    free(x);
    vae_model_free(m);
}
END_TEST

START_TEST(test_convolutional_ae)
{
    /* The text forms, convolutional: 1x8x8 images, a 4x4x4 feature map, a 6-d code. */
    vae_model_config c;
    vae_model_config_init(&c);
    c.family = VAE_FAMILY_AE;
    c.input_dim = 64;
    c.input_shape[0] = 1, c.input_shape[1] = 8, c.input_shape[2] = 8;
    c.latent_dim = 6;
    c.encoder = "conv2d(4,4,2,1) relu flatten";
    c.decoder = "dense(64) relu reshape(4,4,4) convT2d(1,4,2,1)";
    c.corruption = VAE_CORRUPT_MASK;
    c.corruption_level = 0.3f;
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    float *x = unit_rows(10, 64, 2), out[10 * 64];
    vae_optimizer *o = adam(1e-2f);
    vae_elbo_stats first, st;
    ck_assert_int_eq(vae_model_train_step(m, o, x, 10, &first), VAE_OK);
    for (int s = 0; s < 30; s++)
        ck_assert_int_eq(vae_model_train_step(m, o, x, 10, &st), VAE_OK);
    ck_assert(st.loss < first.loss);
    ck_assert_int_eq(vae_model_denoise(m, x, 10, out), VAE_OK);
    vae_optimizer_free(o);
    free(x);
    vae_model_free(m);
}
END_TEST

/* Save after 3 steps, load, then 3 more steps on both: same outputs, same bits. */
static void round_trip(vae_model *m, const char *name)
{
    vae_optimizer *o = adam(1e-2f);
    float *x = unit_rows(16, D, 5);
    for (size_t i = 0; i < 16 * D; i++)
        x[i] = x[i] < 0.5f ? 1.0f : 0.0f;
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(vae_model_train_step(m, o, x, 16, NULL), VAE_OK);
    char buf[4096];
    const char *path = tu_tmp_path(buf, sizeof buf, name);
    ck_assert_int_eq(vae_model_save(m, o, path), VAE_OK);
    vae_model *l = NULL;
    vae_optimizer *lo = NULL;
    vae_error err;
    ck_assert_msg(vae_model_load(path, &l, &lo, &err) == VAE_OK, "%s", err.message);
    vae_model_config a, b;
    a.struct_size = b.struct_size = sizeof a;
    vae_model_get_config(m, &a);
    vae_model_get_config(l, &b);
    ck_assert(tu_config_equal(&a, &b));
    float r1[16 * D], r2[16 * D];
    ck_assert_int_eq(vae_model_reconstruct(m, x, 16, r1), VAE_OK);
    ck_assert_int_eq(vae_model_reconstruct(l, x, 16, r2), VAE_OK);
    ck_assert(memcmp(r1, r2, sizeof r1) == 0);
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(vae_model_train_step(m, o, x, 16, NULL), VAE_OK);
        ck_assert_int_eq(vae_model_train_step(l, lo, x, 16, NULL), VAE_OK);
    }
    size_t P = vae_model_param_count(m);
    ck_assert(memcmp(vae_model_param_data(m), vae_model_param_data(l), P * 4) == 0);
    remove(path);
    free(x);
    vae_optimizer_free(o);
    vae_optimizer_free(lo);
    vae_model_free(l);
    vae_model_free(m);
}

START_TEST(test_checkpoint_ae)
{
    round_trip(ae_with(VAE_LIK_BERNOULLI, VAE_ACT_RELU, 0.1f, 4), "ae.ckpt");
}
END_TEST

START_TEST(test_checkpoint_denoising_vae)
{
    round_trip(denoising_vae(8, VAE_CORRUPT_SALT_PEPPER, 0.2f), "dvae.ckpt");
}
END_TEST

START_TEST(test_checkpoint_denoising_ae)
{
    vae_model_config c;
    vae_model_config_init(&c);
    vae_model *m = NULL;
    c.family = VAE_FAMILY_AE;
    c.input_dim = D;
    c.latent_dim = 3;
    c.hidden[0] = 8;
    c.corruption = VAE_CORRUPT_GAUSSIAN;
    c.corruption_level = 0.3f;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    round_trip(m, "dae.ckpt");
}
END_TEST

/* ---- linear autoencoder versus PCA ---------------------------------------- */

#define LD 16
#define LK 3
#define LN 2000

/* Largest principal angle (radians) between the row spaces of a (k x d)
 * and b (k x d, orthonormal rows): orthonormalise a's rows (Gram-Schmidt in
 * double), M = Qa Qb^T, cos of the largest angle = the smallest singular
 * value of M = sqrt(the smallest eigenvalue of M M^T). */
static double largest_angle(const float *a, const float *b, int k, int d)
{
    double q[LK * LD], mm[LK * LK], w[LK], e[LK], m[LK * LK];
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < d; j++)
            q[i * d + j] = a[i * d + j];
        for (int p = 0; p < i; p++) {
            double dot = 0.0;
            for (int j = 0; j < d; j++)
                dot += q[i * d + j] * q[p * d + j];
            for (int j = 0; j < d; j++)
                q[i * d + j] -= dot * q[p * d + j];
        }
        double nrm = 0.0;
        for (int j = 0; j < d; j++)
            nrm += q[i * d + j] * q[i * d + j];
        for (int j = 0; j < d; j++)
            q[i * d + j] /= sqrt(nrm);
    }
    for (int i = 0; i < k; i++)
        for (int p = 0; p < k; p++) {
            double s = 0.0;
            for (int j = 0; j < d; j++)
                s += q[i * d + j] * b[p * d + j];
            m[i * k + p] = s;
        }
    for (int i = 0; i < k; i++)
        for (int p = 0; p < k; p++) {
            double s = 0.0;
            for (int j = 0; j < k; j++)
                s += m[i * k + j] * m[p * k + j];
            mm[i * k + p] = s;
        }
    ck_assert_int_eq(vpca_symeig(mm, (size_t)k, w, e, 60), 0);
    double lo = w[0];
    for (int i = 1; i < k; i++)
        lo = w[i] < lo ? w[i] : lo;
    double c = sqrt(lo > 0.0 ? lo : 0.0);
    return acos(c < 1.0 ? c : 1.0);
}

START_TEST(test_linear_ae_matches_pca)
{
    /* Rank-3 signal (standard deviations 3, 2, 1.5 along random directions)
     * plus isotropic noise of sd 0.1, mean 0.5: PCA's rank-3 error is about
     * 13 * 0.01 = 0.13 per example. A linear AE (no hidden layers, identity
     * activations, Gaussian sigma 1: loss = squared error / 2 + const),
     * trained to convergence, must come within 1% of it, and its decoder's
     * rows must span PCA's subspace to 2 degrees. */
    vt_rng r;
    vt_rng_seed(&r, 11, 1);
    float dirs[LK * LD], *x = malloc((size_t)LN * LD * sizeof *x);
    vt_rng_normal(&r, dirs, LK * LD);
    const float sd[LK] = {3.0f, 2.0f, 1.5f};
    for (int i = 0; i < LN; i++) {
        float s[LK], noise[LD];
        vt_rng_normal(&r, s, LK);
        vt_rng_normal(&r, noise, LD);
        for (int j = 0; j < LD; j++) {
            double v = 0.5 + 0.1 * noise[j];
            for (int k = 0; k < LK; k++)
                v += sd[k] * s[k] * dirs[k * LD + j] / 4.0;
            x[(size_t)i * LD + j] = (float)v;
        }
    }
    vae_dataset *ds = NULL;
    ck_assert_int_eq(vae_dataset_from_array(x, LN, LD, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL),
                     VAE_OK);
    vae_pca *pca = NULL;
    ck_assert_int_eq(vae_pca_fit(ds, LK, NULL, &pca, NULL), VAE_OK);
    double pca_err;
    ck_assert_int_eq(vae_pca_reconstruction_error(pca, ds, &pca_err), VAE_OK);

    vae_model_config c;
    vae_model_config_init(&c);
    c.family = VAE_FAMILY_AE;
    c.input_dim = LD;
    c.latent_dim = LK;
    c.n_hidden = 0; /* encoder: the code head alone; decoder: dense(LD) */
    c.likelihood = VAE_LIK_GAUSSIAN_FIXED;
    c.seed = 5;
    vae_model *m = NULL;
    vae_error err;
    ck_assert_msg(vae_model_create(&c, &m, &err) == VAE_OK, "%s", err.message);
    vae_optimizer *o = adam(1e-2f);
    int epochs = 0;
    for (; epochs < 300; epochs++) {
        if (epochs == 150)
            vae_optimizer_set_lr(o, 1e-3f);
        if (epochs == 250)
            vae_optimizer_set_lr(o, 2e-4f);
        ck_assert_int_eq(vae_model_train_epoch(m, o, ds, 100, NULL, NULL, NULL), VAE_OK);
    }
    float *rec = malloc((size_t)LN * LD * sizeof *rec);
    ck_assert_int_eq(vae_model_reconstruct(m, x, LN, rec), VAE_OK);
    double ae_err = 0.0;
    for (size_t i = 0; i < (size_t)LN * LD; i++)
        ae_err += ((double)x[i] - rec[i]) * ((double)x[i] - rec[i]);
    ae_err /= LN;
    /* The decoder's weights: dec.out.W is [LK, LD] (y = z W + b): its rows span the image. */
    const float *W = NULL;
    for (size_t t = 0; t < vae_model_param_tensor_count(m); t++) {
        const char *name;
        size_t rows, cols, off;
        vae_model_param_tensor_info(m, t, &name, &rows, &cols, &off);
        if (strcmp(name, "dec.out.W") == 0) {
            ck_assert(rows == LK && cols == LD);
            W = vae_model_param_data(m) + off;
        }
    }
    ck_assert_ptr_nonnull(W);
    const double degrees = 180.0 / 3.14159265358979323846;
    double angle = largest_angle(W, vae_pca_components(pca), LK, LD) * degrees;
    ck_assert_msg(ae_err <= 1.01 * pca_err && angle < 2.0,
                  "linear AE %.5f vs PCA %.5f (ratio %.4f), largest angle %.3f degrees", ae_err,
                  pca_err, ae_err / pca_err, angle);
    free(rec);
    free(x);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_pca_free(pca);
    vae_dataset_free(ds);
}
END_TEST

/* ---- denoising MNIST (case "mnist": suite slow) ------------------------------ */

/* Mean over examples of the squared error summed over pixels. */
static double mse(const float *a, const float *b, size_t n, size_t d)
{
    double s = 0.0;
    for (size_t i = 0; i < n * d; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / (double)n;
}

static void denoise_mnist(int kind, float level)
{
    char img[4096];
    if (tu_quick() || !tu_mnist_file(img, "t10k-images-idx3-ubyte.gz")) {
        tu_skip("denoise_mnist", "no MNIST files");
        return;
    }
    vae_dataset *all = NULL, *train = NULL;
    ck_assert_int_eq(vae_dataset_load_idx(img, NULL, NULL, &all, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 0, 9000, &train, NULL), VAE_OK);
    const float *test = vae_dataset_data(all) + (size_t)9000 * 784;
    size_t n = 500;
    vae_model_config c;
    vae_model_config_init(&c);
    c.family = VAE_FAMILY_AE;
    c.latent_dim = 30;
    c.corruption = kind;
    c.corruption_level = level;
    c.threads = 2;
    vae_model *m = NULL;
    ck_assert_int_eq(vae_model_create(&c, &m, NULL), VAE_OK);
    vae_optimizer *o = adam(2e-3f); /* as examples/ae-compare.c */
    for (int e = 0; e < 10; e++)
        ck_assert_int_eq(vae_model_train_epoch(m, o, train, 100, NULL, NULL, NULL), VAE_OK);
    float *noisy = malloc(n * 784 * sizeof *noisy), *out = malloc(n * 784 * sizeof *out);
    ck_assert_int_eq(vae_corrupt(kind, level, 99, test, n, 784, noisy, NULL), VAE_OK);
    ck_assert_int_eq(vae_model_denoise(m, noisy, n, out), VAE_OK);
    double before = mse(noisy, test, n, 784), after = mse(out, test, n, 784);
    ck_assert_msg(after <= before / 3.0, "kind %d: corrupted %.2f, denoised %.2f", kind, before,
                  after);
    free(noisy);
    free(out);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_dataset_free(train);
    vae_dataset_free(all);
}

START_TEST(test_denoise_mnist_mask) { denoise_mnist(VAE_CORRUPT_MASK, 0.5f); }
END_TEST

START_TEST(test_denoise_mnist_gaussian) { denoise_mnist(VAE_CORRUPT_GAUSSIAN, 0.5f); }
END_TEST

int main(void)
{
    Suite *s = suite_create("ae");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_rowsumsq_fd);
    tcase_add_test(tc, test_ae_loss_fd_gaussian);
    tcase_add_test(tc, test_ae_loss_fd_bernoulli);
    tcase_add_test(tc, test_ae_calls);
    tcase_add_test(tc, test_denoising_fresh_and_deterministic);
    tcase_add_test(tc, test_denoising_keyed_shards_and_set_training);
    tcase_add_test(tc, test_convolutional_ae);
    tcase_add_test(tc, test_checkpoint_ae);
    tcase_add_test(tc, test_checkpoint_denoising_vae);
    tcase_add_test(tc, test_checkpoint_denoising_ae);
    tcase_add_test(tc, test_linear_ae_matches_pca);
    suite_add_tcase(s, tc);
    TCase *mn = tcase_create("mnist");
    tcase_set_timeout(mn, 600);
    /* Tagged so that the unit run can leave it out (CK_EXCLUDE_TAGS=mnist in
     * tests/meson.build; Check has no CK_EXCLUDE_CASE). */
    tcase_set_tags(mn, "mnist");
    tcase_add_test(mn, test_denoise_mnist_mask);
    tcase_add_test(mn, test_denoise_mnist_gaussian);
    suite_add_tcase(s, mn);
    return tu_run_suite(s);
}
