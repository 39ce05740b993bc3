/* beta-sweep: train the same VAE with beta = 0.5, 1, 2, 4, 8 (same seed,
 * data and epochs) on MNIST (first 9000 train, last 1000 test) and print
 * one table row per beta:
 *
 *   beta beta_norm test_rec test_kl test_elbo active_units mi
 *
 * test_rec and test_kl are the held-out E_q[log p(x|z)] (one z sample) and
 * KL(q(z|x) || p(z)) in nats per example; active_units and mi come from
 * vae_model_diagnostics on the test set. With --check the program exits 1
 * unless KL decreases and the reconstruction term worsens strictly
 * monotonically with beta (the acceptance test of docs/beta-vae.md).
 *
 *   beta-sweep [--mnist DIR] [--epochs N] [--hidden H] [--latent K]
 *              [--train N] [--seed S] [--threads T] [--check]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

static const float betas[] = {0.5f, 1.0f, 2.0f, 4.0f, 8.0f};
#define N_BETAS 5

static void usage(FILE *to)
{
    fprintf(to,
            "usage: beta-sweep [options]\n"
            "Train the same VAE with beta = 0.5, 1, 2, 4, 8 on MNIST (first 9000 train, last\n"
            "1000 test; same seed, data and epochs) and print one table row per beta:\n"
            "  beta beta_norm test_rec test_kl test_elbo active_units mi\n"
            "test_rec and test_kl are in nats per example on the test set; active_units\n"
            "and mi (nats) come from vae_model_diagnostics.\n\n"
            "  --mnist DIR        directory with t10k-images-idx3-ubyte.gz (default:\n"
            "                     $VAE_MNIST_DIR, else ../shared/data/mnist)\n"
            "  --epochs N         epochs per beta (default 10)\n"
            "  --hidden H         hidden layer size (default 400)\n"
            "  --latent K         latent dimensions (default 20)\n"
            "  --train N          training examples, the first N (default 9000)\n"
            "  --seed S           random seed (default 1)\n"
            "  --threads T        BLAS threads (default 1)\n"
            "  --check            exit 1 unless KL falls and the reconstruction term worsens\n"
            "                     strictly with beta\n"
            "  --help             this text\n");
}

typedef struct row {
    double rec, kl, elbo, mi;
    int au;
} row;

static int train_one(float beta, const vae_dataset *train, const vae_dataset *test, int epochs,
                     int hidden, int latent, unsigned seed, int threads, row *out)
{
    vae_model_config c;
    vae_model_config_init(&c);
    c.input_dim = (int)vae_dataset_dim(train);
    c.latent_dim = latent;
    c.hidden[0] = hidden;
    c.seed = seed;
    c.threads = threads;
    c.beta = beta;
    vae_optimizer_config oc;
    vae_optimizer_config_init(&oc, VAE_OPT_ADAM);
    vae_model *m = NULL;
    vae_optimizer *o = NULL;
    vae_error err;
    int rc = vae_model_create(&c, &m, &err);
    if (rc == VAE_OK)
        rc = vae_optimizer_create(&oc, &o, &err);
    if (rc != VAE_OK) {
        fprintf(stderr, "beta-sweep: %s\n", err.message);
        vae_model_free(m);
        return -1;
    }
    for (int e = 0; e < epochs && rc == VAE_OK; e++)
        rc = vae_model_train_epoch(m, o, train, 100, NULL, NULL, NULL);
    vae_elbo_stats st;
    if (rc == VAE_OK)
        rc = vae_model_evaluate(m, test, 500, &st);
    vae_diagnostics d = {.struct_size = sizeof d};
    const float *tx = rc == VAE_OK ? vae_dataset_data(test) : NULL; /* NULL: out of memory */
    if (rc == VAE_OK)
        rc = tx ? vae_model_diagnostics(m, tx, vae_dataset_count(test), &d, NULL, NULL)
                : VAE_ERR_NOMEM;
    if (rc != VAE_OK)
        fprintf(stderr, "beta-sweep: beta %g: %s\n", (double)beta,
                tx ? vae_model_errmsg(m) : vae_dataset_errmsg(test));
    else
        *out = (row){st.rec, st.kl, st.elbo, d.mi, d.active_units};
    vae_optimizer_free(o);
    vae_model_free(m);
    return rc == VAE_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("VAE_MNIST_DIR");
    int epochs = 10, hidden = 400, latent = 20, threads = 1, check = 0;
    long ntrain = 9000;
    unsigned seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check")) {
            check = 1;
            continue;
        }
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--mnist")) dir = v;
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--hidden")) hidden = atoi(v);
        else if (!strcmp(a, "--latent")) latent = atoi(v);
        else if (!strcmp(a, "--train")) ntrain = atol(v);
        else if (!strcmp(a, "--seed")) seed = (unsigned)atol(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else {
            fprintf(stderr, "beta-sweep: unknown option %s\n", a);
            return 2;
        }
    }
    if (!dir)
        dir = "../shared/data/mnist";
    char path[4096];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = VAE_BINARIZE_DYNAMIC;
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_error err;
    if (vae_dataset_load_idx(path, NULL, &dopt, &all, &err) != VAE_OK) {
        fprintf(stderr, "beta-sweep: %s\n", err.message);
        return 77; /* meson's "skipped": no data */
    }
    size_t n = vae_dataset_count(all);
    if (n < 1000 || ntrain < 1 || (size_t)ntrain > n - 1000 ||
        vae_dataset_subset(all, 0, (size_t)ntrain, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, n - 1000, 1000, &test, &err) != VAE_OK) {
        fprintf(stderr, "beta-sweep: cannot split %zu examples into %ld train and 1000 test\n", n, ntrain);
        return 1;
    }
    printf("# MNIST first %ld train / last 1000 test, dynamic binarisation, 784-%d-%d, Adam 1e-3,\n"
           "# batch 100, %d epochs, seed %u; test figures in nats per example (one z sample)\n",
           ntrain, hidden, latent, epochs, seed);
    printf("%-6s %-9s %-10s %-9s %-10s %-12s %s\n", "beta", "beta_norm", "test_rec", "test_kl",
           "test_elbo", "active_units", "mi");
    row r[N_BETAS];
    int ok = 1;
    for (int b = 0; b < N_BETAS; b++) {
        if (train_one(betas[b], train, test, epochs, hidden, latent, seed, threads, &r[b]) != 0)
            return 1;
        printf("%-6g %-9.4f %-10.3f %-9.3f %-10.3f %-12d %.3f\n", (double)betas[b],
               betas[b] * (double)latent / (double)vae_dataset_dim(train), r[b].rec, r[b].kl,
               r[b].elbo, r[b].au, r[b].mi);
        fflush(stdout);
        if (b > 0 && !(r[b].kl < r[b - 1].kl && r[b].rec < r[b - 1].rec))
            ok = 0;
    }
    vae_dataset_free(all);
    vae_dataset_free(train);
    vae_dataset_free(test);
    if (check) {
        printf(ok ? "monotone: KL decreases and reconstruction worsens with beta\n"
                  : "NOT monotone\n");
        return ok ? 0 : 1;
    }
    return 0;
}
