/* Ops of hierarchical (multi-layer) latent models: Gaussians whose parameters
 * vary per sample row, the ladder's precision-weighted combination, and the
 * noise of the upper stochastic layers.
 *
 * Row broadcasting: an input may have the output's rows or fewer (one row per
 * example while the output has one per sample); output row r reads row
 * r / (rows_y / rows_x) of such an input (as vg_concat does), and its
 * gradient sums over the rows that read it. The output has sample rows when
 * any input has them.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "graph/graph.h"

#define X(k) (&g->nodes[y->in[(k)]])

/* The row of input x that output row r reads. */
static size_t brow(const vg_node *y, const vg_node *x, int r)
{
    return (size_t)(r / (y->rows / x->rows));
}

/* Start a broadcast gradient: zero x's grad unless it already holds one. */
static void grad_begin(vg_node *x)
{
    if (x->need_grad && !x->grad_ready)
        memset(x->grad, 0, (size_t)x->rows * (size_t)x->cols * sizeof(float));
}

static void grad_end(vg_node *x)
{
    if (x->need_grad)
        x->grad_ready = 1;
}

/* The rows kind of an op's output: samples if any input follows the samples. */
static int out_rows_kind(const vg_graph *g, const int *in, int n)
{
    for (int k = 0; k < n; k++)
        if (g->nodes[in[k]].rows_kind == VG_ROWS_SAMPLES)
            return VG_ROWS_SAMPLES;
    return g->nodes[in[0]].rows_kind;
}

/* ---- ladder combination (Sønderby et al. 2016, eq. 17-18) -------------------
 * Bottom-up estimate N(mh, e^lh) and top-down prior N(mp, e^lp) of one layer:
 *   var_q = 1 / (1/var_h + 1/var_p),   mu_q = (mh/var_h + mp/var_p) var_q.
 * In log-variances, with w = var_p / (var_h + var_p) = sigmoid(lp - lh):
 *   mu_q = w mh + (1 - w) mp
 *   lv_q = -log(e^-lh + e^-lp) = lh + log w = lp + log(1 - w)
 * iparam[0] = 0 gives mu_q, 1 gives lv_q. Derivatives (dw/dlp = w (1 - w) = -dw/dlh):
 *   dmu_q/dmh = w, dmu_q/dmp = 1 - w, dmu_q/dlp = (mh - mp) w (1 - w) = -dmu_q/dlh
 *   dlv_q/dlh = w, dlv_q/dlp = 1 - w */

static inline float sigmoidf_(float t)
{
    return t >= 0.0f ? 1.0f / (1.0f + expf(-t)) : expf(t) / (1.0f + expf(t));
}

/* log sigmoid(t) = -softplus(-t), without overflow. */
static inline float log_sigmoidf(float t)
{
    return -(fmaxf(-t, 0.0f) + log1pf(expf(-fabsf(t))));
}

void vg_ladder_merge_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *mh = X(0), *lh = X(1), *mp = X(2), *lp = X(3);
    int K = y->cols, lv = y->iparam[0];
    for (int r = 0; r < y->rows; r++) {
        const float *a = mh->val + brow(y, mh, r) * K, *la = lh->val + brow(y, lh, r) * K;
        const float *b = mp->val + brow(y, mp, r) * K, *lb = lp->val + brow(y, lp, r) * K;
        float *out = y->val + (size_t)r * K;
        for (int j = 0; j < K; j++) {
            float t = lb[j] - la[j];
            out[j] = lv ? la[j] + log_sigmoidf(t) : sigmoidf_(t) * (a[j] - b[j]) + b[j];
        }
    }
}

