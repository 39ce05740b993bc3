/* The hierarchical objective (formulas in hier.h). */
#include "objectives/hier.h"

/* sum_k c_k x_k over n nodes of the same rows, by a chain of sum3 nodes. */
static int sum_nodes(vg_graph *g, const int *x, int n, float c)
{
    int s = n == 1 ? vg_sum3(g, c, x[0], 0.0f, x[0], 0.0f, -1)
                   : vg_sum3(g, c, x[0], c, x[1], 0.0f, -1);
    for (int k = 2; k < n && s >= 0; k++)
        s = vg_sum3(g, 1.0f, s, c, x[k], 0.0f, -1);
    return s;
}

int vo_hier_build(vg_graph *g, vo_graph *e, const vo_hier_terms *t, const vo_options *o)
{
    int L = t->layers;
    int sum_logq = sum_nodes(g, t->logq, L, 1.0f);
    int sum_logp = sum_logq < 0 ? -1 : sum_nodes(g, t->logp, L, 1.0f);
    if (sum_logp < 0)
        return -1;
    e->logq = sum_logq;
    e->logp = sum_logp;
    /* sum_l KL_l: closed form, or log q - log p at the samples. */
    e->kl = o->analytic_kl ? sum_nodes(g, t->kl, L, 1.0f)
                           : vg_sum3(g, 1.0f, sum_logq, -1.0f, sum_logp, 0.0f, -1);
    e->w = e->kl < 0 ? -1 : vg_sum3(g, 1.0f, e->rec, 1.0f, sum_logp, -1.0f, sum_logq);
    e->rec_mean = e->w < 0 ? -1 : vg_mean(g, e->rec);
    e->kl_mean = e->rec_mean < 0 ? -1 : vg_mean(g, e->kl);
    if (e->kl_mean < 0)
        return -1;
    e->score = e->bound = -1;
    e->beta_node = e->cap_node = -1;
    if (o->objective == VO_IWAE) {
        e->bound = vg_logmeanexp(g, e->w);
        int m = e->bound < 0 ? -1 : vg_mean(g, e->bound);
        e->loss = m < 0 ? -1 : vg_axpby(g, -1.0f, m, 0.0f, e->kl_mean);
        return e->loss < 0 ? -1 : 0;
    }
    /* Pathwise ELBO (and the weights graph's figure): -mean(rec) + beta mean(sum_l KL_l). */
    e->loss = vg_axpby(g, -1.0f, e->rec_mean, o->beta, e->kl_mean);
    if (o->objective == VO_ELBO_PATHWISE)
        e->beta_node = e->loss;
    return e->loss < 0 ? -1 : 0;
}
