/* The VQ-VAE's checkpoint section (core/checkpoint.h frames it): its
 * configuration records, and its state beyond the stream and the
 * parameters: EMA codebook state, idle counters, prior. Names and types:
 * docs/format.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "io/ckpt.h"
#include "models/netio.h"
#include "models/vqvae.h"

/* model.kind values shared with models/checkpoint.c */
#define KIND_GAUSSIAN_VAE 0
#define KIND_VQVAE 1

typedef struct ival {
    const char *name;
    int *v;
} ival;

typedef struct fval {
    const char *name;
    float *v;
} fval;

#define N_INTS 10
#define N_FLOATS 5

static void fields(vae_vqvae_config *c, ival *iv, fval *fv)
{
    ival is[N_INTS] = {
        {"vq.input_dim", &c->input_dim},         {"vq.n_hidden", &c->n_hidden},
        {"vq.activation", &c->activation},       {"vq.likelihood", &c->likelihood},
        {"vq.n_latents", &c->n_latents},         {"vq.code_dim", &c->code_dim},
        {"vq.codebook_size", &c->codebook_size}, {"vq.codebook_update", &c->codebook_update},
        {"vq.restart_after", &c->restart_after}, {"vq.threads", &c->threads},
    };
    fval fs[N_FLOATS] = {
        {"vq.leaky_slope", &c->leaky_slope}, {"vq.gaussian_sigma", &c->gaussian_sigma},
        {"vq.beta", &c->beta},               {"vq.ema_decay", &c->ema_decay},
        {"vq.ema_eps", &c->ema_eps},
    };
    memcpy(iv, is, sizeof is);
    memcpy(fv, fs, sizeof fs);
}

static int check_kind(int kind, char *msg)
{
    if (kind == KIND_GAUSSIAN_VAE)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the file holds a Gaussian VAE (model.kind 0), not a VQ-VAE: load it with "
                        "vae_model_load");
    if (kind != KIND_VQVAE)
        return vae_fail(msg, VAE_ERR_FORMAT, "model.kind = %d is not a VQ-VAE (model.kind 1)", kind);
    return VAE_OK;
}

static int save_config(void *self, vio_writer *w, char *msg)
{
    vae_vqvae_config *c = &((vae_vqvae *)self)->cfg;
    ival iv[N_INTS];
    fval fv[N_FLOATS];
    fields(c, iv, fv);
    int rc = VAE_OK;
    for (int i = 0; i < N_INTS && rc == VAE_OK; i++)
        rc = vio_writer_add_i64(w, iv[i].name, *iv[i].v, msg);
    for (int i = 0; i < N_FLOATS && rc == VAE_OK; i++)
        rc = vio_writer_add_f64(w, fv[i].name, *fv[i].v, msg);
    if (rc == VAE_OK)
        rc = vc_save_hidden(w, "vq.hidden", c->hidden, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "vq.seed", VIO_U64, 0, NULL, &c->seed, msg);
    if (rc == VAE_OK) /* since 0.4.0 */
        rc = vm_save_networks(w, "vq", c->encoder, c->decoder, NULL, c->input_shape, msg);
    return rc;
}

/* The codebook is not always a parameter (EMA): check it too. */
static int save_check(void *self, char *msg)
{
    const vae_vqvae *q = self;
    size_t KD = (size_t)q->cfg.codebook_size * (size_t)q->cfg.code_dim;
    for (size_t i = 0; i < KD; i++)
        if (!isfinite(q->codebook[i]))
            return vae_fail(msg, VAE_ERR_NONFINITE,
                            "save: codebook entry %zu is not finite; refusing to write a checkpoint", i);
    return VAE_OK;
}

static int save_state(void *self, vio_writer *w, char *msg)
{
    vae_vqvae *q = self;
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim;
    uint64_t d2[2] = {K, D}, dk[1] = {K};
    int rc = VAE_OK;
    if (q->ema_m) {
        rc = vio_writer_add(w, "vq.ema_codebook", VIO_F32, 2, d2, q->ema_code, msg);
        if (rc == VAE_OK)
            rc = vio_writer_add(w, "vq.ema_n", VIO_F64, 1, dk, q->ema_n, msg);
        if (rc == VAE_OK)
            rc = vio_writer_add(w, "vq.ema_m", VIO_F64, 2, d2, q->ema_m, msg);
    }
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "vq.idle", VIO_I64, 1, dk, q->idle, msg);
    if (rc == VAE_OK && q->prior) {
        uint64_t dp[2] = {(uint64_t)q->cfg.n_latents, K};
        rc = vio_writer_add(w, "vq.prior", VIO_F32, 2, dp, q->prior, msg);
    }
    return rc;
}

/* What load_config fills: the configuration and the network texts it points to. */
typedef struct vq_loaded {
    vae_vqvae_config c;
    vm_net_texts texts;
} vq_loaded;

