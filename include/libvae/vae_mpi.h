/*
 * libvae_mpi — data-parallel training of libvae models over MPI.
 *
 * A companion library: `#include <libvae/vae_mpi.h>`, link with
 * `pkg-config --libs vae-mpi` (which pulls in libvae and MPI). It uses only
 * libvae's public API; the core library stays free of MPI.
 *
 * How a step works (vae_mpi_train_step): every rank computes the gradient of
 * its shard of the global minibatch with noise keyed by (seed, step, global
 * row index) (vae_model_compute_gradients_keyed), scales it by its share of
 * the rows, and ONE MPI_Allreduce over a single fused buffer (the gradient,
 * the batch statistics and a failure flag) sums the shares; every rank then
 * applies the same optimizer step to the same averaged gradient, so the
 * replicas stay identical. See docs/distributed.md for the determinism
 * guarantee.
 *
 * Conventions are libvae's (docs/design.md): int status codes (enum
 * vae_status), a per-handle message (vae_mpi_errmsg), free(NULL) is a no-op.
 * Every call marked "collective" must be made by every rank of the
 * communicator in the same order with the same global arguments; when any
 * rank fails, every rank returns an error (no rank is left waiting), and the
 * failing rank's message names it. An MPI error gives VAE_ERR_IO.
 * Thread rule: one vae_mpi handle, one thread at a time.
 */
#ifndef LIBVAE_VAE_MPI_H
#define LIBVAE_VAE_MPI_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include <libvae/vae.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A communicator (duplicated from the caller's) and the exchange buffers. */
typedef struct vae_mpi vae_mpi;

/** Where the reparameterisation noise of a distributed step comes from. */
enum vae_mpi_noise {
    /** Keyed by (model seed, step, global row index): the default. The run
     *  does not depend on the number of ranks (up to float rounding). */
    VAE_MPI_NOISE_KEYED = 0,
    /** Each rank's own training stream, (seed, rank) after vae_mpi_sync_model:
     *  reproducible for a fixed number of ranks only. */
    VAE_MPI_NOISE_RANK_STREAM = 1
};

/** The key under which vae_mpi_evaluate draws its noise and binarisation. */
#define VAE_MPI_EVAL_KEY UINT64_MAX

/**
 * Create a context on a duplicate of `comm` (errors on it return instead of
 * aborting). Collective over comm. MPI must be initialised.
 * @param err may be NULL.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (MPI not initialised),
 *         VAE_ERR_IO (an MPI call failed), VAE_ERR_NOMEM.
 * @since 0.3.0
 */
VAE_API int vae_mpi_create(MPI_Comm comm, vae_mpi **out, vae_error *err);

/** Free a context (not collective; frees the duplicated communicator). NULL is a no-op. @since 0.3.0 */
VAE_API void vae_mpi_free(vae_mpi *ctx);

/** This process's rank in the context's communicator (-1 for NULL). @since 0.3.0 */
VAE_API int vae_mpi_rank(const vae_mpi *ctx);

/** Number of ranks (0 for NULL). @since 0.3.0 */
VAE_API int vae_mpi_size(const vae_mpi *ctx);

/** The message of the last failed call on ctx ("" if none). @since 0.3.0 */
VAE_API const char *vae_mpi_errmsg(const vae_mpi *ctx);

/**
 * Choose the noise of vae_mpi_train_step (enum vae_mpi_noise). Must be the
 * same on every rank. Not collective.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID.
 * @since 0.3.0
 */
VAE_API int vae_mpi_set_noise(vae_mpi *ctx, int noise);

/**
 * Agree on an outcome: every rank passes its local status (and message, may
 * be NULL). Collective. Returns VAE_OK when all passed VAE_OK; otherwise every
 * rank returns the status of the lowest failing rank and its message reads
 * "rank R: <message>". Use it after per-rank work that can fail (loading
 * files) so that no rank goes on alone.
 * @since 0.3.0
 */
VAE_API int vae_mpi_agree(vae_mpi *ctx, int status, const char *msg);

