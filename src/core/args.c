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

int vc_call_train_epoch(vc_core *k, const vc_data_needs *need, const vc_step *step,
                        vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                        vae_progress_fn progress, void *user, void *stats)
{
    if (!opt)
        return vae_fail(k->errmsg, VAE_ERR_NULL, "train_epoch: opt is NULL");
    int rc = vc_check_dataset(k->errmsg, ds, batch, need, "train_epoch");
    return rc == VAE_OK ? vc_train_epoch(k, step, opt, ds, batch, progress, user, stats) : rc;
}

int vc_call_evaluate(vc_core *k, const vc_data_needs *need, const vae_dataset *ds, size_t batch,
                     void *stats)
{
    int rc = vc_check_dataset(k->errmsg, ds, batch, need, "evaluate");
    if (rc == VAE_OK && !stats)
        rc = vae_fail(k->errmsg, VAE_ERR_NULL, "evaluate: stats is NULL");
    return rc == VAE_OK ? vc_evaluate(k, ds, batch, stats) : rc;
}

int vc_check_layers(char *msg, int input_dim, int n_hidden, const int *hidden)
{
    if (input_dim <= 0 || input_dim > (1 << 24))
        return vae_fail(msg, VAE_ERR_INVALID, "input_dim = %d: must be in 1..2^24", input_dim);
    if (n_hidden < 0 || n_hidden > VAE_MAX_HIDDEN)
        return vae_fail(msg, VAE_ERR_INVALID, "n_hidden = %d: must be in 0..%d", n_hidden,
                        VAE_MAX_HIDDEN);
    for (int k = 0; k < n_hidden; k++)
        if (hidden[k] <= 0 || hidden[k] > (1 << 20))
            return vae_fail(msg, VAE_ERR_INVALID, "hidden[%d] = %d: must be in 1..2^20", k,
                            hidden[k]);
    return VAE_OK;
}

int vc_check_input_shape(char *msg, int input_dim, const int *s)
{
    if (s[0] == 0 && s[1] == 0 && s[2] == 0)
        return VAE_OK;
    if (s[0] < 1 || s[1] < 1 || s[2] < 1 || (double)s[0] * s[1] * s[2] != input_dim)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "input_shape = %dx%dx%d: each must be >= 1 with product input_dim "
                        "= %d (or all 0: flat)", s[0], s[1], s[2], input_dim);
    return VAE_OK;
}

int vc_check_param_total(char *msg, double params)
{
    if (params > 2147483647.0)
        return vae_fail(msg, VAE_ERR_LIMIT, "the model would have %.3g parameters (limit 2^31)",
                        params);
    return VAE_OK;
}

int vc_check_activation(char *msg, int activation, float leaky_slope)
{
    if (activation < VAE_ACT_RELU || activation > VAE_ACT_SOFTPLUS)
        return vae_fail(msg, VAE_ERR_INVALID, "activation = %d: unknown", activation);
    if (!isfinite(leaky_slope))
        return vae_fail(msg, VAE_ERR_INVALID, "leaky_slope is not finite");
    return VAE_OK;
}

int vc_check_sigma(char *msg, float gaussian_sigma)
{
    if (!(gaussian_sigma > 0.0f) || !isfinite(gaussian_sigma))
        return vae_fail(msg, VAE_ERR_INVALID, "gaussian_sigma = %g: must be finite and > 0",
                        (double)gaussian_sigma);
    return VAE_OK;
}
