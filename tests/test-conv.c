/* The image ops of the graph layer (graph/ops_conv.c): conv2d and convT2d
 * against direct loops written from PyTorch's definitions, finite-difference
 * gradients of every image op, shape inference, thread-count independence
 * and rows of VG_ROWS_SAMPLES nodes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "tensor/blas.h"
#include "tensor/pool.h"
#include "tensor/rng.h"
#include "gradcheck.h"
#include "testutil.h"

/* ---- direct oracles (PyTorch's definitions, double sums) ------------------- */

/* Conv2d: y[n][co][oh][ow] = b[co] + sum w[co][ci][i][j] x[n][ci][oh*s - p + i][ow*s - p + j].
 * flip != 0 reads the kernel flipped (a true convolution), a deliberately wrong oracle. */
static void oracle_conv2d(const float *x, const float *w, const float *b, float *y, int n,
                          int Cin, int H, int W, int Cout, int k, int s, int p, int Ho, int Wo,
                          int flip)
{
    for (int e = 0; e < n; e++)
        for (int co = 0; co < Cout; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < Cin; ci++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int ih = oh * s - p + i, iw = ow * s - p + j;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                int ki = flip ? k - 1 - i : i, kj = flip ? k - 1 - j : j;
                                acc += (double)w[((co * Cin + ci) * k + ki) * k + kj] *
                                       x[((size_t)(e * Cin + ci) * H + ih) * W + iw];
                            }
                    y[((size_t)(e * Cout + co) * Ho + oh) * Wo + ow] = (float)acc;
                }
}

/* ConvTranspose2d:
 *   y[n][co][ih*s - p + i][iw*s - p + j] += x[n][ci][ih][iw] w[ci][co][i][j], then + b[co]. */
static void oracle_convt2d(const float *x, const float *w, const float *b, float *y, int n,
                           int Cin, int H, int W, int Cout, int k, int s, int p, int Ho, int Wo)
{
    size_t per = (size_t)Cout * Ho * Wo;
    double *acc = calloc((size_t)n * per, sizeof(double));
    for (int e = 0; e < n; e++)
        for (int ci = 0; ci < Cin; ci++)
            for (int ih = 0; ih < H; ih++)
                for (int iw = 0; iw < W; iw++)
                    for (int co = 0; co < Cout; co++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int oh = ih * s - p + i, ow = iw * s - p + j;
                                if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo)
                                    continue;
                                acc[e * per + ((size_t)co * Ho + oh) * Wo + ow] +=
                                    (double)x[((size_t)(e * Cin + ci) * H + ih) * W + iw] *
                                    w[((ci * Cout + co) * k + i) * k + j];
                            }
    for (int e = 0; e < n; e++)
        for (size_t o = 0; o < per; o++)
            y[e * per + o] = (float)(acc[e * per + o] + (b ? b[o / ((size_t)Ho * Wo)] : 0.0));
    free(acc);
}


/* max |a - b| / (1 + |b|) */
static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        m = d > m ? d : m;
    }
    return m;
}

/* One forward case: the op on a graph (rows of kind `kind`, L samples) vs the oracle. */
typedef struct conv_case {
    int transposed, n, Cin, H, W, Cout, k, s, p, op, bias;
} conv_case;

/* Runs the op; returns its output (n*L rows, malloc'd) and fills x, w, b and Ho, Wo. */
static float *run_op(const conv_case *c, int kind, int L, vt_rng *r, float **xo, float **wo,
                     float **bo, int *Ho, int *Wo)
{
    vg_graph *g = vg_new(L);
    int rows = kind == VG_ROWS_SAMPLES ? c->n * L : c->n;
    int x = vg_input(g, kind, 0, c->Cin * c->H * c->W);
    vg_set_shape(g, x, c->Cin, c->H, c->W);
    int wr = c->transposed ? c->Cin : c->Cout;
    int wc = (c->transposed ? c->Cout : c->Cin) * c->k * c->k;
    float *w = malloc((size_t)wr * wc * sizeof(float));
    float *b = malloc((size_t)c->Cout * sizeof(float));
    fill(r, w, (size_t)wr * wc, -1, 1);
    fill(r, b, (size_t)c->Cout, -1, 1);
    int wn = vg_param(g, wr, wc, w, NULL), bn = c->bias ? vg_param(g, 1, c->Cout, b, NULL) : -1;
    int y = c->transposed ? vg_convt2d(g, x, wn, bn, c->Cout, c->k, c->s, c->p, c->op)
                          : vg_conv2d(g, x, wn, bn, c->Cout, c->k, c->s, c->p);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(vg_set_batch(g, c->n), 0);
    vg_node *xn = &g->nodes[x], *yn = &g->nodes[y];
    ck_assert_int_eq(xn->rows, rows);
    ck_assert_int_eq(yn->rows, rows);
    ck_assert_int_eq(yn->shape[0], c->Cout);
    fill(r, xn->val, (size_t)rows * xn->cols, -1, 1);
    vg_forward(g, -1);
    *Ho = yn->shape[1];
    *Wo = yn->shape[2];
    ck_assert_int_eq(yn->cols, c->Cout * *Ho * *Wo);
    float *out = malloc((size_t)rows * yn->cols * sizeof(float));
    memcpy(out, yn->val, (size_t)rows * yn->cols * sizeof(float));
    *xo = malloc((size_t)rows * xn->cols * sizeof(float));
    memcpy(*xo, xn->val, (size_t)rows * xn->cols * sizeof(float));
    *wo = w;
    if (c->bias) {
        *bo = b;
    } else {
        *bo = NULL;
        free(b);
    }
    vg_free(g);
    return out;
}

