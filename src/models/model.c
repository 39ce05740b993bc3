/* The Gaussian VAE: graph construction, training and use. Its networks and
 * parameters are models/vae_arch.c:
 *
 *   encoder: x -> encoder layers -> h;  mu = h W_mu + b_mu,  lv = clamp(h W_lv + b_lv)
 *   decoder: z -> decoder layers -> out
 *            (Bernoulli logits, or Gaussian means with log sigma fixed or learned)
 *
 * A conditional model (cond_dim = C > 0) joins c at each network's first
 * dense layer (for MLPs: the encoder reads [x, c], the decoder [z, c]); a
 * learned prior adds the prior network
 *   c -> prior layers -> h;  mu_p = h W_pmu + b_pmu,  lv_p = clamp(h W_plv + b_plv)
 * whose parameters ("prior.*") come last in the flat vector.
 */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "data/dataset.h"
#include "objectives/schedule.h"
#include "optim/optimizer.h"
#include "tensor/vec.h"

int vm_config_check(const vae_model_config *c, char *msg)
{
    if (c->input_dim <= 0 || c->input_dim > (1 << 24))
        return vae_fail(msg, VAE_ERR_INVALID, "input_dim = %d: must be in 1..2^24", c->input_dim);
    if (c->latent_dim <= 0 || c->latent_dim > (1 << 16))
        return vae_fail(msg, VAE_ERR_INVALID, "latent_dim = %d: must be in 1..65536", c->latent_dim);
    if (c->n_hidden < 0 || c->n_hidden > VAE_MAX_HIDDEN)
        return vae_fail(msg, VAE_ERR_INVALID, "n_hidden = %d: must be in 0..%d", c->n_hidden,
                        VAE_MAX_HIDDEN);
    for (int k = 0; k < c->n_hidden; k++)
        if (c->hidden[k] <= 0 || c->hidden[k] > (1 << 20))
            return vae_fail(msg, VAE_ERR_INVALID, "hidden[%d] = %d: must be in 1..2^20", k,
                            c->hidden[k]);
    if (c->cond_dim < 0 || c->cond_dim > (1 << 16))
        return vae_fail(msg, VAE_ERR_INVALID, "cond_dim = %d: must be in 0..65536", c->cond_dim);
    if (c->prior != VAE_PRIOR_STANDARD && c->prior != VAE_PRIOR_LEARNED)
        return vae_fail(msg, VAE_ERR_INVALID, "prior = %d: unknown", c->prior);
    if (c->prior == VAE_PRIOR_LEARNED && c->cond_dim == 0)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "prior learned needs a condition: cond_dim = 0 (set cond_dim > 0)");
    if (c->prior_hidden < 0 || c->prior_hidden > (1 << 20))
        return vae_fail(msg, VAE_ERR_INVALID, "prior_hidden = %d: must be in 0..2^20",
                        c->prior_hidden);
    if (c->input_shape[0] != 0 || c->input_shape[1] != 0 || c->input_shape[2] != 0) {
        const int *s = c->input_shape;
        if (s[0] < 1 || s[1] < 1 || s[2] < 1 || (double)s[0] * s[1] * s[2] != c->input_dim)
            return vae_fail(msg, VAE_ERR_INVALID,
                            "input_shape = %dx%dx%d: each must be >= 1 with product input_dim "
                            "= %d (or all 0: flat)", s[0], s[1], s[2], c->input_dim);
    }
    int rc = vh_config_check(c, msg); /* hierarchical models (models/hvae.c) */
    if (rc != VAE_OK)
        return rc;
    double params;
    rc = vm_param_count(c, &params, msg);
    if (rc != VAE_OK)
        return rc;
    if (params > 2147483647.0)
        return vae_fail(msg, VAE_ERR_LIMIT, "the model would have %.3g parameters (limit 2^31)",
                        params);
    if (c->activation < VAE_ACT_RELU || c->activation > VAE_ACT_SOFTPLUS)
        return vae_fail(msg, VAE_ERR_INVALID, "activation = %d: unknown", c->activation);
    if (!isfinite(c->leaky_slope))
        return vae_fail(msg, VAE_ERR_INVALID, "leaky_slope is not finite");
    if (c->likelihood < VAE_LIK_BERNOULLI || c->likelihood > VAE_LIK_GAUSSIAN_LEARNED)
        return vae_fail(msg, VAE_ERR_INVALID, "likelihood = %d: unknown", c->likelihood);
    if (!(c->gaussian_sigma > 0.0f) || !isfinite(c->gaussian_sigma))
        return vae_fail(msg, VAE_ERR_INVALID, "gaussian_sigma = %g: must be finite and > 0",
                        (double)c->gaussian_sigma);
    if (!isfinite(c->logvar_min) || !isfinite(c->logvar_max) || !(c->logvar_min < c->logvar_max))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "logvar range [%g, %g]: must be finite with min < max",
                        (double)c->logvar_min, (double)c->logvar_max);
    if (c->posterior < VAE_POST_GAUSSIAN || c->posterior > VAE_POST_LOGISTIC)
        return vae_fail(msg, VAE_ERR_INVALID, "posterior = %d: unknown", c->posterior);
    return vm_training_check(c, msg);
}

