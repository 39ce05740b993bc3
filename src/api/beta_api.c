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

/* n examples of input_dim finite values, 2 <= n <= 2^20; a conditional
 * model takes the _cond call (cond = 1) with n finite rows of conditions c.
 * `what` is the plain call's name; the message names the call to use. */
static int check_examples(vae_model *m, const float *x, const float *c, size_t n, int cond,
                          const char *what)
{
    const char *suffix = cond ? "_cond" : "";
    if (!cond && m->cfg.cond_dim > 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s: the model is conditional (cond_dim = %d): use vae_model_%s_cond with "
                        "the conditions",
                        what, m->cfg.cond_dim, what);
    if (cond && m->cfg.cond_dim == 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s_cond: the model is unconditional (cond_dim = 0): use vae_model_%s",
                        what, what);
    if (!x)
        return vae_fail(m->errmsg, VAE_ERR_NULL, "%s%s: x is NULL", what, suffix);
    if (cond && !c)
        return vae_fail(m->errmsg, VAE_ERR_NULL, "%s_cond: c is NULL", what);
    if (n < 2)
        return vae_fail(m->errmsg, VAE_ERR_INVALID, "%s%s: n = %zu: needs at least 2 examples",
                        what, suffix, n);
    if (n > MAX_DIAG_ROWS)
        return vae_fail(m->errmsg, VAE_ERR_LIMIT, "%s%s: n = %zu exceeds 2^20 examples", what,
                        suffix, n);
    size_t d = (size_t)m->cfg.input_dim;
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(x[i]))
            return vae_fail(m->errmsg, VAE_ERR_NONFINITE, "%s%s: x[%zu][%zu] = %g is not finite",
                            what, suffix, i / d, i % d, (double)x[i]);
    size_t C = cond ? (size_t)m->cfg.cond_dim : 0;
    for (size_t i = 0; i < n * C; i++)
        if (!isfinite(c[i]))
            return vae_fail(m->errmsg, VAE_ERR_NONFINITE, "%s_cond: c[%zu][%zu] = %g is not finite",
                            what, i / C, i % C, (double)c[i]);
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
    int rc = check_examples(model, x, NULL, n, 0, "aggressive_update");
    return rc == VAE_OK ? vm_aggressive_update(model, x, NULL, n, mi, active) : rc;
}

VAE_API int vae_model_aggressive_update_cond(vae_model *model, const float *x, const float *c,
                                             size_t n, double *mi, int *active)
{
    if (!model)
        return VAE_ERR_NULL;
    int rc = check_examples(model, x, c, n, 1, "aggressive_update");
    return rc == VAE_OK ? vm_aggressive_update(model, x, c, n, mi, active) : rc;
}

/* The plain call (c NULL) and the _cond call (cond = 1). */
static int diagnostics(vae_model *model, const float *x, const float *c, size_t n, int cond,
                       vae_diagnostics *out, float *kl_per_dim, float *mu_variance)
{
    const char *suffix = cond ? "_cond" : "";
    if (!out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "diagnostics%s: out is NULL", suffix);
    if (out->struct_size < sizeof out->struct_size || out->struct_size > 65536)
        return vae_fail(model->errmsg, VAE_ERR_INVALID,
                        "diagnostics%s: out->struct_size = %zu: set it to sizeof(vae_diagnostics)",
                        suffix, out->struct_size);
    if (model->cfg.latent_layers > 1)
        return vae_fail(model->errmsg, VAE_ERR_UNSUPPORTED,
                        "diagnostics: a hierarchical model (latent_layers = %d): use "
                        "vae_model_layer_stats", model->cfg.latent_layers);
    int rc = check_examples(model, x, c, n, cond, "diagnostics");
    return rc == VAE_OK ? vm_diagnostics(model, x, cond ? c : NULL, n, out, kl_per_dim,
                                         mu_variance)
                        : rc;
}

VAE_API int vae_model_diagnostics(vae_model *model, const float *x, size_t n,
                                  vae_diagnostics *out, float *kl_per_dim, float *mu_variance)
{
    if (!model)
        return VAE_ERR_NULL;
    return diagnostics(model, x, NULL, n, 0, out, kl_per_dim, mu_variance);
}

VAE_API int vae_model_diagnostics_cond(vae_model *model, const float *x, const float *c,
                                       size_t n, vae_diagnostics *out, float *kl_per_dim,
                                       float *mu_variance)
{
    if (!model)
        return VAE_ERR_NULL;
    return diagnostics(model, x, c, n, 1, out, kl_per_dim, mu_variance);
}
