/* PCA (src/pca, vae_pca_*): the eigensolver against closed forms, the
 * eigen-equation, orthonormality, the PCA optimum (reconstruction error =
 * sum of the discarded eigenvalues), projection/reconstruction
 * consistency, degenerate spectra, argument errors, and MNIST figures. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libvae/vae.h"
#include "pca/symeig.h"
#include "tensor/rng.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

/* A random d x d orthogonal matrix (rows q_j), Gram-Schmidt of normals, twice. */
static void random_orthogonal(double *q, size_t d, uint64_t seed)
{
    vt_rng r;
    vt_rng_seed(&r, seed, 7);
    float z;
    for (size_t i = 0; i < d * d; i++) {
        vt_rng_normal(&r, &z, 1);
        q[i] = z;
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < d; i++) {
            for (size_t j = 0; j < i; j++) {
                double dot = 0;
                for (size_t t = 0; t < d; t++)
                    dot += q[i * d + t] * q[j * d + t];
                for (size_t t = 0; t < d; t++)
                    q[i * d + t] -= dot * q[j * d + t];
            }
            double nrm = 0;
            for (size_t t = 0; t < d; t++)
                nrm += q[i * d + t] * q[i * d + t];
            for (size_t t = 0; t < d; t++)
                q[i * d + t] /= sqrt(nrm);
        }
}

/* Data with sample covariance exactly Q^T diag(lambda) Q (divisor n) and
 * mean m: x_i = m + sum_j sqrt(lambda_j) w_j(i) q_j, where w_j(i) =
 * (-1)^popcount(i & j) (Walsh functions j = 1..d: zero mean, orthogonal,
 * squared norm n, for n = 2^p > d). */
static float *closed_form_data(size_t n, size_t d, const double *q, const double *lambda,
                               const double *mean)
{
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < d; t++) {
            double v = mean[t];
            for (size_t j = 0; j < d; j++) {
                double w = (__builtin_popcountll(i & (j + 1)) & 1) ? -1.0 : 1.0;
                v += sqrt(lambda[j]) * w * q[j * d + t];
            }
            x[i * d + t] = (float)v;
        }
    return x;
}

/* Random data: independent normals with scales 3 * 0.8^j, rotated. */
static float *random_data(size_t n, size_t d, uint64_t seed)
{
    double *q = malloc(d * d * sizeof *q);
    random_orthogonal(q, d, seed + 1);
    vt_rng r;
    vt_rng_seed(&r, seed, 3);
    float *x = calloc(n * d, sizeof *x), *z = malloc(d * sizeof *z);
    for (size_t i = 0; i < n; i++) {
        vt_rng_normal(&r, z, d);
        for (size_t j = 0; j < d; j++) {
            double s = 3.0 * pow(0.8, (double)j) * z[j];
            for (size_t t = 0; t < d; t++)
                x[i * d + t] += (float)(s * q[j * d + t]);
        }
        for (size_t t = 0; t < d; t++)
            x[i * d + t] += 0.5f + 0.01f * (float)t;
    }
    free(q);
    free(z);
    return x;
}

/* The covariance of float rows in double (divisor n), as a reference. */
static double *covariance_ref(const float *x, size_t n, size_t d)
{
    double *m = calloc(d, sizeof *m), *c = calloc(d * d, sizeof *c);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < d; t++)
            m[t] += x[i * d + t];
    for (size_t t = 0; t < d; t++)
        m[t] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++)
                c[a * d + b] += (x[i * d + a] - m[a]) * (x[i * d + b] - m[b]);
    for (size_t i = 0; i < d * d; i++)
        c[i] /= (double)n;
    free(m);
    return c;
}

/* max_j ||C v_j - lambda_j v_j|| for the k rows of w (float vectors). */
static double max_residual(const double *c, size_t d, const float *w, const double *lambda,
                           int k)
{
    double worst = 0;
    for (int j = 0; j < k; j++) {
        double s = 0;
        for (size_t a = 0; a < d; a++) {
            double cv = 0;
            for (size_t b = 0; b < d; b++)
                cv += c[a * d + b] * w[(size_t)j * d + b];
            double r = cv - lambda[j] * w[(size_t)j * d + a];
            s += r * r;
        }
        worst = fmax(worst, sqrt(s));
    }
    return worst;
}

