/* Posterior-collapse diagnostics: per-dimension KL, active units and the
 * mutual information I(x; z) estimate of He et al. 2019.
 *
 * With q(z_d|x) a location-scale family with location mu_d and scale
 * s_d = e^(lv_d/2), and the prior N(0, 1) per dimension:
 *
 *   KL_d = -H(q_d) + log(2 pi)/2 + (mu_d^2 + Var q_d)/2        (exact)
 *     Gaussian: H = log(2 pi e)/2 + log s,  Var = s^2
 *     Laplace:  H = 1 + log(2 s),           Var = 2 s^2
 *     logistic: H = log s + 2,              Var = pi^2 s^2 / 3
 *   A_d  = Var_x(mu_d(x)) (n - 1 denominator); active when A_d > 0.01
 *          (E_q[z_d] = mu_d for these symmetric families)
 *   MI   = (1/n) sum_i [ -H(q(z|x_i)) - log (1/n) sum_j q(z_i|x_j) ],
 *          z_i ~ q(z|x_i), the aggregate posterior over the same n examples
 *          (He et al.'s calc_mi), log-sum-exp over j.
 *
 * A conditional model (c given) uses q(z|x_i, c_i) throughout and measures
 * the KL to its prior p(z_d|c) = N(mu_p, e^lv_p) (N(0, 1) for the standard
 * prior), still exact since E_q[(z - mu_p)^2] = (mu - mu_p)^2 + Var q_d:
 *
 *   KL_d = -H(q_d) + log(2 pi)/2 + lv_p/2 + ((mu_d - mu_p)^2 + Var q_d) e^-lv_p / 2
 *
 * and the MI is that between z and the pair (x, c): the aggregate posterior
 * is the mixture of the n examples' q(z|x_j, c_j).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "models/model.h"

#define HALF_LOG_2PI 0.91893853320467274178
#define PI_SQ 9.8696044010893586188

/* Entropy of one dimension of q with log-variance parameter lv. */
static double entropy_1d(int family, double lv)
{
    double log_s = 0.5 * lv;
    switch (family) {
    case VAE_POST_LAPLACE: return 1.0 + log(2.0) + log_s;
    case VAE_POST_LOGISTIC: return log_s + 2.0;
    default: return HALF_LOG_2PI + 0.5 + log_s;
    }
}

/* Variance of one dimension of q. */
static double variance_1d(int family, double lv)
{
    double s2 = exp(lv);
    switch (family) {
    case VAE_POST_LAPLACE: return 2.0 * s2;
    case VAE_POST_LOGISTIC: return PI_SQ * s2 / 3.0;
    default: return s2;
    }
}

/* log phi(u) of the family's standard base density. */
static double base_logpdf(int family, double u)
{
    switch (family) {
    case VAE_POST_LAPLACE: return -log(2.0) - fabs(u);
    case VAE_POST_LOGISTIC: {
        double a = fabs(u); /* symmetric: log phi(u) = -|u| - 2 log(1 + e^-|u|) */
        return -a - 2.0 * log1p(exp(-a));
    }
    default: return -HALF_LOG_2PI - 0.5 * u * u;
    }
}

/* He et al.'s MI estimate from encoder outputs mu, lv (n x K). */
static double mutual_info(vae_model *m, const float *mu, const float *lv, size_t n, size_t K,
                          float *z, double *logs, double *lw)
{
    int fam = m->cfg.posterior;
    vt_rng rng;
    vt_rng_seed(&rng, m->cfg.seed, VM_STREAM_EVAL);
    vg_family_sample(fam, &rng, z, n * K);
    double *inv = logs + n * K; /* 1 / s */
    for (size_t i = 0; i < n * K; i++) {
        logs[i] = 0.5 * (double)lv[i];
        inv[i] = exp(-logs[i]);
        z[i] = (float)((double)mu[i] + exp(logs[i]) * z[i]);
    }
    double total = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *zi = z + i * K;
        double neg_h = 0.0;
        for (size_t d = 0; d < K; d++)
            neg_h -= entropy_1d(fam, lv[i * K + d]);
        double mx = -INFINITY;
        for (size_t j = 0; j < n; j++) {
            const float *mj = mu + j * K;
            const double *sj = logs + j * K, *ij = inv + j * K;
            double acc = 0.0;
            for (size_t d = 0; d < K; d++) {
                double u = ((double)zi[d] - mj[d]) * ij[d];
                acc += base_logpdf(fam, u) - sj[d];
            }
            lw[j] = acc;
            if (acc > mx)
                mx = acc;
        }
        double s = 0.0;
        for (size_t j = 0; j < n; j++)
            s += exp(lw[j] - mx);
        double log_qz = mx + log(s) - log((double)n);
        total += neg_h - log_qz;
    }
    return total / (double)n;
}

