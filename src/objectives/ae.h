/* The autoencoder's objective as a graph (docs/autoencoders.md).
 *
 * A deterministic code z = f(x~) (the encoder's mean head; x~ is x, or its
 * corruption when denoising) is decoded to x_hat = g(z), the likelihood's
 * parameters (Bernoulli logits or Gaussian means), and
 *
 *   rec_i = log p(x_i | x_hat_i)         (the clean x is the target)
 *   pen_i = lambda sum_j z_ij^2          (code_l2 = lambda; 0 when lambda = 0)
 *   loss  = -mean_i rec_i + mean_i pen_i
 *
 * With a fixed Gaussian sigma, -log p = sum_j (x_j - m_j)^2 / (2 sigma^2)
 * + D (log sigma + log(2 pi) / 2): squared error up to scale and constant.
 * The figures fill a vo_graph like the ELBO's: kl is the penalty pen, so
 * elbo = rec - kl = -loss.
 */
#ifndef VAE_OBJECTIVES_AE_H
#define VAE_OBJECTIVES_AE_H

#include "objectives/elbo.h"

/* Add the decoder on `code`, the likelihood of target x and the loss to g
 * (o: lik_kind and logsigma are used). eps, lv, logq, logp, w, score are -1.
 * Returns 0, or -1 when out of memory. */
int vo_build_ae(vg_graph *g, vo_graph *e, int x, int code, float code_l2, const vo_options *o,
                vo_decoder_fn decoder, void *ctx);

#endif
