/* The VAE's networks and parameters.
 *
 *   encoder: x -> encoder layers -> h;  mu = h W_mu + b_mu,  lv = clamp(h W_lv + b_lv)
 *   decoder: z -> decoder layers -> likelihood parameters (input_dim values)
 *   prior:   c -> prior layers -> h_p;  mu_p = h_p W + b,  lv_p = clamp(h_p W' + b')
 *
 * The networks come from the configuration's text forms or, when those are
 * NULL, from the n_hidden shorthand: "dense(h_1) act ... dense(h_n) act" for
 * the encoder, the same sizes reversed then "dense(input_dim)" for the
 * decoder. A conditional model joins c at each network's first dense layer
 * (the MLP's input, as in 0.3) or, when the encoder has none, at the heads.
 * The parameter names and order of the shorthand are those of 0.3.x, so its
 * results and checkpoints stay the same bits.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "models/model.h"

static void input_shape(const vae_model_config *c, int s[3])
{
    if (c->input_shape[0] > 0)
        memcpy(s, c->input_shape, 3 * sizeof(int));
    else
        s[0] = c->input_dim, s[1] = s[2] = 1;
}

static int declare_heads(vn_params *P, const char *prefix, int in, int K, int *w_mu, int *w_lv)
{
    char name[VN_NAME_LEN];
    snprintf(name, sizeof name, "%s.mu", prefix);
    *w_mu = vn_dense_declare(P, name, in, K);
    snprintf(name, sizeof name, "%s.logvar", prefix);
    *w_lv = *w_mu < 0 ? -1 : vn_dense_declare(P, name, in, K);
    return *w_lv < 0 ? -1 : 0;
}

int vm_arch_declare(const vae_model_config *c, vm_arch *a, vn_params *P, char *msg)
{
    int in[3], z[3] = {c->latent_dim, 1, 1}, C = c->cond_dim;
    input_shape(c, in);
    memset(a, 0, sizeof *a);
    a->p_logsigma = a->w_pmu = a->w_plv = -1;
    int rc = vn_net_from(&a->enc, c->encoder, "encoder", c->hidden, c->n_hidden, 0, 0,
                         c->activation, c->leaky_slope, msg);
    if (rc == VAE_OK)
        rc = vn_net_declare(&a->enc, P, "enc", NULL, in, C, "encoder", msg);
    if (rc != VAE_OK)
        return rc;
    /* The heads read the encoder's output, flattened, with c when no layer took it. */
    int top = (int)vn_shape_size(a->enc.out) + (a->enc.cond_used ? 0 : C);
    if (c->family == VAE_FAMILY_AE) { /* an autoencoder's code: the mean head alone */
        a->w_lv = -1;
        if ((a->w_mu = vn_dense_declare(P, "enc.mu", top, c->latent_dim)) < 0)
            return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring the code head");
    } else if (declare_heads(P, "enc", top, c->latent_dim, &a->w_mu, &a->w_lv) != 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring the encoder heads");
    /* A hierarchical model's inference networks follow the heads (models/hvae.c). */
    rc = vh_declare_encoders(c, &a->hier, P, (int)vn_shape_size(a->enc.out), msg);
    if (rc != VAE_OK)
        return rc;
    rc = vn_net_from(&a->dec, c->decoder, "decoder", c->hidden, c->n_hidden, 1, c->input_dim,
                     c->activation, c->leaky_slope, msg);
    if (rc == VAE_OK)
        rc = vn_net_declare(&a->dec, P, "dec", "out", z, C, "decoder", msg);
    if (rc != VAE_OK)
        return rc;
    if (vn_shape_size(a->dec.out) != (double)c->input_dim)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "decoder: its last layer gives %dx%dx%d = %.0f values, but the "
                        "likelihood needs one parameter per input feature (input_dim = %d)",
                        a->dec.out[0], a->dec.out[1], a->dec.out[2], vn_shape_size(a->dec.out),
                        c->input_dim);
    if (C > 0 && !a->dec.cond_used)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "decoder: a conditional model (cond_dim = %d) joins c at the decoder's "
                        "first dense layer, and this decoder has none", C);
    if (c->likelihood == VAE_LIK_GAUSSIAN_LEARNED &&
        (a->p_logsigma = vn_params_add(P, "dec.logsigma", 1, c->input_dim)) < 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring dec.logsigma");
    if (c->prior == VAE_PRIOR_LEARNED) {
        int ph = c->prior_hidden, cs[3] = {C, 1, 1};
        rc = vn_net_from(&a->pri, c->prior_network, "prior network", &ph, ph > 0, 0, 0,
                         c->activation, c->leaky_slope, msg);
        if (rc == VAE_OK)
            rc = vn_net_declare(&a->pri, P, "prior", NULL, cs, 0, "prior network", msg);
        if (rc != VAE_OK)
            return rc;
        if (declare_heads(P, "prior", (int)vn_shape_size(a->pri.out), c->latent_dim, &a->w_pmu,
                          &a->w_plv) != 0)
            return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring the prior heads");
    }
    return vh_declare_priors(c, &a->hier, P, msg); /* p(z_l|z_{l+1}), l < L, come last */
}

/* Initialise in declaration order from one stream, so a seed fixes them. */
void vm_arch_init(const vae_model_config *c, const vm_arch *a, vn_params *P, vt_rng *rng)
{
    vn_net_init(&a->enc, P, rng);
    vn_dense_init(P, a->w_mu, rng);
    if (a->w_lv >= 0)
        vn_dense_init(P, a->w_lv, rng);
    vh_init_encoders(&a->hier, P, rng);
    vn_net_init(&a->dec, P, rng);
    if (a->p_logsigma >= 0) {
        float *ls = vn_val(P, a->p_logsigma);
        for (int j = 0; j < c->input_dim; j++)
            ls[j] = logf(c->gaussian_sigma);
    }
    if (a->w_pmu >= 0) {
        /* The network as usual; zero heads, so training starts from the
         * standard prior N(0, I) for every c. */
        vn_net_init(&a->pri, P, rng);
        for (int w = a->w_pmu; w <= a->w_plv + 1; w++) {
            const vn_param *p = &P->p[w];
            memset(vn_val(P, w), 0, (size_t)p->rows * p->cols * sizeof(float));
        }
    }
    vh_init_priors(&a->hier, P, rng);
}

int vm_arch_texts(const vm_arch *a, char *enc, char *dec, char *pri)
{
    if (enc && vn_net_format(&a->enc, enc, VN_MAX_TEXT + 1) != 0)
        return -1;
    if (dec && vn_net_format(&a->dec, dec, VN_MAX_TEXT + 1) != 0)
        return -1;
    if (pri && vn_net_format(&a->pri, pri, VN_MAX_TEXT + 1) != 0)
        return -1;
    return 0;
}

/* A dry run of the declarations: no parameter memory is allocated. */
int vm_param_count(const vae_model_config *c, double *count, char *msg)
{
    vn_params P = {0};
    vm_arch a;
    int rc = vm_arch_declare(c, &a, &P, msg);
    *count = (double)P.total;
    vn_params_free(&P);
    return rc;
}
