/* The public model functions: argument checks and messages, then the model layer. */
#include <math.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "core/args.h"
#include "models/model.h"

/* The defaults of every field, into a full-size struct. */
static void model_config_defaults(vae_model_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    VC_SHARED_DEFAULTS(cfg);
    cfg->latent_dim = 20;
    cfg->samples = 1;
    cfg->kl_mode = VAE_KL_ANALYTIC;
    cfg->logvar_min = -30.0f;
    cfg->logvar_max = 20.0f;
    cfg->posterior = VAE_POST_GAUSSIAN;
    cfg->estimator = VAE_EST_PATHWISE;
    cfg->baseline = VAE_BASELINE_NONE;
    cfg->ema_decay = 0.9f;
    cfg->score_reward = VAE_REWARD_ELBO;
    cfg->objective = VAE_OBJ_ELBO;
    cfg->beta = 1.0f;
    cfg->kl_schedule = VAE_KL_SCHEDULE_CONSTANT;
    cfg->kl_warmup_steps = 10000;
    cfg->kl_cycle_steps = 10000;
    cfg->kl_cycle_ratio = 0.5f;
    cfg->kl_cycles = 0;
    cfg->capacity_gamma = 0.0f;
    cfg->capacity_max = 25.0f;
    cfg->capacity_steps = 100000;
    cfg->free_bits = 0.0f;
    cfg->aggressive = 0;
    cfg->aggressive_max_inner = 100;
    cfg->cond_dim = 0;
    cfg->prior = VAE_PRIOR_STANDARD;
    cfg->prior_hidden = 64;
    cfg->latent_layers = 1;
    cfg->inference = VAE_INFER_BOTTOM_UP;
    cfg->family = VAE_FAMILY_VAE;
    cfg->code_l2 = 0.0f;
    cfg->corruption = VAE_CORRUPT_NONE;
    cfg->corruption_level = 0.0f;
}

VAE_ABI_INIT_SIZE(vae_model_config, model_config_defaults)
VAE_ABI_INIT_0_3_0(vae_model_config, prior_hidden, VAE_0_3_0_SIZEOF_MODEL_CONFIG)

/* Copy a caller's config of any known size over the defaults. */
static int read_config(const vae_model_config *in, vae_model_config *out, char *msg)
{
    vae_model_config_init(out);
    if (in->struct_size < offsetof(vae_model_config, input_dim) + sizeof(int) ||
        in->struct_size > 65536)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "config struct_size = %zu: call vae_model_config_init first",
                        in->struct_size);
    size_t n = in->struct_size < sizeof *out ? in->struct_size : sizeof *out;
    memcpy(out, in, n);
    out->struct_size = sizeof *out;
    return VAE_OK;
}

VAE_API int vae_model_create(const vae_model_config *cfg, vae_model **out, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!cfg || !out)
        return vae_error_set(err, VAE_ERR_NULL, !cfg ? "cfg is NULL" : "out is NULL");
    vae_model_config c;
    int rc = read_config(cfg, &c, msg);
    if (rc == VAE_OK)
        rc = vm_config_check(&c, msg);
    if (rc == VAE_OK)
        rc = vm_create(&c, out, msg);
    return vae_error_set(err, rc, msg);
}

VAE_API void vae_model_free(vae_model *model) { vm_free(model); }

VAE_API const char *vae_model_errmsg(const vae_model *model)
{
    return model ? model->errmsg : "model is NULL";
}

VAE_API int vae_model_get_config(const vae_model *model, vae_model_config *cfg)
{
    if (!model)
        return VAE_ERR_NULL;
    /* A const getter keeps the handle's message as it is: the status says it all. */
    if (!cfg)
        return VAE_ERR_NULL;
    if (cfg->struct_size < sizeof cfg->struct_size || cfg->struct_size > 65536)
        return VAE_ERR_INVALID;
    vae_abi_put(cfg, &model->cfg, sizeof model->cfg, cfg->struct_size);
    return VAE_OK;
}

VAE_API int vae_model_set_threads(vae_model *model, int threads)
{
    if (!model)
        return VAE_ERR_NULL;
    if (threads < 1 || threads > 256)
        return vae_fail(model->errmsg, VAE_ERR_INVALID, "threads = %d: must be in 1..256",
                        threads);
    return vm_set_threads(model, threads, model->errmsg);
}

