/* Condition vectors of a dataset (for conditional models): one float vector
 * per example, given by the caller or one-hot from the integer labels. They
 * travel with their rows through subsets and epoch shuffles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "data/dataset.h"

/* Largest condition vector accepted (matches the model's cond_dim limit). */
#define MAX_COND_DIM ((size_t)1 << 16)

/* Replace ds's conditions by `c` (owned by ds from now on). */
static void install(vae_dataset *ds, float *c, size_t dim)
{
    free(ds->cond);
    ds->cond = c;
    ds->cdim = dim;
}

VAE_API int vae_dataset_set_conditions(vae_dataset *ds, const float *c, size_t n, size_t dim)
{
    if (!ds)
        return VAE_ERR_NULL;
    if (!c)
        return vae_fail(ds->errmsg, VAE_ERR_NULL, "set_conditions: c is NULL");
    if (n != ds->n)
        return vae_fail(ds->errmsg, VAE_ERR_SHAPE,
                        "set_conditions: %zu condition rows for a dataset of %zu examples", n,
                        ds->n);
    if (dim == 0 || dim > MAX_COND_DIM)
        return vae_fail(ds->errmsg, dim == 0 ? VAE_ERR_INVALID : VAE_ERR_LIMIT,
                        "set_conditions: dim = %zu: must be in 1..65536", dim);
    for (size_t i = 0; i < n * dim; i++)
        if (!isfinite(c[i]))
            return vae_fail(ds->errmsg, VAE_ERR_NONFINITE,
                            "set_conditions: c[%zu][%zu] = %g is not finite", i / dim, i % dim,
                            (double)c[i]);
    float *copy = malloc((n * dim > 0 ? n * dim : 1) * sizeof *copy);
    if (!copy)
        return vae_fail(ds->errmsg, VAE_ERR_NOMEM, "set_conditions: out of memory");
    memcpy(copy, c, n * dim * sizeof *copy);
    install(ds, copy, dim);
    return VAE_OK;
}

VAE_API int vae_dataset_set_onehot(vae_dataset *ds, int n_classes)
{
    if (!ds)
        return VAE_ERR_NULL;
    if (!ds->labels)
        return vae_fail(ds->errmsg, VAE_ERR_INVALID,
                        "set_onehot: the dataset has no labels (load it with a labels file)");
    if (n_classes < 1 || (size_t)n_classes > MAX_COND_DIM)
        return vae_fail(ds->errmsg, VAE_ERR_INVALID, "set_onehot: n_classes = %d: must be in 1..65536",
                        n_classes);
    for (size_t i = 0; i < ds->n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= n_classes)
            return vae_fail(ds->errmsg, VAE_ERR_INVALID,
                            "set_onehot: label %d of example %zu is outside 0..%d", ds->labels[i],
                            i, n_classes - 1);
    size_t K = (size_t)n_classes;
    float *c = calloc(ds->n * K > 0 ? ds->n * K : 1, sizeof *c);
    if (!c)
        return vae_fail(ds->errmsg, VAE_ERR_NOMEM, "set_onehot: out of memory");
    for (size_t i = 0; i < ds->n; i++)
        c[i * K + (size_t)ds->labels[i]] = 1.0f;
    install(ds, c, K);
    return VAE_OK;
}

VAE_API size_t vae_dataset_cond_dim(const vae_dataset *ds) { return ds ? ds->cdim : 0; }

VAE_API const float *vae_dataset_conditions(const vae_dataset *ds) { return ds ? ds->cond : NULL; }

void vds_gather_cond(const vae_dataset *ds, const size_t *idx, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++)
        memcpy(dst + i * ds->cdim, ds->cond + idx[i] * ds->cdim, ds->cdim * sizeof *dst);
}

int vds_copy_cond(vae_dataset *ds, const vae_dataset *src, size_t first, size_t count)
{
    if (!src->cond)
        return 0;
    size_t m = count * src->cdim;
    float *c = malloc((m ? m : 1) * sizeof *c);
    if (!c)
        return -1;
    memcpy(c, src->cond + first * src->cdim, m * sizeof *c);
    install(ds, c, src->cdim);
    return 0;
}
