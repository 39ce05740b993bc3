/* The public VQ-VAE functions: argument checks and messages, then models/vqvae. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/errors.h"
#include "core/args.h"
#include "models/vqvae.h"

#define MAX_ROWS VC_MAX_ROWS

/* The defaults of every field, into a full-size struct. */
static void vqvae_config_defaults(vae_vqvae_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    VC_SHARED_DEFAULTS(cfg);
    cfg->n_latents = 16;
    cfg->code_dim = 16;
    cfg->codebook_size = 128;
    cfg->beta = 0.25f;
    cfg->codebook_update = VAE_VQ_CODEBOOK_EMA;
    cfg->ema_decay = 0.99f;
    cfg->ema_eps = 1e-5f;
    cfg->restart_after = 0;
}

VAE_ABI_INIT_SIZE(vae_vqvae_config, vqvae_config_defaults)
VAE_ABI_INIT_0_3_0(vae_vqvae_config, threads, VAE_0_3_0_SIZEOF_VQVAE_CONFIG)

VAE_API int vae_vqvae_create(const vae_vqvae_config *cfg, vae_vqvae **out, vae_error *err)
{
    char msg[VAE_ERRMSG_LEN] = "";
    if (out)
        *out = NULL;
    if (!cfg || !out)
        return vae_error_set(err, VAE_ERR_NULL, !cfg ? "cfg is NULL" : "out is NULL");
    if (cfg->struct_size < offsetof(vae_vqvae_config, input_dim) + sizeof(int) ||
        cfg->struct_size > 65536)
        return vae_error_set(err, VAE_ERR_INVALID,
                             "config struct_size: call vae_vqvae_config_init first");
    vae_vqvae_config c;
    vae_vqvae_config_init(&c);
    memcpy(&c, cfg, cfg->struct_size < sizeof c ? cfg->struct_size : sizeof c);
    c.struct_size = sizeof c;
    int rc = vq_config_check(&c, msg);
    if (rc == VAE_OK)
        rc = vq_create(&c, out, msg);
    return vae_error_set(err, rc, msg);
}

VAE_API void vae_vqvae_free(vae_vqvae *vq) { vq_free(vq); }

VAE_API const char *vae_vqvae_errmsg(const vae_vqvae *vq) { return vq ? vq->errmsg : "vq is NULL"; }

VAE_API int vae_vqvae_get_config(const vae_vqvae *vq, vae_vqvae_config *cfg)
{
    if (!vq || !cfg)
        return VAE_ERR_NULL;
    if (cfg->struct_size < sizeof cfg->struct_size || cfg->struct_size > 65536)
        return VAE_ERR_INVALID;
    vae_abi_put(cfg, &vq->cfg, sizeof vq->cfg, cfg->struct_size);
    return VAE_OK;
}

VAE_API int vae_vqvae_set_threads(vae_vqvae *vq, int threads)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (threads < 1 || threads > 256)
        return vae_fail(vq->errmsg, VAE_ERR_INVALID, "threads = %d: must be in 1..256", threads);
    return vq_set_threads(vq, threads, vq->errmsg);
}

VAE_API size_t vae_vqvae_param_count(const vae_vqvae *vq) { return vq ? vq->P.total : 0; }

VAE_API double vae_vqvae_bits_per_example(const vae_vqvae *vq)
{
    return vq ? vq->cfg.n_latents * log2((double)vq->cfg.codebook_size) : 0.0;
}

/* ---- argument checks --------------------------------------------------------- */

static int check_rows(vae_vqvae *q, size_t n, size_t max, const char *what)
{
    return vc_check_rows(q->errmsg, n, max, what);
}

/* The largest training batch: its distance matrix n*M*K floats stays below 2^31. */
static size_t max_train_rows(const vae_vqvae *q)
{
    size_t per = (size_t)q->cfg.n_latents * (size_t)q->cfg.codebook_size;
    size_t m = ((size_t)1 << 31) / per;
    return m < MAX_ROWS ? m : MAX_ROWS;
}

