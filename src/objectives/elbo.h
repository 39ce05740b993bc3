/* The ELBO as a graph.
 *
 *   ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)),   p(z) = N(0, I),
 *   q(z|x) = N(mu(x), diag exp(lv(x))),  z = mu + exp(lv/2) * eps, eps ~ N(0, I).
 *
 * The expectation is estimated with L samples per example; KL is analytic
 * (1/2 sum (mu^2 + e^lv - 1 - lv)) or the single-sample Monte Carlo value
 * log q(z|x) - log p(z) averaged over the L samples. The graph minimises
 *   loss = -mean_rows(rec) + beta * mean_rows(kl)
 * with beta = 1 for the plain ELBO. All figures are nats per example.
 */
#ifndef VAE_OBJECTIVES_ELBO_H
#define VAE_OBJECTIVES_ELBO_H

#include "graph/graph.h"

/* Builds the decoder on latent node z and returns its output node
 * (logits for Bernoulli, means for Gaussian), or -1 when out of memory. */
typedef int (*vo_decoder_fn)(void *ctx, vg_graph *g, int z);

typedef struct vo_elbo {
    int x;          /* data input [n, D] */
    int eps;        /* noise input [nL, K], filled with N(0,1) draws before each run */
    int mu, lv;     /* encoder outputs [n, K] (lv already clamped) */
    int z;          /* [nL, K] */
    int out;        /* decoder output [nL, D] */
    int rec;        /* log p(x|z) per sample row [nL, 1] */
    int kl;         /* analytic: [n, 1]; Monte Carlo: [nL, 1] */
    int rec_mean, kl_mean;
    int loss;       /* scalar */
} vo_elbo;

/* Likelihood description for vo_elbo_build. */
typedef struct vo_likelihood {
    int kind;       /* enum vae_likelihood */
    int logsigma;   /* Gaussian: node [1, D] with log sigma per dimension (param or constant) */
} vo_likelihood;

/* Add z, the decoder, the likelihood, the KL and the loss to g, given the
 * nodes x, mu and lv of the encoder. kl_mode: enum vae_kl_mode.
 * Returns 0, or -1 when out of memory. */
int vo_elbo_build(vg_graph *g, vo_elbo *e, int x, int mu, int lv, int kl_mode,
                  const vo_likelihood *lik, vo_decoder_fn decoder, void *ctx);

/* Change the KL weight beta of a built graph (schedules; 1 = ELBO). */
void vo_elbo_set_beta(vg_graph *g, const vo_elbo *e, float beta);

#endif
