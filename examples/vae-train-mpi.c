/* vae-train-mpi: vae-train, data-parallel over MPI (libvae_mpi).
 *
 *   mpirun -np N vae-train-mpi [the flags of vae-train]
 *
 * Same flags and the same output lines as vae-train, printed by rank 0:
 *   epoch <E> time <seconds> samples/s <rate> train_elbo <nats> test_elbo <nats>
 * --batch is the GLOBAL batch: each of the N ranks takes a contiguous shard
 * of about batch/N rows of every minibatch. samples/s counts all ranks.
 * Every rank reads the data (and --load's checkpoint) itself; only rank 0
 * writes --save. The reparameterisation noise, the dynamic binarisation and
 * the epoch order do not depend on N, so the run matches a 1-rank run up to
 * float rounding (docs/distributed.md); the figures therefore differ from
 * vae-train's, whose noise comes from one sequential stream.
 *
 * The flag parsing is vae-train's own (vae-train.c is included without its
 * main), so the two programs cannot drift apart. --labels with
 * --conditional trains a conditional model on the one-hot labels, as
 * vae-train does (vae_mpi_train_step_cond).
 */
#define VAE_TRAIN_NO_MAIN
#define VAE_TRAIN_PROGRAM "mpirun -np N vae-train-mpi"
#include "vae-train.c"

#include <libvae/vae_mpi.h>

/* Print a failure once: the failing rank's own message, or rank 0 the agreed one. */
static int mpi_fail(const vae_mpi *ctx, const char *what, const char *msg)
{
    fprintf(stderr, "vae-train-mpi: [rank %d] %s: %s\n", vae_mpi_rank(ctx), what, msg);
    return 1;
}

/* Every rank reports its local outcome; all learn the first failure. */
static int agree(vae_mpi *ctx, int status, const char *what, const char *msg)
{
    int rc = vae_mpi_agree(ctx, status, msg);
    if (rc != VAE_OK && (status != VAE_OK || vae_mpi_rank(ctx) == 0))
        mpi_fail(ctx, what, status != VAE_OK ? msg : vae_mpi_errmsg(ctx));
    return rc;
}

