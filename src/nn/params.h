/* Parameters: a registry of named parameter matrices laid out in one flat
 * buffer (so optimizers, checkpoints and gradient checks see one array), and
 * the dense layer that the latent heads use directly. Networks of layers are
 * nn/net.h. */
#ifndef VAE_NN_PARAMS_H
#define VAE_NN_PARAMS_H

#include <stddef.h>

#include "graph/graph.h"
#include "tensor/rng.h"

#define VN_NAME_LEN 48

typedef struct vn_param {
    char name[VN_NAME_LEN];   /* e.g. "enc.0.W" */
    int rows, cols;
    size_t offset;            /* into vn_params.val / .grad */
} vn_param;

typedef struct vn_params {
    vn_param *p;
    int n, cap;
    size_t total;             /* floats in all parameters */
    float *val;               /* total floats (after vn_params_alloc) */
    float *grad;              /* total floats */
} vn_params;

/* Declare a rows x cols parameter; returns its index or -1 (no memory). */
int vn_params_add(vn_params *P, const char *name, int rows, int cols);

/* Allocate val and grad (zeroed) for everything declared. 0 or -1. */
int vn_params_alloc(vn_params *P);

void vn_params_free(vn_params *P);

/* Value / gradient pointer of parameter i. */
float *vn_val(const vn_params *P, int i);
float *vn_grad(const vn_params *P, int i);

/* A graph node viewing parameter i (with its gradient when `train`). */
int vn_param_node(vg_graph *g, const vn_params *P, int i, int train);

/* A dense layer: parameters "<prefix>.W" [in, out] and "<prefix>.b" [1, out].
 * Returns the index of W (b is W + 1) or -1. */
int vn_dense_declare(vn_params *P, const char *prefix, int in, int out);

/* Fill a dense layer with PyTorch nn.Linear's default init:
 * W, b ~ U(-1/sqrt(in), 1/sqrt(in)). */
void vn_dense_init(vn_params *P, int w, vt_rng *rng);

/* y = x W + b in graph g; returns the node or -1. */
int vn_dense(vg_graph *g, const vn_params *P, int w, int x, int train);

#endif
