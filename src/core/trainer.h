/* The training core: what every model family shares, written once.
 *
 * A family (the Gaussian VAE, the VQ-VAE, ...) embeds a vc_core in its
 * handle and describes itself with a vc_family: how one batch is trained
 * (a vc_step), how evaluation treats a chunk of rows, how per-batch figures
 * become its statistics, and its checkpoint section (core/checkpoint.h).
 * The core owns the rest: the epoch order and batch buffers, gathering x
 * and the conditions, divergence handling and its messages, the statistic
 * sums, progress and cancellation, the evaluation loop and its stream, the
 * optimizer's parameter groups and the checked update. docs/design.md,
 * "The training core" and "Adding a family".
 */
#ifndef VAE_CORE_TRAINER_H
#define VAE_CORE_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "libvae/vae.h"
#include "nn/params.h"
#include "optim/optimizer.h"
#include "tensor/pool.h"
#include "tensor/rng.h"

/* Random stream ids of every family (vt_rng_seed(seed, id)): training
 * (initialisation, noise, shuffles, binarisation) and evaluation (reset at
 * every evaluating call, so evaluating never disturbs training). */
#define VC_STREAM_TRAIN 1u
#define VC_STREAM_EVAL 2u

/* The largest batch an evaluation runs at once. */
#define VC_CHUNK 1024

/* Figures a step reports per batch (batch means, summed weighted by rows). */
#define VC_MAX_FIGURES 4

/* Sums over an epoch or evaluation: sum[i] = sum over batches of
 * figure i times the batch's rows (evaluation: per-example values), n rows. */
typedef struct vc_sums {
    double sum[VC_MAX_FIGURES];
    size_t n;
} vc_sums;

/* Examples whose figure was not finite (a diverged model): the first one's
 * index and how many, for the message (issue 19). */
typedef struct vc_bad_rows {
    size_t first, count;
} vc_bad_rows;

/* One batch of an epoch as a step sees it. */
typedef struct vc_batch {
    const float *x, *c;        /* n rows (c: their conditions, NULL without) */
    size_t n;
    size_t index, n_batches;   /* its place in the epoch */
    size_t size;               /* the epoch's batch size */
    const vae_dataset *ds;
    const size_t *order;       /* the epoch order: batch b is order[b * size ...] */
    float *spare_x, *spare_c;  /* room for `size` more rows (steps with spare) */
} vc_batch;

/* A per-batch training step: compute loss and gradients, apply them with
 * the optimizer, write the batch's figures (VC_MAX_FIGURES doubles, zeroed).
 * VAE_OK or a status with self's message. */
typedef struct vc_step {
    const char *label;         /* after "batch b of B" in messages: "" or " (aggressive)" */
    int spare;                 /* 1: the step gathers batches of its own (vc_batch.spare_*) */
    int (*run)(void *self, vae_optimizer *opt, const vc_batch *b, double *figures);
} vc_step;

struct vc_family;

typedef struct vc_core {
    const struct vc_family *fam;
    void *self;                /* the family's handle, passed to its functions */
    vn_params *P;              /* its flat parameters and gradient */
    vt_pool **pool;            /* its thread team (the pointer changes with set_threads) */
    vt_rng *rng;               /* its training stream */
    char *errmsg;              /* its message buffer (VAE_ERRMSG_LEN) */
    uint64_t seed;
    size_t input_dim, cond_dim;

    vopt_group group[VOPT_MAX_GROUPS]; /* the parameter groups, in order, covering P */
    int n_groups;

    size_t *perm;              /* epoch order (capacity perm_cap) */
    size_t perm_cap;
    float *x, *c;              /* gathered rows and conditions (capacities in floats) */
    size_t x_cap, c_cap;
} vc_core;

/* Tie a core to its handle's fields (P declared) and declare the family's
 * parameter groups (vc_add_groups with fam's names and prefixes); no
 * buffers yet. 0, or -1 when the groups do not cover P in order. */
int vc_init(vc_core *k, const struct vc_family *fam, void *self, vn_params *P, vt_pool **pool,
            vt_rng *rng, char *errmsg, uint64_t seed, size_t input_dim, size_t cond_dim);
/* Free the buffers (not the handle's fields). */
void vc_release(vc_core *k);

