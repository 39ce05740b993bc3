/**
 * @file vae_mpi.h
 * @brief libvae_mpi — data-parallel training of libvae models over MPI.
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
    VAE_MPI_NOISE_KEYED = 0,      /**< keyed by (model seed, step, global row index): the default; the run does not depend on the number of ranks (up to float rounding) */
    VAE_MPI_NOISE_RANK_STREAM = 1 /**< each rank's own training stream, (seed, rank) after vae_mpi_sync_model: reproducible for a fixed number of ranks only */
};

/** The key under which vae_mpi_evaluate draws its noise and binarisation. */
#define VAE_MPI_EVAL_KEY UINT64_MAX

/**
 * Create a context on a duplicate of `comm` (errors on it return instead of
 * aborting). Collective over comm. MPI must be initialised.
 * @param comm  the communicator to duplicate (not MPI_COMM_NULL).
 * @param out   receives the context; NULL on failure.
 * @param err may be NULL.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (MPI not initialised, comm
 *         is MPI_COMM_NULL), VAE_ERR_IO (an MPI call failed), VAE_ERR_NOMEM.
 * @thread_caller
 * @since 0.3.0
 */
VAE_API int vae_mpi_create(MPI_Comm comm, vae_mpi **out, vae_error *err);

/**
 * Free a context (not collective; frees the duplicated communicator). NULL
 * is a no-op.
 * @param ctx  the context (may be NULL).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API void vae_mpi_free(vae_mpi *ctx);

/**
 * This process's rank in the context's communicator.
 * @param ctx  the context (may be NULL).
 * @return the rank, 0..size-1; -1 for NULL. Not a status: it never
 *         returns VAE_OK or a VAE_ERR_... code as such.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_rank(const vae_mpi *ctx);

/**
 * Number of ranks in the context's communicator.
 * @param ctx  the context (may be NULL).
 * @return the number of ranks (>= 1); 0 for NULL. Not a status: it never
 *         returns VAE_OK or a VAE_ERR_... code as such.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_size(const vae_mpi *ctx);

/**
 * The message of the last failed call on ctx.
 * @param ctx  the context (may be NULL).
 * @return a string owned by the context ("" if no call failed; "ctx is
 *         NULL" for NULL), valid until the next failing call or the free.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API const char *vae_mpi_errmsg(const vae_mpi *ctx);

/**
 * Choose the noise of vae_mpi_train_step (enum vae_mpi_noise). Must be the
 * same on every rank. Not collective.
 * @param ctx    the context.
 * @param noise  VAE_MPI_NOISE_KEYED or VAE_MPI_NOISE_RANK_STREAM.
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_INVALID (unknown noise).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_set_noise(vae_mpi *ctx, int noise);

/**
 * Agree on an outcome: every rank passes its local status (and message, may
 * be NULL). Collective. Returns VAE_OK when all passed VAE_OK; otherwise every
 * rank returns the status of the lowest failing rank and its message reads
 * "rank R: <message>". Use it after per-rank work that can fail (loading
 * files) so that no rank goes on alone.
 * @param ctx     the context.
 * @param status  this rank's status (VAE_OK or an error code).
 * @param msg     may be NULL (the status's name is used); this rank's
 *                message for a failed status.
 * @return VAE_OK when every rank passed VAE_OK; else the lowest failing
 *         rank's status (any VAE_ERR_... code) on every rank; VAE_ERR_NULL
 *         (ctx NULL, local); VAE_ERR_IO (an MPI call failed).
 * @thread_handle
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
 * @param ctx   the context.
 * @param model  this rank's replica.
 * @param opt may be NULL (no optimizer check).
 * @return VAE_OK, VAE_ERR_NULL, VAE_ERR_SHAPE (parameter counts differ),
 *         VAE_ERR_INVALID (configurations or step counts differ),
 *         VAE_ERR_LIMIT (the parameters exceed one MPI message, 2^31 - 1
 *         floats), VAE_ERR_IO, VAE_ERR_NOMEM; all ranks return the same
 *         status.
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_sync_model(vae_mpi *ctx, vae_model *model, const vae_optimizer *opt);

/**
 * This rank's deterministic shard of a global batch of n rows: rows
 * [first, first + count) with first = floor(rank n / size) and count =
 * floor((rank+1) n / size) - first. Shards are contiguous, cover the batch
 * and differ in size by at most one. Not collective.
 * @param ctx    the context.
 * @param n      rows of the global batch.
 * @param first  receives the first row of this rank's shard.
 * @param count  receives the number of rows of the shard (may be 0).
 * @return VAE_OK, VAE_ERR_NULL.
 * @thread_handle
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
 * @param ctx       the context, after vae_mpi_sync_model.
 * @param model     this rank's replica.
 * @param opt       this rank's optimizer.
 * @param x         n_local x input_dim rows, row-major (may be NULL when
 *                  n_local is 0).
 * @param n_local   rows of this rank's shard.
 * @param first     index of the shard's first row in the global batch.
 * @param n_global  rows of the global batch.
 * @param stats may be NULL; receives the global batch's averages.
 * @return VAE_OK; an argument error of any rank (VAE_ERR_NULL,
 *         VAE_ERR_SHAPE, VAE_ERR_INVALID for shards that do not cover
 *         n_global or a call before vae_mpi_sync_model, VAE_ERR_NONFINITE,
 *         ...) or VAE_ERR_DIVERGED, returned by every rank, with nothing
 *         applied anywhere; VAE_ERR_IO (MPI failure).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_train_step(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                               const float *x, size_t n_local, size_t first, size_t n_global,
                               vae_elbo_stats *stats);

/**
 * vae_mpi_train_step for a conditional model (cond_dim > 0, docs/cvae.md):
 * every rank passes its shard x and the shard's conditions c (n_local x
 * cond_dim, row-major); the shard gradient is
 * vae_model_compute_gradients_keyed_cond's (or
 * vae_model_compute_gradients_cond's with VAE_MPI_NOISE_RANK_STREAM), the
 * exchange and the update are those of vae_mpi_train_step. Collective.
 * @param ctx       the context, after vae_mpi_sync_model.
 * @param model     this rank's replica (a conditional model).
 * @param opt       this rank's optimizer.
 * @param x         n_local x input_dim rows, row-major (caller-owned; may be
 *                  NULL when n_local is 0).
 * @param c         n_local x cond_dim conditions, row-major (caller-owned;
 *                  may be NULL when n_local is 0).
 * @param n_local   rows of this rank's shard.
 * @param first     index of the shard's first row in the global batch.
 * @param n_global  rows of the global batch.
 * @param stats may be NULL; receives the global batch's averages (nats).
 * @return VAE_OK; as vae_mpi_train_step, returned by every rank with nothing
 *         applied anywhere; VAE_ERR_UNSUPPORTED (on some rank) when the
 *         model is unconditional (use vae_mpi_train_step).
 * @thread_handle
 * @since 0.4.0
 */
