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
 */
#include <math.h>
#include <string.h>

#include "common/errors.h"
#include "data/dataset.h"
#include "models/model.h"

/* Encoder updates between two comparisons of the inner loss (He et al.: 15). */
#define VM_AGG_CHECK 15

/* The inner encoder loop for the batch at `cur` (cnt rows); `inner` has room
 * for `batch` rows. Random batches are windows of the epoch order. */
static int inner_loop(vae_model *m, vae_optimizer *opt, const vae_dataset *ds, const float *cur,
                      size_t cnt, float *inner, size_t batch, size_t n_batches)
{
    double pre = INFINITY, sum = 0.0;
    size_t seen = 0;
    for (int it = 1; it <= m->cfg.aggressive_max_inner; it++) {
        const float *x = cur;
        size_t rows = cnt;
        if (it > 1) {
            size_t r = (size_t)vt_rng_below(&m->rng, n_batches), start = r * batch;
            rows = ds->n - start < batch ? ds->n - start : batch;
            vds_gather(ds, m->perm + start, rows, inner, &m->rng);
            x = inner;
        }
        vae_elbo_stats s;
        int rc = vm_train_part(m, opt, x, NULL, rows, VM_PART_ENCODER, &s);
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

int vm_train_epoch_aggressive(vae_model *m, vae_optimizer *opt, const vae_dataset *ds,
                              size_t batch, vae_progress_fn progress, void *user,
                              vae_elbo_stats *st)
{
    size_t n = ds->n, D = (size_t)m->cfg.input_dim;
    if (batch > n)
        batch = n;
    /* One buffer, two halves: the current batch and an inner random batch. */
    if (vm_ensure_buffers(m, n, 2 * batch) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for the epoch buffers");
    float *cur = m->batch, *inner = m->batch + batch * D;
    for (size_t i = 0; i < n; i++)
        m->perm[i] = i;
    vt_rng_shuffle(&m->rng, m->perm, n);
    size_t n_batches = (n + batch - 1) / batch;
    double sum_rec = 0.0, sum_kl = 0.0, sum_loss = 0.0;
    size_t done = 0;
    for (size_t b = 0; b < n_batches; b++) {
        size_t start = b * batch, cnt = n - start < batch ? n - start : batch;
        vds_gather(ds, m->perm + start, cnt, cur, &m->rng);
        int rc = inner_loop(m, opt, ds, cur, cnt, inner, batch, n_batches);
        vae_elbo_stats s;
        if (rc == VAE_OK)
            rc = vm_train_part(m, opt, cur, NULL, cnt, VM_PART_DECODER, &s);
        if (rc != VAE_OK) {
            if (rc == VAE_ERR_DIVERGED) {
                char why[VAE_ERRMSG_LEN];
                memcpy(why, m->errmsg, sizeof why);
                vae_fail(m->errmsg, rc, "batch %zu of %zu (aggressive): %s", b, n_batches, why);
            }
            return rc;
        }
        sum_rec += s.rec * (double)cnt;
        sum_kl += s.kl * (double)cnt;
        sum_loss += s.loss * (double)cnt;
        done += cnt;
        if (progress && progress(user, b, n_batches, (sum_rec - sum_kl) / (double)done) != 0)
            return vae_fail(m->errmsg, VAE_ERR_CANCELLED,
                            "cancelled by the progress callback after batch %zu", b);
    }
    if (st) {
        st->rec = sum_rec / (double)done;
        st->kl = sum_kl / (double)done;
        st->elbo = st->rec - st->kl;
        st->loss = sum_loss / (double)done;
        st->n = done;
    }
    return VAE_OK;
}

int vm_aggressive_update(vae_model *m, const float *x, const float *c, size_t n, double *mi,
                         int *active)
{
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