static int is_bernoulli(const vae_vqvae *q) { return q->cfg.likelihood == VAE_LIK_BERNOULLI; }

static int check_data(vae_vqvae *q, const float *x, size_t n, const char *what)
{
    return vc_check_data(q->errmsg, x, n, (size_t)q->cfg.input_dim, is_bernoulli(q), what);
}

static vc_data_needs data_needs(const vae_vqvae *q)
{
    vc_data_needs need = {(size_t)q->cfg.input_dim, is_bernoulli(q), 0};
    return need;
}

static int check_dataset(vae_vqvae *q, const vae_dataset *ds, size_t batch, const char *what)
{
    vc_data_needs need = data_needs(q);
    return vc_check_dataset(q->errmsg, ds, batch, &need, what);
}

static int check_codes(vae_vqvae *q, const int *codes, size_t n, const char *what)
{
    size_t M = (size_t)q->cfg.n_latents;
    for (size_t i = 0; i < n * M; i++)
        if (codes[i] < 0 || codes[i] >= q->cfg.codebook_size)
            return vae_fail(q->errmsg, VAE_ERR_INVALID,
                            "%s: codes[%zu][%zu] = %d: must be in 0..%d", what, i / M, i % M,
                            codes[i], q->cfg.codebook_size - 1);
    return VAE_OK;
}

/* ---- training and evaluation ---------------------------------------------------- */

VAE_API int vae_vqvae_train_step(vae_vqvae *vq, vae_optimizer *opt, const float *x, size_t n,
                                 vae_vqvae_stats *stats)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (!opt || !x)
        return vae_fail(vq->errmsg, VAE_ERR_NULL, "train_step: %s is NULL", !opt ? "opt" : "x");
    int rc = check_rows(vq, n, max_train_rows(vq), "train_step");
    if (rc == VAE_OK)
        rc = check_data(vq, x, n, "train_step");
    return rc == VAE_OK ? vq_train_step(vq, opt, x, n, stats) : rc;
}

VAE_API int vae_vqvae_train_epoch(vae_vqvae *vq, vae_optimizer *opt, const vae_dataset *data,
                                  size_t batch_size, vae_progress_fn progress, void *user,
                                  vae_vqvae_stats *stats)
{
    if (!vq)
        return VAE_ERR_NULL;
    vc_data_needs need = data_needs(vq);
    return vc_call_train_epoch(&vq->core, &need, &vq_plain_step, opt, data, batch_size, progress,
                               user, stats);
}

VAE_API int vae_vqvae_evaluate(vae_vqvae *vq, const vae_dataset *data, size_t batch_size,
                               vae_vqvae_stats *stats)
{
    if (!vq)
        return VAE_ERR_NULL;
    vc_data_needs need = data_needs(vq);
    return vc_call_evaluate(&vq->core, &need, data, batch_size, stats);
}

/* ---- use ------------------------------------------------------------------------ */

VAE_API int vae_vqvae_code_grid(const vae_vqvae *vq, int grid[2])
{
    if (!vq || !grid)
        return VAE_ERR_NULL;
    grid[0] = vq->spatial ? vq->grid[0] : 1;
    grid[1] = vq->spatial ? vq->grid[1] : vq->cfg.n_latents;
    return VAE_OK;
}

VAE_API int vae_vqvae_encode(vae_vqvae *vq, const float *x, size_t n, int *codes)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (!x || !codes)
        return vae_fail(vq->errmsg, VAE_ERR_NULL, "encode: %s is NULL", !x ? "x" : "codes");
    int rc = check_rows(vq, n, MAX_ROWS, "encode");
    if (rc == VAE_OK)
        rc = check_data(vq, x, n, "encode");
    return rc == VAE_OK ? vq_encode(vq, x, n, codes) : rc;
}

