/* Checkpoint framing shared by every family (see checkpoint.h). */
#include "core/checkpoint.h"

#include "core/args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "optim/optimizer.h"

/* ---- record helpers ------------------------------------------------------ */

int vc_get_int(const vio_file *f, const char *name, int *out, char *msg)
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

int vc_get_float(const vio_file *f, const char *name, float *out, char *msg)
{
    double v;
    int rc = vio_file_f64(f, name, &v, msg);
    if (rc == VAE_OK)
        *out = (float)v;
    return rc;
}

int vc_opt_int(const vio_file *f, const char *name, int *out, char *msg)
{
    return vio_file_find(f, name) ? vc_get_int(f, name, out, msg) : VAE_OK;
}

int vc_opt_float(const vio_file *f, const char *name, float *out, char *msg)
{
    return vio_file_find(f, name) ? vc_get_float(f, name, out, msg) : VAE_OK;
}

int vc_opt_u64(const vio_file *f, const char *name, uint64_t *out, char *msg)
{
    if (!vio_file_find(f, name))
        return VAE_OK;
    const vio_tensor *t;
    int rc = vio_file_expect(f, name, VIO_U64, 1, &t, msg);
    if (rc == VAE_OK)
        *out = *(const uint64_t *)t->data;
    return rc;
}

int vc_save_hidden(vio_writer *w, const char *name, const int *hidden, char *msg)
{
    int64_t h[VAE_MAX_HIDDEN];
    for (int k = 0; k < VAE_MAX_HIDDEN; k++)
        h[k] = hidden[k];
    uint64_t dims[1] = {VAE_MAX_HIDDEN};
    return vio_writer_add(w, name, VIO_I64, 1, dims, h, msg);
}

int vc_load_hidden(const vio_file *f, const char *name, int *hidden, char *msg)
{
    const vio_tensor *t;
    int rc = vio_file_expect(f, name, VIO_I64, VAE_MAX_HIDDEN, &t, msg);
    if (rc != VAE_OK)
        return rc;
    const int64_t *h = t->data;
    for (int k = 0; k < VAE_MAX_HIDDEN; k++) {
        if (h[k] < 0 || h[k] > (1 << 20))
            return vae_fail(msg, VAE_ERR_FORMAT, "%s[%d] = %lld is out of range", name, k,
                            (long long)h[k]);
        hidden[k] = (int)h[k];
    }
    return VAE_OK;
}

int vc_config_invalid(char *msg, const char *what)
{
    char why[VAE_ERRMSG_LEN];
    memcpy(why, msg, sizeof why);
    return vae_fail(msg, VAE_ERR_FORMAT, "invalid %s configuration in the file: %s", what, why);
}

/* ---- saving ------------------------------------------------------------------ */

static int add_params(const vn_params *P, vio_writer *w, char *msg)
{
    int rc = VAE_OK;
    for (int i = 0; i < P->n && rc == VAE_OK; i++) {
        char name[VIO_MAX_NAME];
        snprintf(name, sizeof name, "param.%s", P->p[i].name);
        uint64_t dims[2] = {(uint64_t)P->p[i].rows, (uint64_t)P->p[i].cols};
        rc = vio_writer_add(w, name, VIO_F32, 2, dims, vn_val(P, i), msg);
    }
    return rc;
}

int vc_save(vc_core *k, const vc_format *fmt, const vae_optimizer *opt, const char *path)
{
    char *msg = k->errmsg;
    for (size_t i = 0; i < k->P->total; i++)
        if (!isfinite(k->P->val[i]))
            return vae_fail(msg, VAE_ERR_NONFINITE,
                            "save: parameter %zu is not finite; refusing to write a checkpoint", i);
    int rc = fmt->save_check ? fmt->save_check(k->self, msg) : VAE_OK;
    if (rc != VAE_OK)
        return rc;
    vio_writer *w = vio_writer_new();
    if (!w)
        return vae_fail(msg, VAE_ERR_NOMEM, "save: out of memory");
    rc = vio_writer_add_i64(w, "model.kind", fmt->kind, msg);
    if (rc == VAE_OK)
        rc = fmt->save_config(k->self, w, msg);
    uint64_t rdims[1] = {4};
    if (rc == VAE_OK)
        rc = vio_writer_add(w, fmt->rng_name, VIO_U64, 1, rdims, k->rng->s, msg);
    if (rc == VAE_OK)
        rc = add_params(k->P, w, msg);
    if (rc == VAE_OK)
        rc = fmt->save_state(k->self, w, msg);
    if (rc == VAE_OK && opt)
        rc = vopt_save(opt, w, msg);
    if (rc == VAE_OK)
        rc = vio_writer_commit(w, path, msg);
    vio_writer_free(w);
    return rc;
}

/* ---- loading ------------------------------------------------------------------ */

/* Before building a model (which allocates and initialises every parameter),
 * make sure the file really holds that many: a small damaged file must not
 * make us allocate gigabytes. */