VAE_API int vae_mpi_train_step_cond(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                                    const float *x, const float *c, size_t n_local, size_t first,
                                    size_t n_global, vae_elbo_stats *stats);

/**
 * The permutation of 0..n-1 that vae_mpi_train_epoch visits in epoch
 * `epoch` for `seed` (Fisher-Yates driven by splitmix64(seed, epoch)); a
 * single process can reproduce a distributed run's minibatches with it.
 * Needs no context and no MPI.
 * @param seed   the model's seed.
 * @param epoch  the epoch number.
 * @param order  receives n indices (caller-owned); NULL is ignored.
 * @param n      number of examples.
 * @thread_caller
 * @since 0.3.0
 */
VAE_API void vae_mpi_epoch_order(uint64_t seed, uint64_t epoch, size_t *order, size_t n);

/**
 * One epoch: every rank holds the same dataset; the examples are visited in
 * vae_mpi_epoch_order(model seed, epoch) order in global batches of
 * global_batch rows (the last may be smaller); each rank gathers its shard
 * (vae_dataset_gather, binarisation keyed by the step) and takes
 * vae_mpi_train_step. A conditional model (since 0.4.0) takes the rows'
 * conditions from the dataset (vae_dataset_gather_cond) and
 * vae_mpi_train_step_cond. Collective.
 * @param ctx           the context, after vae_mpi_sync_model.
 * @param model         this rank's replica.
 * @param opt           this rank's optimizer.
 * @param data          the dataset, the same on every rank.
 * @param global_batch  rows per global batch (>= 1).
 * @param epoch         the epoch number (selects the order).
 * @param stats may be NULL; receives averages over the whole epoch (all ranks).
 * @return VAE_OK; as vae_mpi_train_step (VAE_ERR_NULL, VAE_ERR_INVALID for
 *         global_batch 0 or an empty dataset, VAE_ERR_DIVERGED, VAE_ERR_IO,
 *         VAE_ERR_NOMEM, ...); VAE_ERR_SHAPE when the datasets differ in
 *         size or the dataset's width is not the model's input_dim (or its
 *         conditions' width not the model's cond_dim; VAE_ERR_INVALID when
 *         a conditional model's dataset has no conditions).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_train_epoch(vae_mpi *ctx, vae_model *model, vae_optimizer *opt,
                                const vae_dataset *data, size_t global_batch, uint64_t epoch,
                                vae_elbo_stats *stats);

/**
 * The evaluation ELBO of a dataset every rank holds: each rank evaluates its
 * shard of the rows (vae_model_elbo_keyed with key VAE_MPI_EVAL_KEY and the
 * global row index, in batches of batch_size; vae_model_elbo_keyed_cond with
 * the rows' conditions for a conditional model, since 0.4.0) and the sums
 * are reduced, so the figure is the same for any number of ranks. Collective.
 * @param ctx         the context.
 * @param model       this rank's replica.
 * @param data        the dataset, the same on every rank.
 * @param batch_size  rows per evaluation batch (>= 1).
 * @param stats       may be NULL; receives the averages over all rows.
 * @return VAE_OK; VAE_ERR_NULL, VAE_ERR_INVALID (batch_size 0, empty
 *         dataset), VAE_ERR_SHAPE (dataset width differs, or the datasets
 *         differ in size), VAE_ERR_NOMEM, or an error of vae_model_elbo_keyed
 *         (VAE_ERR_NONFINITE, VAE_ERR_UNSUPPORTED, ...) on the rank where it
 *         happened, while the other ranks then return VAE_ERR_INVALID;
 *         VAE_ERR_IO (MPI failure).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_evaluate(vae_mpi *ctx, vae_model *model, const vae_dataset *data,
                             size_t batch_size, vae_elbo_stats *stats);

/**
 * Write a checkpoint from rank 0 only (the replicas are identical); the
 * other ranks write nothing and return rank 0's status. Collective.
 * @param ctx    the context.
 * @param model  the replica (only rank 0's is read).
 * @param opt    may be NULL; else its state is saved too.
 * @param path   file to write (used on rank 0 only).
 * @return VAE_OK; the status of vae_model_save on rank 0 (VAE_ERR_NULL,
 *         VAE_ERR_IO, VAE_ERR_NONFINITE, VAE_ERR_NOMEM), returned by every
 *         rank; VAE_ERR_IO (MPI failure).
 * @thread_handle
 * @since 0.3.0
 */
VAE_API int vae_mpi_save(vae_mpi *ctx, vae_model *model, const vae_optimizer *opt,
                         const char *path);

#ifdef __cplusplus
}
#endif

#endif /* LIBVAE_VAE_MPI_H */
