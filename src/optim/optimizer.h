/* Internal view of vae_optimizer: the update rules over flat parameter and
 * gradient arrays, and their state for checkpoints. */
#ifndef VAE_OPTIM_OPTIMIZER_H
#define VAE_OPTIM_OPTIMIZER_H

#include <stddef.h>

#include "tensor/pool.h"
#include <stdint.h>

#include "io/ckpt.h"
#include "libvae/vae.h"

#define VOPT_MAX_GROUPS 8
#define VOPT_GROUP_NAME 16
#define VOPT_ALL_GROUPS 0xffffffffu

/* A parameter group: count parameters from offset in the flat vector. */
typedef struct vopt_group {
    char name[VOPT_GROUP_NAME];
    size_t offset, count;
} vopt_group;

struct vae_optimizer {
    vae_optimizer_config cfg;
    size_t n;           /* parameter count the state is bound to (0 = unbound) */
    uint64_t steps;
    float *m;           /* first moment / velocity / Adagrad sum (n floats, NULL until bound) */
    float *v;           /* Adam second moment (n floats) */
    /* Parameter groups (vopt_set_groups): contiguous slices of the flat
     * vector in order, each with its own count of the updates it received,
     * for Adam's bias correction and momentum's first step when groups are
     * updated apart (aggressive training: encoder alone, decoder alone). */
    int n_groups;       /* 1 ("all") once bound, until the model declares its groups */
    vopt_group group[VOPT_MAX_GROUPS];
    uint64_t group_steps[VOPT_MAX_GROUPS];
    /* Adam: bounds on the state (max |m|, max v) after the last update, so
     * that an update provably finite needs no separate scan (vopt_update). */
    int bounds_known;
    float m_absmax, v_max;
    /* Adam: a bound R with |m_i| <= R sqrt(v_i + VOPT_RATIO_SLACK) for every
     * i (ratio_known), so that the update-size guard needs no scan when
     * R bounds every element's step far below the guard's floor. */
    int ratio_known;
    double ratio;
    char errmsg[VAE_ERRMSG_LEN];
};

/* Size the state for n parameters (allocates once; a later call with a
 * different n fails with VAE_ERR_SHAPE). */
int vopt_bind(vae_optimizer *o, size_t n);

/* One update p <- p - step(g) over n parameters. Returns 0, or -1 when the
 * new parameters or state would not be finite (or n differs from the bound
 * size): then nothing is changed and the step count does not advance. The caller has checked
 * that g is finite and bound the optimizer. grad_norm is the global L2 norm
 * of g, used for clipping (cfg.clip_norm > 0 scales g by clip/norm when
 * norm > clip). Weight decay adds wd * p to g. Never allocates. */
int vopt_update(vae_optimizer *o, float *p, const float *g, size_t n, double grad_norm);

/* Declare the groups of a bound optimizer's parameters: k groups in order,
 * each starting where the previous ends, covering all n. Each continues
 * the step count of the group (of the previous layout, or of a loaded
 * file) that holds it; VAE_ERR_SHAPE (message in o->errmsg, nothing
 * changed) when groups updated apart do not fit the new layout. */
int vopt_set_groups(vae_optimizer *o, const vopt_group *g, int k);

/* One update of the groups selected by mask (bit i: group i) over a thread
 * team (NULL: the caller alone; the same bits either way). Each group uses
 * its own step count; steps counts all updates. grad_norm is the norm of g
 * over the selected groups. Returns 0, or -1 with nothing changed (like
 * vopt_update). vopt_update is this with every group. */
int vopt_update_groups_on(vae_optimizer *o, vt_pool *pool, float *p, const float *g, size_t n,
                          unsigned mask, double grad_norm);

/* 1 when the update vopt_update_groups_on would make is within the
 * divergence bound models apply before every step (issue 19): its length
 * ||delta||_2 at most ||p||_2 + 0.1 sqrt(size) over each slice it updates
 * (VOPT_MAX_UPDATE_RATIO in optimizer.c); 0 when it is longer, not finite,
 * or the arguments do not match the optimizer. Changes nothing. */
int vopt_groups_within_bound(const vae_optimizer *o, const float *p, const float *g, size_t n,
                             unsigned mask, double grad_norm);

/* The same over a thread team (NULL: the caller alone). The norms are
 * summed in fixed blocks added in order: the same answer at any team size. */
int vopt_groups_within_bound_on(const vae_optimizer *o, vt_pool *pool, const float *p,
                                const float *g, size_t n, unsigned mask, double grad_norm);

/* 1 when Adam's ratio bound (o->ratio) shows that the next update of a
 * slice whose step count is steps is within the bound above whatever the
 * gradient, so vopt_groups_within_bound answers 1 without its scan; 0 when
 * the scan must decide (another rule, a large learning rate, an unknown
 * bound). Exposed for the tests. */
int vopt_adam_provably_small(const vae_optimizer *o, uint64_t steps);

/* VAE_OK when o may be saved with a model of n parameters (o unbound, or
 * bound to n); else VAE_ERR_SHAPE, the status a training step gives, with
 * a message in msg. A save must not write a checkpoint load would refuse. */
int vopt_check_for_save(const vae_optimizer *o, size_t n, char *msg);

/* Append the optimizer's config and state as tensors named "optim.*". */
int vopt_save(const vae_optimizer *o, vio_writer *w, char *msg);

/* Create an optimizer from the "optim.*" tensors of f; *out = NULL and
 * VAE_OK when f has none. Validates every value like vae_optimizer_create. */
int vopt_load(const vio_file *f, vae_optimizer **out, char *msg);

/* vopt_load for a model of n_params parameters: a state of another size is
 * VAE_ERR_FORMAT, found from "optim.n" before anything is allocated (a tiny
 * file must not make us allocate a huge state). Shared by the model loaders. */
int vopt_load_for(const vio_file *f, size_t n_params, vae_optimizer **out, char *msg);

#endif
