/* A training step in two halves, so that gradients can be combined between
 * the backward pass and the update (data-parallel training averages them
 * across processes):
 *
 *   vm_compute_gradients: x -> forward, backward -> P.grad = d loss / d theta,
 *                         where loss is the MEAN over the n examples, so the
 *                         mean of equal shards' gradients is the gradient of
 *                         the whole batch;
 *   vm_apply_gradients:   theta <- optimizer step(theta, P.grad).
 *
 * vm_train_step (model.c) is exactly the two in a row.
 */
#include <math.h>

#include "common/errors.h"
#include "models/model.h"
#include "optim/optimizer.h"
#include "tensor/vec.h"

/* The batch averages the training graph just computed. */
static void stats_from_graph(const vg_graph *g, const vo_graph *e, size_t n, vae_elbo_stats *st)
{
    st->rec = g->nodes[e->rec_mean].val[0];
    st->kl = g->nodes[e->kl_mean].val[0];
    st->elbo = st->rec - st->kl;
    st->loss = g->nodes[e->loss].val[0];
    st->n = n;
}

double vm_grad_norm2(vt_pool *pool, const float *g, size_t n)
{
    /* sum_i g_i^2 in double: not finite iff some g_i is not (or the sum
     * overflows). Fixed blocks and lanes: vectorises, runs on the team, same
     * bits on any CPU and at any thread count. */
    return vt_sum_squares_on(pool, g, n);
}

/* eps for n examples: from the training stream in order, or, when keyed,
 * example i's L*K values from generator (seed, key, first + i), so the noise
 * an example gets does not depend on which rows share its batch. */
static void draw_noise(vae_model *m, float *eps, size_t n, size_t per_example,
                       const vm_noise *noise)
{
    if (!noise || !noise->keyed) {
        vg_family_sample_on(m->pool, m->cfg.posterior, &m->rng, eps, n * per_example);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        vt_rng r;
        vt_rng_seed_keyed(&r, m->cfg.seed, noise->key, noise->first + i);
        vg_family_sample(m->cfg.posterior, &r, eps + i * per_example, per_example);
    }
}

int vm_compute_gradients(vae_model *m, const float *x, const float *c, size_t n,
                         const vm_noise *noise, vae_elbo_stats *st, double *norm2)
{
    vg_graph *g = m->train_g;
    const vo_graph *e = &m->train_e;
    if (vg_set_batch(g, (int)n) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", n);
    vg_use(g, m->pool, &m->scratch);
    vm_apply_schedule(m);
    vg_bind(g, e->x, x);
    if (e->x_in != e->x) { /* denoising: a fresh corruption for the encoder (models/ae.c) */
        const float *x_in = vm_encoder_input(m, x, n, noise);
        if (!x_in)
            return VAE_ERR_NOMEM;
        vg_bind(g, e->x_in, x_in);
    }
    if (e->c >= 0)
        vg_bind(g, e->c, c); /* the condition rows of a conditional model */
    if (e->eps >= 0)
        draw_noise(m, g->nodes[e->eps].val, n, (size_t)g->samples * m->cfg.latent_dim, noise);
    vg_forward(g, -1);
    vg_backward(g, e->loss);
    stats_from_graph(g, e, n, st);
    *norm2 = vm_grad_norm2(m->pool, m->P.grad, m->P.total);
    return VAE_OK;
}

int vm_apply_gradients_part(vae_model *m, vae_optimizer *opt, unsigned groups, double norm2)
{
    /* The checks and the update are the core's (the groups' own step
     * counts: aggressive training updates the encoder or the decoder alone). */
    int rc = vc_apply(&m->core, opt, groups, norm2);
    if (rc != VAE_OK)
        return rc;
    /* Schedule steps count the updates that include the decoder. */
    if (groups == VM_UPDATE_ENCODER)
        m->enc_steps++;
    else
        m->step++;
    return VAE_OK;
}

int vm_apply_gradients(vae_model *m, vae_optimizer *opt, double norm2)
{
    return vm_apply_gradients_part(m, opt, VM_UPDATE_ALL, norm2);
}

/* The evaluation ELBO (analytic KL, one z per example) of n rows whose noise
 * is keyed like draw_noise's, so a row's figure does not depend on which
 * rows it is evaluated with: shards evaluated apart sum to the whole. */
int vm_elbo_keyed(vae_model *m, const float *x, const float *c, size_t n, uint64_t key,
                  uint64_t first, float *per_example, vae_elbo_stats *st)
{
    vg_graph *g = m->eval_g;
    const vo_graph *e = &m->eval_e;
    size_t D = (size_t)m->cfg.input_dim, K = (size_t)m->cfg.latent_dim;
    vm_noise noise = {1, key, first};
    double sr = 0.0, sk = 0.0;
    size_t bad = 0, first_bad = 0;
    vg_use(g, m->pool, &m->scratch);
    for (size_t start = 0; start < n; start += VM_CHUNK) {
        size_t cnt = n - start < VM_CHUNK ? n - start : VM_CHUNK;
        if (vg_set_batch(g, (int)cnt) != 0)
            return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", cnt);
        vg_bind(g, e->x, x + start * D);
        if (e->c >= 0)
            vg_bind(g, e->c, c + start * (size_t)m->cfg.cond_dim);
        noise.first = first + start;
        if (e->eps >= 0)
            draw_noise(m, g->nodes[e->eps].val, cnt, K, &noise);
        vg_forward(g, -1);
        const float *rec = g->nodes[e->rec].val, *kl = g->nodes[e->kl].val;
        for (size_t i = 0; i < cnt; i++) {
            sr += rec[i];
            sk += kl[i];
            if (per_example)
                per_example[start + i] = rec[i] - kl[i];
            if (!isfinite(rec[i] - kl[i]) && bad++ == 0)
                first_bad = first + start + i;
        }
    }
    if (bad)
        return vm_bad_rows_fail(m->errmsg, "elbo_keyed", first_bad, bad, n);
    if (st) {
        st->rec = sr / (double)n;
        st->kl = sk / (double)n;
        st->elbo = st->rec - st->kl;
        st->loss = -st->elbo;
        st->n = n;
    }
    return VAE_OK;
}
