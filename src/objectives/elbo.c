/* Builds the objective graphs (see elbo.h for the formulas). */
#include "objectives/elbo.h"

#include "libvae/vae.h"

static int build_kl(vg_graph *g, vo_graph *e, const vo_options *o)
{
    if (o->analytic_kl && o->prior_mu >= 0)
        return e->kl = vg_kl_gauss(g, e->mu, e->lv, o->prior_mu, o->prior_lv);
    if (o->analytic_kl)
        return e->kl = vg_kl_stdnormal(g, e->mu, e->lv);
    /* KL_MC = log q(z|x) - log p(z) at the sampled z. */
    return e->kl = vg_sum3(g, 1.0f, e->logq, -1.0f, e->logp, 0.0f, -1);
}

int vo_build(vg_graph *g, vo_graph *e, int x, int mu, int lv, const vo_options *o,
             vo_decoder_fn decoder, void *ctx)
{
    int K = g->nodes[mu].cols;
    int score = o->objective == VO_ELBO_SCORE;
    e->x = x;
    e->x_in = x;
    e->c = -1;
    e->mu = mu;
    e->lv = lv;
    e->score = e->bound = e->w = -1;
    e->beta_node = e->cap_node = -1;
    e->eps = vg_input(g, VG_ROWS_SAMPLES, 0, K);
    e->z = e->eps < 0 ? -1 : vg_reparam(g, mu, lv, e->eps, score);
    e->out = e->z < 0 ? -1 : decoder(ctx, g, e->z);
    if (e->out < 0)
        return -1;
    if (o->lik_kind == VAE_LIK_BERNOULLI)
        e->rec = vg_bernoulli_ll(g, e->out, x);
    else
        e->rec = vg_gauss_ll(g, e->out, o->logsigma, x);
    e->logq = vg_logq(g, o->family, mu, lv, e->z);
    /* log p(z|c) of a learned prior is the Gaussian log-density at z. */
    e->logp = o->prior_mu >= 0 ? vg_logq(g, VG_FAMILY_GAUSSIAN, o->prior_mu, o->prior_lv, e->z)
                               : vg_logp_std(g, e->z);
    if (e->rec < 0 || e->logq < 0 || e->logp < 0 || build_kl(g, e, o) < 0)
        return -1;
    e->rec_mean = vg_mean(g, e->rec);
    e->kl_mean = vg_mean(g, e->kl);
    if (e->rec_mean < 0 || e->kl_mean < 0)
        return -1;

    if (o->objective == VO_IWAE || o->objective == VO_WEIGHTS) {
        e->w = vg_sum3(g, 1.0f, e->rec, 1.0f, e->logp, -1.0f, e->logq);
        if (e->w < 0)
            return -1;
        if (o->objective == VO_WEIGHTS) {
            e->loss = vg_axpby(g, -1.0f, e->rec_mean, o->beta, e->kl_mean);
            return e->loss < 0 ? -1 : 0;
        }
        e->bound = vg_logmeanexp(g, e->w);
        int m = e->bound < 0 ? -1 : vg_mean(g, e->bound);
        e->loss = m < 0 ? -1 : vg_axpby(g, -1.0f, m, 0.0f, e->kl_mean);
        return e->loss < 0 ? -1 : 0;
    }
    if (!score) {
        if (o->capacity_gamma > 0.0f) {
            /* -mean(rec) + gamma |mean(kl) - C|; C is set before every step. */
            e->cap_node = vg_absdev(g, e->kl_mean, 0.0f);
            e->loss = e->cap_node < 0 ? -1
                                      : vg_axpby(g, -1.0f, e->rec_mean, o->capacity_gamma, e->cap_node);
            return e->loss < 0 ? -1 : 0;
        }
        int kl_term = o->free_bits > 0.0f ? vg_freebits(g, mu, lv, o->free_bits) : e->kl_mean;
        e->loss = kl_term < 0 ? -1 : vg_axpby(g, -1.0f, e->rec_mean, o->beta, kl_term);
        e->beta_node = e->loss;
        return e->loss < 0 ? -1 : 0;
    }
    /* Score-function estimator: z is a plain sample, so rec and logq carry no
     * pathwise gradient to the encoder; the surrogate supplies it. */
    int reward = o->reward_rec ? e->rec : vg_sum3(g, 1.0f, e->rec, 1.0f, e->logp, -1.0f, e->logq);
    int kl_term = o->reward_rec ? e->kl_mean : vg_stopgrad(g, e->kl_mean);
    e->score = reward < 0 ? -1 : vg_score(g, e->logq, reward, o->baseline, o->ema_decay);
    int s = e->score < 0 ? -1 : vg_mean(g, e->score);
    if (s < 0 || kl_term < 0)
        return -1;
    e->loss = vg_sum3(g, -1.0f, e->rec_mean, o->beta, kl_term, -1.0f, s);
    e->beta_node = e->loss;
    if (e->loss >= 0 && o->prior_mu >= 0 && !o->reward_rec) {
        /* The stop-gradient KL leaves the prior network without a gradient:
         * add -beta (mean(log p) - sg(mean(log p))), zero in value. */
        int lpm = vg_mean(g, e->logp);
        int lps = lpm < 0 ? -1 : vg_stopgrad(g, lpm);
        int zero = lps < 0 ? -1 : vg_axpby(g, -o->beta, lpm, o->beta, lps);
        e->loss = zero < 0 ? -1 : vg_axpby(g, 1.0f, e->loss, 1.0f, zero);
    }
    return e->loss < 0 ? -1 : 0;
}