void vg_ladder_merge_bwd(vg_graph *g, vg_node *y)
{
    vg_node *in[4] = {X(0), X(1), X(2), X(3)};
    vg_node *mh = in[0], *lh = in[1], *mp = in[2], *lp = in[3];
    int K = y->cols, lv = y->iparam[0];
    for (int k = 0; k < 4; k++)
        grad_begin(in[k]);
    for (int r = 0; r < y->rows; r++) {
        size_t oa = brow(y, mh, r) * K, ola = brow(y, lh, r) * K;
        size_t ob = brow(y, mp, r) * K, olb = brow(y, lp, r) * K;
        const float *dy = y->grad + (size_t)r * K;
        for (int j = 0; j < K; j++) {
            float w = sigmoidf_(lp->val[olb + j] - lh->val[ola + j]);
            if (lv) {
                if (lh->need_grad)
                    lh->grad[ola + j] += dy[j] * w;
                if (lp->need_grad)
                    lp->grad[olb + j] += dy[j] * (1.0f - w);
                continue;
            }
            float dt = dy[j] * (mh->val[oa + j] - mp->val[ob + j]) * w * (1.0f - w);
            if (mh->need_grad)
                mh->grad[oa + j] += dy[j] * w;
            if (mp->need_grad)
                mp->grad[ob + j] += dy[j] * (1.0f - w);
            if (lp->need_grad)
                lp->grad[olb + j] += dt;
            if (lh->need_grad)
                lh->grad[ola + j] -= dt;
        }
    }
    for (int k = 0; k < 4; k++)
        grad_end(in[k]);
}

int vg_ladder_merge(vg_graph *g, int mh, int lh, int mp, int lp, int which)
{
    int in[4] = {mh, lh, mp, lp};
    int id = vg_add_op(g, VG_OP_LADDER_MERGE, out_rows_kind(g, in, 4), 0, g->nodes[mh].cols, 4,
                       in);
    if (id >= 0)
        g->nodes[id].iparam[0] = which;
    return id;
}

/* ---- a Gaussian sample per row: z_r = mu_r' + e^(lv_r'/2) eps_r -------------
 * (r' the broadcast row). dmu = dz, dlv = dz eps e^(lv/2) / 2. */
void vg_gauss_sample_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *mu = X(0), *lv = X(1), *eps = X(2);
    int K = y->cols;
    for (int r = 0; r < y->rows; r++) {
        const float *m = mu->val + brow(y, mu, r) * K, *l = lv->val + brow(y, lv, r) * K;
        const float *e = eps->val + (size_t)r * K;
        float *z = y->val + (size_t)r * K;
        for (int j = 0; j < K; j++)
            z[j] = m[j] + expf(0.5f * l[j]) * e[j];
    }
}

void vg_gauss_sample_bwd(vg_graph *g, vg_node *y)
{
    vg_node *mu = X(0), *lv = X(1);
    const vg_node *eps = X(2);
    int K = y->cols;
    grad_begin(mu);
    grad_begin(lv);
    for (int r = 0; r < y->rows; r++) {
        size_t om = brow(y, mu, r) * K, ol = brow(y, lv, r) * K;
        for (int j = 0; j < K; j++) {
            float d = y->grad[(size_t)r * K + j];
            if (mu->need_grad)
                mu->grad[om + j] += d;
            if (lv->need_grad)
                lv->grad[ol + j] +=
                    d * eps->val[(size_t)r * K + j] * 0.5f * expf(0.5f * lv->val[ol + j]);
        }
    }
    grad_end(mu);
    grad_end(lv);
}

int vg_gauss_sample(vg_graph *g, int mu, int lv, int eps)
{
    int in[3] = {mu, lv, eps};
    return vg_add_op(g, VG_OP_GAUSS_SAMPLE, out_rows_kind(g, in, 3), 0, g->nodes[mu].cols, 3, in);
}

/* ---- Gaussian log-density per row -------------------------------------------
 *   lp_r = sum_j -log(2 pi)/2 - lv_j/2 - (z_j - mu_j)^2 e^-lv_j / 2
 *   d/dz = -(z - mu) e^-lv = -d/dmu,   d/dlv = ((z - mu)^2 e^-lv - 1) / 2 */
void vg_gauss_logpdf_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *mu = X(0), *lv = X(1), *z = X(2);
    int K = z->cols;
    for (int r = 0; r < y->rows; r++) {
        const float *m = mu->val + brow(y, mu, r) * K, *l = lv->val + brow(y, lv, r) * K;
        const float *zz = z->val + brow(y, z, r) * K;
        double acc = 0.0;
        for (int j = 0; j < K; j++) {
            double d = (double)zz[j] - m[j];
            acc += -0.91893853320467274178 - 0.5 * l[j] - 0.5 * d * d * exp(-(double)l[j]);
        }
        y->val[r] = (float)acc;
    }
}

