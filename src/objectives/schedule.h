/* KL weight schedules and the capacity target (see docs/beta-vae.md).
 *
 * t is the number of schedule steps taken before the current one
 * (0 at the first training step). beta is the configured KL weight.
 *
 *   constant:  beta_t = beta
 *   linear:    beta_t = beta * min(1, t / N)                      (warm-up over N steps)
 *   cyclical:  tau = (t mod P) / P,  beta_t = beta * min(1, tau / R)
 *              for t < M P (M cycles; M = 0: forever), beta_t = beta afterwards
 *              (Fu et al. 2019: cycle length P, rising fraction R)
 *   capacity:  C_t = C_max * min(1, t / N_C)                      (Burgess et al. 2018)
 */
#ifndef VAE_OBJECTIVES_SCHEDULE_H
#define VAE_OBJECTIVES_SCHEDULE_H

#include <stdint.h>

#include "libvae/vae.h"

/* The effective KL weight at schedule step t. */
double vo_kl_weight(const vae_model_config *c, uint64_t t);

/* The capacity target C_t in nats (0 when the capacity objective is off). */
double vo_capacity(const vae_model_config *c, uint64_t t);

#endif
