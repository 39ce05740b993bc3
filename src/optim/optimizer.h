/* Internal view of vae_optimizer: the update rules over flat parameter and
 * gradient arrays, and their state for checkpoints. */
#ifndef VAE_OPTIM_OPTIMIZER_H
#define VAE_OPTIM_OPTIMIZER_H

#include <stddef.h>

#include "tensor/pool.h"
#include <stdint.h>

#include "io/ckpt.h"
#include "libvae/vae.h"

struct vae_optimizer {
    vae_optimizer_config cfg;
    size_t n;           /* parameter count the state is bound to (0 = unbound) */
    uint64_t steps;
    float *m;           /* first moment / velocity / Adagrad sum (n floats, NULL until bound) */
    float *v;           /* Adam second moment (n floats) */
    size_t split;       /* partial updates: parts [0, split) and [split, n); 0 = none yet */
    uint64_t part_steps[2]; /* updates of only the lower / only the upper part (in steps) */
    /* Adam: bounds on the state (max |m|, max v) after the last update, so
     * that an update provably finite needs no separate scan (vopt_update). */
    int bounds_known;
    float m_absmax, v_max;
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

/* Like vopt_update for the slice [lo, hi) only: a prefix [0, split) or a
 * suffix [split, n) (aggressive training updates encoder or decoder alone).
 * Each part keeps its own step count for Adam's bias correction and
 * momentum's first step: part_steps counts the updates that touched only
 * one part; steps counts all updates. grad_norm is the norm of g over the
 * slice. Every partial update must use the same split (else -1). */
int vopt_update_range(vae_optimizer *o, float *p, const float *g, size_t n, size_t lo, size_t hi,
                      double grad_norm);

/* vopt_update_range with the element-wise update split over a thread team
 * (NULL: the caller alone); the results are the same bits either way. */
int vopt_update_range_on(vae_optimizer *o, vt_pool *pool, float *p, const float *g, size_t n,
                         size_t lo, size_t hi, double grad_norm);

/* 1 when the update vopt_update_range would make of [lo, hi) is within the
 * divergence bound models apply before every step (issue 19): its length
 * ||delta||_2 at most ||p||_2 + 0.1 sqrt(hi - lo) over each slice
 * (VOPT_MAX_UPDATE_RATIO in optimizer.c); 0 when it is longer, not finite,
 * or the arguments do not match the optimizer. Changes nothing. */
int vopt_update_within_bound(const vae_optimizer *o, const float *p, const float *g, size_t n,
                             size_t lo, size_t hi, double grad_norm);

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
