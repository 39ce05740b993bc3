/* Codebook learning of the VQ-VAE: moving averages, dead-code restarts,
 * usage figures.
 *
 * EMA (van den Oord et al. 2017, appendix; the Sonnet/TFP form). For a batch
 * with n_i encoder outputs assigned to code i, summing to s_i:
 *   N_i  <- gamma N_i + (1 - gamma) n_i
 *   m_i  <- gamma m_i + (1 - gamma) s_i
 *   N~_i  = (N_i + eps) / (sum_j N_j + K eps) * sum_j N_j   (Laplace smoothing)
 *   e_i   = m_i / N~_i
 * State starts at N_i = 0, m_i = e_i (the initial codebook), as in Sonnet.
 * N and m are kept in double.
 */
#include <math.h>
#include <string.h>

#include "models/vqvae.h"

void vq_count(vae_vqvae *q, const float *idx, const float *ze, size_t rows, int sums)
{
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim;
    memset(q->counts, 0, K * sizeof *q->counts);
    if (sums)
        memset(q->sums, 0, K * D * sizeof *q->sums);
    for (size_t r = 0; r < rows; r++) {
        size_t k = (size_t)idx[r];
        q->counts[k] += 1.0;
        if (sums) {
            const float *z = ze + r * D;
            double *s = q->sums + k * D;
            for (size_t j = 0; j < D; j++)
                s[j] += z[j];
        }
    }
}

void vq_ema_smoothed(const vae_vqvae *q, double *out)
{
    size_t K = (size_t)q->cfg.codebook_size;
    double eps = q->cfg.ema_eps, total = 0.0;
    for (size_t k = 0; k < K; k++)
        total += q->ema_n[k];
    for (size_t k = 0; k < K; k++)
        out[k] = (q->ema_n[k] + eps) / (total + (double)K * eps) * total;
}

void vq_ema_update(vae_vqvae *q)
{
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim;
    double gm = q->cfg.ema_decay;
    for (size_t k = 0; k < K; k++) {
        q->ema_n[k] = gm * q->ema_n[k] + (1.0 - gm) * q->counts[k];
        for (size_t j = 0; j < D; j++)
            q->ema_m[k * D + j] = gm * q->ema_m[k * D + j] + (1.0 - gm) * q->sums[k * D + j];
    }
    /* q->sums is free again: hold the smoothed counts in its first K slots. */
    double *sm = q->sums;
    vq_ema_smoothed(q, sm);
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < D; j++)
            q->ema_code[k * D + j] = (float)(q->ema_m[k * D + j] / sm[k]);
}

/* Code i unused for restart_after steps: e_i <- a random encoder output of
 * the batch; with EMA also N_i <- 1, m_i <- e_i (as if it had been chosen
 * once, by that vector). */
int vq_restart_dead(vae_vqvae *q, const float *ze, size_t rows)
{
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim;
    int moved = 0;
    for (size_t k = 0; k < K; k++) {
        if (q->counts[k] > 0.0) {
            q->idle[k] = 0;
            continue;
        }
        if (++q->idle[k] < q->cfg.restart_after)
            continue;
        size_t r = (size_t)vt_rng_below(&q->rng, rows);
        memcpy(q->codebook + k * D, ze + r * D, D * sizeof(float));
        if (q->ema_m) {
            q->ema_n[k] = 1.0;
            for (size_t j = 0; j < D; j++)
                q->ema_m[k * D + j] = ze[r * D + j];
        }
        q->idle[k] = 0;
        moved++;
    }
    return moved;
}

void vq_usage(const double *counts, int K, double *perplexity, size_t *used)
{
    double total = 0.0, h = 0.0;
    size_t u = 0;
    for (int k = 0; k < K; k++) {
        total += counts[k];
        u += counts[k] > 0.0;
    }
    if (total > 0.0)
        for (int k = 0; k < K; k++)
            if (counts[k] > 0.0) {
                double p = counts[k] / total;
                h -= p * log(p);
            }
    *perplexity = exp(h);
    *used = u;
}
