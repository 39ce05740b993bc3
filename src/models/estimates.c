/* Estimates built on the model's graphs: importance-sampled log-likelihood
 * (the IWAE_k bound) and the statistics of gradient estimators. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "models/model.h"
#include "objectives/schedule.h"

#define VM_STREAM_LL 3u

/* Running log-sum-exp per example: max m and sum s of exp(w - m). */
static void lse_add(double *m, double *s, double w)
{
    if (w > *m) {
        *s = *s * exp(*m - w) + 1.0;
        *m = w;
    } else {
        *s += exp(w - *m);
    }
}

int vm_log_likelihood(vae_model *m, const float *x, const float *c, size_t n, int k,
                      float *per_example, double *mean)
{
    if (vm_ae_unsupported(m, "log_likelihood") != VAE_OK) /* models/ae.c */
        return VAE_ERR_UNSUPPORTED;
    vg_graph *g = m->iw_g;
    const vo_graph *e = &m->iw_e;
    const int L = VM_IW_CHUNK;
    size_t D = (size_t)m->cfg.input_dim, K = (size_t)m->cfg.latent_dim;
    vt_rng rng;
    vt_rng_seed(&rng, m->cfg.seed, VM_STREAM_LL);
    vg_use(g, m->pool, &m->scratch);
    double total = 0.0;
    for (size_t start = 0; start < n; start += VM_IW_ROWS) {
        size_t cnt = n - start < VM_IW_ROWS ? n - start : VM_IW_ROWS;
        double mx[VM_IW_ROWS], sum[VM_IW_ROWS];
        for (size_t i = 0; i < cnt; i++) {
            mx[i] = -INFINITY;
            sum[i] = 0.0;
        }
        if (vg_set_batch(g, (int)cnt) != 0)
            return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for the importance samples");
        vg_bind(g, e->x, x + start * D);
        if (e->c >= 0)
            vg_bind(g, e->c, c + start * (size_t)m->cfg.cond_dim); /* log p(x|c) */
        for (int done = 0; done < k; done += L) {
            int kc = k - done < L ? k - done : L;
            vg_family_sample(m->cfg.posterior, &rng, g->nodes[e->eps].val, cnt * L * K);
            vg_forward(g, e->w);
            const float *w = g->nodes[e->w].val;
            for (size_t i = 0; i < cnt; i++)
                for (int l = 0; l < kc; l++)
                    lse_add(&mx[i], &sum[i], w[i * L + (size_t)l]);
        }
        for (size_t i = 0; i < cnt; i++) {
            double ll = mx[i] + log(sum[i]) - log((double)k);
            if (per_example)
                per_example[start + i] = (float)ll;
            total += ll;
        }
    }
    if (mean)
        *mean = total / (double)n;
    return VAE_OK;
}

/* Welford accumulation of one gradient draw into mean and m2 (sums of squared deviations). */
static void accumulate(double *mu, double *m2, const float *g, size_t n, int s)
{
    for (size_t i = 0; i < n; i++) {
        double d = g[i] - mu[i];
        mu[i] += d / (s + 1);
        m2[i] += d * (g[i] - mu[i]);
    }
}

static vae_grad_stats summarise(const double *mu, const double *m2, size_t from, size_t count,
                                int draws)
{
    double norm2 = 0.0, var = 0.0;
    for (size_t i = from; i < from + count; i++) {
        norm2 += mu[i] * mu[i];
        var += m2[i] / (draws - 1);
    }
    vae_grad_stats st = {sqrt(norm2), var, var > 0 ? sqrt(norm2) / sqrt(var) : INFINITY};
    return st;
}

/* Build a training graph for `c`'s settings over the model's parameters. */
static vg_graph *diagnostic_graph(vae_model *m, const vae_model_config *c, vo_graph *e)
{
    vae_model_config saved = m->cfg;
    vg_graph *keep_g = m->train_g;
    vo_graph keep_e = m->train_e;
    m->cfg = *c;
    m->train_g = NULL;
    int rc = vm_build_train_graph(m);
    vg_graph *g = m->train_g;
    *e = m->train_e;
    m->cfg = saved;
    m->train_g = keep_g;
    m->train_e = keep_e;
    return rc == 0 ? g : NULL;
}

/* One gradient draw into m->P.grad. */
static void draw(vae_model *m, vg_graph *g, const vo_graph *e, const vae_model_config *c,
                 const float *x, const float *cond, size_t n)
{
    vg_bind(g, e->x, x);
    if (e->x_in != e->x)
        vg_bind(g, e->x_in, x); /* a denoising model: the clean objective's gradient */
    if (e->c >= 0)
        vg_bind(g, e->c, cond); /* the condition rows of a conditional model */
    vg_family_sample(c->posterior, &m->rng, g->nodes[e->eps].val,
                     n * (size_t)g->samples * c->latent_dim);
    vg_forward(g, -1);
    vg_backward(g, e->loss);
}

int vm_gradient_stats(vae_model *m, const float *x, const float *cond, size_t n,
                      const vae_model_config *c, int draws, vae_grad_stats *per_tensor,
                      vae_grad_stats *encoder, vae_grad_stats *overall, float *mean_grad)
{
    if (vm_ae_unsupported(m, "gradient_stats") != VAE_OK) /* models/ae.c */
        return VAE_ERR_UNSUPPORTED;
    vo_graph e;
    vg_graph *g = diagnostic_graph(m, c, &e);
    size_t P = m->P.total;
    if (g && e.beta_node >= 0) /* the objective of the model's next step */
        g->nodes[e.beta_node].fparam[1] = (float)vo_kl_weight(c, m->step);
    if (g && e.cap_node >= 0)
        g->nodes[e.cap_node].fparam[0] = (float)vo_capacity(c, m->step);
    double *mu = calloc(P, sizeof *mu), *m2 = calloc(P, sizeof *m2);
    if (!g || !mu || !m2 || vg_set_batch(g, (int)n) != 0) {
        vg_free(g);
        free(mu);
        free(m2);
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "gradient_stats: out of memory");
    }
    vg_use(g, m->pool, &m->scratch);
    if (e.score >= 0 && c->baseline == VAE_BASELINE_EMA)
        draw(m, g, &e, c, x, cond, n); /* warm-up: the EMA baseline starts from a real reward */
    for (int s = 0; s < draws; s++) {
        draw(m, g, &e, c, x, cond, n);
        accumulate(mu, m2, m->P.grad, P, s);
    }
    size_t enc_end = 0;
    for (int t = 0; t < m->P.n; t++) {
        const vn_param *p = &m->P.p[t];
        size_t cnt = (size_t)p->rows * p->cols;
        if (per_tensor)
            per_tensor[t] = summarise(mu, m2, p->offset, cnt, draws);
        if (strncmp(p->name, "enc.", 4) == 0)
            enc_end = p->offset + cnt; /* encoder tensors come first in the flat vector */
    }
    if (encoder)
        *encoder = summarise(mu, m2, 0, enc_end, draws);
    if (overall)
        *overall = summarise(mu, m2, 0, P, draws);
    if (mean_grad)
        for (size_t i = 0; i < P; i++)
            mean_grad[i] = (float)mu[i];
    int finite = 1;
    for (size_t i = 0; i < P && finite; i++)
        finite = isfinite(mu[i]) && isfinite(m2[i]);
    vg_free(g);
    free(mu);
    free(m2);
    if (!finite)
        return vae_fail(m->errmsg, VAE_ERR_DIVERGED, "gradient_stats: a gradient draw was not finite");
    return VAE_OK;
}