int vm_training_check(const vae_model_config *c, char *msg)
{
    if (c->samples < 1 || c->samples > 4096)
        return vae_fail(msg, VAE_ERR_INVALID, "samples = %d: must be in 1..4096", c->samples);
    if (c->kl_mode != VAE_KL_ANALYTIC && c->kl_mode != VAE_KL_MONTE_CARLO)
        return vae_fail(msg, VAE_ERR_INVALID, "kl_mode = %d: unknown", c->kl_mode);
    if (c->threads < 1 || c->threads > 256)
        return vae_fail(msg, VAE_ERR_INVALID, "threads = %d: must be in 1..256", c->threads);
    if (c->estimator != VAE_EST_PATHWISE && c->estimator != VAE_EST_SCORE)
        return vae_fail(msg, VAE_ERR_INVALID, "estimator = %d: unknown", c->estimator);
    if (c->baseline < VAE_BASELINE_NONE || c->baseline > VAE_BASELINE_LOO)
        return vae_fail(msg, VAE_ERR_INVALID, "baseline = %d: unknown", c->baseline);
    if (c->estimator == VAE_EST_SCORE && c->baseline == VAE_BASELINE_LOO && c->samples < 2)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "baseline leave-one-out needs samples >= 2 (samples = %d)", c->samples);
    if (!(c->ema_decay >= 0.0f && c->ema_decay < 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "ema_decay = %g: must be in [0, 1)",
                        (double)c->ema_decay);
    if (c->score_reward != VAE_REWARD_ELBO && c->score_reward != VAE_REWARD_REC)
        return vae_fail(msg, VAE_ERR_INVALID, "score_reward = %d: unknown", c->score_reward);
    if (c->estimator == VAE_EST_SCORE && c->score_reward == VAE_REWARD_REC &&
        (c->posterior != VAE_POST_GAUSSIAN || c->kl_mode != VAE_KL_ANALYTIC))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "score_reward rec needs the analytic KL of a Gaussian posterior");
    if (c->objective != VAE_OBJ_ELBO && c->objective != VAE_OBJ_IWAE)
        return vae_fail(msg, VAE_ERR_INVALID, "objective = %d: unknown", c->objective);
    if (c->objective == VAE_OBJ_IWAE && c->estimator != VAE_EST_PATHWISE)
        return vae_fail(msg, VAE_ERR_INVALID, "objective iwae is trained with the pathwise estimator");
    if (!(c->beta >= 0.0f) || !isfinite(c->beta))
        return vae_fail(msg, VAE_ERR_INVALID, "beta = %g: must be finite and >= 0", (double)c->beta);
    int rc = vh_training_check(c, msg);
    return rc != VAE_OK ? rc : vm_beta_check(c, msg);
}

