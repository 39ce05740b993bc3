/* bench-mpi: data-parallel training throughput and where a step's time goes.
 *
 *   mpirun -np N bench-mpi [--seconds S] [--batch GLOBAL] [--threads T]
 *
 * Trains the default 784-400-20 Bernoulli VAE on synthetic binary images
 * with vae_mpi_train_step (global batch split over the N ranks) for about S
 * seconds and prints, from rank 0:
 *   ranks <N> batch <B> steps <K> samples/s <rate> step_ms <t> allreduce_ms <a> params <P>
 * allreduce_ms is a separately timed MPI_Allreduce of the same fused buffer
 * (P + 5 floats), the communication part of a step. Timing only, no checks.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvae/vae_mpi.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    double seconds = 3.0;
    long batch = 100, threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atol(argv[i + 1]);
    }
    vae_mpi *ctx = NULL;
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_model_config c;
    vae_model_config_init(&c);
    c.threads = (int)threads;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    if (batch < 1 || vae_mpi_create(MPI_COMM_WORLD, &ctx, NULL) != VAE_OK ||
        vae_model_create(&c, &m, NULL) != VAE_OK || vae_optimizer_create(&oc, &o, NULL) != VAE_OK ||
        vae_mpi_sync_model(ctx, m, o) != VAE_OK) {
        fprintf(stderr, "bench-mpi: setup failed\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    size_t first, count, D = 784, P = vae_model_param_count(m);
    vae_mpi_shard(ctx, (size_t)batch, &first, &count);
    float *x = malloc((count ? count : 1) * D * sizeof *x);
    uint64_t s = 12345 + (uint64_t)vae_mpi_rank(ctx);
    for (size_t i = 0; i < count * D; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (s >> 40) % 5 == 0 ? 1.0f : 0.0f;
    }
    /* warm-up, then steps until rank 0's clock says stop (decided collectively) */
    vae_mpi_train_step(ctx, m, o, x, count, first, (size_t)batch, NULL);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    long steps = 0;
    int go = 1;
    while (go) {
        if (vae_mpi_train_step(ctx, m, o, x, count, first, (size_t)batch, NULL) != VAE_OK) {
            fprintf(stderr, "bench-mpi: %s\n", vae_mpi_errmsg(ctx));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        steps++;
        go = now() - t0 < seconds;
        MPI_Bcast(&go, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
    double dt = now() - t0;
    float *buf = calloc(P + 5, sizeof *buf);
    MPI_Barrier(MPI_COMM_WORLD);
    double a0 = now();
    int reps = 20;
    for (int r = 0; r < reps; r++)
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)(P + 5), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double adt = (now() - a0) / reps;
    if (vae_mpi_rank(ctx) == 0)
        printf("ranks %d batch %ld steps %ld samples/s %.1f step_ms %.2f allreduce_ms %.2f params %zu\n",
               vae_mpi_size(ctx), batch, steps, (double)steps * batch / dt, 1e3 * dt / steps,
               1e3 * adt, P);
    free(buf);
    free(x);
    vae_optimizer_free(o);
    vae_model_free(m);
    vae_mpi_free(ctx);
    MPI_Finalize();
    return 0;
}
