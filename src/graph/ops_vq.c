/* Vector-quantisation ops of the VQ-VAE (van den Oord et al. 2017).
 *
 * z is [n, M*D]: M latent vectors of size D per example, stored one after
 * the other, so the same buffer read as [n*M, D] holds one latent vector per
 * row. The codebook is [K, D].
 *
 * VG_OP_VQ (inputs z, codebook; iparam[0] = M)
 *   d[r][k] = ||z_r||^2 - 2 z_r . e_k + ||e_k||^2   (one sgemm for the middle term)
 *   k(r)    = argmin_k d[r][k], ties to the lowest k
 *   z_q[r]  = e_k(r)
 *   backward (straight-through): dz += dz_q; nothing reaches the codebook.
 * aux holds the n*M*K distances, then the n*M indices (as floats: exact for
 * K < 2^24).
 *
 * The sgemm form rounds differently from a direct sum of squared
 * differences, so two codes whose distances are within a few rounding
 * errors of the minimum are compared again exactly (in double, from the
 * differences): the result is the brute-force argmin, ties to the lowest
 * index, whenever the double sums are exact.
 *
 * VG_OP_VQ_LOSS (inputs z, codebook, the vq node; fparam = {beta, c})
 *   q_i = sum_m ||z_im - e_k(im)||^2,  y_i = (c + beta) q_i   (aux keeps q_i)
 *   dz_im  = dy_i 2 beta (z_im - e_k)            commitment: beta ||z - sg[e]||^2
 *   de_k  += dy_i 2 c (e_k - z_im)               codebook:   c ||sg[z] - e||^2
 * c = 1 when the codebook learns by gradient, 0 when it follows moving averages.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "graph/graph.h"
#include "tensor/blas.h"

#define X(k) (&g->nodes[y->in[(k)]])

int vg_vq(vg_graph *g, int z, int codebook, int m)
{
    int in[2] = {z, codebook};
    const vg_node *zn = &g->nodes[z], *cb = &g->nodes[codebook];
    int id = vg_add_op(g, VG_OP_VQ, zn->rows_kind, zn->fixed_rows, zn->cols, 2, in);
    if (id >= 0) {
        vg_node *v = &g->nodes[id];
        v->iparam[0] = m;
        v->aux_cols = m * (cb->rows + 1);
        v->need_grad = zn->need_grad; /* no gradient to the codebook */
    }
    return id;
}

int vg_vq_loss(vg_graph *g, int z, int codebook, int vq, float beta, float c)
{
    int in[3] = {z, codebook, vq};
    int id = vg_add_op(g, VG_OP_VQ_LOSS, g->nodes[z].rows_kind, g->nodes[z].fixed_rows, 1, 3, in);
    if (id >= 0) {
        vg_node *v = &g->nodes[id];
        v->iparam[0] = g->nodes[vq].iparam[0];
        v->fparam[0] = beta;
        v->fparam[1] = c;
        v->aux_cols = 1;
        v->need_grad = g->nodes[z].need_grad || (c != 0.0f && g->nodes[codebook].need_grad);
    }
    return id;
}

const float *vg_vq_dists(const vg_graph *g, int vq) { return g->nodes[vq].aux; }

const float *vg_vq_codes(const vg_graph *g, int vq)
{
    const vg_node *v = &g->nodes[vq];
    int M = v->iparam[0], K = v->aux_cols / M - 1;
    return v->aux + (size_t)v->rows * M * K;
}

/* ||a - b||^2 in double. */
static double sqdist(const float *a, const float *b, int D)
{
    double s = 0.0;
    for (int j = 0; j < D; j++) {
        double d = (double)a[j] - b[j];
        s += d * d;
    }
    return s;
}

