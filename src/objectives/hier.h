/* The objective of a hierarchical model with L stochastic layers
 * (docs/hierarchical.md), given each layer's terms as graph nodes:
 *
 *   ELBO   = E_q[log p(x|z_1)] - sum_l KL_l,
 *   KL_l   = KL(q(z_l|.) || p(z_l|z_{l+1})) in closed form given the sampled
 *            parent (p(z_L) = N(0, I)), or log q(z_l|.) - log p(z_l|z_{l+1})
 *            at the sample (Monte Carlo);
 *   log w  = log p(x|z_1) + sum_l log p(z_l|z_{l+1}) - sum_l log q(z_l|.)
 *            (log p(z_L|z_{L+1}) meaning log N(z_L; 0, I)).
 *
 * Losses: pathwise ELBO -mean(rec) + beta_t mean(sum_l KL_l) (the KL
 * schedule's beta_t weighs the sum), IWAE -mean_i log (1/S) sum_s w_is, and
 * VO_WEIGHTS (w only, for the importance-sampled log-likelihood).
 */
#ifndef VAE_OBJECTIVES_HIER_H
#define VAE_OBJECTIVES_HIER_H

#include "libvae/vae.h"
#include "objectives/elbo.h"

typedef struct vo_hier_terms {
    int layers;                         /* L */
    int kl[VAE_MAX_LATENT_LAYERS];      /* closed-form KL_l per sample row [nS, 1] */
    int logq[VAE_MAX_LATENT_LAYERS];    /* log q(z_l|.) per sample row */
    int logp[VAE_MAX_LATENT_LAYERS];    /* log p(z_l|z_{l+1}) per sample row */
} vo_hier_terms;

/* Given e->rec (log p(x|z_1) per sample row) and the layers' terms, add the
 * KL sum (e->kl), e->w, the means and the loss of o->objective (pathwise
 * ELBO, IWAE or weights) to g. 0, or -1 when out of memory. */
int vo_hier_build(vg_graph *g, vo_graph *e, const vo_hier_terms *t, const vo_options *o);

#endif
