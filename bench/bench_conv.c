/* bench-conv: training throughput of the reference convolutional VAE.
 *
 * The model (MNIST, latent 20, Bernoulli likelihood, Adam lr 1e-3), built
 * through the public API from its text form, input shape (1, 28, 28):
 *   encoder  conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu
 *   decoder  dense(256) relu dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) relu
 *            convT2d(1,4,2,1)
 *
 * Steps mode (default): one model per thread count of --threads, on
 * synthetic binary images; the configurations take turns, --rounds times,
 * each timing vae_model_train_step for --seconds, so a load change on the
 * machine hits every configuration alike. Prints one line per turn
 *   round <r> threads <T> batch <B> steps <S> time <s> samples/s <rate>
 * and then per thread count the median over the rounds:
 *   median threads <T> batch <B> samples/s <rate> per-cpu-s <rate>
 * (per-cpu-s: samples per CPU second of the process, all threads; at one
 * thread a load-independent estimate of the quiet machine's samples/s).
 *
 * Epochs mode (--data IDX): the first 9000 images (pixels/255) are the
 * training set, the last 1000 the test set; --epochs calls of
 * vae_model_train_epoch at the first thread count, each printed as
 * vae-train prints it (bench/compare.py parses these lines):
 *   epoch <E> time <s> samples/s <rate> train_elbo <nats> test_elbo <nats> cpu_samples/s <r>
 * (cpu_samples/s: training examples per CPU second of the process, all threads)
 *
 * Timings are information, never pass/fail.
 *
 * --steps N times N steps per turn instead of --seconds (for callgrind:
 * valgrind --tool=callgrind --toggle-collect=vae_model_train_step).
 *
 * usage: bench-conv [--seconds S] [--rounds R] [--batch B] [--threads T[,T...]]
 *                   [--steps N] [--data IDX --epochs N] [--seed N]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvae/vae.h>

#define N_ROWS 1000
#define DIM 784
#define MAX_CONFIGS 8
#define MAX_ROUNDS 64

static const char *const ENCODER =
    "conv2d(32,4,2,1) relu conv2d(64,4,2,1) relu flatten dense(256) relu";
static const char *const DECODER =
    "dense(256) relu dense(3136) relu reshape(64,7,7) convT2d(32,4,2,1) relu convT2d(1,4,2,1)";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all its threads): on a loaded machine,
 * samples per CPU second at one thread is steadier than per wall second. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int make_model(int threads, uint64_t seed, vae_model **model, vae_optimizer **opt)
{
    vae_model_config cfg;
    vae_model_config_init(&cfg);
    cfg.input_dim = DIM;
    cfg.latent_dim = 20;
    cfg.threads = threads;
    cfg.seed = seed;
    cfg.encoder = ENCODER;
    cfg.decoder = DECODER;
    cfg.input_shape[0] = 1;
    cfg.input_shape[1] = 28;
    cfg.input_shape[2] = 28;
    vae_optimizer_config ocfg;
    vae_optimizer_config_init(&ocfg, VAE_OPT_ADAM);
    ocfg.lr = 1e-3f;
    vae_error err;
    *model = NULL;
    *opt = NULL;
    if (vae_model_create(&cfg, model, &err) != VAE_OK ||
        vae_optimizer_create(&ocfg, opt, &err) != VAE_OK) {
        fprintf(stderr, "bench-conv: %s\n", err.message);
        vae_model_free(*model);
        *model = NULL;
        return 1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int run_steps(const int *threads, int n_cfg, size_t batch, double seconds, int rounds,
                     long fixed_steps)
{
    float *x = malloc(sizeof(float) * N_ROWS * DIM);
    vae_model *model[MAX_CONFIGS] = {0};
    vae_optimizer *opt[MAX_CONFIGS] = {0};
    static double rate[MAX_CONFIGS][MAX_ROUNDS], cpu_rate[MAX_CONFIGS][MAX_ROUNDS];
    int status = x == NULL;
    /* ~20% of the pixels on, like binarised MNIST */
    uint64_t s = 0x243f6a8885a308d3ULL;
    for (size_t i = 0; x && i < (size_t)N_ROWS * DIM; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 33) % 5 == 0);
    }
    size_t n_batches = N_ROWS / batch;
    for (int k = 0; k < n_cfg && !status; k++) {
        status = make_model(threads[k], 1, &model[k], &opt[k]);
        /* warm-up: workspaces are allocated on the first steps */
        for (int i = 0; i < 3 && !status; i++)
            status = vae_model_train_step(model[k], opt[k], x, batch, NULL) != VAE_OK;
    }
    for (int r = 0; r < rounds && !status; r++)
        for (int j = 0; j < n_cfg && !status; j++) {
            int k = r % 2 ? n_cfg - 1 - j : j; /* alternate the order too */
            long steps = 0;
            size_t b = 0;
            double t0 = now(), c0 = cpu_now(), dt = 0;
            while (!status && (fixed_steps > 0 ? steps < fixed_steps : dt < seconds)) {
                status = vae_model_train_step(model[k], opt[k], x + b * batch * DIM, batch,
                                              NULL) != VAE_OK;
                b = (b + 1) % n_batches;
                steps++;
                dt = now() - t0;
            }
            if (status) {
                fprintf(stderr, "bench-conv: %s\n", vae_model_errmsg(model[k]));
                break;
            }
            rate[k][r] = (double)steps * (double)batch / dt;
            cpu_rate[k][r] = (double)steps * (double)batch / (cpu_now() - c0);
            printf("round %d threads %d batch %zu steps %ld time %.3f samples/s %.1f "
                   "per-cpu-s %.1f\n", r + 1, threads[k], batch, steps, dt, rate[k][r],
                   cpu_rate[k][r]);
            fflush(stdout);
        }
    for (int k = 0; k < n_cfg && !status; k++) {
        printf("median threads %d batch %zu samples/s %.1f per-cpu-s %.1f\n", threads[k], batch,
               median(rate[k], rounds), median(cpu_rate[k], rounds));
    }
    for (int k = 0; k < n_cfg; k++) {
        vae_optimizer_free(opt[k]);
        vae_model_free(model[k]);
    }
    free(x);
    return status;
}