void vg_vq_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *zn = X(0), *cb = X(1);
    int M = y->iparam[0], K = cb->rows, D = cb->cols, R = y->rows * M;
    float *dist = y->aux, *idx = y->aux + (size_t)R * K;
    /* row 0 = ||e_k||^2, copied to every row; then d += -2 Z E^T (beta = 1) */
    double emax = 0.0;
    for (int k = 0; k < K; k++) {
        double s = 0.0;
        for (int j = 0; j < D; j++)
            s += (double)cb->val[(size_t)k * D + j] * cb->val[(size_t)k * D + j];
        dist[k] = (float)s;
        if (s > emax)
            emax = s;
    }
    for (int r = 1; r < R; r++)
        memcpy(dist + (size_t)r * K, dist, (size_t)K * sizeof(float));
    vt_gemm(g->pool, 0, 1, R, K, D, -2.0f, zn->val, D, cb->val, D, 1.0f, dist, K);
    for (int r = 0; r < R; r++) {
        const float *z = zn->val + (size_t)r * D;
        float *d = dist + (size_t)r * K;
        double zz = 0.0;
        for (int j = 0; j < D; j++)
            zz += (double)z[j] * z[j];
        int best = 0;
        for (int k = 0; k < K; k++) {
            d[k] += (float)zz;
            if (d[k] < d[best])
                best = k;
        }
        /* Candidates within the rounding error of the sgemm form: compare exactly. */
        float tol = (float)(8.0 * D * FLT_EPSILON * (zz + emax)) + FLT_MIN;
        float lim = d[best] + tol;
        double bd = -1.0;
        for (int k = 0; k < K; k++) {
            if (d[k] > lim)
                continue;
            double e = sqdist(z, cb->val + (size_t)k * D, D);
            if (bd < 0.0 || e < bd) {
                bd = e;
                best = k;
            }
        }
        idx[r] = (float)best;
        memcpy(y->val + (size_t)r * D, cb->val + (size_t)best * D, (size_t)D * sizeof(float));
    }
}

/* Straight-through: the decoder-input gradient is the encoder-output gradient. */
void vg_vq_bwd(vg_graph *g, vg_node *y)
{
    vg_node *zn = X(0);
    size_t n = (size_t)y->rows * y->cols;
    if (!zn->need_grad)
        return;
    if (zn->grad_ready) {
        for (size_t i = 0; i < n; i++)
            zn->grad[i] += y->grad[i];
    } else {
        memcpy(zn->grad, y->grad, n * sizeof(float));
        zn->grad_ready = 1;
    }
}

void vg_vq_loss_fwd(vg_graph *g, vg_node *y)
{
    const vg_node *zn = X(0), *cb = X(1);
    const float *idx = vg_vq_codes(g, y->in[2]);
    int M = y->iparam[0], D = cb->cols;
    float coef = y->fparam[0] + y->fparam[1];
    for (int i = 0; i < y->rows; i++) {
        double q = 0.0;
        for (int m = 0; m < M; m++) {
            size_t r = (size_t)i * M + m;
            q += sqdist(zn->val + r * D, cb->val + (size_t)idx[r] * D, D);
        }
        y->aux[i] = (float)q;
        y->val[i] = (float)(coef * q);
    }
}

void vg_vq_loss_bwd(vg_graph *g, vg_node *y)
{
    vg_node *zn = X(0), *cb = X(1);
    const float *idx = vg_vq_codes(g, y->in[2]);
    int M = y->iparam[0], D = cb->cols;
    float beta = y->fparam[0], c = y->fparam[1];
    int to_z = zn->need_grad, to_e = cb->need_grad && c != 0.0f;
    if (to_e && !cb->grad_ready) {
        memset(cb->grad, 0, (size_t)cb->rows * D * sizeof(float));
        cb->grad_ready = 1;
    }
    int first_z = !zn->grad_ready;
    for (int i = 0; i < y->rows; i++) {
        float dy = y->grad[i];
        for (int m = 0; m < M; m++) {
            size_t r = (size_t)i * M + m;
            const float *z = zn->val + r * D;
            size_t k = (size_t)idx[r];
            const float *e = cb->val + k * D;
            float *dz = to_z ? zn->grad + r * D : NULL;
            float *de = to_e ? cb->grad + k * D : NULL;
            for (int j = 0; j < D; j++) {
                float diff = z[j] - e[j];
                if (dz) {
                    float v = 2.0f * beta * dy * diff;
                    dz[j] = first_z ? v : dz[j] + v;
                }
                if (de)
                    de[j] -= 2.0f * c * dy * diff;
            }
        }
    }
    if (to_z)
        zn->grad_ready = 1;
}
