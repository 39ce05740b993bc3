/* The layer kinds. Adding one: its graph op (src/graph), its enum value in
 * nn/net.h, and its entry here (docs/design.md, "Adding a layer"). */
#include "nn/layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "libvae/vae.h"

/* ---- shape rules ------------------------------------------------------------ */

static int shape_same(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap)
{
    (void)l, (void)why, (void)cap;
    memcpy(out, in, 3 * sizeof(int));
    return 0;
}

static int shape_dense(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap)
{
    (void)in, (void)why, (void)cap;
    out[0] = l->arg[0], out[1] = out[2] = 1;
    return 0;
}

static int shape_flatten(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap)
{
    (void)l, (void)why, (void)cap;
    out[0] = in[0] * in[1] * in[2], out[1] = out[2] = 1;
    return 0;
}

static int shape_reshape(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap)
{
    double want = (double)l->arg[0] * l->arg[1] * l->arg[2];
    if (want != vn_shape_size(in)) {
        snprintf(why, cap, "%.0f values cannot be reshaped to %dx%dx%d = %.0f", vn_shape_size(in),
                 l->arg[0], l->arg[1], l->arg[2], want);
        return -1;
    }
    memcpy(out, l->arg, 3 * sizeof(int));
    return 0;
}

static int shape_conv(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap)
{
    const int *a = l->arg;
    int rc = l->kind == VN_CONV2D ? vg_conv2d_shape(in, a[0], a[1], a[2], a[3], out)
                                  : vg_convt2d_shape(in, a[0], a[1], a[2], a[3], a[4], out);
    if (rc != 0) {
        if (l->kind == VN_CONVT2D && a[4] >= a[2])
            snprintf(why, cap, "output padding %d must be smaller than the stride %d", a[4], a[2]);
        else
            snprintf(why, cap, "kernel %d with stride %d and padding %d does not fit a %dx%d input",
                     a[1], a[2], a[3], in[1], in[2]);
        return -1;
    }
    return 0;
}

/* ---- parameters: declaration and PyTorch's default initialisation --------------- */

/* W [in + cond, out], b [1, out]: y = x W + b (W is nn.Linear's weight transposed). */
static int declare_dense(const vn_layer *l, vn_params *P, const char *name, int cond)
{
    return vn_dense_declare(P, name, (int)vn_shape_size(l->in) + cond, l->arg[0]);
}

/* conv2d: W [Cout, Cin k k] (PyTorch's [Cout, Cin, k, k]); convT2d: W [Cin, Cout k k]
 * (PyTorch's [Cin, Cout, k, k]); b [1, Cout]. */
static int declare_conv(const vn_layer *l, vn_params *P, const char *name, int cond)
{
    (void)cond;
    char full[VN_NAME_LEN + 8];
    int conv = l->kind == VN_CONV2D, k2 = l->arg[1] * l->arg[1];
    snprintf(full, sizeof full, "%s.W", name);
    int w = vn_params_add(P, full, conv ? l->arg[0] : l->in[0], (conv ? l->in[0] : l->arg[0]) * k2);
    snprintf(full, sizeof full, "%s.b", name);
    return w < 0 || vn_params_add(P, full, 1, l->arg[0]) < 0 ? -1 : w;
}

/* gamma, beta [1, C]. */
static int declare_norm(const vn_layer *l, vn_params *P, const char *name, int cond)
{
    (void)cond;
    char full[VN_NAME_LEN + 8];
    snprintf(full, sizeof full, "%s.gamma", name);
    int g = vn_params_add(P, full, 1, l->in[0]);
    snprintf(full, sizeof full, "%s.beta", name);
    return g < 0 || vn_params_add(P, full, 1, l->in[0]) < 0 ? -1 : g;
}

static void init_dense(const vn_layer *l, vn_params *P, vt_rng *rng)
{
    vn_dense_init(P, l->param, rng); /* U(+-1/sqrt(in)) */
}

/* U(+-1/sqrt(fan_in)) for W and b, fan_in = W's columns: Cin k k for conv2d,
 * Cout k k for convT2d (PyTorch computes it from the weight's dimension 1). */
