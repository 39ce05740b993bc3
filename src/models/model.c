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
#include "core/args.h"
#include "data/dataset.h"
#include "objectives/ae.h"
#include "objectives/schedule.h"
#include "optim/optimizer.h"
#include "tensor/vec.h"

int vm_config_check(const vae_model_config *c, char *msg)
{
    int rc = vc_check_layers(msg, c->input_dim, c->n_hidden, c->hidden);
    if (rc != VAE_OK)
        return rc;
    if (c->latent_dim <= 0 || c->latent_dim > (1 << 16))
        return vae_fail(msg, VAE_ERR_INVALID, "latent_dim = %d: must be in 1..65536", c->latent_dim);
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
    if ((rc = vh_config_check(c, msg)) != VAE_OK) /* hierarchical models (models/hvae.c) */
        return rc;
    double params;
    if ((rc = vc_check_input_shape(msg, c->input_dim, c->input_shape)) != VAE_OK ||
        (rc = vm_param_count(c, &params, msg)) != VAE_OK ||
        (rc = vc_check_param_total(msg, params)) != VAE_OK ||
        (rc = vc_check_activation(msg, c->activation, c->leaky_slope)) != VAE_OK)
        return rc;
    if (c->likelihood < VAE_LIK_BERNOULLI || c->likelihood > VAE_LIK_GAUSSIAN_LEARNED)
        return vae_fail(msg, VAE_ERR_INVALID, "likelihood = %d: unknown", c->likelihood);
    if ((rc = vc_check_sigma(msg, c->gaussian_sigma)) != VAE_OK)
        return rc;
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
    int rc = vm_ae_check(c, msg); /* family, code penalty, corruption (models/ae.c) */
    if (rc != VAE_OK)
        return rc;
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
    rc = vh_training_check(c, msg);
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
    /* Denoising: in training the encoder reads a corrupted copy, the likelihood x. */
    int x_in = x >= 0 && train && c->corruption != VAE_CORRUPT_NONE
                   ? vg_input(g, VG_ROWS_BATCH, 0, c->input_dim) : x;
    if (x_in >= 0 && x_in != x)
        vg_set_shape(g, x_in, m->arch.enc.in[0], m->arch.enc.in[1], m->arch.enc.in[2]);
    if (x >= 0 && c->cond_dim > 0) {
        ctx.c = vg_input(g, VG_ROWS_BATCH, 0, c->cond_dim);
        xc = ctx.c;
    }
    int h = xc < 0 || x_in < 0 ? -1 : vn_net_build(&m->arch.enc, g, &m->P, x_in, ctx.c, train);
    if (h >= 0 && ctx.c >= 0 && !m->arch.enc.cond_used)
        h = vg_concat(g, h, ctx.c); /* the heads read [h, c] */
    int mu = h < 0 ? -1 : vn_dense(g, &m->P, m->arch.w_mu, h, train);
    int ae = c->family == VAE_FAMILY_AE; /* no log-variance head: lv stands for mu below */
    int lv_raw = mu < 0 || ae ? mu : vn_dense(g, &m->P, m->arch.w_lv, h, train);
    int lv = lv_raw < 0 || ae ? lv_raw
                              : vg_unary(g, VG_OP_CLAMP, lv_raw, c->logvar_min, c->logvar_max);
    if (lv >= 0 && c->likelihood != VAE_LIK_BERNOULLI)
        o.logsigma = logsigma_node(m, g, train);
    if (lv >= 0 && m->arch.w_pmu >= 0 &&
        build_prior(m, g, ctx.c, train, &o.prior_mu, &o.prior_lv) != 0)
        lv = -1;
    if (lv < 0 || (c->likelihood != VAE_LIK_BERNOULLI && o.logsigma < 0) ||
        (ae ? vo_build_ae(g, e, x, mu, c->code_l2, &o, build_decoder, &ctx)
            : vo_build(g, e, x, mu, lv, &o, build_decoder, &ctx)) != 0) {
        vg_free(g);
        return NULL;
    }
    e->c = ctx.c;
    e->x_in = x_in;
    vg_use(g, m->pool, &m->scratch);
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
    if (vg_set_team(&m->pool, threads, gs, sizeof gs / sizeof gs[0], &m->scratch) != 0)
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
    if (vc_init(&m->core, &vm_family, m, &m->P, &m->pool, &m->rng, m->errmsg, m->cfg.seed,
                (size_t)m->cfg.input_dim, (size_t)m->cfg.cond_dim) != 0)
        goto nomem;
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
    vc_release(&m->core);
    vn_params_free(&m->P);
    vt_pool_free(m->pool);
    vg_scratch_free(&m->scratch);
    free(m->noisy);
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
                  unsigned groups, vae_elbo_stats *st)
{
    /* compute + apply (models/gradients.c); the optimizer is bound first so
     * that a mismatched optimizer fails before any work. */
    int rc = vc_bind(&m->core, opt);
    if (rc != VAE_OK)
        return rc;
    vae_elbo_stats s = {0};
    double norm2;
    if ((rc = vm_compute_gradients(m, x, c, n, NULL, &s, &norm2)) != VAE_OK ||
        (rc = vc_check_loss(&m->core, opt, s.loss)) != VAE_OK ||
        (rc = vm_apply_gradients_part(m, opt, groups, norm2)) != VAE_OK)
        return rc;
    if (st)
        *st = s;
    return VAE_OK;
}

