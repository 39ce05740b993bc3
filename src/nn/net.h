/* Networks as data: an ordered list of layer specs, its text form, and the
 * three things a model does with one: declare its parameters (with shape
 * inference, so a mismatch names the layer), initialise them, and build the
 * network into a graph.
 *
 * One table (vn_kinds in nn/net.c) describes every layer kind: its text
 * token, its arguments, its shape rule, its parameters, their init and its
 * graph op. Adding a layer kind is its op in the graph layer plus one entry
 * there (see docs/design.md, "Adding a layer").
 *
 * Text form (docs/networks.md has the grammar):
 *   conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu
 */
#ifndef VAE_NN_NET_H
#define VAE_NN_NET_H

#include <stddef.h>

#include "graph/graph.h"
#include "nn/params.h"
#include "tensor/rng.h"

/* The layer kinds that code refers to by name (nn/layers.c's table may hold
 * more: a new kind is just an entry appended there). */
enum vn_kind {
    VN_DENSE = 0,   /* dense(out): y = x W + b, x flattened */
    VN_CONV2D,      /* conv2d(out, kernel[, stride[, padding]]) */
    VN_CONVT2D,     /* convT2d(out, kernel[, stride[, padding[, output_padding]]]) */
    VN_FLATTEN,     /* flatten: (C, H, W) -> (C*H*W, 1, 1) */
    VN_RESHAPE,     /* reshape(c, h, w) */
    VN_LAYERNORM,   /* layernorm: per example over all features, gamma/beta per channel */
    VN_RELU,        /* activations, one layer each */
    VN_LEAKY_RELU,  /* leaky_relu[(slope)], slope 0.01 by default */
    VN_TANH,
    VN_SIGMOID,
    VN_SOFTPLUS,
    VN_IDENTITY
};

#define VN_MAX_LAYERS 64
#define VN_MAX_ARGS 5
/* Longest text form of a network the library formats or accepts. */
#define VN_MAX_TEXT 4096

typedef struct vn_layer {
    int kind;               /* enum vn_kind */
    int arg[VN_MAX_ARGS];   /* integer arguments, defaults filled in */
    float slope;            /* leaky_relu's slope */
    /* Filled by vn_net_declare: */
    int in[3], out[3];      /* sample shapes (C, H, W) before and after */
    int param;              /* index of the layer's first parameter, or -1 */
    int cond;               /* 1: this layer reads [h, c] (the first dense layer of a conditional net) */
} vn_layer;

typedef struct vn_net {
    int n;
    vn_layer layer[VN_MAX_LAYERS];
    /* Filled by vn_net_declare: */
    int in[3], out[3];      /* input and output sample shapes */
    int cond_dim;           /* condition features joined at the first dense layer (0: none) */
    int cond_used;          /* 1 when a layer of the net takes the condition */
} vn_net;

/* Parse the text form into *net. VAE_OK, or VAE_ERR_INVALID with msg naming
 * the offending token and its position. `what` ("encoder", ...) prefixes
 * messages. */
int vn_net_parse(vn_net *net, const char *text, const char *what, char *msg);

/* The canonical text form of net into buf (cap bytes). 0, or -1 if it does not fit. */
int vn_net_format(const vn_net *net, char *buf, size_t cap);

/* Append a layer; 0, or -1 when the net is full. */
int vn_net_add(vn_net *net, int kind, const int *args, int n_args, float slope);

/* The kind of an activation layer for an enum vae_activation. */
int vn_activation_kind(int activation);

/* A multilayer perceptron as a net: dense(sizes[k]) act, for k < n. */
int vn_net_mlp(vn_net *net, const int *sizes, int n, int activation, float slope);

/* The net of a text form, or (text NULL) the MLP shorthand: dense(sizes[k])
 * and the activation for k < n (sizes reversed when `reverse`), then
 * dense(out) when out > 0. VAE_OK or an error with msg. */
int vn_net_from(vn_net *net, const char *text, const char *what, const int *sizes, int n,
                int reverse, int out, int activation, float slope, char *msg);

/* Infer every layer's shapes from `in` (C, H, W), join cond_dim condition
 * features at the first dense layer, and declare the parameters in P named
 * "<prefix>.<k>.W" etc. (k counts layers with parameters). When last_name is
 * given, the net's last layer with parameters is named "<prefix>.<last_name>"
 * instead. VAE_OK; VAE_ERR_INVALID naming the layer ("decoder layer 7
 * 'reshape(64,7,7)': ...") when shapes do not fit; VAE_ERR_LIMIT for sizes
 * past 2^31; VAE_ERR_NOMEM. */
int vn_net_declare(vn_net *net, vn_params *P, const char *prefix, const char *last_name,
                   const int in[3], int cond_dim, const char *what, char *msg);

/* Initialise the net's parameters from rng in layer order (PyTorch defaults:
 * dense and convolutions U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
 * biases; layer norm gamma 1, beta 0). */
void vn_net_init(const vn_net *net, vn_params *P, vt_rng *rng);

/* Add the net on top of node x (shaped as net->in); c is the condition node
 * when net->cond_used, else ignored. Returns the last node (x itself for an
 * empty net) or -1 (out of memory). */
int vn_net_build(const vn_net *net, vg_graph *g, const vn_params *P, int x, int c, int train);

/* Elements of a shape, as a double (no overflow). */
double vn_shape_size(const int s[3]);

#endif
