/* The VQ-VAE: parameter layout, graphs, training, evaluation, encode/decode.
 * Codebook learning (EMA, restarts, usage) is in vqvae_codebook.c. */
#include "models/vqvae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "core/args.h"
#include "data/dataset.h"
#include "optim/optimizer.h"
#include "tensor/vec.h"

int vq_config_check(const vae_vqvae_config *c, char *msg)
{
    int rc = vc_check_layers(msg, c->input_dim, c->n_hidden, c->hidden);
    if (rc != VAE_OK)
        return rc;
    if (c->n_latents < 1 || c->n_latents > (1 << 16))
        return vae_fail(msg, VAE_ERR_INVALID, "n_latents = %d: must be in 1..65536", c->n_latents);
    if (c->code_dim < 1 || c->code_dim > (1 << 16))
        return vae_fail(msg, VAE_ERR_INVALID, "code_dim = %d: must be in 1..65536", c->code_dim);
    if (c->codebook_size < 1 || c->codebook_size > (1 << 16))
        return vae_fail(msg, VAE_ERR_INVALID, "codebook_size = %d: must be in 1..65536",
                        c->codebook_size);
    /* The networks first: a spatial encoder sets the number of latents. */
    double params;
    int M = c->n_latents;
    int prc = vq_param_count(c, &params, &M, msg);
    if (prc != VAE_OK)
        return prc;
    if ((double)M * c->code_dim > (double)(1 << 20))
        return vae_fail(msg, VAE_ERR_LIMIT, "n_latents * code_dim = %.0f: at most 2^20",
                        (double)M * c->code_dim);
    /* the distance matrix of one chunk: VQ_CHUNK * M * K floats */
    if ((double)VQ_CHUNK * M * c->codebook_size > (double)(1u << 31))
        return vae_fail(msg, VAE_ERR_LIMIT,
                        "n_latents * codebook_size = %.0f: at most 2^21 (distance workspace)",
                        (double)M * c->codebook_size);
    if ((rc = vc_check_input_shape(msg, c->input_dim, c->input_shape)) != VAE_OK ||
        (rc = vc_check_param_total(msg, params)) != VAE_OK ||
        (rc = vc_check_activation(msg, c->activation, c->leaky_slope)) != VAE_OK)
        return rc;
    if (c->likelihood == VAE_LIK_GAUSSIAN_LEARNED)
        return vae_fail(msg, VAE_ERR_UNSUPPORTED,
                        "likelihood gaussian-learned: the VQ-VAE supports bernoulli and gaussian-fixed");
    if (c->likelihood != VAE_LIK_BERNOULLI && c->likelihood != VAE_LIK_GAUSSIAN_FIXED)
        return vae_fail(msg, VAE_ERR_INVALID, "likelihood = %d: unknown", c->likelihood);
    if ((rc = vc_check_sigma(msg, c->gaussian_sigma)) != VAE_OK)
        return rc;
    if (!(c->beta >= 0.0f) || !isfinite(c->beta))
        return vae_fail(msg, VAE_ERR_INVALID, "beta = %g: must be finite and >= 0", (double)c->beta);
    if (c->codebook_update != VAE_VQ_CODEBOOK_LOSS && c->codebook_update != VAE_VQ_CODEBOOK_EMA)
        return vae_fail(msg, VAE_ERR_INVALID, "codebook_update = %d: unknown", c->codebook_update);
    if (!(c->ema_decay >= 0.0f && c->ema_decay < 1.0f))
        return vae_fail(msg, VAE_ERR_INVALID, "ema_decay = %g: must be in [0, 1)",
                        (double)c->ema_decay);
    if (!(c->ema_eps > 0.0f) || !isfinite(c->ema_eps))
        return vae_fail(msg, VAE_ERR_INVALID, "ema_eps = %g: must be finite and > 0",
                        (double)c->ema_eps);
    if (c->restart_after < 0)
        return vae_fail(msg, VAE_ERR_INVALID, "restart_after = %d: must be >= 0 (0: never)",
                        c->restart_after);
    if (c->threads < 1 || c->threads > 256)
        return vae_fail(msg, VAE_ERR_INVALID, "threads = %d: must be in 1..256", c->threads);
    return VAE_OK;
}

/* ---- parameters ------------------------------------------------------------ */

