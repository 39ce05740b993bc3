/* bench-train: training throughput of libvae on synthetic data.
 *
 * Times vae_model_train_step (forward, backward, Adam update) of the
 * default 784-400-20 Bernoulli VAE on batches of synthetic binary images,
 * with 1 and then 2 BLAS threads (or the counts given), for a fixed wall
 * time each, and prints
 *   threads <T> batch <B> steps <S> time <s> samples/s <rate>
 * Timings are information, never pass/fail.
 *
 * usage: bench-train [--seconds S] [--batch B] [--threads T[,T...]]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvae/vae.h>

#define N_ROWS 1000
#define DIM 784

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench(const float *x, int threads, size_t batch, double seconds)
{
    vae_model_config cfg;
    vae_model_config_init(&cfg);
    cfg.input_dim = DIM;
    cfg.threads = threads;
    vae_optimizer_config ocfg;
    vae_optimizer_config_init(&ocfg, VAE_OPT_ADAM);
    vae_model *model = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    if (vae_model_create(&cfg, &model, &err) != VAE_OK ||
        vae_optimizer_create(&ocfg, &opt, &err) != VAE_OK) {
        fprintf(stderr, "bench-train: %s\n", err.message);
        vae_model_free(model);
        return 1;
    }
    size_t n_batches = N_ROWS / batch, b = 0;
    int rc = VAE_OK;
    /* warm-up: workspaces are allocated on the first steps */
    for (int i = 0; i < 5 && rc == VAE_OK; i++)
        rc = vae_model_train_step(model, opt, x, batch, NULL);
    long steps = 0;
    double t0 = now(), dt = 0;
    while (rc == VAE_OK && dt < seconds) {
        rc = vae_model_train_step(model, opt, x + b * batch * DIM, batch, NULL);
        b = (b + 1) % n_batches;
        steps++;
        dt = now() - t0;
    }
    if (rc != VAE_OK)
        fprintf(stderr, "bench-train: %s\n", vae_model_errmsg(model));
    else
        printf("threads %d batch %zu steps %ld time %.3f samples/s %.1f\n", threads, batch,
               steps, dt, (double)steps * (double)batch / dt);
    fflush(stdout);
    vae_optimizer_free(opt);
    vae_model_free(model);
    return rc != VAE_OK;
}

int main(int argc, char **argv)
{
    double seconds = 3;
    long batch = 100;
    const char *threads = "1,2";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = argv[++i];
        else {
            fprintf(stderr, "usage: bench-train [--seconds S] [--batch B] [--threads T[,T...]]\n");
            return 2;
        }
    }
    if (!(seconds > 0) || batch < 1 || batch > N_ROWS) {
        fprintf(stderr, "bench-train: need seconds > 0 and 1 <= batch <= %d\n", N_ROWS);
        return 2;
    }
    float *x = malloc(sizeof(float) * N_ROWS * DIM);
    if (!x)
        return 1;
    /* ~20% of the pixels on, like binarised MNIST */
    uint64_t s = 0x243f6a8885a308d3ULL;
    for (size_t i = 0; i < (size_t)N_ROWS * DIM; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 33) % 5 == 0);
    }
    printf("libvae %s, 784-400-20 Bernoulli VAE, Adam, synthetic data\n", vae_version_string());
    int status = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", threads);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        if (t < 1 || t > 256) {
            fprintf(stderr, "bench-train: bad thread count '%s'\n", tok);
            status = 2;
            break;
        }
        status |= bench(x, t, (size_t)batch, seconds);
    }
    free(x);
    return status;
}
