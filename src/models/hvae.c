/* Hierarchical VAEs: networks, graphs, sampling, statistics, checkpoint
 * records (see hvae.h for the model and docs/hierarchical.md). */
#include "models/hvae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "models/model.h"
#include "objectives/hier.h"

/* ---- configuration ------------------------------------------------------------ */

int vh_config_check(const vae_model_config *c, char *msg)
{
    int L = c->latent_layers;
    if (L < 1 || L > VAE_MAX_LATENT_LAYERS)
        return vae_fail(msg, VAE_ERR_INVALID, "latent_layers = %d: must be in 1..%d", L,
                        VAE_MAX_LATENT_LAYERS);
    if (L == 1)
        return VAE_OK;
    if (c->latent_sizes[0] != 0 && c->latent_sizes[0] != c->latent_dim)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "latent_sizes[0] = %d: must be 0 or latent_dim (%d), the size of z_1",
                        c->latent_sizes[0], c->latent_dim);
    for (int i = 1; i < L; i++)
        if (c->latent_sizes[i] < 1 || c->latent_sizes[i] > (1 << 16))
            return vae_fail(msg, VAE_ERR_INVALID,
                            "latent_sizes[%d] = %d: must be in 1..65536 for each of the "
                            "latent_layers = %d layers", i, c->latent_sizes[i], L);
    if (c->inference != VAE_INFER_BOTTOM_UP && c->inference != VAE_INFER_LADDER)
        return vae_fail(msg, VAE_ERR_INVALID, "inference = %d: unknown", c->inference);
    if (c->cond_dim > 0)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "cond_dim = %d: a hierarchical model (latent_layers = %d) cannot be "
                        "conditional", c->cond_dim, L);
    if (c->family != VAE_FAMILY_VAE)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "family = %d: an autoencoder has one code; latent_layers = %d is for "
                        "hierarchical VAEs", c->family, L);
    if (c->posterior != VAE_POST_GAUSSIAN)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "posterior = %d: a hierarchical model (latent_layers = %d) has Gaussian "
                        "posteriors only", c->posterior, L);
    return VAE_OK;
}

int vh_training_check(const vae_model_config *c, char *msg)
{
    if (c->latent_layers <= 1)
        return VAE_OK;
    const char *field = c->estimator != VAE_EST_PATHWISE ? "estimator (score function)"
                        : c->free_bits > 0.0f          ? "free_bits"
                        : c->capacity_gamma > 0.0f     ? "capacity_gamma"
                        : c->aggressive                ? "aggressive"
                        : c->corruption != VAE_CORRUPT_NONE ? "corruption (denoising)"
                                                       : NULL;
    if (field)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "%s: not supported by a hierarchical model (latent_layers = %d); it "
                        "trains the pathwise ELBO (with kl_schedule) or IWAE", field,
                        c->latent_layers);
    return VAE_OK;
}

/* ---- networks ---------------------------------------------------------------- */

static int size_of_layer(const vae_model_config *c, int i)
{
    return i == 0 ? c->latent_dim : c->latent_sizes[i];
}

/* The step network: the text, or dense(last hidden size) and the activation. */
static int step_net(const vae_model_config *c, vn_net *net, const char *what, char *msg)
{
    int h = c->n_hidden > 0 ? c->hidden[c->n_hidden - 1] : 0;
    return vn_net_from(net, c->hier_network, what, &h, h > 0, 0, 0, c->activation,
                       c->leaky_slope, msg);
}