/* The op against its oracle over n*L rows; returns the max relative difference. */
static double check_case(const conv_case *c, int kind, int L, int wrong_oracle)
{
    vt_rng r;
    vt_rng_seed(&r, 1234, (uint64_t)(c->k * 100 + c->s * 10 + c->p));
    float *x, *w, *b;
    int Ho, Wo;
    float *y = run_op(c, kind, L, &r, &x, &w, &b, &Ho, &Wo);
    int rows = kind == VG_ROWS_SAMPLES ? c->n * L : c->n;
    int eHo = c->transposed ? (c->H - 1) * c->s - 2 * c->p + c->k + c->op
                            : (c->H + 2 * c->p - c->k) / c->s + 1;
    int eWo = c->transposed ? (c->W - 1) * c->s - 2 * c->p + c->k + c->op
                            : (c->W + 2 * c->p - c->k) / c->s + 1;
    ck_assert_int_eq(Ho, eHo);
    ck_assert_int_eq(Wo, eWo);
    size_t ny = (size_t)rows * c->Cout * Ho * Wo;
    float *ref = malloc(ny * sizeof(float));
    int p = c->p + (wrong_oracle == 1); /* 1: padding off by one */
    if (c->transposed)
        oracle_convt2d(x, w, b, ref, rows, c->Cin, c->H, c->W, c->Cout, c->k, c->s, p, Ho, Wo);
    else
        oracle_conv2d(x, w, b, ref, rows, c->Cin, c->H, c->W, c->Cout, c->k, c->s, p, Ho, Wo,
                      wrong_oracle == 2);
    double d = max_rel(y, ref, ny);
    free(ref);
    free(y);
    free(x);
    free(w);
    free(b);
    return d;
}

static const conv_case conv_cases[] = {
    /* transposed, n, Cin, H, W, Cout, k, s, p, op, bias */
    {0, 3, 2, 7, 5, 3, 3, 1, 1, 0, 1},  {0, 2, 3, 8, 9, 4, 4, 2, 1, 0, 1},
    {0, 4, 1, 28, 28, 5, 4, 2, 1, 0, 0}, {0, 2, 3, 6, 11, 2, 1, 1, 0, 0, 1},
    {0, 3, 2, 10, 7, 3, 3, 3, 2, 0, 1}, {0, 2, 4, 5, 5, 3, 1, 2, 0, 0, 0},
    {0, 9, 2, 9, 6, 2, 4, 3, 2, 0, 1},  {0, 2, 5, 4, 4, 6, 3, 1, 0, 0, 0},
    {1, 3, 2, 4, 5, 3, 3, 2, 1, 1, 1},  {1, 2, 4, 7, 7, 2, 4, 2, 1, 0, 1},
    {1, 2, 3, 3, 6, 2, 1, 1, 0, 0, 1},  {1, 3, 2, 4, 3, 3, 3, 3, 2, 1, 0},
    {1, 10, 2, 5, 4, 3, 4, 3, 0, 2, 1}, {1, 2, 3, 5, 5, 2, 3, 1, 1, 0, 0},
    {1, 2, 2, 3, 4, 4, 1, 2, 0, 1, 1},
};

START_TEST(test_forward_vs_oracle)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        double d = check_case(&conv_cases[i], VG_ROWS_BATCH, 1, 0);
        ck_assert_msg(d < 1e-5, "case %zu: op differs from the oracle by %g", i, d);
    }
}
END_TEST

/* The oracle comparison has teeth: a padding off by one or a flipped kernel is caught. */
START_TEST(test_oracle_can_fail)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        double d = check_case(&conv_cases[i], VG_ROWS_BATCH, 1, 1);
        ck_assert_msg(d > 1e-2, "case %zu: padding p+1 oracle matches (%g)", i, d);
        if (!conv_cases[i].transposed && conv_cases[i].k > 1) {
            d = check_case(&conv_cases[i], VG_ROWS_BATCH, 1, 2);
            ck_assert_msg(d > 1e-2, "case %zu: flipped-kernel oracle matches (%g)", i, d);
        }
    }
}
END_TEST

/* The decoder's nodes have L rows per example: every row is an image. */
START_TEST(test_samples_rows)
{
    conv_case c1 = {0, 3, 2, 7, 6, 3, 3, 2, 1, 0, 1}, c2 = {1, 5, 3, 4, 5, 2, 4, 2, 1, 1, 1};
    ck_assert(check_case(&c1, VG_ROWS_SAMPLES, 4, 0) < 1e-5);
    ck_assert(check_case(&c2, VG_ROWS_SAMPLES, 3, 0) < 1e-5);
}
END_TEST