/**
 * Start data-parallel training: check that every rank's model has the same
 * parameter count and training configuration and that every optimizer has
 * the same configuration and step count, broadcast rank 0's parameters to
 * all ranks, and restart each rank's training stream as stream `rank` of the
 * model's seed (vae_model_reseed), so per-rank randomness is independent and
 * reproducible. Collective.
 * @param opt may be NULL (no optimizer check).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (parameter counts differ),
 *         VAE_ERR_INVALID (configurations or step counts differ), VAE_ERR_IO,
 *         VAE_ERR_NOMEM; all ranks return the same status.
 * @since 0.3.0
 */
VAE_API int vae_mpi_sync_model(vae_mpi *ctx, vae_model *model, const vae_optimizer *opt);

/**
 * This rank's deterministic shard of a global batch of n rows: rows
 * [first, first + count) with first = floor(rank n / size) and count =
 * floor((rank+1) n / size) - first. Shards are contiguous, cover the batch
 * and differ in size by at most one. Not collective.
 * @since 0.3.0
 */
VAE_API int vae_mpi_shard(const vae_mpi *ctx, size_t n, size_t *first, size_t *count);

/**
 * One data-parallel step. Every rank passes its shard x (n_local rows,
 * n_local may be 0) starting at row `first` of a global batch of n_global
 * rows. The gradient of the global batch mean is the sum over ranks of
 * (n_local / n_global) * (shard gradient), formed by one MPI_Allreduce on a
 * fused buffer; then every rank applies the optimizer step to it. The noise
 * key is the optimizer's step count (the same on all ranks).
 * Collective.
 * @param stats may be NULL; receives the global batch's averages.
 * @return VAE_OK; an argument error of any rank (x not finite, shards that
 *         do not cover n_global, ...) or VAE_ERR_DIVERGED, returned by every
 *         rank, with nothing applied anywhere; VAE_ERR_IO (MPI failure).
 * @since 0.3.0
 */
VAE_API int vae_mpi_train_step(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                               const float *x, size_t n_local, size_t first, size_t n_global,
                               vae_elbo_stats *stats);

/**
 * The permutation of 0..n-1 that vae_mpi_train_epoch visits in epoch
 * `epoch` for `seed` (Fisher-Yates driven by splitmix64(seed, epoch)); a
 * single process can reproduce a distributed run's minibatches with it.
 * @since 0.3.0
 */
VAE_API void vae_mpi_epoch_order(uint64_t seed, uint64_t epoch, size_t *order, size_t n);

/**
 * One epoch: every rank holds the same dataset; the examples are visited in
 * vae_mpi_epoch_order(model seed, epoch) order in global batches of
 * global_batch rows (the last may be smaller); each rank gathers its shard
 * (vae_dataset_gather, binarisation keyed by the step) and takes
 * vae_mpi_train_step. Collective.
 * @param stats may be NULL; receives averages over the whole epoch (all ranks).
 * @return as vae_mpi_train_step; VAE_ERR_SHAPE when the datasets differ in size.
 * @since 0.3.0
 */
VAE_API int vae_mpi_train_epoch(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                                const vae_dataset *data, size_t global_batch, uint64_t epoch,
                                vae_elbo_stats *stats);

/**
 * The evaluation ELBO of a dataset every rank holds: each rank evaluates its
 * shard of the rows (vae_model_elbo_keyed with key VAE_MPI_EVAL_KEY and the
 * global row index, in batches of batch_size) and the sums are reduced, so
 * the figure is the same for any number of ranks. Collective.
 * @since 0.3.0
 */
VAE_API int vae_mpi_evaluate(vae_mpi *ctx, vae_model *model, const vae_dataset *data,
                             size_t batch_size, vae_elbo_stats *stats);

/**
 * Write a checkpoint from rank 0 only (the replicas are identical); the
 * other ranks write nothing and return rank 0's status. Collective.
 * @since 0.3.0
 */
VAE_API int vae_mpi_save(vae_mpi *ctx, vae_model *model, const vae_optimizer *opt,
                         const char *path);

#ifdef __cplusplus
}
#endif

#endif /* LIBVAE_VAE_MPI_H */