/* net on an input of `in` values, then heads "<prefix>.mu" and "<prefix>.logvar" of K. */
static int declare_step(const vae_model_config *c, vn_net *net, vn_params *P, const char *prefix,
                        int in, int K, int *w_mu, int *w_lv, char *msg)
{
    char what[64], name[VN_NAME_LEN];
    snprintf(what, sizeof what, "hier_network (%s)", prefix);
    int shape[3] = {in, 1, 1};
    int rc = step_net(c, net, what, msg);
    if (rc == VAE_OK)
        rc = vn_net_declare(net, P, prefix, NULL, shape, 0, what, msg);
    if (rc != VAE_OK)
        return rc;
    int top = (int)vn_shape_size(net->out);
    snprintf(name, sizeof name, "%s.mu", prefix);
    *w_mu = vn_dense_declare(P, name, top, K);
    snprintf(name, sizeof name, "%s.logvar", prefix);
    *w_lv = *w_mu < 0 ? -1 : vn_dense_declare(P, name, top, K);
    if (*w_lv < 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring %s", prefix);
    return VAE_OK;
}

int vh_declare_encoders(const vae_model_config *c, vh_arch *h, vn_params *P, int enc_top,
                        char *msg)
{
    h->layers = c->latent_layers;
    if (h->layers <= 1)
        return VAE_OK;
    for (int i = 0; i < h->layers; i++)
        h->sizes[i] = size_of_layer(c, i);
    /* Ladder: d_i = up[i](d_{i-1}), d_0 the encoder body; bottom-up: on z_{i-1}. */
    int in = c->inference == VAE_INFER_LADDER ? enc_top : h->sizes[0];
    for (int i = 1; i < h->layers; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "enc.l%d", i + 1);
        int rc = declare_step(c, &h->up[i], P, prefix, in, h->sizes[i], &h->w_mu[i], &h->w_lv[i],
                              msg);
        if (rc != VAE_OK)
            return rc;
        in = c->inference == VAE_INFER_LADDER ? (int)vn_shape_size(h->up[i].out) : h->sizes[i];
    }
    if (vn_net_format(&h->up[1], h->text, sizeof h->text) != 0)
        return vae_fail(msg, VAE_ERR_LIMIT, "hier_network: its text is longer than %d",
                        VN_MAX_TEXT);
    return VAE_OK;
}

int vh_declare_priors(const vae_model_config *c, vh_arch *h, vn_params *P, char *msg)
{
    for (int i = 0; i + 1 < h->layers; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "prior.l%d", i + 1);
        int rc = declare_step(c, &h->down[i], P, prefix, h->sizes[i + 1], h->sizes[i],
                              &h->w_pmu[i], &h->w_plv[i], msg);
        if (rc != VAE_OK)
            return rc;
    }
    return VAE_OK;
}

void vh_init_encoders(const vh_arch *h, vn_params *P, vt_rng *rng)
{
    for (int i = 1; i < h->layers; i++) {
        vn_net_init(&h->up[i], P, rng);
        vn_dense_init(P, h->w_mu[i], rng);
        vn_dense_init(P, h->w_lv[i], rng);
    }
}

/* PyTorch's defaults, except zero heads: training starts from
 * p(z_l|z_{l+1}) = N(0, I), as the learned conditional prior does. */
void vh_init_priors(const vh_arch *h, vn_params *P, vt_rng *rng)
{
    for (int i = 0; i + 1 < h->layers; i++) {
        vn_net_init(&h->down[i], P, rng);
        for (int w = h->w_pmu[i]; w <= h->w_plv[i] + 1; w++) {
            const vn_param *p = &P->p[w];
            memset(vn_val(P, w), 0, (size_t)p->rows * p->cols * sizeof(float));
        }
    }
}

/* ---- graphs ---------------------------------------------------------------------- */

/* Each layer's nodes in one graph (-1 where absent). */
typedef struct vh_nodes {
    int L;
    int mq[VAE_MAX_LATENT_LAYERS], lq[VAE_MAX_LATENT_LAYERS]; /* q(z_l|.) */
    int mp[VAE_MAX_LATENT_LAYERS], lp[VAE_MAX_LATENT_LAYERS]; /* p(z_l|z_{l+1}); -1: N(0, I) */
    int z[VAE_MAX_LATENT_LAYERS], eps[VAE_MAX_LATENT_LAYERS];
    vo_hier_terms t;
} vh_nodes;