/* Take the training fields of `in` over a copy of the model's configuration. */
static void merge_training(const vae_model_config *model_cfg, const vae_model_config *in,
                           vae_model_config *out)
{
    *out = *model_cfg;
    out->samples = in->samples;
    out->kl_mode = in->kl_mode;
    out->threads = in->threads;
    out->estimator = in->estimator;
    out->baseline = in->baseline;
    out->ema_decay = in->ema_decay;
    out->score_reward = in->score_reward;
    out->objective = in->objective;
    out->beta = in->beta;
    out->kl_schedule = in->kl_schedule;
    out->kl_warmup_steps = in->kl_warmup_steps;
    out->kl_cycle_steps = in->kl_cycle_steps;
    out->kl_cycle_ratio = in->kl_cycle_ratio;
    out->kl_cycles = in->kl_cycles;
    out->capacity_gamma = in->capacity_gamma;
    out->capacity_max = in->capacity_max;
    out->capacity_steps = in->capacity_steps;
    out->free_bits = in->free_bits;
    out->aggressive = in->aggressive;
    out->aggressive_max_inner = in->aggressive_max_inner;
    out->corruption = in->corruption;
    out->corruption_level = in->corruption_level;
}

/* The architecture fields of two configurations agree; else a message naming the first that differs. */
static int same_architecture(const vae_model_config *a, const vae_model_config *b, char *msg)
{
#define SAME(f)                                                                                  \
    if (a->f != b->f)                                                                            \
        return vae_fail(msg, VAE_ERR_INVALID,                                                    \
                        "set_training: " #f " differs from the model's; architecture fields "   \
                        "cannot change");
    SAME(input_dim) SAME(latent_dim) SAME(n_hidden) SAME(activation) SAME(leaky_slope)
    SAME(likelihood) SAME(gaussian_sigma) SAME(logvar_min) SAME(logvar_max) SAME(seed)
    SAME(posterior) SAME(cond_dim) SAME(prior) SAME(prior_hidden) SAME(family) SAME(code_l2)
    SAME(latent_layers) SAME(inference)
#undef SAME
    for (int k = 0; k < a->n_hidden; k++)
        if (a->hidden[k] != b->hidden[k])
            return vae_fail(msg, VAE_ERR_INVALID, "set_training: hidden[%d] differs from the model's", k);
    return VAE_OK;
}

VAE_API int vae_model_set_training(vae_model *model, const vae_model_config *cfg)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!cfg)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "set_training: cfg is NULL");
    vae_model_config in, merged;
    int rc = read_config(cfg, &in, model->errmsg);
    if (rc == VAE_OK)
        rc = same_architecture(&model->cfg, &in, model->errmsg);
    if (rc != VAE_OK)
        return rc;
    merge_training(&model->cfg, &in, &merged);
    if ((rc = vm_training_check(&merged, model->errmsg)) != VAE_OK)
        return rc;
    vae_model_config old = model->cfg;
    model->cfg = merged;
    if (vm_build_train_graph(model) != 0) {
        model->cfg = old;
        return vae_fail(model->errmsg, VAE_ERR_NOMEM, "set_training: out of memory");
    }
    /* Turning aggressive training on (again) starts it afresh. */
    if (merged.aggressive && !old.aggressive) {
        model->agg_active = 1;
        model->agg_mi = NAN;
    }
    return VAE_OK;
}

VAE_API size_t vae_model_param_count(const vae_model *model)
{
    return model ? model->P.total : 0;
}

/* The checks of an unconditional array call: a conditional model needs the _cond variant. */
static int check_rows(vae_model *m, size_t n, const char *what)
{
    if (m->cfg.cond_dim > 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s: the model is conditional (cond_dim = %d): use vae_model_%s_cond with "
                        "the conditions",
                        what, m->cfg.cond_dim, what);
    return vc_check_rows(m->errmsg, n, VC_MAX_ROWS, what);
}

static int check_data(vae_model *m, const float *x, size_t n, size_t d, int unit, const char *what)
{
    return vc_check_data(m->errmsg, x, n, d, unit, what);
}

static int is_bernoulli(const vae_model *m) { return m->cfg.likelihood == VAE_LIK_BERNOULLI; }

static vc_data_needs data_needs(const vae_model *m)
{
    vc_data_needs need = {(size_t)m->cfg.input_dim, is_bernoulli(m), (size_t)m->cfg.cond_dim};
    return need;
}

