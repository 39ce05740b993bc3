/* The public calls for training in pieces: compute a gradient, look at or
 * change it (data-parallel training averages it across processes), apply an
 * optimizer step; reseeding the training stream; keyed batch gathering.
 * Argument checks and messages here, the work in models/gradients.c. */
#include <math.h>
#include <string.h>

#include "common/errors.h"
#include "data/dataset.h"
#include "models/model.h"
#include "optim/optimizer.h"

/* Rows a single call accepts (as in model_api.c). */
#define MAX_ROWS ((size_t)1 << 28)

/* Stream ids given to vae_model_reseed are offset by 2^63, clear of the
 * model's own (VM_STREAM_TRAIN, VM_STREAM_EVAL). */
#define USER_STREAM_BIT ((uint64_t)1 << 63)

/* Mixed into the seed of gather's generators, so that they differ from the
 * noise generators of compute_gradients_keyed with the same seed and key. */
#define GATHER_SEED_MIX 0x62696e6172697a65ULL /* "binarize" */

/* The model's kind matches the call: a conditional model takes the _cond
 * variant with conditions c, an unconditional one the plain call (c NULL).
 * `what` is the plain call's name; the message names the call to use. */
static int check_kind(vae_model *m, const float *c, size_t n, int cond, const char *what)
{
    if (!cond && m->cfg.cond_dim > 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s: the model is conditional (cond_dim = %d): use vae_model_%s_cond with "
                        "the conditions",
                        what, m->cfg.cond_dim, what);
    if (!cond)
        return VAE_OK;
    if (m->cfg.cond_dim == 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s_cond: the model is unconditional (cond_dim = 0): use vae_model_%s",
                        what, what);
    if (!c)
        return vae_fail(m->errmsg, VAE_ERR_NULL, "%s_cond: c is NULL", what);
    if (n > MAX_ROWS)
        return VAE_OK; /* check_batch names the limit */
    size_t C = (size_t)m->cfg.cond_dim;
    for (size_t i = 0; i < n * C; i++)
        if (!isfinite(c[i]))
            return vae_fail(m->errmsg, VAE_ERR_NONFINITE, "%s_cond: c[%zu][%zu] = %g is not finite",
                            what, i / C, i % C, (double)c[i]);
    return VAE_OK;
}

/* x holds n finite rows of the model's width, in [0, 1] for a Bernoulli
 * likelihood; c (a _cond call: cond = 1) n finite rows of cond_dim. */
static int check_batch(vae_model *m, const float *x, const float *c, size_t n, int cond,
                       const char *what)
{
    int rc = check_kind(m, c, n, cond, what);
    if (rc != VAE_OK)
        return rc;
    const char *suffix = cond ? "_cond" : "";
    if (!x)
        return vae_fail(m->errmsg, VAE_ERR_NULL, "%s%s: x is NULL", what, suffix);
    if (n == 0)
        return vae_fail(m->errmsg, VAE_ERR_INVALID, "%s%s: n = 0 rows", what, suffix);
    if (n > MAX_ROWS)
        return vae_fail(m->errmsg, VAE_ERR_LIMIT, "%s%s: n = %zu rows exceeds 2^28", what, suffix,
                        n);
    size_t d = (size_t)m->cfg.input_dim;
    int unit = m->cfg.likelihood == VAE_LIK_BERNOULLI;
    for (size_t i = 0; i < n * d; i++) {
        float v = x[i];
        if (!isfinite(v))
            return vae_fail(m->errmsg, VAE_ERR_NONFINITE, "%s%s: x[%zu][%zu] = %g is not finite",
                            what, suffix, i / d, i % d, (double)v);
        if (unit && (v < 0.0f || v > 1.0f))
            return vae_fail(m->errmsg, VAE_ERR_INVALID,
                            "%s%s: x[%zu][%zu] = %g: the Bernoulli likelihood needs data in [0, 1]",
                            what, suffix, i / d, i % d, (double)v);
    }
    return VAE_OK;
}

/* The plain and _cond gradient calls: checks, then forward and backward
 * with the training stream's noise (noise NULL) or keyed noise. */
static int compute(vae_model *m, const float *x, const float *c, size_t n, int cond,
                   const vm_noise *noise, vae_elbo_stats *stats, const char *what)
{
    int rc = check_batch(m, x, c, n, cond, what);
    if (rc != VAE_OK)
        return rc;
    vae_elbo_stats s;
    double norm2;
    if ((rc = vm_compute_gradients(m, x, cond ? c : NULL, n, noise, &s, &norm2)) != VAE_OK)
        return rc;
    if (stats)
        *stats = s;
    if (!isfinite(s.loss) || !isfinite(norm2))
        return vae_fail(m->errmsg, VAE_ERR_DIVERGED, "%s%s: %s is not finite", what,
                        cond ? "_cond" : "", isfinite(s.loss) ? "the gradient" : "the loss");
    return VAE_OK;
}

VAE_API int vae_model_compute_gradients(vae_model *model, const float *x, size_t n,
                                        vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    return compute(model, x, NULL, n, 0, NULL, stats, "compute_gradients");
}

VAE_API int vae_model_compute_gradients_cond(vae_model *model, const float *x, const float *c,
                                             size_t n, vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    return compute(model, x, c, n, 1, NULL, stats, "compute_gradients");
}