/* mean and clamped log-variance heads on h. */
static int heads(vae_model *m, vg_graph *g, int w_mu, int w_lv, int h, int train, int *mu,
                 int *lv)
{
    *mu = vn_dense(g, &m->P, w_mu, h, train);
    int raw = *mu < 0 ? -1 : vn_dense(g, &m->P, w_lv, h, train);
    *lv = raw < 0 ? -1 : vg_unary(g, VG_OP_CLAMP, raw, m->cfg.logvar_min, m->cfg.logvar_max);
    return *lv < 0 ? -1 : 0;
}

/* p(z_{i+1}|z_{i+2}) on node z (layer i + 1's sample): mu_p, lv_p. */
static int prior_of(vae_model *m, vg_graph *g, int i, int z, int train, int *mu, int *lv)
{
    const vh_arch *h = &m->arch.hier;
    int hd = vn_net_build(&h->down[i], g, &m->P, z, -1, train);
    return hd < 0 ? -1 : heads(m, g, h->w_pmu[i], h->w_plv[i], hd, train, mu, lv);
}

/* The combination of the bottom-up (mh, lh) and the prior (mp, lp). */
static int merge(vg_graph *g, int mh, int lh, int mp, int lp, int *mq, int *lq)
{
    *mq = vg_ladder_merge(g, mh, lh, mp, lp, 0);
    *lq = *mq < 0 ? -1 : vg_ladder_merge(g, mh, lh, mp, lp, 1);
    return *lq < 0 ? -1 : 0;
}

/* Ladder, for encode: the top-down pass with every z at its mean; q(z_1|x)'s
 * parameters given z_2 = E_q[z_2] ... (deterministic, one row per example). */
static int ladder_mean_pass(vae_model *m, vg_graph *g, const int *mh, const int *lh, int *mu,
                            int *lv)
{
    int L = m->arch.hier.layers, z = mh[L - 1];
    *mu = mh[L - 1];
    *lv = lh[L - 1];
    for (int i = L - 2; i >= 0; i--) {
        int mp, lp;
        if (prior_of(m, g, i, z, 0, &mp, &lp) != 0 || merge(g, mh[i], lh[i], mp, lp, mu, lv) != 0)
            return -1;
        z = *mu;
    }
    return 0;
}

/* The stochastic layers: samples, priors, KL, log q and log p of each. */
static int build_layers(vae_model *m, vg_graph *g, vh_nodes *v, const int *mh, const int *lh,
                        int train)
{
    const vh_arch *h = &m->arch.hier;
    int L = v->L, ladder = m->cfg.inference == VAE_INFER_LADDER;
    for (int i = 0; i < L; i++)
        v->mp[i] = v->lp[i] = -1;
    if (!ladder) {
        v->mq[0] = mh[0];
        v->lq[0] = lh[0];
        for (int i = 0; i < L; i++) {
            if (i > 0) {
                int hd = vn_net_build(&h->up[i], g, &m->P, v->z[i - 1], -1, train);
                if (hd < 0 || heads(m, g, h->w_mu[i], h->w_lv[i], hd, train, &v->mq[i],
                                    &v->lq[i]) != 0)
                    return -1;
            }
            if ((v->z[i] = vg_gauss_sample(g, v->mq[i], v->lq[i], v->eps[i])) < 0)
                return -1;
        }
        for (int i = 0; i + 1 < L; i++)
            if (prior_of(m, g, i, v->z[i + 1], train, &v->mp[i], &v->lp[i]) != 0)
                return -1;
    } else {
        v->mq[L - 1] = mh[L - 1];
        v->lq[L - 1] = lh[L - 1];
        for (int i = L - 1; i >= 0; i--) {
            if (i < L - 1 &&
                (prior_of(m, g, i, v->z[i + 1], train, &v->mp[i], &v->lp[i]) != 0 ||
                 merge(g, mh[i], lh[i], v->mp[i], v->lp[i], &v->mq[i], &v->lq[i]) != 0))
                return -1;
            if ((v->z[i] = vg_gauss_sample(g, v->mq[i], v->lq[i], v->eps[i])) < 0)
                return -1;
        }
    }
    v->t.layers = L;
    for (int i = 0; i < L; i++) {
        v->t.kl[i] = vg_gauss_kl(g, v->mq[i], v->lq[i], v->mp[i], v->lp[i]);
        /* The ladder's top layer has one KL per example: give it a row per
         * sample like the others before they are summed. */
        if (v->t.kl[i] >= 0 && g->nodes[v->t.kl[i]].rows_kind != g->nodes[v->z[i]].rows_kind)
            v->t.kl[i] = vg_rows_like(g, v->t.kl[i], v->z[i]);
        v->t.logq[i] = vg_gauss_logpdf(g, v->mq[i], v->lq[i], v->z[i]);
        v->t.logp[i] = v->mp[i] >= 0 ? vg_gauss_logpdf(g, v->mp[i], v->lp[i], v->z[i])
                                     : vg_logp_std(g, v->z[i]);
        if (v->t.kl[i] < 0 || v->t.logq[i] < 0 || v->t.logp[i] < 0)
            return -1;
    }
    return 0;
}

