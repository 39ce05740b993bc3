/* The VAE's checkpoint section (core/checkpoint.h frames it): its
 * configuration records, and its training state beyond the stream and the
 * parameters (score-function baseline, schedule and aggressive-training
 * state). The tensor names and types are listed in docs/format.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "io/ckpt.h"
#include "models/model.h"
#include "models/netio.h"

#define KIND_GAUSSIAN_VAE 0
#define KIND_VQVAE 1 /* models/vqvae_checkpoint.c */

/* What load_config fills: the configuration and the network texts it points to. */
typedef struct vm_loaded {
    vae_model_config c;
    vm_net_texts texts;
} vm_loaded;

static int check_kind(int kind, char *msg)
{
    if (kind == KIND_VQVAE)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the file holds a VQ-VAE (model.kind 1): load it with vae_vqvae_load");
    if (kind != KIND_GAUSSIAN_VAE)
        return vae_fail(msg, VAE_ERR_FORMAT, "model.kind = %d is not a model this version knows",
                        kind);
    return VAE_OK;
}

static int add_i64(vio_writer *w, const char *name, int64_t v, char *msg, int rc)
{
    return rc != VAE_OK ? rc : vio_writer_add_i64(w, name, v, msg);
}

static int add_f64(vio_writer *w, const char *name, double v, char *msg, int rc)
{
    return rc != VAE_OK ? rc : vio_writer_add_f64(w, name, v, msg);
}

static int save_config(void *self, vio_writer *w, char *msg)
{
    const vae_model_config *c = &((vae_model *)self)->cfg;
    int rc = VAE_OK;
    rc = add_i64(w, "model.input_dim", c->input_dim, msg, rc);
    rc = add_i64(w, "model.latent_dim", c->latent_dim, msg, rc);
    rc = add_i64(w, "model.n_hidden", c->n_hidden, msg, rc);
    rc = add_i64(w, "model.activation", c->activation, msg, rc);
    rc = add_i64(w, "model.likelihood", c->likelihood, msg, rc);
    rc = add_i64(w, "model.samples", c->samples, msg, rc);
    rc = add_i64(w, "model.kl_mode", c->kl_mode, msg, rc);
    rc = add_i64(w, "model.threads", c->threads, msg, rc);
    rc = add_f64(w, "model.leaky_slope", c->leaky_slope, msg, rc);
    rc = add_f64(w, "model.gaussian_sigma", c->gaussian_sigma, msg, rc);
    rc = add_f64(w, "model.logvar_min", c->logvar_min, msg, rc);
    rc = add_f64(w, "model.logvar_max", c->logvar_max, msg, rc);
    rc = add_i64(w, "model.posterior", c->posterior, msg, rc);
    rc = add_i64(w, "model.estimator", c->estimator, msg, rc);
    rc = add_i64(w, "model.baseline", c->baseline, msg, rc);
    rc = add_f64(w, "model.ema_decay", c->ema_decay, msg, rc);
    rc = add_i64(w, "model.score_reward", c->score_reward, msg, rc);
    rc = add_i64(w, "model.objective", c->objective, msg, rc);
    rc = add_f64(w, "model.beta", c->beta, msg, rc);
    /* Since 0.3.0 (beta-VAE training settings). */
    rc = add_i64(w, "model.kl_schedule", c->kl_schedule, msg, rc);
    rc = add_i64(w, "model.kl_warmup_steps", c->kl_warmup_steps, msg, rc);
    rc = add_i64(w, "model.kl_cycle_steps", c->kl_cycle_steps, msg, rc);
    rc = add_f64(w, "model.kl_cycle_ratio", c->kl_cycle_ratio, msg, rc);
    rc = add_i64(w, "model.kl_cycles", c->kl_cycles, msg, rc);
    rc = add_f64(w, "model.capacity_gamma", c->capacity_gamma, msg, rc);
    rc = add_f64(w, "model.capacity_max", c->capacity_max, msg, rc);
    rc = add_i64(w, "model.capacity_steps", c->capacity_steps, msg, rc);
    rc = add_f64(w, "model.free_bits", c->free_bits, msg, rc);
    rc = add_i64(w, "model.aggressive", c->aggressive, msg, rc);
    rc = add_i64(w, "model.aggressive_max_inner", c->aggressive_max_inner, msg, rc);
    /* Since 0.3.0: the conditional configuration (prior.* parameters follow as param.prior.*). */
    rc = add_i64(w, "model.cond_dim", c->cond_dim, msg, rc);
    rc = add_i64(w, "model.prior", c->prior, msg, rc);
    rc = add_i64(w, "model.prior_hidden", c->prior_hidden, msg, rc);
    if (rc == VAE_OK)
        rc = vc_save_hidden(w, "model.hidden", c->hidden, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.seed", VIO_U64, 0, NULL, &c->seed, msg);
    /* Since 0.4.0: the networks as their text forms, and the sample shape. */
    if (rc == VAE_OK)
        rc = vm_save_networks(w, "model", c->encoder, c->decoder, c->prior_network,
                              c->input_shape, msg);
    if (rc == VAE_OK)
        rc = vh_save_config(c, w, msg); /* hierarchical models only (models/hvae.c) */
    if (rc == VAE_OK) /* since 0.4.0: family, code penalty, corruption (models/ae.c) */
        rc = vm_ae_save_config(w, c, msg);
    return rc;
}

static int save_state(void *self, vio_writer *w, char *msg)
{
    vae_model *m = self;
    int rc = VAE_OK;
    if (m->train_e.score >= 0) {
        const vg_node *sc = &m->train_g->nodes[m->train_e.score];
        rc = add_f64(w, "model.score_ema", sc->fparam[1], msg, rc);
        rc = add_i64(w, "model.score_ema_ready", sc->iparam[1], msg, rc);
    }
    /* Since 0.3.0: schedule and aggressive-training state. */
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.step", VIO_U64, 0, NULL, &m->step, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.encoder_steps", VIO_U64, 0, NULL, &m->enc_steps, msg);
    rc = add_i64(w, "model.aggressive_active", m->agg_active, msg, rc);
    if (!isnan(m->agg_mi))
        rc = add_f64(w, "model.aggressive_mi", m->agg_mi, msg, rc);
    return rc;
}

