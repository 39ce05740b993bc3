/* Networks as data: the layer-kind table, the text form, shape inference,
 * parameter declaration and initialisation, and graph building. */
#include "nn/net.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "libvae/vae.h"

/* Largest size, kernel, stride and padding a layer argument may have. */
#define VN_MAX_UNITS (1 << 24)
#define VN_MAX_KERNEL 256

/* ---- the layer kinds ------------------------------------------------------ */

typedef struct vn_kind_info {
    const char *token;              /* text-form name (matched without case) */
    int min_args, max_args;         /* integer arguments */
    int defaults[VN_MAX_ARGS];      /* for the optional ones */
    const char *arg_names;          /* for messages and docs */
    int op;                         /* activation: its graph op; else -1 */
    /* out from in; 0, or -1 with why filled (the shape cannot pass). */
    int (*shape)(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap);
} vn_kind_info;

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

static const vn_kind_info vn_kinds[VN_KIND_COUNT] = {
    [VN_DENSE] = {"dense", 1, 1, {0}, "out", -1, shape_dense},
    [VN_CONV2D] = {"conv2d", 2, 4, {0, 0, 1, 0}, "out,kernel,stride,padding", -1, shape_conv},
    [VN_CONVT2D] = {"convT2d", 2, 5, {0, 0, 1, 0, 0},
                    "out,kernel,stride,padding,output_padding", -1, shape_conv},
    [VN_FLATTEN] = {"flatten", 0, 0, {0}, "", -1, shape_flatten},
    [VN_RESHAPE] = {"reshape", 3, 3, {0}, "c,h,w", -1, shape_reshape},
    [VN_LAYERNORM] = {"layernorm", 0, 0, {0}, "", -1, shape_same},
    [VN_RELU] = {"relu", 0, 0, {0}, "", VG_OP_RELU, shape_same},
    [VN_LEAKY_RELU] = {"leaky_relu", 0, 0, {0}, "[slope]", VG_OP_LEAKY_RELU, shape_same},
    [VN_TANH] = {"tanh", 0, 0, {0}, "", VG_OP_TANH, shape_same},
    [VN_SIGMOID] = {"sigmoid", 0, 0, {0}, "", VG_OP_SIGMOID, shape_same},
    [VN_SOFTPLUS] = {"softplus", 0, 0, {0}, "", VG_OP_SOFTPLUS, shape_same},
    [VN_IDENTITY] = {"identity", 0, 0, {0}, "", -1, shape_same},
};

#define VN_DEFAULT_SLOPE 0.01f

double vn_shape_size(const int s[3]) { return (double)s[0] * s[1] * s[2]; }

int vn_activation_kind(int activation)
{
    switch (activation) {
    case VAE_ACT_LEAKY_RELU: return VN_LEAKY_RELU;
    case VAE_ACT_TANH: return VN_TANH;
    case VAE_ACT_SIGMOID: return VN_SIGMOID;
    case VAE_ACT_SOFTPLUS: return VN_SOFTPLUS;
    default: return VN_RELU;
    }
}

/* ---- building nets from code ------------------------------------------------ */

int vn_net_add(vn_net *net, int kind, const int *args, int n_args, float slope)
{
    if (net->n >= VN_MAX_LAYERS)
        return -1;
    vn_layer *l = &net->layer[net->n++];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    memcpy(l->arg, vn_kinds[kind].defaults, sizeof l->arg);
    for (int i = 0; i < n_args; i++)
        l->arg[i] = args[i];
    l->slope = slope;
    l->param = -1;
    return 0;
}

int vn_net_mlp(vn_net *net, const int *sizes, int n, int activation, float slope)
{
    int act = vn_activation_kind(activation);
    for (int k = 0; k < n; k++)
        if (vn_net_add(net, VN_DENSE, &sizes[k], 1, 0.0f) != 0 ||
            vn_net_add(net, act, NULL, 0, slope) != 0)
            return -1;
    return 0;
}

int vn_net_from(vn_net *net, const char *text, const char *what, const int *sizes, int n,
                int reverse, int out, int activation, float slope, char *msg)
{
    if (text)
        return vn_net_parse(net, text, what, msg);
    memset(net, 0, sizeof *net);
    int s[VN_MAX_LAYERS / 2];
    if (n > VN_MAX_LAYERS / 2 - 1)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: too many layers", what);
    for (int k = 0; k < n; k++)
        s[k] = reverse ? sizes[n - 1 - k] : sizes[k];
    if (vn_net_mlp(net, s, n, activation, slope) != 0 ||
        (out > 0 && vn_net_add(net, VN_DENSE, &out, 1, 0.0f) != 0))
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: too many layers", what);
    return VAE_OK;
}