/* log sigma of a Gaussian likelihood: the learned parameter or a constant row. */
static int logsigma_node(vae_model *m, vg_graph *g, int train)
{
    if (m->arch.p_logsigma >= 0)
        return vn_param_node(g, &m->P, m->arch.p_logsigma, train);
    int id = vg_input(g, VG_ROWS_FIXED, 1, m->cfg.input_dim);
    for (int j = 0; id >= 0 && j < m->cfg.input_dim; j++)
        g->nodes[id].val[j] = logf(m->cfg.gaussian_sigma);
    return id;
}

/* The whole graph into *v and *e; 0 or -1 (no memory). */
static int build(vae_model *m, vg_graph *g, vo_graph *e, vh_nodes *v, const vo_options *o,
                 int train, int mean_pass)
{
    const vae_model_config *c = &m->cfg;
    const vh_arch *h = &m->arch.hier;
    int L = v->L = h->layers > 1 ? h->layers : 1;
    int mh[VAE_MAX_LATENT_LAYERS], lh[VAE_MAX_LATENT_LAYERS];
    memset(e, -1, sizeof *e);
    e->x = e->x_in = vg_input(g, VG_ROWS_BATCH, 0, c->input_dim); /* no corruption */
    if (e->x < 0)
        return -1;
    vg_set_shape(g, e->x, m->arch.enc.in[0], m->arch.enc.in[1], m->arch.enc.in[2]);
    int d = vn_net_build(&m->arch.enc, g, &m->P, e->x, -1, train);
    if (d < 0 || heads(m, g, m->arch.w_mu, m->arch.w_lv, d, train, &mh[0], &lh[0]) != 0)
        return -1;
    for (int i = 1; i < L && c->inference == VAE_INFER_LADDER; i++) {
        d = vn_net_build(&h->up[i], g, &m->P, d, -1, train);
        if (d < 0 || heads(m, g, h->w_mu[i], h->w_lv[i], d, train, &mh[i], &lh[i]) != 0)
            return -1;
    }
    e->mu = mh[0];
    e->lv = lh[0];
    if (mean_pass && L > 1 && c->inference == VAE_INFER_LADDER &&
        ladder_mean_pass(m, g, mh, lh, &e->mu, &e->lv) != 0)
        return -1;
    /* z_1's draws come from the caller; the other layers' derive from them. */
    v->eps[0] = e->eps = vg_input(g, VG_ROWS_SAMPLES, 0, c->latent_dim);
    for (int i = 1; i < L && v->eps[i - 1] >= 0; i++)
        v->eps[i] = vg_derived_noise(g, e->eps, h->sizes[i], i);
    if (v->eps[L - 1] < 0 || build_layers(m, g, v, mh, lh, train) != 0)
        return -1;
    e->z = v->z[0];
    e->out = vn_net_build(&m->arch.dec, g, &m->P, e->z, -1, train);
    if (e->out < 0)
        return -1;
    if (c->likelihood == VAE_LIK_BERNOULLI) {
        e->rec = vg_bernoulli_ll(g, e->out, e->x);
    } else {
        int ls = logsigma_node(m, g, train);
        e->rec = ls < 0 ? -1 : vg_gauss_ll(g, e->out, ls, e->x);
    }
    return e->rec < 0 ? -1 : vo_hier_build(g, e, &v->t, o);
}