/* max |W W^T - I|. */
static double orthonormality_error(const float *w, size_t d, int k)
{
    double worst = 0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double dot = 0;
            for (size_t t = 0; t < d; t++)
                dot += (double)w[(size_t)i * d + t] * w[(size_t)j * d + t];
            worst = fmax(worst, fabs(dot - (i == j)));
        }
    return worst;
}

/* 1 - |<v, q>| for a float v and double q of length d. */
static double misalignment(const float *v, const double *q, size_t d)
{
    double dot = 0;
    for (size_t t = 0; t < d; t++)
        dot += v[t] * q[t];
    return 1.0 - fabs(dot);
}

static vae_dataset *dataset(const float *x, size_t n, size_t d)
{
    vae_dataset *ds = NULL;
    ck_assert_int_eq(vae_dataset_from_array(x, n, d, NULL, VAE_ARRAY_COPY, NULL, &ds, NULL),
                     VAE_OK);
    return ds;
}

static vae_pca *fit(const vae_dataset *ds, int k)
{
    vae_pca *p = NULL;
    vae_error err;
    int st = vae_pca_fit(ds, k, NULL, &p, &err);
    ck_assert_msg(st == VAE_OK, "pca_fit: %s", err.message);
    return p;
}

/* ---- the eigensolver alone ---------------------------------------------- */

START_TEST(symeig_solves_small_closed_forms)
{
    /* [[2,1],[1,2]]: eigenvalues 1 and 3, vectors (1,-1)/sqrt2 and (1,1)/sqrt2. */
    double a[4] = {2, 1, 1, 2}, w[2], e[2];
    ck_assert_int_eq(vpca_symeig(a, 2, w, e, 30), 0);
    double lo = fmin(w[0], w[1]), hi = fmax(w[0], w[1]);
    ck_assert_double_eq_tol(lo, 1.0, 1e-14);
    ck_assert_double_eq_tol(hi, 3.0, 1e-14);
    int ih = w[1] > w[0];
    ck_assert_double_eq_tol(fabs(a[ih * 2] + a[ih * 2 + 1]) / sqrt(2.0), 1.0, 1e-14);
    /* 1 x 1 and a diagonal matrix with a zero */
    double b[1] = {-4}, wb[1], eb[1];
    ck_assert_int_eq(vpca_symeig(b, 1, wb, eb, 30), 0);
    ck_assert_double_eq(wb[0], -4.0);
    ck_assert_double_eq(b[0], 1.0);
    /* The tridiagonal (-1, 2, -1) of size 50: lambda_j = 2 - 2 cos(j pi / 51). */
    size_t n = 50;
    double *t = calloc(n * n, sizeof *t), *wt = malloc(n * sizeof *wt), *et = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        t[i * n + i] = 2;
        if (i)
            t[i * n + i - 1] = t[(i - 1) * n + i] = -1;
    }
    ck_assert_int_eq(vpca_symeig(t, n, wt, et, 30), 0);
    for (size_t j = 1; j <= n; j++) {
        double want = 2 - 2 * cos((double)j * 3.14159265358979323846 / 51.0), best = 1e9;
        for (size_t i = 0; i < n; i++)
            best = fmin(best, fabs(wt[i] - want));
        ck_assert_msg(best < 1e-13, "eigenvalue %zu off by %g", j, best);
    }
    free(t);
    free(wt);
    free(et);
}
END_TEST

/* ---- PCA against closed forms -------------------------------------------- */