/* The 0.3.0 training fields: schedules, capacity, free bits, aggressive mode. */
int vm_beta_check(const vae_model_config *c, char *msg)
{
    if (c->kl_schedule < VAE_KL_SCHEDULE_CONSTANT || c->kl_schedule > VAE_KL_SCHEDULE_CYCLICAL)
        return vae_fail(msg, VAE_ERR_INVALID, "kl_schedule = %d: unknown", c->kl_schedule);
    if (c->kl_warmup_steps < 1)
        return vae_fail(msg, VAE_ERR_INVALID, "kl_warmup_steps = %d: must be >= 1", c->kl_warmup_steps);
    if (c->kl_cycle_steps < 1)
        return vae_fail(msg, VAE_ERR_INVALID, "kl_cycle_steps = %d: must be >= 1", c->kl_cycle_steps);
    if (!(c->kl_cycle_ratio > 0.0f && c->kl_cycle_ratio <= 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "kl_cycle_ratio = %g: must be in (0, 1]",
                        (double)c->kl_cycle_ratio);
    if (c->kl_cycles < 0)
        return vae_fail(msg, VAE_ERR_INVALID, "kl_cycles = %d: must be >= 0", c->kl_cycles);
    if (!(c->capacity_gamma >= 0.0f) || !isfinite(c->capacity_gamma))
        return vae_fail(msg, VAE_ERR_INVALID, "capacity_gamma = %g: must be finite and >= 0",
                        (double)c->capacity_gamma);
    if (!(c->capacity_max >= 0.0f) || !isfinite(c->capacity_max))
        return vae_fail(msg, VAE_ERR_INVALID, "capacity_max = %g: must be finite and >= 0",
                        (double)c->capacity_max);
    if (c->capacity_steps < 1)
        return vae_fail(msg, VAE_ERR_INVALID, "capacity_steps = %d: must be >= 1", c->capacity_steps);
    if (!(c->free_bits >= 0.0f) || !isfinite(c->free_bits))
        return vae_fail(msg, VAE_ERR_INVALID, "free_bits = %g: must be finite and >= 0",
                        (double)c->free_bits);
    if (c->aggressive != 0 && c->aggressive != 1)
        return vae_fail(msg, VAE_ERR_INVALID, "aggressive = %d: must be 0 or 1", c->aggressive);
    if (c->aggressive_max_inner < 1 || c->aggressive_max_inner > 10000)
        return vae_fail(msg, VAE_ERR_INVALID, "aggressive_max_inner = %d: must be in 1..10000",
                        c->aggressive_max_inner);
    int pathwise_elbo = c->objective == VAE_OBJ_ELBO && c->estimator == VAE_EST_PATHWISE;
    if (c->objective == VAE_OBJ_IWAE && c->kl_schedule != VAE_KL_SCHEDULE_CONSTANT)
        return vae_fail(msg, VAE_ERR_INVALID, "kl_schedule: the IWAE objective has no KL weight to schedule");
    if (c->capacity_gamma > 0.0f) {
        if (!pathwise_elbo)
            return vae_fail(msg, VAE_ERR_INVALID,
                            "capacity objective needs objective elbo with the pathwise estimator");
        if (c->free_bits > 0.0f || c->kl_schedule != VAE_KL_SCHEDULE_CONSTANT)
            return vae_fail(msg, VAE_ERR_INVALID,
                            "capacity objective replaces beta: it cannot be combined with free bits or a KL schedule");
    }
    if (c->free_bits > 0.0f &&
        (!pathwise_elbo || c->posterior != VAE_POST_GAUSSIAN || c->kl_mode != VAE_KL_ANALYTIC))
        return vae_fail(msg, VAE_ERR_INVALID,
                        "free bits need objective elbo, the pathwise estimator, a Gaussian posterior "
                        "and the analytic KL");
    if (c->aggressive && c->cond_dim > 0)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "aggressive training of a conditional model (cond_dim = %d) is not supported",
                        c->cond_dim);
    /* The score estimator's prior-network term carries beta as a constant. */
    if (c->estimator == VAE_EST_SCORE && c->prior == VAE_PRIOR_LEARNED &&
        c->score_reward == VAE_REWARD_ELBO && c->kl_schedule != VAE_KL_SCHEDULE_CONSTANT)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "a KL schedule with the score estimator (reward elbo) and a learned prior "
                        "is not supported");
    return VAE_OK;
}

/* ---- graphs ----------------------------------------------------------------- */

typedef struct build_ctx {
    vae_model *m;
    int train;
    int c;          /* condition input node, or -1 */
} build_ctx;

static int build_decoder(void *ctx, vg_graph *g, int z)
{
    build_ctx *b = ctx;
    return vn_net_build(&b->m->arch.dec, g, &b->m->P, z, b->c, b->train);
}

/* log sigma of the Gaussian likelihood: the learned parameter, or a constant node. */
static int logsigma_node(vae_model *m, vg_graph *g, int train)
{
    if (m->cfg.likelihood == VAE_LIK_BERNOULLI)
        return -1;
    if (m->arch.p_logsigma >= 0)
        return vn_param_node(g, &m->P, m->arch.p_logsigma, train);
    int id = vg_input(g, VG_ROWS_FIXED, 1, m->cfg.input_dim);
    if (id >= 0)
        for (int j = 0; j < m->cfg.input_dim; j++)
            g->nodes[id].val[j] = logf(m->cfg.gaussian_sigma);
    return id;
}

/* The objective options for a configuration (what = VO_*; -1: from cfg's estimator/objective). */
static vo_options options_for(const vae_model_config *c, int what)
{
    vo_options o;
    if (what < 0)
        what = c->objective == VAE_OBJ_IWAE ? VO_IWAE
               : c->estimator == VAE_EST_SCORE ? VO_ELBO_SCORE
                                               : VO_ELBO_PATHWISE;
    o.objective = what;
    o.family = c->posterior;
    o.analytic_kl = c->posterior == VAE_POST_GAUSSIAN && c->kl_mode == VAE_KL_ANALYTIC;
    o.baseline = c->baseline;
    o.ema_decay = c->ema_decay;
    o.reward_rec = c->score_reward == VAE_REWARD_REC;
    o.beta = c->beta;
    o.lik_kind = c->likelihood;
    o.logsigma = -1;
    o.free_bits = c->free_bits;
    o.capacity_gamma = c->capacity_gamma;
    o.prior_mu = o.prior_lv = -1;
    return o;
}