/* ---- finite differences ------------------------------------------------------- */

static void fd_conv(int transposed, int bias)
{
    vt_rng r;
    vt_rng_seed(&r, 77, (uint64_t)(transposed * 2 + bias));
    vg_graph *g = vg_new(1);
    int n = 3, Cin = 2, H = transposed ? 3 : 5, W = transposed ? 4 : 6, Cout = 3, k = 3;
    leaf l[3];
    l[0] = mk_leaf(g, n, Cin * H * W, &r, -1, 1, 1);
    vg_set_shape(g, l[0].node, Cin, H, W);
    l[1] = transposed ? mk_leaf(g, Cin, Cout * k * k, &r, -1, 1, 1)
                      : mk_leaf(g, Cout, Cin * k * k, &r, -1, 1, 1);
    l[2] = mk_leaf(g, 1, Cout, &r, -1, 1, 1);
    int b = bias ? l[2].node : -1;
    int y = transposed ? vg_convt2d(g, l[0].node, l[1].node, b, Cout, k, 2, 1, 1)
                       : vg_conv2d(g, l[0].node, l[1].node, b, Cout, k, 2, 1);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(vg_set_batch(g, n), 0);
    check_grads(g, y, l, bias ? 3 : 2, &r, 1e-2, 2e-3);
    for (int q = 0; q < 3; q++)
        free_leaf(&l[q]);
    vg_free(g);
}

START_TEST(test_conv2d_grad) { fd_conv(0, 1); }
END_TEST
START_TEST(test_conv2d_grad_nobias) { fd_conv(0, 0); }
END_TEST
START_TEST(test_convt2d_grad) { fd_conv(1, 1); }
END_TEST
START_TEST(test_convt2d_grad_nobias) { fd_conv(1, 0); }
END_TEST

/* A pointwise (1x1, stride 1) kernel takes the path without im2col. */
START_TEST(test_pointwise_grad)
{
    vt_rng r;
    vt_rng_seed(&r, 78, 0);
    for (int t = 0; t < 2; t++) {
        vg_graph *g = vg_new(1);
        leaf l[3] = {mk_leaf(g, 2, 3 * 4 * 5, &r, -1, 1, 1),
                     t ? mk_leaf(g, 3, 2, &r, -1, 1, 1) : mk_leaf(g, 2, 3, &r, -1, 1, 1),
                     mk_leaf(g, 1, 2, &r, -1, 1, 1)};
        vg_set_shape(g, l[0].node, 3, 4, 5);
        int y = t ? vg_convt2d(g, l[0].node, l[1].node, l[2].node, 2, 1, 1, 0, 0)
                  : vg_conv2d(g, l[0].node, l[1].node, l[2].node, 2, 1, 1, 0);
        ck_assert_int_ge(y, 0);
        vg_set_batch(g, 2);
        check_grads(g, y, l, 3, &r, 1e-2, 2e-3);
        for (int q = 0; q < 3; q++)
        free_leaf(&l[q]);
        vg_free(g);
    }
}
END_TEST

/* A chain (conv -> relu -> convT): gradients delivered into an op node, not a leaf. */
START_TEST(test_chain_grad)
{
    vt_rng r;
    vt_rng_seed(&r, 79, 0);
    vg_graph *g = vg_new(1);
    leaf l[3] = {mk_leaf(g, 2, 1 * 6 * 6, &r, -1, 1, 1), mk_leaf(g, 2, 1 * 16, &r, -1, 1, 1),
                 mk_leaf(g, 2, 1 * 16, &r, -1, 1, 1)};
    vg_set_shape(g, l[0].node, 1, 6, 6);
    int c = vg_conv2d(g, l[0].node, l[1].node, -1, 2, 4, 2, 1);
    int a = vg_unary(g, VG_OP_TANH, c, 0, 0);
    ck_assert_int_eq(g->nodes[a].shape[0], 2);
    ck_assert_int_eq(g->nodes[a].shape[1], 3);
    int y = vg_convt2d(g, a, l[2].node, -1, 1, 4, 2, 1, 0);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(g->nodes[y].shape[1], 6);
    vg_set_batch(g, 2);
    check_grads(g, y, l, 3, &r, 1e-2, 3e-3);
    for (int q = 0; q < 3; q++)
        free_leaf(&l[q]);
    vg_free(g);
}
END_TEST

START_TEST(test_reshape_grad)
{
    vt_rng r;
    vt_rng_seed(&r, 80, 0);
    vg_graph *g = vg_new(1);
    leaf x = mk_leaf(g, 3, 12, &r, -1, 1, 1);
    vg_set_shape(g, x.node, 3, 2, 2);
    ck_assert_int_eq(vg_reshape(g, x.node, 5, 1, 2), -1);
    int y = vg_reshape(g, x.node, 12, 1, 1);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(g->nodes[y].shape[0], 12);
    int z = vg_reshape(g, y, 2, 3, 2);
    int t = vg_unary(g, VG_OP_SIGMOID, z, 0, 0);
    ck_assert_int_eq(g->nodes[t].shape[1], 3);
    vg_set_batch(g, 3);
    check_grads(g, t, &x, 1, &r, 1e-2, 2e-3);
    vg_forward(g, -1); /* the differences left the last perturbed values */
    for (int i = 0; i < x.n; i++)
        ck_assert_float_eq(g->nodes[z].val[i], x.val[i]);
    free_leaf(&x);
    vg_free(g);
}
END_TEST