static int run(vae_mpi *ctx, const options *o)
{
    int rank = vae_mpi_rank(ctx), status = 1, rc;
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_model *model = NULL;
    vae_optimizer *opt = NULL;
    vae_error err = {VAE_OK, ""};
    FILE *log = NULL;
    options oc = *o;

    /* data: every rank loads and splits it */
    rc = load_data(&oc, &all) == 0 ? VAE_OK : VAE_ERR_IO;
    /* --conditional: one-hot conditions from the labels, as vae-train */
    if (rc == VAE_OK && oc.conditional >= 0 && use_labels(&oc, all) != 0)
        rc = VAE_ERR_INVALID;
    if (agree(ctx, rc, "data", "could not load the data (see above)") != VAE_OK)
        goto out;
    size_t n = vae_dataset_count(all);
    size_t holdout = oc.holdout < 0 ? n / 10 : (size_t)oc.holdout;
    if (holdout >= n) {
        if (rank == 0)
            fail("--holdout", "must leave at least one training example");
        goto out;
    }
    rc = vae_dataset_subset(all, 0, n - holdout, &train, &err);
    if (rc == VAE_OK && holdout > 0)
        rc = vae_dataset_subset(all, n - holdout, holdout, &test, &err);
    if (agree(ctx, rc, "split", err.message) != VAE_OK)
        goto out;

    /* model and optimizer: created (or loaded) on every rank, then rank 0's
     * parameters broadcast and per-rank streams set by sync_model */
    if (oc.load) {
        rc = vae_model_load(oc.load, &model, &opt, &err);
        if (rc == VAE_OK)
            vae_model_set_threads(model, oc.model.threads);
        if (rc == VAE_OK && check_loaded_conditional(&oc, model) != 0) {
            rc = VAE_ERR_INVALID;
            snprintf(err.message, sizeof err.message, "see the message above");
        }
    } else {
        oc.model.input_dim = (int)vae_dataset_dim(all);
        vae_dataset_shape(all, oc.model.input_shape); /* for convolutional networks */
        rc = vae_model_create(&oc.model, &model, &err);
    }
    if (agree(ctx, rc, oc.load ? "--load" : "model", err.message) != VAE_OK)
        goto out;
    if (oc.load && rank == 0)
        note_overrides(&oc, model);
    rc = rank == 0 && beta_check_pictures(model, &oc.beta) != 0 ? VAE_ERR_INVALID : VAE_OK;
    if (agree(ctx, rc, "pictures", "see rank 0's message above") != VAE_OK)
        goto out;
    if (rank == 0 && oc.log && !(log = cli_log_open(oc.log)))
        rc = VAE_ERR_IO;
    if (agree(ctx, rc, "--log", "see rank 0's message above") != VAE_OK)
        goto out;
    rc = opt ? VAE_OK : vae_optimizer_create(&oc.opt, &opt, &err);
    if (agree(ctx, rc, "optimizer", err.message) != VAE_OK)
        goto out;
    if ((rc = vae_mpi_sync_model(ctx, model, opt)) != VAE_OK) {
        mpi_fail(ctx, "sync", vae_mpi_errmsg(ctx));
        goto out;
    }

    int first = oc.load ? epochs_done(model, vae_dataset_count(train), (size_t)oc.batch) : 0;
    int saved_at = -1, last = first;
    for (int e = first + 1; e <= first + oc.epochs; e++) {
        vae_elbo_stats tr, te = {0};
        vae_training_state ts;
        ts.struct_size = sizeof ts;
        double beta = vae_model_training_state(model, &ts) == VAE_OK ? ts.beta : NAN;
        MPI_Barrier(MPI_COMM_WORLD); /* time the epoch from a common start */
        double t0 = now();
        rc = vae_mpi_train_epoch(ctx, model, opt, train, (size_t)oc.batch, (uint64_t)e, &tr);
        double dt = now() - t0;
        if (rc != VAE_OK) {
            mpi_fail(ctx, "training", vae_mpi_errmsg(ctx));
            goto out;
        }
        if (test && (rc = vae_mpi_evaluate(ctx, model, test, (size_t)oc.batch, &te)) != VAE_OK) {
            mpi_fail(ctx, "evaluation", vae_mpi_errmsg(ctx));
            goto out;
        }
        if (rank == 0) {
            printf("epoch %d time %.3f samples/s %.1f train_elbo %.4f test_elbo %.4f\n", e, dt,
                   (double)tr.n / dt, tr.elbo, test ? te.elbo : 0.0);
            fflush(stdout);
            cli_log_row(log, e, dt, (double)tr.n / dt, tr.elbo, test ? te.elbo : NAN, tr.rec,
                        tr.kl, beta);
        }
        if (oc.save_every && (e - first) % oc.save_every == 0) {
            if ((rc = vae_mpi_save(ctx, model, opt, oc.save)) != VAE_OK) {
                if (rank == 0)
                    mpi_fail(ctx, oc.save, vae_mpi_errmsg(ctx));
                goto out;
            }
            if (rank == 0)
                cli_wrote(oc.save);
            saved_at = e;
        }
        last = e;
        /* A signal on any rank ends training after this epoch on all of
         * them (vae_mpi_train_epoch has no per-batch callback): the ranks
         * agree, then save and exit 130 / 143 like vae-train. */
        int sig = cli_interrupted(), any = 0;
        MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any) {
            if (oc.save && saved_at != e && (rc = vae_mpi_save(ctx, model, opt, oc.save)) != VAE_OK) {
                if (rank == 0)
                    mpi_fail(ctx, oc.save, vae_mpi_errmsg(ctx));
                goto out;
            }
            if (rank == 0) {
                if (oc.save)
                    fprintf(stderr, "interrupted: saved %s\n", oc.save);
                else
                    fprintf(stderr, "interrupted\n");
            }
            status = 128 + any;
            goto out;
        }
    }
    if (oc.eval) {
        vae_elbo_stats te;
        if ((rc = vae_mpi_evaluate(ctx, model, test, (size_t)oc.batch, &te)) != VAE_OK) {
            mpi_fail(ctx, "evaluation", vae_mpi_errmsg(ctx));
            goto out;
        }
        if (rank == 0)
            printf("test_elbo %.4f\n", te.elbo);
    }
    if (oc.eval_ll > 0 && test) {
        /* the replicas are identical: rank 0 estimates, the others wait for its outcome */
        double ll = 0.0;
        rc = VAE_OK;
        if (rank == 0)
            rc = oc.conditional >= 0
                     ? vae_model_log_likelihood_cond(model, vae_dataset_data(test),
                                                     vae_dataset_conditions(test),
                                                     vae_dataset_count(test), oc.eval_ll, NULL,
                                                     &ll)
                     : vae_model_log_likelihood(model, vae_dataset_data(test),
                                                vae_dataset_count(test), oc.eval_ll, NULL, &ll);
        if (agree(ctx, rc, "log-likelihood", vae_model_errmsg(model)) != VAE_OK)
            goto out;
        if (rank == 0)
            printf("test_ll %.4f\n", ll);
    }
    /* beta line, diagnostics line, --samples-png, --manifold-png: rank 0
     * (the replicas are identical), the others wait for its outcome. */
    rc = rank == 0 && beta_after_training(model, train, test, &oc.beta) != 0 ? VAE_ERR_INVALID
                                                                              : VAE_OK;
    if (agree(ctx, rc, "after training", "see rank 0's message above") != VAE_OK)
        goto out;
    if (oc.save && saved_at == last) /* --save-every wrote this very model */
        oc.save = NULL;
    if (oc.save && (rc = vae_mpi_save(ctx, model, opt, oc.save)) != VAE_OK) {
        if (rank == 0)
            mpi_fail(ctx, oc.save, vae_mpi_errmsg(ctx));
        goto out;
    }
    if (oc.save && rank == 0)
        cli_wrote(oc.save);
    status = 0;
