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
#include "nn/layers.h"
#include "libvae/vae.h"

/* Largest size, kernel, stride and padding a layer argument may have. */
#define VN_MAX_UNITS (1 << 24)
#define VN_MAX_KERNEL 256

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
    for (int k = 0; k < vn_kind_count; k++)
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
    int kernel_like = i > 0 && k->kernel_args;
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

/* One layer's canonical token: the arguments always shown, then optional
 * ones that differ from their defaults. */
static int format_layer(const vn_layer *l, char *buf, size_t cap)
{
    const vn_kind_info *k = &vn_kinds[l->kind];
    if (l->kind == VN_LEAKY_RELU)
        return l->slope == VN_DEFAULT_SLOPE ? snprintf(buf, cap, "leaky_relu")
                                            : snprintf(buf, cap, "leaky_relu(%.9g)",
                                                       (double)l->slope);
    int n = k->shown_args;
    for (int i = n; i < k->max_args; i++)
        if (l->arg[i] != k->defaults[i])
            n = i + 1;
    if (n == 0)
        return snprintf(buf, cap, "%s", k->token);
    char args[VN_MAX_ARGS * 12 + 2] = "";
    for (int i = 0, used = 0; i < n; i++)
        used += snprintf(args + used, sizeof args - (size_t)used, "%s%d", i ? "," : "(",
                         l->arg[i]);
    return snprintf(buf, cap, "%s%s)", k->token, args);
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

int vn_net_declare(vn_net *net, vn_params *P, const char *prefix, const char *last_name,
                   const int in[3], int cond_dim, const char *what, char *msg)
{
    int last = -1, k = 0;
    for (int i = 0; i < net->n; i++)
        if (vn_kinds[net->layer[i].kind].declare)
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
        l->param = -1;
        if (vn_kinds[l->kind].declare) {
            k++;
            l->param = vn_kinds[l->kind].declare(l, P, name, l->cond ? cond_dim : 0);
            if (l->param < 0)
                return vae_fail(msg, VAE_ERR_NOMEM, "out of memory declaring %s layer %d", what,
                                i + 1);
        }
        memcpy(shape, l->out, sizeof shape);
    }
    memcpy(net->out, shape, sizeof net->out);
    return VAE_OK;
}

void vn_net_init(const vn_net *net, vn_params *P, vt_rng *rng)
{
    for (int i = 0; i < net->n; i++)
        if (vn_kinds[net->layer[i].kind].init)
            vn_kinds[net->layer[i].kind].init(&net->layer[i], P, rng);
}

int vn_net_build(const vn_net *net, vg_graph *g, const vn_params *P, int x, int c, int train)
{
    for (int i = 0; i < net->n && x >= 0; i++) {
        const vn_layer *l = &net->layer[i];
        int w = -1, b = -1;
        if (l->param >= 0) {
            w = vn_param_node(g, P, l->param, train);
            b = w < 0 ? -1 : vn_param_node(g, P, l->param + 1, train);
            if (b < 0)
                return -1;
        }
        x = vn_kinds[l->kind].build(l, g, x, w, b, c);
    }
    return x;
}