START_TEST(pca_recovers_a_known_covariance)
{
    const size_t n = 64, d = 12;
    double q[12 * 12], lambda[12], mean[12];
    random_orthogonal(q, d, 11);
    for (size_t j = 0; j < d; j++) {
        lambda[j] = 10.0 * pow(0.6, (double)j); /* distinct, 10 .. 0.036 */
        mean[j] = 1.0 - 0.1 * (double)j;
    }
    float *x = closed_form_data(n, d, q, lambda, mean);
    vae_dataset *ds = dataset(x, n, d);
    vae_pca *p = fit(ds, (int)d);
    ck_assert_uint_eq(vae_pca_dim(p), d);
    ck_assert_uint_eq(vae_pca_components_count(p), d);
    const float *w = vae_pca_components(p), *m = vae_pca_mean(p);
    const double *ev = vae_pca_explained_variance(p);
    double total = 0;
    for (size_t j = 0; j < d; j++) {
        total += lambda[j];
        ck_assert_double_eq_tol(m[j], mean[j], 1e-6);
        ck_assert_msg(fabs(ev[j] - lambda[j]) < 1e-5 * lambda[0], "lambda_%zu = %.9g, want %.9g",
                      j, ev[j], lambda[j]);
        ck_assert_msg(misalignment(w + j * d, q + j * d, d) < 1e-6, "component %zu: 1-|cos| %g",
                      j, misalignment(w + j * d, q + j * d, d));
        /* the sign convention: the entry of largest magnitude is positive */
        size_t big = 0;
        for (size_t t = 1; t < d; t++)
            if (fabsf(w[j * d + t]) > fabsf(w[j * d + big]))
                big = t;
        ck_assert_msg(w[j * d + big] > 0, "component %zu: largest entry negative", j);
    }
    ck_assert_double_eq_tol(vae_pca_total_variance(p), total, 1e-5 * total);

    /* The same comparison against a perturbed eigenvector must fail: the
     * tolerance above is tight enough to notice a 1e-3 rotation. */
    double qbad[12];
    for (size_t t = 0; t < d; t++)
        qbad[t] = q[t] * cos(1e-3) + q[d + t] * sin(1e-3);
    ck_assert_msg(misalignment(w, qbad, d) > 1e-7, "a perturbed eigenvector passed the test");
    vae_pca_free(p);
    vae_dataset_free(ds);
    free(x);
}
END_TEST

START_TEST(eigen_equation_orthonormality_and_the_pca_optimum)
{
    const size_t n = 600, d = 40;
    float *x = random_data(n, d, 5);
    vae_dataset *ds = dataset(x, n, d);
    double *c = covariance_ref(x, n, d);
    vae_pca *all = fit(ds, (int)d);
    const double *lam = vae_pca_explained_variance(all);
    double res = max_residual(c, d, vae_pca_components(all), lam, (int)d);
    printf("pca: d = %zu, max ||C v - lambda v|| = %.3g (lambda_max %.3g), "
           "max |W W^T - I| = %.3g\n", d, res, lam[0],
           orthonormality_error(vae_pca_components(all), d, (int)d));
    ck_assert_msg(res < 1e-5 * lam[0], "residual %g", res);
    ck_assert_double_lt(orthonormality_error(vae_pca_components(all), d, (int)d), 1e-6);
    for (size_t j = 1; j < d; j++)
        ck_assert_double_ge(lam[j - 1], lam[j]);
    double trace = 0, sum = 0;
    for (size_t j = 0; j < d; j++) {
        trace += c[j * d + j];
        sum += lam[j];
    }
    ck_assert_double_eq_tol(vae_pca_total_variance(all), trace, 1e-5 * trace);
    ck_assert_double_eq_tol(sum, trace, 1e-5 * trace);

    /* A wrong variant: the residual check must catch a perturbed vector. */
    float *bad = malloc(d * d * sizeof *bad);
    memcpy(bad, vae_pca_components(all), d * d * sizeof *bad);
    bad[0] += 1e-3f;
    ck_assert_msg(max_residual(c, d, bad, lam, (int)d) > 1e-5 * lam[0],
                  "a perturbed eigenvector passed the residual test");
    free(bad);

    /* The optimum: mse of the rank-k reconstruction = sum_{j>k} lambda_j. */
    for (int k = 1; k <= (int)d; k += 13) {
        vae_pca *p = fit(ds, k);
        double mse, tail = 0;
        for (size_t j = (size_t)k; j < d; j++)
            tail += lam[j];
        ck_assert_int_eq(vae_pca_reconstruction_error(p, ds, &mse), VAE_OK);
        ck_assert_msg(fabs(mse - tail) < 1e-5 * trace, "k = %d: mse %.8g, tail %.8g", k, mse,
                      tail);
        /* the same components as the full fit */
        for (int j = 0; j < k; j++)
            ck_assert_double_eq_tol(vae_pca_explained_variance(p)[j], lam[j], 1e-9 * trace);
        vae_pca_free(p);
    }
    vae_pca_free(all);
    vae_dataset_free(ds);
    free(c);
    free(x);
}
END_TEST

