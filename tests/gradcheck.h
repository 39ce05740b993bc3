/* Finite-difference gradient checks of graph ops, shared by the op suites
 * (test-graph.c, test-conv.c). White-box: uses the graph layer directly. */
#ifndef VAE_TEST_GRADCHECK_H
#define VAE_TEST_GRADCHECK_H

#include "graph/graph.h"
#include "tensor/rng.h"

/* A parameter leaf with its own value and gradient buffers (grad NULL: a
 * data leaf, not checked). */
typedef struct leaf {
    int node;
    float *val, *grad;
    int n;
} leaf;

/* A rows x cols leaf with values uniform in [lo, hi); grad != 0 gives it a
 * gradient buffer so check_grads checks it. */
leaf mk_leaf(vg_graph *g, int rows, int cols, vt_rng *r, float lo, float hi, int grad);
void free_leaf(leaf *l);

/* n values uniform in [lo, hi). */
void fill(vt_rng *r, float *v, size_t n, float lo, float hi);

/* sum_i w_i y_i in double: the scalar whose gradient is checked. */
double project(const vg_graph *g, int y, const float *w);

/* Backward pass seeded with dL/dy = w (a non-scalar output). */
void backward_from(vg_graph *g, int y, const float *w);

/* Every gradient leaf's analytic gradient of L = sum(w .* y), w uniform in
 * [-1, 1), against central differences with step h (the step actually taken
 * in float is used), to |fd - an| <= tol (1 + |fd|). */
void check_grads(vg_graph *g, int y, leaf *leaves, int n_leaves, vt_rng *r, double h,
                 double tol);

#endif
