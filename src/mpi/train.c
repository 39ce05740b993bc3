/* Data-parallel training: the step (one fused MPI_Allreduce), epochs over a
 * dataset every rank holds, reduced evaluation and rank-0 checkpoints. */
#include <stdio.h>
#include <string.h>

#include "mpi_internal.h"

/* Tail of the fused buffer, after the P gradient floats. */
enum {
    F_REC,      /* sum over rows of the reconstruction term (n_local * rec) */
    F_KL,       /* n_local * kl */
    F_LOSS,     /* n_local * loss */
    F_ROWS,     /* n_local: the sum must be n_global */
    F_FAILED,   /* 1 from each rank that could not compute its gradient */
    F_TAIL
};
_Static_assert(F_TAIL <= VMPI_TAIL, "the fused buffer's tail must fit what sync_model allocates");

/* This rank's shard gradient: the plain calls for an unconditional model
 * (c NULL), the _cond calls for a conditional one. */
static int shard_gradient(const vae_mpi *ctx, vae_model *model, const float *x, const float *c,
                          size_t n_local, uint64_t step, size_t first, vae_elbo_stats *s)
{
    if (ctx->noise == VAE_MPI_NOISE_KEYED)
        return c ? vae_model_compute_gradients_keyed_cond(model, x, c, n_local, step, first, s)
                 : vae_model_compute_gradients_keyed(model, x, n_local, step, first, s);
    return c ? vae_model_compute_gradients_cond(model, x, c, n_local, s)
             : vae_model_compute_gradients(model, x, n_local, s);
}

/* vae_mpi_train_step and vae_mpi_train_step_cond (cond = 1, c the shard's conditions). */
static int train_step(vae_mpi *ctx, vae_model *model, vae_optimizer *opt, const float *x,
                      const float *c, int cond, size_t n_local, size_t first, size_t n_global,
                      vae_elbo_stats *stats)
{
    if (ctx->P == 0)
        return vmpi_fail(ctx, VAE_ERR_INVALID, "train_step: call vae_mpi_sync_model first");
    /* Local work first; whatever fails, this rank still joins the one
     * allreduce (of the size agreed by sync_model) with its failure flag
     * set, so no rank waits forever. */
    int local = VAE_OK;
    char why[VAE_ERRMSG_LEN] = "";
    size_t P = ctx->P;
    vae_elbo_stats s = {0};
    if (!model || !opt || (!x && n_local > 0) || (cond && !c && n_local > 0)) {
        local = VAE_ERR_NULL;
        snprintf(why, sizeof why, "train_step%s: %s is NULL", cond ? "_cond" : "",
                 !model ? "model" : !opt ? "opt" : !x && n_local > 0 ? "x" : "c");
    } else if (vae_model_param_count(model) != P) {
        local = VAE_ERR_SHAPE;
        snprintf(why, sizeof why, "train_step: the model has %zu parameters, sync_model agreed on %zu",
                 vae_model_param_count(model), P);
    } else if (n_global == 0 || n_local > n_global || first > n_global - n_local) {
        local = VAE_ERR_INVALID;
        snprintf(why, sizeof why, "train_step: shard [%zu, %zu) is not inside a batch of %zu rows",
                 first, first + n_local, n_global);
    } else if (n_local > 0) {
        uint64_t step = vae_optimizer_steps(opt);
        /* a conditional model without conditions gets the library's message
         * naming the _cond call, so pass c only from the _cond entry */
        local = shard_gradient(ctx, model, x, cond ? c : NULL, n_local, step, first, &s);
        if (local != VAE_OK)
            snprintf(why, sizeof why, "%s", vae_model_errmsg(model));
    }
    float *buf = ctx->fused, *tail = buf + P;
    if (local == VAE_OK && n_local > 0) {
        /* share of the global mean: (n_local / n_global) * mean gradient of the shard */
        float w = (float)((double)n_local / (double)n_global);
        const float *g = vae_model_gradient_data(model);
        if (w == 1.0f)
            memcpy(buf, g, P * sizeof *buf);
        else
            for (size_t i = 0; i < P; i++)
                buf[i] = w * g[i];
    } else {
        memset(buf, 0, P * sizeof *buf);
    }
    tail[F_REC] = local == VAE_OK ? (float)(s.rec * (double)n_local) : 0.0f;
    tail[F_KL] = local == VAE_OK ? (float)(s.kl * (double)n_local) : 0.0f;
    tail[F_LOSS] = local == VAE_OK ? (float)(s.loss * (double)n_local) : 0.0f;
    tail[F_ROWS] = (float)n_local;
    tail[F_FAILED] = local == VAE_OK ? 0.0f : 1.0f;
    /* The one exchange of the step. */
    int rc = vmpi_check(ctx,
                        MPI_Allreduce(MPI_IN_PLACE, buf, (int)(P + F_TAIL), MPI_FLOAT, MPI_SUM,
                                      ctx->comm),
                        "train_step: MPI_Allreduce");
    if (rc != VAE_OK)
        return rc;
    if (tail[F_FAILED] != 0.0f) {
        if (local != VAE_OK)
            return vmpi_fail(ctx, local, "rank %d: %s", ctx->rank, why);
        return vmpi_fail(ctx, VAE_ERR_INVALID,
                         "train_step: %.0f other rank(s) failed (see their messages); nothing was applied",
                         (double)tail[F_FAILED]);
    }
    if ((double)tail[F_ROWS] != (double)n_global)
        return vmpi_fail(ctx, VAE_ERR_INVALID,
                         "train_step: the ranks' shards hold %.0f rows, the global batch %zu",
                         (double)tail[F_ROWS], n_global);
    memcpy(vae_model_gradient_data(model), buf, P * sizeof *buf);
    /* Same gradient, same optimizer state: the same update on every rank,
     * and the same verdict when it would diverge. */
    rc = vae_model_apply_gradients(model, opt);
    if (rc != VAE_OK)
        return vmpi_fail(ctx, rc, "rank %d: %s", ctx->rank, vae_model_errmsg(model));
    if (stats) {
        double n = (double)n_global;
        stats->rec = tail[F_REC] / n;
        stats->kl = tail[F_KL] / n;
        stats->elbo = stats->rec - stats->kl;
        stats->loss = tail[F_LOSS] / n;
        stats->n = n_global;
    }
    return VAE_OK;
}

