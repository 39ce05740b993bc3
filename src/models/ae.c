/* Autoencoders and denoising on the vae_model handle (docs/autoencoders.md).
 *
 *   AE (family VAE_FAMILY_AE): z = h W_mu + b_mu (the "enc.mu" head; no
 *     log-variance head), x_hat = decoder(z),
 *     loss = -mean_i log p(x_i | x_hat_i) + code_l2 mean_i sum_j z_ij^2
 *     (objectives/ae.c; the graphs are model.c's with this objective).
 *   Denoising (either family): in training the encoder reads
 *     x~ = corrupt(x) (data/corrupt.h), fresh from the training stream at
 *     every step, while the likelihood scores the clean x (Im et al. 2017's
 *     denoising VAE). Evaluation, encode, reconstruct and denoise use the
 *     inputs as given.
 */
#include <math.h>
#include <stdlib.h>

#include "common/errors.h"
#include "data/corrupt.h"
#include "models/model.h"

static int ae_only_pathwise_elbo(const vae_model_config *c, char *msg)
{
    const char *bad = c->estimator != VAE_EST_PATHWISE ? "the score estimator"
                      : c->objective != VAE_OBJ_ELBO   ? "the IWAE objective"
                      : c->aggressive                  ? "aggressive training"
                      : c->prior != VAE_PRIOR_STANDARD ? "a learned prior"
                      : c->free_bits > 0.0f            ? "free bits"
                      : c->capacity_gamma > 0.0f       ? "the capacity objective"
                                                       : NULL;
    if (bad)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "family ae: an autoencoder has no posterior or prior, so %s does not "
                        "apply", bad);
    return VAE_OK;
}

int vm_ae_check(const vae_model_config *c, char *msg)
{
    if (c->family != VAE_FAMILY_VAE && c->family != VAE_FAMILY_AE)
        return vae_fail(msg, VAE_ERR_INVALID, "family = %d: unknown", c->family);
    if (!(c->code_l2 >= 0.0f) || !isfinite(c->code_l2))
        return vae_fail(msg, VAE_ERR_INVALID, "code_l2 = %g: must be finite and >= 0",
                        (double)c->code_l2);
    if (c->family == VAE_FAMILY_VAE && c->code_l2 != 0.0f)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "code_l2 = %g: the code penalty is for family ae (a VAE has its KL)",
                        (double)c->code_l2);
    int rc = vds_corruption_check(c->corruption, c->corruption_level, msg);
    if (rc != VAE_OK)
        return rc;
    return c->family == VAE_FAMILY_AE ? ae_only_pathwise_elbo(c, msg) : VAE_OK;
}

int vm_ae_unsupported(vae_model *m, const char *what)
{
    if (m->cfg.family != VAE_FAMILY_AE)
        return VAE_OK;
    return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                    "%s: the model is an autoencoder (family ae), which has no posterior or "
                    "prior; use a VAE", what);
}

const float *vm_encoder_input(vae_model *m, const float *x, size_t n, const vm_noise *noise)
{
    if (m->cfg.corruption == VAE_CORRUPT_NONE)
        return x;
    size_t D = (size_t)m->cfg.input_dim;
    if (n * D > m->noisy_cap) {
        float *p = realloc(m->noisy, n * D * sizeof *p);
        if (!p) {
            vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for a corrupted batch of %zu", n);
            return NULL;
        }
        m->noisy = p;
        m->noisy_cap = n * D;
    }
    if (!noise || !noise->keyed) {
        vds_corrupt(m->cfg.corruption, m->cfg.corruption_level, &m->rng, x, n, D, m->noisy);
        return m->noisy;
    }
    for (size_t i = 0; i < n; i++) {
        vt_rng r;
        vt_rng_seed_keyed(&r, m->cfg.seed ^ VDS_CORRUPT_STREAM, noise->key, noise->first + i);
        vds_corrupt(m->cfg.corruption, m->cfg.corruption_level, &r, x + i * D, 1, D,
                    m->noisy + i * D);
    }
    return m->noisy;
}

int vm_ae_save_config(vio_writer *w, const vae_model_config *c, char *msg)
{
    int rc = VAE_OK;
    if (c->family != VAE_FAMILY_VAE)
        rc = vio_writer_add_i64(w, "model.family", c->family, msg);
    if (rc == VAE_OK && c->code_l2 != 0.0f)
        rc = vio_writer_add_f64(w, "model.code_l2", c->code_l2, msg);
    if (rc == VAE_OK && c->corruption != VAE_CORRUPT_NONE) {
        rc = vio_writer_add_i64(w, "model.corruption", c->corruption, msg);
        if (rc == VAE_OK)
            rc = vio_writer_add_f64(w, "model.corruption_level", c->corruption_level, msg);
    }
    return rc;
}

int vm_ae_load_config(const vio_file *f, vae_model_config *c, char *msg)
{
    int rc = vc_opt_int(f, "model.family", &c->family, msg);
    if (rc == VAE_OK)
        rc = vc_opt_float(f, "model.code_l2", &c->code_l2, msg);
    if (rc == VAE_OK)
        rc = vc_opt_int(f, "model.corruption", &c->corruption, msg);
    if (rc == VAE_OK)
        rc = vc_opt_float(f, "model.corruption_level", &c->corruption_level, msg);
    return rc;
}