static vg_graph *new_graph(vae_model *m, vo_graph *e, vh_nodes *v, int samples, vo_options o,
                           int train, int mean_pass)
{
    vg_graph *g = vg_new(samples);
    if (!g)
        return NULL;
    if (build(m, g, e, v, &o, train, mean_pass) != 0) {
        vg_free(g);
        return NULL;
    }
    vg_use(g, m->pool, &m->scratch);
    return g;
}

vg_graph *vh_build_graph(vae_model *m, vo_graph *e, int samples, vo_options o, int train)
{
    vh_nodes v;
    /* The evaluation graph also serves encode: its q(z_1|x) for the ladder. */
    return new_graph(m, e, &v, samples, o, train, !train && o.objective == VO_ELBO_PATHWISE);
}

/* ---- sampling ------------------------------------------------------------------ */

/* z_L ~ N(0, I), z_l = mu_p(z_{l+1}) + e^(lv_p/2) eps_l, then p(x|z_1)'s
 * output as vm_decode gives it. Draws from the training stream: z_L, then
 * eps_{L-1} .. eps_1, per chunk. */
int vh_sample(vae_model *m, size_t n, float *out)
{
    const vh_arch *h = &m->arch.hier;
    int L = h->layers;
    vg_graph *g = vg_new(1);
    int in[VAE_MAX_LATENT_LAYERS], z = -1;
    int ok = g != NULL;
    if (ok)
        z = in[L - 1] = vg_input(g, VG_ROWS_BATCH, 0, h->sizes[L - 1]);
    for (int i = L - 2; i >= 0 && ok && z >= 0; i--) {
        int mp, lp;
        in[i] = vg_input(g, VG_ROWS_BATCH, 0, h->sizes[i]);
        z = in[i] < 0 || prior_of(m, g, i, z, 0, &mp, &lp) != 0 ? -1
                                                                : vg_gauss_sample(g, mp, lp, in[i]);
    }
    size_t chunk = n < VM_CHUNK ? n : VM_CHUNK, K1 = (size_t)h->sizes[0];
    size_t D = (size_t)m->cfg.input_dim;
    if (!ok || z < 0 || vg_set_batch(g, (int)chunk) != 0) {
        vg_free(g);
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "sample: out of memory");
    }
    vg_use(g, m->pool, &m->scratch);
    int rc = VAE_OK;
    for (size_t start = 0; start < n && rc == VAE_OK; start += chunk) {
        size_t cnt = n - start < chunk ? n - start : chunk;
        vg_set_batch(g, (int)cnt);
        for (int i = L - 1; i >= 0; i--)
            vt_rng_normal(&m->rng, g->nodes[in[i]].val, cnt * (size_t)h->sizes[i]);
        vg_forward(g, -1);
        float *z1 = malloc(cnt * K1 * sizeof *z1);
        if (!z1) {
            rc = vae_fail(m->errmsg, VAE_ERR_NOMEM, "sample: out of memory");
            break;
        }
        memcpy(z1, g->nodes[z].val, cnt * K1 * sizeof *z1);
        rc = vm_decode(m, z1, NULL, cnt, out + start * D);
        free(z1);
    }
    vg_free(g);
    return rc;
}

/* ---- per-layer statistics ----------------------------------------------------- */

#define VH_STATS_SAMPLES 32
#define VH_STATS_ROWS 32

/* Running sums of one layer. */
typedef struct vh_acc {
    double kl;
    double *kl_dim, *mean, *m2; /* per dimension: KL, and Welford's mean/M2 of E_q[z|x] */
} vh_acc;

/* The value of node v at sample row r (v has one row per example or per sample). */
static const float *row_of(const vg_graph *g, int v, size_t r, size_t rows, int K)
{
    const vg_node *nd = &g->nodes[v];
    size_t q = rows / (size_t)nd->rows;
    return nd->val + (r / q) * (size_t)K;
}