/* Layer norm: values against the formula, gradients to x, gamma and beta. */
static void fd_layernorm(int C, int H, int W)
{
    vt_rng r;
    vt_rng_seed(&r, 81, (uint64_t)C);
    vg_graph *g = vg_new(1);
    int D = C * H * W, n = 3;
    leaf l[3] = {mk_leaf(g, n, D, &r, -2, 2, 1), mk_leaf(g, 1, C, &r, 0.5f, 1.5f, 1),
                 mk_leaf(g, 1, C, &r, -1, 1, 1)};
    vg_set_shape(g, l[0].node, C, H, W);
    int y = vg_layernorm(g, l[0].node, l[1].node, l[2].node, 1e-5f);
    ck_assert_int_ge(y, 0);
    vg_set_batch(g, n);
    vg_forward(g, -1);
    for (int e = 0; e < n; e++) {
        const float *xr = l[0].val + e * D;
        double m = 0, v = 0;
        for (int i = 0; i < D; i++)
            m += xr[i];
        m /= D;
        for (int i = 0; i < D; i++)
            v += (xr[i] - m) * (xr[i] - m);
        v /= D;
        for (int i = 0; i < D; i++) {
            int c = i / (H * W);
            double ref = l[1].val[c] * (xr[i] - m) / sqrt(v + 1e-5) + l[2].val[c];
            ck_assert_double_eq_tol(g->nodes[y].val[e * D + i], ref, 1e-5);
        }
    }
    check_grads(g, y, l, 3, &r, 3e-3, 3e-3);
    for (int q = 0; q < 3; q++)
        free_leaf(&l[q]);
    vg_free(g);
}

START_TEST(test_layernorm_image) { fd_layernorm(2, 2, 3); }
END_TEST
START_TEST(test_layernorm_flat) { fd_layernorm(7, 1, 1); }
END_TEST

START_TEST(test_permute)
{
    vt_rng r;
    vt_rng_seed(&r, 82, 0);
    vg_graph *g = vg_new(1);
    int C = 3, H = 2, W = 4, P = H * W;
    leaf x = mk_leaf(g, 2, C * P, &r, -1, 1, 1);
    vg_set_shape(g, x.node, C, H, W);
    int a = vg_chw_to_hwc(g, x.node);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(g->nodes[a].shape[0], C * P);
    ck_assert_int_eq(vg_hwc_to_chw(g, a, 5, 1, 1), -1);
    int b = vg_hwc_to_chw(g, a, C, H, W);
    ck_assert_int_eq(g->nodes[b].shape[0], C);
    ck_assert_int_eq(g->nodes[b].shape[1], H);
    ck_assert_int_eq(g->nodes[b].shape[2], W);
    int t = vg_unary(g, VG_OP_TANH, b, 0, 0);
    vg_set_batch(g, 2);
    vg_forward(g, -1);
    for (int e = 0; e < 2; e++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++) {
                float v = x.val[e * C * P + c * P + p];
                ck_assert_float_eq(g->nodes[a].val[e * C * P + p * C + c], v);
                ck_assert_float_eq(g->nodes[b].val[e * C * P + c * P + p], v);
            }
    check_grads(g, a, &x, 1, &r, 1e-2, 2e-3);
    check_grads(g, t, &x, 1, &r, 1e-2, 2e-3);
    free_leaf(&x);
    vg_free(g);
}
END_TEST

/* ---- shapes -------------------------------------------------------------------- */

