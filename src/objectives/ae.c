/* The autoencoder's objective (formulas in ae.h). */
#include "objectives/ae.h"

#include "libvae/vae.h"

int vo_build_ae(vg_graph *g, vo_graph *e, int x, int code, float code_l2, const vo_options *o,
                vo_decoder_fn decoder, void *ctx)
{
    e->x = x;
    e->x_in = x;
    e->c = -1;
    e->eps = e->lv = e->logq = e->logp = e->w = e->score = e->bound = -1;
    e->beta_node = e->cap_node = -1;
    e->mu = e->z = code;
    e->out = decoder(ctx, g, code);
    if (e->out < 0)
        return -1;
    if (o->lik_kind == VAE_LIK_BERNOULLI)
        e->rec = vg_bernoulli_ll(g, e->out, x);
    else
        e->rec = vg_gauss_ll(g, e->out, o->logsigma, x);
    /* pen_i = lambda sum_j z_ij^2 */
    e->kl = e->rec < 0 ? -1 : vg_rowsumsq(g, code, code_l2);
    e->rec_mean = e->kl < 0 ? -1 : vg_mean(g, e->rec);
    e->kl_mean = e->rec_mean < 0 ? -1 : vg_mean(g, e->kl);
    /* loss = -mean(rec) + mean(pen) */
    e->loss = e->kl_mean < 0 ? -1 : vg_axpby(g, -1.0f, e->rec_mean, 1.0f, e->kl_mean);
    return e->loss < 0 ? -1 : 0;
}