VAE_API int vae_model_train_step(vae_model *model, vae_optimizer *opt, const float *x, size_t n,
                                 vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!opt || !x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "train_step: %s is NULL", !opt ? "opt" : "x");
    int rc = check_rows(model, n, "train_step");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model), "train_step");
    return rc == VAE_OK ? vm_train_step(model, opt, x, NULL, n, stats) : rc;
}

VAE_API int vae_model_train_epoch(vae_model *model, vae_optimizer *opt, const vae_dataset *data,
                                  size_t batch_size, vae_progress_fn progress, void *user,
                                  vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    vc_data_needs need = data_needs(model);
    const vc_step *step = model->cfg.aggressive && model->agg_active ? &vm_aggressive_step
                                                                       : &vm_plain_step;
    return vc_call_train_epoch(&model->core, &need, step, opt, data, batch_size, progress, user,
                               stats);
}

VAE_API int vae_model_evaluate(vae_model *model, const vae_dataset *data, size_t batch_size,
                               vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    vc_data_needs need = data_needs(model);
    return vc_call_evaluate(&model->core, &need, data, batch_size, stats);
}

VAE_API int vae_model_elbo(vae_model *model, const float *x, size_t n, float *per_example,
                           vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "elbo: x is NULL");
    int rc = check_rows(model, n, "elbo");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model), "elbo");
    return rc == VAE_OK ? vm_elbo(model, x, NULL, n, per_example, stats) : rc;
}

VAE_API int vae_model_encode(vae_model *model, const float *x, size_t n, float *mu, float *logvar)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "encode: x is NULL");
    int rc = check_rows(model, n, "encode");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, 0, "encode");
    return rc == VAE_OK ? vm_encode(model, x, NULL, n, mu, logvar) : rc;
}

VAE_API int vae_model_decode(vae_model *model, const float *z, size_t n, float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!z || !out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "decode: %s is NULL", !z ? "z" : "out");
    int rc = check_rows(model, n, "decode");
    if (rc == VAE_OK)
        rc = check_data(model, z, n, (size_t)model->cfg.latent_dim, 0, "decode");
    return rc == VAE_OK ? vm_decode(model, z, NULL, n, out) : rc;
}

VAE_API int vae_model_reconstruct(vae_model *model, const float *x, size_t n, float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x || !out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "reconstruct: %s is NULL", !x ? "x" : "out");
    int rc = check_rows(model, n, "reconstruct");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, 0, "reconstruct");
    return rc == VAE_OK ? vm_reconstruct(model, x, NULL, n, out) : rc;
}

VAE_API int vae_model_denoise(vae_model *model, const float *x_noisy, size_t n, float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x_noisy || !out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "denoise: %s is NULL",
                        !x_noisy ? "x_noisy" : "out");
    if (model->cfg.cond_dim > 0)
        return vae_fail(model->errmsg, VAE_ERR_UNSUPPORTED,
                        "denoise: the model is conditional (cond_dim = %d): use "
                        "vae_model_reconstruct_cond with the conditions", model->cfg.cond_dim);
    int rc = check_rows(model, n, "denoise");
    if (rc == VAE_OK)
        rc = check_data(model, x_noisy, n, (size_t)model->cfg.input_dim, 0, "denoise");
    return rc == VAE_OK ? vm_reconstruct(model, x_noisy, NULL, n, out) : rc;
}

VAE_API int vae_model_sample(vae_model *model, size_t n, float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "sample: out is NULL");
    int rc = check_rows(model, n, "sample");
    return rc == VAE_OK ? vm_sample(model, NULL, n, out) : rc;
}

VAE_API int vae_model_save(vae_model *model, const vae_optimizer *opt, const char *path)
{
    return model ? vc_save_call(&model->core, &vm_format, opt, path) : VAE_ERR_NULL;
}

VAE_API int vae_model_load(const char *path, vae_model **out, vae_optimizer **opt_out,
                           vae_error *err)
{
    return vc_load_call(&vm_format, path, (void **)out, opt_out, err);
}

VAE_API int vae_model_log_likelihood(vae_model *model, const float *x, size_t n, int k,
                                     float *per_example, double *mean)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "log_likelihood: x is NULL");
    if (k < 1 || k > (1 << 20))
        return vae_fail(model->errmsg, VAE_ERR_INVALID, "log_likelihood: k = %d: must be in 1..2^20", k);
    int rc = check_rows(model, n, "log_likelihood");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model), "log_likelihood");
    return rc == VAE_OK ? vm_log_likelihood(model, x, NULL, n, k, per_example, mean) : rc;
}

static int check_cond(vae_model *m, const float *c, size_t n, const char *what);