START_TEST(test_shapes)
{
    int in[3] = {1, 28, 28}, a[3], b[3], c[3];
    ck_assert_int_eq(vg_conv2d_shape(in, 32, 4, 2, 1, a), 0);
    ck_assert(a[0] == 32 && a[1] == 14 && a[2] == 14);
    ck_assert_int_eq(vg_conv2d_shape(a, 64, 4, 2, 1, b), 0);
    ck_assert(b[0] == 64 && b[1] == 7 && b[2] == 7);
    ck_assert_int_eq(vg_convt2d_shape(b, 32, 4, 2, 1, 0, c), 0);
    ck_assert(c[0] == 32 && c[1] == 14 && c[2] == 14);
    ck_assert_int_eq(vg_convt2d_shape(c, 1, 4, 2, 1, 0, c), 0);
    ck_assert(c[0] == 1 && c[1] == 28 && c[2] == 28);
    int r[3] = {3, 7, 10};
    ck_assert_int_eq(vg_conv2d_shape(r, 5, 3, 2, 0, a), 0); /* floor((7-3)/2)+1, floor(7/2)+1 */
    ck_assert(a[0] == 5 && a[1] == 3 && a[2] == 4);
    ck_assert_int_eq(vg_convt2d_shape(r, 2, 3, 2, 1, 1, a), 0); /* 6*2-2+3+1, 9*2-2+3+1 */
    ck_assert(a[0] == 2 && a[1] == 14 && a[2] == 20);
    /* impossible */
    int small[3] = {1, 2, 2}, big[3] = {1, 40000, 40000}, bad[3] = {0, 2, 2};
    ck_assert_int_eq(vg_conv2d_shape(small, 4, 5, 1, 0, a), -1); /* kernel larger than image */
    ck_assert_int_eq(vg_conv2d_shape(small, 4, 5, 1, 1, a), -1);
    ck_assert_int_eq(vg_conv2d_shape(small, 4, 5, 1, 2, a), 0);   /* 2+4-5+1 = 2 */
    ck_assert_int_eq(vg_conv2d_shape(in, 4, 0, 1, 0, a), -1);
    ck_assert_int_eq(vg_conv2d_shape(in, 4, 3, 0, 0, a), -1);
    ck_assert_int_eq(vg_conv2d_shape(in, 4, 3, 1, -1, a), -1);
    ck_assert_int_eq(vg_conv2d_shape(in, 0, 3, 1, 0, a), -1);
    ck_assert_int_eq(vg_conv2d_shape(bad, 4, 1, 1, 0, a), -1);
    ck_assert_int_eq(vg_convt2d_shape(in, 4, 4, 2, 1, 2, a), -1); /* outpad >= stride */
    ck_assert_int_eq(vg_convt2d_shape(in, 4, 4, 2, 1, -1, a), -1);
    ck_assert_int_eq(vg_convt2d_shape(small, 4, 1, 1, 1, 0, a), -1); /* 1 - 2 + 1 = 0 */
    ck_assert_int_eq(vg_convt2d_shape(big, 1, 1, 2, 0, 0, a), -1);   /* 79999^2 > 2^31 */
    ck_assert_int_eq(vg_conv2d_shape(big, 2, 1, 1, 0, a), -1);       /* 2 * 40000^2 */
}
END_TEST

/* Graph constructors refuse sizes that do not fit. */
START_TEST(test_constructor_checks)
{
    vg_graph *g = vg_new(1);
    float wv[64] = {0}, bv[4] = {0};
    int x = vg_input(g, VG_ROWS_BATCH, 0, 2 * 5 * 5);
    vg_set_shape(g, x, 2, 5, 5);
    int w = vg_param(g, 3, 2 * 9, wv, NULL), w2 = vg_param(g, 3, 2 * 4, wv, NULL);
    int b = vg_param(g, 1, 3, bv, NULL), b2 = vg_param(g, 1, 4, bv, NULL);
    ck_assert_int_ge(vg_conv2d(g, x, w, b, 3, 3, 1, 1), 0);
    ck_assert_int_eq(vg_conv2d(g, x, w2, b, 3, 3, 1, 1), -1); /* w for k = 2 */
    ck_assert_int_eq(vg_conv2d(g, x, w, b2, 3, 3, 1, 1), -1); /* 4 biases */
    ck_assert_int_eq(vg_conv2d(g, x, w, b, 3, 7, 1, 0), -1);  /* kernel too large */
    int wt = vg_param(g, 2, 3 * 9, wv, NULL);
    ck_assert_int_ge(vg_convt2d(g, x, wt, b, 3, 3, 2, 1, 1), 0);
    ck_assert_int_eq(vg_convt2d(g, x, wt, b, 3, 3, 2, 1, 2), -1); /* outpad >= stride */
    ck_assert_int_eq(vg_convt2d(g, x, w, b, 3, 3, 2, 1, 1), -1);  /* conv2d's layout */
    float gv[2] = {1, 1};
    int gm = vg_param(g, 1, 2, gv, NULL), gm5 = vg_param(g, 1, 5, gv, NULL);
    ck_assert_int_ge(vg_layernorm(g, x, gm, gm, 1e-5f), 0);
    ck_assert_int_eq(vg_layernorm(g, x, gm5, gm, 1e-5f), -1);
    vg_free(g);
}
END_TEST

/* ---- threads ------------------------------------------------------------------- */

typedef struct net {
    vg_graph *g;
    float *params, *grads;
    int x, y;
} net;

/* x (2,12,10) -> conv2d(6,4,2,1) -> relu -> layernorm -> convT2d(3,4,2,1) [n rows];
 * its parameters: w1 [6, 32], b1, gamma, beta [6], w2 [6, 48], b2 [3]. */
#define NET_PARAMS 501