START_TEST(project_decode_and_reconstruct_agree)
{
    const size_t n = 300, d = 30;
    const int k = 7;
    float *x = random_data(n, d, 9);
    vae_dataset *ds = dataset(x, n, d);
    vae_pca *p = fit(ds, k);
    float *codes = malloc(n * k * sizeof *codes), *dec = malloc(n * d * sizeof *dec);
    float *rec = malloc(n * d * sizeof *rec), *codes2 = malloc(n * k * sizeof *codes2);
    ck_assert_int_eq(vae_pca_project(p, x, n, codes), VAE_OK);
    ck_assert_int_eq(vae_pca_decode(p, codes, n, dec), VAE_OK);
    ck_assert_int_eq(vae_pca_reconstruct(p, x, n, rec), VAE_OK);
    for (size_t i = 0; i < n * d; i++)
        ck_assert_float_eq_tol(rec[i], dec[i], 1e-5f);
    /* codes by hand: (x - m) . w_j */
    const float *w = vae_pca_components(p), *m = vae_pca_mean(p);
    for (size_t i = 0; i < n; i += 37)
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (size_t t = 0; t < d; t++)
                s += ((double)x[i * d + t] - m[t]) * w[(size_t)j * d + t];
            ck_assert_double_eq_tol(codes[i * k + (size_t)j], s, 1e-5);
        }
    /* projecting a reconstruction gives the same codes (P is a projector) */
    ck_assert_int_eq(vae_pca_project(p, rec, n, codes2), VAE_OK);
    for (size_t i = 0; i < n * (size_t)k; i++)
        ck_assert_float_eq_tol(codes2[i], codes[i], 1e-4f);
    /* in place gives the same as out of place */
    float *inplace = malloc(n * d * sizeof *inplace);
    memcpy(inplace, x, n * d * sizeof *x);
    ck_assert_int_eq(vae_pca_reconstruct(p, inplace, n, inplace), VAE_OK);
    ck_assert_int_eq(memcmp(inplace, rec, n * d * sizeof *rec), 0);
    /* the error of the reconstruction by hand */
    double mse = 0, hand = 0;
    ck_assert_int_eq(vae_pca_reconstruction_error(p, ds, &mse), VAE_OK);
    for (size_t i = 0; i < n * d; i++)
        hand += ((double)x[i] - rec[i]) * ((double)x[i] - rec[i]);
    ck_assert_double_eq_tol(mse, hand / (double)n, 1e-4 * mse);
    free(inplace);
    free(codes);
    free(codes2);
    free(dec);
    free(rec);
    vae_pca_free(p);
    vae_dataset_free(ds);
    free(x);
}
END_TEST

