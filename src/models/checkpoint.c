/* Model checkpoints: the model's configuration, parameters and random state
 * (and an optimizer's state) as named tensors in the io container.
 * The tensor names and types are listed in docs/format.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "io/ckpt.h"
#include "models/model.h"
#include "models/netio.h"
#include "optim/optimizer.h"

#define KIND_GAUSSIAN_VAE 0

static int add_i64(vio_writer *w, const char *name, int64_t v, char *msg, int rc)
{
    return rc != VAE_OK ? rc : vio_writer_add_i64(w, name, v, msg);
}

static int add_f64(vio_writer *w, const char *name, double v, char *msg, int rc)
{
    return rc != VAE_OK ? rc : vio_writer_add_f64(w, name, v, msg);
}

static int save_config(const vae_model_config *c, vio_writer *w, char *msg)
{
    int rc = VAE_OK;
    rc = add_i64(w, "model.kind", KIND_GAUSSIAN_VAE, msg, rc);
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
    if (rc != VAE_OK)
        return rc;
    int64_t hidden[VAE_MAX_HIDDEN];
    for (int k = 0; k < VAE_MAX_HIDDEN; k++)
        hidden[k] = c->hidden[k];
    uint64_t dims[1] = {VAE_MAX_HIDDEN};
    rc = vio_writer_add(w, "model.hidden", VIO_I64, 1, dims, hidden, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.seed", VIO_U64, 0, NULL, &c->seed, msg);
    /* Since 0.4.0: the networks as their text forms, and the sample shape. */
    if (rc == VAE_OK)
        rc = vm_save_networks(w, "model", c->encoder, c->decoder, c->prior_network,
                              c->input_shape, msg);
    if (rc == VAE_OK)
        rc = vh_save_config(c, w, msg); /* hierarchical models only (models/hvae.c) */
    return rc;
}

int vm_save(vae_model *m, const vae_optimizer *opt, const char *path)
{
    for (size_t i = 0; i < m->P.total; i++)
        if (!isfinite(m->P.val[i]))
            return vae_fail(m->errmsg, VAE_ERR_NONFINITE,
                            "save: parameter %zu is not finite; refusing to write a checkpoint", i);
    vio_writer *w = vio_writer_new();
    if (!w)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "save: out of memory");
    int rc = save_config(&m->cfg, w, m->errmsg);
    uint64_t rdims[1] = {4};
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.rng", VIO_U64, 1, rdims, m->rng.s, m->errmsg);
    if (rc == VAE_OK && m->train_e.score >= 0) {
        const vg_node *sc = &m->train_g->nodes[m->train_e.score];
        rc = add_f64(w, "model.score_ema", sc->fparam[1], m->errmsg, rc);
        rc = add_i64(w, "model.score_ema_ready", sc->iparam[1], m->errmsg, rc);
    }
    /* Since 0.3.0: schedule and aggressive-training state. */
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.step", VIO_U64, 0, NULL, &m->step, m->errmsg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.encoder_steps", VIO_U64, 0, NULL, &m->enc_steps, m->errmsg);
    rc = add_i64(w, "model.aggressive_active", m->agg_active, m->errmsg, rc);
    if (!isnan(m->agg_mi))
        rc = add_f64(w, "model.aggressive_mi", m->agg_mi, m->errmsg, rc);
    for (int i = 0; i < m->P.n && rc == VAE_OK; i++) {
        char name[VIO_MAX_NAME];
        snprintf(name, sizeof name, "param.%s", m->P.p[i].name);
        uint64_t dims[2] = {(uint64_t)m->P.p[i].rows, (uint64_t)m->P.p[i].cols};
        rc = vio_writer_add(w, name, VIO_F32, 2, dims, vn_val(&m->P, i), m->errmsg);
    }
    if (rc == VAE_OK && opt)
        rc = vopt_save(opt, w, m->errmsg);
    if (rc == VAE_OK)
        rc = vio_writer_commit(w, path, m->errmsg);
    vio_writer_free(w);
    return rc;
}

static int get_int(const vio_file *f, const char *name, int *out, char *msg)
{
    int64_t v;
    int rc = vio_file_i64(f, name, &v, msg);
    if (rc != VAE_OK)
        return rc;
    if (v < -2147483647LL || v > 2147483647LL)
        return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s = %lld is out of range", name, (long long)v);
    *out = (int)v;
    return VAE_OK;
}

static int get_float(const vio_file *f, const char *name, float *out, char *msg)
{
    double v;
    int rc = vio_file_f64(f, name, &v, msg);
    if (rc == VAE_OK)
        *out = (float)v;
    return rc;
}

/* An optional scalar: absent keeps *out, present must be valid. */
static int opt_int(const vio_file *f, const char *name, int *out, char *msg)
{
    return vio_file_find(f, name) ? get_int(f, name, out, msg) : VAE_OK;
}