/* Add the cnt examples of one forward pass to the layer sums; *seen counts examples. */
static void accumulate_layer(const vg_graph *g, const vh_nodes *v, int i, int K, size_t cnt,
                             vh_acc *a, size_t seen, double *zbar)
{
    size_t S = (size_t)g->samples, rows = cnt * S;
    for (size_t ex = 0; ex < cnt; ex++) {
        memset(zbar, 0, (size_t)K * sizeof *zbar);
        for (size_t s = 0; s < S; s++) {
            size_t r = ex * S + s;
            const float *mq = row_of(g, v->mq[i], r, rows, K);
            const float *lq = row_of(g, v->lq[i], r, rows, K);
            const float *mp = v->mp[i] >= 0 ? row_of(g, v->mp[i], r, rows, K) : NULL;
            const float *lp = v->lp[i] >= 0 ? row_of(g, v->lp[i], r, rows, K) : NULL;
            a->kl += *row_of(g, v->t.kl[i], r, rows, 1) / (double)S;
            for (int j = 0; j < K; j++) {
                double m = mp ? mp[j] : 0.0, l = lp ? lp[j] : 0.0, dm = mq[j] - m;
                a->kl_dim[j] += 0.5 * (l - lq[j] + (exp(lq[j]) + dm * dm) * exp(-l) - 1.0) /
                                (double)S;
                zbar[j] += mq[j] / (double)S; /* E_q[z|x]: the conditional means averaged */
            }
        }
        double k = (double)(seen + ex + 1);
        for (int j = 0; j < K; j++) {
            double dlt = zbar[j] - a->mean[j];
            a->mean[j] += dlt / k;
            a->m2[j] += dlt * (zbar[j] - a->mean[j]);
        }
    }
}

static void finish_layer(const vh_acc *a, int i, int K, size_t n, vae_layer_stats *out)
{
    vae_layer_stats r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    r.layer = i + 1;
    r.dims = K;
    r.kl = a->kl / (double)n;
    r.kl_dim_mean = r.kl / K;
    r.kl_dim_max = -INFINITY;
    r.kl_dim_min = INFINITY;
    for (int j = 0; j < K; j++) {
        double kd = a->kl_dim[j] / (double)n;
        r.kl_dim_max = kd > r.kl_dim_max ? kd : r.kl_dim_max;
        r.kl_dim_min = kd < r.kl_dim_min ? kd : r.kl_dim_min;
        if (a->m2[j] / (double)(n - 1) > VAE_ACTIVE_UNIT_THRESHOLD)
            r.active_units++;
    }
    r.samples = VH_STATS_SAMPLES;
    r.n = n;
    vae_abi_put(out, &r, sizeof r, out->struct_size);
}

int vh_layer_stats(vae_model *m, const float *x, size_t n, vae_layer_stats *out, int n_layers)
{
    vo_graph e;
    vh_nodes v;
    vo_options o;
    memset(&o, 0, sizeof o);
    o.objective = VO_WEIGHTS;
    o.analytic_kl = 1;
    o.beta = 1.0f;
    o.lik_kind = m->cfg.likelihood;
    vg_graph *g = new_graph(m, &e, &v, VH_STATS_SAMPLES, o, 0, 0);
    int L = v.L, K1 = m->cfg.latent_dim, Kmax = 0;
    for (int i = 0; i < L; i++) {
        int K = i == 0 ? K1 : m->arch.hier.sizes[i];
        Kmax = K > Kmax ? K : Kmax;
    }
    double *buf = g ? calloc((size_t)(3 * L + 1) * (size_t)Kmax, sizeof *buf) : NULL;
    if (!buf || vg_set_batch(g, VH_STATS_ROWS) != 0) {
        vg_free(g);
        free(buf);
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "layer_stats: out of memory");
    }
    vh_acc acc[VAE_MAX_LATENT_LAYERS];
    for (int i = 0; i < L; i++)
        acc[i] = (vh_acc){0.0, buf + (3 * i) * Kmax, buf + (3 * i + 1) * Kmax,
                          buf + (3 * i + 2) * Kmax};
    double *zbar = buf + 3 * L * Kmax;
    vt_rng rng;
    vt_rng_seed(&rng, m->cfg.seed, VM_STREAM_EVAL);
    size_t D = (size_t)m->cfg.input_dim;
    for (size_t start = 0; start < n; start += VH_STATS_ROWS) {
        size_t cnt = n - start < VH_STATS_ROWS ? n - start : VH_STATS_ROWS;
        vg_set_batch(g, (int)cnt);
        vg_bind(g, e.x, x + start * D);
        vt_rng_normal(&rng, g->nodes[e.eps].val, cnt * VH_STATS_SAMPLES * (size_t)K1);
        vg_forward(g, -1);
        for (int i = 0; i < L; i++)
            accumulate_layer(g, &v, i, i == 0 ? K1 : m->arch.hier.sizes[i], cnt, &acc[i], start,
                             zbar);
    }
    size_t stride = out[0].struct_size;
    for (int i = 0; i < L && i < n_layers; i++) {
        vae_layer_stats *dst = (vae_layer_stats *)((char *)out + (size_t)i * stride);
        dst->struct_size = stride;
        finish_layer(&acc[i], i, i == 0 ? K1 : m->arch.hier.sizes[i], n, dst);
    }
    vg_free(g);
    free(buf);
    return VAE_OK;
}

