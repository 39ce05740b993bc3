/* Lagging-inference-network ("aggressive") training, He et al., ICLR 2019.
 *
 * While aggressive training is on, every batch of an epoch is trained as
 *
 *   repeat (at most aggressive_max_inner times):
 *       encoder-only update on a minibatch (the batch itself first, then
 *       random batches of the epoch), accumulating the loss it saw;
 *       every VM_AGG_CHECK updates: stop when the mean loss of the last
 *       VM_AGG_CHECK updates is higher than that of the previous ones
 *   decoder-only update on the batch (one schedule step)
 *
 * exactly as in the authors' code (burn-in loop, check every 15 steps, at
 * most 100). After each epoch the caller estimates I(x; z) on held-out data
 * (vm_aggressive_update); the first time it drops, aggressive training ends
 * and later epochs update encoder and decoder together.
 *
 * A conditional model trains the same way: every inner batch carries its
 * conditions, and the decoder update includes the learned prior's network
 * (the generative side, as in the plain step).
 */
#include <math.h>
#include <string.h>

#include "common/errors.h"
#include "models/model.h"

/* Encoder updates between two comparisons of the inner loss (He et al.: 15). */
#define VM_AGG_CHECK 15

/* The inner encoder loop for batch b: the batch itself, then random
 * batches of the epoch (windows of its order, gathered with their
 * conditions into b's spare rows). */
static int inner_loop(vae_model *m, vae_optimizer *opt, const vc_batch *b)
{
    double pre = INFINITY, sum = 0.0;
    size_t seen = 0;
    for (int it = 1; it <= m->cfg.aggressive_max_inner; it++) {
        const float *x = b->x, *c = b->c;
        size_t rows = b->n;
        if (it > 1) {
            size_t r = (size_t)vt_rng_below(&m->rng, b->n_batches), start = r * b->size;
            rows = b->ds->n - start < b->size ? b->ds->n - start : b->size;
            vc_gather(&m->core, b->ds, b->order + start, rows, b->spare_x, b->spare_c, &m->rng);
            x = b->spare_x;
            c = b->spare_c;
        }
        vae_elbo_stats s;
        int rc = vm_train_part(m, opt, x, c, rows, VM_UPDATE_ENCODER, &s);
        if (rc != VAE_OK)
            return rc;
        sum += s.loss * (double)rows;
        seen += rows;
        if (it % VM_AGG_CHECK == 0) {
            double mean = sum / (double)seen;
            if (mean > pre)
                break;
            pre = mean;
            sum = 0.0;
            seen = 0;
        }
    }
    return VAE_OK;
}

/* The aggressive per-batch step: the inner encoder loop, then one update
 * of the generative side (decoder and prior) on the batch. Its figures are
 * those of that last update, as the plain step's. */
static int aggressive_step(void *self, vae_optimizer *opt, const vc_batch *b, double *fig)
{
    vae_model *m = self;
    vae_elbo_stats s = {0};
    int rc = inner_loop(m, opt, b);
    if (rc == VAE_OK)
        rc = vm_train_part(m, opt, b->x, b->c, b->n, VM_UPDATE_DECODER, &s);
    fig[0] = s.rec, fig[1] = s.kl, fig[2] = s.loss;
    return rc;
}

const vc_step vm_aggressive_step = {" (aggressive)", 1, aggressive_step};

int vm_aggressive_update(vae_model *m, const float *x, const float *c, size_t n, double *mi,
                         int *active)
{
    if (vm_ae_unsupported(m, "aggressive_update") != VAE_OK) /* models/ae.c */
        return VAE_ERR_UNSUPPORTED;
    vae_diagnostics d;
    d.struct_size = sizeof d;
    int rc = vm_diagnostics(m, x, c, n, &d, NULL, NULL);
    if (rc != VAE_OK)
        return rc;
    /* He et al.: leave aggressive mode once the held-out MI stops increasing. */
    if (m->agg_active && !isnan(m->agg_mi) && d.mi < m->agg_mi)
        m->agg_active = 0;
    m->agg_mi = d.mi;
    if (mi)
        *mi = d.mi;
    if (active)
        *active = m->cfg.aggressive && m->agg_active;
    return VAE_OK;
}
