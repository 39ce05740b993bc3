/* The public calls of hierarchical models (docs/hierarchical.md): argument
 * checks and messages, then models/hvae.c. */
#include <math.h>

#include "common/errors.h"
#include "models/model.h"

VAE_API int vae_model_layer_stats(vae_model *model, const float *x, size_t n,
                                  vae_layer_stats *per_layer, int n_layers)
{
    if (!model)
        return VAE_ERR_NULL;
    char *msg = model->errmsg;
    if (!x || !per_layer)
        return vae_fail(msg, VAE_ERR_NULL, "layer_stats: %s is NULL", !x ? "x" : "per_layer");
    if (n_layers < 1 || n_layers > VAE_MAX_LATENT_LAYERS)
        return vae_fail(msg, VAE_ERR_INVALID, "layer_stats: n_layers = %d: must be in 1..%d",
                        n_layers, VAE_MAX_LATENT_LAYERS);
    size_t ss = per_layer[0].struct_size;
    if (ss < sizeof ss || ss > 65536)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "layer_stats: per_layer[0].struct_size = %zu: set it to "
                        "sizeof(vae_layer_stats)", ss);
    int rc = vm_ae_unsupported(model, "layer_stats"); /* an AE has no posterior to measure */
    if (rc != VAE_OK)
        return rc;
    if (model->cfg.cond_dim > 0)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "layer_stats: a conditional model (cond_dim = %d) is not supported",
                        model->cfg.cond_dim);
    if (model->cfg.posterior != VAE_POST_GAUSSIAN)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "layer_stats: posterior = %d: needs a Gaussian posterior",
                        model->cfg.posterior);
    if (n < 2)
        return vae_fail(msg, VAE_ERR_INVALID, "layer_stats: n = %zu: needs at least 2 examples", n);
    if (n > ((size_t)1 << 20))
        return vae_fail(msg, VAE_ERR_LIMIT, "layer_stats: n = %zu exceeds 2^20 examples", n);
    size_t d = (size_t)model->cfg.input_dim;
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return vae_fail(msg, VAE_ERR_NONFINITE, "layer_stats: x[%zu][%zu] = %g is not finite",
                            i / d, i % d, (double)x[i]);
    return vh_layer_stats(model, x, n, per_layer, n_layers);
}
