/* Argument checks shared by the families' api files (see args.h). */
#include "core/args.h"

#include <math.h>

#include "common/errors.h"
#include "optim/optimizer.h"
#include "tensor/vec.h"

int vc_check_rows(char *msg, size_t n, size_t max, const char *what)
{
    if (n == 0)
        return vae_fail(msg, VAE_ERR_INVALID, "%s: n = 0 rows", what);
    if (n > max && max == VC_MAX_ROWS)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: n = %zu rows exceeds 2^28", what, n);
    if (n > max)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: n = %zu rows exceeds %zu", what, n, max);
    return VAE_OK;
}

int vc_check_data(char *msg, const float *x, size_t n, size_t d, int unit, const char *what)
{
    size_t bad = vt_find_bad(x, n * d, unit); /* one vectorised pass when the data is fine */
    if (bad >= n * d)
        return VAE_OK;
    float v = x[bad];
    if (!isfinite(v))
        return vae_fail(msg, VAE_ERR_NONFINITE, "%s: x[%zu][%zu] = %g is not finite", what,
                        bad / d, bad % d, (double)v);
    if (unit && (v < 0.0f || v > 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "%s: x[%zu][%zu] = %g: the Bernoulli likelihood needs data in [0, 1]",
                        what, bad / d, bad % d, (double)v);
    return VAE_OK;
}

int vc_check_cond(char *msg, const float *c, size_t n, size_t C, const char *what)
{
    for (size_t i = 0; i < n * C; i++)
        if (!isfinite(c[i]))
            return vae_fail(msg, VAE_ERR_NONFINITE, "%s_cond: c[%zu][%zu] = %g is not finite",
                            what, i / C, i % C, (double)c[i]);
    return VAE_OK;
}

int vc_check_dataset(char *msg, const vae_dataset *ds, size_t batch, const vc_data_needs *need,
                     const char *what)
{
    if (!ds)
        return vae_fail(msg, VAE_ERR_NULL, "%s: dataset is NULL", what);
    if (ds->d != need->dim)
        return vae_fail(msg, VAE_ERR_SHAPE,
                        "%s: the dataset has %zu features per example, the model expects %zu",
                        what, ds->d, need->dim);
    if (ds->n == 0)
        return vae_fail(msg, VAE_ERR_INVALID, "%s: the dataset is empty", what);
    if (batch == 0)
        return vae_fail(msg, VAE_ERR_INVALID, "%s: batch_size = 0", what);
    if (batch > VC_MAX_ROWS)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: batch_size = %zu exceeds 2^28", what, batch);
    if (need->unit && ds->binarize == VAE_BINARIZE_NONE && (ds->xmin < 0.0f || ds->xmax > 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "%s: data range [%g, %g]: the Bernoulli likelihood needs data in [0, 1] "
                        "(scale the dataset)",
                        what, (double)ds->xmin, (double)ds->xmax);
    if (need->cond_dim > 0 && ds->cdim == 0)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "%s: the model is conditional (cond_dim = %zu) and the dataset has no "
                        "conditions (vae_dataset_set_onehot or vae_dataset_set_conditions)",
                        what, need->cond_dim);
    if (need->cond_dim > 0 && ds->cdim != need->cond_dim)
        return vae_fail(msg, VAE_ERR_SHAPE,
                        "%s: the dataset has conditions of %zu values, the model expects "
                        "cond_dim = %zu",
                        what, ds->cdim, need->cond_dim);
    return VAE_OK;
}

int vc_check_save(char *msg, const vae_optimizer *opt, size_t n_params, const char *path)
{
    if (!path)
        return vae_fail(msg, VAE_ERR_NULL, "save: path is NULL");
    if (!*path)
        return vae_fail(msg, VAE_ERR_INVALID, "save: the path is empty");
    return opt ? vopt_check_for_save(opt, n_params, msg) : VAE_OK;
}