/* Append a parameter group [offset, offset + count); groups are declared in
 * order and cover the parameters. Returns the group's index, or -1. */
int vc_add_group(vc_core *k, const char *name, size_t offset, size_t count);
/* Declare n groups in order, group i (names[i]) starting at the first
 * parameter whose name begins with prefixes[i]; a group with no such
 * parameter is left out (it must be the last: indices stay fixed). Each
 * ends where the next begins. 0, or -1 when they do not cover P in order. */
int vc_add_groups(vc_core *k, const char *const *names, const char *const *prefixes, int n);
/* The index of the group holding parameter offset off. */
int vc_group_of(const vc_core *k, size_t off);

/* Bind opt to the parameters and their groups: VAE_OK, or the optimizer's
 * status with "optimizer: ..." in the handle's message. */
int vc_bind(vc_core *k, vae_optimizer *opt);
/* VAE_ERR_DIVERGED with its message when a step's loss is not finite. */
int vc_check_loss(vc_core *k, const vae_optimizer *opt, double loss);
/* One checked optimizer step with P.grad on the groups in mask (bit i:
 * group i; VOPT_ALL_GROUPS: all, norm2 being the whole gradient's squared
 * norm; otherwise norm2 is recomputed over the selected groups). Refuses
 * with VAE_ERR_DIVERGED, nothing changed, a gradient that is not finite,
 * an update longer than the divergence bound or one that would overflow. */
int vc_apply(vc_core *k, vae_optimizer *opt, unsigned mask, double norm2);

/* Gather rows idx of ds (converted, binarised from rng) into x and, when
 * the core has conditions, their conditions into c. */
void vc_gather(vc_core *k, const vae_dataset *ds, const size_t *idx, size_t n, float *x, float *c,
               vt_rng *rng);

/* One epoch: shuffle (training stream), then for every batch gather, run
 * the step, sum its figures, report progress (a nonzero return cancels).
 * batch is capped at the dataset and the family's max_train_batch. The
 * statistics go to out (the family's type, via finish) when not NULL. */
int vc_train_epoch(vc_core *k, const vc_step *step, vae_optimizer *opt, const vae_dataset *ds,
                   size_t batch, vae_progress_fn progress, void *user, void *out);

/* Evaluate every row of ds in order, in chunks of min(batch, VC_CHUNK),
 * with the evaluation stream reset; VAE_ERR_NONFINITE (vc_bad_rows_fail)
 * when some example's figure is not finite, else statistics into out. */
int vc_evaluate(vc_core *k, const vae_dataset *ds, size_t batch, void *out);

/* The message of an evaluation of a diverged model: who, what figure
 * (quantity: "ELBO", "loss"), how many of n and the first. */
int vc_bad_rows_fail(char *msg, const char *who, const char *quantity, size_t first,
                     size_t count, size_t n);
/* Count example `index` in bad when its figure is not finite. */
static inline void vc_note_row(vc_bad_rows *bad, size_t index, int finite)
{
    if (!finite && bad->count++ == 0)
        bad->first = index;
}

/* A model family: its piece of the core's loops. The checkpoint section
 * is core/checkpoint.h's vc_format, also part of the family. */
typedef struct vc_family {
    const char *quantity;      /* what evaluation checks per example, for messages */
    /* Its parameter groups, in flat-vector order: group i holds the
     * parameters from the first whose name starts with group_prefixes[i]. */
    const char *const *group_names;
    const char *const *group_prefixes;
    int n_groups;
    size_t max_train_batch;    /* the largest training batch (0: any) */
    /* An epoch or evaluation begins (NULL: nothing to reset). */
    void (*begin)(void *self);
    /* Evaluate n rows (row 0 is example `first`) with noise from rng: add
     * to the sums (per-example values), note non-finite rows in bad. */
    int (*eval)(void *self, const float *x, const float *c, size_t n, vt_rng *rng, size_t first,
                vc_sums *s, vc_bad_rows *bad);
    /* The running figure given to the progress callback. */
    double (*progress)(const vc_sums *s);
    /* The statistics of an epoch (training 1) or evaluation (0) into out. */
    void (*finish)(void *self, const vc_sums *s, int training, void *out);
} vc_family;

#endif
