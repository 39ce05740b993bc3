/* The public calls of beta-VAE training and collapse diagnostics (0.3.0):
 * schedule state, the aggressive-training check, diagnostics. */
#include <math.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "models/model.h"
#include "objectives/schedule.h"

/* Rows a diagnostics call accepts: the MI estimate costs O(n^2 K). */
#define MAX_DIAG_ROWS ((size_t)1 << 20)

/* n examples of input_dim finite values, 2 <= n <= 2^20. */
static int check_examples(vae_model *m, const float *x, size_t n, const char *what)
{
    if (m->cfg.cond_dim > 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s: a conditional model (cond_dim = %d) is not supported", what,
                        m->cfg.cond_dim);
    if (!x)
        return vae_fail(m->errmsg, VAE_ERR_NULL, "%s: x is NULL", what);
    if (n < 2)
        return vae_fail(m->errmsg, VAE_ERR_INVALID, "%s: n = %zu: needs at least 2 examples", what, n);
    if (n > MAX_DIAG_ROWS)
        return vae_fail(m->errmsg, VAE_ERR_LIMIT, "%s: n = %zu exceeds 2^20 examples", what, n);
    size_t d = (size_t)m->cfg.input_dim;
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return vae_fail(m->errmsg, VAE_ERR_NONFINITE, "%s: x[%zu][%zu] = %g is not finite", what,
                            i / d, i % d, (double)x[i]);
    return VAE_OK;
}

/* Output structs without an initialiser: their 0.3.0 sizes are pinned too
 * (tests/infra/abi_old_header.c checks them against the 0.3.0 header). */
VAE_ABI_PIN(vae_training_state, encoder_steps, VAE_0_3_0_SIZEOF_TRAINING_STATE);
VAE_ABI_PIN(vae_diagnostics, n, VAE_0_3_0_SIZEOF_DIAGNOSTICS);

VAE_API int vae_model_training_state(const vae_model *model, vae_training_state *state)
{
    if (!model || !state)
        return VAE_ERR_NULL;
    if (state->struct_size < sizeof state->struct_size || state->struct_size > 65536)
        return VAE_ERR_INVALID;
    vae_training_state s;
    memset(&s, 0, sizeof s);
    s.step = model->step;
    s.beta = vo_kl_weight(&model->cfg, model->step);
    s.beta_norm = s.beta * model->cfg.latent_dim / model->cfg.input_dim;
    s.capacity = vo_capacity(&model->cfg, model->step);
    s.aggressive_active = model->cfg.aggressive && model->agg_active;
    s.aggressive_mi = model->agg_mi;
    s.encoder_steps = model->enc_steps;
    vae_abi_put(state, &s, sizeof s, state->struct_size);
    return VAE_OK;
}

VAE_API int vae_model_aggressive_update(vae_model *model, const float *x, size_t n, double *mi,
                                        int *active)
{
    if (!model)
        return VAE_ERR_NULL;
    int rc = check_examples(model, x, n, "aggressive_update");
    return rc == VAE_OK ? vm_aggressive_update(model, x, n, mi, active) : rc;
}

VAE_API int vae_model_diagnostics(vae_model *model, const float *x, size_t n,
                                  vae_diagnostics *out, float *kl_per_dim, float *mu_variance)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "diagnostics: out is NULL");
    if (out->struct_size < sizeof out->struct_size || out->struct_size > 65536)
        return vae_fail(model->errmsg, VAE_ERR_INVALID,
                        "diagnostics: out->struct_size = %zu: set it to sizeof(vae_diagnostics)",
                        out->struct_size);
    if (model->cfg.latent_layers > 1)
        return vae_fail(model->errmsg, VAE_ERR_UNSUPPORTED,
                        "diagnostics: a hierarchical model (latent_layers = %d): use "
                        "vae_model_layer_stats", model->cfg.latent_layers);
    int rc = check_examples(model, x, n, "diagnostics");
    return rc == VAE_OK ? vm_diagnostics(model, x, n, out, kl_per_dim, mu_variance) : rc;
}