VAE_API int vae_vqvae_decode(vae_vqvae *vq, const int *codes, size_t n, float *out)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (!codes || !out)
        return vae_fail(vq->errmsg, VAE_ERR_NULL, "decode: %s is NULL", !codes ? "codes" : "out");
    int rc = check_rows(vq, n, MAX_ROWS, "decode");
    if (rc == VAE_OK)
        rc = check_codes(vq, codes, n, "decode");
    return rc == VAE_OK ? vq_decode(vq, codes, n, out) : rc;
}

VAE_API int vae_vqvae_reconstruct(vae_vqvae *vq, const float *x, size_t n, float *out)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (!x || !out)
        return vae_fail(vq->errmsg, VAE_ERR_NULL, "reconstruct: %s is NULL", !x ? "x" : "out");
    int rc = check_rows(vq, n, MAX_ROWS, "reconstruct");
    if (rc == VAE_OK)
        rc = check_data(vq, x, n, "reconstruct");
    return rc == VAE_OK ? vq_reconstruct(vq, x, n, out) : rc;
}

static size_t codebook_count(const vae_vqvae *q)
{
    return (size_t)q->cfg.codebook_size * (size_t)q->cfg.code_dim;
}

VAE_API int vae_vqvae_get_codebook(const vae_vqvae *vq, float *out, size_t count)
{
    if (!vq || !out)
        return VAE_ERR_NULL;
    if (count != codebook_count(vq))
        return VAE_ERR_SHAPE;
    memcpy(out, vq->codebook, count * sizeof *out);
    return VAE_OK;
}

VAE_API int vae_vqvae_set_codebook(vae_vqvae *vq, const float *in, size_t count)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (!in)
        return vae_fail(vq->errmsg, VAE_ERR_NULL, "set_codebook: in is NULL");
    if (count != codebook_count(vq))
        return vae_fail(vq->errmsg, VAE_ERR_SHAPE, "set_codebook: count = %zu, the codebook has %zu",
                        count, codebook_count(vq));
    for (size_t i = 0; i < count; i++)
        if (!isfinite(in[i]))
            return vae_fail(vq->errmsg, VAE_ERR_NONFINITE,
                            "set_codebook: in[%zu] = %g is not finite", i, (double)in[i]);
    memcpy(vq->codebook, in, count * sizeof *in);
    if (vq->ema_m) {
        /* keep e_i = m_i / N~_i: sums is a free workspace of at least K doubles */
        size_t K = (size_t)vq->cfg.codebook_size, D = (size_t)vq->cfg.code_dim;
        double total = 0.0;
        for (size_t k = 0; k < K; k++)
            total += vq->ema_n[k];
        vq_ema_smoothed(vq, vq->sums);
        /* no counts yet: the fresh state m_i = e_i, as at creation */
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < D; j++)
                vq->ema_m[k * D + j] = (double)in[k * D + j] * (total > 0.0 ? vq->sums[k] : 1.0);
    }
    return VAE_OK;
}

/* ---- prior ------------------------------------------------------------------------ */