int vq_declare(vae_vqvae_config *c, vae_vqvae *q, char *msg)
{
    vn_params *P = &q->P;
    int in[3] = {c->input_dim, 1, 1};
    if (c->input_shape[0] > 0)
        memcpy(in, c->input_shape, sizeof in);
    int rc = vn_net_from(&q->enc, c->encoder, "encoder", c->hidden, c->n_hidden, 0, 0,
                         c->activation, c->leaky_slope, msg);
    if (rc == VAE_OK)
        rc = vn_net_declare(&q->enc, P, "enc", NULL, in, 0, "encoder", msg);
    if (rc != VAE_OK)
        return rc;
    const int *h = q->enc.out;
    q->spatial = h[1] * h[2] > 1;
    int z[3] = {c->n_latents * c->code_dim, 1, 1};
    if (q->spatial) {
        /* z_e = a 1x1 convolution to D channels; one code per position. */
        int k1[2] = {c->code_dim, 1};
        vn_net head = {0};
        if (vn_net_add(&head, VN_CONV2D, k1, 2, 0.0f) != 0 ||
            (rc = vn_net_declare(&head, P, "enc", "ze", h, 0, "encoder head", msg)) != VAE_OK)
            return rc != VAE_OK ? rc : vae_fail(msg, VAE_ERR_LIMIT, "encoder head");
        q->w_ze = head.layer[0].param;
        q->grid[0] = h[1], q->grid[1] = h[2];
        c->n_latents = h[1] * h[2];
        z[0] = c->code_dim, z[1] = h[1], z[2] = h[2];
    } else if ((q->w_ze = vn_dense_declare(P, "enc.ze", (int)vn_shape_size(h), z[0])) < 0) {
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring the encoder head");
    }
    rc = vn_net_from(&q->dec, c->decoder, "decoder", c->hidden, c->n_hidden, 1, c->input_dim,
                     c->activation, c->leaky_slope, msg);
    if (rc == VAE_OK)
        rc = vn_net_declare(&q->dec, P, "dec", "out", z, 0, "decoder", msg);
    if (rc != VAE_OK)
        return rc;
    if (vn_shape_size(q->dec.out) != (double)c->input_dim)
        return vae_fail(msg, VAE_ERR_INVALID,
                        "decoder: its last layer gives %dx%dx%d = %.0f values, but the "
                        "likelihood needs one parameter per input feature (input_dim = %d)",
                        q->dec.out[0], q->dec.out[1], q->dec.out[2],
                        vn_shape_size(q->dec.out), c->input_dim);
    q->p_code = -1;
    if (c->codebook_update == VAE_VQ_CODEBOOK_LOSS &&
        (q->p_code = vn_params_add(P, "vq.codebook", c->codebook_size, c->code_dim)) < 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring the codebook");
    return VAE_OK;
}

int vq_param_count(const vae_vqvae_config *c, double *count, int *n_latents, char *msg)
{
    vae_vqvae *q = calloc(1, sizeof *q);
    if (!q)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory");
    vae_vqvae_config cc = *c;
    int rc = vq_declare(&cc, q, msg);
    *count = (double)q->P.total;
    if (n_latents)
        *n_latents = cc.n_latents;
    vn_params_free(&q->P);
    free(q);
    return rc;
}

static int alloc_state(vae_vqvae *q)
{
    size_t K = (size_t)q->cfg.codebook_size, D = (size_t)q->cfg.code_dim;
    q->idle = calloc(K, sizeof *q->idle);
    q->counts = calloc(K, sizeof *q->counts);
    q->usage = calloc(K, sizeof *q->usage);
    q->sums = calloc(K * D, sizeof *q->sums);
    if (!q->idle || !q->counts || !q->sums || !q->usage)
        return -1;
    if (q->p_code >= 0) {
        q->codebook = vn_val(&q->P, q->p_code);
        return 0;
    }
    q->ema_code = calloc(K * D, sizeof *q->ema_code);
    q->ema_n = calloc(K, sizeof *q->ema_n);
    q->ema_m = calloc(K * D, sizeof *q->ema_m);
    if (!q->ema_code || !q->ema_n || !q->ema_m)
        return -1;
    q->codebook = q->ema_code;
    return 0;
}

/* Encoder and decoder as vae_model does them; codebook uniform in +-1/K. */
static void init_params(vae_vqvae *q)
{
    vn_net_init(&q->enc, &q->P, &q->rng);
    if (q->spatial) { /* the 1x1 convolution: PyTorch's default, fan_in = C */
        const vn_param *w = &q->P.p[q->w_ze];
        float bound = 1.0f / sqrtf((float)w->cols);
        for (int k = q->w_ze; k <= q->w_ze + 1; k++) {
            float *v = vn_val(&q->P, k);
            for (size_t i = 0; i < (size_t)q->P.p[k].rows * q->P.p[k].cols; i++)
                v[i] = (float)((2.0 * vt_rng_uniform(&q->rng) - 1.0) * bound);
        }
    } else {
        vn_dense_init(&q->P, q->w_ze, &q->rng);
    }
    vn_net_init(&q->dec, &q->P, &q->rng);
    size_t KD = (size_t)q->cfg.codebook_size * q->cfg.code_dim;
    double a = 1.0 / q->cfg.codebook_size;
    for (size_t i = 0; i < KD; i++)
        q->codebook[i] = (float)((2.0 * vt_rng_uniform(&q->rng) - 1.0) * a);
    if (q->ema_m)
        for (size_t i = 0; i < KD; i++)
            q->ema_m[i] = q->codebook[i];
}

/* ---- graphs ------------------------------------------------------------------ */

/* z_e from the encoder's output h: a dense head, or (spatial) a 1x1
 * convolution to D channels permuted to H*W position-major vectors of D. */
static int ze_head(vae_vqvae *q, vg_graph *g, int h, int train)
{
    int w = vn_param_node(g, &q->P, q->w_ze, train);
    int b = w < 0 ? -1 : vn_param_node(g, &q->P, q->w_ze + 1, train);
    if (b < 0)
        return -1;
    if (!q->spatial)
        return vg_dense(g, h, w, b);
    int ze = vg_conv2d(g, h, w, b, q->cfg.code_dim, 1, 1, 0);
    return ze < 0 ? -1 : vg_chw_to_hwc(g, ze);
}

/* The decoder on z_q [n, M*D] (position-major when spatial). */
static int build_decoder(vae_vqvae *q, vg_graph *g, int zq, int train)
{
    if (q->spatial)
        zq = vg_hwc_to_chw(g, zq, q->cfg.code_dim, q->grid[0], q->grid[1]);
    return zq < 0 ? -1 : vn_net_build(&q->dec, g, &q->P, zq, -1, train);
}

/* x -> z_e -> z_q -> decoder -> log p(x|z_q); loss = -mean(rec) + mean(vq terms). */
static vg_graph *build_graph(vae_vqvae *q, vq_graph *n, int train)
{
    const vae_vqvae_config *c = &q->cfg;
    vg_graph *g = vg_new(1);
    if (!g)
        return NULL;
    int ema = c->codebook_update == VAE_VQ_CODEBOOK_EMA;
    n->x = vg_input(g, VG_ROWS_BATCH, 0, c->input_dim);
    if (n->x >= 0)
        vg_set_shape(g, n->x, q->enc.in[0], q->enc.in[1], q->enc.in[2]);
    int h = n->x < 0 ? -1 : vn_net_build(&q->enc, g, &q->P, n->x, -1, train);
    n->ze = h < 0 ? -1 : ze_head(q, g, h, train);
    if (n->ze < 0)
        goto fail;
    n->code = ema ? vg_param(g, c->codebook_size, c->code_dim, q->codebook, NULL)
                  : vn_param_node(g, &q->P, q->p_code, train);
    n->vq = n->code < 0 ? -1 : vg_vq(g, n->ze, n->code, c->n_latents);
    n->out = n->vq < 0 ? -1 : build_decoder(q, g, n->vq, train);
    if (n->out < 0)
        goto fail;
    if (c->likelihood == VAE_LIK_BERNOULLI) {
        n->rec = vg_bernoulli_ll(g, n->out, n->x);
    } else {
        int ls = vg_input(g, VG_ROWS_FIXED, 1, c->input_dim);
        if (ls < 0)
            goto fail;
        for (int j = 0; j < c->input_dim; j++)
            g->nodes[ls].val[j] = logf(c->gaussian_sigma);
        n->rec = vg_gauss_ll(g, n->out, ls, n->x);
    }
    n->vql = n->rec < 0 ? -1 : vg_vq_loss(g, n->ze, n->code, n->vq, c->beta, ema ? 0.0f : 1.0f);
    n->rec_mean = n->vql < 0 ? -1 : vg_mean(g, n->rec);
    n->vql_mean = n->rec_mean < 0 ? -1 : vg_mean(g, n->vql);
    n->loss = n->vql_mean < 0 ? -1 : vg_axpby(g, -1.0f, n->rec_mean, 1.0f, n->vql_mean);
    if (n->loss < 0)
        goto fail;
    vg_use(g, q->pool, &q->scratch);
    return g;
fail:
    vg_free(g);
    return NULL;
}

static int build_decode_graph(vae_vqvae *q)
{
    const vae_vqvae_config *c = &q->cfg;
    vg_graph *g = vg_new(1);
    if (!g)
        return -1;
    q->dec_g = g;
    q->dec_in = vg_input(g, VG_ROWS_BATCH, 0, c->n_latents * c->code_dim);
    int out = q->dec_in < 0 ? -1 : build_decoder(q, g, q->dec_in, 0);
    if (out >= 0 && c->likelihood == VAE_LIK_BERNOULLI)
        out = vg_unary(g, VG_OP_SIGMOID, out, 0.0f, 0.0f);
    q->dec_out = out;
    return out < 0 ? -1 : 0;
}

int vq_create(const vae_vqvae_config *cfg, vae_vqvae **out, char *msg)
{
    *out = NULL;
    vae_vqvae *q = calloc(1, sizeof *q);
    if (!q)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory allocating the VQ-VAE");
    q->cfg = *cfg;
    q->cfg.struct_size = sizeof q->cfg;
    int rc = vq_declare(&q->cfg, q, msg);
    if (rc != VAE_OK)
        return vq_free(q), rc;
    vt_rng_seed(&q->rng, cfg->seed, VQ_STREAM_TRAIN); /* initialisation draws from it */
    if (vn_params_alloc(&q->P) != 0 || alloc_state(q) != 0 ||
        vc_init(&q->core, &vq_family, q, &q->P, &q->pool, &q->rng, q->errmsg, q->cfg.seed,
                (size_t)q->cfg.input_dim, 0) != 0)
        goto nomem;
    if (vn_net_format(&q->enc, q->enc_text, sizeof q->enc_text) != 0 ||
        vn_net_format(&q->dec, q->dec_text, sizeof q->dec_text) != 0)
        return vq_free(q), vae_fail(msg, VAE_ERR_LIMIT, "a network's text is too long");
    q->cfg.encoder = q->enc_text;
    q->cfg.decoder = q->dec_text;
    memcpy(q->cfg.input_shape, q->enc.in, sizeof q->cfg.input_shape);
    init_params(q);
    q->zq_buf = malloc((size_t)VQ_CHUNK * q->cfg.n_latents * q->cfg.code_dim * sizeof(float));
    q->train_g = build_graph(q, &q->tn, 1);
    q->eval_g = build_graph(q, &q->en, 0);
    if (!q->zq_buf || !q->train_g || !q->eval_g || build_decode_graph(q) != 0 ||
        vq_set_threads(q, cfg->threads, msg) != VAE_OK)
        goto nomem;
    *out = q;
    return VAE_OK;
nomem:
    vq_free(q);
    return vae_fail(msg, VAE_ERR_NOMEM, "out of memory building the VQ-VAE");
}

int vq_set_threads(vae_vqvae *q, int threads, char *msg)
{
    vg_graph *gs[] = {q->train_g, q->eval_g, q->dec_g};
    if (vg_set_team(&q->pool, threads, gs, sizeof gs / sizeof gs[0], &q->scratch) != 0)
        return vae_fail(msg, VAE_ERR_NOMEM, "out of memory starting %d threads", threads);
    q->cfg.threads = threads;
    return VAE_OK;
}

void vq_free(vae_vqvae *q)
{
    if (!q)
        return;
    vg_free(q->train_g);
    vg_free(q->eval_g);
    vg_free(q->dec_g);
    vt_pool_free(q->pool);
    vg_scratch_free(&q->scratch);
    vn_params_free(&q->P);
    free(q->ema_code);
    free(q->ema_n);
    free(q->ema_m);
    free(q->idle);
    free(q->counts);
    free(q->sums);
    free(q->prior);
    vc_release(&q->core);
    free(q->usage);
    free(q->zq_buf);
    free(q);
}

/* ---- training -------------------------------------------------------------------- */

static void batch_stats(const vae_vqvae *q, const vg_graph *g, const vq_graph *n, size_t rows,
                        vae_vqvae_stats *st)
{
    double sq = 0.0;
    for (size_t i = 0; i < rows; i++)
        sq += g->nodes[n->vql].aux[i];
    st->rec = g->nodes[n->rec_mean].val[0];
    st->commit = sq / (double)rows;
    st->loss = g->nodes[n->loss].val[0];
    st->n = rows;
    vq_usage(q->counts, q->cfg.codebook_size, &st->perplexity, &st->codes_used);
}

int vq_train_step(vae_vqvae *q, vae_optimizer *opt, const float *x, size_t n,
                  vae_vqvae_stats *st)
{
    vg_graph *g = q->train_g;
    const vq_graph *t = &q->tn;
    int rc = vc_bind(&q->core, opt);
    if (rc != VAE_OK)
        return rc;
    if (vg_set_batch(g, (int)n) != 0)
        return vae_fail(q->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", n);
    vg_use(g, q->pool, &q->scratch);
    vg_bind(g, t->x, x);
    vg_forward(g, -1);
    vg_backward(g, t->loss);
    double norm2 = vt_sum_squares_on(q->pool, q->P.grad, q->P.total); /* as the VAE's (vm_grad_norm2) */
    if ((rc = vc_check_loss(&q->core, opt, g->nodes[t->loss].val[0])) != VAE_OK ||
        (rc = vc_apply(&q->core, opt, VOPT_ALL_GROUPS, norm2)) != VAE_OK)
        return rc;
    /* Codebook learning from this batch's assignments (made before the update). */
    size_t rows = n * (size_t)q->cfg.n_latents;
    const float *ze = g->nodes[t->ze].val;
    int ema = q->p_code < 0;
    vq_count(q, vg_vq_codes(g, t->vq), ze, rows, ema);
    if (st)
        batch_stats(q, g, t, n, st);
    if (ema)
        vq_ema_update(q);
    if (q->cfg.restart_after > 0)
        vq_restart_dead(q, ze, rows);
    return VAE_OK;
}

/* The epoch's per-batch step: a training step, its codes counted into the
 * epoch's usage; figures rec, commit, loss. */
static int epoch_step(void *self, vae_optimizer *opt, const vc_batch *b, double *fig)
{
    vae_vqvae *q = self;
    vae_vqvae_stats bs;
    int rc = vq_train_step(q, opt, b->x, b->n, &bs);
    if (rc != VAE_OK)
        return rc;
    for (int k = 0; k < q->cfg.codebook_size; k++)
        q->usage[k] += q->counts[k];
    fig[0] = bs.rec, fig[1] = bs.commit, fig[2] = bs.loss;
    return VAE_OK;
}

const vc_step vq_plain_step = {"", 0, epoch_step};

int vq_train_epoch(vae_vqvae *q, vae_optimizer *opt, const vae_dataset *ds, size_t batch,
                   vae_progress_fn progress, void *user, vae_vqvae_stats *st)
{
    return vc_train_epoch(&q->core, &vq_plain_step, opt, ds, batch, progress, user, st);
}

/* ---- evaluation and use ------------------------------------------------------------ */

/* Run the evaluation graph forward on cnt rows at x (up to node `upto`). */
static int run_eval(vae_vqvae *q, const float *x, size_t cnt, int upto)
{
    vg_graph *g = q->eval_g;
    vg_use(g, q->pool, &q->scratch);
    if (vg_set_batch(g, (int)cnt) != 0)
        return vae_fail(q->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", cnt);
    vg_bind(g, q->en.x, x);
    vg_forward(g, upto);
    return VAE_OK;
}

/* Evaluate n rows: per-example rec, commitment and loss into the sums,
 * codes into the usage. */
static int eval_chunk(void *self, const float *x, const float *c, size_t n, vt_rng *rng,
                      size_t first, vc_sums *s, vc_bad_rows *bad)
{
    vae_vqvae *q = self;
    (void)c, (void)rng; /* no conditions, no noise */
    int rc = run_eval(q, x, n, -1);
    if (rc != VAE_OK)
        return rc;
    const vg_graph *g = q->eval_g;
    const float *codes = vg_vq_codes(g, q->en.vq);
    for (size_t r = 0; r < n * (size_t)q->cfg.n_latents; r++)
        q->usage[(size_t)codes[r]] += 1.0;
    const float *rec = g->nodes[q->en.rec].val, *vql = g->nodes[q->en.vql].val;
    for (size_t i = 0; i < n; i++) {
        s->sum[0] += rec[i];
        s->sum[1] += g->nodes[q->en.vql].aux[i];
        s->sum[2] += vql[i] - rec[i];
        vc_note_row(bad, first + i, isfinite(vql[i] - rec[i]));
    }
    return VAE_OK;
}

static void begin(void *self)
{
    vae_vqvae *q = self;
    memset(q->usage, 0, (size_t)q->cfg.codebook_size * sizeof *q->usage);
}

static double progress_rec(const vc_sums *s)
{
    return s->sum[0] / (double)s->n;
}

static void finish(void *self, const vc_sums *s, int training, void *out)
{
    const vae_vqvae *q = self;
    vae_vqvae_stats *st = out;
    (void)training; /* the same figures either way */
    if (!st)
        return;
    st->rec = s->sum[0] / (double)s->n;
    st->commit = s->sum[1] / (double)s->n;
    st->loss = s->sum[2] / (double)s->n;
    st->n = s->n;
    vq_usage(q->usage, q->cfg.codebook_size, &st->perplexity, &st->codes_used);
}

/* The parameter groups: the encoder with the z_e head ("enc.*"), the
 * decoder ("dec.*"), and the codebook when the loss learns it. */
static const char *const group_names[] = {"encoder", "decoder", "codebook"};
static const char *const group_prefixes[] = {"enc.", "dec.", "vq.codebook"};

const vc_family vq_family = {
    .quantity = "loss",
    .group_names = group_names,
    .group_prefixes = group_prefixes,
    .n_groups = 3,
    .max_train_batch = VQ_CHUNK,
    .begin = begin,
    .eval = eval_chunk,
    .progress = progress_rec,
    .finish = finish,
};

int vq_evaluate(vae_vqvae *q, const vae_dataset *ds, size_t batch, vae_vqvae_stats *st)
{
    return vc_evaluate(&q->core, ds, batch, st);
}

int vq_encode(vae_vqvae *q, const float *x, size_t n, int *codes)
{
    size_t D = (size_t)q->cfg.input_dim, M = (size_t)q->cfg.n_latents;
    for (size_t start = 0; start < n; start += VQ_CHUNK) {
        size_t cnt = n - start < VQ_CHUNK ? n - start : VQ_CHUNK;
        int rc = run_eval(q, x + start * D, cnt, q->en.vq);
        if (rc != VAE_OK)
            return rc;
        const float *c = vg_vq_codes(q->eval_g, q->en.vq);
        for (size_t r = 0; r < cnt * M; r++)
            codes[start * M + r] = (int)c[r];
    }
    return VAE_OK;
}

int vq_decode(vae_vqvae *q, const int *codes, size_t n, float *out)
{
    size_t D = (size_t)q->cfg.input_dim, M = (size_t)q->cfg.n_latents,
           C = (size_t)q->cfg.code_dim;
    vg_graph *g = q->dec_g;
    vg_use(g, q->pool, &q->scratch);
    for (size_t start = 0; start < n; start += VQ_CHUNK) {
        size_t cnt = n - start < VQ_CHUNK ? n - start : VQ_CHUNK;
        for (size_t r = 0; r < cnt * M; r++)
            memcpy(q->zq_buf + r * C, q->codebook + (size_t)codes[start * M + r] * C,
                   C * sizeof(float));
        if (vg_set_batch(g, (int)cnt) != 0)
            return vae_fail(q->errmsg, VAE_ERR_NOMEM, "out of memory for a batch of %zu", cnt);
        vg_bind(g, q->dec_in, q->zq_buf);
        vg_forward(g, -1);
        memcpy(out + start * D, g->nodes[q->dec_out].val, cnt * D * sizeof(float));
    }
    return VAE_OK;
}

int vq_reconstruct(vae_vqvae *q, const float *x, size_t n, float *out)
{
    size_t M = (size_t)q->cfg.n_latents, D = (size_t)q->cfg.input_dim;
    size_t chunk = n < VQ_CHUNK ? n : VQ_CHUNK;
    int *codes = malloc(chunk * M * sizeof *codes);
    if (!codes)
        return vae_fail(q->errmsg, VAE_ERR_NOMEM, "out of memory for %zu code rows", chunk);
    int rc = VAE_OK;
    for (size_t start = 0; start < n && rc == VAE_OK; start += chunk) {
        size_t cnt = n - start < chunk ? n - start : chunk;
        rc = vq_encode(q, x + start * D, cnt, codes);
        if (rc == VAE_OK)
            rc = vq_decode(q, codes, cnt, out + start * D);
    }
    free(codes);
    return rc;
}
