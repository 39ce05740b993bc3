/* VQ-VAE checkpoints: configuration, parameters, codebook and EMA state,
 * idle counters, prior, random state (and an optimizer's state) as named
 * tensors in the io container. Names and types: docs/format.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "io/ckpt.h"
#include "models/netio.h"
#include "models/vqvae.h"
#include "optim/optimizer.h"

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

static int save_config(vae_vqvae_config *c, vio_writer *w, char *msg)
{
    ival iv[N_INTS];
    fval fv[N_FLOATS];
    fields(c, iv, fv);
    int rc = vio_writer_add_i64(w, "model.kind", KIND_VQVAE, msg);
    for (int i = 0; i < N_INTS && rc == VAE_OK; i++)
        rc = vio_writer_add_i64(w, iv[i].name, *iv[i].v, msg);
    for (int i = 0; i < N_FLOATS && rc == VAE_OK; i++)
        rc = vio_writer_add_f64(w, fv[i].name, *fv[i].v, msg);
    int64_t hidden[VAE_MAX_HIDDEN];
    for (int k = 0; k < VAE_MAX_HIDDEN; k++)
        hidden[k] = c->hidden[k];
    uint64_t dims[1] = {VAE_MAX_HIDDEN};
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "vq.hidden", VIO_I64, 1, dims, hidden, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "vq.seed", VIO_U64, 0, NULL, &c->seed, msg);
    if (rc == VAE_OK) /* since 0.4.0 */
        rc = vm_save_networks(w, "vq", c->encoder, c->decoder, NULL, c->input_shape, msg);
    return rc;
}