START_TEST(degenerate_spectra)
{
    /* eigenvalues {5,5,5,1,1,0,...}: a repeated top, rank 5 of d = 10 */
    const size_t n = 32, d = 10;
    double q[100], lambda[10] = {5, 5, 5, 1, 1, 0, 0, 0, 0, 0}, mean[10] = {0};
    random_orthogonal(q, d, 21);
    float *x = closed_form_data(n, d, q, lambda, mean);
    vae_dataset *ds = dataset(x, n, d);
    vae_pca *p = fit(ds, (int)d);
    const double *ev = vae_pca_explained_variance(p);
    const float *w = vae_pca_components(p);
    for (size_t j = 0; j < d; j++) {
        ck_assert_msg(fabs(ev[j] - lambda[j]) < 1e-5 * 5, "lambda_%zu = %g", j, ev[j]);
        ck_assert_double_ge(ev[j], 0.0);
    }
    ck_assert_double_lt(orthonormality_error(w, d, (int)d), 1e-6);
    /* Any basis of a repeated eigenvalue is right: compare the projectors
     * onto the top-3 space, W3^T W3 vs Q3^T Q3. */
    double worst = 0;
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) {
            double pw = 0, pq = 0;
            for (size_t j = 0; j < 3; j++) {
                pw += (double)w[j * d + a] * w[j * d + b];
                pq += q[j * d + a] * q[j * d + b];
            }
            worst = fmax(worst, fabs(pw - pq));
        }
    ck_assert_msg(worst < 1e-5, "top-3 projector differs by %g", worst);
    double mse;
    vae_pca *p5 = fit(ds, 5);
    ck_assert_int_eq(vae_pca_reconstruction_error(p5, ds, &mse), VAE_OK);
    ck_assert_double_lt(mse, 1e-9);
    vae_pca_free(p5);
    vae_pca_free(p);
    vae_dataset_free(ds);
    free(x);

    /* constant rows: zero covariance; components still an orthonormal basis */
    float c[5 * 4];
    for (size_t i = 0; i < 20; i++)
        c[i] = 0.25f * (float)(i % 4);
    ds = dataset(c, 5, 4);
    p = fit(ds, 4);
    ck_assert_double_eq(vae_pca_total_variance(p), 0.0);
    for (int j = 0; j < 4; j++)
        ck_assert_double_eq(vae_pca_explained_variance(p)[j], 0.0);
    ck_assert_double_lt(orthonormality_error(vae_pca_components(p), 4, 4), 1e-6);
    ck_assert_int_eq(vae_pca_reconstruction_error(p, ds, &mse), VAE_OK);
    ck_assert_double_eq(mse, 0.0);
    vae_pca_free(p);
    vae_dataset_free(ds);

    /* one row, one column */
    float one = 3.0f;
    ds = dataset(&one, 1, 1);
    p = fit(ds, 1);
    ck_assert_float_eq(vae_pca_mean(p)[0], 3.0f);
    ck_assert_float_eq(vae_pca_components(p)[0], 1.0f);
    vae_pca_free(p);
    vae_dataset_free(ds);
}
END_TEST

START_TEST(options_and_stored_values)
{
    const size_t n = 200, d = 8;
    float *x = random_data(n, d, 31);
    for (size_t i = 0; i < n * d; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i])); /* into (0,1) for binarisation */
    vae_dataset *ds = dataset(x, n, d);
    vae_pca *p = fit(ds, 3);
    /* binarisation applies to batches, not to PCA: the same fit */
    vae_dataset_options o;
    vae_dataset_options_init(&o);
    o.binarize = VAE_BINARIZE_THRESHOLD;
    vae_dataset *bin = NULL;
    ck_assert_int_eq(vae_dataset_from_array(x, n, d, NULL, VAE_ARRAY_COPY, &o, &bin, NULL),
                     VAE_OK);
    vae_pca *pb = fit(bin, 3);
    ck_assert_int_eq(memcmp(vae_pca_components(p), vae_pca_components(pb), 3 * d * 4), 0);
    vae_pca_free(pb);
    vae_dataset_free(bin);
    /* center = 0: the eigenvectors of x^T x / n, mean reported as 0 */
    vae_pca_options po;
    vae_pca_options_init(&po);
    ck_assert_uint_eq(po.struct_size, sizeof po);
    ck_assert_int_eq(po.center, 1);
    ck_assert_int_eq(po.max_iterations, 60);
    po.center = 0;
    vae_pca *pu = NULL;
    ck_assert_int_eq(vae_pca_fit(ds, 1, &po, &pu, NULL), VAE_OK);
    ck_assert_float_eq(vae_pca_mean(pu)[0], 0.0f);
    double second = 0; /* trace of x^T x / n */
    for (size_t i = 0; i < n * d; i++)
        second += (double)x[i] * x[i];
    ck_assert_double_eq_tol(vae_pca_total_variance(pu), second / n, 1e-5 * second / n);
    vae_pca_free(pu);
    /* an options struct of an older, smaller size keeps the later defaults */
    po.struct_size = offsetof(vae_pca_options, max_iterations);
    po.max_iterations = -5; /* not read */
    ck_assert_int_eq(vae_pca_fit(ds, 1, &po, &pu, NULL), VAE_OK);
    vae_pca_free(pu);
    vae_pca_free(p);
    vae_dataset_free(ds);
    free(x);
}
END_TEST