/* ---- the text form ------------------------------------------------------------ */

/* The first len bytes of a equal the string b, ignoring ASCII case. */
static int same_word(const char *a, size_t len, const char *b)
{
    if (strlen(b) != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int find_kind(const char *name, size_t len)
{
    for (int k = 0; k < VN_KIND_COUNT; k++)
        if (same_word(name, len, vn_kinds[k].token))
            return k;
    /* Other spellings users reach for. */
    if (same_word(name, len, "linear"))
        return VN_DENSE;
    if (same_word(name, len, "leakyrelu"))
        return VN_LEAKY_RELU;
    if (same_word(name, len, "conv_transpose2d"))
        return VN_CONVT2D;
    return -1;
}

/* Parse "(a, b, ...)" at *s into numbers; advances *s. Count, or -1 on a syntax error. */
static int parse_args(const char **s, double *out, int cap)
{
    const char *p = *s + 1; /* past '(' */
    int n = 0;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == ')' && n == 0)
            break;
        if (n == cap)
            return -1;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno != 0 || !isfinite(v))
            return -1;
        out[n++] = v;
        p = end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ')')
            break;
        return -1;
    }
    *s = p + 1;
    return n;
}

static int check_int_arg(const vn_kind_info *k, int i, double v, int *out)
{
    int kernel_like = i > 0 && (k == &vn_kinds[VN_CONV2D] || k == &vn_kinds[VN_CONVT2D]);
    double lo = kernel_like && i >= 3 ? 0 : 1;
    double hi = kernel_like ? VN_MAX_KERNEL : VN_MAX_UNITS;
    if (v != floor(v) || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int vn_net_parse(vn_net *net, const char *text, const char *what, char *msg)
{
    memset(net, 0, sizeof *net);
    if (!text)
        return vae_fail(msg, VAE_ERR_NULL, "%s: no network text", what);
    if (strlen(text) > VN_MAX_TEXT)
        return vae_fail(msg, VAE_ERR_LIMIT, "%s: network text longer than %d characters", what,
                        VN_MAX_TEXT);
    const char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        int kind = find_kind(tok, (size_t)(p - tok));
        if (p == tok || kind < 0) {
            int len = 0;
            while (tok[len] && !isspace((unsigned char)tok[len]) && len < 40)
                len++;
            return vae_fail(msg, VAE_ERR_INVALID,
                            "%s: unknown layer '%.*s' at character %d (known: dense conv2d "
                            "convT2d flatten reshape layernorm relu leaky_relu tanh sigmoid "
                            "softplus identity)",
                            what, len, tok, (int)(tok - text) + 1);
        }
        const vn_kind_info *k = &vn_kinds[kind];
        double v[VN_MAX_ARGS + 1];
        int n = 0;
        const char *q = p; /* "conv2d (32, 4)" reads as "conv2d(32,4)" */
        while (isspace((unsigned char)*q))
            q++;
        if (*q == '(')
            p = q;
        if (*p == '(' && (n = parse_args(&p, v, VN_MAX_ARGS + 1)) < 0)
            return vae_fail(msg, VAE_ERR_INVALID,
                            "%s: layer %d '%s': cannot read its arguments (%s) at character %d",
                            what, net->n + 1, k->token, k->arg_names, (int)(tok - text) + 1);
        int ints[VN_MAX_ARGS] = {0};
        float slope = VN_DEFAULT_SLOPE;
        if (kind == VN_LEAKY_RELU && n <= 1) {
            if (n == 1)
                slope = (float)v[0];
        } else if (n < k->min_args || n > k->max_args) {
            return vae_fail(msg, VAE_ERR_INVALID, "%s: layer %d '%s' takes %s%s%s, not %d "
                            "argument%s", what, net->n + 1, k->token,
                            k->max_args ? "(" : "no arguments", k->arg_names,
                            k->max_args ? ")" : "", n, n == 1 ? "" : "s");
        } else {
            for (int i = 0; i < n; i++)
                if (check_int_arg(k, i, v[i], &ints[i]) != 0)
                    return vae_fail(msg, VAE_ERR_INVALID,
                                    "%s: layer %d '%s': argument %d = %g is out of range "
                                    "(%s)", what, net->n + 1, k->token, i + 1, v[i],
                                    k->arg_names);
        }
        if (*p && !isspace((unsigned char)*p))
            return vae_fail(msg, VAE_ERR_INVALID,
                            "%s: layer %d '%s': unexpected '%c' at character %d (layers are "
                            "separated by spaces)", what, net->n + 1, k->token, *p,
                            (int)(p - text) + 1);
        if (vn_net_add(net, kind, ints, n, slope) != 0)
            return vae_fail(msg, VAE_ERR_LIMIT, "%s: more than %d layers", what, VN_MAX_LAYERS);
    }
    return VAE_OK;
}

/* One layer's canonical token. */
static int format_layer(const vn_layer *l, char *buf, size_t cap)
{
    const vn_kind_info *k = &vn_kinds[l->kind];
    const int *a = l->arg;
    switch (l->kind) {
    case VN_DENSE: return snprintf(buf, cap, "dense(%d)", a[0]);
    case VN_CONV2D: return snprintf(buf, cap, "conv2d(%d,%d,%d,%d)", a[0], a[1], a[2], a[3]);
    case VN_CONVT2D:
        return a[4] ? snprintf(buf, cap, "convT2d(%d,%d,%d,%d,%d)", a[0], a[1], a[2], a[3], a[4])
                    : snprintf(buf, cap, "convT2d(%d,%d,%d,%d)", a[0], a[1], a[2], a[3]);
    case VN_RESHAPE: return snprintf(buf, cap, "reshape(%d,%d,%d)", a[0], a[1], a[2]);
    case VN_LEAKY_RELU:
        return l->slope == VN_DEFAULT_SLOPE ? snprintf(buf, cap, "leaky_relu")
                                            : snprintf(buf, cap, "leaky_relu(%.9g)",
                                                       (double)l->slope);
    default: return snprintf(buf, cap, "%s", k->token);
    }
}

int vn_net_format(const vn_net *net, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return -1;
    buf[0] = '\0';
    for (int i = 0; i < net->n; i++) {
        if (i > 0) {
            if (used + 1 >= cap)
                return -1;
            buf[used++] = ' ';
            buf[used] = '\0';
        }
        int w = format_layer(&net->layer[i], buf + used, cap - used);
        if (w < 0 || (size_t)w >= cap - used)
            return -1;
        used += (size_t)w;
    }
    return 0;
}

/* ---- parameters --------------------------------------------------------------- */

/* Declare layer l's parameters named "<name>.W", "<name>.b" (or gamma, beta). */
static int declare_layer(vn_layer *l, vn_params *P, const char *name, int cond_dim)
{
    char full[VN_NAME_LEN + 16];
    const int *a = l->arg;
    switch (l->kind) {
    case VN_DENSE:
        l->param = vn_dense_declare(P, name, (int)vn_shape_size(l->in) + cond_dim, a[0]);
        return l->param;
    case VN_CONV2D: /* W [Cout, Cin k k] (PyTorch's [Cout, Cin, k, k]) */
    case VN_CONVT2D: { /* W [Cin, Cout k k] (PyTorch's [Cin, Cout, k, k]) */
        int conv = l->kind == VN_CONV2D;
        snprintf(full, sizeof full, "%s.W", name);
        l->param = vn_params_add(P, full, conv ? a[0] : l->in[0],
                                 (conv ? l->in[0] : a[0]) * a[1] * a[1]);
        snprintf(full, sizeof full, "%s.b", name);
        return l->param < 0 || vn_params_add(P, full, 1, a[0]) < 0 ? -1 : l->param;
    }
    case VN_LAYERNORM:
        snprintf(full, sizeof full, "%s.gamma", name);
        l->param = vn_params_add(P, full, 1, l->in[0]);
        snprintf(full, sizeof full, "%s.beta", name);
        return l->param < 0 || vn_params_add(P, full, 1, l->in[0]) < 0 ? -1 : l->param;
    default:
        l->param = -1;
        return 0;
    }
}

static int has_params(int kind)
{
    return kind == VN_DENSE || kind == VN_CONV2D || kind == VN_CONVT2D || kind == VN_LAYERNORM;
}

int vn_net_declare(vn_net *net, vn_params *P, const char *prefix, const char *last_name,
                   const int in[3], int cond_dim, const char *what, char *msg)
{
    int last = -1, k = 0;
    for (int i = 0; i < net->n; i++)
        if (has_params(net->layer[i].kind))
            last = i;
    memcpy(net->in, in, sizeof net->in);
    net->cond_dim = cond_dim;
    net->cond_used = 0;
    int shape[3] = {in[0], in[1], in[2]};
    for (int i = 0; i < net->n; i++) {
        vn_layer *l = &net->layer[i];
        memcpy(l->in, shape, sizeof shape);
        char why[160] = "", tok[64];
        format_layer(l, tok, sizeof tok);
        if (vn_kinds[l->kind].shape(l, shape, l->out, why, sizeof why) != 0)
            return vae_fail(msg, VAE_ERR_INVALID, "%s layer %d '%s': input %dx%dx%d: %s", what,
                            i + 1, tok, shape[0], shape[1], shape[2], why);
        if (vn_shape_size(l->out) > 2147483647.0 / 4)
            return vae_fail(msg, VAE_ERR_LIMIT, "%s layer %d '%s': output %dx%dx%d is too large",
                            what, i + 1, tok, l->out[0], l->out[1], l->out[2]);
        l->cond = l->kind == VN_DENSE && cond_dim > 0 && !net->cond_used;
        net->cond_used |= l->cond;
        char name[VN_NAME_LEN];
        if (i == last && last_name)
            snprintf(name, sizeof name, "%s.%s", prefix, last_name);
        else
            snprintf(name, sizeof name, "%s.%d", prefix, k);
        if (has_params(l->kind))
            k++;
        if (declare_layer(l, P, name, l->cond ? cond_dim : 0) < 0)
            return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring %s layer %d", what,
                            i + 1);
        memcpy(shape, l->out, sizeof shape);
    }
    memcpy(net->out, shape, sizeof net->out);
    return VAE_OK;
}