static int run_epochs(const char *path, int threads, size_t batch, int epochs, uint64_t seed)
{
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_model *model = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    int status = 1;
    if (vae_dataset_load_idx(path, NULL, NULL, &all, &err) != VAE_OK) {
        fprintf(stderr, "bench-conv: %s\n", err.message);
        return 1;
    }
    size_t n = vae_dataset_count(all);
    if (n < 2000 || vae_dataset_dim(all) != DIM) {
        fprintf(stderr, "bench-conv: %s: need >= 2000 images of 28x28\n", path);
        vae_dataset_free(all);
        return 1;
    }
    if (vae_dataset_subset(all, 0, 9000 < n - 1000 ? 9000 : n - 1000, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, n - 1000, 1000, &test, &err) != VAE_OK) {
        fprintf(stderr, "bench-conv: %s\n", err.message);
        goto done;
    }
    vae_dataset_free(all);
    all = NULL;
    if (make_model(threads, seed, &model, &opt))
        goto done;
    for (int e = 1; e <= epochs; e++) {
        vae_elbo_stats tr, te;
        double t0 = now(), c0 = cpu_now();
        if (vae_model_train_epoch(model, opt, train, batch, NULL, NULL, &tr) != VAE_OK) {
            fprintf(stderr, "bench-conv: %s\n", vae_model_errmsg(model));
            goto done;
        }
        double dt = now() - t0, cpu = cpu_now() - c0;
        if (vae_model_evaluate(model, test, batch, &te) != VAE_OK) {
            fprintf(stderr, "bench-conv: %s\n", vae_model_errmsg(model));
            goto done;
        }
        double n_train = (double)vae_dataset_count(train);
        printf("epoch %d time %.3f samples/s %.1f train_elbo %.4f test_elbo %.4f "
               "cpu_samples/s %.1f\n", e, dt, n_train / dt, tr.elbo, te.elbo, n_train / cpu);
        fflush(stdout);
    }
    status = 0;
done:
    vae_optimizer_free(opt);
    vae_model_free(model);
    vae_dataset_free(all);
    vae_dataset_free(train);
    vae_dataset_free(test);
    return status;
}

int main(int argc, char **argv)
{
    double seconds = 1;
    long batch = 100, rounds = 5, epochs = 3, fixed_steps = 0;
    unsigned long long seed = 1;
    const char *threads = "1,2", *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atol(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atol(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            fixed_steps = atol(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench-conv [--seconds S] [--rounds R] [--batch B] "
                            "[--threads T[,T...]] [--steps N] [--data IDX --epochs N] "
                            "[--seed N]\n");
            return 2;
        }
    }
    if (!(seconds > 0) || batch < 1 || batch > N_ROWS || rounds < 1 || rounds > MAX_ROUNDS ||
        epochs < 1) {
        fprintf(stderr, "bench-conv: need seconds > 0, 1 <= batch <= %d, 1 <= rounds <= %d, "
                        "epochs >= 1\n", N_ROWS, MAX_ROUNDS);
        return 2;
    }
    int t[MAX_CONFIGS], n_cfg = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", threads);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        t[n_cfg] = atoi(tok);
        if (t[n_cfg] < 1 || t[n_cfg] > 256 || n_cfg == MAX_CONFIGS - 1) {
            fprintf(stderr, "bench-conv: bad thread list '%s'\n", threads);
            return 2;
        }
        n_cfg++;
    }
    if (n_cfg == 0)
        return 2;
    if (data)
        return run_epochs(data, t[0], (size_t)batch, (int)epochs, seed);
    printf("libvae %s, convolutional Bernoulli VAE (MNIST shape), Adam, synthetic data\n",
           vae_version_string());
    return run_steps(t, n_cfg, (size_t)batch, seconds, (int)rounds, fixed_steps);
}
