/* Training and evaluation objectives as graphs.
 *
 *   ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)),   p(z) = N(0, I),
 *   q(z|x) = location-scale family f with location mu(x) and scale e^(lv(x)/2),
 *   z = mu + e^(lv/2) * eps, eps ~ phi_f (N(0,1), Laplace(0,1), logistic(0,1)).
 *
 * Estimated with L samples per example. KL is analytic (Gaussian only) or the
 * Monte Carlo value log q(z|x) - log p(z). The minimised loss is
 *
 *   pathwise ELBO:  -mean(rec) + beta mean(kl)             (gradients through z)
 *     with free bits lambda: -mean(rec) + beta sum_j max(lambda, mean_i kl_ij)
 *     capacity:       -mean(rec) + gamma |mean(kl) - C|    (Burgess et al. 2018)
 *   score ELBO:     -mean(rec) + beta mean(kl') - mean(S)  (z a plain sample)
 *       S = score surrogate with reward R and a baseline b:
 *       reward "elbo": R = log p(x|z) + log p(z) - log q(z|x), kl' = stop-gradient(kl)
 *       reward "rec":  R = log p(x|z), kl' = analytic KL (its exact gradient)
 *   IWAE_L:         -mean_i log (1/L) sum_l exp(w_il), w = log p(x|z) + log p(z) - log q(z|x)
 *
 * With a learned conditional prior p(z|c) = N(mu_p(c), e^lv_p(c)) every log p(z)
 * above is log p(z|c) and the analytic KL is the one between two diagonal
 * Gaussians (vg_kl_gauss). Under the score estimator with reward "elbo" the
 * prior network gets its exact gradient E_q[d log p(z|c)] through the
 * zero-valued term -beta (mean(log p) - stop-gradient(mean(log p))).
 *
 * The decoder always gets the plain Monte Carlo gradient of log p(x|z)
 * (under the score estimator z is held fixed). All figures in nats per example.
 * See docs/objectives.md.
 */
#ifndef VAE_OBJECTIVES_ELBO_H
#define VAE_OBJECTIVES_ELBO_H

#include "graph/graph.h"

/* Builds the decoder on latent node z and returns its output node
 * (logits for Bernoulli, means for Gaussian), or -1 when out of memory. */
typedef int (*vo_decoder_fn)(void *ctx, vg_graph *g, int z);

enum vo_objective { VO_ELBO_PATHWISE = 0, VO_ELBO_SCORE = 1, VO_IWAE = 2, VO_WEIGHTS = 3 };

typedef struct vo_options {
    int objective;      /* enum vo_objective; VO_WEIGHTS only computes w (log-likelihood estimates) */
    int family;         /* enum vg_family */
    int analytic_kl;    /* 1: closed-form KL (Gaussian family only) */
    int baseline;       /* score: enum vg_baseline */
    float ema_decay;    /* score: EMA decay */
    int reward_rec;     /* score: 1 = reward log p(x|z) with the analytic KL gradient */
    float beta;         /* KL weight */
    int lik_kind;       /* enum vae_likelihood */
    int logsigma;       /* Gaussian likelihood: node [1, D] of log sigma */
    float free_bits;    /* pathwise ELBO, analytic KL: lambda > 0 floors each dimension's batch KL */
    float capacity_gamma; /* pathwise ELBO: > 0 selects gamma |KL - C| */
    int prior_mu;       /* learned conditional prior p(z|c) = N(prior_mu, e^prior_lv): */
    int prior_lv;       /*   nodes [n, K]; -1 for the standard prior N(0, I) */
} vo_options;

typedef struct vo_graph {
    int x;          /* data input [n, D] */
    int c;          /* condition input [n, C], or -1 (set by the model, not by vo_build) */
    int eps;        /* base-density draws [nL, K], filled before each run */
    int mu, lv;     /* encoder outputs [n, K] (lv already clamped) */
    int z;          /* [nL, K] */
    int out;        /* decoder output [nL, D] */
    int rec;        /* log p(x|z) per sample row [nL, 1] */
    int logq, logp; /* log q(z|x), log p(z) [nL, 1] (-1 where not needed) */
    int w;          /* log importance weights [nL, 1] (IWAE, weights) */
    int kl;         /* analytic: [n, 1]; Monte Carlo: [nL, 1] */
    int score;      /* score surrogate node or -1 */
    int bound;      /* IWAE: log-mean-exp [n, 1] */
    int rec_mean, kl_mean;
    int loss;       /* scalar */
    int beta_node;  /* node whose fparam[1] is the KL weight (schedules set it), or -1 */
    int cap_node;   /* capacity: the |KL - C| node (fparam[0] = C), or -1 */
    int x_in;       /* the encoder's input [n, D]: x, or a node of its own for the corrupted
                     * copy when training a denoising model (set by the model) */
} vo_graph;

/* Add sampling, the decoder, likelihood, KL and loss to g, given the encoder
 * nodes x, mu and lv. Returns 0, or -1 when out of memory. */
int vo_build(vg_graph *g, vo_graph *e, int x, int mu, int lv, const vo_options *opt,
             vo_decoder_fn decoder, void *ctx);

#endif