void vg_gauss_logpdf_bwd(vg_graph *g, vg_node *y)
{
    vg_node *mu = X(0), *lv = X(1), *z = X(2);
    int K = z->cols;
    grad_begin(mu);
    grad_begin(lv);
    grad_begin(z);
    for (int r = 0; r < y->rows; r++) {
        size_t om = brow(y, mu, r) * K, ol = brow(y, lv, r) * K, oz = brow(y, z, r) * K;
        float dy = y->grad[r];
        for (int j = 0; j < K; j++) {
            float d = z->val[oz + j] - mu->val[om + j], ip = expf(-lv->val[ol + j]);
            if (z->need_grad)
                z->grad[oz + j] -= dy * d * ip;
            if (mu->need_grad)
                mu->grad[om + j] += dy * d * ip;
            if (lv->need_grad)
                lv->grad[ol + j] += dy * 0.5f * (d * d * ip - 1.0f);
        }
    }
    grad_end(mu);
    grad_end(lv);
    grad_end(z);
}

int vg_gauss_logpdf(vg_graph *g, int mu, int lv, int z)
{
    int in[3] = {mu, lv, z};
    return vg_add_op(g, VG_OP_GAUSS_LOGPDF, out_rows_kind(g, in, 3), 0, 1, 3, in);
}

/* ---- KL between diagonal Gaussians per row ------------------------------------
 * KL(N(mq, e^lq) || N(mp, e^lp)) per output row (each input broadcast);
 * without mp, lp (two inputs) p = N(0, I):
 *   kl_r = 1/2 sum_j (lp - lq + (e^lq + (mq - mp)^2) e^-lp - 1)
 *   d/dmq = (mq - mp) e^-lp = -d/dmp,  d/dlq = (e^(lq - lp) - 1) / 2,
 *   d/dlp = (1 - (e^lq + (mq - mp)^2) e^-lp) / 2 */
static void kl_terms(const vg_graph *g, const vg_node *y, int r, int j, float *mq, float *lq,
                     float *mp, float *lp, size_t o[4])
{
    const vg_node *q0 = X(0), *q1 = X(1);
    int K = q0->cols;
    o[0] = brow(y, q0, r) * K + j;
    o[1] = brow(y, q1, r) * K + j;
    *mq = q0->val[o[0]];
    *lq = q1->val[o[1]];
    *mp = *lp = 0.0f;
    if (y->n_in == 4) {
        o[2] = brow(y, X(2), r) * K + j;
        o[3] = brow(y, X(3), r) * K + j;
        *mp = X(2)->val[o[2]];
        *lp = X(3)->val[o[3]];
    }
}

void vg_gauss_kl_fwd(vg_graph *g, vg_node *y)
{
    int K = X(0)->cols;
    for (int r = 0; r < y->rows; r++) {
        double s = 0.0;
        for (int j = 0; j < K; j++) {
            float mq, lq, mp, lp;
            size_t o[4];
            kl_terms(g, y, r, j, &mq, &lq, &mp, &lp, o);
            double d = (double)mq - mp;
            s += (double)lp - lq + (exp((double)lq) + d * d) * exp(-(double)lp) - 1.0;
        }
        y->val[r] = (float)(0.5 * s);
    }
}

void vg_gauss_kl_bwd(vg_graph *g, vg_node *y)
{
    int K = X(0)->cols;
    vg_node *in[4] = {X(0), X(1), y->n_in == 4 ? X(2) : NULL, y->n_in == 4 ? X(3) : NULL};
    for (int k = 0; k < y->n_in; k++)
        grad_begin(in[k]);
    for (int r = 0; r < y->rows; r++) {
        float dy = y->grad[r];
        for (int j = 0; j < K; j++) {
            float mq, lq, mp, lp;
            size_t o[4];
            kl_terms(g, y, r, j, &mq, &lq, &mp, &lp, o);
            float ip = expf(-lp), d = mq - mp, gm = dy * d * ip;
            float gr[4] = {gm, dy * 0.5f * (expf(lq - lp) - 1.0f), -gm,
                           dy * 0.5f * (1.0f - (expf(lq) + d * d) * ip)};
            for (int k = 0; k < y->n_in; k++)
                if (in[k]->need_grad)
                    in[k]->grad[o[k]] += gr[k];
        }
    }
    for (int k = 0; k < y->n_in; k++)
        grad_end(in[k]);
}