static int check_param_sizes(const vc_format *fmt, const vio_file *f, const void *cfg, char *msg)
{
    double have = 0.0;
    for (size_t i = 0; i < vio_file_count(f); i++) {
        const vio_tensor *t = vio_file_at(f, i);
        if (strncmp(t->name, "param.", 6) == 0)
            have += (double)t->count;
    }
    double want;
    int rc = fmt->param_count(cfg, &want, msg);
    if (rc != VAE_OK)
        return rc;
    if (have != want)
        return vae_fail(msg, VAE_ERR_FORMAT,
                        "the configuration declares %.0f parameters, the file holds %.0f", want,
                        have);
    return VAE_OK;
}

static int load_rng(const vc_format *fmt, vt_rng *rng, const vio_file *f, char *msg)
{
    const vio_tensor *t;
    int rc = vio_file_expect(f, fmt->rng_name, VIO_U64, 4, &t, msg);
    if (rc != VAE_OK)
        return rc;
    memcpy(rng->s, t->data, sizeof rng->s);
    if ((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0)
        return vae_fail(msg, VAE_ERR_FORMAT, "%s is all zero (not a valid state)", fmt->rng_name);
    return VAE_OK;
}

static int load_params(vn_params *P, const vio_file *f, char *msg)
{
    for (int i = 0; i < P->n; i++) {
        const vn_param *p = &P->p[i];
        char name[VIO_MAX_NAME];
        snprintf(name, sizeof name, "param.%s", p->name);
        const vio_tensor *t;
        size_t count = (size_t)p->rows * (size_t)p->cols;
        int rc = vio_file_expect(f, name, VIO_F32, (uint64_t)count, &t, msg);
        if (rc != VAE_OK)
            return rc;
        if (t->ndim != 2 || t->dims[0] != (uint64_t)p->rows || t->dims[1] != (uint64_t)p->cols)
            return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: shape differs from [%d, %d]", name,
                            p->rows, p->cols);
        const float *v = t->data;
        for (size_t k = 0; k < count; k++)
            if (!isfinite(v[k]))
                return vae_fail(msg, VAE_ERR_FORMAT, "tensor %s: element %zu is not finite", name, k);
        memcpy(vn_val(P, i), v, count * sizeof(float));
    }
    return VAE_OK;
}

/* The optimizer saved with the model: its size, then the model's groups
 * (which take their step counts from the file's). */
static int load_optimizer(vc_core *k, const vio_file *f, vae_optimizer **out, char *msg)
{
    int rc = vopt_load_for(f, k->P->total, out, msg);
    if (rc == VAE_OK && *out && (*out)->n != 0 &&
        vopt_set_groups(*out, k->group, k->n_groups) != VAE_OK)
        rc = vae_fail(msg, VAE_ERR_FORMAT, "optimizer: %s", (*out)->errmsg);
    return rc;
}

int vc_load(const vc_format *fmt, const char *path, vc_core **out, vae_optimizer **opt_out,
            char *msg)
{
    vio_file *f = NULL;
    vc_core *k = NULL;
    vae_optimizer *opt = NULL;
    void *cfg = calloc(1, fmt->config_size);
    if (!cfg)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    int kind = -1;
    int rc = vio_file_read(path, &f, msg);
    if (rc == VAE_OK)
        rc = vc_get_int(f, "model.kind", &kind, msg);
    if (rc == VAE_OK)
        rc = fmt->check_kind(kind, msg);
    if (rc == VAE_OK)
        rc = fmt->load_config(f, cfg, msg);
    if (rc == VAE_OK)
        rc = check_param_sizes(fmt, f, cfg, msg);
    if (rc == VAE_OK)
        rc = fmt->create(cfg, &k, msg);
    if (rc == VAE_OK)
        rc = load_rng(fmt, k->rng, f, msg);
    if (rc == VAE_OK)
        rc = load_params(k->P, f, msg);
    if (rc == VAE_OK)
        rc = fmt->load_state(k->self, f, msg);
    if (rc == VAE_OK && opt_out)
        rc = load_optimizer(k, f, &opt, msg);
    vio_file_free(f);
    free(cfg);
    if (rc != VAE_OK) {
        if (k)
            fmt->destroy(k->self);
        vae_optimizer_free(opt);
        return rc;
    }
    *out = k;
    if (opt_out)
        *opt_out = opt;
    return VAE_OK;
}

int vc_load_call(const vc_format *fmt, const char *path, void **out, vae_optimizer **opt_out,
                 vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (opt_out)
        *opt_out = NULL;
    if (out)
        *out = NULL;
    if (!path || !out)
        return vae_error_set(err, VAE_ERR_NULL, !path ? "path is NULL" : "out is NULL");
    vc_core *k = NULL;
    int rc = vc_load(fmt, path, &k, opt_out, msg);
    *out = k ? k->self : NULL;
    return vae_error_set(err, rc, msg);
}

int vc_save_call(vc_core *k, const vc_format *fmt, const vae_optimizer *opt, const char *path)
{
    int rc = vc_check_save(k->errmsg, opt, k->P->total, path);
    return rc == VAE_OK ? vc_save(k, fmt, opt, path) : rc;
}