/* U(-bound, bound) for n floats at v. */
static void fill_uniform(float *v, size_t n, float bound, vt_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((2.0 * vt_rng_uniform(rng) - 1.0) * bound);
}

void vn_net_init(const vn_net *net, vn_params *P, vt_rng *rng)
{
    for (int i = 0; i < net->n; i++) {
        const vn_layer *l = &net->layer[i];
        if (l->kind == VN_DENSE) {
            vn_dense_init(P, l->param, rng);
        } else if (l->kind == VN_CONV2D || l->kind == VN_CONVT2D) {
            /* fan_in = W's columns: Cin k k for conv2d, Cout k k for convT2d (PyTorch). */
            const vn_param *w = &P->p[l->param];
            float bound = 1.0f / sqrtf((float)w->cols);
            fill_uniform(vn_val(P, l->param), (size_t)w->rows * w->cols, bound, rng);
            fill_uniform(vn_val(P, l->param + 1), (size_t)P->p[l->param + 1].cols, bound, rng);
        } else if (l->kind == VN_LAYERNORM) {
            float *gamma = vn_val(P, l->param), *beta = vn_val(P, l->param + 1);
            for (int c = 0; c < l->in[0]; c++)
                gamma[c] = 1.0f, beta[c] = 0.0f;
        }
    }
}