int vg_gauss_kl(vg_graph *g, int mq, int lq, int mp, int lp)
{
    int in[4] = {mq, lq, mp, lp};
    int n = mp >= 0 ? 4 : 2;
    return vg_add_op(g, VG_OP_GAUSS_KL, out_rows_kind(g, in, n), 0, 1, n, in);
}

/* ---- the noise of the upper stochastic layers ----------------------------------
 * The callers fill one base draw eps_1 [rows, K_1] per sample row (from the
 * training stream, keyed generators or the evaluation stream). The other
 * layers' N(0, 1) draws are a function of that row, as a counter-based
 * generator keyed by it: seed = FNV-1a hash of the row's bits and the salt
 * (iparam[0], the layer), then splitmix64 outputs turned into normals by
 * Box-Muller. So every way the library draws eps_1 (and its reproducibility:
 * seeds, keyed noise, the evaluation stream reset per call) carries over to
 * every layer, and the layers' draws are independent of eps_1 as far as a
 * 64-bit hash makes them. No gradient. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* (0, 1]: 53 random bits. */
static double unit_open(uint64_t *s)
{
    return ((double)(splitmix64(s) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

void vg_derived_noise_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *e = X(0);
    int K = y->cols;
    for (int r = 0; r < y->rows; r++) {
        const unsigned char *b = (const unsigned char *)(e->val + (size_t)r * e->cols);
        uint64_t h = 0xCBF29CE484222325ULL ^ (uint64_t)(uint32_t)y->iparam[0];
        for (size_t k = 0; k < (size_t)e->cols * sizeof(float); k++)
            h = (h ^ b[k]) * 0x100000001B3ULL;
        uint64_t s = h;
        float *out = y->val + (size_t)r * K;
        for (int j = 0; j < K; j += 2) {
            double rad = sqrt(-2.0 * log(unit_open(&s))), ang = 6.283185307179586 * unit_open(&s);
            out[j] = (float)(rad * cos(ang));
            if (j + 1 < K)
                out[j + 1] = (float)(rad * sin(ang));
        }
    }
}

/* A sample carries no gradient. */
void vg_derived_noise_bwd(vg_graph *g, vg_node *y)
{
    (void)g;
    (void)y;
}

int vg_derived_noise(vg_graph *g, int eps, int cols, int salt)
{
    int id = vg_add_op(g, VG_OP_DERIVED_NOISE, g->nodes[eps].rows_kind, g->nodes[eps].fixed_rows,
                       cols, 1, &eps);
    if (id >= 0) {
        g->nodes[id].iparam[0] = salt;
        g->nodes[id].need_grad = 0;
    }
    return id;
}

/* ---- rows of another node ------------------------------------------------------
 * y has like's rows (one per sample) and x's columns; x has as many rows or
 * one per example: y_r = x_(r / (rows_y / rows_x)); dx_i = sum of dy over
 * the rows that copy row i. So a per-example term (the ladder's top-layer
 * KL) adds to per-sample terms. */
void vg_rows_like_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *x = X(0);
    size_t C = (size_t)y->cols;
    for (int r = 0; r < y->rows; r++)
        memcpy(y->val + (size_t)r * C, x->val + brow(y, x, r) * C, C * sizeof(float));
}

void vg_rows_like_bwd(vg_graph *g, vg_node *y)
{
    vg_node *x = X(0);
    size_t C = (size_t)y->cols;
    if (!x->need_grad)
        return;
    grad_begin(x);
    for (int r = 0; r < y->rows; r++)
        for (size_t j = 0; j < C; j++)
            x->grad[brow(y, x, r) * C + j] += y->grad[(size_t)r * C + j];
    grad_end(x);
}

int vg_rows_like(vg_graph *g, int x, int like)
{
    int in[2] = {x, like};
    int y = vg_add_op(g, VG_OP_ROWS_LIKE, g->nodes[like].rows_kind, g->nodes[like].fixed_rows,
                      g->nodes[x].cols, 1, in);
    return y;
}