/* The plain call (c NULL, an unconditional model) and the _cond call. */
static int gradient_stats(vae_model *model, const float *x, const float *cond, size_t n,
                          const vae_model_config *training, int draws,
                          vae_grad_stats *per_tensor, vae_grad_stats *encoder,
                          vae_grad_stats *overall, float *mean_grad, int is_cond)
{
    const char *what = is_cond ? "gradient_stats_cond" : "gradient_stats";
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "%s: x is NULL", what);
    if (!is_cond && model->cfg.cond_dim > 0)
        return vae_fail(model->errmsg, VAE_ERR_UNSUPPORTED,
                        "gradient_stats: the model is conditional (cond_dim = %d): use "
                        "vae_model_gradient_stats_cond with the conditions",
                        model->cfg.cond_dim);
    if (draws < 2 || draws > 10000000)
        return vae_fail(model->errmsg, VAE_ERR_INVALID, "%s: draws = %d: must be in 2..10^7",
                        what, draws);
    vae_model_config c = model->cfg;
    int rc = VAE_OK;
    if (training) {
        vae_model_config in;
        rc = read_config(training, &in, model->errmsg);
        if (rc == VAE_OK)
            merge_training(&model->cfg, &in, &c);
    }
    if (rc == VAE_OK)
        rc = vm_training_check(&c, model->errmsg);
    if (rc == VAE_OK)
        rc = is_cond ? check_cond(model, cond, n, "gradient_stats")
                     : check_rows(model, n, "gradient_stats");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model), what);
    return rc == VAE_OK ? vm_gradient_stats(model, x, is_cond ? cond : NULL, n, &c, draws,
                                            per_tensor, encoder, overall, mean_grad)
                        : rc;
}

VAE_API int vae_model_gradient_stats(vae_model *model, const float *x, size_t n,
                                     const vae_model_config *training, int draws,
                                     vae_grad_stats *per_tensor, vae_grad_stats *encoder,
                                     vae_grad_stats *overall, float *mean_grad)
{
    if (!model)
        return VAE_ERR_NULL;
    return gradient_stats(model, x, NULL, n, training, draws, per_tensor, encoder, overall,
                          mean_grad, 0);
}

VAE_API int vae_model_gradient_stats_cond(vae_model *model, const float *x, const float *c,
                                          size_t n, const vae_model_config *training, int draws,
                                          vae_grad_stats *per_tensor, vae_grad_stats *encoder,
                                          vae_grad_stats *overall, float *mean_grad)
{
    if (!model)
        return VAE_ERR_NULL;
    return gradient_stats(model, x, c, n, training, draws, per_tensor, encoder, overall,
                          mean_grad, 1);
}

VAE_API size_t vae_model_param_tensor_count(const vae_model *model)
{
    return model ? (size_t)model->P.n : 0;
}

VAE_API int vae_model_param_tensor_info(const vae_model *model, size_t i, const char **name,
                                        size_t *rows, size_t *cols, size_t *offset)
{
    if (!model)
        return VAE_ERR_NULL;
    if (i >= (size_t)model->P.n)
        return VAE_ERR_INVALID;
    const vn_param *p = &model->P.p[i];
    if (name)
        *name = p->name;
    if (rows)
        *rows = (size_t)p->rows;
    if (cols)
        *cols = (size_t)p->cols;
    if (offset)
        *offset = p->offset;
    return VAE_OK;
}

VAE_API int vae_model_get_params(const vae_model *model, float *out, size_t count)
{
    if (!model || !out)
        return VAE_ERR_NULL;
    if (count != model->P.total)
        return VAE_ERR_SHAPE;
    memcpy(out, model->P.val, count * sizeof *out);
    return VAE_OK;
}

VAE_API int vae_model_set_params(vae_model *model, const float *in, size_t count)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!in)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "set_params: in is NULL");
    if (count != model->P.total)
        return vae_fail(model->errmsg, VAE_ERR_SHAPE, "set_params: count = %zu, the model has %zu parameters",
                        count, model->P.total);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(in[i]))
            return vae_fail(model->errmsg, VAE_ERR_NONFINITE, "set_params: in[%zu] is not finite", i);
    memcpy(model->P.val, in, count * sizeof *in);
    return VAE_OK;
}

/* ---- conditional variants (cond_dim > 0) ------------------------------------ */

