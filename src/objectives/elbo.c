/* Builds the ELBO graph (see elbo.h for the formulas). */
#include "objectives/elbo.h"

#include "libvae/vae.h"

int vo_elbo_build(vg_graph *g, vo_elbo *e, int x, int mu, int lv, int kl_mode,
                  const vo_likelihood *lik, vo_decoder_fn decoder, void *ctx)
{
    int K = g->nodes[mu].cols;
    e->x = x;
    e->mu = mu;
    e->lv = lv;
    e->eps = vg_input(g, VG_ROWS_SAMPLES, 0, K);
    e->z = e->eps < 0 ? -1 : vg_reparam(g, mu, lv, e->eps);
    e->out = e->z < 0 ? -1 : decoder(ctx, g, e->z);
    if (e->out < 0)
        return -1;
    if (lik->kind == VAE_LIK_BERNOULLI)
        e->rec = vg_bernoulli_ll(g, e->out, x);
    else
        e->rec = vg_gauss_ll(g, e->out, lik->logsigma, x);
    if (kl_mode == VAE_KL_MONTE_CARLO)
        e->kl = vg_kl_mc(g, lv, e->eps, e->z);
    else
        e->kl = vg_kl_stdnormal(g, mu, lv);
    if (e->rec < 0 || e->kl < 0)
        return -1;
    e->rec_mean = vg_mean(g, e->rec);
    e->kl_mean = vg_mean(g, e->kl);
    if (e->rec_mean < 0 || e->kl_mean < 0)
        return -1;
    e->loss = vg_axpby(g, -1.0f, e->rec_mean, 1.0f, e->kl_mean);
    return e->loss < 0 ? -1 : 0;
}

void vo_elbo_set_beta(vg_graph *g, const vo_elbo *e, float beta)
{
    g->nodes[e->loss].fparam[1] = beta;
}
