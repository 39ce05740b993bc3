/* The public PCA functions: argument checks and messages, then pca/pca. */
#include <math.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "data/dataset.h"
#include "pca/pca.h"

/* Rows a single call accepts (as the model's calls). */
#define MAX_ROWS ((size_t)1 << 28)
/* A struct_size above this cannot be a vae_pca_options (init was not called). */
#define OPTIONS_MAX_SIZE 4096
#define MAX_ITERATIONS 1000

static void options_defaults(vae_pca_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->center = 1;
    opt->max_iterations = 60;
}

VAE_ABI_INIT_SIZE(vae_pca_options, options_defaults)

/* The defaults, overwritten by the whole fields the caller's struct holds. */
static int read_options(const vae_pca_options *opt, vae_pca_options *o, char *msg)
{
    options_defaults(o);
    if (!opt)
        return VAE_OK;
    size_t size = opt->struct_size;
    if (size < sizeof(size_t) || size > OPTIONS_MAX_SIZE)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "pca_fit: options struct_size %zu is not valid (call "
                        "vae_pca_options_init)", size);
#define TAKE(field)                                                     \
    if (size >= offsetof(vae_pca_options, field) + sizeof o->field) \
    o->field = opt->field
    TAKE(center);
    TAKE(max_iterations);
#undef TAKE
    if (o->center != 0 && o->center != 1)
        return vae_fail(msg, VAE_ERR_INVALID, "pca_fit: options center = %d is not 0 or 1",
                        o->center);
    if (o->max_iterations < 1 || o->max_iterations > MAX_ITERATIONS)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "pca_fit: options max_iterations = %d is not in 1..%d",
                        o->max_iterations, MAX_ITERATIONS);
    return VAE_OK;
}

VAE_API int vae_pca_fit(const vae_dataset *ds, int k, const vae_pca_options *opt, vae_pca **out,
                        vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!ds || !out)
        return vae_error_set(err, VAE_ERR_NULL, !ds ? "pca_fit: ds is NULL"
                                                    : "pca_fit: out is NULL");
    vae_pca_options o;
    int st = read_options(opt, &o, msg);
    if (st != VAE_OK)
        return vae_error_set(err, st, msg);
    if (ds->n == 0 || ds->d == 0)
        return vae_error_set(err, VAE_ERR_INVALID, "pca_fit: the dataset is empty");
    if (ds->d > VPCA_MAX_DIM) {
        vae_fail(msg, VAE_ERR_LIMIT, "pca_fit: d = %zu exceeds %d (the covariance is d x d "
                 "doubles, the eigensolver O(d^3))", ds->d, VPCA_MAX_DIM);
        return vae_error_set(err, VAE_ERR_LIMIT, msg);
    }
    if (k < 1 || (size_t)k > ds->d) {
        vae_fail(msg, VAE_ERR_INVALID, "pca_fit: k = %d components: must be in 1..d = %zu", k,
                 ds->d);
        return vae_error_set(err, VAE_ERR_INVALID, msg);
    }
    st = vpca_fit(ds, k, o.center, o.max_iterations, out, msg);
    return vae_error_set(err, st, msg);
}

VAE_API void vae_pca_free(vae_pca *pca) { vpca_free(pca); }

VAE_API const char *vae_pca_errmsg(const vae_pca *pca) { return pca ? pca->errmsg : "pca is NULL"; }

VAE_API size_t vae_pca_dim(const vae_pca *pca) { return pca ? pca->d : 0; }

VAE_API size_t vae_pca_components_count(const vae_pca *pca) { return pca ? (size_t)pca->k : 0; }

VAE_API const float *vae_pca_mean(const vae_pca *pca) { return pca ? pca->mean : NULL; }

VAE_API const float *vae_pca_components(const vae_pca *pca)
{
    return pca ? pca->components : NULL;
}

VAE_API const double *vae_pca_explained_variance(const vae_pca *pca)
{
    return pca ? pca->variance : NULL;
}

VAE_API double vae_pca_total_variance(const vae_pca *pca) { return pca ? pca->total : 0.0; }

/* n in 1..MAX_ROWS and m = n*width finite values in v. */
static int check_rows(vae_pca *p, const char *what, const char *name, const float *v, size_t n,
                      size_t width)
{
    if (n == 0)
        return vae_fail(p->errmsg, VAE_ERR_INVALID, "%s: n = 0 rows", what);
    if (n > MAX_ROWS)
        return vae_fail(p->errmsg, VAE_ERR_LIMIT, "%s: n = %zu rows exceeds 2^28", what, n);
    for (size_t i = 0; i < n * width; i++)
        if (!isfinite(v[i]))
            return vae_fail(p->errmsg, VAE_ERR_NONFINITE, "%s: %s[%zu][%zu] = %g is not finite",
                            what, name, i / width, i % width, (double)v[i]);
    return VAE_OK;
}

VAE_API int vae_pca_project(vae_pca *pca, const float *x, size_t n, float *codes)
{
    if (!pca)
        return VAE_ERR_NULL;
    if (!x || !codes)
        return vae_fail(pca->errmsg, VAE_ERR_NULL, "pca_project: %s is NULL",
                        !x ? "x" : "codes");
    int st = check_rows(pca, "pca_project", "x", x, n, pca->d);
    if (st == VAE_OK && vpca_project(pca, x, n, codes) != VAE_OK)
        st = vae_fail(pca->errmsg, VAE_ERR_NOMEM, "pca_project: out of memory");
    return st;
}

VAE_API int vae_pca_decode(vae_pca *pca, const float *codes, size_t n, float *out)
{
    if (!pca)
        return VAE_ERR_NULL;
    if (!codes || !out)
        return vae_fail(pca->errmsg, VAE_ERR_NULL, "pca_decode: %s is NULL",
                        !codes ? "codes" : "out");
    int st = check_rows(pca, "pca_decode", "codes", codes, n, (size_t)pca->k);
    if (st == VAE_OK)
        vpca_decode(pca, codes, n, out);
    return st;
}

VAE_API int vae_pca_reconstruct(vae_pca *pca, const float *x, size_t n, float *out)
{
    if (!pca)
        return VAE_ERR_NULL;
    if (!x || !out)
        return vae_fail(pca->errmsg, VAE_ERR_NULL, "pca_reconstruct: %s is NULL",
                        !x ? "x" : "out");
    int st = check_rows(pca, "pca_reconstruct", "x", x, n, pca->d);
    if (st == VAE_OK && vpca_reconstruct(pca, x, n, out) != VAE_OK)
        st = vae_fail(pca->errmsg, VAE_ERR_NOMEM, "pca_reconstruct: out of memory");
    return st;
}

VAE_API int vae_pca_reconstruction_error(vae_pca *pca, const vae_dataset *ds, double *mse)
{
    if (!pca)
        return VAE_ERR_NULL;
    if (!ds || !mse)
        return vae_fail(pca->errmsg, VAE_ERR_NULL, "pca_reconstruction_error: %s is NULL",
                        !ds ? "ds" : "mse");
    if (ds->d != pca->d)
        return vae_fail(pca->errmsg, VAE_ERR_SHAPE,
                        "pca_reconstruction_error: the dataset has d = %zu columns, the PCA %zu",
                        ds->d, pca->d);
    if (vpca_reconstruction_error(pca, ds, mse) != VAE_OK)
        return vae_fail(pca->errmsg, VAE_ERR_NOMEM, "pca_reconstruction_error: out of memory");
    return VAE_OK;
}