/* The prior network on condition node c: mu_p and clamped lv_p, [n, K] each. */
static int build_prior(vae_model *m, vg_graph *g, int c, int train, int *mu, int *lv)
{
    int h = vn_net_build(&m->arch.pri, g, &m->P, c, -1, train);
    *mu = h < 0 ? -1 : vn_dense(g, &m->P, m->arch.w_pmu, h, train);
    int raw = *mu < 0 ? -1 : vn_dense(g, &m->P, m->arch.w_plv, h, train);
    *lv = raw < 0 ? -1 : vg_unary(g, VG_OP_CLAMP, raw, m->cfg.logvar_min, m->cfg.logvar_max);
    return *lv < 0 ? -1 : 0;
}

static vg_graph *build_graph(vae_model *m, vo_graph *e, int samples, vo_options o, int train)
{
    const vae_model_config *c = &m->cfg;
    if (c->latent_layers > 1)
        return vh_build_graph(m, e, samples, o, train); /* models/hvae.c */
    vg_graph *g = vg_new(samples);
    if (!g)
        return NULL;
    build_ctx ctx = {m, train, -1};
    int x = vg_input(g, VG_ROWS_BATCH, 0, c->input_dim);
    int xc = x;
    if (x >= 0)
        vg_set_shape(g, x, m->arch.enc.in[0], m->arch.enc.in[1], m->arch.enc.in[2]);
    if (x >= 0 && c->cond_dim > 0) {
        ctx.c = vg_input(g, VG_ROWS_BATCH, 0, c->cond_dim);
        xc = ctx.c;
    }
    int h = xc < 0 ? -1 : vn_net_build(&m->arch.enc, g, &m->P, x, ctx.c, train);
    if (h >= 0 && ctx.c >= 0 && !m->arch.enc.cond_used)
        h = vg_concat(g, h, ctx.c); /* the heads read [h, c] */
    int mu = h < 0 ? -1 : vn_dense(g, &m->P, m->arch.w_mu, h, train);
    int lv_raw = mu < 0 ? -1 : vn_dense(g, &m->P, m->arch.w_lv, h, train);
    int lv = lv_raw < 0 ? -1 : vg_unary(g, VG_OP_CLAMP, lv_raw, c->logvar_min, c->logvar_max);
    if (lv >= 0 && c->likelihood != VAE_LIK_BERNOULLI)
        o.logsigma = logsigma_node(m, g, train);
    if (lv >= 0 && m->arch.w_pmu >= 0 &&
        build_prior(m, g, ctx.c, train, &o.prior_mu, &o.prior_lv) != 0)
        lv = -1;
    if (lv < 0 || (c->likelihood != VAE_LIK_BERNOULLI && o.logsigma < 0) ||
        vo_build(g, e, x, mu, lv, &o, build_decoder, &ctx) != 0) {
        vg_free(g);
        return NULL;
    }
    e->c = ctx.c;
    g->pool = m->pool;
    return g;
}

int vm_build_train_graph(vae_model *m)
{
    vo_graph e;
    vg_graph *g = build_graph(m, &e, m->cfg.samples, options_for(&m->cfg, -1), 1);
    if (!g)
        return -1;
    vg_free(m->train_g);
    m->train_g = g;
    m->train_e = e;
    return 0;
}

static int build_decode_graph(vae_model *m)
{
    vg_graph *g = vg_new(1);
    if (!g)
        return -1;
    build_ctx ctx = {m, 0, -1};
    m->dec_g = g;
    m->dec_z = vg_input(g, VG_ROWS_BATCH, 0, m->cfg.latent_dim);
    if (m->cfg.cond_dim > 0)
        ctx.c = vg_input(g, VG_ROWS_BATCH, 0, m->cfg.cond_dim);
    m->dec_c = ctx.c;
    int out = m->dec_z < 0 || (m->cfg.cond_dim > 0 && ctx.c < 0) ? -1
                                                                 : build_decoder(&ctx, g, m->dec_z);
    if (out >= 0 && m->cfg.likelihood == VAE_LIK_BERNOULLI)
        out = vg_unary(g, VG_OP_SIGMOID, out, 0.0f, 0.0f);
    m->dec_out = out;
    return out < 0 ? -1 : 0;
}

/* c -> (mu_p, lv_p): the learned prior on its own, for sampling. */
static int build_prior_graph(vae_model *m)
{
    m->pri_g = NULL;
    if (m->arch.w_pmu < 0)
        return 0;
    vg_graph *g = vg_new(1);
    if (!g)
        return -1;
    m->pri_g = g;
    m->pri_c = vg_input(g, VG_ROWS_BATCH, 0, m->cfg.cond_dim);
    return m->pri_c < 0 ? -1 : build_prior(m, g, m->pri_c, 0, &m->pri_mu, &m->pri_lv);
}