/* The checks every _cond call shares: a conditional model, n rows, finite c. */
static int check_cond(vae_model *m, const float *c, size_t n, const char *what)
{
    if (m->cfg.cond_dim == 0)
        return vae_fail(m->errmsg, VAE_ERR_UNSUPPORTED,
                        "%s_cond: the model is unconditional (cond_dim = 0): use vae_model_%s",
                        what, what);
    if (!c)
        return vae_fail(m->errmsg, VAE_ERR_NULL, "%s_cond: c is NULL", what);
    int rc = vc_check_rows(m->errmsg, n, VC_MAX_ROWS, what);
    return rc == VAE_OK ? vc_check_cond(m->errmsg, c, n, (size_t)m->cfg.cond_dim, what) : rc;
}

VAE_API int vae_model_train_step_cond(vae_model *model, vae_optimizer *opt, const float *x,
                                      const float *c, size_t n, vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!opt || !x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "train_step_cond: %s is NULL",
                        !opt ? "opt" : "x");
    int rc = check_cond(model, c, n, "train_step");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model),
                        "train_step_cond");
    return rc == VAE_OK ? vm_train_step(model, opt, x, c, n, stats) : rc;
}

VAE_API int vae_model_elbo_cond(vae_model *model, const float *x, const float *c, size_t n,
                                float *per_example, vae_elbo_stats *stats)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "elbo_cond: x is NULL");
    int rc = check_cond(model, c, n, "elbo");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model), "elbo_cond");
    return rc == VAE_OK ? vm_elbo(model, x, c, n, per_example, stats) : rc;
}

VAE_API int vae_model_encode_cond(vae_model *model, const float *x, const float *c, size_t n,
                                  float *mu, float *logvar)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "encode_cond: x is NULL");
    int rc = check_cond(model, c, n, "encode");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, 0, "encode_cond");
    return rc == VAE_OK ? vm_encode(model, x, c, n, mu, logvar) : rc;
}

VAE_API int vae_model_decode_cond(vae_model *model, const float *z, const float *c, size_t n,
                                  float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!z || !out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "decode_cond: %s is NULL", !z ? "z" : "out");
    int rc = check_cond(model, c, n, "decode");
    if (rc == VAE_OK)
        rc = check_data(model, z, n, (size_t)model->cfg.latent_dim, 0, "decode_cond");
    return rc == VAE_OK ? vm_decode(model, z, c, n, out) : rc;
}

VAE_API int vae_model_reconstruct_cond(vae_model *model, const float *x, const float *c, size_t n,
                                       float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x || !out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "reconstruct_cond: %s is NULL",
                        !x ? "x" : "out");
    int rc = check_cond(model, c, n, "reconstruct");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, 0, "reconstruct_cond");
    return rc == VAE_OK ? vm_reconstruct(model, x, c, n, out) : rc;
}

VAE_API int vae_model_sample_cond(vae_model *model, const float *c, size_t n, float *out)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!out)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "sample_cond: out is NULL");
    int rc = check_cond(model, c, n, "sample");
    return rc == VAE_OK ? vm_sample(model, c, n, out) : rc;
}

VAE_API int vae_model_prior_cond(vae_model *model, const float *c, size_t n, float *mu,
                                 float *logvar)
{
    if (!model)
        return VAE_ERR_NULL;
    if (model->cfg.cond_dim == 0)
        return vae_fail(model->errmsg, VAE_ERR_UNSUPPORTED,
                        "prior_cond: the model is unconditional (cond_dim = 0): its prior is N(0, I)");
    int rc = check_cond(model, c, n, "prior");
    return rc == VAE_OK ? vm_prior(model, c, n, mu, logvar) : rc;
}

VAE_API int vae_model_log_likelihood_cond(vae_model *model, const float *x, const float *c,
                                          size_t n, int k, float *per_example, double *mean)
{
    if (!model)
        return VAE_ERR_NULL;
    if (!x)
        return vae_fail(model->errmsg, VAE_ERR_NULL, "log_likelihood_cond: x is NULL");
    if (k < 1 || k > (1 << 20))
        return vae_fail(model->errmsg, VAE_ERR_INVALID,
                        "log_likelihood_cond: k = %d: must be in 1..2^20", k);
    int rc = check_cond(model, c, n, "log_likelihood");
    if (rc == VAE_OK)
        rc = check_data(model, x, n, (size_t)model->cfg.input_dim, is_bernoulli(model),
                        "log_likelihood_cond");
    return rc == VAE_OK ? vm_log_likelihood(model, x, c, n, k, per_example, mean) : rc;
}