START_TEST(bad_arguments_are_refused_with_a_message)
{
    const size_t n = 50, d = 6;
    float *x = random_data(n, d, 41);
    vae_dataset *ds = dataset(x, n, d);
    vae_pca *p = (vae_pca *)1;
    vae_error err;
    ck_assert_int_eq(vae_pca_fit(NULL, 1, NULL, &p, &err), VAE_ERR_NULL);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(vae_pca_fit(ds, 1, NULL, NULL, &err), VAE_ERR_NULL);
    ck_assert_int_eq(vae_pca_fit(ds, 0, NULL, &p, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "k = 0"));
    ck_assert_int_eq(vae_pca_fit(ds, 7, NULL, &p, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "1..d = 6"));
    vae_pca_options po;
    vae_pca_options_init(&po);
    po.max_iterations = 0;
    ck_assert_int_eq(vae_pca_fit(ds, 1, &po, &p, &err), VAE_ERR_INVALID);
    po.max_iterations = 60;
    po.center = 2;
    ck_assert_int_eq(vae_pca_fit(ds, 1, &po, &p, &err), VAE_ERR_INVALID);
    po.struct_size = 0;
    ck_assert_int_eq(vae_pca_fit(ds, 1, &po, &p, &err), VAE_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "vae_pca_options_init"));
    /* absurd d */
    float *wide = calloc(5000, sizeof *wide);
    vae_dataset *dw = dataset(wide, 1, 5000);
    ck_assert_int_eq(vae_pca_fit(dw, 1, NULL, &p, &err), VAE_ERR_LIMIT);
    vae_dataset_free(dw);
    free(wide);
    /* values whose squares overflow float32 */
    float big[8] = {1e30f, -1e30f, 2e30f, -2e30f, 1e30f, 3e30f, -1e30f, 0};
    vae_dataset *db = dataset(big, 4, 2);
    ck_assert_int_eq(vae_pca_fit(db, 1, NULL, &p, &err), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(err.message, "overflow"));
    vae_dataset_free(db);
    /* an eigensolver allowed too few iterations says so */
    float *x40 = random_data(100, 40, 43);
    vae_dataset *d40 = dataset(x40, 100, 40);
    vae_pca_options_init(&po);
    po.max_iterations = 1;
    int st = vae_pca_fit(d40, 3, &po, &p, &err);
    ck_assert_msg(st == VAE_ERR_DIVERGED || st == VAE_OK, "status %d", st);
    if (st == VAE_ERR_DIVERGED)
        ck_assert_ptr_nonnull(strstr(err.message, "max_iterations"));
    else
        vae_pca_free(p);
    vae_dataset_free(d40);
    free(x40);

    p = fit(ds, 2);
    float codes[2 * 2], out[2 * 6];
    ck_assert_int_eq(vae_pca_project(NULL, x, 2, codes), VAE_ERR_NULL);
    ck_assert_int_eq(vae_pca_project(p, NULL, 2, codes), VAE_ERR_NULL);
    ck_assert_int_eq(vae_pca_project(p, x, 0, codes), VAE_ERR_INVALID);
    float nan_row[6] = {0, 0, 0, NAN, 0, 0};
    ck_assert_int_eq(vae_pca_project(p, nan_row, 1, codes), VAE_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(vae_pca_errmsg(p), "x[0][3]"));
    ck_assert_int_eq(vae_pca_reconstruct(p, nan_row, 1, out), VAE_ERR_NONFINITE);
    float nan_codes[2] = {INFINITY, 0};
    ck_assert_int_eq(vae_pca_decode(p, nan_codes, 1, out), VAE_ERR_NONFINITE);
    ck_assert_int_eq(vae_pca_project(p, x, ((size_t)1 << 28) + 1, codes), VAE_ERR_LIMIT);
    double mse;
    float other[3] = {1, 2, 3};
    vae_dataset *d3 = dataset(other, 1, 3);
    ck_assert_int_eq(vae_pca_reconstruction_error(p, d3, &mse), VAE_ERR_SHAPE);
    ck_assert_int_eq(vae_pca_reconstruction_error(p, ds, NULL), VAE_ERR_NULL);
    vae_dataset_free(d3);
    ck_assert_str_eq(vae_pca_errmsg(NULL), "pca is NULL");
    ck_assert_ptr_null(vae_pca_components(NULL));
    ck_assert_ptr_null(vae_pca_mean(NULL));
    ck_assert_ptr_null(vae_pca_explained_variance(NULL));
    ck_assert_uint_eq(vae_pca_dim(NULL), 0);
    ck_assert_uint_eq(vae_pca_components_count(NULL), 0);
    ck_assert_double_eq(vae_pca_total_variance(NULL), 0.0);
    vae_pca_free(NULL);
    vae_pca_free(p);
    vae_dataset_free(ds);
    free(x);
}
END_TEST