int vm_train_step(vae_model *m, vae_optimizer *opt, const float *x, const float *c, size_t n,
                  vae_elbo_stats *st)
{
    return vm_train_part(m, opt, x, c, n, VM_UPDATE_ALL, st);
}

/* The plain per-batch step: one update of every group. Its figures (the
 * family's sums): rec, kl, loss. */
static int plain_step(void *self, vae_optimizer *opt, const vc_batch *b, double *fig)
{
    vae_elbo_stats s = {0};
    int rc = vm_train_step(self, opt, b->x, b->c, b->n, &s);
    fig[0] = s.rec, fig[1] = s.kl, fig[2] = s.loss;
    return rc;
}

const vc_step vm_plain_step = {"", 0, plain_step};

int vm_train_epoch(vae_model *m, vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                   vae_progress_fn progress, void *user, vae_elbo_stats *st)
{
    const vc_step *step = m->cfg.aggressive && m->agg_active ? &vm_aggressive_step
                                                               : &vm_plain_step;
    return vc_train_epoch(&m->core, step, opt, ds, batch, progress, user, st);
}

/* ---- evaluation and use ------------------------------------------------------ */

int vm_bad_rows_fail(char *msg, const char *who, size_t first, size_t count, size_t n)
{
    return vc_bad_rows_fail(msg, who, "ELBO", first, count, n);
}

/* Run the evaluation graph on n rows at x with noise from rng; add per-example
 * rec and kl to s->sum[0], [1] (and write ELBOs to per_example when not
 * NULL). Rows with a non-finite ELBO are counted in *bad (row 0 is example
 * `first`). */