static net build_net(vt_pool *pool, const float *params, size_t np)
{
    net t;
    t.g = vg_new(1);
    t.g->pool = pool;
    t.params = malloc(np * sizeof(float));
    t.grads = calloc(np, sizeof(float));
    memcpy(t.params, params, np * sizeof(float));
    float *p = t.params, *d = t.grads;
    t.x = vg_input(t.g, VG_ROWS_BATCH, 0, 2 * 12 * 10);
    vg_set_shape(t.g, t.x, 2, 12, 10);
    int w1 = vg_param(t.g, 6, 2 * 16, p, d), b1 = vg_param(t.g, 1, 6, p + 192, d + 192);
    int gm = vg_param(t.g, 1, 6, p + 198, d + 198), bt = vg_param(t.g, 1, 6, p + 204, d + 204);
    int w2 = vg_param(t.g, 6, 3 * 16, p + 210, d + 210), b2 = vg_param(t.g, 1, 3, p + 498, d + 498);
    int c = vg_conv2d(t.g, t.x, w1, b1, 6, 4, 2, 1);
    int a = vg_unary(t.g, VG_OP_RELU, c, 0, 0);
    int l = vg_layernorm(t.g, a, gm, bt, 1e-5f);
    t.y = vg_convt2d(t.g, l, w2, b2, 3, 4, 2, 1, 0);
    ck_assert_int_ge(t.y, 0);
    return t;
}

/* NET_PARAMS parameters from U(-0.5, 0.5), drawn from *r seeded with seed. */
static float *random_params(vt_rng *r, uint64_t seed)
{
    vt_rng_seed(r, seed, 0);
    float *p = malloc(NET_PARAMS * sizeof(float));
    ck_assert_ptr_nonnull(p);
    fill(r, p, NET_PARAMS, -0.5f, 0.5f);
    return p;
}

static void free_net(net *t)
{
    vg_free(t->g);
    free(t->params);
    free(t->grads);
}

/* 1, 2 and 3 threads give the same bits. The image ops never split one
 * product over the team (each block of 8 examples is one single-threaded
 * sgemm on the same buffers whatever the team, and the dW blocks are summed
 * in block order), so this holds with every sgemm kernel, including those
 * for which vt_gemm_split_exact() is 0 (checked with OPENBLAS_CORETYPE
 * Haswell, SkylakeX, Sandybridge and under valgrind). */
START_TEST(test_threads_same_bits)
{
    const size_t np = NET_PARAMS;
    const int n = 45; /* six blocks of up to 8 examples: the split happens */
    vt_rng r;
    float *params = random_params(&r, 83);
    vt_pool *pools[3] = {NULL, vt_pool_new(2), vt_pool_new(3)};
    ck_assert_int_eq(vt_pool_parts(pools[1]), 2);
    net t[3];
    for (int k = 0; k < 3; k++) {
        t[k] = build_net(pools[k], params, np);
        ck_assert_int_eq(vg_set_batch(t[k].g, n), 0);
    }
    size_t nx = (size_t)n * t[0].g->nodes[t[0].x].cols, ny = (size_t)n * t[0].g->nodes[t[0].y].cols;
    fill(&r, t[0].g->nodes[t[0].x].val, nx, -1, 1);
    float *seed = malloc(ny * sizeof(float));
    fill(&r, seed, ny, -1, 1);
    for (int k = 0; k < 3; k++) {
        memcpy(t[k].g->nodes[t[k].x].val, t[0].g->nodes[t[0].x].val, nx * sizeof(float));
        for (int rep = 0; rep < 2; rep++) {
            vg_forward(t[k].g, -1);
            backward_from(t[k].g, t[k].y, seed);
        }
    }
    for (int k = 1; k < 3; k++) {
        ck_assert_msg(memcmp(t[0].g->nodes[t[0].y].val, t[k].g->nodes[t[k].y].val,
                             ny * sizeof(float)) == 0, "outputs differ with %d threads", k + 1);
        ck_assert_msg(memcmp(t[0].grads, t[k].grads, np * sizeof(float)) == 0,
                      "gradients differ with %d threads", k + 1);
    }
    double gn = 0;
    for (size_t i = 0; i < np; i++)
        gn += fabs(t[0].grads[i]);
    ck_assert(gn > 0);
    free(seed);
    free(params);
    for (int k = 0; k < 3; k++) {
        free_net(&t[k]);
        vt_pool_free(pools[k]);
    }
}
END_TEST

/* A model's graphs share one work space (vg_scratch) and nothing is kept in
 * it from a forward to a backward pass: graph A's forward, then all of
 * graph B (another batch), then A's backward give the bits of a graph with
 * space of its own. A team grown after the batch was set grows the shared
 * space to one slot per thread (vg_set_team), with the same bits. */