/* ---- MNIST ------------------------------------------------------------------ */

START_TEST(mnist_thirty_components)
{
    char file[4096];
    if (tu_quick())
        return; /* valgrind and sanitizer runs: 5 Gflop of sgemm is too slow there */
    if (!tu_mnist_dir()) {
        tu_skip("mnist_thirty_components", "MNIST not found (set VAE_MNIST_DIR)");
        return;
    }
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    ck_assert_int_eq(vae_dataset_load_idx(tu_mnist_file(file, "t10k-images-idx3-ubyte.gz"), NULL,
                                          NULL, &all, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 0, 9000, &train, NULL), VAE_OK);
    ck_assert_int_eq(vae_dataset_subset(all, 9000, 1000, &test, NULL), VAE_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vae_pca *p = fit(train, 30);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double explained = 0, total = vae_pca_total_variance(p), train_mse, test_mse;
    for (int j = 0; j < 30; j++)
        explained += vae_pca_explained_variance(p)[j];
    ck_assert_int_eq(vae_pca_reconstruction_error(p, train, &train_mse), VAE_OK);
    ck_assert_int_eq(vae_pca_reconstruction_error(p, test, &test_mse), VAE_OK);
    printf("mnist pca: k = 30 of 784, first 9000 digits: total variance %.4f, explained %.4f "
           "(ratio %.4f), lambda_1 %.4f; train mse %.4f (sum of discarded %.4f); held-out "
           "(last 1000) mse %.4f per example; fit %.2f s\n",
           total, explained, explained / total, vae_pca_explained_variance(p)[0], train_mse,
           total - explained, test_mse, secs);
    ck_assert_double_gt(explained / total, 0.6);
    ck_assert_double_lt(explained / total, 0.9);
    ck_assert_double_eq_tol(train_mse, total - explained, 1e-4 * total);
    ck_assert_double_gt(test_mse, 5.0);
    ck_assert_double_lt(test_mse, 30.0);
    vae_pca_free(p);
    vae_dataset_free(all);
    vae_dataset_free(train);
    vae_dataset_free(test);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pca");
    TCase *eig = tcase_create("eigen");
    tcase_add_test(eig, symeig_solves_small_closed_forms);
    tcase_add_test(eig, pca_recovers_a_known_covariance);
    tcase_add_test(eig, eigen_equation_orthonormality_and_the_pca_optimum);
    tcase_add_test(eig, project_decode_and_reconstruct_agree);
    tcase_add_test(eig, degenerate_spectra);
    tcase_add_test(eig, options_and_stored_values);
    tcase_add_test(eig, bad_arguments_are_refused_with_a_message);
    tcase_set_timeout(eig, 120);
    suite_add_tcase(s, eig);
    TCase *mn = tcase_create("mnist");
    tcase_add_test(mn, mnist_thirty_components);
    tcase_set_timeout(mn, 300);
    suite_add_tcase(s, mn);
    return tu_run_suite(s);
}