VAE_API int vae_mpi_train_step(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                               const float *x, size_t n_local, size_t first, size_t n_global,
                               vae_elbo_stats *stats)
{
    if (!ctx)
        return VAE_ERR_NULL;
    return train_step(ctx, model, opt, x, NULL, 0, n_local, first, n_global, stats);
}

VAE_API int vae_mpi_train_step_cond(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                                    const float *x, const float *c, size_t n_local, size_t first,
                                    size_t n_global, vae_elbo_stats *stats)
{
    if (!ctx)
        return VAE_ERR_NULL;
    return train_step(ctx, model, opt, x, c, 1, n_local, first, n_global, stats);
}

/* splitmix64: the generator of the epoch order (Steele, Lea & Flood 2014). */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

VAE_API void vae_mpi_epoch_order(uint64_t seed, uint64_t epoch, size_t *order, size_t n)
{
    if (!order)
        return;
    uint64_t st = seed ^ 0x65706f6368ULL; /* "epoch" */
    uint64_t mix = splitmix64(&st) ^ epoch;
    st = splitmix64(&mix);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    /* Fisher-Yates; j uniform in [0, i) by rejection (no modulo bias). */
    for (size_t i = n; i > 1; i--) {
        uint64_t limit = UINT64_MAX - UINT64_MAX % i, v;
        do
            v = splitmix64(&st);
        while (v >= limit);
        size_t j = (size_t)(v % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Agree on a dataset every rank holds: same count and dimension everywhere. */
static int check_same_data(vae_mpi *ctx, vae_model *model, const vae_dataset *data, size_t batch,
                           const char *what)
{
    int local = VAE_OK;
    char why[VAE_ERRMSG_LEN] = "";
    vae_model_config mc;
    vae_model_config_init(&mc);
    if (!model || !data) {
        local = VAE_ERR_NULL;
        snprintf(why, sizeof why, "%s: %s is NULL", what, !model ? "model" : "data");
    } else if (batch == 0) {
        local = VAE_ERR_INVALID;
        snprintf(why, sizeof why, "%s: batch size 0", what);
    } else if (vae_model_get_config(model, &mc) == VAE_OK &&
               vae_dataset_dim(data) != (size_t)mc.input_dim) {
        local = VAE_ERR_SHAPE;
        snprintf(why, sizeof why, "%s: the dataset has %zu features, the model expects %d", what,
                 vae_dataset_dim(data), mc.input_dim);
    } else if (vae_dataset_count(data) == 0) {
        local = VAE_ERR_INVALID;
        snprintf(why, sizeof why, "%s: the dataset is empty", what);
    } else if (mc.cond_dim > 0 && vae_dataset_cond_dim(data) != (size_t)mc.cond_dim) {
        local = vae_dataset_cond_dim(data) == 0 ? VAE_ERR_INVALID : VAE_ERR_SHAPE;
        snprintf(why, sizeof why,
                 "%s: the model is conditional (cond_dim = %d) and the dataset has %zu condition "
                 "values per row (vae_dataset_set_onehot or vae_dataset_set_conditions)",
                 what, mc.cond_dim, vae_dataset_cond_dim(data));
    }
    int rc = vae_mpi_agree(ctx, local, why);
    if (rc != VAE_OK)
        return rc;
    long long n = (long long)vae_dataset_count(data), v[2] = {n, -n}, r[2];
    rc = vmpi_check(ctx, MPI_Allreduce(v, r, 2, MPI_LONG_LONG, MPI_MAX, ctx->comm), what);
    if (rc == VAE_OK && r[0] != -r[1])
        return vmpi_fail(ctx, VAE_ERR_SHAPE, "%s: the ranks' datasets differ in size (%lld to %lld)",
                         what, -r[1], r[0]);
    return rc;
}

VAE_API int vae_mpi_train_epoch(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                                const vae_dataset *data, size_t global_batch, uint64_t epoch,
                                vae_elbo_stats *stats)
{
    if (!ctx)
        return VAE_ERR_NULL;
    int rc = check_same_data(ctx, model, data, global_batch, "train_epoch");
    if (rc != VAE_OK)
        return rc;
    vae_model_config mc;
    vae_model_config_init(&mc);
    vae_model_get_config(model, &mc);
    size_t n = vae_dataset_count(data), d = vae_dataset_dim(data);
    size_t C = (size_t)mc.cond_dim; /* conditions go with their rows (0: none) */
    size_t B = global_batch < n ? global_batch : n;
    size_t first, count;
    vae_mpi_shard(ctx, B, &first, &count);
    int local = VAE_OK;
    if (vmpi_reserve((void **)&ctx->order, &ctx->order_cap, n, sizeof(size_t)) != 0 ||
        vmpi_reserve((void **)&ctx->batch, &ctx->batch_cap, (count ? count : 1) * d,
                     sizeof(float)) != 0 ||
        (C && vmpi_reserve((void **)&ctx->cbatch, &ctx->cbatch_cap, (count ? count : 1) * C,
                           sizeof(float)) != 0))
        local = VAE_ERR_NOMEM;
    if ((rc = vae_mpi_agree(ctx, local, "train_epoch: out of memory")) != VAE_OK)
        return rc;
    vae_mpi_epoch_order(mc.seed, epoch, ctx->order, n);
    double sum_rec = 0.0, sum_kl = 0.0, sum_loss = 0.0;
    size_t done = 0;
    for (size_t start = 0; start < n; start += B) {
        size_t cnt = n - start < B ? n - start : B;
        vae_mpi_shard(ctx, cnt, &first, &count);
        /* gather cannot fail here (rows are in range); keyed by the step so
         * a row's binarisation does not depend on the sharding */
        uint64_t step = opt ? vae_optimizer_steps(opt) : 0;
        if (count > 0)
            vae_dataset_gather(data, ctx->order + start + first, count, mc.seed, step, ctx->batch, NULL);
        if (count > 0 && C)
            vae_dataset_gather_cond(data, ctx->order + start + first, count, ctx->cbatch, NULL);
        vae_elbo_stats s;
        rc = C ? vae_mpi_train_step_cond(ctx, model, opt, ctx->batch, ctx->cbatch, count, first,
                                         cnt, &s)
               : vae_mpi_train_step(ctx, model, opt, ctx->batch, count, first, cnt, &s);
        if (rc != VAE_OK) {
            char msg[VAE_ERRMSG_LEN];
            memcpy(msg, ctx->errmsg, sizeof msg);
            return vmpi_fail(ctx, rc, "batch %zu of %zu: %s", start / B, (n + B - 1) / B, msg);
        }
        sum_rec += s.rec * (double)cnt;
        sum_kl += s.kl * (double)cnt;
        sum_loss += s.loss * (double)cnt;
        done += cnt;
    }
    if (stats) {
        stats->rec = sum_rec / (double)done;
        stats->kl = sum_kl / (double)done;
        stats->elbo = stats->rec - stats->kl;
        stats->loss = sum_loss / (double)done;
        stats->n = done;
    }
    return VAE_OK;
}

VAE_API int vae_mpi_evaluate(vae_mpi *ctx, vae_model *model, const vae_dataset *data,
                             size_t batch_size, vae_elbo_stats *stats)
{
    if (!ctx)
        return VAE_ERR_NULL;
    int rc = check_same_data(ctx, model, data, batch_size, "evaluate");
    if (rc != VAE_OK)
        return rc;
    vae_model_config mc;
    vae_model_config_init(&mc);
    vae_model_get_config(model, &mc);
    size_t n = vae_dataset_count(data), d = vae_dataset_dim(data), first, count;
    size_t C = (size_t)mc.cond_dim; /* conditions go with their rows (0: none) */
    vae_mpi_shard(ctx, n, &first, &count);
    size_t B = batch_size < count ? batch_size : (count ? count : 1);
    int local = VAE_OK;
    char why[VAE_ERRMSG_LEN] = "";
    /* sums over this rank's rows: rec, kl, rows, failed */
    double sums[4] = {0.0, 0.0, (double)count, 0.0}, tot[4];
    if (vmpi_reserve((void **)&ctx->order, &ctx->order_cap, B, sizeof(size_t)) != 0 ||
        vmpi_reserve((void **)&ctx->batch, &ctx->batch_cap, B * d, sizeof(float)) != 0 ||
        (C && vmpi_reserve((void **)&ctx->cbatch, &ctx->cbatch_cap, B * C, sizeof(float)) != 0)) {
        local = VAE_ERR_NOMEM;
        snprintf(why, sizeof why, "evaluate: out of memory");
    }
    for (size_t s = 0; s < count && local == VAE_OK; s += B) {
        size_t cnt = count - s < B ? count - s : B;
        for (size_t i = 0; i < cnt; i++)
            ctx->order[i] = first + s + i;
        vae_elbo_stats st;
        local = vae_dataset_gather(data, ctx->order, cnt, mc.seed, VAE_MPI_EVAL_KEY, ctx->batch, NULL);
        if (local == VAE_OK && C)
            local = vae_dataset_gather_cond(data, ctx->order, cnt, ctx->cbatch, NULL);
        if (local == VAE_OK)
            local = C ? vae_model_elbo_keyed_cond(model, ctx->batch, ctx->cbatch, cnt,
                                                  VAE_MPI_EVAL_KEY, first + s, NULL, &st)
                      : vae_model_elbo_keyed(model, ctx->batch, cnt, VAE_MPI_EVAL_KEY, first + s,
                                             NULL, &st);
        if (local != VAE_OK) {
            snprintf(why, sizeof why, "evaluate: %s", vae_model_errmsg(model));
            break;
        }
        sums[0] += st.rec * (double)cnt;
        sums[1] += st.kl * (double)cnt;
    }
    sums[3] = local == VAE_OK ? 0.0 : 1.0;
    rc = vmpi_check(ctx, MPI_Allreduce(sums, tot, 4, MPI_DOUBLE, MPI_SUM, ctx->comm),
                    "evaluate: MPI_Allreduce");
    if (rc != VAE_OK)
        return rc;
    if (tot[3] != 0.0)
        return local != VAE_OK ? vmpi_fail(ctx, local, "rank %d: %s", ctx->rank, why)
                               : vmpi_fail(ctx, VAE_ERR_INVALID,
                                           "evaluate: %.0f other rank(s) failed (see their messages)",
                                           tot[3]);
    if (stats) {
        stats->rec = tot[0] / tot[2];
        stats->kl = tot[1] / tot[2];
        stats->elbo = stats->rec - stats->kl;
        stats->loss = -stats->elbo;
        stats->n = (size_t)tot[2];
    }
    return VAE_OK;
}

VAE_API int vae_mpi_save(vae_mpi *ctx, vae_model *model, const vae_optimizer *opt,
                         const char *path)
{
    if (!ctx)
        return VAE_ERR_NULL;
    int local = VAE_OK;
    const char *why = NULL;
    if (ctx->rank == 0) {
        local = vae_model_save(model, opt, path);
        why = local == VAE_OK ? NULL : model ? vae_model_errmsg(model) : "save: model is NULL";
    }
    return vae_mpi_agree(ctx, local, why);
}
