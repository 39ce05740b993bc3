/* The training core: the epoch loop, the evaluation loop, the checked
 * optimizer step over parameter groups (see trainer.h). */
#include "core/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "tensor/vec.h"

int vc_init(vc_core *k, const vc_family *fam, void *self, vn_params *P, vt_pool **pool,
            vt_rng *rng, char *errmsg, uint64_t seed, size_t input_dim, size_t cond_dim)
{
    memset(k, 0, sizeof *k);
    k->fam = fam;
    k->self = self;
    k->P = P;
    k->pool = pool;
    k->rng = rng;
    k->errmsg = errmsg;
    k->seed = seed;
    k->input_dim = input_dim;
    k->cond_dim = cond_dim;
    return vc_add_groups(k, fam->group_names, fam->group_prefixes, fam->n_groups);
}

void vc_release(vc_core *k)
{
    free(k->perm);
    free(k->x);
    free(k->c);
    k->perm = NULL;
    k->x = k->c = NULL;
    k->perm_cap = k->x_cap = k->c_cap = 0;
}

int vc_add_group(vc_core *k, const char *name, size_t offset, size_t count)
{
    if (k->n_groups >= VOPT_MAX_GROUPS)
        return -1;
    vopt_group *g = &k->group[k->n_groups];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->offset = offset;
    g->count = count;
    return k->n_groups++;
}

int vc_add_groups(vc_core *k, const char *const *names, const char *const *prefixes, int n)
{
    const vn_params *P = k->P;
    size_t start[VOPT_MAX_GROUPS];
    int found = 0;
    for (int g = 0; g < n && g < VOPT_MAX_GROUPS; g++) {
        size_t len = strlen(prefixes[g]);
        int i = 0;
        while (i < P->n && strncmp(P->p[i].name, prefixes[g], len) != 0)
            i++;
        if (i == P->n)
            break;
        start[found++] = P->p[i].offset;
    }
    if (found == 0 || start[0] != 0)
        return -1;
    for (int g = 0; g < found; g++) {
        size_t end = g + 1 < found ? start[g + 1] : P->total;
        if (end <= start[g] || vc_add_group(k, names[g], start[g], end - start[g]) != g)
            return -1;
    }
    return 0;
}

int vc_group_of(const vc_core *k, size_t off)
{
    for (int i = 0; i < k->n_groups; i++)
        if (off >= k->group[i].offset && off - k->group[i].offset < k->group[i].count)
            return i;
    return -1;
}

/* ---- the checked step ------------------------------------------------------ */

int vc_bind(vc_core *k, vae_optimizer *opt)
{
    int rc = vopt_bind(opt, k->P->total);
    if (rc == VAE_OK)
        rc = vopt_set_groups(opt, k->group, k->n_groups);
    if (rc != VAE_OK)
        return vae_fail(k->errmsg, rc, "optimizer: %s", opt->errmsg);
    return VAE_OK;
}

int vc_check_loss(vc_core *k, const vae_optimizer *opt, double loss)
{
    if (isfinite(loss))
        return VAE_OK;
    return vae_fail(k->errmsg, VAE_ERR_DIVERGED,
                    "step %llu: the loss is not finite; the update was not applied",
                    (unsigned long long)opt->steps + 1);
}

/* sum g_i^2 over the selected groups, each contiguous run of them summed
 * as one slice (fixed blocks: the same bits at any thread count). */
static double selected_norm2(const vc_core *k, unsigned mask)
{
    double norm2 = 0.0;
    for (int i = 0; i < k->n_groups;) {
        if (!(mask >> i & 1u)) {
            i++;
            continue;
        }
        size_t lo = k->group[i].offset, hi = lo;
        for (; i < k->n_groups && (mask >> i & 1u); i++)
            hi = k->group[i].offset + k->group[i].count;
        norm2 += vt_sum_squares_on(*k->pool, k->P->grad + lo, hi - lo);
    }
    return norm2;
}

int vc_apply(vc_core *k, vae_optimizer *opt, unsigned mask, double norm2)
{
    int rc = vc_bind(k, opt);
    if (rc != VAE_OK)
        return rc;
    unsigned all = k->n_groups >= 32 ? ~0u : (1u << k->n_groups) - 1u;
    if ((mask & all) != all)
        norm2 = selected_norm2(k, mask);
    unsigned long long step = (unsigned long long)opt->steps + 1;
    vn_params *P = k->P;
    if (!isfinite(norm2))
        return vae_fail(k->errmsg, VAE_ERR_DIVERGED,
                        "step %llu: the gradient is not finite; the update was not applied", step);
    if (!vopt_groups_within_bound_on(opt, *k->pool, P->val, P->grad, P->total, mask,
                                     sqrt(norm2)))
        return vae_fail(k->errmsg, VAE_ERR_DIVERGED,
                        "step %llu: the update is longer than the parameters (|update| > "
                        "|params| + 0.1 sqrt(P)); it was not applied: lower the learning rate",
                        step);
    if (vopt_update_groups_on(opt, *k->pool, P->val, P->grad, P->total, mask, sqrt(norm2)) != 0)
        return vae_fail(k->errmsg, VAE_ERR_DIVERGED,
                        "step %llu: the update would make parameters non-finite; it was not "
                        "applied",
                        step);
    return VAE_OK;
}