static int load_config(const vio_file *f, void *out, char *msg)
{
    vq_loaded *l = out;
    vae_vqvae_config *c = &l->c;
    vae_vqvae_config_init(c);
    ival iv[N_INTS];
    fval fv[N_FLOATS];
    fields(c, iv, fv);
    int rc = VAE_OK;
    for (int i = 0; i < N_INTS && rc == VAE_OK; i++)
        rc = vc_get_int(f, iv[i].name, iv[i].v, msg);
    for (int i = 0; i < N_FLOATS && rc == VAE_OK; i++)
        rc = vc_get_float(f, fv[i].name, fv[i].v, msg);
    if (rc == VAE_OK)
        rc = vc_load_hidden(f, "vq.hidden", c->hidden, msg);
    const vio_tensor *t;
    if (rc == VAE_OK)
        rc = vio_file_expect(f, "vq.seed", VIO_U64, 1, &t, msg);
    if (rc == VAE_OK)
        c->seed = *(const uint64_t *)t->data;
    if (rc == VAE_OK)
        rc = vm_load_networks(f, "vq", &l->texts, &c->encoder, &c->decoder, NULL,
                              c->input_shape, msg);
    if (rc == VAE_OK && vq_config_check(c, msg) != VAE_OK)
        return vc_config_invalid(msg, "VQ-VAE");
    /* The EMA state's size is allocated with the model: check it first. */
    if (rc == VAE_OK && c->codebook_update == VAE_VQ_CODEBOOK_EMA) {
        t = vio_file_find(f, "vq.ema_m");
        if (!t || t->count != (uint64_t)c->codebook_size * (uint64_t)c->code_dim)
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor vq.ema_m: missing or misshaped");
    }
    return rc;
}

/* A float tensor of count finite values, copied to dst. */
static int get_f32(const vio_file *f, const char *name, uint64_t count, float *dst, char *msg)
{
    const vio_tensor *t;
    int rc = vio_file_expect(f, name, VIO_F32, count, &t, msg);
    if (rc != VAE_OK)
        return rc;
    const float *v = t->data;
    for (uint64_t k = 0; k < count; k++)
        if (!isfinite(v[k]))
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: element %llu is not finite", name,
                            (unsigned long long)k);
    memcpy(dst, v, count * sizeof(float));
    return VAE_OK;
}

static int get_f64(const vio_file *f, const char *name, uint64_t count, double *dst, int nonneg,
                   char *msg)
{
    const vio_tensor *t;
    int rc = vio_file_expect(f, name, VIO_F64, count, &t, msg);
    if (rc != VAE_OK)
        return rc;
    const double *v = t->data;
    for (uint64_t k = 0; k < count; k++)
        if (!isfinite(v[k]) || (nonneg && v[k] < 0.0))
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: element %llu = %g is not valid", name,
                            (unsigned long long)k, v[k]);
    memcpy(dst, v, count * sizeof(double));
    return VAE_OK;
}

static int load_state(void *self, const vio_file *f, char *msg)
{
    vae_vqvae *q = self;
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim,
           M = (size_t)q->cfg.n_latents;
    const vio_tensor *t;
    int rc;
    if (q->ema_m) {
        if ((rc = get_f32(f, "vq.ema_codebook", K * D, q->ema_code, msg)) != VAE_OK ||
            (rc = get_f64(f, "vq.ema_n", K, q->ema_n, 1, msg)) != VAE_OK ||
            (rc = get_f64(f, "vq.ema_m", K * D, q->ema_m, 0, msg)) != VAE_OK)
            return rc;
    }
    rc = vio_file_expect(f, "vq.idle", VIO_I64, K, &t, msg);
    if (rc != VAE_OK)
        return rc;
    const int64_t *idle = t->data;
    for (size_t k = 0; k < K; k++)
        if (idle[k] < 0)
            return vae_fail(msg, VAE_ERR_FORMAT, "vq.idle[%zu] = %lld is negative", k,
                            (long long)idle[k]);
    memcpy(q->idle, idle, K * sizeof *q->idle);
    if (vio_file_find(f, "vq.prior")) {
        q->prior = malloc(M * K * sizeof *q->prior);
        if (!q->prior)
            return vae_fail(msg, VAE_ERR_NOMEM, "out of memory for the prior");
        if ((rc = get_f32(f, "vq.prior", M * K, q->prior, msg)) != VAE_OK)
            return rc;
        for (size_t i = 0; i < M * K; i++)
            if (q->prior[i] < 0.0f || q->prior[i] > 1.0f)
                return vae_fail(msg, VAE_ERR_FORMAT, "vq.prior[%zu] = %g is not a probability", i,
                                (double)q->prior[i]);
    }
    return VAE_OK;
}

static int param_count(const void *cfg, double *count, char *msg)
{
    return vq_param_count(cfg, count, NULL, msg);
}

static int create(const void *cfg, vc_core **out, char *msg)
{
    vae_vqvae *q = NULL;
    int rc = vq_create(cfg, &q, msg);
    *out = q ? &q->core : NULL;
    return rc;
}

static void destroy(void *self) { vq_free(self); }

const vc_format vq_format = VC_FORMAT(KIND_VQVAE, "vq.rng", vq_loaded, save_check);