/* KL(q_d || N(mu_p, e^lv_p)) of one dimension, q_d with location u and log-variance parameter l. */
static double kl_to_prior_1d(int family, double u, double l, double mu_p, double lv_p)
{
    double dev = u - mu_p;
    return -entropy_1d(family, l) + HALF_LOG_2PI + 0.5 * lv_p +
           0.5 * (dev * dev + variance_1d(family, l)) * exp(-lv_p);
}

int vm_diagnostics(vae_model *m, const float *x, const float *c, size_t n, vae_diagnostics *out,
                   float *kl_per_dim, float *mu_variance)
{
    if (vm_ae_unsupported(m, "diagnostics") != VAE_OK) /* models/ae.c */
        return VAE_ERR_UNSUPPORTED;
    size_t K = (size_t)m->cfg.latent_dim;
    float *mu = malloc(n * K * sizeof *mu), *lv = malloc(n * K * sizeof *lv);
    float *z = malloc(n * K * sizeof *z);
    /* p(z|c)'s parameters per example (conditional models only) */
    float *mu_p = c ? malloc(n * K * sizeof *mu_p) : NULL;
    float *lv_p = c ? malloc(n * K * sizeof *lv_p) : NULL;
    double *logs = malloc(2 * n * K * sizeof *logs), *lw = malloc(n * sizeof *lw);
    double *kl = calloc(K, sizeof *kl), *mean = calloc(K, sizeof *mean), *var = calloc(K, sizeof *var);
    int rc = VAE_OK;
    if (!mu || !lv || !z || !logs || !lw || !kl || !mean || !var || (c && (!mu_p || !lv_p))) {
        rc = vae_fail(m->errmsg, VAE_ERR_NOMEM, "diagnostics: out of memory for %zu examples", n);
        goto done;
    }
    if ((rc = vm_encode(m, x, c, n, mu, lv)) != VAE_OK)
        goto done;
    if (c && (rc = vm_prior(m, c, n, mu_p, lv_p)) != VAE_OK)
        goto done;
    int fam = m->cfg.posterior;
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < K; d++) {
            double u = mu[i * K + d], l = lv[i * K + d];
            /* the unconditional figure keeps its own expression (and bits) */
            kl[d] += c ? kl_to_prior_1d(fam, u, l, mu_p[i * K + d], lv_p[i * K + d])
                       : -entropy_1d(fam, l) + HALF_LOG_2PI + 0.5 * (u * u + variance_1d(fam, l));
            mean[d] += u;
        }
    for (size_t d = 0; d < K; d++)
        mean[d] /= (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < K; d++) {
            double dev = mu[i * K + d] - mean[d];
            var[d] += dev * dev;
        }
    vae_diagnostics r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.n = n;
    for (size_t d = 0; d < K; d++) {
        kl[d] /= (double)n;
        var[d] /= (double)(n - 1);
        r.kl += kl[d];
        if (var[d] > VAE_ACTIVE_UNIT_THRESHOLD)
            r.active_units++;
        if (kl_per_dim)
            kl_per_dim[d] = (float)kl[d];
        if (mu_variance)
            mu_variance[d] = (float)var[d];
    }
    r.mi = mutual_info(m, mu, lv, n, K, z, logs, lw);
    vae_abi_put(out, &r, sizeof r, out->struct_size);
done:
    free(mu);
    free(lv);
    free(mu_p);
    free(lv_p);
    free(z);
    free(logs);
    free(lw);
    free(kl);
    free(mean);
    free(var);
    return rc;
}