int vm_set_threads(vae_model *m, int threads, char *msg)
{
    vg_graph *gs[] = {m->train_g, m->eval_g, m->iw_g, m->dec_g, m->pri_g};
    if (vg_set_team(&m->pool, threads, gs, sizeof gs / sizeof gs[0]) != 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory starting %d threads", threads);
    m->cfg.threads = threads;
    return VAE_OK;
}

int vm_create(const vae_model_config *cfg, vae_model **out, char *msg)
{
    *out = NULL;
    vae_model *m = calloc(1, sizeof *m);
    if (!m)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory allocating the model");
    m->cfg = *cfg;
    m->cfg.struct_size = sizeof m->cfg;
    vt_rng_seed(&m->rng, cfg->seed, VM_STREAM_TRAIN);
    int rc = vm_arch_declare(&m->cfg, &m->arch, &m->P, msg);
    if (rc != VAE_OK) {
        vm_free(m);
        return rc;
    }
    if (vn_params_alloc(&m->P) != 0)
        goto nomem;
    vm_arch_init(&m->cfg, &m->arch, &m->P, &m->rng);
    /* The model's own texts of its networks (cfg's strings belong to the caller). */
    if (vm_arch_texts(&m->arch, m->enc_text, m->dec_text, m->pri_text) != 0)
        return vm_free(m), vae_fail(msg, VAE_ERR_LIMIT, "a network's text is longer than %d",
                                    VN_MAX_TEXT);
    m->cfg.encoder = m->enc_text;
    m->cfg.decoder = m->dec_text;
    m->cfg.prior_network = m->arch.w_pmu >= 0 ? m->pri_text : NULL;
    m->cfg.hier_network = cfg->latent_layers > 1 ? m->arch.hier.text : NULL;
    if (cfg->latent_layers > 1)
        m->cfg.latent_sizes[0] = cfg->latent_dim;
    memcpy(m->cfg.input_shape, m->arch.enc.in, sizeof m->cfg.input_shape);
    m->agg_active = cfg->aggressive;
    m->agg_mi = NAN;
    const vn_param *last_enc = &m->P.p[m->arch.w_lv + 1];
    m->enc_split = last_enc->offset + (size_t)last_enc->rows * (size_t)last_enc->cols;
    vae_model_config ec = *cfg; /* evaluation: the ELBO, one sample, analytic KL where there is one */
    ec.kl_mode = VAE_KL_ANALYTIC;
    ec.beta = 1.0f;
    ec.free_bits = 0.0f;
    ec.capacity_gamma = 0.0f;
    m->eval_g = build_graph(m, &m->eval_e, 1, options_for(&ec, VO_ELBO_PATHWISE), 0);
    m->iw_g = build_graph(m, &m->iw_e, VM_IW_CHUNK, options_for(&ec, VO_WEIGHTS), 0);
    if (vm_build_train_graph(m) != 0 || !m->eval_g || !m->iw_g || build_decode_graph(m) != 0 ||
        build_prior_graph(m) != 0 || vm_set_threads(m, cfg->threads, msg) != VAE_OK)
        goto nomem;
    *out = m;
    return VAE_OK;
nomem:
    vm_free(m);
    return vae_fail(msg, VAE_ERR_NOMEM, "out of memory building the model");
}

void vm_free(vae_model *m)
{
    if (!m)
        return;
    vg_free(m->train_g);
    vg_free(m->eval_g);
    vg_free(m->iw_g);
    vg_free(m->dec_g);
    vg_free(m->pri_g);
    free(m->cbatch);
    vn_params_free(&m->P);
    free(m->perm);
    free(m->batch);
    vt_pool_free(m->pool);
    free(m);
}

/* ---- training ------------------------------------------------------------- */

void vm_apply_schedule(vae_model *m)
{
    vg_graph *g = m->train_g;
    const vo_graph *e = &m->train_e;
    if (e->beta_node >= 0)
        g->nodes[e->beta_node].fparam[1] = (float)vo_kl_weight(&m->cfg, m->step);
    if (e->cap_node >= 0)
        g->nodes[e->cap_node].fparam[0] = (float)vo_capacity(&m->cfg, m->step);
}

int vm_train_part(vae_model *m, vae_optimizer *opt, const float *x, const float *c, size_t n,
                  int part, vae_elbo_stats *st)
{
    /* compute + apply (models/gradients.c); the optimizer is bound first so
     * that a mismatched optimizer fails before any work. */
    int rc = vopt_bind(opt, m->P.total);
    if (rc != VAE_OK)
        return vae_fail(m->errmsg, rc, "optimizer: %s", opt->errmsg);
    vae_elbo_stats s = {0};
    double norm2;
    if ((rc = vm_compute_gradients(m, x, c, n, NULL, &s, &norm2)) != VAE_OK)
        return rc;
    if (!isfinite(s.loss))
        return vae_fail(m->errmsg, VAE_ERR_DIVERGED,
                        "step %llu: the loss is not finite; the update was not applied",
                        (unsigned long long)opt->steps + 1);
    if ((rc = vm_apply_gradients_part(m, opt, part, norm2)) != VAE_OK)
        return rc;
    if (st)
        *st = s;
    return VAE_OK;
}

int vm_train_step(vae_model *m, vae_optimizer *opt, const float *x, const float *c, size_t n,
                  vae_elbo_stats *st)
{
    return vm_train_part(m, opt, x, c, n, VM_PART_ALL, st);
}

/* Make sure the epoch order and batch buffers can hold n rows / batch x d floats.
 * Allocates only when a dataset or batch is larger than any before. */
int vm_ensure_buffers(vae_model *m, size_t n, size_t batch)
{
    if (n > m->perm_cap) {
        size_t *p = realloc(m->perm, n * sizeof *p);
        if (!p)
            return -1;
        m->perm = p;
        m->perm_cap = n;
    }
    size_t need = batch * (size_t)m->cfg.input_dim;
    if (need > m->batch_cap) {
        float *b = realloc(m->batch, need * sizeof *b);
        if (!b)
            return -1;
        m->batch = b;
        m->batch_cap = need;
    }
    need = batch * (size_t)m->cfg.cond_dim;
    if (need > m->cbatch_cap) {
        float *b = realloc(m->cbatch, need * sizeof *b);
        if (!b)
            return -1;
        m->cbatch = b;
        m->cbatch_cap = need;
    }
    return 0;
}

int vm_train_epoch(vae_model *m, vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                   vae_progress_fn progress, void *user, vae_elbo_stats *st)
{
    if (m->cfg.aggressive && m->agg_active)
        return vm_train_epoch_aggressive(m, opt, ds, batch, progress, user, st);
    size_t n = ds->n;
    if (batch > n)
        batch = n;
    if (vm_ensure_buffers(m, n, batch) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for the epoch buffers");
    for (size_t i = 0; i < n; i++)
        m->perm[i] = i;
    vt_rng_shuffle(&m->rng, m->perm, n);
    size_t n_batches = (n + batch - 1) / batch;
    double sum_rec = 0.0, sum_kl = 0.0, sum_loss = 0.0;
    size_t done = 0;
    for (size_t b = 0; b < n_batches; b++) {
        size_t start = b * batch, cnt = n - start < batch ? n - start : batch;
        vds_gather_on(m->pool, ds, m->perm + start, cnt, m->batch, &m->rng);
        const float *cb = NULL;
        if (m->cfg.cond_dim > 0)
            vds_gather_cond(ds, m->perm + start, cnt, m->cbatch), cb = m->cbatch;
        vae_elbo_stats s = {0};
        int rc = vm_train_step(m, opt, m->batch, cb, cnt, &s);
        if (rc != VAE_OK) {
            if (rc == VAE_ERR_DIVERGED) {
                char why[VAE_ERRMSG_LEN];
                memcpy(why, m->errmsg, sizeof why);
                vae_fail(m->errmsg, rc, "batch %zu of %zu: %s", b, n_batches, why);
            }
            return rc;
        }
        sum_rec += s.rec * (double)cnt;
        sum_kl += s.kl * (double)cnt;
        sum_loss += s.loss * (double)cnt;
        done += cnt;
        if (progress && progress(user, b, n_batches, (sum_rec - sum_kl) / (double)done) != 0)
            return vae_fail(m->errmsg, VAE_ERR_CANCELLED, "cancelled by the progress callback after batch %zu",
                            b);
    }
    if (st) {
        st->rec = sum_rec / (double)done;
        st->kl = sum_kl / (double)done;
        st->elbo = st->rec - st->kl;
        st->loss = sum_loss / (double)done;
        st->n = done;
    }
    return VAE_OK;
}

/* ---- evaluation and use ------------------------------------------------------ */

/* Examples whose ELBO was not finite (a diverged model): the first one's
 * index and how many, for the message (issue 19). */
typedef struct vm_bad_rows {
    size_t first, count;
} vm_bad_rows;

/* Count the rows first..first+n whose rec - kl is not finite. */
static void note_bad_rows(vm_bad_rows *bad, size_t first, const float *rec, const float *kl,
                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(rec[i] - kl[i]) && bad->count++ == 0)
            bad->first = first + i;
}

int vm_bad_rows_fail(char *msg, const char *who, size_t first, size_t count, size_t n)
{
    return vae_fail(msg, VAE_ERR_NONFINITE,
                    "%s: the ELBO of %zu of %zu examples is not finite (the first: example %zu); "
                    "the parameters have diverged",
                    who, count, n, first);
}

/* Run the evaluation graph on n rows at x with noise from rng; add per-example
 * ELBOs to the sums (and write them to per_example when not NULL). Rows
 * with a non-finite ELBO are counted in *bad (row 0 is example `first`). */
static int eval_rows(vae_model *m, const float *x, const float *c, size_t n, vt_rng *rng,
                     float *per_example, double *sum_rec, double *sum_kl, size_t first,
                     vm_bad_rows *bad)
{
    vg_graph *g = m->eval_g;
    const vo_graph *e = &m->eval_e;
    g->pool = m->pool;
    if (vg_set_batch(g, (int)n) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", n);
    vg_bind(g, e->x, x);
    if (e->c >= 0)
        vg_bind(g, e->c, c);
    vg_family_sample(m->cfg.posterior, rng, g->nodes[e->eps].val, n * (size_t)m->cfg.latent_dim);
    vg_forward(g, -1);
    const float *rec = g->nodes[e->rec].val, *kl = g->nodes[e->kl].val;
    for (size_t i = 0; i < n; i++) {
        *sum_rec += rec[i];
        *sum_kl += kl[i];
        if (per_example)
            per_example[i] = rec[i] - kl[i];
    }
    note_bad_rows(bad, first, rec, kl, n);
    return VAE_OK;
}

static void finish_stats(vae_elbo_stats *st, double sum_rec, double sum_kl, size_t n)
{
    if (!st)
        return;
    st->rec = sum_rec / (double)n;
    st->kl = sum_kl / (double)n;
    st->elbo = st->rec - st->kl;
    st->loss = -st->elbo;
    st->n = n;
}

int vm_evaluate(vae_model *m, const vae_dataset *ds, size_t batch, vae_elbo_stats *st)
{
    size_t n = ds->n;
    if (batch > n)
        batch = n;
    if (batch > VM_CHUNK)
        batch = VM_CHUNK;
    if (vm_ensure_buffers(m, 0, batch) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for the batch buffer");
    vt_rng rng;
    vt_rng_seed(&rng, m->cfg.seed, VM_STREAM_EVAL);
    double sr = 0.0, sk = 0.0;
    vm_bad_rows bad = {0, 0};
    size_t idx[VM_CHUNK];
    for (size_t start = 0; start < n; start += batch) {
        size_t cnt = n - start < batch ? n - start : batch;
        for (size_t i = 0; i < cnt; i++)
            idx[i] = start + i;
        vds_gather_on(m->pool, ds, idx, cnt, m->batch, &rng);
        const float *cb = NULL;
        if (m->cfg.cond_dim > 0)
            vds_gather_cond(ds, idx, cnt, m->cbatch), cb = m->cbatch;
        int rc = eval_rows(m, m->batch, cb, cnt, &rng, NULL, &sr, &sk, start, &bad);
        if (rc != VAE_OK)
            return rc;
    }
    if (bad.count)
        return vm_bad_rows_fail(m->errmsg, "evaluate", bad.first, bad.count, n);
    finish_stats(st, sr, sk, n);
    return VAE_OK;
}

/* Row `start` of an optional n x C condition array (NULL stays NULL). */
static const float *cond_rows(const vae_model *m, const float *c, size_t start)
{
    return c ? c + start * (size_t)m->cfg.cond_dim : NULL;
}

int vm_elbo(vae_model *m, const float *x, const float *c, size_t n, float *per_example,
            vae_elbo_stats *st)
{
    vt_rng rng;
    vt_rng_seed(&rng, m->cfg.seed, VM_STREAM_EVAL);
    double sr = 0.0, sk = 0.0;
    vm_bad_rows bad = {0, 0};
    size_t D = (size_t)m->cfg.input_dim;
    for (size_t start = 0; start < n; start += VM_CHUNK) {
        size_t cnt = n - start < VM_CHUNK ? n - start : VM_CHUNK;
        int rc = eval_rows(m, x + start * D, cond_rows(m, c, start), cnt, &rng,
                           per_example ? per_example + start : NULL, &sr, &sk, start, &bad);
        if (rc != VAE_OK)
            return rc;
    }
    if (bad.count)
        return vm_bad_rows_fail(m->errmsg, "elbo", bad.first, bad.count, n);
    finish_stats(st, sr, sk, n);
    return VAE_OK;
}

/* Size graph g for cnt rows, bind `data` to its input node and run it forward
 * up to node `upto` (-1: all) with the model's thread count. */
static int run_rows(vae_model *m, vg_graph *g, int input, const float *data, int cnode,
                    const float *c, size_t cnt, int upto)
{
    g->pool = m->pool;
    if (vg_set_batch(g, (int)cnt) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", cnt);
    vg_bind(g, input, data);
    if (cnode >= 0)
        vg_bind(g, cnode, c);
    vg_forward(g, upto);
    return VAE_OK;
}

int vm_encode(vae_model *m, const float *x, const float *c, size_t n, float *mu, float *lv)
{
    vg_graph *g = m->eval_g;
    const vo_graph *e = &m->eval_e;
    size_t D = (size_t)m->cfg.input_dim, K = (size_t)m->cfg.latent_dim;
    for (size_t start = 0; start < n; start += VM_CHUNK) {
        size_t cnt = n - start < VM_CHUNK ? n - start : VM_CHUNK;
        int rc = run_rows(m, g, e->x, x + start * D, e->c, cond_rows(m, c, start), cnt,
                          e->lv > e->mu ? e->lv : e->mu);
        if (rc != VAE_OK)
            return rc;
        if (mu)
            memcpy(mu + start * K, g->nodes[e->mu].val, cnt * K * sizeof(float));
        if (lv)
            memcpy(lv + start * K, g->nodes[e->lv].val, cnt * K * sizeof(float));
    }
    return VAE_OK;
}

int vm_decode(vae_model *m, const float *z, const float *c, size_t n, float *out)
{
    vg_graph *g = m->dec_g;
    size_t D = (size_t)m->cfg.input_dim, K = (size_t)m->cfg.latent_dim;
    for (size_t start = 0; start < n; start += VM_CHUNK) {
        size_t cnt = n - start < VM_CHUNK ? n - start : VM_CHUNK;
        int rc = run_rows(m, g, m->dec_z, z + start * K, m->dec_c, cond_rows(m, c, start), cnt, -1);
        if (rc != VAE_OK)
            return rc;
        memcpy(out + start * D, g->nodes[m->dec_out].val, cnt * D * sizeof(float));
    }
    return VAE_OK;
}

/* decode(mu(x)) in chunks of at most VM_CHUNK rows. */
int vm_reconstruct(vae_model *m, const float *x, const float *c, size_t n, float *out)
{
    size_t K = (size_t)m->cfg.latent_dim, D = (size_t)m->cfg.input_dim;
    size_t chunk = n < VM_CHUNK ? n : VM_CHUNK;
    float *mu = malloc(chunk * K * sizeof *mu);
    if (!mu)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for %zu latent rows", chunk);
    int rc = VAE_OK;
    for (size_t start = 0; start < n && rc == VAE_OK; start += chunk) {
        size_t cnt = n - start < chunk ? n - start : chunk;
        rc = vm_encode(m, x + start * D, cond_rows(m, c, start), cnt, mu, NULL);
        if (rc == VAE_OK)
            rc = vm_decode(m, mu, cond_rows(m, c, start), cnt, out + start * D);
    }
    free(mu);
    return rc;
}

int vm_prior(vae_model *m, const float *c, size_t n, float *mu, float *lv)
{
    size_t K = (size_t)m->cfg.latent_dim;
    if (!m->pri_g) {
        if (mu)
            memset(mu, 0, n * K * sizeof *mu);
        if (lv)
            memset(lv, 0, n * K * sizeof *lv);
        return VAE_OK;
    }
    vg_graph *g = m->pri_g;
    size_t C = (size_t)m->cfg.cond_dim;
    for (size_t start = 0; start < n; start += VM_CHUNK) {
        size_t cnt = n - start < VM_CHUNK ? n - start : VM_CHUNK;
        int rc = run_rows(m, g, m->pri_c, c + start * C, -1, NULL, cnt, -1);
        if (rc != VAE_OK)
            return rc;
        if (mu)
            memcpy(mu + start * K, g->nodes[m->pri_mu].val, cnt * K * sizeof(float));
        if (lv)
            memcpy(lv + start * K, g->nodes[m->pri_lv].val, cnt * K * sizeof(float));
    }
    return VAE_OK;
}

/* z ~ p(z|c) (N(0, I) for the standard prior), then the decoder's output. */
int vm_sample(vae_model *m, const float *c, size_t n, float *out)
{
    if (m->cfg.latent_layers > 1)
        return vh_sample(m, n, out); /* top-down through every layer (models/hvae.c) */
    size_t K = (size_t)m->cfg.latent_dim;
    float *z = malloc(n * K * sizeof *z);
    float *lv = m->pri_g ? malloc(n * K * sizeof *lv) : NULL;
    float *eps = m->pri_g ? malloc(n * K * sizeof *eps) : NULL;
    if (!z || (m->pri_g && (!lv || !eps))) {
        free(z);
        free(lv);
        free(eps);
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for %zu latent rows", n);
    }
    int rc = VAE_OK;
    if (m->pri_g) {
        /* z = mu_p(c) + e^(lv_p(c)/2) eps */
        rc = vm_prior(m, c, n, z, lv);
        vt_rng_normal(&m->rng, eps, n * K);
        for (size_t i = 0; i < n * K && rc == VAE_OK; i++)
            z[i] += expf(0.5f * lv[i]) * eps[i];
    } else {
        vt_rng_normal(&m->rng, z, n * K);
    }
    if (rc == VAE_OK)
        rc = vm_decode(m, z, c, n, out);
    free(z);
    free(lv);
    free(eps);
    return rc;
}