static void init_conv(const vn_layer *l, vn_params *P, vt_rng *rng)
{
    const vn_param *w = &P->p[l->param];
    float bound = 1.0f / sqrtf((float)w->cols);
    for (int k = l->param; k <= l->param + 1; k++) {
        float *v = vn_val(P, k);
        size_t n = (size_t)P->p[k].rows * (size_t)P->p[k].cols;
        for (size_t i = 0; i < n; i++)
            v[i] = (float)((2.0 * vt_rng_uniform(rng) - 1.0) * bound);
    }
}

static void init_norm(const vn_layer *l, vn_params *P, vt_rng *rng)
{
    (void)rng;
    float *gamma = vn_val(P, l->param), *beta = vn_val(P, l->param + 1);
    for (int c = 0; c < l->in[0]; c++)
        gamma[c] = 1.0f, beta[c] = 0.0f;
}

/* ---- graph nodes ------------------------------------------------------------------ */

#define LAYERNORM_EPS 1e-5f

static int build_dense(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    if (l->cond)
        x = vg_concat(g, x, c); /* [h, c] */
    return x < 0 ? -1 : vg_dense(g, x, w, b);
}

static int build_conv2d(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    (void)c;
    return vg_conv2d(g, x, w, b, l->arg[0], l->arg[1], l->arg[2], l->arg[3]);
}

static int build_convt2d(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    (void)c;
    return vg_convt2d(g, x, w, b, l->arg[0], l->arg[1], l->arg[2], l->arg[3], l->arg[4]);
}

static int build_reshape(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    (void)w, (void)b, (void)c;
    return vg_reshape(g, x, l->out[0], l->out[1], l->out[2]); /* flatten too */
}

static int build_norm(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    (void)l, (void)c;
    return vg_layernorm(g, x, w, b, LAYERNORM_EPS);
}

static int build_identity(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    (void)l, (void)g, (void)w, (void)b, (void)c;
    return x;
}

/* An activation: the unary op of its kind. */
static int build_act(const vn_layer *l, vg_graph *g, int x, int w, int b, int c)
{
    (void)w, (void)b, (void)c;
    return vg_unary(g, vn_kinds[l->kind].op, x, l->slope, 0.0f);
}

/* ---- the table ------------------------------------------------------------------------ */

#define ACT(tok, op) {tok, 0, 0, 0, {0}, "", 0, op, shape_same, NULL, NULL, build_act}

const vn_kind_info vn_kinds[] = {
    [VN_DENSE] = {"dense", 1, 1, 1, {0}, "out", 0, 0, shape_dense, declare_dense, init_dense,
                  build_dense},
    [VN_CONV2D] = {"conv2d", 2, 4, 4, {0, 0, 1, 0}, "out,kernel,stride,padding", 1, 0, shape_conv,
                   declare_conv, init_conv, build_conv2d},
    [VN_CONVT2D] = {"convT2d", 2, 5, 4, {0, 0, 1, 0, 0}, "out,kernel,stride,padding,output_padding",
                    1, 0, shape_conv, declare_conv, init_conv, build_convt2d},
    [VN_FLATTEN] = {"flatten", 0, 0, 0, {0}, "", 0, 0, shape_flatten, NULL, NULL, build_reshape},
    [VN_RESHAPE] = {"reshape", 3, 3, 3, {0}, "c,h,w", 0, 0, shape_reshape, NULL, NULL,
                    build_reshape},
    [VN_LAYERNORM] = {"layernorm", 0, 0, 0, {0}, "", 0, 0, shape_same, declare_norm, init_norm,
                      build_norm},
    [VN_RELU] = ACT("relu", VG_OP_RELU),
    [VN_LEAKY_RELU] = {"leaky_relu", 0, 0, 0, {0}, "[slope]", 0, VG_OP_LEAKY_RELU, shape_same, NULL, NULL,
                       build_act},
    [VN_TANH] = ACT("tanh", VG_OP_TANH),
    [VN_SIGMOID] = ACT("sigmoid", VG_OP_SIGMOID),
    [VN_SOFTPLUS] = ACT("softplus", VG_OP_SOFTPLUS),
    [VN_IDENTITY] = {"identity", 0, 0, 0, {0}, "", 0, 0, shape_same, NULL, NULL, build_identity},
};

const int vn_kind_count = (int)(sizeof vn_kinds / sizeof vn_kinds[0]);