START_TEST(test_shared_scratch)
{
    const size_t np = NET_PARAMS;
    const int n = 45, nb = 13;
    vt_rng r;
    vt_rng_seed(&r, 85, 0);
    float *params = malloc(np * sizeof(float));
    fill(&r, params, np, -0.5f, 0.5f);
    vg_scratch shared = {0};
    net ref = build_net(NULL, params, np), a = build_net(NULL, params, np),
        b = build_net(NULL, params, np);
    a.g->scratch = b.g->scratch = &shared;
    ck_assert_int_eq(vg_set_batch(ref.g, n), 0);
    ck_assert_int_eq(vg_set_batch(a.g, n), 0);
    ck_assert_int_eq(vg_set_batch(b.g, nb), 0);
    ck_assert_ptr_null(a.g->own_scratch.buf);
    size_t nx = (size_t)n * ref.g->nodes[ref.x].cols, ny = (size_t)n * ref.g->nodes[ref.y].cols;
    fill(&r, ref.g->nodes[ref.x].val, nx, -1, 1);
    memcpy(a.g->nodes[a.x].val, ref.g->nodes[ref.x].val, nx * sizeof(float));
    fill(&r, b.g->nodes[b.x].val, (size_t)nb * b.g->nodes[b.x].cols, -1, 1);
    float *seed = malloc(ny * sizeof(float)), *seed_b = malloc(ny * sizeof(float));
    fill(&r, seed, ny, -1, 1);
    fill(&r, seed_b, ny, -1, 1);
    vg_forward(ref.g, -1);
    backward_from(ref.g, ref.y, seed);
    vt_pool *team = NULL;
    for (int round = 0; round < 2; round++) {
        size_t cap = shared.cap;
        if (round == 1) { /* three threads, set after the batch */
            vg_graph *gs[2] = {a.g, b.g};
            ck_assert_int_eq(vg_set_team(&team, 3, gs, 2, &shared), 0);
            ck_assert_uint_gt(shared.cap, cap);
            memset(a.grads, 0, np * sizeof(float));
        }
        vg_forward(a.g, -1);
        vg_forward(b.g, -1); /* B uses the space between A's two passes */
        backward_from(b.g, b.y, seed_b);
        backward_from(a.g, a.y, seed);
        ck_assert_msg(memcmp(ref.g->nodes[ref.y].val, a.g->nodes[a.y].val, ny * sizeof(float)) == 0,
                      "outputs differ (round %d)", round);
        ck_assert_msg(memcmp(ref.grads, a.grads, np * sizeof(float)) == 0,
                      "gradients differ (round %d)", round);
    }
    free(seed);
    free(seed_b);
    free(params);
    free_net(&ref);
    free_net(&a);
    free_net(&b);
    vg_scratch_free(&shared);
    vt_pool_free(team);
}
END_TEST

/* One forward and backward pass of ref and of other on the same random
 * input and output gradient (batch already set): the same bits. */
static void assert_same_pass(net *ref, net *other, int n, vt_rng *r)
{
    size_t nx = (size_t)n * ref->g->nodes[ref->x].cols, ny = (size_t)n * ref->g->nodes[ref->y].cols;
    fill(r, ref->g->nodes[ref->x].val, nx, -1, 1);
    memcpy(other->g->nodes[other->x].val, ref->g->nodes[ref->x].val, nx * sizeof(float));
    float *seed = malloc(ny * sizeof(float));
    fill(r, seed, ny, -1, 1);
    net *t[2] = {ref, other};
    for (int k = 0; k < 2; k++) {
        vg_forward(t[k]->g, -1);
        backward_from(t[k]->g, t[k]->y, seed);
    }
    ck_assert(memcmp(ref->g->nodes[ref->y].val, other->g->nodes[other->y].val,
                     ny * sizeof(float)) == 0);
    ck_assert(memcmp(ref->grads, other->grads, NET_PARAMS * sizeof(float)) == 0);
    free(seed);
}

/* A graph pointed at an empty work space after its batch was set (a model
 * that forgot to reserve): the op reserves the space itself and gives the
 * same bits; nothing is written outside the space (ASan, valgrind). */
START_TEST(test_scratch_reserved_late)
{
    const size_t np = NET_PARAMS;
    const int n = 19;
    vt_rng r;
    float *params = random_params(&r, 86);
    net ref = build_net(NULL, params, np), late = build_net(NULL, params, np);
    ck_assert_int_eq(vg_set_batch(ref.g, n), 0);
    ck_assert_int_eq(vg_set_batch(late.g, n), 0);
    vg_scratch empty = {0};
    late.g->scratch = &empty;
    assert_same_pass(&ref, &late, n, &r);
    ck_assert_uint_gt(empty.cap, 0);
    free(params);
    free_net(&ref);
    free_net(&late);
    vg_scratch_free(&empty);
}
END_TEST

/* A team that grows after the batch was set while the work space cannot
 * grow (its limit): the convolutions use as many threads as it has slots
 * for, and give the same bits. */
START_TEST(test_scratch_fewer_slots)
{
    const size_t np = NET_PARAMS;
    const int n = 45;
    vt_rng r;
    float *params = random_params(&r, 87);
    net ref = build_net(NULL, params, np), lim = build_net(NULL, params, np);
    ck_assert_int_eq(vg_set_batch(ref.g, n), 0);
    size_t one_slot = vg_scratch_of(ref.g)->cap; /* the dw slots and one thread's slot */
    vg_scratch capped = {.limit = one_slot};
    vg_graph *gs[1] = {lim.g};
    vt_pool *team = NULL;
    ck_assert_int_eq(vg_set_team(&team, 1, gs, 1, &capped), 0);
    ck_assert_int_eq(vg_set_batch(lim.g, n), 0);
    ck_assert_int_eq(vg_set_team(&team, 3, gs, 1, &capped), 0); /* growth fails: kept */
    ck_assert_int_eq(vt_pool_parts(lim.g->pool), 3);
    ck_assert_uint_eq(capped.cap, one_slot);
    assert_same_pass(&ref, &lim, n, &r);
    ck_assert_uint_eq(capped.cap, one_slot);
    free(params);
    free_net(&ref);
    free_net(&lim);
    vt_pool_free(team);
    vg_scratch_free(&capped);
}
END_TEST