VAE_API int vae_vqvae_fit_prior(vae_vqvae *vq, const vae_dataset *data, size_t batch_size,
                                float alpha)
{
    if (!vq)
        return VAE_ERR_NULL;
    int rc = check_dataset(vq, data, batch_size, "fit_prior");
    if (rc != VAE_OK)
        return rc;
    if (!(alpha >= 0.0f) || !isfinite(alpha))
        return vae_fail(vq->errmsg, VAE_ERR_INVALID, "fit_prior: alpha = %g: must be finite and >= 0",
                        (double)alpha);
    size_t M = (size_t)vq->cfg.n_latents, K = (size_t)vq->cfg.codebook_size, n = data->n;
    size_t batch = batch_size < VQ_CHUNK ? batch_size : VQ_CHUNK;
    if (batch > n)
        batch = n;
    double *cnt = calloc(M * K, sizeof *cnt);
    float *prior = malloc(M * K * sizeof *prior);
    float *xb = malloc(batch * data->d * sizeof *xb);
    int *codes = malloc(batch * M * sizeof *codes);
    size_t *idx = malloc(batch * sizeof *idx);
    if (!cnt || !prior || !xb || !codes || !idx) {
        rc = vae_fail(vq->errmsg, VAE_ERR_NOMEM, "fit_prior: out of memory");
        goto done;
    }
    vt_rng rng;
    vt_rng_seed(&rng, vq->cfg.seed, VQ_STREAM_EVAL);
    for (size_t start = 0; start < n && rc == VAE_OK; start += batch) {
        size_t c = n - start < batch ? n - start : batch;
        for (size_t i = 0; i < c; i++)
            idx[i] = start + i;
        vds_gather(data, idx, c, xb, &rng);
        rc = vq_encode(vq, xb, c, codes);
        for (size_t r = 0; rc == VAE_OK && r < c * M; r++)
            cnt[(r % M) * K + (size_t)codes[r]] += 1.0;
    }
    if (rc != VAE_OK)
        goto done;
    for (size_t m = 0; m < M; m++)
        for (size_t k = 0; k < K; k++)
            prior[m * K + k] = (float)((cnt[m * K + k] + alpha) / ((double)n + (double)K * alpha));
    free(vq->prior);
    vq->prior = prior;
    prior = NULL;
done:
    free(cnt);
    free(prior);
    free(xb);
    free(codes);
    free(idx);
    return rc;
}

VAE_API int vae_vqvae_get_prior(const vae_vqvae *vq, float *out, size_t count)
{
    if (!vq || !out)
        return VAE_ERR_NULL;
    if (count != (size_t)vq->cfg.n_latents * (size_t)vq->cfg.codebook_size)
        return VAE_ERR_SHAPE;
    if (!vq->prior)
        return VAE_ERR_UNSUPPORTED;
    memcpy(out, vq->prior, count * sizeof *out);
    return VAE_OK;
}

VAE_API int vae_vqvae_sample(vae_vqvae *vq, size_t n, int *codes, float *out)
{
    if (!vq)
        return VAE_ERR_NULL;
    if (!out)
        return vae_fail(vq->errmsg, VAE_ERR_NULL, "sample: out is NULL");
    int rc = check_rows(vq, n, MAX_ROWS, "sample");
    if (rc != VAE_OK)
        return rc;
    if (!vq->prior)
        return vae_fail(vq->errmsg, VAE_ERR_UNSUPPORTED,
                        "sample: no prior fitted (call vae_vqvae_fit_prior first)");
    size_t M = (size_t)vq->cfg.n_latents, K = (size_t)vq->cfg.codebook_size;
    int *c = codes ? codes : malloc(n * M * sizeof *c);
    if (!c)
        return vae_fail(vq->errmsg, VAE_ERR_NOMEM, "sample: out of memory for %zu code rows", n);
    /* inverse CDF per position; the last code with mass catches rounding */
    for (size_t r = 0; r < n * M; r++) {
        const float *p = vq->prior + (r % M) * K;
        double u = vt_rng_uniform(&vq->rng), acc = 0.0;
        size_t k = 0, last = 0;
        for (; k < K; k++) {
            if (p[k] > 0.0f)
                last = k;
            acc += p[k];
            if (u < acc && p[k] > 0.0f)
                break;
        }
        c[r] = (int)(k < K ? k : last);
    }
    rc = vq_decode(vq, c, n, out);
    if (!codes)
        free(c);
    return rc;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

VAE_API int vae_vqvae_save(vae_vqvae *vq, const vae_optimizer *opt, const char *path)
{
    return vq ? vc_save_call(&vq->core, &vq_format, opt, path) : VAE_ERR_NULL;
}

VAE_API int vae_vqvae_load(const char *path, vae_vqvae **out, vae_optimizer **opt_out,
                           vae_error *err)
{
    return vc_load_call(&vq_format, path, (void **)out, opt_out, err);
}
