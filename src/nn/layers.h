/* The layer kinds: one table entry per kind (nn/layers.c) holds everything
 * the rest of nn needs to know about it: its text token and arguments, its
 * shape rule, its parameters, their initialisation and its graph op. */
#ifndef VAE_NN_LAYERS_H
#define VAE_NN_LAYERS_H

#include "nn/net.h"

typedef struct vn_kind_info {
    const char *token;              /* text-form name (matched without case) */
    int min_args, max_args;         /* integer arguments (leaky_relu: one optional float) */
    int shown_args;                 /* arguments the canonical text always shows */
    int defaults[VN_MAX_ARGS];      /* of the optional arguments */
    const char *arg_names;          /* for messages and docs */
    int kernel_args;                /* arguments from index 1 on are kernel/stride/padding */
    int op;                         /* an activation's unary graph op (build_act) */
    /* out from in; 0, or -1 with why (cap bytes) saying what does not fit. */
    int (*shape)(const vn_layer *l, const int in[3], int out[3], char *why, size_t cap);
    /* Declare the parameters named "<name>.*" (l->in is set; cond extra input
     * features for the layer that takes the condition); the first index or
     * -1 (no memory). NULL: the kind has no parameters. */
    int (*declare)(const vn_layer *l, vn_params *P, const char *name, int cond);
    /* Initialise them from rng (NULL: nothing to draw). */
    void (*init)(const vn_layer *l, vn_params *P, vt_rng *rng);
    /* The layer's nodes on x (w, b: its parameter nodes or -1; c: the
     * condition node when l->cond). The output node or -1. */
    int (*build)(const vn_layer *l, vg_graph *g, int x, int w, int b, int c);
} vn_kind_info;

/* The table, indexed by kind; its length is vn_kind_count (enum vn_kind
 * names only the kinds other code refers to; a new kind may just be appended). */
extern const vn_kind_info vn_kinds[];
extern const int vn_kind_count;

/* leaky_relu's slope when the text gives none. */
#define VN_DEFAULT_SLOPE 0.01f

#endif