/* ---- buffers and gathering ------------------------------------------------- */

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    void *b = realloc(*buf, need * elem);
    if (!b)
        return -1;
    *buf = b;
    *cap = need;
    return 0;
}

/* Room for an epoch order of n and `rows` gathered rows. Allocates only
 * when a dataset or batch is larger than any before. */
static int ensure_buffers(vc_core *k, size_t n, size_t rows)
{
    void *perm = k->perm, *x = k->x, *c = k->c;
    int rc = grow(&perm, &k->perm_cap, n, sizeof *k->perm);
    k->perm = perm;
    rc |= grow(&x, &k->x_cap, rows * k->input_dim, sizeof *k->x);
    k->x = x;
    rc |= grow(&c, &k->c_cap, rows * k->cond_dim, sizeof *k->c);
    k->c = c;
    return rc;
}

void vc_gather(vc_core *k, const vae_dataset *ds, const size_t *idx, size_t n, float *x, float *c,
               vt_rng *rng)
{
    vds_gather_on(*k->pool, ds, idx, n, x, rng);
    if (k->cond_dim > 0)
        vds_gather_cond(ds, idx, n, c);
}

/* ---- the loops --------------------------------------------------------------- */

int vc_train_epoch(vc_core *k, const vc_step *step, vae_optimizer *opt, const vae_dataset *ds,
                   size_t batch, vae_progress_fn progress, void *user, void *out)
{
    const vc_family *f = k->fam;
    size_t n = ds->n;
    if (batch > n)
        batch = n;
    if (f->max_train_batch && batch > f->max_train_batch)
        batch = f->max_train_batch;
    if (ensure_buffers(k, n, step->spare ? 2 * batch : batch) != 0)
        return vae_fail(k->errmsg, VAE_ERR_NOMEM, "out of memory for the epoch buffers");
    for (size_t i = 0; i < n; i++)
        k->perm[i] = i;
    vt_rng_shuffle(k->rng, k->perm, n);
    if (f->begin)
        f->begin(k->self);
    size_t n_batches = (n + batch - 1) / batch;
    vc_batch b = {.x = k->x, .c = k->cond_dim ? k->c : NULL, .n_batches = n_batches,
                  .size = batch, .ds = ds, .order = k->perm};
    if (step->spare) {
        b.spare_x = k->x + batch * k->input_dim;
        b.spare_c = k->cond_dim ? k->c + batch * k->cond_dim : NULL;
    }
    vc_sums s = {{0}, 0};
    for (size_t i = 0; i < n_batches; i++) {
        size_t start = i * batch;
        b.index = i;
        b.n = n - start < batch ? n - start : batch;
        vc_gather(k, ds, k->perm + start, b.n, k->x, k->c, k->rng);
        double fig[VC_MAX_FIGURES] = {0};
        int rc = step->run(k->self, opt, &b, fig);
        if (rc != VAE_OK) {
            if (rc == VAE_ERR_DIVERGED) {
                char why[VAE_ERRMSG_LEN];
                memcpy(why, k->errmsg, sizeof why);
                vae_fail(k->errmsg, rc, "batch %zu of %zu%s: %s", i, n_batches, step->label, why);
            }
            return rc;
        }
        for (int j = 0; j < VC_MAX_FIGURES; j++)
            s.sum[j] += fig[j] * (double)b.n;
        s.n += b.n;
        if (progress && progress(user, i, n_batches, f->progress(&s)) != 0)
            return vae_fail(k->errmsg, VAE_ERR_CANCELLED,
                            "cancelled by the progress callback after batch %zu", i);
    }
    if (out)
        f->finish(k->self, &s, 1, out);
    return VAE_OK;
}

int vc_bad_rows_fail(char *msg, const char *who, const char *quantity, size_t first,
                     size_t count, size_t n)
{
    return vae_fail(msg, VAE_ERR_NONFINITE,
                    "%s: the %s of %zu of %zu examples is not finite (the first: example %zu); "
                    "the parameters have diverged",
                    who, quantity, count, n, first);
}

int vc_evaluate(vc_core *k, const vae_dataset *ds, size_t batch, void *out)
{
    const vc_family *f = k->fam;
    size_t n = ds->n;
    if (batch > n)
        batch = n;
    if (batch > VC_CHUNK)
        batch = VC_CHUNK;
    if (ensure_buffers(k, 0, batch) != 0)
        return vae_fail(k->errmsg, VAE_ERR_NOMEM, "out of memory for the batch buffer");
    vt_rng rng;
    vt_rng_seed(&rng, k->seed, VC_STREAM_EVAL);
    if (f->begin)
        f->begin(k->self);
    vc_sums s = {{0}, 0};
    vc_bad_rows bad = {0, 0};
    size_t idx[VC_CHUNK];
    for (size_t start = 0; start < n; start += batch) {
        size_t cnt = n - start < batch ? n - start : batch;
        for (size_t i = 0; i < cnt; i++)
            idx[i] = start + i;
        vc_gather(k, ds, idx, cnt, k->x, k->c, &rng);
        int rc = f->eval(k->self, k->x, k->cond_dim ? k->c : NULL, cnt, &rng, start, &s, &bad);
        if (rc != VAE_OK)
            return rc;
        s.n += cnt;
    }
    if (bad.count)
        return vc_bad_rows_fail(k->errmsg, "evaluate", f->quantity, bad.first, bad.count, n);
    f->finish(k->self, &s, 0, out);
    return VAE_OK;
}