/* ---- checkpoint records ------------------------------------------------------- */

int vh_save_config(const vae_model_config *c, vio_writer *w, char *msg)
{
    if (c->latent_layers <= 1)
        return VAE_OK; /* absent records: a plain VAE, as in every earlier file */
    int64_t L = c->latent_layers, inf = c->inference, sizes[VAE_MAX_LATENT_LAYERS];
    for (int i = 0; i < VAE_MAX_LATENT_LAYERS; i++)
        sizes[i] = i == 0 ? c->latent_dim : c->latent_sizes[i];
    uint64_t dims[1] = {VAE_MAX_LATENT_LAYERS};
    int rc = vio_writer_add(w, "model.latent_layers", VIO_I64, 0, NULL, &L, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.latent_sizes", VIO_I64, 1, dims, sizes, msg);
    if (rc == VAE_OK)
        rc = vio_writer_add(w, "model.inference", VIO_I64, 0, NULL, &inf, msg);
    if (rc == VAE_OK && c->hier_network)
        rc = vio_writer_add_text(w, "model.hier_network", c->hier_network, msg);
    return rc;
}

static int get_small_int(const vio_file *f, const char *name, int *out, char *msg)
{
    int64_t v;
    int rc = vio_file_i64(f, name, &v, msg);
    if (rc == VAE_OK && (v < -65536 || v > 65536))
        return vae_fail(msg, VAE_ERR_FORMAT, "%s = %lld is out of range", name, (long long)v);
    if (rc == VAE_OK)
        *out = (int)v;
    return rc;
}

int vh_load_config(const vio_file *f, vae_model_config *c, char *text, char *msg)
{
    if (!vio_file_find(f, "model.latent_layers"))
        return VAE_OK; /* older files and plain models: latent_layers 1 */
    const vio_tensor *t;
    int rc = get_small_int(f, "model.latent_layers", &c->latent_layers, msg);
    if (rc == VAE_OK)
        rc = get_small_int(f, "model.inference", &c->inference, msg);
    if (rc == VAE_OK)
        rc = vio_file_expect(f, "model.latent_sizes", VIO_I64, VAE_MAX_LATENT_LAYERS, &t, msg);
    if (rc != VAE_OK)
        return rc;
    const int64_t *s = t->data;
    for (int i = 0; i < VAE_MAX_LATENT_LAYERS; i++) {
        if (s[i] < 0 || s[i] > 65536)
            return vae_fail(msg, VAE_ERR_FORMAT, "model.latent_sizes[%d] = %lld is out of range",
                            i, (long long)s[i]);
        c->latent_sizes[i] = (int)s[i];
    }
    if (vio_file_find(f, "model.hier_network")) {
        if ((rc = vio_file_text(f, "model.hier_network", text, VN_MAX_TEXT + 1, msg)) != VAE_OK)
            return rc;
        c->hier_network = text;
    }
    return VAE_OK;
}