out:
    if (log) {
        fclose(log);
        cli_wrote(oc.log);
    }
    vae_optimizer_free(opt);
    vae_model_free(model);
    vae_dataset_free(test);
    vae_dataset_free(train);
    vae_dataset_free(all);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) /* output lines: rank 0 only */
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) {
            if (rank == 0)
                usage(stdout);
            MPI_Finalize();
            return 0;
        }
    options o;
    cli_set_program("vae-train-mpi");
    cli_install_signals(); /* SIGINT / SIGTERM: stop after the current epoch */
    /* Every rank parses the same arguments, so every rank fails alike here. */
    if (parse_args(argc, argv, &o) != 0) {
        MPI_Finalize();
        return 2;
    }
    /* Flags of vae-train that the data-parallel trainer cannot honour are
     * refused rather than ignored: aggressive training needs the
     * whole-model epoch loop of vae_model_train_epoch. */
    const char *unsupported = o.model.aggressive ? "--aggressive"
                              : o.patience       ? "--patience"
                                                 : NULL;
    if (unsupported) {
        if (rank == 0)
            fprintf(stderr, "vae-train-mpi: %s: not supported by data-parallel training "
                            "(use vae-train)\n", unsupported);
        MPI_Finalize();
        return 2;
    }
    vae_mpi *ctx = NULL;
    vae_error err;
    int status;
    if (vae_mpi_create(MPI_COMM_WORLD, &ctx, &err) != VAE_OK) {
        fprintf(stderr, "vae-train-mpi: [rank %d] %s\n", rank, err.message);
        status = 1;
    } else {
        status = run(ctx, &o);
    }
    vae_mpi_free(ctx);
    MPI_Finalize();
    return status;
}
