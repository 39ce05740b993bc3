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
 *   beta-sweep [--data PATH|DIR] [--epochs N] [--hidden H] [--latent K]
 *              [--train N] [--seed S] [--threads T] [--check]
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvae/vae.h>

#include "cli.h"

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
            "  --data PATH|DIR    IDX images or CSV, or a directory with\n"
            "                     t10k-images-idx3-ubyte.gz (default: $VAE_MNIST_DIR, else\n"
            "                     " CLI_MNIST_DIR ")\n"
            "  --mnist DIR        the same as --data DIR (older commands)\n"
            "  --epochs N         epochs per beta (default 10)\n"
            "  --hidden H         hidden layer size (default 400)\n"
            "  --latent K         latent dimensions (default 20)\n"
            "  --train N          training examples, the first N (default 9000)\n"
            "  --seed S           random seed (default 1)\n"
            "  --threads T        BLAS threads (default 1)\n"
            "  --check            exit 1 unless KL falls and the reconstruction term worsens\n"
            "                     strictly with beta\n"
            "  --help             this text\n"
            "Exit status: 0 done (and monotone with --check), 1 failure or not monotone,\n"
            "2 usage error.\n");
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
        rc = cli_train_epoch(m, o, train, 100, e + 1);
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
    cli_set_program("beta-sweep");
    cli_install_signals(); /* Ctrl-C ends training after the current batch */
    const char *data = NULL;
    long epochs = 10, hidden = 400, latent = 20, threads = 1, ntrain = 9000, seed = 1;
    int check = 0;
    static const struct option longs[] = {
        {"data", 1, 0, 'd'},   {"mnist", 1, 0, 'd'},   {"epochs", 1, 0, 'e'},
        {"hidden", 1, 0, 'H'}, {"latent", 1, 0, 'k'},  {"train", 1, 0, 'n'},
        {"seed", 1, 0, 's'},   {"threads", 1, 0, 't'}, {"check", 0, 0, 'c'},
        {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    int c, li;
    opterr = 0;
    while ((li = -1, c = getopt_long(argc, argv, "", longs, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd': data = optarg; break;
        case 'e': bad = cli_long(optarg, 0, 1000000, &epochs); break;
        case 'H': bad = cli_long(optarg, 1, 1L << 20, &hidden); break;
        case 'k': bad = cli_long(optarg, 1, 65536, &latent); break;
        case 'n': bad = cli_long(optarg, 1, 1L << 28, &ntrain); break;
        case 's': bad = cli_long(optarg, 0, 0x7fffffffL, &seed); break;
        case 't': bad = cli_long(optarg, 1, 256, &threads); break;
        case 'c': check = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("unknown option or missing value", argv[optind - 1]);
        }
        if (bad)
            return cli_bad_option(&longs[li], optarg);
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument", argv[optind]);
    vae_dataset_options dopt;
    vae_dataset_options_init(&dopt);
    dopt.binarize = VAE_BINARIZE_DYNAMIC;
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_error err;
    if (cli_load_data(data, NULL, &dopt, &all) != 0)
        return CLI_EXIT_FAILURE; /* (tests skip by checking for the file themselves) */
    size_t n = vae_dataset_count(all);
    if (n < 1000 || ntrain < 1 || (size_t)ntrain > n - 1000 ||
        vae_dataset_subset(all, 0, (size_t)ntrain, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, n - 1000, 1000, &test, &err) != VAE_OK) {
        fprintf(stderr, "beta-sweep: cannot split %zu examples into %ld train and 1000 test\n", n, ntrain);
        return CLI_EXIT_USAGE;
    }
    printf("# MNIST first %ld train / last 1000 test, dynamic binarisation, %zu-%ld-%ld, Adam 1e-3,\n"
           "# batch 100, %ld epochs, seed %ld; test figures in nats per example (one z sample)\n",
           ntrain, vae_dataset_dim(all), hidden, latent, epochs, seed);
    printf("%-6s %-9s %-10s %-9s %-10s %-12s %s\n", "beta", "beta_norm", "test_rec", "test_kl",
           "test_elbo", "active_units", "mi");
    row r[N_BETAS];
    int ok = 1;
    for (int b = 0; b < N_BETAS; b++) {
        if (train_one(betas[b], train, test, (int)epochs, (int)hidden, (int)latent,
                      (unsigned)seed, (int)threads, &r[b]) != 0)
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
