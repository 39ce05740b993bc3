/* Parameters to and from .safetensors files (docs/format.md, "safetensors"):
 * vae_model_export/import_safetensors and the vae_vqvae_ pair. The tensors
 * are the model's parameter registry as listed by
 * vae_model_param_tensor_info (libvae layout), plus the VQ-VAE's codebook;
 * the metadata carries the architecture as text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/vqvae.h"

#include "libvae/vae.h"

#define META_MAX 24
#define META_NUM 48

/* The metadata list with the storage of its number texts. */
typedef struct meta_list {
    vst_meta m[META_MAX];
    char num[META_MAX][META_NUM];
    size_t n;
} meta_list;

static void meta_add(meta_list *l, const char *key, const char *value)
{
    if (l->n < META_MAX && value)
        l->m[l->n].key = key, l->m[l->n].value = value, l->n++;
}

static void meta_int(meta_list *l, const char *key, long long v)
{
    if (l->n < META_MAX) {
        snprintf(l->num[l->n], META_NUM, "%lld", v);
        meta_add(l, key, l->num[l->n]);
    }
}

static void meta_float(meta_list *l, const char *key, double v)
{
    if (l->n < META_MAX) {
        snprintf(l->num[l->n], META_NUM, "%.9g", v);
        meta_add(l, key, l->num[l->n]);
    }
}

static void meta_shape(meta_list *l, const int s[3], int input_dim)
{
    if (l->n < META_MAX) {
        if (s[0] > 0)
            snprintf(l->num[l->n], META_NUM, "%d,%d,%d", s[0], s[1], s[2]);
        else
            snprintf(l->num[l->n], META_NUM, "%d,1,1", input_dim);
        meta_add(l, "input_shape", l->num[l->n]);
    }
}

static const char *likelihood_name(int lik)
{
    return lik == VAE_LIK_GAUSSIAN_FIXED ? "gaussian_fixed"
         : lik == VAE_LIK_GAUSSIAN_LEARNED ? "gaussian_learned" : "bernoulli";
}

/* The registry as vst tensors: src = the values, dst = scratch + offset.
 * extra slots are left for the caller. NULL when out of memory. */
static vst_tensor *registry_tensors(const vn_params *P, float *scratch, size_t extra)
{
    vst_tensor *t = calloc((size_t)P->n + extra + 1, sizeof *t);
    if (!t)
        return NULL;
    for (int i = 0; i < P->n; i++) {
        t[i].name = P->p[i].name;
        t[i].rows = (uint64_t)P->p[i].rows;
        t[i].cols = (uint64_t)P->p[i].cols;
        t[i].src = P->val + P->p[i].offset;
        t[i].dst = scratch ? scratch + P->p[i].offset : NULL;
    }
    return t;
}

static int check_path(char *errmsg, const char *path, const char *what)
{
    if (!path)
        return vae_fail(errmsg, VAE_ERR_NULL, "%s: path is NULL", what);
    if (!*path)
        return vae_fail(errmsg, VAE_ERR_INVALID, "%s: the path is empty", what);
    return VAE_OK;
}

/* ---- vae_model ---------------------------------------------------------------------- */

VAE_API int vae_model_export_safetensors(vae_model *model, const char *path)
{
    if (!model)
        return VAE_ERR_NULL;
    int rc = check_path(model->errmsg, path, "export_safetensors");
    if (rc != VAE_OK)
        return rc;
    const vae_model_config *c = &model->cfg;
    meta_list ml = {.n = 0};
    meta_add(&ml, "format", "libvae");
    meta_add(&ml, "layout", "libvae");
    meta_add(&ml, "libvae_version", vae_version_string());
    meta_add(&ml, "family", c->family == VAE_FAMILY_AE ? "ae" : "vae");
    meta_int(&ml, "input_dim", c->input_dim);
    meta_shape(&ml, c->input_shape, c->input_dim);
    meta_int(&ml, "latent_dim", c->latent_dim);
    meta_add(&ml, "encoder", model->enc_text);
    meta_add(&ml, "decoder", model->dec_text);
    meta_add(&ml, "likelihood", likelihood_name(c->likelihood));
    meta_float(&ml, "gaussian_sigma", c->gaussian_sigma);
    meta_float(&ml, "logvar_min", c->logvar_min);
    meta_float(&ml, "logvar_max", c->logvar_max);
    meta_int(&ml, "cond_dim", c->cond_dim);
    if (c->cond_dim > 0) {
        meta_add(&ml, "prior", c->prior == VAE_PRIOR_LEARNED ? "learned" : "standard");
        if (c->prior == VAE_PRIOR_LEARNED)
            meta_add(&ml, "prior_network", model->pri_text);
    }
    meta_int(&ml, "latent_layers", c->latent_layers);
    if (c->latent_layers > 1) {
        meta_add(&ml, "inference", c->inference == VAE_INFER_LADDER ? "ladder" : "bottom_up");
        meta_add(&ml, "hier_network", c->hier_network);
    }
    vst_tensor *t = registry_tensors(&model->P, NULL, 0);
    if (!t)
        return vae_fail(model->errmsg, VAE_ERR_NOMEM, "export_safetensors: out of memory");
    rc = vst_write(path, t, (size_t)model->P.n, ml.m, ml.n, model->errmsg);
    free(t);
    return rc;
}

