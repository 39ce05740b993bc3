/* Failure modes of a distributed run (2 ranks), driven by tests/mpi/failures.sh:
 *   test-mpi-fail nan   rank 1 passes a NaN at step 3: every rank must return an
 *                       error from that step (rank 1 its own message, rank 0 one
 *                       saying another rank failed), nothing applied; exit 3.
 *   test-mpi-fail die   rank 1 exits at step 3 without finalising: the launcher
 *                       must end the job (rank 0 is left in the allreduce).
 *   test-mpi-fail shard the shards do not cover the global batch: all ranks fail.
 * Synthetic data; each rank prints what it got. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvae/vae_mpi.h>

#define D 16

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const char *mode = argc > 1 ? argv[1] : "nan";
    vae_mpi *ctx = NULL;
    vae_error err;
    if (vae_mpi_create(MPI_COMM_WORLD, &ctx, &err) != VAE_OK) {
        fprintf(stderr, "create: %s\n", err.message);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int rank = vae_mpi_rank(ctx);
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = D;
    c.hidden[0] = 8;
    c.latent_dim = 2;
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    if (vae_model_create(&c, &m, NULL) != VAE_OK || vae_optimizer_create(&oc, &o, NULL) != VAE_OK ||
        vae_mpi_sync_model(ctx, m, o) != VAE_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    float x[10 * D];
    for (int i = 0; i < 10 * D; i++)
        x[i] = (float)((i * 7 + rank) % 3 == 0);
    size_t P = vae_model_param_count(m);
    float *before = malloc(P * sizeof *before);
    int status = 0;
    for (int step = 0; step < 6; step++) {
        size_t first = (size_t)rank * 10, n_global = 20;
        if (step == 3 && rank == 1 && strcmp(mode, "nan") == 0)
            x[5] = 0.0f / 0.0f;
        if (step == 3 && rank == 1 && strcmp(mode, "die") == 0) {
            fprintf(stderr, "[rank 1] dying at step 3\n");
            _exit(3);
        }
        if (step == 3 && strcmp(mode, "shard") == 0)
            n_global = 30;
        vae_model_get_params(m, before, P);
        int rc = vae_mpi_train_step(ctx, m, o, x, 10, first, n_global, NULL);
        if (rc != VAE_OK) {
            int kept = memcmp(before, vae_model_param_data(m), P * sizeof *before) == 0;
            fprintf(stderr, "[rank %d] step %d failed: %s (%s); parameters %s\n", rank, step,
                    vae_mpi_errmsg(ctx), vae_status_str(rc), kept ? "kept" : "CHANGED");
            status = step == 3 && kept ? 3 : 1;
            break;
        }
    }
    free(before);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_mpi_free(ctx);
    MPI_Finalize();
    return status;
}