static int load_config(const vio_file *f, void *out, char *msg)
{
    vm_loaded *l = out;
    vae_model_config *c = &l->c;
    vae_model_config_init(c);
    int rc = VAE_OK;
    if (rc == VAE_OK) rc = vc_get_int(f, "model.input_dim", &c->input_dim, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.latent_dim", &c->latent_dim, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.n_hidden", &c->n_hidden, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.activation", &c->activation, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.likelihood", &c->likelihood, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.samples", &c->samples, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.kl_mode", &c->kl_mode, msg);
    if (rc == VAE_OK) rc = vc_get_int(f, "model.threads", &c->threads, msg);
    if (rc == VAE_OK) rc = vc_get_float(f, "model.leaky_slope", &c->leaky_slope, msg);
    if (rc == VAE_OK) rc = vc_get_float(f, "model.gaussian_sigma", &c->gaussian_sigma, msg);
    if (rc == VAE_OK) rc = vc_get_float(f, "model.logvar_min", &c->logvar_min, msg);
    if (rc == VAE_OK) rc = vc_get_float(f, "model.logvar_max", &c->logvar_max, msg);
    /* Since 0.2.0; older files lack them and get the defaults. */
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.posterior", &c->posterior, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.estimator", &c->estimator, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.baseline", &c->baseline, msg);
    if (rc == VAE_OK) rc = vc_opt_float(f, "model.ema_decay", &c->ema_decay, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.score_reward", &c->score_reward, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.objective", &c->objective, msg);
    if (rc == VAE_OK) rc = vc_opt_float(f, "model.beta", &c->beta, msg);
    /* Since 0.3.0. */
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.kl_schedule", &c->kl_schedule, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.kl_warmup_steps", &c->kl_warmup_steps, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.kl_cycle_steps", &c->kl_cycle_steps, msg);
    if (rc == VAE_OK) rc = vc_opt_float(f, "model.kl_cycle_ratio", &c->kl_cycle_ratio, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.kl_cycles", &c->kl_cycles, msg);
    if (rc == VAE_OK) rc = vc_opt_float(f, "model.capacity_gamma", &c->capacity_gamma, msg);
    if (rc == VAE_OK) rc = vc_opt_float(f, "model.capacity_max", &c->capacity_max, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.capacity_steps", &c->capacity_steps, msg);
    if (rc == VAE_OK) rc = vc_opt_float(f, "model.free_bits", &c->free_bits, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.aggressive", &c->aggressive, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.aggressive_max_inner", &c->aggressive_max_inner, msg);
    /* Since 0.3.0; older files are unconditional models. */
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.cond_dim", &c->cond_dim, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.prior", &c->prior, msg);
    if (rc == VAE_OK) rc = vc_opt_int(f, "model.prior_hidden", &c->prior_hidden, msg);
    if (rc == VAE_OK)
        rc = vc_load_hidden(f, "model.hidden", c->hidden, msg);
    const vio_tensor *t;
    if (rc == VAE_OK)
        rc = vio_file_expect(f, "model.seed", VIO_U64, 1, &t, msg);
    if (rc == VAE_OK)
        c->seed = *(const uint64_t *)t->data;
    if (rc == VAE_OK)
        rc = vm_load_networks(f, "model", &l->texts, &c->encoder, &c->decoder,
                              &c->prior_network, c->input_shape, msg);
    if (rc == VAE_OK)
        rc = vh_load_config(f, c, l->texts.hier, msg); /* optional: absent = latent_layers 1 */
    if (rc == VAE_OK)
        rc = vm_ae_load_config(f, c, msg); /* optional: absent = a VAE without corruption */
    if (rc == VAE_OK && vm_config_check(c, msg) != VAE_OK)
        return vc_config_invalid(msg, "model");
    return rc;
}

static int param_count(const void *cfg, double *count, char *msg)
{
    return vm_param_count(&((const vm_loaded *)cfg)->c, count, msg);
}

static int create(const void *cfg, vc_core **out, char *msg)
{
    vae_model *m = NULL;
    int rc = vm_create(&((const vm_loaded *)cfg)->c, &m, msg);
    *out = m ? &m->core : NULL;
    return rc;
}

static int load_state(void *self, const vio_file *f, char *msg)
{
    vae_model *m = self;
    int rc = VAE_OK;
    if (m->train_e.score >= 0 && vio_file_find(f, "model.score_ema")) {
        vg_node *sc = &m->train_g->nodes[m->train_e.score];
        float ema;
        int ready = 0;
        if ((rc = vc_get_float(f, "model.score_ema", &ema, msg)) != VAE_OK ||
            (rc = vc_get_int(f, "model.score_ema_ready", &ready, msg)) != VAE_OK)
            return rc;
        if (!isfinite(ema))
            return vae_fail(msg, VAE_ERR_FORMAT, "model.score_ema is not finite");
        sc->fparam[1] = ema;
        sc->iparam[1] = ready != 0;
    }
    /* Since 0.3.0; older files start the schedules at step 0. */
    if ((rc = vc_opt_u64(f, "model.step", &m->step, msg)) != VAE_OK ||
        (rc = vc_opt_u64(f, "model.encoder_steps", &m->enc_steps, msg)) != VAE_OK)
        return rc;
    if (vio_file_find(f, "model.aggressive_active")) {
        int a = 0;
        if ((rc = vc_get_int(f, "model.aggressive_active", &a, msg)) != VAE_OK)
            return rc;
        m->agg_active = a != 0;
    }
    if (vio_file_find(f, "model.aggressive_mi")) {
        double v;
        if ((rc = vio_file_f64(f, "model.aggressive_mi", &v, msg)) != VAE_OK)
            return rc;
        if (!isfinite(v))
            return vae_fail(msg, VAE_ERR_FORMAT, "model.aggressive_mi is not finite");
        m->agg_mi = v;
    }
    return VAE_OK;
}

static void destroy(void *self) { vm_free(self); }

const vc_format vm_format = VC_FORMAT(KIND_GAUSSIAN_VAE, "model.rng", vm_loaded, NULL);