VAE_API int vae_model_import_safetensors(vae_model *model, const char *path)
{
    if (!model)
        return VAE_ERR_NULL;
    int rc = check_path(model->errmsg, path, "import_safetensors");
    if (rc != VAE_OK)
        return rc;
    const vn_params *P = &model->P;
    float *scratch = malloc((P->total ? P->total : 1) * sizeof *scratch);
    vst_tensor *t = scratch ? registry_tensors(P, scratch, 0) : NULL;
    if (!t) {
        free(scratch);
        return vae_fail(model->errmsg, VAE_ERR_NOMEM, "import_safetensors: out of memory for %zu parameters",
                        P->total);
    }
    rc = vst_read(path, t, (size_t)P->n, model->errmsg);
    if (rc == VAE_OK)
        memcpy(P->val, scratch, P->total * sizeof *scratch);
    free(t);
    free(scratch);
    return rc;
}

/* ---- vae_vqvae ---------------------------------------------------------------------- */

VAE_API int vae_vqvae_export_safetensors(vae_vqvae *vq, const char *path)
{
    if (!vq)
        return VAE_ERR_NULL;
    int rc = check_path(vq->errmsg, path, "export_safetensors");
    if (rc != VAE_OK)
        return rc;
    const vae_vqvae_config *c = &vq->cfg;
    meta_list ml = {.n = 0};
    meta_add(&ml, "format", "libvae");
    meta_add(&ml, "layout", "libvae");
    meta_add(&ml, "libvae_version", vae_version_string());
    meta_add(&ml, "family", "vqvae");
    meta_int(&ml, "input_dim", c->input_dim);
    meta_shape(&ml, c->input_shape, c->input_dim);
    meta_add(&ml, "encoder", vq->enc_text);
    meta_add(&ml, "decoder", vq->dec_text);
    meta_add(&ml, "likelihood", likelihood_name(c->likelihood));
    meta_int(&ml, "n_latents", c->n_latents);
    meta_int(&ml, "code_dim", c->code_dim);
    meta_int(&ml, "codebook_size", c->codebook_size);
    meta_add(&ml, "codebook_update", vq->p_code >= 0 ? "loss" : "ema");
    vst_tensor *t = registry_tensors(&vq->P, NULL, 1);
    if (!t)
        return vae_fail(vq->errmsg, VAE_ERR_NOMEM, "export_safetensors: out of memory");
    size_t n = (size_t)vq->P.n;
    if (vq->p_code < 0) { /* the EMA codebook lives outside the registry */
        t[n].name = "vq.codebook";
        t[n].rows = (uint64_t)c->codebook_size;
        t[n].cols = (uint64_t)c->code_dim;
        t[n].src = vq->codebook;
        n++;
    }
    rc = vst_write(path, t, n, ml.m, ml.n, vq->errmsg);
    free(t);
    return rc;
}

VAE_API int vae_vqvae_import_safetensors(vae_vqvae *vq, const char *path)
{
    if (!vq)
        return VAE_ERR_NULL;
    int rc = check_path(vq->errmsg, path, "import_safetensors");
    if (rc != VAE_OK)
        return rc;
    const vn_params *P = &vq->P;
    size_t K = (size_t)vq->cfg.codebook_size, D = (size_t)vq->cfg.code_dim;
    size_t extra = vq->p_code < 0 ? K * D : 0, n = (size_t)P->n;
    float *scratch = malloc((P->total + extra + 1) * sizeof *scratch);
    vst_tensor *t = scratch ? registry_tensors(P, scratch, 1) : NULL;
    if (!t) {
        free(scratch);
        return vae_fail(vq->errmsg, VAE_ERR_NOMEM, "import_safetensors: out of memory");
    }
    if (extra) {
        t[n].name = "vq.codebook";
        t[n].rows = K;
        t[n].cols = D;
        t[n].dst = scratch + P->total;
        n++;
    }
    rc = vst_read(path, t, n, vq->errmsg);
    if (rc == VAE_OK) {
        memcpy(P->val, scratch, P->total * sizeof *scratch);
        /* EMA mode: the codebook and its moving averages, as set_codebook
         * does (values are finite, the count right: it cannot fail) */
        if (extra)
            rc = vae_vqvae_set_codebook(vq, scratch + P->total, K * D);
    }
    free(t);
    free(scratch);
    return rc;
}