int vq_save(vae_vqvae *q, const vae_optimizer *opt, const char *path)
{
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim;
    for (size_t i = 0; i < q->P.total; i++)
        if (!isfinite(q->P.val[i]))
            return vae_fail(q->errmsg, VAE_ERR_NONFINITE,
                            "save: parameter %zu is not finite; refusing to write a checkpoint", i);
    for (size_t i = 0; i < K * D; i++)
        if (!isfinite(q->codebook[i]))
            return vae_fail(q->errmsg, VAE_ERR_NONFINITE,
                            "save: codebook entry %zu is not finite; refusing to write a checkpoint", i);
    vio_writer *w = vio_writer_new();
    if (!w)
        return vae_fail(q->errmsg, VAE_ERR_NOMEM, "save: out of memory");
    char *msg = q->errmsg;
    int rc = save_config(&q->cfg, w, msg);
    uint64_t d1[1] = {4}, d2[2] = {K, D}, dk[1] = {K};
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "vq.rng", VIO_U64, 1, d1, q->rng.s, msg);
    for (int i = 0; i < q->P.n && rc == VAE_OK; i++) {
        char name[VIO_MAX_NAME];
        snprintf(name, sizeof name, "param.%s", q->P.p[i].name);
        uint64_t dims[2] = {(uint64_t)q->P.p[i].rows, (uint64_t)q->P.p[i].cols};
        rc = vio_writer_add(w, name, VIO_F32, 2, dims, vn_val(&q->P, i), msg);
    }
    if (rc == VAE_OK && q->ema_m) {
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
    if (rc == VAE_OK && opt)
        rc = vopt_save(opt, w, msg);
    if (rc == VAE_OK)
        rc = vio_writer_commit(w, path, msg);
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

static int load_config(const vio_file *f, vae_vqvae_config *c, vm_net_texts *texts, char *msg)
{
    vae_vqvae_config_init(c);
    int kind = -1;
    int rc = get_int(f, "model.kind", &kind, msg);
    if (rc != VAE_OK)
        return rc;
    if (kind == KIND_GAUSSIAN_VAE)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the file holds a Gaussian VAE (model.kind 0), not a VQ-VAE: load it with "
                        "vae_model_load");
    if (kind != KIND_VQVAE)
        return vae_fail(msg, VAE_ERR_FORMAT, "model.kind = %d is not a VQ-VAE (model.kind 1)", kind);
    ival iv[N_INTS];
    fval fv[N_FLOATS];
    fields(c, iv, fv);
    for (int i = 0; i < N_INTS && rc == VAE_OK; i++)
        rc = get_int(f, iv[i].name, iv[i].v, msg);
    for (int i = 0; i < N_FLOATS && rc == VAE_OK; i++) {
        double v;
        rc = vio_file_f64(f, fv[i].name, &v, msg);
        if (rc == VAE_OK)
            *fv[i].v = (float)v;
    }
    const vio_tensor *t;
    if (rc == VAE_OK)
        rc = vio_file_expect(f, "vq.hidden", VIO_I64, VAE_MAX_HIDDEN, &t, msg);
    if (rc == VAE_OK) {
        const int64_t *h = t->data;
        for (int k = 0; k < VAE_MAX_HIDDEN; k++) {
            if (h[k] < 0 || h[k] > (1 << 20))
                return vae_fail(msg, VAE_ERR_FORMAT, "vq.hidden[%d] = %lld is out of range", k,
                                (long long)h[k]);
            c->hidden[k] = (int)h[k];
        }
        rc = vio_file_expect(f, "vq.seed", VIO_U64, 1, &t, msg);
    }
    if (rc == VAE_OK)
        c->seed = *(const uint64_t *)t->data;
    if (rc == VAE_OK)
        rc = vm_load_networks(f, "vq", texts, &c->encoder, &c->decoder, NULL, c->input_shape,
                              msg);
    if (rc == VAE_OK && vq_config_check(c, msg) != VAE_OK) {
        char why[VAE_ERRMSG_LEN];
        memcpy(why, msg, sizeof why);
        return vae_fail(msg, VAE_ERR_FORMAT, "invalid VQ-VAE configuration in the file: %s", why);
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

static int load_state(vae_vqvae *q, const vio_file *f, char *msg)
{
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim,
           M = (size_t)q->cfg.n_latents;
    const vio_tensor *t;
    int rc = vio_file_expect(f, "vq.rng", VIO_U64, 4, &t, msg);
    if (rc != VAE_OK)
        return rc;
    memcpy(q->rng.s, t->data, sizeof q->rng.s);
    if ((q->rng.s[0] | q->rng.s[1] | q->rng.s[2] | q->rng.s[3]) == 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "vq.rng is all zero (not a valid state)");
    for (int i = 0; i < q->P.n; i++) {
        const vn_param *p = &q->P.p[i];
        char name[VIO_MAX_NAME];
        snprintf(name, sizeof name, "param.%s", p->name);
        rc = get_f32(f, name, (uint64_t)p->rows * (uint64_t)p->cols, vn_val(&q->P, i), msg);
        if (rc != VAE_OK)
            return rc;
        t = vio_file_find(f, name);
        if (t->ndim != 2 || t->dims[0] != (uint64_t)p->rows || t->dims[1] != (uint64_t)p->cols)
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: shape differs from [%d, %d]", name,
                            p->rows, p->cols);
    }
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

/* The file must hold as many parameters as the configuration declares
 * before anything that size is allocated. */
static int check_param_sizes(const vio_file *f, const vae_vqvae_config *c, char *msg)
{
    double have = 0.0;
    for (size_t i = 0; i < vio_file_count(f); i++) {
        const vio_tensor *t = vio_file_at(f, i);
        if (strncmp(t->name, "param.", 6) == 0)
            have += (double)t->count;
    }
    double want;
    int rc = vq_param_count(c, &want, NULL, msg);
    if (rc != VAE_OK)
        return rc;
    if (have != want)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the configuration declares %.0f parameters, the file holds %.0f", want, have);
    if (c->codebook_update == VAE_VQ_CODEBOOK_EMA) {
        const vio_tensor *t = vio_file_find(f, "vq.ema_m");
        if (!t || t->count != (uint64_t)c->codebook_size * (uint64_t)c->code_dim)
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor vq.ema_m: missing or misshaped");
    }
    return VAE_OK;
}

int vq_load(const char *path, vae_vqvae **out, vae_optimizer **opt_out, char *msg)
{
    vio_file *f = NULL;
    vae_vqvae *q = NULL;
    vae_optimizer *opt = NULL;
    vae_vqvae_config c;
    vm_net_texts *texts = malloc(sizeof *texts);
    if (!texts)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    int rc = vio_file_read(path, &f, msg);
    if (rc == VAE_OK)
        rc = load_config(f, &c, texts, msg);
    if (rc == VAE_OK)
        rc = check_param_sizes(f, &c, msg);
    if (rc == VAE_OK)
        rc = vq_create(&c, &q, msg);
    if (rc == VAE_OK)
        rc = load_state(q, f, msg);
    if (rc == VAE_OK && opt_out)
        rc = vopt_load_for(f, q->P.total, &opt, msg);
    vio_file_free(f);
    free(texts);
    if (rc != VAE_OK) {
        vq_free(q);
        vae_optimizer_free(opt);
        return rc;
    }
    *out = q;
    if (opt_out)
        *opt_out = opt;
    return VAE_OK;
}