static int opt_float(const vio_file *f, const char *name, float *out, char *msg)
{
    return vio_file_find(f, name) ? get_float(f, name, out, msg) : VAE_OK;
}

static int load_config(const vio_file *f, vae_model_config *c, vm_net_texts *texts, char *msg)
{
    vae_model_config_init(c);
    int kind = -1;
    int rc = get_int(f, "model.kind", &kind, msg);
    if (rc == VAE_OK && kind == 1) /* KIND_VQVAE, models/vqvae_checkpoint.c */
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the file holds a VQ-VAE (model.kind 1): load it with vae_vqvae_load");
    if (rc == VAE_OK && kind != KIND_GAUSSIAN_VAE)
        return vae_fail(msg, VAE_ERR_FORMAT, "model.kind = %d is not a model this version knows",
                        kind);
    if (rc == VAE_OK) rc = get_int(f, "model.input_dim", &c->input_dim, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.latent_dim", &c->latent_dim, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.n_hidden", &c->n_hidden, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.activation", &c->activation, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.likelihood", &c->likelihood, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.samples", &c->samples, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.kl_mode", &c->kl_mode, msg);
    if (rc == VAE_OK) rc = get_int(f, "model.threads", &c->threads, msg);
    if (rc == VAE_OK) rc = get_float(f, "model.leaky_slope", &c->leaky_slope, msg);
    if (rc == VAE_OK) rc = get_float(f, "model.gaussian_sigma", &c->gaussian_sigma, msg);
    if (rc == VAE_OK) rc = get_float(f, "model.logvar_min", &c->logvar_min, msg);
    if (rc == VAE_OK) rc = get_float(f, "model.logvar_max", &c->logvar_max, msg);
    /* Since 0.2.0; older files lack them and get the defaults. */
    if (rc == VAE_OK) rc = opt_int(f, "model.posterior", &c->posterior, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.estimator", &c->estimator, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.baseline", &c->baseline, msg);
    if (rc == VAE_OK) rc = opt_float(f, "model.ema_decay", &c->ema_decay, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.score_reward", &c->score_reward, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.objective", &c->objective, msg);
    if (rc == VAE_OK) rc = opt_float(f, "model.beta", &c->beta, msg);
    /* Since 0.3.0. */
    if (rc == VAE_OK) rc = opt_int(f, "model.kl_schedule", &c->kl_schedule, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.kl_warmup_steps", &c->kl_warmup_steps, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.kl_cycle_steps", &c->kl_cycle_steps, msg);
    if (rc == VAE_OK) rc = opt_float(f, "model.kl_cycle_ratio", &c->kl_cycle_ratio, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.kl_cycles", &c->kl_cycles, msg);
    if (rc == VAE_OK) rc = opt_float(f, "model.capacity_gamma", &c->capacity_gamma, msg);
    if (rc == VAE_OK) rc = opt_float(f, "model.capacity_max", &c->capacity_max, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.capacity_steps", &c->capacity_steps, msg);
    if (rc == VAE_OK) rc = opt_float(f, "model.free_bits", &c->free_bits, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.aggressive", &c->aggressive, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.aggressive_max_inner", &c->aggressive_max_inner, msg);
    /* Since 0.3.0; older files are unconditional models. */
    if (rc == VAE_OK) rc = opt_int(f, "model.cond_dim", &c->cond_dim, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.prior", &c->prior, msg);
    if (rc == VAE_OK) rc = opt_int(f, "model.prior_hidden", &c->prior_hidden, msg);
    const vio_tensor *t;
    if (rc == VAE_OK) rc = vio_file_expect(f, "model.hidden", VIO_I64, VAE_MAX_HIDDEN, &t, msg);
    if (rc == VAE_OK) {
        const int64_t *h = t->data;
        for (int k = 0; k < VAE_MAX_HIDDEN; k++) {
            if (h[k] < 0 || h[k] > (1 << 20))
                return vae_fail(msg, VAE_ERR_FORMAT, "model.hidden[%d] = %lld is out of range", k,
                                (long long)h[k]);
            c->hidden[k] = (int)h[k];
        }
        rc = vio_file_expect(f, "model.seed", VIO_U64, 1, &t, msg);
    }
    if (rc == VAE_OK)
        c->seed = *(const uint64_t *)t->data;
    if (rc == VAE_OK)
        rc = vm_load_networks(f, "model", texts, &c->encoder, &c->decoder, &c->prior_network,
                              c->input_shape, msg);
    if (rc == VAE_OK)
        rc = vh_load_config(f, c, texts->hier, msg); /* optional: absent = latent_layers 1 */
    if (rc == VAE_OK && vm_config_check(c, msg) != VAE_OK) {
        char why[VAE_ERRMSG_LEN];
        memcpy(why, msg, sizeof why);
        return vae_fail(msg, VAE_ERR_FORMAT, "invalid model configuration in the file: %s", why);
    }
    return rc;
}

static int load_state(vae_model *m, const vio_file *f, char *msg)
{
    const vio_tensor *t;
    int rc = vio_file_expect(f, "model.rng", VIO_U64, 4, &t, msg);
    if (rc != VAE_OK)
        return rc;
    memcpy(m->rng.s, t->data, sizeof m->rng.s);
    if ((m->rng.s[0] | m->rng.s[1] | m->rng.s[2] | m->rng.s[3]) == 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "model.rng is all zero (not a valid state)");
    if (m->train_e.score >= 0 && vio_file_find(f, "model.score_ema")) {
        vg_node *sc = &m->train_g->nodes[m->train_e.score];
        float ema;
        int ready = 0;
        if ((rc = get_float(f, "model.score_ema", &ema, msg)) != VAE_OK ||
            (rc = get_int(f, "model.score_ema_ready", &ready, msg)) != VAE_OK)
            return rc;
        if (!isfinite(ema))
            return vae_fail(msg, VAE_ERR_FORMAT, "model.score_ema is not finite");
        sc->fparam[1] = ema;
        sc->iparam[1] = ready != 0;
    }
    /* Since 0.3.0; older files start the schedules at step 0. */
    if (vio_file_find(f, "model.step")) {
        if ((rc = vio_file_expect(f, "model.step", VIO_U64, 1, &t, msg)) != VAE_OK)
            return rc;
        m->step = *(const uint64_t *)t->data;
    }
    if (vio_file_find(f, "model.encoder_steps")) {
        if ((rc = vio_file_expect(f, "model.encoder_steps", VIO_U64, 1, &t, msg)) != VAE_OK)
            return rc;
        m->enc_steps = *(const uint64_t *)t->data;
    }
    if (vio_file_find(f, "model.aggressive_active")) {
        int a = 0;
        if ((rc = get_int(f, "model.aggressive_active", &a, msg)) != VAE_OK)
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
    for (int i = 0; i < m->P.n; i++) {
        const vn_param *p = &m->P.p[i];
        char name[VIO_MAX_NAME];
        snprintf(name, sizeof name, "param.%s", p->name);
        rc = vio_file_expect(f, name, VIO_F32, (uint64_t)p->rows * (uint64_t)p->cols, &t, msg);
        if (rc != VAE_OK)
            return rc;
        if (t->ndim != 2 || t->dims[0] != (uint64_t)p->rows || t->dims[1] != (uint64_t)p->cols)
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: shape differs from [%d, %d]", name,
                            p->rows, p->cols);
        const float *v = t->data;
        for (size_t k = 0; k < (size_t)p->rows * p->cols; k++)
            if (!isfinite(v[k]))
                return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: element %zu is not finite", name, k);
        memcpy(vn_val(&m->P, i), v, (size_t)p->rows * p->cols * sizeof(float));
    }
    return VAE_OK;
}

/* Before building a model (which allocates and initialises every parameter),
 * make sure the file really holds that many: a small damaged file must not
 * make us allocate gigabytes. */
static int check_param_sizes(const vio_file *f, const vae_model_config *c, char *msg)
{
    double have = 0.0;
    for (size_t i = 0; i < vio_file_count(f); i++) {
        const vio_tensor *t = vio_file_at(f, i);
        if (strncmp(t->name, "param.", 6) == 0)
            have += (double)t->count;
    }
    double want;
    int rc = vm_param_count(c, &want, msg);
    if (rc != VAE_OK)
        return rc;
    if (have != want)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the configuration declares %.0f parameters, the file holds %.0f", want,
                        have);
    return VAE_OK;
}

int vm_load(const char *path, vae_model **out, vae_optimizer **opt_out, char *msg)
{
    vio_file *f = NULL;
    vae_model *m = NULL;
    vae_optimizer *opt = NULL;
    vae_model_config c;
    vm_net_texts *texts = malloc(sizeof *texts);
    if (!texts)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    int rc = vio_file_read(path, &f, msg);
    if (rc == VAE_OK)
        rc = load_config(f, &c, texts, msg);
    if (rc == VAE_OK)
        rc = check_param_sizes(f, &c, msg);
    if (rc == VAE_OK)
        rc = vm_create(&c, &m, msg);
    if (rc == VAE_OK)
        rc = load_state(m, f, msg);
    if (rc == VAE_OK && opt_out)
        rc = vopt_load_for(f, m->P.total, &opt, msg);
    vio_file_free(f);
    free(texts);
    if (rc != VAE_OK) {
        vm_free(m);
        vae_optimizer_free(opt);
        return rc;
    }
    *out = m;
    if (opt_out)
        *opt_out = opt;
    return VAE_OK;
}