/* The keyed gradient calls: row i's noise from (seed, key, first + i). */
static int compute_keyed(vae_model *m, const float *x, const float *c, size_t n, int cond,
                         uint64_t key, uint64_t first, vae_elbo_stats *stats)
{
    if (first > UINT64_MAX - n)
        return vae_fail(m->errmsg, VAE_ERR_INVALID,
                        "compute_gradients_keyed%s: first + n overflows 64 bits",
                        cond ? "_cond" : "");
    vm_noise noise = {1, key, first};
    return compute(m, x, c, n, cond, &noise, stats, "compute_gradients_keyed");
}

VAE_API int vae_model_compute_gradients_keyed(vae_model *model, const float *x, size_t n,
                                              uint64_t key, uint64_t first,
                                              vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    return compute_keyed(model, x, NULL, n, 0, key, first, stats);
}

VAE_API int vae_model_compute_gradients_keyed_cond(vae_model *model, const float *x,
                                                   const float *c, size_t n, uint64_t key,
                                                   uint64_t first, vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    return compute_keyed(model, x, c, n, 1, key, first, stats);
}

static int elbo_keyed(vae_model *m, const float *x, const float *c, size_t n, int cond,
                      uint64_t key, uint64_t first, float *per_example, vae_elbo_stats *stats)
{
    if (first > UINT64_MAX - n)
        return vae_fail(m->errmsg, VAE_ERR_INVALID, "elbo_keyed%s: first + n overflows 64 bits",
                        cond ? "_cond" : "");
    int rc = check_batch(m, x, c, n, cond, "elbo_keyed");
    return rc == VAE_OK ? vm_elbo_keyed(m, x, cond ? c : NULL, n, key, first, per_example, stats)
                        : rc;
}

VAE_API int vae_model_elbo_keyed(vae_model *model, const float *x, size_t n, uint64_t key,
                                 uint64_t first, float *per_example, vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    return elbo_keyed(model, x, NULL, n, 0, key, first, per_example, stats);
}

VAE_API int vae_model_elbo_keyed_cond(vae_model *model, const float *x, const float *c, size_t n,
                                      uint64_t key, uint64_t first, float *per_example,
                                      vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    return elbo_keyed(model, x, c, n, 1, key, first, per_example, stats);
}

VAE_API float *vae_model_gradient_data(vae_model *model)
{
    return model ? model->P.grad : NULL;
}

VAE_API const float *vae_model_param_data(const vae_model *model)
{
    return model ? model->P.val : NULL;
}

VAE_API int vae_model_apply_gradients(vae_model *model, vae_optimizer *opt)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!opt)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "apply_gradients: opt is NULL");
    return vm_apply_gradients(model, opt, vm_grad_norm2(model->pool, model->P.grad, model->P.total));
}

VAE_API int vae_model_reseed(vae_model *model, uint64_t seed, uint64_t stream)
{
    if (!model)
        return VAE_ERR_NULL;
    if (stream & USER_STREAM_BIT)
        return vae_fail(model->errmsg, VAE_ERR_INVALID, "reseed: stream = %llu: must be below 2^63",
                        (unsigned long long)stream);
    vt_rng_seed(&model->rng, seed, stream | USER_STREAM_BIT);
    return VAE_OK;
}

VAE_API int vae_dataset_gather(const vae_dataset *ds, const size_t *rows, size_t n,
                               uint64_t seed, uint64_t key, float *out, vae_error *err)
{
    if (!ds || !rows || !out)
        return vae_error_set(err, VAE_ERR_NULL,
                             !ds ? "gather: ds is NULL" : !rows ? "gather: rows is NULL"
                                                           : "gather: out is NULL");
    if (n > MAX_ROWS)
        return vae_error_set(err, VAE_ERR_LIMIT, "gather: n exceeds 2^28");
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->n) {
            char msg[VAE_ERRMSG_LEN];
            vae_fail(msg, VAE_ERR_INVALID, "gather: rows[%zu] = %zu: the dataset has %zu rows", i,
                     rows[i], ds->n);
            return vae_error_set(err, VAE_ERR_INVALID, msg);
        }
    for (size_t i = 0; i < n; i++) {
        /* Dynamic binarisation draws row rows[i]'s uniforms from generator
         * (seed', key, rows[i]): the same bits whichever batch or process asks. */
        vt_rng r;
        vt_rng_seed_keyed(&r, seed ^ GATHER_SEED_MIX, key, rows[i]);
        vds_gather(ds, rows + i, 1, out + i * ds->d, &r);
    }
    return vae_error_set(err, VAE_OK, "");
}

VAE_API int vae_dataset_gather_cond(const vae_dataset *ds, const size_t *rows, size_t n,
                                    float *out, vae_error *err)
{
    if (!ds || !rows || !out)
        return vae_error_set(err, VAE_ERR_NULL,
                             !ds ? "gather_cond: ds is NULL" : !rows ? "gather_cond: rows is NULL"
                                                                : "gather_cond: out is NULL");
    if (ds->cdim == 0)
        return vae_error_set(err, VAE_ERR_INVALID,
                             "gather_cond: the dataset has no conditions (vae_dataset_set_onehot "
                             "or vae_dataset_set_conditions)");
    if (n > MAX_ROWS)
        return vae_error_set(err, VAE_ERR_LIMIT, "gather_cond: n exceeds 2^28");
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->n) {
            char msg[VAE_ERRMSG_LEN];
            vae_fail(msg, VAE_ERR_INVALID, "gather_cond: rows[%zu] = %zu: the dataset has %zu rows",
                     i, rows[i], ds->n);
            return vae_error_set(err, VAE_ERR_INVALID, msg);
        }
    vds_gather_cond(ds, rows, n, out); /* copies: no randomness, nothing to key */
    return vae_error_set(err, VAE_OK, "");
}