static int eval_rows(vae_model *m, const float *x, const float *c, size_t n, vt_rng *rng,
                     float *per_example, vc_sums *s, size_t first, vc_bad_rows *bad)
{
    vg_graph *g = m->eval_g;
    const vo_graph *e = &m->eval_e;
    vg_use(g, m->pool, &m->scratch);
    if (vg_set_batch(g, (int)n) != 0)
        return vae_fail(m->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", n);
    vg_bind(g, e->x, x);
    if (e->c >= 0)
        vg_bind(g, e->c, c);
    if (e->eps >= 0) /* an autoencoder has no noise */
        vg_family_sample(m->cfg.posterior, rng, g->nodes[e->eps].val,
                         n * (size_t)m->cfg.latent_dim);
    vg_forward(g, -1);
    const float *rec = g->nodes[e->rec].val, *kl = g->nodes[e->kl].val;
    for (size_t i = 0; i < n; i++) {
        s->sum[0] += rec[i];
        s->sum[1] += kl[i];
        if (per_example)
            per_example[i] = rec[i] - kl[i];
        vc_note_row(bad, first + i, isfinite(rec[i] - kl[i]));
    }
    return VAE_OK;
}

static int eval_chunk(void *self, const float *x, const float *c, size_t n, vt_rng *rng,
                      size_t first, vc_sums *s, vc_bad_rows *bad)
{
    return eval_rows(self, x, c, n, rng, NULL, s, first, bad);
}

static double progress_elbo(const vc_sums *s)
{
    return (s->sum[0] - s->sum[1]) / (double)s->n;
}

/* An epoch's means (loss: the training objective's), or an evaluation's
 * (loss = -ELBO). */
static void finish_stats(void *self, const vc_sums *s, int training, void *out)
{
    (void)self;
    vae_elbo_stats *st = out;
    if (!st)
        return;
    st->rec = s->sum[0] / (double)s->n;
    st->kl = s->sum[1] / (double)s->n;
    st->elbo = st->rec - st->kl;
    st->loss = training ? s->sum[2] / (double)s->n : -st->elbo;
    st->n = s->n;
}

/* The parameter groups: the encoder with its heads ("enc.*") first, then
 * the decoder with log sigma ("dec.*"), then the prior network of a learned
 * prior ("prior.*", last in the flat vector). */
static const char *const group_names[] = {"encoder", "decoder", "prior"};
static const char *const group_prefixes[] = {"enc.", "dec.", "prior."};

const vc_family vm_family = {
    .quantity = "ELBO",
    .group_names = group_names,
    .group_prefixes = group_prefixes,
    .n_groups = 3,
    .max_train_batch = 0,
    .begin = NULL,
    .eval = eval_chunk,
    .progress = progress_elbo,
    .finish = finish_stats,
};

int vm_evaluate(vae_model *m, const vae_dataset *ds, size_t batch, vae_elbo_stats *st)
{
    return vc_evaluate(&m->core, ds, batch, st);
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
    vc_sums s = {{0}, n};
    vc_bad_rows bad = {0, 0};
    size_t D = (size_t)m->cfg.input_dim;
    for (size_t start = 0; start < n; start += VM_CHUNK) {
        size_t cnt = n - start < VM_CHUNK ? n - start : VM_CHUNK;
        int rc = eval_rows(m, x + start * D, cond_rows(m, c, start), cnt, &rng,
                           per_example ? per_example + start : NULL, &s, start, &bad);
        if (rc != VAE_OK)
            return rc;
    }
    if (bad.count)
        return vm_bad_rows_fail(m->errmsg, "elbo", bad.first, bad.count, n);
    finish_stats(m, &s, 0, st);
    return VAE_OK;
}

/* Size graph g for cnt rows, bind `data` to its input node and run it forward
 * up to node `upto` (-1: all) with the model's thread count. */
static int run_rows(vae_model *m, vg_graph *g, int input, const float *data, int cnode,
                    const float *c, size_t cnt, int upto)
{
    vg_use(g, m->pool, &m->scratch);
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
        if (lv && e->lv >= 0)
            memcpy(lv + start * K, g->nodes[e->lv].val, cnt * K * sizeof(float));
        else if (lv) /* an autoencoder: a code, no variance */
            memset(lv + start * K, 0, cnt * K * sizeof(float));
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
    if (vm_ae_unsupported(m, "prior") != VAE_OK)
        return VAE_ERR_UNSUPPORTED;
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
    if (vm_ae_unsupported(m, "sample") != VAE_OK)
        return VAE_ERR_UNSUPPORTED;
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