/* No work space at all (it cannot grow inside a pass): the convolutions
 * write NaN instead of past the end, and the NaN reaches the graph's output
 * and the weights' gradients (what a training step's finiteness check
 * refuses) instead of being turned into numbers on the way. */
START_TEST(test_scratch_no_space)
{
    const size_t np = NET_PARAMS;
    const int n = 19;
    vt_rng r;
    float *params = random_params(&r, 88);
    net t = build_net(NULL, params, np);
    ck_assert_int_eq(vg_set_batch(t.g, n), 0);
    vg_scratch none = {.limit = 1};
    t.g->scratch = &none;
    size_t nx = (size_t)n * t.g->nodes[t.x].cols, ny = (size_t)n * t.g->nodes[t.y].cols;
    fill(&r, t.g->nodes[t.x].val, nx, -1, 1);
    float *seed = malloc(ny * sizeof(float));
    fill(&r, seed, ny, -1, 1);
    vg_forward(t.g, -1);
    for (int k = 0; k < t.g->n_nodes; k++) { /* both convolutions' outputs */
        const vg_node *v = &t.g->nodes[k];
        if (v->op != VG_OP_CONV2D && v->op != VG_OP_CONVT2D)
            continue;
        for (size_t i = 0; i < (size_t)v->rows * v->cols; i++)
            ck_assert(isnan(v->val[i]));
    }
    backward_from(t.g, t.y, seed);
    ck_assert_ptr_null(none.buf);
    for (size_t i = 0; i < 192; i++)       /* w1 */
        ck_assert(isnan(t.grads[i]));
    for (size_t i = 210; i < 498; i++)     /* w2 */
        ck_assert(isnan(t.grads[i]));
    free(seed);
    free(params);
    free_net(&t);
}
END_TEST

/* Growing the batch regrows the convolutions' scratch; results stay right. */
START_TEST(test_batch_growth)
{
    vt_rng r;
    vt_rng_seed(&r, 84, 0);
    vg_graph *g = vg_new(1);
    int Cin = 2, H = 6, W = 5, Cout = 3, k = 3;
    float w[3 * 2 * 9], b[3];
    fill(&r, w, sizeof w / sizeof w[0], -1, 1);
    fill(&r, b, 3, -1, 1);
    int x = vg_input(g, VG_ROWS_BATCH, 0, Cin * H * W);
    vg_set_shape(g, x, Cin, H, W);
    int y = vg_conv2d(g, x, vg_param(g, Cout, Cin * k * k, w, NULL), vg_param(g, 1, Cout, b, NULL),
                      Cout, k, 1, 1);
    ck_assert_int_ge(y, 0);
    const int sizes[4] = {1, 9, 4, 26};
    for (int t = 0; t < 4; t++) {
        int n = sizes[t];
        ck_assert_int_eq(vg_set_batch(g, n), 0);
        float *xv = malloc((size_t)n * Cin * H * W * sizeof(float));
        fill(&r, xv, (size_t)n * Cin * H * W, -1, 1);
        vg_bind(g, x, xv); /* a bound input: the op reads the caller's rows */
        vg_forward(g, -1);
        float *ref = malloc((size_t)n * Cout * H * W * sizeof(float));
        oracle_conv2d(xv, w, b, ref, n, Cin, H, W, Cout, k, 1, 1, H, W, 0);
        ck_assert(max_rel(g->nodes[y].val, ref, (size_t)n * Cout * H * W) < 1e-5);
        free(ref);
        free(xv);
    }
    vg_free(g);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_forward_vs_oracle);
    tcase_add_test(tc, test_oracle_can_fail);
    tcase_add_test(tc, test_samples_rows);
    tcase_add_test(tc, test_conv2d_grad);
    tcase_add_test(tc, test_conv2d_grad_nobias);
    tcase_add_test(tc, test_convt2d_grad);
    tcase_add_test(tc, test_convt2d_grad_nobias);
    tcase_add_test(tc, test_pointwise_grad);
    tcase_add_test(tc, test_chain_grad);
    tcase_add_test(tc, test_reshape_grad);
    tcase_add_test(tc, test_layernorm_image);
    tcase_add_test(tc, test_layernorm_flat);
    tcase_add_test(tc, test_permute);
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_constructor_checks);
    tcase_add_test(tc, test_threads_same_bits);
    tcase_add_test(tc, test_shared_scratch);
    tcase_add_test(tc, test_scratch_reserved_late);
    tcase_add_test(tc, test_scratch_fewer_slots);
    tcase_add_test(tc, test_scratch_no_space);
    tcase_add_test(tc, test_batch_growth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