/* ---- building ------------------------------------------------------------------ */

#define LAYERNORM_EPS 1e-5f

static int build_layer(const vn_layer *l, vg_graph *g, const vn_params *P, int x, int c,
                       int train)
{
    const int *a = l->arg;
    int op = vn_kinds[l->kind].op;
    if (op >= 0)
        return vg_unary(g, op, x, l->slope, 0.0f);
    int w = -1, b = -1;
    if (l->param >= 0) {
        w = vn_param_node(g, P, l->param, train);
        b = w < 0 ? -1 : vn_param_node(g, P, l->param + 1, train);
        if (b < 0)
            return -1;
    }
    switch (l->kind) {
    case VN_DENSE:
        if (l->cond)
            x = vg_concat(g, x, c); /* [h, c] */
        return x < 0 ? -1 : vg_dense(g, x, w, b);
    case VN_CONV2D: return vg_conv2d(g, x, w, b, a[0], a[1], a[2], a[3]);
    case VN_CONVT2D: return vg_convt2d(g, x, w, b, a[0], a[1], a[2], a[3], a[4]);
    case VN_FLATTEN: return vg_reshape(g, x, l->out[0], 1, 1);
    case VN_RESHAPE: return vg_reshape(g, x, a[0], a[1], a[2]);
    case VN_LAYERNORM: return vg_layernorm(g, x, w, b, LAYERNORM_EPS);
    default: return x; /* identity */
    }
}

int vn_net_build(const vn_net *net, vg_graph *g, const vn_params *P, int x, int c, int train)
{
    for (int i = 0; i < net->n && x >= 0; i++)
        x = build_layer(&net->layer[i], g, P, x, c, train);
    return x;
}
